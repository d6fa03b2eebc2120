"""Assessment figures (督查考核): exact numbers over hand-made incidents, scoping, and the API."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from core.actors import Actor
from dispatch.aftercare import incident_return_visit
from dispatch.services import incident_return_to_centre
from grids.models import Grid, Person
from incidents import evidence
from incidents.analytics import GROUPS, assessment, assessment_direct
from incidents.extensions import incident_decide_extension, incident_request_extension
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import apply_transition, locked
from incidents.models import Category, Incident
from incidents.on_the_spot import incident_self_handle
from tests.incidents.test_evidence import jpeg

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
G1, G2 = "321003100200001", "321003100212003"  # 太平村 grid 1 (leader P0021), 河东村 grid 3
OPERATOR = Actor(user=None, label="test operator", groups=frozenset({"operator"}))
MARCH, APRIL = datetime(2025, 3, 1, tzinfo=TZ), datetime(2025, 4, 1, tzinfo=TZ)
NOW = datetime(2025, 4, 10, 12, 0, tzinfo=TZ)
CLOSE = ["accept", "report_handled", "verify", "close"]


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=TZ)


def report(grid_code: str | None, when: datetime, n: int, source: str = "hotline_12345") -> Incident:
    """Report a neighbour dispute (handling SLA 2880 min) at the grid's inner point, or by a lost address."""
    item = IntakeItem(source=source, category=Category.objects.get(code="neighbour_dispute"),
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
    # the rollups' figures and events (返工, 回访), however many rows, in one query, and the ordinary path
    # on the incidents whose clock ran out since midnight, at now and at midnight in one query
    # (incidents.rollups.Window); before them the scope's ids, read once (incidents.selectors._scope_places)
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


def test_the_api_rows_are_what_the_row_serializer_renders(march):
    """The answer's rows skip DRF's per-field serializer (``analytics_apis.row_data``) and say the same."""

    from rest_framework.renderers import JSONRenderer

    from incidents.analytics_apis import AssessmentRowSerializer, row_data

    api = APIClient()
    api.force_authenticate(User.objects.create_superuser("boss"))
    for group in GROUPS:
        result = assessment(actor=Actor.of(User.objects.get(username="boss")), group=group, start=MARCH, end=APRIL,
                            now=NOW)
        assert result.rows, group
        for row in [*result.rows, result.totals]:
            plain, by_drf = row_data(row.as_dict()), AssessmentRowSerializer(row.as_dict()).data
            assert JSONRenderer().render(plain) == JSONRenderer().render(by_drf), (group, row.code)
        body = api.get("/api/assessment/", {"group": group, "start": "2025-03-01", "end": "2025-04-01"}).json()
        assert [list(r) for r in body["rows"]] == [list(AssessmentRowSerializer().fields)] * len(result.rows)
        assert [r["code"] for r in body["rows"]] == [r.code for r in result.rows]


def test_the_api_ranks_the_rows_and_pages_them_with_the_totals_of_all(march):
    api = APIClient()
    api.force_authenticate(User.objects.create_superuser("boss"))
    query = {"group": "grid", "start": "2025-03-01", "end": "2025-04-01"}

    def codes(**more):
        body = api.get("/api/assessment/", {**query, **more}).json()
        return [row["code"] for row in body["rows"]]

    whole = api.get("/api/assessment/", query).json()
    assert (whole["order"], whole["count"], whole["offset"]) == ("code", 3, 0)
    assert [row["code"] for row in whole["rows"]] == [G1, G2, None]  # not located last
    # closure rate G1 2/3, G2 1.0, not located none (last either way); received G1 4, G2 1, not located 1
    assert codes(order="-closure_rate") == [G2, G1, None]
    assert codes(order="closure_rate") == [G1, G2, None]
    assert codes(order="-received") == [G1, G2, None]
    assert codes(order="received") == [G2, None, G1]  # a tie keeps the rows' order
    assert codes(order="-code") == [G2, G1, None]
    page = api.get("/api/assessment/", {**query, "order": "-closure_rate", "offset": 1, "limit": 1}).json()
    assert ([r["code"] for r in page["rows"]], page["count"], page["offset"]) == ([G1], 3, 1)
    assert page["totals"] == whole["totals"]
    assert codes(offset=3) == [] and codes(limit=2) == [G1, G2]


@pytest.mark.parametrize(("query", "field"), [
    ({"order": "closure"}, "order"), ({"order": "--closed"}, "order"), ({"order": "handling_total_min"}, "order"),
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset"), ({"offset": "x"}, "offset"),
])
def test_the_api_refuses_a_bad_order_or_page(query, field):
    api = APIClient()
    api.force_authenticate(User.objects.create_superuser("boss"))
    for path in ("/api/assessment/", "/api/assessment/csv/"):
        response = api.get(path, query)
        assert response.status_code == 400 and field in response.json(), path


def test_ranked_refuses_an_unknown_key(march):
    result = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=NOW)
    assert [r.code for r in result.ranked("-overdue_now").rows] == [G1, G2, None]
    with pytest.raises(ValueError, match="unknown order"):
        result.ranked("handling_count")


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


