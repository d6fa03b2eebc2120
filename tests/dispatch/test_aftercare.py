"""回访 return visits (dispatch.aftercare) and 退单 returning an incident to the command centre
(dispatch.services.incident_return_to_centre), through the API: allowed and refused (400, 403, 409,
412), and their effects on the state, the clocks, the assignments, the notices and the events."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import Actor
from dispatch.models import Assignment, Notification
from dispatch.routing import COMMAND_CENTRE
from grids.models import Grid, GridTeam, Person
from incidents.analytics import assessment, assessment_direct
from incidents.models import Incident, IncidentEvent, Level, ReturnVisit
from incidents.selectors import incident_stats, incident_stats_direct
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
S = Incident.State


def client_of(who: Actor) -> APIClient:
    client = APIClient()
    client.force_authenticate(who.user)
    return client


def post(who: Actor, incident: Incident, action: str, body: dict, **headers):
    return client_of(who).post(f"/api/incidents/{incident.pk}/{action}/", body, format="json", **headers)


def close(incident: Incident) -> Incident:
    """Take a dispatched incident round the loop to closed, by its real team and an operator."""
    assignee = f.actor(person=incident.assignee)
    leader = f.actor(person=f.team_of(incident.handling_grid).leader)
    incident = f.drive(incident, ["accept", "report_handled"], assignee)
    incident = f.drive(incident, ["verify"], leader)
    return f.drive(incident, ["close"], f.operator())


@pytest.fixture
def closed() -> Incident:
    return close(f.located("other"))


def due_ids(who: Actor) -> set[int]:
    body = client_of(who).get("/api/incidents/?visit=due&before=9223372036854775807&page_size=1000").json()
    return {feature["id"] for feature in body["features"]}


# --- 回访 return visit ------------------------------------------------------------------------------

def test_a_satisfied_visit_is_recorded_and_the_incident_stays_closed(closed):
    op = f.operator()
    assert closed.pk in due_ids(op)
    before = closed.closed_at
    answer = post(op, closed, "return_visit", {"outcome": "satisfied", "comment": "已修好 fixed"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["properties"]["state"] == S.CLOSED
    stored = f.reload(closed)
    assert (stored.state, stored.closed_at, stored.reworks) == (S.CLOSED, before, 0)
    visit = ReturnVisit.objects.get(incident=closed)
    assert (visit.outcome, visit.comment, visit.visited_by, visit.visited_by_label) == (
        "satisfied", "已修好 fixed", op.user, op.label)
    event = IncidentEvent.objects.filter(incident=closed).latest("id")
    assert (event.action, event.from_state, event.to_state, event.note) == (
        "return_visit", S.CLOSED, S.CLOSED, "已修好 fixed")
    assert event.data == {"outcome": "satisfied", "visit": visit.pk}
    timeline = client_of(op).get(f"/api/incidents/{closed.pk}/events/").json()
    assert timeline[-1]["action"] == "return_visit" and timeline[-1]["data"]["outcome"] == "satisfied"
    # visited: off the queue, and not visited twice for one closing
    assert closed.pk not in due_ids(op)
    again = post(op, closed, "return_visit", {"outcome": "basically_satisfied"})
    assert again.status_code == 409 and "already" in again.json()["detail"]
    assert "return_visit" not in client_of(op).get(f"/api/incidents/{closed.pk}/context/").json()["allowed_actions"]


def test_a_dissatisfied_visit_reopens_the_incident_as_rework_with_its_last_assignee(closed):
    op = f.operator()
    person = closed.assignee
    leader = f.team_of(closed.handling_grid).leader
    sla = closed.category.sla_handle_min
    t0 = timezone.now()
    answer = post(op, closed, "return_visit", {"outcome": "dissatisfied", "comment": "路灯还是不亮 still dark"})
    assert answer.status_code == 200, answer.content
    stored = f.reload(closed)
    assert (stored.state, stored.reworks, stored.closed_at, stored.level) == (S.IN_PROGRESS, 1, None, Level.GRID)
    assert t0 + timedelta(minutes=sla) <= stored.handle_due_at <= timezone.now() + timedelta(minutes=sla)
    assert stored.level_due_at == stored.handle_due_at == stored.escalate_at
    assert stored.assignee_id == person.pk
    events = list(IncidentEvent.objects.filter(incident=closed).order_by("-id")[:2])[::-1]
    assert [(e.action, e.from_state, e.to_state, e.note) for e in events] == [
        ("return_visit", S.CLOSED, S.CLOSED, "路灯还是不亮 still dark"),
        ("reopen", S.CLOSED, S.IN_PROGRESS, "路灯还是不亮 still dark")]
    assert events[0].data["outcome"] == "dissatisfied"
    active = Assignment.objects.get(incident=closed, active=True)
    assert (active.person_id, active.grid_id, active.level) == (person.pk, closed.handling_grid_id, Level.GRID)
    assert active.reason.startswith("reopened")
    assert Assignment.objects.filter(incident=closed, active=False, ended_at__isnull=False).exists()
    notice = Notification.objects.get(incident=closed, kind=Notification.Kind.REOPENED)
    assert notice.person_id == person.pk
    if leader.pk != person.pk:
        assert Notification.objects.filter(incident=closed, person=leader, kind="informed",
                                           message__startswith="reopened").exists()
    # the rollups follow the reopening (an open incident again)
    assert incident_stats(actor=op) == incident_stats_direct(actor=op)
    # handled and closed again, it is due another visit, which is allowed
    assert closed.pk not in due_ids(op)
    assignee, checker = f.actor(person=person), f.actor(person=leader)
    f.drive(stored, ["report_handled"], assignee)
    f.drive(stored, ["verify"], checker)
    f.drive(stored, ["close"], op)
    assert closed.pk in due_ids(op)
    assert post(op, closed, "return_visit", {"outcome": "satisfied"}).status_code == 200
    assert ReturnVisit.objects.filter(incident=closed).count() == 2
    assert f.reload(closed).reworks == 1


def test_a_reopened_incident_goes_to_whom_it_was_last_reassigned():
    incident = f.located("other")
    op = f.operator()
    other = f.new_person()
    assert post(op, incident, "reassign", {"person": other.external_id, "reason": "换人"}).status_code == 200
    incident = close(f.reload(incident))
    assert post(op, incident, "return_visit", {"outcome": "dissatisfied", "comment": "没修"}).status_code == 200
    stored = f.reload(incident)
    assert stored.assignee_id == other.pk
    assert Assignment.objects.get(incident=incident, active=True).person_id == other.pk
    assert Notification.objects.filter(incident=incident, person=other, kind="reopened").count() == 1


def test_a_reopening_counts_as_rework_in_the_assessment_both_ways(closed):
    """返工率: the rollups (their event trigger) and the direct path count the reopen event as the
    checker's rework."""
    op = f.operator()
    now = timezone.localtime()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)

    def reworks(fn) -> int:
        return fn(actor=op, group="grid", start=start, end=end, now=timezone.now()).totals.reworks

    before = reworks(assessment_direct)
    assert reworks(assessment) == before
    answer = post(op, closed, "return_visit", {"outcome": "dissatisfied", "comment": "没修好 not fixed"})
    assert answer.status_code == 200
    assert reworks(assessment_direct) == reworks(assessment) == before + 1


