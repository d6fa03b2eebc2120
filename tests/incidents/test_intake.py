"""The intake service (incidents.intake.intake) and the operator's triage actions, on the Gongdao data."""
from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from cameras.models import Camera
from dispatch.models import Assignment
from gis_core.coords import ACCEPTED_CRS, from_wgs84
from grids.models import Grid, Town
from incidents import intake as intake_module
from incidents.actions import incident_merge, incident_relocate
from incidents.models import Incident, IncidentEvent, Level
from incidents.rules import TransitionRefused
from tests.grids.postgis_locator import locate  # the PostGIS reference
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
S, T = Incident.State, Incident.Triage


def test_located_incident_is_registered_and_dispatched_in_the_same_call():
    now = timezone.now()
    where = f.interior_point(f.grid())
    incident = f.report("rental_housing", at=where, now=now, address="谷营村 12 号", reporter_phone="13800000000")
    home = f.grid()
    assert (incident.state, incident.triage, incident.level) == (S.DISPATCHED, T.NONE, Level.GRID)
    assert (incident.grid, incident.handling_grid, incident.village_id) == (home, home, home.village_id)
    assert (incident.generation_id, incident.town_id) == (home.generation_id, home.generation.town_id)
    assert incident.location_source == "coordinates"  # coordinates win over the address
    assert incident.assignee == f.holder(home, "grid_worker", "A")
    events = list(IncidentEvent.objects.filter(incident=incident).order_by("id"))
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("report", "", S.REPORTED), ("register", S.REPORTED, S.REGISTERED), ("dispatch", S.REGISTERED, S.DISPATCHED)]
    assert {e.created_at for e in events} == {now}
    assert Assignment.objects.get(incident=incident, active=True).person == incident.assignee


@pytest.mark.parametrize("crs", ACCEPTED_CRS)
def test_every_crs_lands_in_the_same_grid_and_keeps_the_original(crs):
    lon, lat = f.interior_point(f.grid())
    x, y = from_wgs84(lon, lat, crs)
    incident = f.report("other", x=x, y=y, crs=crs)
    assert incident.grid == f.grid()
    assert (incident.original_x, incident.original_y, incident.original_crs) == (x, y, crs)
    assert incident.location.x == pytest.approx(lon, abs=1e-7)  # about a centimetre
    assert incident.location.y == pytest.approx(lat, abs=1e-7)
    assert incident.state == S.DISPATCHED


def test_address_resolved_by_the_gazetteer():
    incident = f.report("environment_sanitation", address="花园社区")
    assert (incident.location_source, incident.state, incident.triage) == ("address", S.DISPATCHED, T.NONE)
    assert incident.village.name == "花园社区" and incident.grid.village == incident.village
    assert "花园社区" in incident.location_note
    assert incident.original_x is None and incident.original_crs == ""


def test_unknown_address_is_stored_in_triage():
    incident = f.report("other", address="火星基地第九区")
    assert (incident.state, incident.triage, incident.location_source) == (S.REPORTED, T.UNRESOLVED_ADDRESS, "address")
    assert incident.grid is incident.handling_grid is incident.location is incident.assignee is None
    assert f.actions_of(incident) == ["report"]
    assert IncidentEvent.objects.get(incident=incident).data == {"triage": T.UNRESOLVED_ADDRESS}


def test_no_location_at_all_is_stored_in_triage():
    incident = f.report("other")
    assert (incident.state, incident.triage) == (S.REPORTED, T.NO_LOCATION)
    assert incident.location is None and f.actions_of(incident) == ["report"]
    assert not Assignment.objects.filter(incident=incident).exists()


def test_outside_the_town_goes_to_triage_with_the_nearest_grid():
    x0, y0, x1, y1 = Town.objects.get(code="321003100").boundary.extent
    lon, lat = x1 + 0.01, (y0 + y1) / 2  # about a kilometre east of the town
    incident = f.report("other", at=(lon, lat))
    expected = locate(lon, lat)
    assert expected.outside
    assert (incident.state, incident.triage, incident.grid) == (S.REPORTED, T.OUTSIDE, None)
    assert incident.nearest_grid == expected.nearest_grid
    assert incident.distance_m == pytest.approx(expected.distance_m, abs=0.5)
    assert 300 < incident.distance_m < 5000
    assert incident.town.code == "321003100"
    assert f.actions_of(incident) == ["report"]