def fixed_on_the_spot(grid_code: str, when: datetime, n: int) -> Incident:
    """A problem a worker of the grid's team found on patrol and fixed on the spot (自行处置)."""
    grid = Grid.objects.active().get(code=grid_code)
    worker = Person.objects.filter(memberships__team__grid=grid).order_by("pk").first()
    worker.user = User.objects.create_user(f"worker-{n}")
    worker.save()
    actor = Actor.of(worker.user)
    point = grid.boundary.point_on_surface
    item = IntakeItem(source="patrol", category=Category.objects.get(code="neighbour_dispute"), title=f"test {n}",
                      x=point.x, y=point.y, on_the_spot=True)
    with transaction.atomic():
        incident = intake([item], actor=actor, now=when)[0].incident
        photo = evidence.check_photos([SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg")])
        return incident_self_handle(incident_id=incident.pk, actor=actor, photos=photo, now=when)


def test_the_standard_rates_have_their_known_answers_on_both_paths():
    """GB/T 30428.4's rates over hand-made incidents in May 2025 (rules.STANDARD_RATES), equal on the
    rollups and on the direct path, per grid, town and category."""
    def may(day: int, hour: int = 9) -> datetime:
        return at(day, hour, month=5)

    def person_actor(incident: Incident) -> Actor:
        user = User.objects.create_user(f"holder-{incident.pk}")
        person = Incident.objects.get(pk=incident.pk).assignee
        person.user = user
        person.save()
        return Actor.of(user)

    m1 = report(G1, may(5), 101)                      # extended, then closed on time
    incident_request_extension(incident_id=m1.pk, actor=person_actor(m1), reason="材料未到",
                               requested_due=may(9), now=may(5, 10))
    incident_decide_extension(incident_id=m1.pk, actor=OPERATOR, approve=True, now=may(5, 11))
    move(m1, closing(may(8, 10), may(8, 12)))
    m2 = fixed_on_the_spot(G1, may(6), 102)           # found on patrol and fixed on the spot: never dispatched
    m3 = report(G1, may(7), 103)                      # sent to the wrong grid: returned
    incident_return_to_centre(incident_id=m3.pk, actor=person_actor(m3), reason="不是本网格", now=may(7, 10))
    m4 = report(G2, may(8), 104)                      # reworked, then closed
    move(m4, [("accept", may(8, 10)), ("report_handled", may(8, 12)), ("rework", may(8, 13)),
              ("report_handled", may(9, 10)), ("verify", may(9, 11)), ("close", may(9, 12))])
    report(None, may(9), 105)                         # not located: accepted, never registered
    m6 = report(G2, may(10), 106)
    move(m6, [("cancel", may(10, 10))])               # registered, then cancelled: never counts
    m7 = report(G2, may(11), 107)
    move(m7, closing(may(12, 10), may(12, 12)))
    for incident, outcome, day in ((m1, "satisfied", 13), (m2, "basically_satisfied", 14), (m7, "dissatisfied", 15)):
        incident_return_visit(incident_id=incident.pk, actor=OPERATOR, outcome=outcome, comment="回访", now=may(day))
    start, end, now = may(1, 0), datetime(2025, 6, 1, tzinfo=TZ), datetime(2025, 6, 10, 12, tzinfo=TZ)

    totals = assessment(actor=OPERATOR, group="grid", start=start, end=end, now=now).totals
    assert totals.counts == {
        "accepted": 7, "registered": 6, "to_dispatch": 5, "dispatched": 5, "dispatched_accurately": 4, "received": 6,
        "closed": 3, "due_to_close": 5, "closed_on_time": 3, "closed_reworked": 1, "closed_extended": 1,
        "found_and_fixed": 1, "overdue_now": 2, "reworks": 2, "visits": 3, "satisfied": 2}
    assert totals.rates == {
        "registration_rate": 6 / 7, "dispatch_rate": 1.0, "accurate_dispatch_rate": 4 / 5, "closure_rate": 3 / 5,
        "on_time_rate": 3 / 5, "rework_rate": 1 / 3, "extension_rate": 1 / 3, "satisfaction_rate": 2 / 3}
    for group in GROUPS:
        fast = assessment(actor=OPERATOR, group=group, start=start, end=end, now=now)
        slow = assessment_direct(actor=OPERATOR, group=group, start=start, end=end, now=now)
        assert [r.as_dict() for r in fast.rows] == [r.as_dict() for r in slow.rows], group
        assert fast.totals.as_dict() == totals.as_dict() == slow.totals.as_dict()
    grids = by_code(assessment(actor=OPERATOR, group="grid", start=start, end=end, now=now))
    assert (grids[G1].accepted, grids[G1].accurate_dispatch_rate, grids[G1].found_and_fixed) == (3, 1 / 2, 1)
    assert Incident.objects.get(pk=m2.pk).dispatched_at is None
    assert (grids[G2].rework_rate, grids[G2].satisfaction_rate, grids[G2].received) == (1.0, 0.0, 2)
    towns = by_code(assessment(actor=OPERATOR, group="town", start=start, end=end, now=now))
    gongdao = Grid.objects.active().get(code=G1).village.town.code
    assert list(towns) == [gongdao, None] and (towns[gongdao].accepted, towns[None].accepted) == (6, 1)
    categories = assessment(actor=OPERATOR, group="category", start=start, end=end, now=now).rows
    assert [(r.code, r.accepted) for r in categories] == [("neighbour_dispute", 7)]


@pytest.mark.parametrize("group", ["grid", "person", "village"])
def test_ranking_the_columns_answers_as_ranking_the_rows(march, group):
    """``Assessment.ranked`` ranks arrays and makes only the rows read: the same order as ranking the
    finished rows by their attributes (None last either way, ties by code), for every key both ways."""
    from incidents.analytics import ORDER_KEYS

    result = assessment(actor=OPERATOR, group=group, start=MARCH, end=APRIL, now=NOW)
    rows = result.rows
    assert len(rows) == result.count >= 2
    for key in ORDER_KEYS:
        for order in (key, f"-{key}"):
            valued = [r for r in rows if getattr(r, key) is not None]
            expected = (sorted(valued, key=lambda r: getattr(r, key), reverse=order.startswith("-"))
                        + [r for r in rows if getattr(r, key) is None])
            ranked = result.ranked(order)
            assert [r.as_dict() for r in ranked.rows] == [r.as_dict() for r in expected], order
            assert [r.as_dict() for r in ranked.page(1, 2)] == [r.as_dict() for r in expected[1:3]], order
    assert result.totals.received == sum(r.received for r in rows)
    assert result.totals.handling_count == sum(r.handling_count for r in rows)


def test_a_grid_code_of_two_generations_is_one_row(march):
    """The rollups are summed by grid id, then by the code: a grid redrawn (a new generation keeps its
    code) is one row holding the incidents located in either generation's grid, as on the direct path."""
    from grids.models import BoundaryGeneration

    now_grid = Grid.objects.active().get(code=G2)
    old = BoundaryGeneration.objects.create(town=now_grid.generation.town, status="retired")
    then_grid = Grid.objects.create(generation=old, village=now_grid.village, code=G2, name=now_grid.name,
                                    kind=now_grid.kind, boundary=now_grid.boundary)
    before = by_code(assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=NOW))
    moved = Incident.objects.filter(grid=now_grid, external_id="analytics-3").update(grid=then_grid)
    assert moved == 1  # the rollups follow the update (its trigger)
    fast = assessment(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=NOW)
    slow = assessment_direct(actor=OPERATOR, group="grid", start=MARCH, end=APRIL, now=NOW)
    assert [r.code for r in fast.rows] == [G1, G2, None]
    assert [r.as_dict() for r in fast.rows] == [r.as_dict() for r in slow.rows]
    assert by_code(fast)[G2].as_dict() == before[G2].as_dict() and by_code(fast)[G2].closed == 2