@pytest.mark.parametrize(("body", "field"), [
    ({"outcome": "meh"}, "outcome"),
    ({}, "outcome"),
    ({"outcome": "dissatisfied"}, "comment"),
    ({"outcome": "dissatisfied", "comment": "   "}, "comment"),
])
def test_a_bad_visit_is_a_400_with_field_messages(closed, body, field):
    answer = post(f.operator(), closed, "return_visit", body)
    assert answer.status_code == 400 and field in answer.json()
    assert not ReturnVisit.objects.filter(incident=closed).exists()
    assert f.reload(closed).state == S.CLOSED


def test_a_visit_on_an_open_incident_is_a_409_and_by_a_non_operator_a_403(closed):
    open_one = f.located("other")
    answer = post(f.operator(), open_one, "return_visit", {"outcome": "satisfied"})
    assert answer.status_code == 409
    leader = f.actor(person=f.team_of(closed.handling_grid).leader)
    assert post(leader, closed, "return_visit", {"outcome": "satisfied"}).status_code == 403
    assert post(f.actor("town_leader"), closed, "return_visit", {"outcome": "satisfied"}).status_code == 403
    assert post(f.actor(), closed, "return_visit", {"outcome": "satisfied"}).status_code == 404  # not visible
    assert not ReturnVisit.objects.exists()


def test_a_visit_on_another_version_is_a_412(closed):
    op = f.operator()
    answer = post(op, closed, "return_visit", {"outcome": "satisfied"}, HTTP_IF_MATCH='"0"')
    assert answer.status_code == 412 and answer.json()["current"]["properties"]["state"] == S.CLOSED
    assert not ReturnVisit.objects.exists()
    current = client_of(op).get(f"/api/incidents/{closed.pk}/")["ETag"]
    assert post(op, closed, "return_visit", {"outcome": "satisfied"}, HTTP_IF_MATCH=current).status_code == 200


