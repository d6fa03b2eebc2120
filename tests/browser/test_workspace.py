"""The grid team workspace on a phone-sized screen, served by `manage.py serve` with the Redis channel layer:
the grid leader sees their own grid's incidents live and never another grid's (not in the list,
the map, the socket or the API), and accepts and reports handled from the inbox."""
from __future__ import annotations

import json
import os
import urllib.request

import pytest
import shapely

from core.actors import Actor
from demo.users import demo_token
from dispatch.models import Notification
from grids.models import Grid, GridTeam
from incidents.models import Incident, IncidentEvent
from incidents.selectors import allowed_actions
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10_000  # ms, for what the page shows
HTTP_TIMEOUT = 30  # s, for the API calls of the test itself (the first intake warms the server up)
SCREENSHOTS = os.environ.get("GRIDOPS_SCREENSHOT_DIR")  # set to save a screenshot of the page


def point_in(grid: Grid) -> tuple[float, float]:
    point = shapely.point_on_surface(shapely.from_wkb(bytes(grid.boundary.wkb)))
    return point.x, point.y


def report(base_url: str, grid: Grid, title: str, category: str = "other") -> int:
    """Report an incident inside ``grid`` as the 12345 hotline (token auth); return its id."""
    lon, lat = point_in(grid)
    body = {"source": "hotline_12345", "category": category, "title": title, "lon": lon, "lat": lat}
    request = urllib.request.Request(
        base_url + "/api/incidents/", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {demo_token()}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
        assert response.status == 201
        return json.load(response)["id"]


def wait_state(page, incident_id: int, state: str) -> None:
    page.wait_for_function(
        "([id, s]) => { const f = window.gridops.incidents.get(id); return f && f.properties.state === s; }",
        arg=[incident_id, state], timeout=TIMEOUT)


def act(card, action: str, note: str) -> None:
    """Press an action button on an inbox card, write the note and confirm."""
    card.locator(f".d-actions [data-action={action}]").click()
    card.locator(".action-form textarea").fill(note)
    card.locator(".action-form [type=submit]").click()


def test_grid_leader_sees_only_their_grid_and_handles_from_the_inbox(demo_data, asgi_server, new_page):
    comprehensive = list(Grid.objects.active().filter(kind="comprehensive").order_by("code"))
    own, other = comprehensive[0], comprehensive[-1]
    assert GridTeam.objects.get(grid=own).leader.user.username == "gridleader"

    page = new_page(width=390, height=844)
    login(page, asgi_server, "gridleader", "gongdao-gridleader", next_url="/")
    page.wait_for_url("**/my/", timeout=TIMEOUT)
    page.wait_for_selector("#map[data-loaded=true]", timeout=TIMEOUT)
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    assert page.evaluate("window.gridops.me.grids") == [own.code]
    # The own grid is drawn (one polygon) and the map fits it.
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == 1

    # One incident in another grid, then one in the own grid: only the second arrives.
    foreign_id = report(asgi_server, other, "别的网格 another grid's matter")
    own_id = report(asgi_server, own, "路灯不亮 street light out")
    card = page.locator(f"#inbox li.card[data-incident-id='{own_id}']")
    card.wait_for(timeout=TIMEOUT)
    page.wait_for_function(f"window.gridops.incidents.has({own_id})", timeout=TIMEOUT)
    page.evaluate("window.gridops.live.catchUp()")  # a catch-up does not bring it either
    assert page.evaluate("window.gridops.live.catchUps") >= 2
    assert page.evaluate(f"window.gridops.incidents.has({foreign_id})") is False
    assert page.locator(f"[data-incident-id='{foreign_id}']").count() == 0
    codes = page.evaluate("Array.from(window.gridops.incidents.values()).map(f => f.properties.handling_grid_code)")
    assert codes and set(codes) == {own.code}

    # The bell: the leader was told of the new matter in their grid (assigned or informed), live.
    leader_person = GridTeam.objects.get(grid=own).leader
    told = Notification.objects.filter(person=leader_person, read_at__isnull=True)
    assert told.filter(incident_id=own_id).exists() and not told.filter(incident_id=foreign_id).exists()
    page.wait_for_function(f"document.getElementById('bell').dataset.unread === '{told.count()}'", timeout=TIMEOUT)
    page.click("#bell")
    assert f"INC-{own_id:07d}" in page.locator(".bell-panel .bell-list").inner_text()
    page.click(".bell-panel [data-read-all]")
    page.wait_for_function("document.getElementById('bell').dataset.unread === '0'", timeout=TIMEOUT)
    assert not told.exists()
    page.click("#bell")  # closed again

    # Accept, then report handled with a note, from the inbox: the state follows live.
    card.locator(".d-actions [data-action=accept]").wait_for(timeout=TIMEOUT)
    # The buttons are the server's allowed actions for this user (a grid leader may also reassign).
    leader = Actor.of(GridTeam.objects.get(grid=own).leader.user)
    buttons = card.locator(".d-actions [data-action]").evaluate_all("bs => bs.map(b => b.dataset.action)")
    assert buttons == allowed_actions(Incident.objects.get(pk=own_id), leader)
    assert "reassign" in buttons and "escalate" in buttons
    act(card, "accept", "马上到 on my way")
    wait_state(page, own_id, "in_progress")
    page.wait_for_selector(f"#inbox li.card[data-incident-id='{own_id}'][data-state=in_progress]", timeout=TIMEOUT)
    card.locator(".d-actions [data-action=report_handled]").wait_for(timeout=TIMEOUT)
    act(card, "report_handled", "已更换灯泡 bulb replaced")
    wait_state(page, own_id, "handled")
    card.locator(".d-actions [data-action=verify]").wait_for(timeout=TIMEOUT)  # the leader verifies next
    assert Incident.objects.get(pk=own_id).state == "handled"
    assert IncidentEvent.objects.get(incident_id=own_id, action="report_handled").note == "已更换灯泡 bulb replaced"
    card.locator("[data-toggle]").click()
    card.locator(".card-timeline li[data-action=report_handled]").wait_for(timeout=TIMEOUT)

    # Usable on a phone: nothing wider than the screen, the action buttons big enough to tap.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert card.locator(".d-actions [data-action=verify]").bounding_box()["height"] >= 36
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "workspace.png"))
    assert page.console_errors == []
    assert page.foreign_requests == []

    # Nor by asking the API directly from the page (the browser reports the 404 in the console).
    assert page.evaluate(f"fetch('/api/incidents/{foreign_id}/').then(r => r.status)") == 404
    listed = page.evaluate("fetch('/api/incidents/?page_size=10000').then(r => r.json())"
                           ".then(fc => fc.features.map(f => f.id))")
    assert own_id in listed and foreign_id not in listed


