"""/api/cameras/coverage/ computes the union of the view sectors once per state of the cameras and
the grids asked about: a second request reads the cache; a camera saved, updated by a queryset,
added or deleted, a draft's grid redrawn or another generation activated computes it again."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cameras.models import Camera
from grids.models import Grid, Town
from grids.services import generation_activate
from planner.services import generation_draft, grid_redraw

pytestmark = pytest.mark.django_db
URL = "/api/cameras/coverage/"


def _get(params: dict | None = None) -> tuple[dict, int]:
    """Return the answer and how many times the union was computed for it (as a planner: the map API
    needs a login and draft generations are the planners', issue 11)."""
    from django.contrib.auth.models import User

    client = APIClient()
    from django.contrib.auth.models import Group

    reader, _ = User.objects.get_or_create(username="coverage_cache_reader")
    reader.groups.add(Group.objects.get_or_create(name="planner")[0])  # drafts are for planners (issue 11)
    client.force_authenticate(reader)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, params or {})
    assert response.status_code == 200, response.content
    return response.json(), sum("ST_Union" in q["sql"] for q in queries.captured_queries)


def _covered(body: dict) -> dict[str, float]:
    return {f["properties"]["code"]: f["properties"]["covered_m2"] for f in body["features"]}


def test_the_second_request_does_not_compute_again():
    first, computed = _get()
    assert computed == 1
    again, computed = _get()
    assert computed == 0
    assert again == first
    # other parameters are other entries
    _, computed = _get({"status": "all"})
    assert computed == 1
    _, computed = _get({"status": "all"})
    assert computed == 0


def test_a_camera_change_computes_again():
    before, _ = _get()
    camera = Camera.objects.filter(status="online", grid__isnull=False).order_by("code").first()
    camera.status = Camera.Status.OFFLINE
    camera.save()
    after, computed = _get()
    assert computed == 1
    assert camera.code not in str([f["properties"]["cameras"] for f in after["features"]])
    assert sum(_covered(after).values()) < sum(_covered(before).values())
    # a queryset update sends no signal, and still counts
    Camera.objects.filter(pk=camera.pk).update(status=Camera.Status.ONLINE)
    restored, computed = _get()
    assert computed == 1 and _covered(restored) == pytest.approx(_covered(before))
    # a camera turned, one added, one deleted
    camera.bearing_deg = (camera.bearing_deg + 90) % 360
    camera.save()
    turned, computed = _get()
    assert computed == 1
    added = Camera.objects.create(code="NEW001", name="new", location=camera.location, bearing_deg=0, fov_deg=90,
                                  range_m=100)
    assert _get()[1] == 1
    added.delete()  # the cameras are as they were: that state's entry still holds
    assert _get() == (turned, 0)
    camera.delete()
    assert _get()[1] == 1
    assert _get()[1] == 0


def test_a_redrawn_draft_grid_and_an_activated_generation_compute_again():
    town = Town.objects.get(code="321003100")
    draft = generation_draft(town=town)
    params = {"generation": draft.pk}
    assert _get(params)[1] == 1
    assert _get(params)[1] == 0
    _get()  # the active generation's entry
    assert _get()[1] == 0
    grid = Grid.objects.filter(generation=draft, kind="comprehensive").order_by("code").first()
    original = grid.boundary
    grid_redraw(grid=grid, boundary=original.buffer(-0.0005))
    assert _get(params)[1] == 1
    assert _get()[1] == 0  # the active generation's grids did not change
    grid_redraw(grid=grid, boundary=original)  # whole again, so the draft partitions its villages
    generation_activate(generation=draft)
    active, computed = _get()
    assert computed == 1  # the active generation is another set of grids now
    drafted = set(Grid.objects.filter(generation=draft).values_list("pk", flat=True))
    assert {f["id"] for f in active["features"]} <= drafted
