"""The command centre's map at volume, in a real browser: a view holding more incidents than the page's
limit shows the server's counts per area (numbered circles, a "zoom in" hint) and no incident; zooming
in shows the incidents of the view and only those; from the detail zoom a full view shows the limit and
says so; live changes move the counts. The limit is lowered for the test (window.GRIDOPS_VIEW_LIMIT)."""
from __future__ import annotations

import pytest
from django.contrib.gis.geos import Polygon

from incidents.models import Incident
from incidents.rules import OPEN
from tests.browser.conftest import login
from tests.browser.test_command_centre import TIMEOUT, api_post, grids, point_in, report

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 4


def seed(base_url: str) -> dict[str, list[int]]:
    """Report three incidents in each of four grids, and six at one spot of a fifth; return ids by grid code."""
    gs = grids()[:5]
    rows, codes = [], []
    for n, grid in enumerate(gs):
        lon, lat = point_in(grid)
        for k in range(6 if n == 4 else 3):
            rows.append({"source": "hotline_12345", "external_id": f"map-{n}-{k}", "category": "other",
                         "title": f"地图 {n}-{k}", "lon": lon + k * 1e-6, "lat": lat})
            codes.append(grid.code)
    status, data = api_post(base_url, "/api/incidents/batch/", rows)
    assert status == 200 and data["counts"]["created"] == len(rows), data
    out: dict[str, list[int]] = {}
    for code, result in zip(codes, data["results"], strict=True):
        out.setdefault(code, []).append(result["id"])
    return out


def open_page(new_page, base_url: str):
    page = new_page()
    page.add_init_script(f"window.GRIDOPS_VIEW_LIMIT = {LIMIT}")
    login(page, base_url, "operator", "gongdao-operator", next_url="/command/")
    page.wait_for_selector("#map[data-loaded=true]", timeout=TIMEOUT)
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    return page


def bubbles(page) -> dict[str, int]:
    return dict(page.evaluate("""() => {
      const out = [];
      window.gridops.aggregates.eachLayer(m => out.push([m.options.area,
        Number(m.getElement().textContent.replace(/,/g, ""))]));
      return out; }"""))


def go(page, lon: float, lat: float, zoom: float) -> None:
    page.evaluate("([lat, lon, z]) => window.gridops.map.setView([lat, lon], z, {animate: false})", [lat, lon, zoom])
    # the view is read 200 ms after the move: wait until the answer for this zoom is drawn
    page.wait_for_function("z => window.gridops.view && window.gridops.view.zoom === z &&"
                           " document.getElementById('map').dataset.view !== 'loading'", arg=zoom, timeout=TIMEOUT)


def in_bounds(page) -> set[int]:
    """The open incidents the database holds in the map's bounds."""
    w, s, e, n = page.evaluate("window.gridops.map.getBounds().toBBoxString()").split(",")
    box = Polygon.from_bbox((float(w), float(s), float(e), float(n)))
    box.srid = 4326
    return set(Incident.objects.filter(state__in=OPEN, location__intersects=box).values_list("id", flat=True))


def test_zoomed_out_counts_then_the_incidents_of_the_view(demo_data, asgi_server, new_page):
    seeded = seed(asgi_server)
    page = open_page(new_page, asgi_server)

    # The town: 18 open incidents, more than the limit: counts per area, no incident, the hint.
    view = page.evaluate("window.gridops.view")
    assert view["kind"] == "aggregates" and view["capped"] and view["by"] in ("town", "village")
    assert sum(bubbles(page).values()) == 18
    assert page.evaluate("window.gridops.incidents.size") == 0
    hint = page.locator("#view-hint")
    assert hint.is_visible() and "zoom in" in hint.inner_text()

    # Zoomed in on one grid's spot: its incidents, only those of the view, and no hint.
    grid = grids()[0]
    lon, lat = point_in(grid)
    go(page, lon, lat, 18)
    page.wait_for_function("window.gridops.view.kind === 'incidents'", timeout=TIMEOUT)
    shown = set(page.evaluate("Array.from(window.gridops.incidents.keys())"))
    assert shown == in_bounds(page) and set(seeded[grid.code]) <= shown
    assert not set(seeded[grids()[1].code]) & shown
    assert not hint.is_visible()
    assert page.locator(".agg-bubble").count() == 0

    # At the detail zoom a spot with more than the limit shows the limit, with the hint.
    crowded = grids()[4]
    lon, lat = point_in(crowded)
    go(page, lon, lat, 18)
    page.wait_for_function("window.gridops.view.kind === 'incidents' && window.gridops.view.capped", timeout=TIMEOUT)
    assert page.evaluate("window.gridops.incidents.size") == LIMIT
    assert set(page.evaluate("Array.from(window.gridops.incidents.keys())")) <= set(seeded[crowded.code])
    assert hint.is_visible() and "zoom in" in hint.inner_text()

    # Per grid at a middle zoom: the grids' counts, each the open incidents located in it.
    go(page, lon, lat, 14.5)
    page.wait_for_function("window.gridops.view.kind === 'aggregates' && window.gridops.view.by === 'grid'",
                           timeout=TIMEOUT)
    counts = bubbles(page)
    assert counts and all(counts[code] == len(seeded[code]) for code in counts)
    assert counts[crowded.code] == 6
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_live_changes_move_the_counts(demo_data, asgi_server, new_page):
    seed(asgi_server)
    page = open_page(new_page, asgi_server)
    assert sum(bubbles(page).values()) == 18
    report(asgi_server, grids()[7], "新事件 a new one")
    page.wait_for_function("""() => { let n = 0; window.gridops.aggregates.eachLayer(m =>
      n += Number(m.getElement().textContent.replace(/,/g, ""))); return n === 19; }""", timeout=TIMEOUT)
    assert page.evaluate("window.gridops.incidents.size") == 0
    assert page.console_errors == []
