"""Evidence photos (incidents.evidence): real files through the API, checked by content, stored without
EXIF with the claimed GPS point kept apart (and flagged when far), scoped like their incident, the
after-photo guard on report_handled, and every attach on the timeline."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.storage import storages
from PIL import ExifTags, Image
from pillow_heif import register_heif_opener

from core.actors import Role
from incidents import rules, tasks
from incidents.evidence import PHOTO_FAR_M
from incidents.models import Category, Incident, IncidentEvent, Photo
from tests.incidents import factories as f

register_heif_opener()
pytestmark = pytest.mark.django_db
S = Incident.State


@pytest.fixture(autouse=True)
def evidence_dir(settings, tmp_path):
    """Each test stores its photos in a folder of its own (the local-folder storage the default uses)."""
    settings.STORAGES = {**settings.STORAGES, "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "ev")}}}
    return tmp_path / "ev"


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    return float(d), float(m), round((value - d - m / 60) * 3600, 4)


def jpeg(at: tuple[float, float] | None = None, *, size=(64, 48), orientation: int | None = None) -> bytes:
    """A real JPEG with EXIF: a camera make, the GPS position ``at`` (lon, lat) and an orientation."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, size[0] // 2, size[1] // 4))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.Base.Software] = "secret-firmware-1.0"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if at is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps.update({ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: _dms(at[1]),
                    ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: _dms(at[0])})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 128, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def heic(at: tuple[float, float]) -> bytes:
    source = Image.open(io.BytesIO(jpeg(at)))
    out = io.BytesIO()
    source.save(out, format="HEIF", exif=source.info["exif"])
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (10 G here), in a few hundred bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(
        b"IEND", b"")


