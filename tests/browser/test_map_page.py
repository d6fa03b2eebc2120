"""The first map page in a real browser: every layer drawn, a click on a grid shows its details."""
from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User

from grids.models import Grid
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _logged_in(page, live_server) -> None:
    """The map needs a login, as every page but the login's (issue 11)."""
    User.objects.create_user("mapper", password="pw-mapper-1")
    login(page, live_server.url, "mapper", "pw-mapper-1", next_url="/map/")


def test_the_map_sends_an_anonymous_visitor_to_the_login(page, live_server):
    page.goto(live_server.url + "/map/")
    page.wait_for_selector("form.login-box", timeout=15000)
    assert "/accounts/login/" in page.url


def test_map_shows_every_layer_from_local_assets(page, live_server):
    _logged_in(page, live_server)
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    assert page.locator(".leaflet-control-layers-overlays input").count() == 6
    # 45 + 8 grids, 14 villages, 1 town and 21 camera sectors are drawn as SVG paths.
    assert page.locator("path.leaflet-interactive").count() >= 45 + 8 + 14 + 1
    assert page.locator(".leaflet-overlay-pane path").count() >= 45 + 8 + 14 + 1 + 21
    # The Chinese font comes from this server (for machines without a CJK font): the pieces holding
    # these characters load, and the page asks nothing of anyone else.
    faces = page.evaluate("document.fonts.load(\"16px 'Noto Sans SC'\", '公道镇网格').then("
                          "fs => fs.map(f => f.status))")
    assert faces and set(faces) == {"loaded"}
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_click_on_a_grid_shows_code_village_and_team(page, live_server):
    User.objects.create_user("viewer", password="pw-viewer-1")
    login(page, live_server.url, "viewer", "pw-viewer-1", next_url="/map/")
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    # Hide the upper layers so the click reaches a comprehensive grid at the map's centre.
    for label in ("专属网格 dedicated grids", "摄像头 cameras", "村居 villages"):
        page.get_by_label(label, exact=True).uncheck()
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    popup = page.locator(".grid-popup")
    popup.wait_for(timeout=5000)
    code = popup.locator(".grid-code").inner_text()
    assert len(code) == 15 and code.startswith("321003100")
    page.wait_for_function("document.querySelector('.grid-popup .team table') !== null", timeout=5000)
    assert "网格长" in popup.inner_text()
    assert "专职网格员 A" in popup.inner_text()
    assert page.console_errors == [] and page.foreign_requests == []


def test_camera_coverage_layer_shades_each_grid_and_gives_the_town_total(page, live_server):
    from cameras.selectors import coverage_by_grid
    from grids.models import Grid

    _logged_in(page, live_server)
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    assert page.locator(".coverage-legend").count() == 0  # off until asked for
    paths = page.locator(".leaflet-overlay-pane path").count()
    page.get_by_label("摄像头覆盖", exact=False).check()
    page.wait_for_selector("#map[data-coverage=loaded]", timeout=10000)
    assert page.locator(".leaflet-overlay-pane path").count() == paths + 45  # every comprehensive grid shaded
    rows = coverage_by_grid(Grid.objects.active().filter(kind="comprehensive"))
    share = sum(r.covered_m2 for r in rows) / sum(r.area_m2 for r in rows)
    legend = page.locator(".coverage-legend").inner_text()
    assert f"{100 * share:.{2 if share < 0.01 else 1}f}%" in legend and "45 grids" in legend
    if os.environ.get("GRIDOPS_SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["GRIDOPS_SCREENSHOT_DIR"], "coverage.png"))
    page.get_by_label("摄像头覆盖", exact=False).uncheck()
    assert page.locator(".coverage-legend").count() == 0
    assert page.console_errors == [] and page.foreign_requests == []


def _drawn(page, layer: str) -> list[list[float]]:
    """The bounds (west, south, east, north) of the features a boundary layer draws now."""
    return page.evaluate("""name => { const out = [];
      window.gridops.layers[name].eachLayer(l => { const b = l.getBounds();
        out.push([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]); });
      return out; }""", layer)


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # the view is read 150 ms after a move


def test_boundaries_follow_the_view_and_wait_for_a_closer_one_when_too_many(page, live_server):
    """A city holds thousands of grids: the map asks only for the view's, at most a page, and shows a
    hint instead of an arbitrary part when the view holds more (the page lowered to 20 for Gongdao's 45)."""
    page.add_init_script("window.GRIDOPS_BOUNDARY_PAGE = 20")
    _logged_in(page, live_server)
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    _settle(page)
    hint = page.locator(".boundary-hint")
    # the whole town: 45 comprehensive grids > 20: none drawn, the hint asks to zoom in; 14 villages fit
    assert _drawn(page, "comprehensive") == []
    assert hint.is_visible()
    assert len(_drawn(page, "villages")) == 14
    # zoomed in on one grid: only the grids of the view, each within the view's margin
    grid = Grid.objects.filter(generation__status="active", kind="comprehensive").order_by("code")[10]
    lon, lat = grid.boundary.point_on_surface.coords
    page.evaluate("([lat, lon]) => window.gridops.map.setView([lat, lon], 16, {animate: false})", [lat, lon])
    _settle(page)
    drawn = _drawn(page, "comprehensive")
    assert 0 < len(drawn) <= 20
    w, s, e, n = map(float, page.evaluate("window.gridops.map.getBounds().pad(0.25).toBBoxString()").split(","))
    assert all(b[0] <= e and b[2] >= w and b[1] <= n and b[3] >= s for b in drawn)
    assert hint.count() == 0 or not hint.is_visible()
    # below the grids' zoom: nothing asked, nothing drawn, the hint again
    page.evaluate("([lat, lon]) => window.gridops.map.setView([lat, lon], 8, {animate: false})", [lat, lon])
    _settle(page)
    assert _drawn(page, "comprehensive") == [] and _drawn(page, "cameras") == []
    assert hint.is_visible()
    assert page.console_errors == [] and page.foreign_requests == []