def test_camera_without_coordinates_is_placed_in_its_view_sector():
    camera = Camera.objects.order_by("code").first()
    incident = f.report("straw_burning", source=Incident.Source.CAMERA, camera=camera)
    assert incident.location_source == "camera" and camera.code in incident.location_note
    assert camera.sector.covers(incident.location)
    assert not incident.location.equals(camera.location)  # in front of the camera, not on it
    assert incident.grid == locate(incident.location.x, incident.location.y).grid
    assert incident.state == S.DISPATCHED


# --- idempotency on (source, external id) -----------------------------------------------------

def test_resend_returns_the_same_incident():
    key = {"source": Incident.Source.HOTLINE_12345, "external_id": "12345-0001"}
    first = f.report_many([f.item("other", at=f.interior_point(f.grid()), **key)])[0]
    again = f.report_many([f.item("neighbour_dispute", title="changed on the way", **key)])[0]
    assert (first.created, again.created) == (True, False)
    assert again.incident.pk == first.incident.pk
    stored = f.reload(first.incident)
    assert stored.category.code == "other" and stored.title != "changed on the way"
    assert Incident.objects.filter(**key).count() == 1
    assert f.actions_of(stored) == ["report", "register", "dispatch"]


def test_same_key_twice_in_one_batch_is_one_incident():
    key = {"source": Incident.Source.MAYOR_MAILBOX, "external_id": "MB-7"}
    at = f.interior_point(f.grid())
    outcomes = f.report_many([f.item("other", at=at, **key), f.item("other", at=at, **key), f.item("other", at=at)])
    assert [o.created for o in outcomes] == [True, False, True]
    assert outcomes[0].incident.pk == outcomes[1].incident.pk != outcomes[2].incident.pk
    assert Incident.objects.filter(**key).count() == 1