def upload(name: str, content: bytes, kind: str = "image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile
    return SimpleUploadedFile(name, content, content_type=kind)


def stored_bytes(photo: Photo, field: str = "file") -> bytes:
    with storages["evidence"].open(getattr(photo, field).name, "rb") as fh:
        return fh.read()


@pytest.fixture
def handled_by_team():
    """An incident in progress, its grid leader's client, and the leader of another grid's."""
    incident = f.located("other")
    leader = f.team_of(incident.handling_grid).leader
    own = f.api_client(person=leader)
    other = f.api_client(person=f.unrelated_leader(incident))
    f.drive(incident, ["accept"], f.operator())
    return f.reload(incident), own, other


def post_photos(client, incident, *files, stage="after", note=""):
    return client.post(f"/api/incidents/{incident.pk}/photos/", {"stage": stage, "note": note, "photos": list(files)},
                       format="multipart")


# --- through the API: checked, stripped, the claimed point ---------------------------------------

def test_jpeg_with_gps_comes_back_without_exif_and_its_point_kept(handled_by_team):
    incident, leader, _ = handled_by_team
    at = (incident.location.x, incident.location.y)
    original = jpeg(at, orientation=6)  # rotated 90 degrees: stored upright
    assert Image.open(io.BytesIO(original)).getexif()[ExifTags.Base.Make] == "TestPhone"
    response = post_photos(leader, incident, upload("scene.jpg", original), note="现场")
    assert response.status_code == 201, response.json()
    body = response.json()[0]
    assert body["stage"] == "after" and body["content_type"] == "image/jpeg" and body["thumbnail_url"] is None
    assert (body["width"], body["height"]) == (48, 64)  # orientation applied
    assert body["claimed_lon"] == pytest.approx(at[0], abs=1e-5)
    assert body["claimed_lat"] == pytest.approx(at[1], abs=1e-5)
    assert body["far_from_incident"] is False and body["claimed_distance_m"] < 5

    photo = Photo.objects.get(pk=body["id"])
    served = leader.get(body["file_url"])
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    assert "sandbox" in served["Content-Security-Policy"] and "script-src" not in served["Content-Security-Policy"]
    data = b"".join(served.streaming_content)
    assert data == stored_bytes(photo)
    for raw in (data, stored_bytes(photo)):
        again = Image.open(io.BytesIO(raw))
        assert not again.getexif() and "exif" not in again.info and "icc_profile" not in again.info
        assert b"TestPhone" not in raw and b"secret-firmware" not in raw and b"Exif" not in raw
    assert photo.claimed_location.srid == 4326


def test_a_photo_claiming_a_place_far_away_is_flagged(handled_by_team):
    incident, leader, _ = handled_by_team
    far = f.offset_m(incident.location.x, incident.location.y, PHOTO_FAR_M + 200)
    near = f.offset_m(incident.location.x, incident.location.y, PHOTO_FAR_M - 100)
    body = post_photos(leader, incident, upload("far.jpg", jpeg(far)), upload("near.jpg", jpeg(near))).json()
    assert [p["far_from_incident"] for p in body] == [True, False]
    assert body[0]["claimed_distance_m"] == pytest.approx(PHOTO_FAR_M + 200, abs=2)  # metres, not degrees
    assert body[1]["claimed_distance_m"] == pytest.approx(PHOTO_FAR_M - 100, abs=2)


def test_png_is_kept_as_png_and_heic_stored_as_jpeg(handled_by_team):
    incident, leader, _ = handled_by_team
    at = (incident.location.x, incident.location.y)
    source = heic(at)
    assert Image.open(io.BytesIO(source)).format == "HEIF"
    body = post_photos(leader, incident, upload("a.png", png(), "image/png"),
                       upload("IMG_0001.HEIC", source, "image/heic")).json()
    assert [p["content_type"] for p in body] == ["image/png", "image/jpeg"]
    stored = [Image.open(io.BytesIO(stored_bytes(Photo.objects.get(pk=p["id"])))) for p in body]
    assert [i.format for i in stored] == ["PNG", "JPEG"]
    assert not stored[1].getexif()
    assert body[1]["claimed_lat"] == pytest.approx(at[1], abs=1e-5)  # read from the HEIC's EXIF


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("notes.jpg", "这不是照片 not a photo\n".encode() * 20, "image/jpeg"),
    ("half.jpg", None, "image/jpeg"),  # a JPEG cut in half
    ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
])
def test_what_is_not_a_photo_is_a_400_and_nothing_is_stored(handled_by_team, evidence_dir, name, content, kind):
    incident, leader, _ = handled_by_team
    content = content if content is not None else jpeg(size=(400, 300))[:600]
    events = IncidentEvent.objects.filter(incident=incident).count()
    response = post_photos(leader, incident, upload("good.jpg", jpeg()), upload(name, content, kind))
    assert response.status_code == 400
    assert "photos" in response.json() and name in response.json()["photos"][0]
    assert not Photo.objects.filter(incident=incident).exists()  # the good one neither: all or nothing
    assert IncidentEvent.objects.filter(incident=incident).count() == events
    assert not evidence_dir.exists() or not any(p.is_file() for p in evidence_dir.rglob("*"))


def test_an_oversized_photo_is_a_413_in_the_one_error_shape(handled_by_team, settings):
    incident, leader, _ = handled_by_team
    big = b"\xff\xd8\xff\xe0" + bytes(settings.PHOTO_MAX_BYTES)  # over the limit by its size alone
    response = post_photos(leader, incident, upload("big.jpg", big))
    assert response.status_code == 413
    assert list(response.json()) == ["detail"] and str(settings.PHOTO_MAX_BYTES) in response.json()["detail"]
    assert not Photo.objects.exists()


def test_a_decompression_bomb_is_refused_before_it_is_decoded(handled_by_team):
    incident, leader, _ = handled_by_team
    bomb = png_bomb()
    assert len(bomb) < 2000
    response = post_photos(leader, incident, upload("bomb.png", bomb, "image/png"))
    assert response.status_code == 400 and "pixels" in response.json()["photos"][0]
    assert not Photo.objects.exists()


def test_a_missing_file_or_unknown_stage_is_a_400_with_field_messages(handled_by_team):
    incident, leader, _ = handled_by_team
    assert set(post_photos(leader, incident).json()) == {"photos"}
    assert set(post_photos(leader, incident, upload("a.jpg", jpeg()), stage="during").json()) == {"stage"}


# --- intake with photos (multipart) ----------------------------------------------------------------

