"""Evidence photos (处置前后照片): checked by content, stripped of metadata, stored, scoped like their incident.

A photo is accepted for what its bytes are, never for its name or declared type: Pillow must open
and verify it as JPEG, PNG or HEIC (pillow-heif), within ``PHOTO_MAX_BYTES`` (413 above) and
``PHOTO_MAX_PIXELS`` (400 above: a decompression bomb is refused before it is decoded). What is
stored is a re-encoding of the pixels with the EXIF orientation applied and no metadata at all (no
EXIF, XMP, ICC or text chunks); HEIC is stored as JPEG, which every browser shows. The GPS position
the EXIF claimed is kept apart, as a point, with its geodesic distance (metres on the WGS84
ellipsoid, never degrees) from the incident, and flagged beyond ``PHOTO_FAR_M``.

Every attach is an event on the incident's timeline; the thumbnail is made by Celery after the
commit (``incidents.tasks.make_thumbnail``), and the pages show a placeholder until it exists.
Who may attach at which stage is ``incidents.rules`` (``PHOTO_ACTIONS``); who may see a photo is
who may see its incident (``photos_visible_to``, through ``incidents.selectors.scoped``).
"""
from __future__ import annotations

import hashlib
import io
import logging
import uuid
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from core import background
from core.actors import Actor
from gis_core.geometry import geodesic_m
from incidents import rules
from incidents.lifecycle import check_allowed, locked, new_event, notify_changed
from incidents.models import Incident, Photo
from incidents.selectors import incidents_visible_to

register_heif_opener()
log = logging.getLogger(__name__)

# A photo whose claimed position is further than this from the incident's point is flagged
# (a photo of somewhere else, or an old one). Phone GPS in a town is good to tens of metres.
PHOTO_FAR_M = 300.0
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "HEIF": "image/heic"}
THUMBNAIL_PX = 320


