"""The command centre in a real browser, served by `manage.py serve` with the Redis channel layer: every layer
drawn, incidents posted by the 12345 hotline appear live, the selected incident shows its timeline,
team and actions, an action updates it live, and a dropped socket catches up on reconnect."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
import shapely
from django.contrib.auth.models import User
from django.utils import timezone

from core.actors import Actor
from demo.users import demo_token
from dispatch import outbox
from dispatch.models import OutboxMessage, Webhook
from grids.models import Grid
from incidents.lifecycle import incident_transition
from incidents.models import Incident
from incidents.rules import OPEN
from tests.browser.conftest import login
from tests.dispatch.test_outbox import Receiver

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10_000  # ms, for what the page shows
HTTP_TIMEOUT = 30  # s, for the API calls of the test itself (the first intake warms the server up)
SCREENSHOTS = os.environ.get("GRIDOPS_SCREENSHOT_DIR")  # set to save a screenshot of the page


def grids() -> list[Grid]:
    return list(Grid.objects.active().filter(kind="comprehensive").order_by("code"))


def point_in(grid: Grid) -> tuple[float, float]:
    """Return a point inside the grid (in EPSG:4326)."""
    point = shapely.point_on_surface(shapely.from_wkb(bytes(grid.boundary.wkb)))
    return point.x, point.y


def api_post(base_url: str, path: str, body) -> tuple[int, dict | list]:
    """POST JSON as the 12345 hotline integration client (token auth, from outside the browser)."""
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {demo_token()}", "Content-Type": "application/json",
                 "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def report(base_url: str, grid: Grid | None, title: str, category: str = "other", **extra) -> int:
    """Report one incident through the API, inside ``grid`` unless lon/lat are given; return its id."""
    body = {"source": "hotline_12345", "category": category, "title": title, **extra}
    if grid is not None:
        body["lon"], body["lat"] = point_in(grid)
    status, data = api_post(base_url, "/api/incidents/", body)
    assert status == 201, data
    return data["id"]


def seed(base_url: str) -> dict[str, int]:
    """Report a spread of incidents before the page opens: located ones, one outside the town, one
    without a location, and one made overdue."""
    gs = grids()
    categories = ["straw_burning", "environment_sanitation", "rental_housing", "neighbour_dispute",
                  "public_security", "roads_facilities", "illegal_construction", "work_safety"]
    rows = []
    for n, grid in enumerate(gs[3::4]):
        lon, lat = point_in(grid)
        rows.append({"source": "hotline_12345", "external_id": f"seed-{n}", "category": categories[n % len(categories)],
                     "title": f"巡查发现问题 {n}", "lon": lon, "lat": lat})
    rows.append({"source": "hotline_12345", "external_id": "seed-markup", "category": "other",
                 "title": "<img src=x onerror=window.__xss=1> 标题 <b>bold</b>", "lon": rows[0]["lon"] + 0.001,
                 "lat": rows[0]["lat"]})
    rows.append({"source": "hotline_12345", "external_id": "seed-outside", "category": "other",
                 "title": "镇外来电 outside", "lon": 119.20, "lat": 32.50})
    rows.append({"source": "hotline_12345", "external_id": "seed-nowhere", "category": "other",
                 "title": "无位置 no location", "address": ""})
    status, data = api_post(base_url, "/api/incidents/batch/", rows)
    assert status == 200 and data["counts"]["created"] == len(rows), data
    ids = [r["id"] for r in data["results"]]
    Incident.objects.filter(pk=ids[0]).update(handle_due_at=timezone.now() - timedelta(hours=2))
    return {"first": ids[0], "markup": ids[-3], "outside": ids[-2], "nowhere": ids[-1], "count": len(ids)}


def open_command_centre(new_page, base_url: str):
    page = new_page()
    login(page, base_url, "operator", "gongdao-operator", next_url="/")
    page.wait_for_url("**/command/", timeout=TIMEOUT)
    page.wait_for_selector("#map[data-loaded=true]", timeout=TIMEOUT)
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    return page


def registry_state(page, incident_id: int):
    return page.evaluate("id => { const f = window.gridops.incidents.get(id); return f ? f.properties.state : null; }",
                         incident_id)


def wait_state(page, incident_id: int, state: str) -> None:
    page.wait_for_function(
        "([id, s]) => { const f = window.gridops.incidents.get(id); return f && f.properties.state === s; }",
        arg=[incident_id, state], timeout=TIMEOUT)


def test_operator_watches_incidents_live_and_acts(demo_data, asgi_server, new_page):
    seeded = seed(asgi_server)
    page = open_command_centre(new_page, asgi_server)

    # Every layer is offered; grids, villages, the town and camera sectors are drawn.
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    for name in ("town", "villages", "comprehensive", "dedicated", "cameras", "incidents", "triage", "components"):
        assert any(name in label for label in labels), (name, labels)
    assert page.locator(".leaflet-control-layers-overlays input").count() == 9
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() >= 45 + 8 + 14
    assert page.locator(".leaflet-overlay-pane path.camera-sector").count() == 21
    # The open incidents of the first view (the town) loaded at start, no more than are in it; triage
    # items are queued in the panel, the outside one drawn when the view reaches it.
    assert page.evaluate("window.gridops.view.kind") == "incidents"
    in_view = set(page.evaluate("Array.from(window.gridops.incidents.keys())"))
    located = set(Incident.objects.filter(triage="").values_list("id", flat=True))
    assert located <= in_view and seeded["nowhere"] not in in_view
    assert page.evaluate("Array.from(window.gridops.incidents.values()).every(f => window.gridops.map.getBounds()"
                         ".contains([f.geometry.coordinates[1], f.geometry.coordinates[0]]))")
    if seeded["outside"] in in_view:
        assert page.evaluate(f"window.gridops.markers.get({seeded['outside']}).layer") == "triage"
    assert page.evaluate(f"window.gridops.markers.has({seeded['nowhere']})") is False
    page.click("[data-tab=triage]")
    page.locator(f"#triage [data-incident-id='{seeded['outside']}']").wait_for(timeout=TIMEOUT)
    assert page.locator(f"#triage [data-incident-id='{seeded['nowhere']}']").is_visible()
    page.click("[data-tab=list]")
    page.locator(f"#list li.late[data-incident-id='{seeded['first']}']").wait_for(timeout=TIMEOUT)
    # Text from the API is shown as text, never as markup.
    markup_row = page.locator(f"#list [data-incident-id='{seeded['markup']}']")
    assert "<img src=x" in markup_row.locator(".row-title").inner_text()
    assert markup_row.locator(".row-title *").count() == 0
    assert page.evaluate("window.__xss") is None
    page.wait_for_function(f"document.querySelector('[data-stat=open]').textContent === '{seeded['count']}'",
                           timeout=TIMEOUT)
    page.click("[data-tab=feed]")

    # An incident reported now appears on the open map and in the feed, without reload; the 12345
    # system's webhook hears that it was registered and dispatched (tests/dispatch/test_outbox.py).
    receiver = Receiver()
    receiver.start()
    Webhook.objects.create(client=User.objects.get(username="hotline"), url=receiver.url)
    grid = grids()[0]
    new_id = report(asgi_server, grid, "井盖缺失 missing manhole cover", category="roads_facilities")
    assert outbox.deliver_due()["delivered"] == 2
    receiver.stop()
    page.wait_for_function(f"window.gridops.incidents.has({new_id})", timeout=TIMEOUT)
    assert page.evaluate(f"window.gridops.markers.get({new_id}).layer") == "incidents"
    feed_row = page.locator(f"#feed [data-incident-id='{new_id}']").first
    feed_row.wait_for(timeout=TIMEOUT)
    page.wait_for_function(f"document.querySelector('[data-stat=open]').textContent === '{seeded['count'] + 1}'",
                           timeout=TIMEOUT)

    # Selecting it shows the timeline, the grid team with A/B holders, and the allowed actions.
    feed_row.click()
    detail = page.locator(f"#detail[data-incident-id='{new_id}']")
    detail.wait_for(timeout=TIMEOUT)
    detail.locator(".d-timeline li[data-action=dispatch]").wait_for(timeout=TIMEOUT)
    assert detail.locator(".d-timeline li[data-action=register]").count() == 1
    assert grid.code in detail.locator(".d-team .team-head").inner_text()
    assert "网格长" in detail.locator(".d-team").inner_text()
    assert detail.locator(".d-team table.team tr").count() >= 2
    assert detail.locator(".d-actions [data-action=accept]").is_visible()
    assert detail.locator(".d-actions [data-action=reassign]").is_visible()
    assert detail.locator(".d-actions [data-action=escalate]").is_visible()
    assert detail.locator(".d-actions [data-action=register]").count() == 0  # no API route for it
    # what the source system was told, on the timeline
    assert "hotline 已推送 delivered" in detail.locator(".d-timeline li[data-action=dispatch] .delivery").inner_text()
    assert detail.locator(".d-timeline li[data-action=register] .delivery").count() == 1

    # A status note for the reporter: marked public on the timeline, sent to the source.
    detail.locator("[data-action=status_note]").click()
    assert "shown to the reporter" in detail.locator(".action-form textarea").get_attribute("placeholder")
    # the 常用语 of the roads category come first, then the common ones; picking one fills the note
    offered = detail.locator(".action-form select[name=reply] option").all_inner_texts()[1:]
    assert offered[0] == "已通知养护单位，正在设置警示标志并安排维修。" and "网格员已到达现场，正在处置。" in offered
    detail.locator(".action-form select[name=reply]").select_option(label=offered[0])
    assert detail.locator(".action-form textarea").input_value() == offered[0]
    detail.locator(".action-form [type=submit]").click()
    detail.locator(".d-timeline li[data-action=status_note] .badge.public").wait_for(timeout=TIMEOUT)
    assert offered[0] in detail.locator(".d-timeline li[data-action=status_note] .note").inner_text()
    assert [m.action for m in OutboxMessage.objects.filter(incident_id=new_id).order_by("id")] == [
        "register", "dispatch", "status_note"]

    # Accept with a note: the state changes live, the timeline and the feed show it.
    detail.locator("[data-action=accept]").click()
    detail.locator(".action-form textarea").fill("指挥中心已受理 taken by the command centre")
    detail.locator(".action-form [type=submit]").click()
    wait_state(page, new_id, "in_progress")
    detail.locator(".d-timeline li[data-action=accept] .note").wait_for(timeout=TIMEOUT)
    assert "taken by the command centre" in detail.locator(".d-timeline").inner_text()
    page.wait_for_function(
        f"document.querySelectorAll('#feed [data-incident-id=\"{new_id}\"]').length >= 2", timeout=TIMEOUT)
    assert Incident.objects.get(pk=new_id).state == "in_progress"

    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "command-centre.png"))
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_api_errors_are_shown_and_triage_is_placed_on_the_map(demo_data, asgi_server, new_page, settings):
    # This process changes an incident behind the page's back: no live push from here (the page
    # must not learn of it, and a pool thread would keep a DB connection past the test).
    settings.CHANNEL_LAYERS = {}
    settings.LIVE_PUSH_IN_BACKGROUND = False
    seeded = seed(asgi_server)
    page = open_command_centre(new_page, asgi_server)
    page.evaluate(f"window.gridops.select({seeded['first']})")
    detail = page.locator(f"#detail[data-incident-id='{seeded['first']}']")
    detail.locator("[data-action=accept]").click()
    # Someone else accepts it meanwhile (no live push from this process): the page's action was made
    # on the version it loaded, so the API answers 412 (no lost edit) and the page says who changed it
    # and shows the incident as it is now.
    other_desk = Actor.of(User.objects.get(username="operator"))
    incident_transition(incident_id=seeded["first"], action="accept", actor=other_desk)
    detail.locator(".action-form [type=submit]").click()
    page.wait_for_function("document.querySelector('#detail .d-error').textContent.includes('412')", timeout=TIMEOUT)
    assert "accept by operator" in detail.locator(".d-error").inner_text()
    wait_state(page, seeded["first"], "in_progress")
    assert Incident.objects.get(pk=seeded["first"]).events.filter(action="accept").count() == 1

    # A triage item outside the town is placed by hand inside a grid: it is registered and dispatched.
    page.click("[data-tab=triage]")
    page.click(f"#triage [data-incident-id='{seeded['outside']}']")
    detail = page.locator(f"#detail[data-incident-id='{seeded['outside']}']")
    detail.locator("[data-action=relocate]").click()
    page.get_by_label("事件 incidents").uncheck()  # so that the click reaches the ground, not a marker
    target = grids()[1]
    lon, lat = point_in(target)
    xy = page.evaluate("([lat, lon]) => { const m = window.gridops.map; m.setView([lat, lon], 17, {animate: false});"
                       " const p = m.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }", [lat, lon])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    wait_state(page, seeded["outside"], "dispatched")
    page.wait_for_function(f"window.gridops.markers.get({seeded['outside']}).layer === 'incidents'", timeout=TIMEOUT)
    placed = Incident.objects.select_related("grid").get(pk=seeded["outside"])
    assert placed.triage == "" and placed.grid.code == target.code
    detail.locator(".d-timeline li[data-action=relocate]").wait_for(timeout=TIMEOUT)

    # A second report at the same place is flagged as a possible duplicate and merged by the operator.
    original = report(asgi_server, target, "垃圾堆放 rubbish", category="environment_sanitation")
    again = report(asgi_server, target, "垃圾堆放 rubbish (again)", category="environment_sanitation")
    page.wait_for_function(f"window.gridops.incidents.has({again})", timeout=TIMEOUT)
    page.evaluate(f"window.gridops.select({again})")
    detail = page.locator(f"#detail[data-incident-id='{again}']")
    detail.locator("[data-action=merge]").click()
    detail.locator(".action-form [type=submit]").click()
    page.wait_for_function(f"!window.gridops.incidents.has({again})", timeout=TIMEOUT)
    merged = Incident.objects.get(pk=again)
    assert merged.state == "duplicate" and merged.merged_into_id == original

    # Filters act on the incidents layer and the list, in the page.
    page.select_option("#filters select[name=category]", "environment_sanitation")
    shown = page.evaluate("Array.from(window.gridops.markers.entries()).filter(([id, m]) => m.layer === 'incidents')"
                          ".map(([id]) => window.gridops.incidents.get(id).properties.category)")
    assert shown and set(shown) == {"environment_sanitation"}
    page.click("[data-tab=list]")
    page.locator(f"#list [data-incident-id='{original}']").wait_for(timeout=TIMEOUT)
    assert page.locator(f"#list [data-incident-id='{seeded['outside']}']").count() == 0
    listed = page.locator("#list [data-incident-id]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.incidentId))")
    assert set(listed) == set(Incident.objects.filter(category__code="environment_sanitation",
                                                      state__in=OPEN).values_list("id", flat=True))
    # The only console errors are the browser's own report of the refused request.
    assert [e for e in page.console_errors if "412" not in e] == []
    assert page.foreign_requests == []


def test_a_dropped_socket_catches_up_on_reconnect(demo_data, asgi_server, new_page, settings):
    page = open_command_centre(new_page, asgi_server)
    assert page.evaluate("window.gridops.live.connects") == 1
    page.context.set_offline(True)
    page.wait_for_selector("body[data-live=offline]", timeout=TIMEOUT)

    missed = report(asgi_server, grids()[2], "断线期间上报 reported while offline")
    assert registry_state(page, missed) is None

    page.context.set_offline(False)
    # The catch-up after the reconnect brings it (the live push of it went nowhere, or comes late).
    page.wait_for_function(f"window.gridops.live.caughtUp.includes({missed})", timeout=TIMEOUT)
    assert page.evaluate(f"window.gridops.incidents.has({missed})")
    assert page.evaluate("window.gridops.live.connects") == 2
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    page.locator(f"#feed [data-incident-id='{missed}']").first.wait_for(timeout=TIMEOUT)

    # Closing the socket from the page (as a network failure would) reconnects too, and live again.
    page.evaluate("window.gridops.live.drop()")
    page.wait_for_function("window.gridops.live.connects === 3 && document.body.dataset.live === 'open'",
                           timeout=TIMEOUT)
    live_id = report(asgi_server, grids()[3], "重连后上报 reported after reconnect")
    page.wait_for_function(f"window.gridops.incidents.has({live_id})", timeout=TIMEOUT)

    # A batch larger than LIVE_MAX_ITEMS arrives as one "refresh" notice: the page catches up.
    catch_ups = page.evaluate("window.gridops.live.catchUps")
    lon, lat = point_in(grids()[4])
    rows = [{"source": "hotline_12345", "external_id": f"bulk-{n}", "category": "other", "title": f"批量 {n}",
             "lon": lon + n * 1e-6, "lat": lat} for n in range(settings.LIVE_MAX_ITEMS + 1)]
    status, data = api_post(asgi_server, "/api/incidents/batch/", rows)
    assert status == 200 and data["counts"]["created"] == len(rows)
    ids = [r["id"] for r in data["results"]]
    page.wait_for_function("ids => ids.every(id => window.gridops.incidents.has(id))", arg=ids, timeout=TIMEOUT)
    assert page.evaluate("window.gridops.live.catchUps") > catch_ups
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_the_list_is_paged_on_the_server(demo_data, asgi_server, new_page):
    """The list tab reads the open incidents from the server 50 at a time (keyset: newest first);
    "more" appends the next page, each incident once."""
    from tests.incidents import factories as f

    ids = [x.incident.pk for x in f.report_many([f.item(at=point_in(grids()[n % 5])) for n in range(63)])]
    page = open_command_centre(new_page, asgi_server)
    page.click("[data-tab=list]")
    page.wait_for_selector("#list[data-rows='50']", timeout=TIMEOUT)
    assert page.locator("[data-count=list]").inner_text() == "50+"
    page.click("#list .more")
    page.wait_for_selector("#list[data-rows='63']", timeout=TIMEOUT)
    shown = page.locator("#list [data-incident-id]").evaluate_all("rows => rows.map(r => Number(r.dataset.incidentId))")
    assert shown == sorted(ids, reverse=True)
    assert page.locator("#list .more").count() == 0 and page.locator("[data-count=list]").inner_text() == "63"
    assert page.console_errors == []
