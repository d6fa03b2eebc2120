"""The 20-digit CJ/T 349-2010 grid code beside the 15-digit one: the rule that derives it, its checks (the
validator and the database), the demo grids filled by the loader, and every export carrying it."""
from __future__ import annotations

import json

import geopandas as gpd
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from grids.codes import code20_of, validate_code20
from grids.exporter import export_grids
from grids.importer import import_grids
from grids.models import BoundaryGeneration, Grid
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
GONGDAO = "321003100"


def _active() -> BoundaryGeneration:
    return BoundaryGeneration.objects.get(town__code=GONGDAO, status="active")


def test_the_rule_keeps_the_area_and_the_sequence():
    assert code20_of("321003100001001", "comprehensive") == "000000" + "321003100001" + "01"
    assert code20_of("321003100212906", "dedicated", "river") == "990400" + "321003100212" + "06"
    with pytest.raises(ValueError, match="does not fit the 2 digits"):
        code20_of("321003100001100", "comprehensive")
    with pytest.raises(ValueError, match="not a 15-digit grid code"):
        code20_of("32100310000100", "comprehensive")


@pytest.mark.parametrize("value", ["0000003210031000010", "00000032100310000101X", "A0000032100310000101",
                                   "00000032100310000101 "])
def test_the_validator_refuses_what_is_not_20_digits(value):
    with pytest.raises(ValidationError, match="not a CJ/T 349 grid code: 20 digits"):
        validate_code20(value)


def test_a_good_code_passes_and_a_code_of_another_area_does_not():
    validate_code20("00000032100310000101")
    grid = _active().grids.get(code="321003100001001")
    grid.full_clean()
    grid.code20 = "000000321003100002" + "01"  # another village's digits
    with pytest.raises(ValidationError, match="digits 7-18 are the 15-digit code's first 12"):
        grid.full_clean()
    grid.code20 = "0000003210031000010"  # 19 digits
    with pytest.raises(ValidationError, match="20 digits"):
        grid.full_clean()


@pytest.mark.parametrize("bad", ["0000003210031000010", "000000321003100001AB", "00000032100310000201"])
def test_the_database_holds_the_rule(bad):
    with transaction.atomic(), pytest.raises(IntegrityError, match="grid_code20_20_digits_of_its_area"):
        Grid.objects.filter(generation=_active(), code="321003100001001").update(code20=bad)


def test_the_demo_loader_filled_every_gongdao_grid_by_the_rule():
    grids = list(_active().grids.all())
    assert len(grids) == 53
    for g in grids:
        assert g.code20 == code20_of(g.code, g.kind, g.purpose) and g.code20[6:18] == g.code[:12]
    assert len({g.code20 for g in grids}) == 53


def test_the_api_and_the_exports_carry_it(tmp_path):
    feature = f.api_client("operator").get("/api/grids/321003100001001/").json()
    assert feature["properties"]["code20"] == "00000032100310000101"
    out = tmp_path / "grids.gpkg"
    export_grids(_active(), out)
    frame = gpd.read_file(out, engine="pyogrio")
    by_code = dict(zip(frame["code"], frame["code20"], strict=True))
    assert by_code["321003100001001"] == "00000032100310000101"
    assert by_code["321003100212906"] == "99040032100310021206"
    report = import_grids(out, town_code=GONGDAO, commit=True)  # and goes back in with it
    back = dict(Grid.objects.filter(generation_id=report.generation_id).values_list("code", "code20"))
    assert back == dict(_active().grids.values_list("code", "code20"))


def test_the_planners_download_carries_it():
    planner = f.api_client("planner")
    response = planner.get(f"/api/generations/{_active().pk}/export/", {"filetype": "geojson"})
    assert response.status_code == 200, response.content
    codes = {f["properties"]["code"]: f["properties"]["code20"] for f in json.loads(response.content)["features"]}
    assert codes["321003100001001"] == "00000032100310000101" and len(codes) == 53


def test_an_anonymous_reader_gets_no_grids():
    assert APIClient().get("/api/grids/321003100001001/").status_code == 401