def test_the_inbox_loads_the_most_urgent_first_and_more_on_demand(demo_data, asgi_server, new_page):
    """The phone holds a page of its open incidents, the most urgent first as the server orders them
    (order=due), says how many there are, and "more" loads the next ones; none is shown twice."""
    from datetime import timedelta

    from django.utils import timezone

    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    ids = [report(asgi_server, own, f"事件 {n} matter {n}") for n in range(5)]
    now = timezone.now()
    for hours, pk in zip([5, -3, 2, -8, 30], ids, strict=True):  # two overdue, three to come
        Incident.objects.filter(pk=pk).update(state="in_progress", handle_due_at=now + timedelta(hours=hours))
    urgent = [ids[3], ids[1], ids[2], ids[0], ids[4]]

    page = new_page(width=390, height=844)
    page.add_init_script("window.GRIDOPS_PAGE_SIZE = 2")
    login(page, asgi_server, "gridleader", "gongdao-gridleader", next_url="/my/")
    page.wait_for_selector("#map[data-loaded=true]", timeout=TIMEOUT)

    def shown() -> list[int]:
        return page.locator("#inbox li.card").evaluate_all("cs => cs.map(c => Number(c.dataset.incidentId))")

    assert shown() == urgent[:2]
    assert page.locator("#inbox-count").inner_text() == "(2 / 5)"
    more = page.locator("#inbox-more")
    assert more.is_visible() and "(3)" in more.inner_text()
    more.click()
    page.wait_for_function("document.querySelectorAll('#inbox li.card').length === 4", timeout=TIMEOUT)
    assert shown() == urgent[:4]
    more.click()
    page.wait_for_function("document.querySelectorAll('#inbox li.card').length === 5", timeout=TIMEOUT)
    assert shown() == urgent and page.locator("#inbox-count").inner_text() == "(5)"
    assert not more.is_visible()
    assert page.console_errors == []
