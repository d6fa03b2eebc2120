"""incidents.rules: one definition of overdue and of the closure rate, the same on every screen.

One data set (incidents with each clock running, stopped, spent or not yet due), then the command
centre's overdue count, the assessment's, the map's flags, the list filter, the sweep's candidates, the
SQL twin and the Python twin must name the same incidents; and the command centre's closure rate for
the month must be the assessment's for the same month.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dispatch.services import overdue_ids
from incidents import geojson, rules
from incidents.analytics import assessment
from incidents.models import Incident
from incidents.rules import month_bounds
from incidents.selectors import incident_stats, incidents_visible_to, with_overdue
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
S = rules.State


@pytest.fixture
def scene():
    """Return (now, {name: incident}) with the names saying what each one's clocks do at ``now``."""
    now = timezone.now()
    long_ago, hours_ago, just_now = now - timedelta(days=4), now - timedelta(hours=3), now - timedelta(minutes=30)
    op = f.operator()
    at = f.interior_point(f.grid())
    made = {
        # "other": 120 min to accept, 4,320 min (3 days) to handle
        "both_clocks_past": f.report(at=at, now=long_ago),
        "accept_clock_past": f.report(at=at, now=hours_ago),
        "accepted_in_time": f.report(at=at, now=hours_ago),
        "handling_past": f.report(at=at, now=long_ago),
        "handled_late": f.report(at=at, now=long_ago),
        "closed_late": f.report(at=at, now=long_ago),
        "fresh": f.report(at=at, now=just_now),
        "cancelled_late": f.report(at=at, now=long_ago),
        "triaged": f.report(address="查无此地 nowhere at all", now=long_ago),
    }
    f.drive(made["accepted_in_time"], ["accept"], op)
    f.drive(made["handling_past"], ["accept"], op)
    f.drive(made["handled_late"], ["accept", "report_handled"], op)
    f.drive(made["closed_late"], ["accept", "report_handled", "verify", "close"], op)
    f.drive(made["cancelled_late"], ["cancel"], op)
    return now, {name: f.reload(incident) for name, incident in made.items()}


OVERDUE = {"both_clocks_past", "accept_clock_past", "handling_past"}


def test_every_reading_of_overdue_names_the_same_incidents(scene):
    now, made = scene
    ids = {incident.pk: name for name, incident in made.items()}
    named = lambda pks: {ids[pk] for pk in pks}  # noqa: E731
    everyone = incidents_visible_to(f.operator())

    listed = named(with_overdue(everyone, now).values_list("pk", flat=True))
    flagged = named(feature["id"] for feature in geojson.features(geojson.rows(everyone))
                    if feature["properties"]["overdue"])
    swept = named(overdue_ids(now, limit=10_000))
    python = named(i.pk for i in Incident.objects.all() if rules.is_overdue(i, now))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM incidents_incident i WHERE {rules.overdue_sql('i')}", {"now": now})
        sql = named(pk for (pk,) in cursor.fetchall())
    assert listed == flagged == swept == python == sql == OVERDUE

    stats = incident_stats(actor=f.operator(), now=now)
    start, end = month_bounds(now)
    figures = assessment(actor=f.operator(), group="grid", start=start, end=end, now=now)
    assert stats["overdue"] == figures.totals.overdue_now == len(OVERDUE)


def test_the_acceptance_clock_counts_in_the_assessment_too(scene):
    """The assessment once counted only the handling deadline: an incident not accepted in time was
    overdue on the command centre and not in the assessment."""
    now, made = scene
    start, end = month_bounds(now)
    late = made["accept_clock_past"]
    by_grid = {row.code: row for row in assessment(actor=f.operator(), group="grid", start=start, end=end,
                                                   now=now).rows}
    assert late.handle_due_at > now > late.accept_due_at
    assert by_grid[late.grid.code].overdue_now == 3


def test_the_month_closure_rate_is_one_number(scene):
    """The command centre's 本月结案率 and the assessment's 结案率 for the month agree: both count what has
    fallen due by now (an incident due later this month is not yet due to close)."""
    now, made = scene
    due_later = made["fresh"]
    assert due_later.handle_due_at > now
    stats = incident_stats(actor=f.operator(), now=now)
    start, end = month_bounds(now)
    totals = assessment(actor=f.operator(), group="village", start=start, end=end, now=now).totals
    assert stats["closed_month"] == totals.closed
    assert stats["due_month"] == totals.due_to_close
    assert stats["closure_rate_month"] == totals.closure_rate
    assert totals.closed >= 1


def test_an_incident_at_the_top_level_is_overdue_but_not_swept(scene):
    now, made = scene
    top = made["handling_past"]
    Incident.objects.filter(pk=top.pk).update(level=rules.Level.BUREAU, escalate_at=None)
    assert with_overdue(Incident.objects.filter(pk=top.pk), now).exists()
    assert top.pk not in overdue_ids(now, limit=10_000)


def test_every_state_falls_in_exactly_one_of_open_and_ended():
    assert set(rules.STATES) == rules.OPEN | rules.ENDED and not rules.OPEN & rules.ENDED
    assert rules.CLOCK_RUNNING <= rules.OPEN and rules.ASSIGNED <= rules.CLOCK_RUNNING
    assert rules.NOT_COUNTED <= rules.ENDED and S.CLOSED not in rules.NOT_COUNTED
    # every action starts from an open state (those after closing from closed only), every transition
    # leads to a known one
    for action in rules.ACTIONS.values():
        allowed = {S.CLOSED} if action.name in rules.AFTER_CLOSING else rules.OPEN
        assert action.sources <= allowed, action.name
        assert action.target is None or action.target in rules.STATES, action.name
