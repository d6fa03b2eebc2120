"""Assessment figures (督查考核): exact numbers over hand-made incidents, scoping, and the API."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from rest_framework.test import APIClient

from core.actors import Actor
from grids.models import Grid, Person
from incidents.analytics import assessment
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import apply_transition, locked
from incidents.models import Category, Incident

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
G1, G2 = "321003100200001", "321003100212003"  # 太平村 grid 1 (leader P0021), 河东村 grid 3
OPERATOR = Actor(user=None, label="test operator", groups=frozenset({"operator"}))
MARCH, APRIL = datetime(2025, 3, 1, tzinfo=TZ), datetime(2025, 4, 1, tzinfo=TZ)
NOW = datetime(2025, 4, 10, 12, 0, tzinfo=TZ)
CLOSE = ["accept", "report_handled", "verify", "close"]


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=TZ)


def report(grid_code: str | None, when: datetime, n: int) -> Incident:
    """Report a neighbour dispute (handling SLA 2880 min) at the grid's inner point, or by a lost address."""
    item = IntakeItem(source="hotline_12345", category=Category.objects.get(code="neighbour_dispute"),
                      title=f"test {n}", external_id=f"analytics-{n}")
    if grid_code is None:
        item.address = "不知道在哪里的小路口"
    else:
        point = Grid.objects.active().get(code=grid_code).boundary.point_on_surface
        item.x, item.y = point.x + 0.0001 * (n % 5), point.y
    incident = intake([item], actor=Actor.system("test client"), now=when)[0].incident
    assert (incident.grid.code if incident.grid else None) == grid_code
    return incident


def move(incident: Incident, steps: list[tuple[str, datetime]]) -> None:
    for action, when in steps:
        with transaction.atomic():
            row = locked(incident.pk)
            event = apply_transition(row, action, OPERATOR, now=when)
            row.save()
            event.save()


def closing(handled: datetime, closed: datetime) -> list[tuple[str, datetime]]:
    accept = handled.replace(hour=handled.hour - 1)
    return [("accept", accept), ("report_handled", handled), ("verify", closed.replace(hour=closed.hour - 1)),
            ("close", closed)]


@pytest.fixture
def march():
    """Eight incidents around March 2025 in two grids and the triage queue (due = created + 2 days)."""
    a = report(G1, at(3), 1)
    move(a, closing(at(4, 8), at(4, 11)))                        # closed on time, 26 h = 1560 min
    b = report(G1, at(10), 2)
    move(b, [("accept", at(10, 10)), ("report_handled", at(12, 8)), ("rework", at(12, 10)),
             ("report_handled", at(13, 9)), ("verify", at(13, 10)), ("close", at(13, 11))])  # late, 4440 min
    c = report(G2, at(20), 3)
    move(c, closing(at(21, 7), at(21, 9)))                        # on time, 1440 min
    d = report(G1, at(28), 4)                                     # due 30 March, never accepted
    report(G1, at(31), 5)                                         # due 2 April, open
    f = report(G1, at(15), 6)
    move(f, [("cancel", at(15, 10))])                             # never counts
    g = report(G2, at(27, month=2), 7)                            # due 1 March 09:00
    move(g, closing(at(2, 8), at(2, 9)))                          # closed 2 March: late, 4320 min
    report(None, at(5), 8)                                        # unresolved address: triage
    return {"d": d}


def by_code(result) -> dict:
    return {row.code: row for row in result.rows}


def test_figures_per_grid(march):
    result = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=NOW)
    rows = by_code(result)
    assert list(rows) == [G1, G2, None]
    g1, g2, none = rows[G1], rows[G2], rows[None]
    assert (g1.received, g1.closed, g1.due_to_close, g1.closed_on_time) == (4, 2, 3, 1)
    assert g1.closure_rate == pytest.approx(2 / 3) and g1.on_time_rate == pytest.approx(1 / 3)
    assert g1.avg_handling_min == 3000.0 and g1.reworks == 1 and g1.overdue_now == 2
    assert (g2.received, g2.closed, g2.due_to_close, g2.closed_on_time) == (1, 2, 2, 1)
    assert g2.closure_rate == 1.0 and g2.on_time_rate == 0.5 and g2.avg_handling_min == 2880.0
    assert (g2.reworks, g2.overdue_now) == (0, 0)
    assert (none.received, none.due_to_close, none.closure_rate, none.on_time_rate) == (1, 0, None, None)
    assert none.avg_handling_min is None
    t = result.totals
    assert (t.received, t.closed, t.due_to_close, t.closed_on_time, t.reworks, t.overdue_now) == (6, 4, 5, 2, 1, 2)
    assert t.avg_handling_min == pytest.approx((1560 + 4440 + 1440 + 4320) / 4)


