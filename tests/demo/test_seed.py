"""The demo seeding command: idempotent, and the states the demo needs are all there."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from demo.incidents import LOST_ADDRESSES, PREFIX, in_straw_season, make_plan, seed_demo_incidents
from grids.models import Town
from incidents.gazetteer import resolve_address
from incidents.models import Incident

pytestmark = pytest.mark.django_db

NEEDED = {"dispatched", "in_progress", "handled", "closed"}
NOW = datetime(2025, 11, 26, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def demo_incidents():
    return Incident.objects.filter(external_id__startswith=PREFIX)


def test_seeding_twice_creates_nothing_new(capsys):
    call_command("seed_demo_incidents", weeks=1, per_day=3, seed=7)
    first = demo_incidents().count()
    assert first == 21
    events = sum(i.events.count() for i in demo_incidents())
    call_command("seed_demo_incidents", weeks=1, per_day=3, seed=7)
    assert demo_incidents().count() == first
    assert sum(i.events.count() for i in demo_incidents()) == events
    assert "0 new of 21 planned" in capsys.readouterr().out


def test_seeded_history_covers_every_state_the_demo_needs():
    summary = seed_demo_incidents(weeks=1, per_day=4, seed=7, now=NOW)
    assert summary["created"] == summary["planned"] == 28
    states = set(demo_incidents().values_list("state", flat=True))
    assert states >= NEEDED
    assert demo_incidents().filter(state="reported").exclude(triage="").exists()  # the triage queue
    assert {"outside_town", "unresolved_address"} <= set(demo_incidents().values_list("triage", flat=True))
    assert summary["overdue"] >= 1 and summary["escalations"] >= 1


def test_history_is_historical_and_went_through_the_lifecycle():
    seed_demo_incidents(weeks=1, per_day=4, seed=7, now=NOW)
    incidents = list(demo_incidents().prefetch_related("events"))
    assert all(NOW - timedelta(days=7) <= i.created_at < NOW for i in incidents)
    for incident in incidents:
        events = list(incident.events.all())
        assert events[0].action == "report" and events[0].created_at == incident.created_at
        assert all(e.created_at <= NOW for e in events)
        assert [e.created_at for e in events] == sorted(e.created_at for e in events)
        if incident.state == "closed":
            assert [e.action for e in events][:3] == ["report", "register", "dispatch"]
            assert incident.registered_at <= incident.accepted_at <= incident.handled_at <= incident.closed_at


def test_plan_is_deterministic_and_seasonal():
    town = Town.objects.get(code="321003100")
    a = make_plan(town=town, weeks=2, per_day=12, seed=7, now=NOW)
    b = make_plan(town=town, weeks=2, per_day=12, seed=7, now=NOW)
    assert [(p.external_id, p.at, p.category.code, p.source, p.mode, p.fate) for p in a] == \
        [(p.external_id, p.at, p.category.code, p.source, p.mode, p.fate) for p in b]
    assert len({p.source for p in a}) == 5 and {p.mode for p in a} >= {"coordinates", "address", "camera"}
    assert in_straw_season(NOW) and not in_straw_season(NOW.replace(month=8))
    summer = make_plan(town=town, weeks=2, per_day=12, seed=7, now=NOW.replace(month=8))
    straw = sum(p.category.code == "straw_burning" for p in a)
    assert straw > 3 * max(1, sum(p.category.code == "straw_burning" for p in summer))


def test_lost_addresses_resolve_to_nothing():
    assert all(resolve_address(text) is None for text in LOST_ADDRESSES)
