"""在岗率 in the assessment: the day figures of ended patrols are recorded (patrols.tasks.record_days, safe to
run twice, again when a later patrol of the day ends), 在岗率 over a period is the recorded presence of its
duty days over their number (patrols.figures.presence_by_person), and the assessment's person rows carry
it, scoped as tracks are (patrols.selectors), in the API and the files."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from django.db.models import Q
from django.test import override_settings
from django.utils import timezone

from grids.models import Grid, Person
from incidents.analytics import assessment, assessment_direct
from patrols.figures import day_figures, own_grids_q, presence_by_person
from patrols.models import Patrol, PatrolDay
from patrols.tasks import record_days
from tests.incidents import factories as f
from tests.patrols.test_patrols import DAY, T0, TZ, post_points, started, walk

pytestmark = pytest.mark.django_db
MONDAY = DAY  # 2026-03-02 was a Monday
WEEK = (datetime(2026, 3, 2, tzinfo=TZ), datetime(2026, 3, 9, tzinfo=TZ))


def recorded(person: Person, day: date, presence: float) -> PatrolDay:
    return PatrolDay.objects.create(person=person, day=day, on_patrol_s=0, distance_m=0, in_own_grid_s=0,
                                    presence=presence, points=0, flagged=0, computed_at=timezone.now())


def test_the_days_of_ended_patrols_are_recorded_once_and_again_after_a_later_end(worker):
    grid, person, api = worker
    first = started(api, "phone-patrol-day1", T0)
    post_points(api, first, walk(grid, steps=20, step_m=5.0, every_s=10))
    assert record_days(now=T0 + timedelta(hours=1)) == 0  # still running: nothing yet
    Patrol.objects.filter(pk=first).update(ended_at=T0 + timedelta(minutes=30))
    assert record_days(now=T0 + timedelta(hours=1)) == 1
    row = PatrolDay.objects.get(person=person, day=MONDAY)
    expected = day_figures(person.pk, MONDAY, now=T0 + timedelta(hours=1))
    assert (row.in_own_grid_s, row.presence, row.points) == (expected.in_own_grid_s, expected.presence, 20)
    assert record_days(now=T0 + timedelta(hours=2)) == 0  # twice: nothing to do

    afternoon = T0 + timedelta(hours=5)
    second = started(api, "phone-patrol-day2", afternoon)
    post_points(api, second, walk(grid, steps=11, step_m=5.0, every_s=10, start=afternoon))
    Patrol.objects.filter(pk=second).update(ended_at=afternoon + timedelta(minutes=10))
    assert record_days(now=afternoon + timedelta(hours=1)) == 1  # the day again, with both walks
    row.refresh_from_db()
    assert (row.in_own_grid_s, row.points) == (190 + 100, 31)


def test_a_patrol_over_midnight_records_both_days(worker):
    grid, person, api = worker
    late = datetime(2026, 3, 2, 23, 59, 30, tzinfo=TZ)
    patrol = started(api, "phone-patrol-late", late)
    post_points(api, patrol, walk(grid, steps=7, step_m=5.0, every_s=10, start=late))  # 23:59:30 .. 00:00:30
    Patrol.objects.filter(pk=patrol).update(ended_at=late + timedelta(minutes=2))
    assert record_days(now=late + timedelta(hours=1)) == 2
    days = dict(PatrolDay.objects.filter(person=person).values_list("day", "in_own_grid_s"))
    # each day its own points' steps: the one across midnight (23:59:50 to 00:00:00) belongs to neither
    assert days == {MONDAY: 20.0, MONDAY + timedelta(days=1): 30.0}


@override_settings(PATROL_DUTY_WEEKDAYS=frozenset({0, 1, 2, 3, 4}))
def test_presence_over_a_period_counts_its_duty_days():
    a, b = Person.objects.order_by("pk")[:2]
    recorded(a, MONDAY, 0.5)
    recorded(a, MONDAY + timedelta(days=1), 1.0)
    recorded(a, MONDAY + timedelta(days=5), 1.0)  # Saturday: a day off does not count
    recorded(b, MONDAY + timedelta(days=9), 1.0)  # the week after
    assert presence_by_person(None, *WEEK) == {a.pk: pytest.approx(1.5 / 5)}
    # a period that begins at 09:00 on Monday: Monday is not a whole day of it (Tuesday to Friday: 4)
    assert presence_by_person(None, WEEK[0] + timedelta(hours=9), WEEK[1]) == {a.pk: pytest.approx(1.0 / 4)}
    assert presence_by_person(None, WEEK[0] + timedelta(days=5), WEEK[1]) == {}  # a weekend: no duty day
    assert presence_by_person(Q(pk=b.pk), *WEEK) == {}  # a reader who may see b only: b has no duty day here


def test_the_assessment_by_person_carries_presence_scoped_like_tracks(worker):
    grid, person, _ = worker
    stranger_grid = Grid.objects.active().filter(kind="comprehensive").exclude(own_grids_q(person.pk)).first()
    stranger = f.team_of(stranger_grid).memberships.exclude(person=person).first().person
    for day in range(5):
        recorded(person, MONDAY + timedelta(days=day), 0.8)
        recorded(stranger, MONDAY + timedelta(days=day), 0.4)
    now = WEEK[1] + timedelta(hours=1)

    def presence(actor) -> dict:
        result = assessment(actor=actor, group="person", start=WEEK[0], end=WEEK[1], now=now)
        direct = assessment_direct(actor=actor, group="person", start=WEEK[0], end=WEEK[1], now=now)
        assert [(r.code, r.presence) for r in result.rows] == [(r.code, r.presence) for r in direct.rows]
        assert result.totals.presence == direct.totals.presence
        return {r.code: r.presence for r in result.rows if r.presence is not None}, result.totals.presence

    assert presence(f.operator()) == ({person.external_id: 0.8, stranger.external_id: 0.4}, pytest.approx(0.6))
    leader = f.actor("grid_leader", person=f.team_of(grid).leader)
    assert presence(leader) == ({person.external_id: 0.8}, 0.8)  # the own team's only
    assert presence(f.actor("planner")) == ({}, None)
    village = assessment(actor=f.operator(), group="village", start=WEEK[0], end=WEEK[1], now=now)
    assert all(r.presence is None for r in village.rows)


def test_presence_is_in_the_api_and_the_person_files_only(worker):
    _, person, _ = worker
    for day in range(5):
        recorded(person, MONDAY + timedelta(days=day), 0.5)
    operator = f.api_client("operator")
    period = {"start": WEEK[0].isoformat(), "end": WEEK[1].isoformat()}
    rows = operator.get("/api/assessment/", {**period, "group": "person"}).json()["rows"]
    assert {r["code"]: r["presence"] for r in rows}[person.external_id] == 0.5
    by_person = operator.get("/api/assessment/csv/", {**period, "group": "person"})
    table = list(csv.reader(io.StringIO(b"".join(by_person.streaming_content).decode("utf-8-sig"))))
    column = table[0].index("在岗率 presence on duty")
    assert {r[0]: r[column] for r in table[1:]}[person.external_id] == "0.5"
    by_village = operator.get("/api/assessment/csv/", {**period, "group": "village"})
    assert "在岗率" not in b"".join(by_village.streaming_content).decode("utf-8-sig")
