"""Cameras follow the published generation: in the publishing transaction every camera of the town is
moved to the grid it stands in among the new grids (or to the new row of the same code), and a failure
there publishes nothing."""
from __future__ import annotations

import pytest
from django.contrib.gis.geos import Point

from cameras.models import Camera
from cameras.services import camera_assign_grid
from core.actors import Actor
from grids.models import BoundaryGeneration, Grid
from grids.services import generation_activate
from grids.signals import generation_activated
from planner.preview import generation_preview
from planner.services import generation_draft, grid_redraw
from tests.conftest import A1, A2, B1, box

pytestmark = pytest.mark.django_db


def placed(code: str, lon: float, lat: float) -> Camera:
    cam = Camera(code=code, name=code, location=Point(lon, lat, srid=4326), bearing_deg=0, fov_deg=60, range_m=100)
    cam.save()
    return camera_assign_grid(camera=cam)


def _edge_moved_east(active: BoundaryGeneration) -> BoundaryGeneration:
    """A draft where the A1|A2 edge runs along 120.012 instead of 120.01."""
    draft = generation_draft(town=active.town)
    grid_redraw(grid=Grid.objects.get(generation=draft, code=A1), boundary=box(120.00, 31.00, 120.012, 31.01))
    grid_redraw(grid=Grid.objects.get(generation=draft, code=A2), boundary=box(120.012, 31.00, 120.02, 31.01))
    return draft


def test_publishing_moves_every_camera_of_the_town_to_the_new_grids(square_town):
    moving = placed("CAM001", 120.011, 31.005)  # A2 now, west of the new edge
    staying = placed("CAM002", 120.025, 31.005)  # B1, unchanged
    on_new_edge = placed("CAM003", 120.012, 31.002)  # on the new edge: the smaller code, A1
    outside = placed("CAM004", 120.05, 31.005)  # outside every town
    other_town = Camera.objects.exclude(code__startswith="CAM").select_related("grid").first()
    assert moving.grid.code == A2 and staying.grid.code == B1 and on_new_edge.grid.code == A2 and outside.grid is None

    draft = _edge_moved_east(square_town)
    generation_activate(generation=draft)

    cams = {c.code: c for c in Camera.objects.select_related("grid")}
    assert cams["CAM001"].grid.code == A1 and cams["CAM001"].grid.generation_id == draft.pk
    assert cams["CAM002"].grid.code == B1 and cams["CAM002"].grid.generation_id == draft.pk  # the new row
    assert cams["CAM003"].grid.code == A1 and cams["CAM003"].grid.generation_id == draft.pk
    assert cams["CAM004"].grid is None
    if other_town is not None:  # Gongdao's cameras are not this town's: untouched
        assert cams[other_town.code].grid_id == other_town.grid_id
    assert not Camera.objects.filter(grid__generation__status="retired").exists()


def test_a_failure_while_following_publishes_nothing(square_town):
    cam = placed("CAM001", 120.011, 31.005)
    draft = _edge_moved_east(square_town)

    def broken(**kwargs):
        raise RuntimeError("a receiver failed")

    generation_activated.connect(broken, dispatch_uid="test-broken")
    try:
        with pytest.raises(RuntimeError):
            generation_activate(generation=draft)
    finally:
        generation_activated.disconnect(dispatch_uid="test-broken")
    draft.refresh_from_db()
    square_town.refresh_from_db()
    assert draft.status == "draft" and square_town.status == "active"
    cam.refresh_from_db()
    assert cam.grid.code == A2 and cam.grid.generation_id == square_town.pk


def test_the_preview_lists_the_cameras_publishing_would_move(square_town):
    """The planner's preview names exactly the cameras that publishing moves: one crossed by the new
    edge, one on the new edge (to the smaller code), none of the unchanged, outside or other towns'."""
    placed("CAM001", 120.011, 31.005)
    placed("CAM002", 120.025, 31.005)
    placed("CAM003", 120.012, 31.002)
    placed("CAM004", 120.05, 31.005)
    draft = _edge_moved_east(square_town)
    preview = generation_preview(draft, Actor(user=None, label="planner", groups=frozenset({"planner"})))
    assert preview["cameras"] == [{"code": "CAM001", "from_grid": A2, "to_grid": A1},
                                  {"code": "CAM003", "from_grid": A2, "to_grid": A1}]