def test_intake_takes_photos_as_multipart_and_a_resend_stores_none_again():
    client = f.api_client("operator")
    grid = f.grid()
    lon, lat = f.interior_point(grid)
    form = {"source": "patrol", "category": "other", "title": "路灯损坏", "lon": str(lon), "lat": str(lat),
            "external_id": "photo-intake-1", "photos": [upload("a.jpg", jpeg((lon, lat))), upload("b.png", png())]}
    response = client.post("/api/incidents/", form, format="multipart")
    assert response.status_code == 201, response.json()
    incident = Incident.objects.get(pk=response.json()["id"])
    photos = list(incident.photos.order_by("id"))
    assert [p.stage for p in photos] == ["intake", "intake"] and photos[0].far_from_incident is False
    assert [e for e in f.actions_of(incident) if e.startswith("photo")] == ["photo_intake", "photo_intake"]
    # re-sent: the stored incident, no second set of photos
    form["photos"] = [upload("a.jpg", jpeg((lon, lat)))]
    again = client.post("/api/incidents/", form, format="multipart")
    assert again.status_code == 200 and incident.photos.count() == 2


def test_intake_with_a_bad_photo_stores_no_incident():
    client = f.api_client("operator")
    lon, lat = f.interior_point(f.grid())
    before = Incident.objects.count()
    response = client.post("/api/incidents/", {"source": "patrol", "category": "other", "title": "x", "lon": str(lon),
                                               "lat": str(lat), "photos": [upload("x.jpg", b"plain text")]},
                           format="multipart")
    assert response.status_code == 400 and "photos" in response.json()
    assert Incident.objects.count() == before


# --- who may attach, and the timeline ---------------------------------------------------------------

def test_stages_follow_the_rules_and_every_attach_is_an_event(handled_by_team):
    incident, leader, other = handled_by_team
    member = f.api_client(person=f.holder(incident.handling_grid, "police", "A"))
    assert post_photos(member, incident, upload("b.jpg", jpeg()), stage="before").status_code == 201
    assert post_photos(leader, incident, upload("a.jpg", jpeg()), stage="after").status_code == 201
    verify = post_photos(leader, incident, upload("v.jpg", jpeg()), stage="verify")
    assert verify.status_code == 409 and "in_progress" in verify.json()["detail"]  # not handled yet
    planner = f.api_client("town_leader")  # sees every incident, may attach none
    assert post_photos(planner, incident, upload("t.jpg", jpeg()), stage="after").status_code == 403
    assert post_photos(other, incident, upload("o.jpg", jpeg()), stage="after").status_code == 404
    events = IncidentEvent.objects.filter(incident=incident, action__startswith="photo_").order_by("id")
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("photo_before", S.IN_PROGRESS, S.IN_PROGRESS), ("photo_after", S.IN_PROGRESS, S.IN_PROGRESS)]
    assert events[1].data["photo"] == Photo.objects.get(incident=incident, stage="after").pk
    f.drive(incident, ["report_handled"], f.operator())
    assert post_photos(leader, incident, upload("v.jpg", jpeg()), stage="verify").status_code == 201