def test_same_external_id_from_another_source_is_another_incident():
    at = f.interior_point(f.grid())
    hotline = f.report("other", at=at, source=Incident.Source.HOTLINE_12345, external_id="X-1")
    mailbox = f.report("other", at=at, source=Incident.Source.MAYOR_MAILBOX, external_id="X-1")
    assert hotline.pk != mailbox.pk
    assert Incident.objects.filter(external_id="X-1").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_store_one_incident(demo_data, monkeypatch, settings):
    """N clients send the same key at once; every one passes the 'already stored?' check before any
    insert (a barrier in the pipeline), so N-1 must lose the insert race and get the winner."""
    settings.LIVE_PUSH_IN_BACKGROUND = False  # the pool thread would keep a DB connection past the test
    n = 6
    gate = threading.Barrier(n, timeout=30)
    real_prepare = intake_module._prepare

    def prepare_together(*args, **kwargs):
        gate.wait()
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(intake_module, "_prepare", prepare_together)
    key = {"source": Incident.Source.HOTLINE_12345, "external_id": "12345-race"}
    at = f.interior_point(f.grid())
    results: list = [None] * n

    def send(k: int) -> None:
        try:
            outcome = f.report_many([f.item("other", at=at, **key)])[0]
            results[k] = (outcome.incident.pk, outcome.created)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[k] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({pk for pk, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (n - 1) + [True]
    stored = Incident.objects.get(**key)
    assert stored.pk == results[0][0]
    assert f.actions_of(stored) == ["report", "register", "dispatch"]
    assert Assignment.objects.filter(incident=stored).count() == 1


# --- possible duplicates ------------------------------------------------------------------------

@pytest.fixture
def first():
    """An open incident of 'other' at the home grid's interior point, an hour ago."""
    return f.report("other", at=f.interior_point(f.grid()), now=timezone.now() - timedelta(hours=1))


def near(incident: Incident, metres: float) -> tuple[float, float]:
    return f.offset_m(incident.location.x, incident.location.y, metres * 0.6, metres * 0.8)


def test_possible_duplicate_within_50_m_and_72_h(first):
    outcome = f.report_many([f.item("other", at=near(first, 30))])[0]
    assert outcome.incident.possible_duplicate_of_id == first.pk  # what the caller (the API) is given
    second = f.reload(outcome.incident)
    assert second.possible_duplicate_of == first
    assert second.state == S.DISPATCHED  # flagged, not held back
    assert f.reload(first).possible_duplicate_of is None


def test_possible_duplicate_within_one_batch():
    at = f.interior_point(f.grid())
    outcomes = f.report_many([f.item("other", at=at), f.item("other", at=f.offset_m(*at, 20)),
                              f.item("neighbour_dispute", at=at)])
    a, b, c = (f.reload(o.incident) for o in outcomes)
    assert (a.possible_duplicate_of, b.possible_duplicate_of, c.possible_duplicate_of) == (None, a, None)
    assert [o.incident.possible_duplicate_of_id for o in outcomes] == [None, a.pk, None]


@pytest.mark.parametrize(("east_m", "north_m"), [(49, 0), (-49, 0), (0, 49), (0, -49), (34, 34)])
def test_possible_duplicate_at_49_m_in_every_direction(first, east_m, north_m):
    """The stored candidates come from a box just over 50 m around the new point: an earlier
    incident 49 m due east, west, north, south or diagonally is still found."""
    second = f.report("other", at=f.offset_m(first.location.x, first.location.y, east_m, north_m))
    assert second.possible_duplicate_of == first


@pytest.mark.parametrize("lat", [0.0, 18.2, 32.6, 45.0, 53.5, -40.0])
def test_the_candidate_box_spans_the_radius_at_any_latitude(lat):
    from pyproj import Geod

    from incidents.duplicates import RADIUS_M, _pads

    pad_x, pad_y = _pads(np.array([lat, lat + 0.01]))
    geod = Geod(ellps="WGS84")
    for at in (lat, lat + 0.01):
        assert geod.inv(119.0, at, 119.0 + pad_x, at)[2] > RADIUS_M
        assert geod.inv(119.0, at, 119.0, at + pad_y)[2] > RADIUS_M
        assert geod.inv(119.0, at, 119.0, at - pad_y)[2] > RADIUS_M
    assert geod.inv(119.0, lat, 119.0 + pad_x, lat)[2] < 3 * RADIUS_M  # not much wider than it must be


@pytest.mark.parametrize("case", ["80 m away", "other category", "after 72 h", "earlier one closed",
                                  "earlier one cancelled"])
def test_not_a_possible_duplicate(first, case):
    code, metres, now = "other", 30, None
    if case == "80 m away":
        metres = 80
    elif case == "other category":
        code = "neighbour_dispute"
    elif case == "after 72 h":
        now = first.created_at + timedelta(hours=73)
    elif case == "earlier one closed":
        assert f.drive(first, ["accept", "report_handled", "verify", "close"], f.operator()).state == S.CLOSED
    else:
        assert f.drive(first, ["cancel"], f.operator()).state == S.CANCELLED
    second = f.report(code, at=near(first, metres), now=now)
    assert second.possible_duplicate_of is None


# --- edges and dedicated grids --------------------------------------------------------------------

def shared_vertex() -> tuple[tuple[float, float], list[str]]:
    """Return a vertex of a comprehensive grid that two or more comprehensive grids cover, with their codes."""
    comprehensive = Grid.objects.active().filter(kind=Grid.Kind.COMPREHENSIVE)
    for candidate in comprehensive.filter(village__code="321003100204").order_by("code"):
        for x, y in shapely.get_coordinates(shapely.from_wkb(bytes(candidate.boundary.wkb))):
            point = Point(float(x), float(y), srid=4326)
            codes = sorted(comprehensive.filter(boundary__covers=point).values_list("code", flat=True))
            if len(codes) >= 2:
                return (float(x), float(y)), codes
    raise AssertionError("no shared vertex found")


def test_point_on_a_shared_edge_is_near_edge_and_goes_to_the_smaller_code():
    at, codes = shared_vertex()
    incident = f.report("other", at=at)
    assert incident.near_edge
    assert incident.grid.code == codes[0] == locate(*at).grid.code
    assert incident.state == S.DISPATCHED
    assert not f.report("other", at=f.interior_point(f.grid())).near_edge


def test_dedicated_grid_takes_a_matching_category():
    park = f.dedicated_grid("industrial_park")
    assert "industrial_park" in f.category("work_safety").purposes
    at = f.surface_point(park)
    comprehensive = locate(*at).grid
    matching = f.report("work_safety", at=at)
    assert (matching.grid, matching.handling_grid) == (comprehensive, park)
    assert matching.assignee == f.holder(park, "enforcement", "A")
    assert Assignment.objects.get(incident=matching, active=True).grid == park
    for code in ("neighbour_dispute", "environment_sanitation"):  # no purposes / other purposes
        other = f.report(code, at=at)
        assert (other.grid, other.handling_grid) == (comprehensive, comprehensive), code
        assert Assignment.objects.get(incident=other, active=True).grid == comprehensive


# --- operator actions: relocate and merge -----------------------------------------------------

def test_relocate_registers_and_dispatches_a_triaged_incident():
    incident = f.report("other", address="火星基地")
    lon, lat = f.interior_point(f.grid())
    x, y = from_wgs84(lon, lat, "GCJ02")
    done = incident_relocate(incident_id=incident.pk, actor=f.operator(), x=x, y=y, crs="GCJ02", note="电话核实")
    stored = f.reload(done)
    assert (stored.state, stored.triage, stored.grid, stored.location_source) == (
        S.DISPATCHED, T.NONE, f.grid(), "operator")
    assert (stored.original_x, stored.original_y, stored.original_crs) == (x, y, "GCJ02")
    assert stored.assignee == f.holder(f.grid(), "grid_worker", "A") and stored.registered_at is not None
    assert f.actions_of(stored) == ["report", "relocate", "register", "dispatch"]
    assert IncidentEvent.objects.get(incident=stored, action="relocate").note == "电话核实"
    assert Assignment.objects.filter(incident=stored, active=True).count() == 1


def test_relocate_outside_keeps_it_in_triage():
    incident = f.report("other")
    x0, y0, x1, y1 = Town.objects.get(code="321003100").boundary.extent
    stored = f.reload(incident_relocate(incident_id=incident.pk, actor=f.operator(), x=x1 + 0.01, y=y0))
    assert (stored.state, stored.triage, stored.grid) == (S.REPORTED, T.OUTSIDE, None)
    assert stored.nearest_grid is not None and stored.distance_m > 0
    assert f.actions_of(stored) == ["report", "relocate"]


def test_relocate_refused():
    triaged = f.report("other")
    at = f.interior_point(f.grid())
    with pytest.raises(TransitionRefused) as caught:
        incident_relocate(incident_id=triaged.pk, actor=f.actor(person=f.team_of(f.grid()).leader), x=at[0], y=at[1])
    assert caught.value.reason == "role"
    dispatched = f.report("other", at=at)
    with pytest.raises(TransitionRefused) as caught:
        incident_relocate(incident_id=dispatched.pk, actor=f.operator(), x=at[0], y=at[1])
    assert caught.value.reason == "state"
    assert f.actions_of(triaged) == ["report"]


def test_merge_marks_the_duplicate_and_writes_an_event_on_both():
    original = f.located("other")
    duplicate = f.report("other", at=near(original, 10))
    assert duplicate.possible_duplicate_of == original
    op = f.operator()
    incident_merge(duplicate_id=duplicate.pk, into_id=original.pk, actor=op, note="同一处")
    duplicate, original = f.reload(duplicate), f.reload(original)
    assert (duplicate.state, duplicate.merged_into) == (S.DUPLICATE, original)
    assert duplicate.escalate_at is None and original.state == S.DISPATCHED
    marked = IncidentEvent.objects.filter(incident=duplicate).latest("id")
    merged = IncidentEvent.objects.filter(incident=original).latest("id")
    assert (marked.action, marked.from_state, marked.to_state, marked.note) == (
        "mark_duplicate", S.DISPATCHED, S.DUPLICATE, "同一处")
    assert marked.data == {"merged_into": original.pk} and marked.actor == op.user
    assert (merged.action, merged.from_state, merged.to_state) == ("merged", S.DISPATCHED, S.DISPATCHED)
    assert merged.data == {"duplicate": duplicate.pk}


def test_merge_refused():
    a, b = f.located("other"), f.located("other")
    op = f.operator()
    with pytest.raises(TransitionRefused) as caught:
        incident_merge(duplicate_id=a.pk, into_id=a.pk, actor=op)
    assert caught.value.reason == "state"
    with pytest.raises(TransitionRefused) as caught:
        incident_merge(duplicate_id=a.pk, into_id=b.pk, actor=f.actor(person=f.team_of(f.grid()).leader))
    assert caught.value.reason == "role"
    f.drive(b, ["cancel"], op)
    with pytest.raises(TransitionRefused) as caught:
        incident_merge(duplicate_id=a.pk, into_id=b.pk, actor=op)
    assert caught.value.reason == "state"
    c = f.drive(f.located("other"), ["accept"], op)  # in progress: too late to mark as a duplicate
    with pytest.raises(TransitionRefused) as caught:
        incident_merge(duplicate_id=c.pk, into_id=a.pk, actor=op)
    assert caught.value.reason == "state"
    assert f.reload(a).state == S.DISPATCHED
    assert f.actions_of(a) == ["report", "register", "dispatch"]


@pytest.mark.django_db
def test_the_duplicate_search_reads_the_open_incidents_location_index():
    """The open incidents' points have an index of their own (partial: GeoDjango's spatial index SQL drops
    a condition given with fields=, so the model gives an expression), and the duplicate search's query is
    one the planner answers from it."""
    from django.db import connection

    from incidents import rules

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'incident_open_location_idx'")
        (definition,) = cursor.fetchone()
        assert "USING gist (location) WHERE" in definition
        assert all(f"'{state}'" in definition for state in rules.OPEN)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM incidents_incident WHERE state = ANY(%s) "
                       "AND location && ST_MakeEnvelope(119.3, 32.2, 119.31, 32.21, 4326)", [sorted(rules.OPEN)])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "incident_open_location_idx" in plan, plan


@pytest.mark.django_db
def test_the_rarely_set_foreign_keys_have_partial_indexes_that_serve_their_reads():
    """camera, possible_duplicate_of and merged_into are indexed over the rows that set them only (a report
    that sets none writes none of these indexes), handling_grid by the composite it leads; every read of them
    (``= id``, the check a deleted camera or incident makes) is still an index scan, and each index holds
    exactly the rows that set its key: none for a plain report, one for a flagged duplicate and a merge."""
    partial = {"incident_camera_idx": "camera_id", "incident_possible_dup_idx": "possible_duplicate_of_id",
               "incident_merged_idx": "merged_into_id"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'incidents_incident'")
        definitions = dict(cursor.fetchall())
        for name, column in partial.items():
            assert definitions[name].endswith(f"({column}) WHERE ({column} IS NOT NULL)"), definitions[name]
        leading = [d.split("(", 1)[1].split(")")[0].split(",")[0].strip() for d in definitions.values()]
        assert leading.count("handling_grid_id") == 1 and "incident_handling_state_idx" in definitions
        assert not {"camera_id", "possible_duplicate_of_id", "merged_into_id"} & {
            d.split("(", 1)[1].rstrip(")") for d in definitions.values() if " WHERE " not in d}
        cursor.execute("SET LOCAL enable_seqscan = off")
        for name, column in {**partial, "incident_handling_state_idx": "handling_grid_id"}.items():
            cursor.execute(f"EXPLAIN SELECT 1 FROM incidents_incident WHERE {column} = %s", [7])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert name in plan, plan

    def entries() -> dict[str, int]:  # what each index holds, read from the index itself (an index-only count)
        counts = {}
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            for name, column in partial.items():
                cursor.execute(f"SELECT count({column}) FROM incidents_incident WHERE {column} IS NOT NULL")
                counts[name] = cursor.fetchone()[0]
        return counts

    before = entries()
    original = f.located("other")
    assert entries() == before
    duplicate = f.report("other", at=near(original, 10))
    assert duplicate.possible_duplicate_of == original
    assert entries() == {**before, "incident_possible_dup_idx": before["incident_possible_dup_idx"] + 1}
    incident_merge(duplicate_id=duplicate.pk, into_id=original.pk, actor=f.operator())
    assert list(Incident.objects.filter(merged_into=original)) == [duplicate]
    assert entries()["incident_merged_idx"] == before["incident_merged_idx"] + 1
