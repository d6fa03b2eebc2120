"""自行处置 through the API: a grid worker reports a problem found on patrol with an after photo and it is
closed at once, never dispatched, counted as fixed on the spot; every refusal stores nothing."""
from __future__ import annotations

import pytest

from dispatch.models import Assignment, Notification
from incidents.analytics import assessment
from incidents.models import Incident
from incidents.rules import month_bounds
from tests.incidents import factories as f
from tests.incidents.test_evidence import jpeg, upload

pytestmark = pytest.mark.django_db


def form(**fields) -> dict:
    lon, lat = f.interior_point(f.grid())
    body = {"source": "patrol", "category": "other", "title": "井盖松动", "description": "已加固 fixed it",
            "lon": str(lon), "lat": str(lat), "self_handled": "true",
            "photos": [upload("before.jpg", jpeg((lon, lat)))], "after_photos": [upload("after.jpg", jpeg((lon, lat)))],
            **fields}
    return {k: v for k, v in body.items() if v is not None}  # None: the field is left out


def worker():
    person = f.holder(f.grid(), "police", "A")
    return person, f.api_client("grid_member", person=person)


def test_a_worker_fixes_on_the_spot_and_it_closes_without_dispatch():
    person, client = worker()
    answer = client.post("/api/incidents/", form(external_id="spot-1"), format="multipart")
    assert answer.status_code == 201, answer.json()
    incident = Incident.objects.get(pk=answer.json()["id"])
    assert (incident.state, incident.self_handled, incident.assignee_id) == ("closed", True, person.pk)
    assert incident.dispatched_at is None and incident.closed_at == incident.handled_at == incident.accepted_at
    assert incident.handling_grid_id == incident.grid_id == f.grid().pk
    assert answer.json()["properties"]["state"] == "closed"
    assert [e for e in f.actions_of(incident)] == ["report", "register", "photo_intake", "photo_after", "self_handle"]
    assert sorted(p.stage for p in incident.photos.all()) == ["after", "intake"]
    # nobody was dispatched or told: the finder did it
    assert not Assignment.objects.filter(incident=incident).exists()
    assert not Notification.objects.filter(incident=incident).exists()
    # counted as fixed on the spot, not as a dispatched case
    start, end = month_bounds()
    totals = assessment(actor=f.operator(), group="grid", start=start, end=end).totals
    assert (totals.found_and_fixed, totals.dispatched, totals.to_dispatch, totals.closed) == (1, 0, 0, 1)
    # a re-send answers the stored incident and closes nothing again
    again = client.post("/api/incidents/", form(external_id="spot-1"), format="multipart")
    assert again.status_code == 200 and incident.events.filter(action="self_handle").count() == 1


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"after_photos": []}, 400, "after_photos"),                       # no after photo
    ({"self_handled": "maybe"}, 400, "self_handled"),                 # no boolean
    ({"after_photos": [upload("x.jpg", b"not a photo")]}, 400, "photos"),
    ({"lon": None, "lat": None, "address": "不知道在哪里的小路口"}, 409, "detail"),  # not located: triage, not closed
])
def test_a_refused_fix_on_the_spot_stores_nothing(fields, code, field):
    _, client = worker()
    before = Incident.objects.count()
    answer = client.post("/api/incidents/", form(**fields), format="multipart")
    assert answer.status_code == code and field in answer.json(), answer.json()
    assert Incident.objects.count() == before


def test_only_a_grid_worker_fixes_only_what_they_found_on_patrol():
    before = Incident.objects.count()
    operator = f.api_client("operator")  # no person: nobody to have fixed it
    assert operator.post("/api/incidents/", form(), format="multipart").status_code == 403
    _, client = worker()
    answer = client.post("/api/incidents/", form(source="citizen"), format="multipart")  # not the team's own source
    assert answer.status_code == 403 and "source" in answer.json()
    operator_with_person = f.api_client("operator", person=f.holder(f.grid(), "police", "A"))
    answer = operator_with_person.post("/api/incidents/", form(source="hotline_12345"), format="multipart")
    assert answer.status_code == 409 and "patrol" in answer.json()["detail"]  # the rules' guard
    # JSON cannot carry the after photo
    lon, lat = f.interior_point(f.grid())
    answer = client.post("/api/incidents/", {"source": "patrol", "category": "other", "title": "x", "lon": lon,
                                             "lat": lat, "self_handled": True}, format="json")
    assert answer.status_code == 400 and "after_photos" in answer.json()
    assert Incident.objects.count() == before
