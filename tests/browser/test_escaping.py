"""Text from the database is shown as text on every map page: names of grids, villages, cameras and
people and an incident's title, address and reporter, each holding markup that would run script if
inserted as HTML, are shown literally in tooltips, popups, the side panel, the lists and the live
feed (every insertion goes through web/helpers.js esc()), and the script never runs."""
from __future__ import annotations

import pytest
import shapely
from django.contrib.auth.models import Group, User
from django.db.models import F, Value
from django.db.models.functions import Concat, Right

from cameras.models import Camera
from grids.models import Grid, Person, Village
from tests.browser.conftest import login
from tests.browser.test_command_centre import TIMEOUT, api_post, open_command_centre

pytestmark = pytest.mark.django_db(transaction=True)
P = '<img src=x onerror="window.__xss=1">'


def _poison() -> None:
    """Give every grid, village, camera and person a name holding the markup."""
    Grid.objects.update(name=Concat(Value(P), Right(F("code"), 3)))
    Village.objects.update(name=Concat(Value(P), Right(F("code"), 3)))
    Camera.objects.update(name=Value(P))
    Person.objects.update(name=Concat(Value(P), F("external_id")))


def _clean(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0


def _in_view_of(camera: Camera) -> dict:
    point = shapely.point_on_surface(shapely.from_wkb(bytes(camera.sector.wkb)))
    return {"lon": point.x, "lat": point.y}


def _report(base_url: str, **body) -> int:
    row = {"source": "hotline_12345", "category": "other", "title": P + " title", "address": P + " address",
           "description": P, "reporter_name": P[:60], "reporter_phone": "13812345678", **body}
    status, data = api_post(base_url, "/api/incidents/", row)
    assert status == 201, data
    return data["id"]


def test_command_centre_shows_markup_as_text(demo_data, asgi_server, new_page):
    _poison()
    camera = Camera.objects.order_by("code").first()
    first = _report(asgi_server, **_in_view_of(camera), external_id="xss-1")
    page = open_command_centre(new_page, asgi_server)
    _clean(page)

    # the marker's tooltip, zoomed in so the marker stands alone
    page.evaluate("""id => { const e = window.gridops.markers.get(id); const m = window.gridops.map;
                             m.setView(e.marker.getLatLng(), 19, {animate: false}); }""", first)
    page.wait_for_function("id => window.gridops.markers.get(id).marker._map", arg=first, timeout=TIMEOUT)
    page.evaluate("id => window.gridops.markers.get(id).marker.openTooltip()", first)
    tip = page.locator(".leaflet-tooltip", has_text="title").first
    tip.wait_for(timeout=TIMEOUT)
    assert P + " title" in tip.inner_text()
    _clean(page)

    # the list row and the side panel: title, address, reporter, team, cameras
    page.click("[data-tab=list]")
    row = page.locator(f"#list [data-incident-id='{first}']")
    assert P in row.inner_text()
    page.evaluate("id => window.gridops.select(id)", first)
    detail = page.locator(f"#detail[data-incident-id='{first}']")
    detail.wait_for(timeout=TIMEOUT)
    detail.locator(".d-team table.team").wait_for(timeout=TIMEOUT)
    detail.locator(".d-cameras li").first.wait_for(timeout=TIMEOUT)
    text = detail.inner_text()
    assert P + " title" in text and P + " address" in text
    assert P in detail.locator(".d-team").inner_text()
    assert P in detail.locator(".d-cameras").inner_text()
    assert "13812345678" in text  # the operator sees the reporter in full
    _clean(page)

    # the reassign form's people
    detail.locator("[data-action=reassign]").click()
    assert P in detail.locator(".action-form select").inner_text()
    _clean(page)

    # the live feed: a change pushed over the socket
    page.click("[data-tab=feed]")
    second = _report(asgi_server, **_in_view_of(camera), external_id="xss-2")
    feed_row = page.locator(f"#feed [data-incident-id='{second}']").first
    feed_row.wait_for(timeout=TIMEOUT)
    assert P + " title" in feed_row.inner_text()
    _clean(page)
    assert page.console_errors == []


def test_map_page_shows_markup_as_text(demo_data, live_server, page):
    _poison()
    viewer = User.objects.create_user("viewer", password="pw-viewer-1")
    viewer.groups.add(Group.objects.get_or_create(name="planner")[0])
    login(page, live_server.url, "viewer", "pw-viewer-1", next_url="/map/")
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    _clean(page)

    # a camera's tooltip (the cameras are drawn last, on top)
    camera = page.locator('.leaflet-overlay-pane path.leaflet-interactive[stroke="#fff"]').first
    assert camera.count() == 1 or camera.is_visible()
    camera.dispatch_event("mouseover")
    page.locator(".leaflet-tooltip", has_text="online").first.wait_for(timeout=TIMEOUT)
    assert P in page.locator(".leaflet-tooltip", has_text="online").first.inner_text()
    _clean(page)

    # a grid's tooltip and popup with its team
    for label in ("专属网格 dedicated grids", "摄像头 cameras", "村居 villages"):
        page.get_by_label(label, exact=True).uncheck()
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(".leaflet-tooltip.grid-tip").wait_for(timeout=TIMEOUT)
    assert P in page.locator(".leaflet-tooltip.grid-tip").inner_text()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    popup = page.locator(".grid-popup")
    popup.wait_for(timeout=TIMEOUT)
    page.wait_for_function("document.querySelector('.grid-popup .team table') !== null", timeout=TIMEOUT)
    assert P in popup.locator("h4").inner_text()
    assert P in popup.locator("div.team").inner_text()  # the leader's and members' names
    assert P in popup.inner_text().split("村居 village:")[1]
    _clean(page)

    # a village's tooltip
    page.get_by_label("村居 villages", exact=True).check()
    page.get_by_label("综合网格 comprehensive grids", exact=False).uncheck()
    page.mouse.move(box["x"] + box["width"] / 2 + 3, box["y"] + box["height"] / 2 + 3)
    page.locator(".leaflet-tooltip", has_text=P).first.wait_for(timeout=TIMEOUT)
    _clean(page)
    assert page.console_errors == []
