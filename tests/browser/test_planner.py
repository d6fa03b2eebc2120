"""The planner's editor in a real browser: a draft from the active generation, a shared vertex dragged
on the map moves in every grid that shares it, the edit is saved, the preview says the partition
holds, and the draft is published; nothing is loaded from outside."""
from __future__ import annotations

import os

import pytest
import shapely

from gis_core.geometry import to_metric
from grids.models import BoundaryGeneration, Grid
from tests.browser.conftest import login
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10_000
SCREENSHOTS = os.environ.get("GRIDOPS_SCREENSHOT_DIR")


def _vertices(grid: Grid) -> set[tuple[float, float]]:
    shape = shapely.from_wkb(bytes(grid.boundary.wkb))
    return {tuple(c) for c in shapely.get_coordinates(shape.boundary).tolist()}


def _movable_vertex() -> tuple[tuple[float, float], list[str]]:
    """A vertex that two or more comprehensive grids of one village share, that no other grid's edge
    passes through, at least 60 m from the village's outline and from every other edge."""
    grids = list(Grid.objects.active().filter(kind="comprehensive").select_related("village").order_by("code"))
    shapes = {g.code: shapely.from_wkb(bytes(g.boundary.wkb)) for g in grids}
    by_vertex: dict[tuple[float, float], list[Grid]] = {}
    for grid in grids:
        for v in _vertices(grid):
            by_vertex.setdefault(v, []).append(grid)
    for v, sharing in sorted(by_vertex.items()):
        if len(sharing) < 2 or len({g.village_id for g in sharing}) != 1:
            continue
        point = to_metric(shapely.Point(v))
        village = to_metric(shapely.from_wkb(bytes(sharing[0].village.boundary.wkb)))
        if village.boundary.distance(point) < 60:
            continue
        codes = {g.code for g in sharing}
        others = [c for c in shapes if c not in codes]
        if all(to_metric(shapes[c].boundary).distance(point) > 60 for c in others):
            # the sharing grids' own edges that do not end at v must be far too
            rest = [shapely.LineString(seg) for c in codes for seg in _segments(shapes[c]) if v not in seg]
            if all(to_metric(seg).distance(point) > 60 for seg in rest):
                return v, sorted(codes)
    raise AssertionError("no movable vertex in the data set")


def _segments(shape):
    coords = shapely.get_coordinates(shape.boundary).tolist()
    return [(tuple(a), tuple(b)) for a, b in zip(coords, coords[1:], strict=False) if a != b]


def drag_vertex(page, draft_id: int, vertex: tuple[float, float], codes: list[str], by: tuple[int, int]) -> None:
    """Zoom to the vertex, click the first grid that shares it, drag the vertex's handle ``by`` pixels."""
    lon, lat = vertex
    page.evaluate(f"window.gridops.map.setView([{lat}, {lon}], 17, {{animate: false}})")
    inside = shapely.from_wkb(bytes(Grid.objects.get(generation_id=draft_id, code=codes[0]).boundary.wkb))
    towards = inside.intersection(shapely.Point(lon, lat).buffer(0.0004)).representative_point()
    spot = page.evaluate(f"window.gridops.handleAt({towards.x}, {towards.y})")
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_function(f"window.gridops.state.selected === '{codes[0]}'", timeout=TIMEOUT)
    handle = page.evaluate(f"window.gridops.handleAt({lon}, {lat})")
    assert page.locator(".vx.shared").count() >= 1
    page.mouse.move(handle["x"], handle["y"])
    page.mouse.down()
    page.mouse.move(handle["x"] + by[0], handle["y"] + by[1], steps=6)
    page.mouse.up()
    page.wait_for_function(f"Number(document.body.dataset.dirty) === {len(codes)}", timeout=TIMEOUT)


def open_planner(new_page, base: str, username: str, password: str):
    page = new_page(width=1600, height=900)
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, base, username, password, next_url="/")
    page.wait_for_url("**/planner/", timeout=TIMEOUT)
    page.wait_for_selector("body[data-planner=ready]", timeout=TIMEOUT)
    return page


