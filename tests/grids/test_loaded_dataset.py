"""The Gongdao data set as loaded into PostGIS: counts, an exact partition, codes, cameras, admin maps."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from cameras.models import Camera
from gis_core.srid import METRIC_SRID
from grids.models import BoundaryGeneration, Grid, GridTeam, Town, Village
from grids.validation import validate_generation

pytestmark = pytest.mark.django_db


def _active() -> BoundaryGeneration:
    return BoundaryGeneration.objects.get(town__code="321003100", status="active")


def test_counts():
    generation = _active()
    assert Village.objects.filter(town__code="321003100").count() == 14
    assert generation.grids.filter(kind="comprehensive").count() == 45
    assert generation.grids.filter(kind="dedicated").count() == 8
    assert Camera.objects.count() == 21
    assert GridTeam.objects.filter(grid__generation=generation).count() == 53


def test_comprehensive_grids_partition_every_village_in_postgis():
    assert validate_generation(_active()) == []


def test_villages_partition_the_town():
    from django.contrib.gis.db.models import Union
    from django.contrib.gis.db.models.functions import Area, Transform

    town = Town.objects.get(code="321003100")
    union = Village.objects.filter(town=town).aggregate(u=Union("boundary"))["u"]
    assert union.sym_difference(town.boundary).transform(METRIC_SRID, clone=True).area < 1.0  # m²
    areas = Village.objects.filter(town=town).annotate(a=Area(Transform("boundary", METRIC_SRID)))
    town_area = Town.objects.annotate(a=Area(Transform("boundary", METRIC_SRID))).get(pk=town.pk).a.sq_m
    assert sum(v.a.sq_m for v in areas) == pytest.approx(town_area, abs=1.0)
    assert town_area / 1e6 == pytest.approx(106.6, abs=0.5)


def test_codes_are_well_formed_and_nested():
    for grid in Grid.objects.filter(generation=_active()).select_related("village"):
        assert len(grid.code) == 15 and grid.code.isdigit()
        assert grid.code[:9] == "321003100" and grid.code[9:12] == grid.village.code[-3:]
        assert grid.boundary.transform(METRIC_SRID, clone=True).difference(
            grid.village.boundary.transform(METRIC_SRID, clone=True)).area < 1.0
        assert (grid.code[12] == "9") == (grid.kind == "dedicated")


def test_cameras_inside_the_town_and_assigned_to_their_grid():
    town = Town.objects.get(code="321003100")
    for camera in Camera.objects.select_related("grid"):
        assert town.boundary.covers(camera.location)
        assert camera.grid is not None and camera.grid.boundary.covers(camera.location)
        assert camera.sector.valid and camera.sector.touches(camera.location) or camera.sector.covers(camera.location)


def test_loading_again_changes_nothing():
    before = (BoundaryGeneration.objects.count(), Grid.objects.count(), Camera.objects.count())
    call_command("load_demo_data", verbosity=0)
    assert (BoundaryGeneration.objects.count(), Grid.objects.count(), Camera.objects.count()) == before


def test_admin_map_widgets_use_local_openlayers(client):
    client.force_login(User.objects.create_superuser("root", password="pw-root-1"))
    grid = Grid.objects.filter(generation=_active()).first()
    html = client.get(f"/admin/grids/grid/{grid.pk}/change/").content.decode()
    assert "/static/vendor/ol/dist/ol.js" in html and "cdn" not in html.lower()
    for path in ("/admin/grids/village/", "/admin/cameras/camera/", "/admin/grids/town/"):
        assert client.get(path).status_code == 200


def test_incident_admin_is_read_only_and_categories_are_editable(client):
    from tests.incidents import factories as f

    incident = f.located("straw_burning")
    client.force_login(User.objects.create_superuser("root2", password="pw-root-2"))
    page = client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    assert page.status_code == 200 and "report" in page.content.decode()
    assert client.post(f"/admin/incidents/incident/{incident.pk}/delete/").status_code == 403
    assert client.get("/admin/incidents/category/").status_code == 200
    assert client.get("/admin/incidents/category/add/").status_code == 200
    assert client.get("/admin/dispatch/assignment/").status_code == 200