class PhotoRejected(ValueError):
    """A file that is not an acceptable photo; ``status`` 400 (not an image, too many pixels) or 413."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class CheckedPhoto:
    """A photo ready to store: the stripped bytes and what was read from the original."""

    content: bytes
    content_type: str
    extension: str
    width: int
    height: int
    claimed: tuple[float, float] | None  # (lon, lat) from EXIF GPS, WGS84


def check_photo(upload) -> CheckedPhoto:
    """Return the photo re-encoded without metadata; raise PhotoRejected for anything else."""
    limit = settings.PHOTO_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise PhotoRejected(f"a photo may be at most {limit} bytes; this one is {upload.size}", status=413)
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise PhotoRejected(f"a photo may be at most {limit} bytes", status=413)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _reencode(raw)
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoRejected(f"the image has more than {settings.PHOTO_MAX_PIXELS} pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            log.info("photo refused: %s", exc)
            raise PhotoRejected("not a readable image: send a JPEG, PNG or HEIC photo") from None


def _open(raw: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(raw))
    if image.format not in FORMATS:
        raise PhotoRejected(f"{image.format} images are not accepted: send a JPEG, PNG or HEIC photo")
    width, height = image.size
    if width * height > settings.PHOTO_MAX_PIXELS:  # read from the header, before any pixel is decoded
        raise PhotoRejected(f"the image has {width * height} pixels; at most {settings.PHOTO_MAX_PIXELS}")
    return image


def _reencode(raw: bytes) -> CheckedPhoto:
    _open(raw).verify()  # the structure, without decoding (verify leaves the image unusable)
    image = _open(raw)
    claimed = claimed_position(image.getexif())
    upright = ImageOps.exif_transpose(image)  # decodes: a truncated file fails here
    clean = Image.new(upright.mode if upright.mode in ("RGB", "RGBA", "L", "LA") else "RGB", upright.size)
    clean.paste(upright.convert(clean.mode))  # the pixels only: nothing of image.info comes along
    out = io.BytesIO()
    if image.format == "PNG":
        clean.save(out, format="PNG")
        kind, extension = "image/png", "png"
    else:  # JPEG, and HEIC stored as JPEG
        clean.convert("RGB" if clean.mode != "L" else "L").save(out, format="JPEG", quality=88)
        kind, extension = "image/jpeg", "jpg"
    return CheckedPhoto(out.getvalue(), kind, extension, clean.width, clean.height, claimed)


def _degrees(value, ref) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    sign = -1.0 if str(ref).strip().upper() in ("S", "W") else 1.0
    return sign * (d + m / 60 + s / 3600)


def claimed_position(exif) -> tuple[float, float] | None:
    """Return (lon, lat) of the EXIF GPS block (WGS84, as GPS receivers give), None when absent or invalid."""
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo) if exif else {}
    if not gps:
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef, "N"))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef, "E"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lon, lat


def check_photos(uploads: list) -> list[CheckedPhoto]:
    """Check every upload (all or nothing); raise PhotoRejected naming the first bad one."""
    if len(uploads) > settings.PHOTO_MAX_FILES:
        raise PhotoRejected(f"at most {settings.PHOTO_MAX_FILES} photos at once")
    checked = []
    for n, upload in enumerate(uploads):
        try:
            checked.append(check_photo(upload))
        except PhotoRejected as exc:
            name = (getattr(upload, "name", "") or "")[:80]
            raise PhotoRejected(f"photo {n + 1} ({name}): {exc}", status=exc.status) from None
    return checked


def attach_photos(*, incident_id: int, actor: Actor, photos: list[CheckedPhoto], stage: str,
                  note: str = "", allowed_by: str | None = None) -> list[Photo]:
    """Store checked photos on an incident at ``stage`` (before / after / verify: the actor must be
    allowed ``rules.PHOTO_ACTIONS[stage]`` now, or the action ``allowed_by`` they are taking with them,
    e.g. ``self_handle``; intake: the report they came with), one event each.
    Atomic: the files written are removed again when the transaction fails."""
    storage, written = storages["evidence"], []
    try:
        with transaction.atomic():
            incident = locked(incident_id)
            if stage != Photo.Stage.INTAKE:
                check_allowed(incident, allowed_by or rules.PHOTO_ACTIONS[stage], actor)
            rows = [_store(incident, p, stage, actor, note, storage, written) for p in photos]
            incident.save(update_fields=["updated_at"])  # a change of the incident: pages reload it
            notify_changed([incident.pk])
            for row in rows:
                new_event(incident, f"photo_{stage}", actor, note=note, data={
                    "photo": row.pk, "stage": stage, "far_from_incident": row.far_from_incident,
                    "claimed_distance_m": row.claimed_distance_m}).save()
            transaction.on_commit(lambda: schedule_thumbnails([r.pk for r in rows]), robust=True)
    except BaseException:
        for name in written:
            storage.delete(name)
        raise
    return rows


def _store(incident: Incident, photo: CheckedPhoto, stage: str, actor: Actor, note: str, storage,
           written: list) -> Photo:
    name = storage.save(f"{incident.pk}/{uuid.uuid4().hex}.{photo.extension}", ContentFile(photo.content))
    written.append(name)
    row = Photo(incident=incident, stage=stage, file=name, content_type=photo.content_type,
                width=photo.width, height=photo.height, size_bytes=len(photo.content),
                sha256=hashlib.sha256(photo.content).hexdigest(), note=note[:200],
                uploaded_by=actor.user, uploaded_by_label=actor.label[:64], created_at=timezone.now())
    if photo.claimed is not None:
        row.claimed_location = Point(*photo.claimed, srid=4326)
        if incident.location is not None:
            row.claimed_distance_m = round(geodesic_m(photo.claimed, (incident.location.x, incident.location.y)), 1)
            row.far_from_incident = row.claimed_distance_m > PHOTO_FAR_M
    row.save()
    return row


def schedule_thumbnails(photo_ids: list[int]) -> None:
    """Ask Celery for the thumbnails (after the commit). A broker that is down loses nothing: the
    photo stays whole, its thumbnail is made by the next ``make_missing_thumbnails`` run."""
    from incidents.tasks import make_thumbnail

    for pk in photo_ids:  # sent off the request's thread (core.background): a dead broker holds no answer
        background.send_task(make_thumbnail, args=[pk], queue=settings.EVIDENCE_TASK_QUEUE)


def thumbnail_of(photo: Photo) -> bool:
    """Make the photo's thumbnail unless it has one; return whether this call made it. Safe to run
    twice or at once: the row is updated only while it has none, and a loser removes its file."""
    if photo.thumbnail:
        return False
    storage = storages["evidence"]
    with storage.open(photo.file.name, "rb") as f, Image.open(f) as image:
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=80)
    name = storage.save(f"{photo.incident_id}/thumb-{photo.pk}-{uuid.uuid4().hex[:8]}.jpg", ContentFile(out.getvalue()))
    if Photo.objects.filter(pk=photo.pk, thumbnail="").update(thumbnail=name) == 1:
        return True
    storage.delete(name)
    return False


def photos_visible_to(actor: Actor) -> QuerySet[Photo]:
    """Return the photos the actor may see: those of the incidents they may see (the one scoping rule)."""
    return Photo.objects.filter(incident__in=incidents_visible_to(actor).values("pk"))
