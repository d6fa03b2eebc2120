"""build_city: a simulated city beside Gongdao, published through generations, with incidents by COPY."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from demo import city_incidents
from grids.locator import locate
from grids.models import BoundaryGeneration, Grid, GridTeam, Town
from grids.validation import validate_generation
from incidents import rules
from incidents.models import Incident, IncidentEvent

pytestmark = pytest.mark.django_db
GONGDAO = "321003100"
UNTIL = "2026-06-01T12:00:00"


@pytest.fixture
def city():
    before = Grid.objects.active().filter(generation__town__code=GONGDAO).count()
    call_command("build_city", towns=3, incidents=3000, seed=7, until=UNTIL, verbosity=0)
    assert Grid.objects.active().filter(generation__town__code=GONGDAO).count() == before  # Gongdao untouched
    return Town.objects.exclude(code=GONGDAO).order_by("code")


def sql(query: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchall()


def test_towns_sit_beside_gongdao_without_overlap_and_publish_valid_partitions(city):
    assert len(city) == 3
    assert sql("SELECT count(*) FROM grids_town a JOIN grids_town b ON a.id < b.id "
               "WHERE ST_Intersects(a.boundary, b.boundary)") == [(0,)]
    for town in city:
        assert town.code[:6] in {"321002", "321003", "321012", "321023", "321081", "321084"}
        generation = BoundaryGeneration.objects.get(town=town)
        assert generation.status == BoundaryGeneration.Status.ACTIVE
        assert validate_generation(generation) == []
        grids = list(Grid.objects.filter(generation=generation).select_related("village"))
        assert all(g.code.startswith(g.village.code) and len(g.code) == 15 for g in grids)
        kinds = Counter(g.kind for g in grids)
        assert kinds[Grid.Kind.COMPREHENSIVE] >= 45 and kinds[Grid.Kind.DEDICATED] >= 1
        assert all(g.purpose for g in grids if g.kind == Grid.Kind.DEDICATED)
    # village segments: communities 0xx, villages 2xx; numbering from the north-west
    village = Grid.objects.filter(generation__town=city[0], kind="comprehensive").order_by("code")
    first, second = village[0], village[1]
    assert first.boundary.centroid.y >= second.boundary.centroid.y - 0.01


def test_every_grid_has_a_leader_and_an_a_and_b_holder_per_role(city):
    for team in GridTeam.objects.filter(grid__generation__town__in=city).prefetch_related("memberships"):
        posts = Counter((m.role, m.slot) for m in team.memberships.all())
        assert set(posts) == {(r, s) for r in ("grid_worker", "police", "enforcement", "cadre") for s in "AB"}
        assert team.leader.role == "cadre"


def test_the_locator_and_postgis_agree_on_the_city(city):
    grid = Grid.objects.filter(generation__town=city[1], kind="comprehensive").order_by("code")[3]
    inside = grid.boundary.point_on_surface
    found = locate(inside.x, inside.y)
    assert found.grid.pk == grid.pk
    vertex = grid.boundary[0].exterior_ring[0]  # a shared vertex: located, deterministic, flagged
    assert locate(*vertex).grid is not None and locate(*vertex).near_edge
    outside = city[0].boundary.extent
    assert locate(outside[0] - 0.02, outside[1] - 0.02).outside
    # every simulated incident lies in the grid it was given, as PostGIS sees it
    assert sql("SELECT count(*) FROM incidents_incident i JOIN grids_grid g ON g.id = i.grid_id "
               "WHERE i.external_id LIKE 'city-%%' AND NOT ST_Covers(g.boundary, i.location)") == [(0,)]


def test_incidents_have_a_plausible_structure_and_their_events(city):
    rows = Incident.objects.filter(external_id__startswith="city-")
    assert rows.count() == 3000
    states = Counter(rows.values_list("state", flat=True))
    assert states[rules.State.CLOSED] > 0.8 * 3000
    assert 0 < sum(states[s] for s in rules.OPEN) < 0.1 * 3000
    until = timezone.make_aware(datetime.fromisoformat(UNTIL))
    assert rows.filter(rules.overdue_q(until)).exists()
    assert rows.filter(created_at__gte=until).count() == 0
    first = rows.order_by("created_at").first().created_at
    assert (until - first).days > 3 * 365 - 10
    assert len(set(rows.values_list("source", flat=True))) >= 5
    assert rows.filter(category__code="straw_burning", created_at__month__in=[1, 2, 3, 4, 7, 8, 9, 12]).count() == 0
    # every event chain follows the rules' transitions and ends in the incident's state
    chains: dict[int, list] = {}
    for e in IncidentEvent.objects.filter(incident__in=rows).order_by("created_at", "id"):
        chains.setdefault(e.incident_id, []).append(e)
    state_of = dict(rows.values_list("id", "state"))
    for incident_id, events in chains.items():
        assert events[0].action == "report"
        for before, after in zip(events, events[1:], strict=False):
            assert after.from_state == before.to_state, (incident_id, before.action, after.action)
            if after.action in rules.TRANSITIONS:
                assert before.to_state in rules.TRANSITIONS[after.action].sources
        assert events[-1].to_state == state_of[incident_id]
    assert len(chains) == 3000
    assert rows.filter(state="closed", closed_at__isnull=True).count() == 0
    assert rows.filter(assignee__isnull=True).count() == 0


def test_a_second_run_adds_nothing_and_a_seed_gives_the_same_rows(city):
    call_command("build_city", towns=3, incidents=3000, seed=7, until=UNTIL, verbosity=0)
    assert Town.objects.count() == 4 and Incident.objects.filter(external_id__startswith="city-").count() == 3000
    until = timezone.make_aware(datetime.fromisoformat(UNTIL))
    loaded, start, weights = city_incidents.frame(list(city), 7, until)
    a, b = (city_incidents.Chunk(loaded, 0, 3000, 7, until, start, weights) for _ in range(2))
    assert np.array_equal(a.lon, b.lon) and np.array_equal(a.created, b.created)
    first = Incident.objects.get(external_id="city-000000001")
    assert (first.location.x, first.location.y) == (pytest.approx(a.lon[0]), pytest.approx(a.lat[0]))
    assert first.created_at.timestamp() == pytest.approx(a.created[0], abs=1e-3)


def test_bad_sizes_are_refused():
    with pytest.raises(CommandError):
        call_command("build_city", towns=0, incidents=10, verbosity=0)


def test_a_bulk_build_gives_the_same_rows_and_rollups_as_the_triggers(city):
    """--bulk loads with the triggers off and computes the rollups once at the end: the same incidents as
    a build through the triggers (the fixture's, same seed), and rollups equal to a recomputation."""
    from incidents import rollups

    def snapshot():
        return sorted(Incident.objects.filter(external_id__startswith="city-").values_list(
            "external_id", "state", "category_id", "grid_id", "created_at", "closed_at"))

    through_triggers = snapshot()
    kept = sql("SELECT key, n, n2, n3, n4, n5, secs_n FROM incidents_rollup ORDER BY key")
    assert kept and rollups.drift() == []
    with connection.cursor() as cursor:  # the fixture's incidents and everything that hangs on them
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in ("dispatch_notification", "dispatch_assignment", "incidents_incidentevent"):
            cursor.execute(f"DELETE FROM {table} WHERE incident_id IN "
                           "(SELECT id FROM incidents_incident WHERE external_id LIKE 'city-%%')")
        cursor.execute("DELETE FROM incidents_incident WHERE external_id LIKE 'city-%%'")
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    indexes = sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'incidents_rollup' ORDER BY 1")
    call_command("build_city", towns=3, incidents=3000, seed=7, until=UNTIL, bulk=True, verbosity=0)
    assert snapshot() == through_triggers
    # its rebuild dropped the rollup table's indexes for the load and made them again, the same
    assert sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'incidents_rollup' ORDER BY 1") == indexes
    assert len(indexes) >= 7
    assert rollups.drift() == []
    assert sql("SELECT key, n, n2, n3, n4, n5, secs_n FROM incidents_rollup ORDER BY key") == kept


def test_a_bulk_build_needs_a_superuser_role(monkeypatch):
    from demo import city_incidents as ci
    from demo.management.commands import build_city

    monkeypatch.setattr(build_city, "bulk_allowed", lambda: False)
    with pytest.raises(CommandError, match="superuser"):
        call_command("build_city", towns=1, incidents=10, bulk=True, verbosity=0)
    assert ci.bulk_allowed() is True  # the test cluster's role: the bulk test above runs for real
