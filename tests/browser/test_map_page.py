"""The first map page in a real browser: every layer drawn, a click on a grid shows its details."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_map_shows_every_layer_from_local_assets(page, live_server):
    page.goto(live_server.url + "/map/")
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    assert page.locator(".leaflet-control-layers-overlays input").count() == 5
    # 45 + 8 grids, 14 villages, 1 town and 21 camera sectors are drawn as SVG paths.
    assert page.locator("path.leaflet-interactive").count() >= 45 + 8 + 14 + 1
    assert page.locator(".leaflet-overlay-pane path").count() >= 45 + 8 + 14 + 1 + 21
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_click_on_a_grid_shows_code_village_and_team(page, live_server):
    User.objects.create_user("viewer", password="pw-viewer-1")
    login(page, live_server.url, "viewer", "pw-viewer-1", next_url="/map/")
    page.wait_for_selector("#map[data-loaded=true]", timeout=15000)
    # Hide the upper layers so the click reaches a comprehensive grid at the map's centre.
    for label in ("专属网格", "摄像头", "村居"):
        page.get_by_label(label, exact=False).uncheck()
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