def test_planner_drags_a_shared_vertex_saves_previews_and_publishes(demo_data, asgi_server, new_page):
    (lon, lat), codes = _movable_vertex()
    active_before = BoundaryGeneration.objects.get(town__code="321003100", status="active")

    page = open_planner(new_page, asgi_server, "planner", "gongdao-planner")
    assert page.locator("#generations li .status.active").count() == 1
    assert page.locator("#editing").is_hidden()  # the active generation is not edited in place
    with page.expect_download() as download:  # the open generation exported as a file
        page.click("#export-gpkg")
    assert download.value.suggested_filename == f"321003100-generation-{active_before.pk}-active.gpkg"

    page.click("#new-draft")
    page.wait_for_function("window.gridops.state.current && window.gridops.state.current.status === 'draft' && "
                           "document.body.dataset.planner === 'ready'", timeout=TIMEOUT)
    draft_id = page.evaluate("window.gridops.state.current.id")
    assert BoundaryGeneration.objects.get(pk=draft_id).status == "draft"

    drag_vertex(page, draft_id, (lon, lat), codes, (14, 9))
    assert page.evaluate("window.gridops.map.getZoom()") == 17  # the page's first fit did not undo our view

    page.click("#save")
    page.wait_for_selector("body[data-saved='1']", timeout=TIMEOUT)
    for code in codes:  # the vertex moved, in every grid that shares it, to the same new place
        vertices = _vertices(Grid.objects.get(generation_id=draft_id, code=code))
        assert (lon, lat) not in vertices
    moved = set.intersection(*(_vertices(Grid.objects.get(generation_id=draft_id, code=c)) for c in codes))
    (new_point,) = [v for v in moved if v not in _vertices(Grid.objects.get(generation_id=active_before.pk,
                                                                                   code=codes[0]))]
    distance = to_metric(shapely.Point(new_point)).distance(to_metric(shapely.Point(lon, lat)))
    assert 5 < distance < 40  # metres: the drag, at zoom 17

    page.click("#preview")
    page.wait_for_selector("body[data-preview=valid]", timeout=TIMEOUT)
    assert page.locator("#preview-result [data-valid=true]").count() == 1
    assert page.locator("#publish").is_enabled()
    page.click("#publish")
    page.wait_for_function(f"window.gridops.state.current && window.gridops.state.current.id === {draft_id} && "
                           "window.gridops.state.current.status === 'active'", timeout=TIMEOUT)
    page.wait_for_selector("body[data-planner=ready]", timeout=TIMEOUT)
    assert page.locator("#editing").is_hidden() and page.locator(".vx").count() == 0  # published: read-only
    assert BoundaryGeneration.objects.get(town__code="321003100", status="active").pk == draft_id
    active_before.refresh_from_db()
    assert active_before.status == "retired"

    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "planner.png"))
    assert page.console_errors == []
    assert page.foreign_requests == []


