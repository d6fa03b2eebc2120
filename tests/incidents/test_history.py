"""import_history: CSV, GeoJSON and GeoPackage exports into incidents, by their own dates, idempotent."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta

import geopandas as gpd
import pytest
import shapely
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from gis_core.coords import from_wgs84
from grids.models import BoundaryGeneration, Grid
from incidents.history import import_history
from incidents.models import Incident, IncidentEvent
from tests.conftest import A1, A2, B1, box

pytestmark = pytest.mark.django_db
S, T = Incident.State, Incident.Triage
HEADER = ["工单编号", "类别", "标题", "地址", "经度", "纬度", "坐标系", "受理时间", "派遣时间", "结案时间", "状态"]


def write_csv(path, rows, header=HEADER):
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def local(text: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(text))


def errors_of(path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig") as fh:  # a byte-order mark for spreadsheets
        return list(csv.reader(fh))[1:]


def test_csv_rows_land_with_their_own_times_states_and_events(square_town, tmp_path):
    x4549, y4549 = from_wgs84(120.003, 31.008, "EPSG:4549")
    rows = [
        ["H-1", "illegal_construction", "违建", "甲村1号", "120.003", "31.008", "", "2024-03-01 09:00:00",
         "2024-03-01 09:10:00", "2024-03-03 17:00:00", "结案"],
        ["H-2", "环境卫生", "", "", "120.025", "31.005", "EPSG:4326", "2024-03-02T10:00:00+08:00",
         "2024-03-02 10:30", "", "dispatched"],
        ["H-3", "roads_facilities", "路灯", "", repr(x4549), repr(y4549), "EPSG:4549", "2024/03/04 08:00:00", "",
         "", ""],
    ]
    result = import_history(write_csv(tmp_path / "h.csv", rows))
    assert (result.rows, result.imported, result.already, result.refused) == (3, 3, 0, 0)
    assert result.errors_path is None and not (tmp_path / "h.csv.errors.csv").exists()
    one, two, three = (Incident.objects.get(external_id=f"H-{n}") for n in (1, 2, 3))
    assert (one.state, one.grid.code, one.created_at, one.closed_at) == (
        S.CLOSED, A1, local("2024-03-01 09:00"), local("2024-03-03 17:00"))
    assert one.source == Incident.Source.HOTLINE_12345 and one.submitted_by_id is None
    assert one.handle_due_at == one.created_at + timedelta(minutes=one.category.sla_handle_min)
    assert [(e.action, e.to_state, e.created_at) for e in IncidentEvent.objects.filter(incident=one).order_by("id")
            ] == [("report", S.REPORTED, one.created_at), ("register", S.REGISTERED, one.created_at),
                  ("dispatch", S.DISPATCHED, one.dispatched_at), ("close", S.CLOSED, one.closed_at)]
    assert (two.state, two.grid.code, two.category.code, two.title) == (S.DISPATCHED, B1, "environment_sanitation",
                                                                       "环境卫生")
    assert two.closed_at is None and two.escalate_at is not None  # open, its clock runs from its own date
    assert (three.state, three.grid.code, three.original_crs) == (S.REGISTERED, A1, "EPSG:4549")
    assert three.created_at == local("2024-03-04 08:00")
    # history older than the town's boundaries: located in the active generation, and it says so
    assert one.generation_id == square_town.pk and "none was active on its date" in one.location_note


def test_edge_vertex_outside_and_unlocated_rows(square_town, tmp_path):
    rows = [
        ["E-1", "other", "", "", "120.01", "31.005", "", "2024-01-01 08:00", "", "", ""],  # the A1 | A2 edge
        ["E-2", "other", "", "", "120.02", "31.0", "", "2024-01-01 08:00", "", "", ""],  # a vertex of A2, B1
        ["E-3", "other", "", "", "121.5", "31.5", "", "2024-01-01 08:00", "", "", ""],  # outside every grid
        ["E-4", "other", "", "老街", "", "", "", "2024-01-01 08:00", "", "", ""],  # no coordinates
    ]
    import_history(write_csv(tmp_path / "e.csv", rows))
    edge, vertex, outside, lost = (Incident.objects.get(external_id=f"E-{n}") for n in (1, 2, 3, 4))
    assert edge.grid.code in (A1, A2) and edge.near_edge
    assert vertex.grid.code in (A2, B1) and vertex.near_edge
    assert (outside.triage, outside.grid, outside.nearest_grid is not None) == (T.OUTSIDE, None, True)
    assert outside.distance_m > 1000
    assert (lost.triage, lost.location, lost.address) == (T.NO_LOCATION, None, "老街")


def test_bad_rows_go_to_the_error_file_and_good_rows_land(square_town, tmp_path):
    rows = [
        ["B-1", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "", ""],
        ["B-2", "no_such", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "", ""],
        ["B-3", "other", "", "", "abc", "31.008", "", "2024-01-01 08:00", "", "", ""],
        ["B-4", "other", "", "", "120.003", "31.008", "", "yesterday", "", "", ""],
        ["B-5", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "2023-12-31 08:00", "", ""],
        ["B-6", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "", "结案"],
        ["B-1", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "", ""],
        ["", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "", ""],
        ["B-9", "other", "", "", "500", "31.008", "", "2024-01-01 08:00", "", "", ""],
        ["B-10", "other", "", "", "120.003", "31.008", "EPSG:9999", "2024-01-01 08:00", "", "", ""],
        ["B-11", "other", "", "", "120.003", "31.008", "", "2099-01-01 08:00", "", "", ""],
        ["B-12", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "", "lost"],
    ]
    errors = tmp_path / "errors.csv"
    with pytest.raises(CommandError) as refused:
        call_command("import_history", str(write_csv(tmp_path / "b.csv", rows)), "--errors", str(errors))
    assert refused.value.returncode == 2 and "11 refused" in str(refused.value)
    assert list(Incident.objects.filter(external_id__startswith="B-").values_list("external_id", flat=True)) == ["B-1"]
    found = {(int(row), name) for row, name, _ in errors_of(errors)}
    assert found == {(2, "category"), (3, "x"), (4, "received_at"), (5, "dispatched_at"), (6, "closed_at"),
                     (7, "external_id"), (8, "external_id"), (9, "x"), (10, "crs"), (11, "received_at"),
                     (12, "state")}
    assert "appears already in row 1" in dict(((r, f), m) for r, f, m in errors_of(errors))[("7", "external_id")]


def test_a_second_run_imports_nothing_again(square_town, tmp_path):
    path = write_csv(tmp_path / "r.csv", [
        ["R-1", "other", "", "", "120.003", "31.008", "", "2024-01-01 08:00", "", "2024-01-02 08:00", "closed"]])
    import_history(path)
    again = import_history(path)
    assert (again.imported, again.already) == (0, 1)
    assert Incident.objects.filter(external_id="R-1").count() == 1
    assert IncidentEvent.objects.filter(incident__external_id="R-1").count() == 3  # report, register, close
    other_source = import_history(path, source=Incident.Source.MAYOR_MAILBOX)  # another source's id space
    assert other_source.imported == 1


def test_missing_column_or_bad_file_fails_cleanly_with_nothing_saved(square_town, tmp_path):
    no_time = write_csv(tmp_path / "m.csv", [["M-1", "other", "120.003", "31.008"]],
                        header=["id", "category", "x", "y"])
    with pytest.raises(CommandError, match="missing column.*received_at"):
        call_command("import_history", str(no_time))
    with pytest.raises(CommandError, match="unknown format"):
        call_command("import_history", str(write_csv(tmp_path / "m.xlsx", [])))
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a geopackage")
    with pytest.raises(CommandError, match="GDAL cannot read it"):
        call_command("import_history", str(broken))
    assert not Incident.objects.filter(external_id="M-1").exists()


def test_located_by_the_generation_of_its_own_date(square_town, tmp_path):
    """Before the active generation, village 001 was one grid: a record of that time is located in it."""
    town = square_town.town
    old = BoundaryGeneration.objects.create(town=town, status="retired", activated_at=local("2020-01-01 00:00"),
                                            retired_at=local("2023-01-01 00:00"))
    village = Grid.objects.get(generation=square_town, code=A1).village
    Grid.objects.create(generation=old, village=village, code=A1, name="001", kind="comprehensive",
                        boundary=box(120.00, 31.00, 120.02, 31.01))
    square_town.activated_at = local("2023-01-01 00:00")
    square_town.save()
    rows = [["G-1", "other", "", "", "120.015", "31.008", "", "2022-06-01 08:00", "", "", ""],  # old: A1
            ["G-2", "other", "", "", "120.015", "31.008", "", "2024-06-01 08:00", "", "", ""]]  # now: A2
    result = import_history(write_csv(tmp_path / "g.csv", rows))
    then, now = Incident.objects.get(external_id="G-1"), Incident.objects.get(external_id="G-2")
    assert (then.generation_id, then.grid.code) == (old.pk, A1)
    assert (now.generation_id, now.grid.code) == (square_town.pk, A2)
    assert result.by_generation_date == 2 and then.location_note == ""


@pytest.mark.parametrize("suffix,crs", [("geojson", 4326), ("gpkg", 4549)])
def test_geojson_and_geopackage_read_through_gdal(square_town, tmp_path, suffix, crs):
    points = gpd.GeoSeries([shapely.Point(120.003, 31.008), shapely.Point(120.025, 31.005),
                            shapely.LineString([(120.0, 31.0), (120.01, 31.01)])], crs=4326).to_crs(crs)
    frame = gpd.GeoDataFrame({
        "case_id": ["F-1", "F-2", "F-3"], "category": ["other", "straw_burning", "other"],
        "received_at": ["2024-05-01 08:00:00", "2024-05-02 09:00:00", "2024-05-03 09:00:00"],
        "closed_at": ["2024-05-01 12:00:00", None, None], "state": ["closed", "received", "received"],
    }, geometry=points)
    path = tmp_path / f"f.{suffix}"
    frame.to_file(path, engine="pyogrio")
    result = import_history(path)
    assert (result.imported, result.refused) == (2, 1)
    assert errors_of(result.errors_path) == [["3", "geometry", "a point is needed, not a LineString"]]
    one, two = Incident.objects.get(external_id="F-1"), Incident.objects.get(external_id="F-2")
    assert (one.grid.code, one.state, two.grid.code, two.state) == (A1, S.CLOSED, B1, S.REGISTERED)
    assert one.original_crs == f"EPSG:{crs}"
    assert abs(one.location.x - 120.003) < 1e-7 and abs(one.location.y - 31.008) < 1e-7


@pytest.mark.django_db(transaction=True)
def test_batches_stored_in_a_thread_while_the_next_is_read_land_as_stored_in_turn(demo_data, square_town, tmp_path,
                                                                                  monkeypatch):
    """The command stores batches in threads of their own, two at once, while it prepares the next
    (``_Storing``): the same file, in batches of 4, lands the same as stored one batch after another (the
    path a caller's transaction takes), with the same refusals, the progress told batch by batch in file
    order, and the rollups exact."""
    import threading

    from incidents import history
    from incidents.rollups import drift

    monkeypatch.setattr(history, "BATCH", 4)
    stored_in = []
    real_store = history._store
    monkeypatch.setattr(history, "_store", lambda lines, **kw: stored_in.append(threading.current_thread().name)
                        or real_store(lines, **kw))
    rows = [[f"T-{n}", "other", "", "", f"{120.001 + n * 0.001:.3f}", "31.005", "",
             f"2024-02-{1 + n % 27:02d} 08:00", "", f"2024-03-{1 + n % 27:02d} 08:00" if n % 3 else "",
             "closed" if n % 3 else ""] for n in range(22)]
    rows[5][7] = "not a date"
    rows[13][4] = "east"
    path = write_csv(tmp_path / "t.csv", rows)
    told = []

    def run(source, threaded):
        stored_in.clear()
        result = import_history(path, source=source, threaded=threaded, errors_path=tmp_path / f"{source}.csv",
                                progress=lambda done, total: told.append((source, done, total)))
        landed = sorted(Incident.objects.filter(source=source).values_list(
            "external_id", "state", "grid__code", "created_at", "closed_at", "triage"))
        return result, landed, errors_of(result.errors_path), set(stored_in)

    a, landed_a, errors_a, threads_a = run(Incident.Source.HOTLINE_12345, True)
    b, landed_b, errors_b, threads_b = run(Incident.Source.MAYOR_MAILBOX, False)
    assert (a.rows, a.imported, a.already, a.refused) == (b.rows, b.imported, b.already, b.refused) == (22, 20, 0, 2)
    assert landed_a == landed_b and len(landed_a) == 20
    assert errors_a == errors_b and [int(r[0]) for r in errors_a] == [6, 14]
    assert threads_a <= {"history-store_0", "history-store_1"} and threads_b == {threading.current_thread().name}
    assert drift() == []
    assert not [t for t in threading.enumerate() if t.name.startswith("history-store")]  # the pool is shut
    for source in (Incident.Source.HOTLINE_12345, Incident.Source.MAYOR_MAILBOX):
        done = [d for s, d, _ in told if s == source]
        assert done == [4, 8, 12, 16, 20, 22]