def test_a_category_requiring_an_after_photo_refuses_report_handled_until_one_is_attached(handled_by_team):
    incident, leader, _ = handled_by_team
    Category.objects.filter(pk=incident.category_id).update(requires_after_photo=True)
    post_photos(leader, incident, upload("b.jpg", jpeg()), stage="before")  # a before photo is not enough
    refused = leader.post(f"/api/incidents/{incident.pk}/report_handled/", {"note": ""}, format="json")
    assert refused.status_code == 409 and "after" in refused.json()["detail"]
    assert f.reload(incident).state == S.IN_PROGRESS
    assert "report_handled" not in leader.get(f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"]
    assert post_photos(leader, incident, upload("a.jpg", jpeg()), stage="after").status_code == 201
    allowed = leader.post(f"/api/incidents/{incident.pk}/report_handled/", {"note": "已处置"}, format="json")
    assert allowed.status_code == 200 and f.reload(incident).state == S.HANDLED


def test_a_category_without_the_requirement_reports_handled_without_photos(handled_by_team):
    incident, leader, _ = handled_by_team
    assert leader.post(f"/api/incidents/{incident.pk}/report_handled/", {"note": ""}, format="json").status_code == 200


# --- scoping: the file, the thumbnail, the list ------------------------------------------------------

def test_another_grids_leader_gets_404_for_list_file_and_thumbnail(handled_by_team):
    incident, leader, other = handled_by_team
    photo_id = post_photos(leader, incident, upload("a.jpg", jpeg())).json()[0]["id"]
    assert tasks.make_thumbnail(photo_id) is True  # eagerly: this test is about scoping
    urls = [f"/api/incidents/{incident.pk}/photos/", f"/api/photos/{photo_id}/file/",
            f"/api/photos/{photo_id}/thumbnail/"]
    for url in urls:
        assert leader.get(url).status_code == 200, url
        assert other.get(url).status_code == 404, url
        assert f.api_client("integration").get(url).status_code == 404, url
    assert f.api_client("operator").get(urls[1]).status_code == 200
    from rest_framework.test import APIClient
    assert all(APIClient().get(url).status_code == 401 for url in urls)
    listed = leader.get(urls[0]).json()
    assert [p["id"] for p in listed["results"]] == [photo_id] and listed["next"] is None
    assert listed["results"][0]["thumbnail_url"] == urls[2]


def test_the_list_is_paged_by_key(handled_by_team, monkeypatch):
    from incidents import evidence_apis
    monkeypatch.setattr(evidence_apis, "PAGE_SIZE", 2)
    incident, leader, _ = handled_by_team
    ids = [p["id"] for p in post_photos(leader, incident, *[upload(f"{n}.jpg", jpeg()) for n in range(3)]).json()]
    first = leader.get(f"/api/incidents/{incident.pk}/photos/").json()
    assert [p["id"] for p in first["results"]] == ids[::-1][:2] and first["next"]
    second = leader.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [ids[0]] and second["next"] is None
    assert leader.get(f"/api/incidents/{incident.pk}/photos/?before=x").status_code == 400


# --- thumbnails ---------------------------------------------------------------------------------------

def test_thumbnail_is_made_once_and_a_rerun_is_harmless(handled_by_team):
    incident, leader, _ = handled_by_team
    photo_id = post_photos(leader, incident, upload("a.jpg", jpeg(size=(1600, 1200)))).json()[0]["id"]
    assert leader.get(f"/api/photos/{photo_id}/thumbnail/").status_code == 404  # not made yet: placeholder
    assert tasks.make_thumbnail(photo_id) is True
    name = Photo.objects.get(pk=photo_id).thumbnail.name
    assert tasks.make_thumbnail(photo_id) is False and tasks.make_missing_thumbnails() == 0
    assert Photo.objects.get(pk=photo_id).thumbnail.name == name
    thumb = Image.open(io.BytesIO(b"".join(leader.get(f"/api/photos/{photo_id}/thumbnail/").streaming_content)))
    assert max(thumb.size) == 320 and thumb.format == "JPEG"
    assert tasks.make_thumbnail(10**9) is False  # a photo that is gone


# --- the photo actions' rule, every state ----------------------------------------------------------

@pytest.mark.parametrize("stage", sorted(rules.PHOTO_ACTIONS))
@pytest.mark.parametrize("state", rules.STATES)
def test_each_photo_stage_is_allowed_exactly_in_its_states_and_roles(stage, state):
    action = rules.ACTIONS[rules.PHOTO_ACTIONS[stage]]
    assert action.sources == {"before": {S.DISPATCHED, S.IN_PROGRESS}, "after": {S.IN_PROGRESS, S.HANDLED},
                              "verify": {S.HANDLED, S.VERIFIED}}[stage]
    assert Role.OPERATOR in action.roles and not action.roles & {Role.PLANNER, Role.TOWN_LEADER, Role.INTEGRATION}
    incident = Incident(state=state, level=rules.Level.GRID)
    for role in Role:
        try:
            rules.check(incident, action.name, roles={role}, label=str(role))
            allowed = True
        except rules.TransitionRefused as exc:
            allowed = False
            assert exc.reason == ("state" if state not in action.sources else "role")
        assert allowed == (state in action.sources and role in action.roles), (stage, state, role)