def _shared_edge() -> tuple[tuple[float, float], tuple[float, float], list[str]]:
    """An edge two comprehensive grids of one village share, longer than 60 m, whose middle is at
    least 25 m from every other edge."""
    grids = list(Grid.objects.active().filter(kind="comprehensive").order_by("code"))
    segments = {g.code: _segments(shapely.from_wkb(bytes(g.boundary.wkb))) for g in grids}
    owners: dict[frozenset, list[Grid]] = {}
    for g in grids:
        for a, b in segments[g.code]:
            owners.setdefault(frozenset((a, b)), []).append(g)
    every = [(a, b) for segs in segments.values() for a, b in segs]
    for edge, sharing in sorted(owners.items(), key=lambda kv: sorted(kv[0])):
        if len(sharing) != 2 or sharing[0].village_id != sharing[1].village_id:
            continue
        a, b = sorted(edge)
        middle = to_metric(shapely.Point((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
        others = [shapely.LineString(s) for s in every if frozenset(s) != edge]
        if to_metric(shapely.LineString([a, b])).length > 60 and all(
                to_metric(s).distance(middle) > 25 for s in others):
            return a, b, sorted(g.code for g in sharing)
    raise AssertionError("no suitable shared edge")


def test_planner_adds_a_vertex_on_a_shared_edge_and_removes_it(demo_data, asgi_server, new_page):
    a, b, codes = _shared_edge()
    middle = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    page = new_page(width=1600, height=900)
    login(page, asgi_server, "planner", "gongdao-planner", next_url="/")
    page.wait_for_selector("body[data-planner=ready]", timeout=TIMEOUT)
    page.click("#new-draft")
    page.wait_for_function("window.gridops.state.current && window.gridops.state.current.status === 'draft' && "
                           "document.body.dataset.planner === 'ready'", timeout=TIMEOUT)
    draft_id = page.evaluate("window.gridops.state.current.id")
    page.evaluate(f"window.gridops.map.setView([{middle[1]}, {middle[0]}], 17, {{animate: false}})")
    page.evaluate(f"window.gridops.select('{codes[0]}')")
    mids = page.evaluate("window.gridops.midpoints()")
    (mid,) = [m for m in mids if {tuple(m["a"]), tuple(m["b"])} == {a, b}]
    assert sorted(mid["grids"]) == codes

    start = page.evaluate(f"window.gridops.handleAt({mid['lon']}, {mid['lat']})")
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(start["x"] + 6, start["y"] - 5, steps=5)
    page.mouse.up()
    page.wait_for_function("Number(document.body.dataset.dirty) === 2", timeout=TIMEOUT)
    page.click("#save")
    page.wait_for_selector("body[data-saved='1']", timeout=TIMEOUT)

    before = _vertices(Grid.objects.active().get(code=codes[0]))
    after = [_vertices(Grid.objects.get(generation_id=draft_id, code=c)) for c in codes]
    (added,) = set.intersection(*after) - before  # one new vertex, in both grids
    assert 3 < to_metric(shapely.Point(added)).distance(to_metric(shapely.Point(middle))) < 20
    page.click("#preview")
    page.wait_for_selector("body[data-preview=valid]", timeout=TIMEOUT)

    # A double click on the new vertex takes it out of both grids again: back to the active boundaries.
    spot = page.evaluate(f"window.gridops.handleAt({added[0]}, {added[1]})")
    page.mouse.dblclick(spot["x"], spot["y"])
    page.wait_for_function("Number(document.body.dataset.dirty) === 2", timeout=TIMEOUT)
    page.click("#save")
    page.wait_for_selector("body[data-saved='2']", timeout=TIMEOUT)
    for code in codes:
        assert _vertices(Grid.objects.get(generation_id=draft_id, code=code)) == _vertices(
            Grid.objects.active().get(code=code))
    page.click("#preview")
    page.wait_for_function("document.body.dataset.preview === 'valid' && "
                           "document.querySelector('#preview-result').textContent.includes('changed grids (0)')",
                           timeout=TIMEOUT)
    assert page.console_errors == [] and page.foreign_requests == []


def test_two_planners_redraw_one_grid_and_the_later_save_is_refused_naming_the_first(demo_data, asgi_server,
                                                                                     new_page):
    """No lost edits: two planners open the same draft in two browsers and move the same vertex; the
    first save lands, the second was made on the version before it and gets 412, the page naming who
    redrew the grid, and the first planner's boundary stays as they left it."""
    (lon, lat), codes = _movable_vertex()
    first = open_planner(new_page, asgi_server, "planner", "gongdao-planner")
    first.click("#new-draft")
    first.wait_for_function("window.gridops.state.current && window.gridops.state.current.status === 'draft' && "
                            "document.body.dataset.planner === 'ready'", timeout=TIMEOUT)
    draft_id = first.evaluate("window.gridops.state.current.id")
    f.user("planner", username="planner-two")  # password "x"
    second = open_planner(new_page, asgi_server, "planner-two", "x")
    second.click(f"#generations li[data-generation='{draft_id}']")
    second.wait_for_function(f"window.gridops.state.current && window.gridops.state.current.id === {draft_id} && "
                             "document.body.dataset.planner === 'ready'", timeout=TIMEOUT)

    drag_vertex(first, draft_id, (lon, lat), codes, (14, 9))
    drag_vertex(second, draft_id, (lon, lat), codes, (-12, 10))
    first.click("#save")
    first.wait_for_selector("body[data-saved='1']", timeout=TIMEOUT)
    saved = {c: Grid.objects.get(generation_id=draft_id, code=c).boundary.wkt for c in codes}

    second.click("#save")
    second.wait_for_selector("body[data-stale]", timeout=TIMEOUT)
    shown = second.inner_text("#message")
    assert "planner" in shown and "planner-two" not in shown, shown  # who redrew it: the first
    assert {c: Grid.objects.get(generation_id=draft_id, code=c).boundary.wkt for c in codes} == saved
    assert second.evaluate("Number(document.body.dataset.dirty)") >= 1  # the unsaved edit is still on the page