def test_the_due_queue_is_the_closed_incidents_without_a_visit_and_pages_by_key(closed):
    op = f.operator()
    other = close(f.located("other"))
    still_open = f.located("other")
    due = due_ids(op)
    assert {closed.pk, other.pk} <= due and still_open.pk not in due
    assert Incident.objects.filter(pk__in=due).exclude(state=S.CLOSED).count() == 0
    first = client_of(op).get(f"/api/incidents/?visit=due&before={other.pk + 1}&page_size=1").json()
    assert [x["id"] for x in first["features"]] == [other.pk] and first["next"]
    assert client_of(op).get("/api/incidents/?visit=soon").status_code == 400


# --- 退单 return to the command centre ------------------------------------------------------------

def test_the_assignee_returns_a_dispatched_incident_to_the_command_centre(settings):
    incident = f.located("other")
    person = incident.assignee
    t0 = timezone.now()
    answer = post(f.actor(person=person), incident, "return_to_centre", {"reason": "不属于本网格 wrong grid"})
    assert answer.status_code == 200, answer.content
    stored = f.reload(incident)
    assert (stored.state, stored.level, stored.assignee_id) == (S.DISPATCHED, Level.TOWN, None)
    assert stored.handle_due_at == incident.handle_due_at  # the handling deadline stands
    assert stored.accept_due_at >= t0 + timedelta(minutes=stored.category.sla_accept_min)
    assert stored.escalate_at == min(stored.accept_due_at, stored.level_due_at)
    active = Assignment.objects.get(incident=incident, active=True)
    assert (active.person_id, active.unit, active.level) == (None, COMMAND_CENTRE, Level.TOWN)
    assert Assignment.objects.get(incident=incident, person=person).active is False
    event = IncidentEvent.objects.filter(incident=incident).latest("id")
    assert (event.action, event.from_state, event.to_state, event.note) == (
        "return_to_centre", S.DISPATCHED, S.DISPATCHED, "不属于本网格 wrong grid")
    assert (event.data["from_level"], event.data["to_level"], event.data["person"]) == (Level.GRID, Level.TOWN, None)
    # the operator then reassigns it, as any other
    op = f.operator()
    assert "reassign" in client_of(op).get(f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"]
    right = f.team_of(f.grid(f.HOME_GRID)).leader
    again = post(op, incident, "reassign", {"person": right.external_id, "reason": "正确网格 right grid"})
    assert again.status_code == 200
    assert Assignment.objects.get(incident=incident, active=True).person_id == right.pk


def test_the_grid_leader_may_return_it_and_the_others_may_not():
    incident = f.located("other")
    team = f.team_of(incident.handling_grid)
    member = next(m.person for m in team.memberships.all()
                  if m.person_id not in {incident.assignee_id, team.leader_id})
    for who in (f.operator(), f.actor(person=member), f.actor(person=f.village_leader(incident))):
        assert post(who, incident, "return_to_centre", {"reason": "x"}).status_code == 403, who.label
    assert post(f.actor(person=team.leader), incident, "return_to_centre", {"reason": "x"}).status_code == 200
    assert f.reload(incident).level == Level.TOWN


def test_returning_is_refused_once_accepted_or_at_the_command_centre_and_needs_a_reason():
    incident = f.located("other")
    assignee = f.actor(person=incident.assignee)
    assert post(assignee, incident, "return_to_centre", {}).status_code == 400
    assert post(assignee, incident, "return_to_centre", {"reason": ""}).status_code == 400
    f.drive(incident, ["accept"], assignee)
    assert post(assignee, incident, "return_to_centre", {"reason": "x"}).status_code == 409
    other = f.located("other")
    leader = f.actor(person=f.team_of(other.handling_grid).leader)
    assert post(leader, other, "return_to_centre", {"reason": "x"}).status_code == 200
    assert post(leader, other, "return_to_centre", {"reason": "x"}).status_code == 409  # already there
    assert IncidentEvent.objects.filter(incident=other, action="return_to_centre").count() == 1


def visible_ids(who: Actor) -> set[int]:
    body = client_of(who).get("/api/incidents/?before=9223372036854775807&page_size=10000").json()
    return {feature["id"] for feature in body["features"]}


def other_team(*, away_from: Incident, people: set[int]) -> GridTeam:
    """Return the team of an active comprehensive grid the incident neither lies in nor is handled by,
    none of whose people are ``people``."""
    return (GridTeam.objects.filter(grid__generation__status="active", grid__kind=Grid.Kind.COMPREHENSIVE)
            .exclude(grid_id__in=[away_from.grid_id, away_from.handling_grid_id])
            .exclude(leader_id__in=people).exclude(memberships__person_id__in=people)
            .select_related("grid", "leader").order_by("grid__code").first())


def test_after_a_return_the_grid_it_is_reassigned_to_handles_it_and_the_wrong_grid_lets_go():
    # sent to the wrong grid: a matter the routing gave to the industrial park's team (a dedicated grid
    # over a comprehensive one), returned by the park's leader, reassigned by the operator elsewhere
    park = f.dedicated_grid("industrial_park")
    incident = f.report("work_safety", at=f.surface_point(park))
    assert incident.handling_grid_id == park.pk and incident.grid_id != park.pk
    wrong_team = f.team_of(park)
    wrong_team.leader = f.new_person(Person.Role.CADRE, "园区网格长")  # the park's own leader, on no other team
    wrong_team.save(update_fields=["leader"])
    wrong = f.actor("grid_leader", person=wrong_team.leader)
    right_team = other_team(away_from=incident, people={wrong.person_id, incident.assignee_id})
    right = f.actor("grid_leader", person=right_team.leader)
    member = right_team.memberships.exclude(person_id=right_team.leader_id).order_by("role", "slot").first().person

    assert post(wrong, incident, "return_to_centre", {"reason": "不属于园区 not the park's"}).status_code == 200
    # returned, not yet given elsewhere: still the park's handling grid (the operator has not decided where
    # it goes), the park's leader still sees it
    returned = f.reload(incident)
    assert (returned.handling_grid_id, returned.level, returned.assignee_id) == (park.pk, Level.TOWN, None)
    assert incident.pk in visible_ids(wrong)
    assert incident.pk not in visible_ids(right)

    op = f.operator()
    answer = post(op, incident, "reassign", {"person": member.external_id, "reason": "属于本网格 right grid"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["properties"]["handling_grid_code"] == right_team.grid.code
    stored = f.reload(incident)
    assert (stored.handling_grid_id, stored.grid_id, stored.assignee_id) == (right_team.grid_id, incident.grid_id,
                                                                             member.pk)
    assert (stored.returns, stored.level) == (1, Level.TOWN)
    assert Assignment.objects.get(incident=incident, active=True).grid_id == right_team.grid_id
    event = IncidentEvent.objects.filter(incident=incident).latest("id")
    assert (event.action, event.data["from_grid"], event.data["to_grid"]) == ("reassign", park.code,
                                                                              right_team.grid.code)
    # the right grid's leader is informed, as at any dispatch
    assert Notification.objects.filter(incident=incident, person=right_team.leader, kind="informed").exists()

    # the wrong grid's leader lets go: not listed, no detail, no action
    assert incident.pk not in visible_ids(wrong)
    assert client_of(wrong).get(f"/api/incidents/{incident.pk}/").status_code == 404
    assert post(wrong, incident, "status_note", {"note": "x"}).status_code == 404
    # the right grid's leader sees it, with the phones of their own team, and may act on it as its leader
    assert incident.pk in visible_ids(right)
    assert client_of(right).get(f"/api/incidents/{incident.pk}/").status_code == 200
    context = client_of(right).get(f"/api/incidents/{incident.pk}/context/").json()
    assert context["team"]["grid_code"] == right_team.grid.code
    assert context["team"]["leader"]["phone"] == right_team.leader.phone
    assert {"reassign", "escalate", "accept"} <= set(context["allowed_actions"])
    assert {c["person_id"] for c in context["reassign_to"]} == {
        right_team.leader.external_id, *right_team.memberships.values_list("person__external_id", flat=True)}
    assert post(right, incident, "reassign", {"person": right_team.leader.external_id,
                                              "reason": "我来办 I take it"}).status_code == 200
    assert f.reload(incident).handling_grid_id == right_team.grid_id  # within the team: the grid stays
    assert "to_grid" not in IncidentEvent.objects.filter(incident=incident).latest("id").data


def test_a_return_reassigned_to_another_grid_leaves_the_located_grid_reading_only():
    # located in grid X and dispatched to X's team, but X's own: returned, then given to grid Y's team.
    # X's people still see it (it lies in their polygon: incidents.selectors.scope_q) but no longer act.
    incident = f.located("other")
    wrong = f.actor("grid_leader", person=f.team_of(incident.handling_grid).leader)
    assert post(wrong, incident, "return_to_centre", {"reason": "不属于本网格 wrong grid"}).status_code == 200
    right_team = other_team(away_from=incident, people={wrong.person_id, incident.assignee_id})
    member = right_team.memberships.exclude(person_id=right_team.leader_id).order_by("role", "slot").first().person
    assert post(f.operator(), incident, "reassign", {"person": member.external_id, "reason": "r"}).status_code == 200
    assert f.reload(incident).handling_grid_id == right_team.grid_id
    assert incident.pk in visible_ids(wrong)
    assert client_of(wrong).get(f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"] == []
    assert post(wrong, incident, "escalate", {"reason": "x"}).status_code == 403
    right = f.actor("grid_leader", person=right_team.leader)
    assert incident.pk in visible_ids(right)
    assert "escalate" in client_of(right).get(f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"]
