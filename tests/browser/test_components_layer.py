"""The command centre's components layer (部件) in a real browser: waiting below its zoom, then the
components of the view as markers coloured by state with their code in the tooltip, no CSP violation."""
from __future__ import annotations

import pytest

from tests.browser.test_command_centre import TIMEOUT, grids, open_command_centre, point_in
from tests.components.factories import component

pytestmark = pytest.mark.django_db(transaction=True)


def drawn(page) -> int:
    return page.locator(".leaflet-overlay-pane path.component").count()


def test_the_layer_shows_the_components_of_the_view_from_its_zoom(demo_data, asgi_server, new_page):
    lon, lat = point_in(grids()[0])
    component("3210030101000001", lon, lat, state="damaged", owner_dept="公道镇城管")
    component("3210030101000002", lon + 0.0002, lat, state="intact")
    page = open_command_centre(new_page, asgi_server)
    assert "部件 components" in " ".join(page.locator(".leaflet-control-layers-overlays label").all_inner_texts())
    assert drawn(page) == 0  # the town's view: below the layer's zoom
    page.evaluate("([lat, lon]) => window.gridops.map.setView([lat, lon], 17, {animate: false})", [lat, lon])
    page.wait_for_function("() => document.querySelectorAll('.leaflet-overlay-pane path.component').length === 2",
                           timeout=TIMEOUT)
    colours = page.evaluate("() => [...document.querySelectorAll('path.component')].map(p => p.getAttribute('fill'))")
    assert sorted(colours) == ["#2f9e44", "#e8590c"]  # intact, damaged