def test_late_closure_is_closed_but_not_on_time(march):
    """The incident of grid 2 due on 1 March and closed on 2 March counts as closed, not on time."""
    early = assessment(actor=OPERATOR, group="grid", start=at(1, 0), end=at(3, 0), now=NOW)
    g2 = by_code(early)[G2]
    assert (g2.closed, g2.due_to_close, g2.closed_on_time, g2.on_time_rate) == (1, 1, 0, 0.0)


def test_overdue_is_counted_at_now(march):
    in_time = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL,
                         now=datetime(2025, 3, 28, 9, 30, tzinfo=TZ))
    assert by_code(in_time)[G1].overdue_now == 0  # d: dispatched at 09:00, 60 min to accept
    # not accepted in time: overdue by the acceptance clock, as the command centre counts it
    # (``rules.OVERDUE_CLOCKS``; the assessment once looked at the handling deadline alone)
    before = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=at(30, 8))
    assert by_code(before)[G1].overdue_now == 1
    move(march["d"], [("accept", at(30, 10))])  # still in progress: still overdue
    after = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=at(30, 10))
    assert by_code(after)[G1].overdue_now == 1


def test_empty_period_has_no_rates(march):
    result = assessment(actor=OPERATOR, group="grid", start=at(1, 0, month=1), end=at(1, 0, month=2),
                        now=at(1, 0, month=2))
    assert result.rows == []
    assert (result.totals.received, result.totals.due_to_close) == (0, 0)
    assert result.totals.closure_rate is None and result.totals.on_time_rate is None
    assert result.totals.avg_handling_min is None


def test_village_and_person_groups(march):
    villages = by_code(assessment(actor=OPERATOR, group="village", start=MARCH, end=APRIL, now=NOW))
    assert villages["321003100200"].received == 4 and villages["321003100212"].closed == 2
    people = assessment(actor=OPERATOR, group="person", start=MARCH, end=APRIL, now=NOW)
    owner = Incident.objects.get(external_id="analytics-2").assignee
    row = by_code(people)[owner.external_id]
    assert row.name == owner.name and row.reworks == 1
    assert sum(r.received for r in people.rows) == 6


def grid_leader(code: str) -> User:
    person = Person.objects.get(led_teams__grid__code=code, led_teams__grid__generation__status="active")
    user = User.objects.create_user(f"leader-{code}")
    user.groups.add(Group.objects.get_or_create(name="grid_leader")[0])
    person.user = user
    person.save()
    return user


def test_grid_leader_sees_only_own_grid(march, django_assert_num_queries):
    actor = Actor.of(grid_leader(G1))
    # the rollups' figures and rework events, however many rows, and the ordinary path on the incidents
    # whose clock ran out since midnight, at now and at midnight in one query (incidents.rollups.Window)
    with django_assert_num_queries(3):
        result = assessment(actor=actor, group="grid", start=MARCH, end=APRIL, now=NOW)
    assert [row.code for row in result.rows] == [G1]
    assert result.totals.received == 4 and result.totals.reworks == 1


def test_api(march):
    api = APIClient()
    query = {"group": "grid", "start": "2025-03-01", "end": "2025-04-01"}
    assert api.get("/api/assessment/", query).status_code in (401, 403)
    api.force_authenticate(grid_leader(G1))
    body = api.get("/api/assessment/", query).json()
    assert [row["code"] for row in body["rows"]] == [G1]
    row = body["rows"][0]
    assert (row["received"], row["closed"], row["due_to_close"], row["reworks"]) == (4, 2, 3, 1)
    assert row["closure_rate"] == pytest.approx(2 / 3) and row["avg_handling_min"] == 3000.0
    assert body["start"].startswith("2025-03-01T00:00:00+08:00")
    assert "handling_total_min" not in row


def test_api_defaults_to_this_month(march):
    api = APIClient()
    api.force_authenticate(User.objects.create_superuser("boss"))
    body = api.get("/api/assessment/").json()
    assert body["group"] == "grid" and body["start"][8:10] == "01" and body["end"][8:10] == "01"


@pytest.mark.parametrize(("query", "field"), [
    ({"group": "street"}, "group"),
    ({"start": "yesterday"}, "start"),
    ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
    ({"start": "2025-03-01", "end": "2025-03-01"}, "end"),
    ({"start": "2020-01-01", "end": "2025-01-01"}, "end"),
])
def test_api_refuses_bad_queries(query, field):
    api = APIClient()
    api.force_authenticate(User.objects.create_superuser("boss"))
    response = api.get("/api/assessment/", query)
    assert response.status_code == 400 and field in response.json()
