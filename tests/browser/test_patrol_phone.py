"""The grid worker's patrol on the phone, in a real browser with a faked position: start, walk (the
points queued in IndexedDB and sent in batches, also after the network was lost), end; and a problem
found on the way reported with photos and fixed on the spot (自行处置)."""
from __future__ import annotations

import io

import pytest
from django.contrib.gis.geos import Point
from PIL import Image

from gis_core.srid import METRIC_SRID
from grids.models import Person
from incidents.models import Incident
from patrols.models import Patrol, TrackPoint
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15_000


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 160, 90)).save(out, "JPEG")
    return out.getvalue()


def test_a_patrol_offline_and_a_fix_on_the_spot(demo_data, asgi_server, browser, tmp_path):
    worker = Person.objects.get(user__username="gridworker")
    grid = worker.memberships.select_related("team__grid").first().team.grid
    origin = grid.boundary.point_on_surface.transform(METRIC_SRID, clone=True)

    def at(east_m: float) -> dict:
        p = Point(origin.x + east_m, origin.y, srid=METRIC_SRID).transform(4326, clone=True)
        return {"longitude": p.x, "latitude": p.y, "accuracy": 8}

    context = browser.new_context(viewport={"width": 390, "height": 844}, geolocation=at(0),
                                  permissions=["geolocation"])
    page = context.new_page()
    page.clock.install()
    login(page, asgi_server, "gridworker", "gongdao-gridworker", next_url="/my/")
    page.wait_for_selector("#patrol .patrol-state:not(:empty)", timeout=TIMEOUT)
    page.click("[data-patrol-action=start]")
    page.wait_for_selector("#patrol[data-patrol=on]", timeout=TIMEOUT)
    patrol = Patrol.objects.get(person=worker, ended_at__isnull=True)

    def walk(steps: range) -> None:
        for n in steps:
            page.clock.run_for(11_000)  # 11 s later: past the 10 s thinning
            context.set_geolocation(at(n * 10.0))
            lon = at(n * 10.0)["longitude"]
            page.wait_for_function(f"window.gridopsPatrol.position && "
                                   f"Math.abs(window.gridopsPatrol.position.longitude - {lon}) < 1e-9", timeout=TIMEOUT)

    walk(range(1, 4))
    page.clock.run_for(61_000)  # the minute's batch
    page.wait_for_function("window.gridopsPatrol.sent >= 3", timeout=TIMEOUT)
    sent_online = TrackPoint.objects.filter(patrol=patrol).count()
    assert sent_online >= 3

    context.set_offline(True)
    walk(range(4, 8))
    page.clock.run_for(61_000)  # a batch is tried and fails: the points stay queued
    page.wait_for_function("window.gridopsPatrol.queued >= 4", timeout=TIMEOUT)
    assert TrackPoint.objects.filter(patrol=patrol).count() == sent_online
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("window.gridopsPatrol.queued === 0", timeout=TIMEOUT)
    assert TrackPoint.objects.filter(patrol=patrol).count() >= sent_online + 4

    # a problem on the way, fixed on the spot
    (tmp_path / "scene.jpg").write_bytes(jpeg())
    (tmp_path / "after.jpg").write_bytes(jpeg())
    page.click("#patrol summary")
    assert page.locator("#patrol[data-patrol=on]").count() == 1  # still on patrol
    form = page.locator("form.patrol-report")
    form.locator("select[name=category]").select_option("other")
    form.locator("input[name=title]").fill("路灯杆倾斜 lamp post leaning")
    form.locator("textarea[name=description]").fill("已扶正加固 straightened it")
    form.locator("input[name=photos]").set_input_files(str(tmp_path / "scene.jpg"))
    form.locator("input[name=self_handled]").check()
    form.locator("input[name=after_photos]").set_input_files(str(tmp_path / "after.jpg"))
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.querySelector('form.patrol-report').dataset.done", timeout=TIMEOUT)
    assert "已自行处置" in form.locator(".status").inner_text()
    incident = Incident.objects.get(pk=int(form.get_attribute("data-done")))
    assert (incident.state, incident.self_handled, incident.source, incident.assignee_id) == (
        "closed", True, "patrol", worker.pk)
    assert sorted(incident.photos.values_list("stage", flat=True)) == ["after", "intake"]

    page.click("[data-patrol-action=end]")
    page.wait_for_selector("#patrol[data-patrol=off]", timeout=TIMEOUT)
    patrol.refresh_from_db()
    assert patrol.ended_at is not None
    context.close()
