"""Routing of new incidents (dispatch.routing) and the dispatch actions (dispatch.services):
A/B posts, the load limit, the grid leader as last resort and always informed, severity levels,
reassign / escalate / hand back with their roles, one active assignment, events."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from dispatch.models import Assignment, Notification
from dispatch.routing import COMMAND_CENTRE
from dispatch.services import incident_escalate, incident_hand_back, incident_reassign
from grids.models import TeamMembership
from incidents.models import Incident, IncidentEvent, Level, Severity
from incidents.rules import TransitionRefused
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
GW = "grid_worker"  # the responsible role of category 'other'


@pytest.fixture
def home():
    return f.grid()


@pytest.fixture
def team(home):
    """The A and B grid workers and the leader of the home grid's team."""
    return {"A": f.holder(home, GW, "A"), "B": f.holder(home, GW, "B"), "leader": f.team_of(home).leader}


def off_duty(home, *slots: str) -> None:
    TeamMembership.objects.filter(team__grid=home, role=GW, slot__in=slots).update(on_duty=False)


def notices(incident: Incident) -> set[tuple[int, str]]:
    return set(Notification.objects.filter(incident=incident).values_list("person_id", "kind"))


def active(incident: Incident) -> Assignment:
    return Assignment.objects.get(incident=incident, active=True)


def test_a_holder_on_duty_below_the_limit(home, team):
    incident = f.located("other")
    assert incident.assignee == team["A"]
    post = active(incident)
    assert (post.level, post.grid, post.person, post.role, post.slot) == (Level.GRID, home, team["A"], GW, "A")
    assert "A holder" in post.reason
    assert notices(incident) == {(team["A"].pk, "assigned"), (team["leader"].pk, "informed")}
    event = IncidentEvent.objects.get(incident=incident, action="dispatch")
    assert event.data == {"level": Level.GRID, "person": team["A"].external_id, "role": GW, "slot": "A", "unit": ""}
    assert "A holder" in event.note


def test_a_off_duty_goes_to_b(home, team):
    off_duty(home, "A")
    incident = f.located("other")
    assert (incident.assignee, active(incident).slot) == (team["B"], "B")
    assert notices(incident) == {(team["B"].pk, "assigned"), (team["leader"].pk, "informed")}


def test_a_at_the_limit_goes_to_b_then_to_whoever_carries_fewer(settings, team):
    settings.DISPATCH_MAX_OPEN_PER_PERSON = 1
    got = [f.located("other").assignee for _ in range(4)]
    # A takes one, B the next (A at the limit), then both are at the limit: fewer open wins, A on a tie
    assert got == [team["A"], team["B"], team["A"], team["B"]]
    op = f.operator()
    for incident in Incident.objects.filter(assignee=team["A"]):
        f.drive(incident, ["accept", "report_handled"], op)  # handled: no longer counts as open
    assert f.located("other").assignee == team["A"]


def test_the_limit_counts_within_one_batch(settings, team):
    settings.DISPATCH_MAX_OPEN_PER_PERSON = 1
    at = f.interior_point(f.grid())
    outcomes = f.report_many([f.item("other", at=at), f.item("other", at=at)])
    assert [o.incident.assignee for o in outcomes] == [team["A"], team["B"]]


def test_both_off_duty_goes_to_the_grid_leader(home, team):
    off_duty(home, "A", "B")
    incident = f.located("other")
    assert incident.assignee == team["leader"]
    assert (active(incident).role, active(incident).level) == ("leader", Level.GRID)
    assert notices(incident) == {(team["leader"].pk, "assigned")}  # not also 'informed'


def test_major_starts_at_the_village(team):
    incident = f.located("other", severity=Severity.MAJOR)
    leader = f.village_leader(incident)
    assert (incident.level, incident.assignee) == (Level.VILLAGE, leader)
    post = active(incident)
    assert (post.level, post.person, post.role, post.unit) == (Level.VILLAGE, leader, "town_leader", "村居 village")
    assert notices(incident) == {(leader.pk, "assigned"), (team["leader"].pk, "informed")}
    assert incident.state == Incident.State.DISPATCHED and incident.escalate_at is not None


def test_critical_starts_at_the_town(team):
    incident = f.located("other", severity=Severity.CRITICAL)
    assert (incident.level, incident.assignee) == (Level.TOWN, None)
    post = active(incident)
    assert (post.level, post.person, post.unit) == (Level.TOWN, None, COMMAND_CENTRE)
    assert notices(incident) == {(team["leader"].pk, "informed")}


# --- reassign ---------------------------------------------------------------------------------

def test_reassign_by_operator_and_grid_leader(team):
    incident = f.located("other")
    op = f.operator()
    first = active(incident)
    incident_reassign(incident_id=incident.pk, actor=op, person_external_id=team["B"].external_id, reason="A 休假")
    stored = f.reload(incident)
    assert (stored.assignee, stored.level, stored.state) == (team["B"], Level.GRID, Incident.State.DISPATCHED)
    first.refresh_from_db()
    assert not first.active and first.ended_at is not None
    assert (active(stored).person, active(stored).level) == (team["B"], Level.GRID)
    event = IncidentEvent.objects.filter(incident=stored).latest("id")
    assert (event.action, event.note, event.actor, event.from_state, event.to_state) == (
        "reassign", "A 休假", op.user, "dispatched", "dispatched")
    assert event.data["person"] == team["B"].external_id
    assert (team["B"].pk, "assigned") in notices(stored)
    leader = f.actor(person=team["leader"])
    incident_reassign(incident_id=incident.pk, actor=leader, person_external_id=team["A"].external_id, reason="回来了")
    assert f.reload(incident).assignee == team["A"]
    assert Assignment.objects.filter(incident=incident).count() == 3
    assert Assignment.objects.filter(incident=incident, active=True).count() == 1


def test_reassign_refused(home, team):
    incident = f.located("other")
    target = team["B"].external_id
    for who in (f.actor(person=f.holder(home, "police", "A")), f.actor(person=team["A"]),
                f.actor(person=f.village_leader(incident)), Actor.system()):
        with pytest.raises(TransitionRefused) as caught:
            incident_reassign(incident_id=incident.pk, actor=who, person_external_id=target, reason="x")
        assert caught.value.reason == "role", who.label
    with pytest.raises(ValueError):
        incident_reassign(incident_id=incident.pk, actor=f.operator(), person_external_id="NOBODY", reason="x")
    f.drive(incident, ["accept", "report_handled"], f.operator())
    with pytest.raises(TransitionRefused) as caught:
        incident_reassign(incident_id=incident.pk, actor=f.operator(), person_external_id=target, reason="x")
    assert caught.value.reason == "state"
    assert f.reload(incident).assignee == team["A"]
    assert "reassign" not in f.actions_of(incident)


# --- escalate and hand back -----------------------------------------------------------------------

def test_escalate_one_level_at_a_time_up_to_the_bureau():
    incident = f.located("other")
    category = incident.category
    op = f.operator()
    expected = [(Level.VILLAGE, f.village_leader(incident), "村居 village"), (Level.TOWN, None, COMMAND_CENTRE),
                (Level.BUREAU, None, category.bureau)]
    for n, (level, person, unit) in enumerate(expected, start=1):
        before = timezone.now()
        incident_escalate(incident_id=incident.pk, actor=op, reason=f"step {n}")
        stored = f.reload(incident)
        assert (stored.level, stored.assignee, stored.escalations) == (level, person, n)
        assert (active(stored).level, active(stored).person, active(stored).unit) == (level, person, unit)
        if level < Level.BUREAU:
            assert before + timedelta(minutes=category.sla_handle_min) <= stored.escalate_at
            assert stored.escalate_at <= timezone.now() + timedelta(minutes=category.sla_handle_min)
        else:
            assert stored.escalate_at is None
        event = IncidentEvent.objects.filter(incident=stored).latest("id")
        assert (event.action, event.note, event.level) == ("escalate", f"step {n}", level)
        assert (event.data["from_level"], event.data["to_level"]) == (level - 1, level)
    assert Notification.objects.filter(incident=incident, kind="escalated").get().person == expected[0][1]
    assert Assignment.objects.filter(incident=incident).count() == 4
    assert Assignment.objects.filter(incident=incident, active=True).count() == 1
    with pytest.raises(TransitionRefused) as caught:
        incident_escalate(incident_id=incident.pk, actor=op, reason="higher still")
    assert caught.value.reason == "state"
    assert f.actions_of(incident).count("escalate") == 3


def test_escalate_roles(home, team):
    incident = f.located("other")
    allowed = [f.actor(person=team["A"]), f.actor(person=team["leader"]), Actor.system()]
    for who in allowed:  # assignee, grid leader, system (village leader: below, after the first)
        Incident.objects.filter(pk=incident.pk).update(level=Level.GRID, assignee=team["A"])
        incident_escalate(incident_id=incident.pk, actor=who, reason="overdue")
        assert f.reload(incident).level == Level.VILLAGE, who.label
    incident_escalate(incident_id=incident.pk, actor=f.actor(person=f.village_leader(incident)), reason="too big")
    assert f.reload(incident).level == Level.TOWN
    done = f.actions_of(incident).count("escalate")
    for who in (f.actor(person=f.holder(home, "police", "A")), f.actor(person=f.unrelated_leader(incident))):
        with pytest.raises(TransitionRefused) as caught:
            incident_escalate(incident_id=incident.pk, actor=who, reason="x")
        assert caught.value.reason == "role", who.label
    f.drive(incident, ["accept", "report_handled"], f.operator())
    with pytest.raises(TransitionRefused) as caught:
        incident_escalate(incident_id=incident.pk, actor=f.operator(), reason="x")
    assert caught.value.reason == "state"
    assert f.actions_of(incident).count("escalate") == done == 4


def test_hand_back_to_the_grid(team):
    incident = f.located("other")
    incident_escalate(incident_id=incident.pk, actor=f.operator(), reason="looks big")
    village = f.actor(person=f.village_leader(incident))
    with pytest.raises(TransitionRefused) as caught:
        incident_hand_back(incident_id=incident.pk, actor=f.actor(person=team["leader"]), reason="x")
    assert caught.value.reason == "role"
    incident_hand_back(incident_id=incident.pk, actor=village, reason="网格可以处理")
    stored = f.reload(incident)
    assert (stored.level, stored.assignee) == (Level.GRID, team["A"])
    assert (active(stored).level, active(stored).slot) == (Level.GRID, "A")
    event = IncidentEvent.objects.filter(incident=stored).latest("id")
    assert (event.action, event.note, event.actor, event.data["from_level"], event.data["to_level"]) == (
        "hand_back", "网格可以处理", village.user, Level.VILLAGE, Level.GRID)
    with pytest.raises(TransitionRefused) as caught:
        incident_hand_back(incident_id=incident.pk, actor=f.operator(), reason="lower still")
    assert caught.value.reason == "state"
    assert Assignment.objects.filter(incident=incident, active=True).count() == 1


def test_one_active_assignment_is_a_database_rule():
    incident = f.located("other")
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(incident=incident, level=Level.GRID, reason="second", assigned_at=timezone.now())
    Assignment.objects.filter(incident=incident).update(active=False)
    Assignment.objects.create(incident=incident, level=Level.GRID, reason="again", assigned_at=timezone.now())
    assert Assignment.objects.filter(incident=incident, active=True).count() == 1


def test_loads_are_counted_up_to_the_cap(settings, team, monkeypatch):
    """Past the cap two holders count as equal (A chosen); below it the one with fewer wins."""
    from dispatch import selectors

    settings.DISPATCH_MAX_OPEN_PER_PERSON = 1
    monkeypatch.setattr(selectors, "load_cap", lambda: 3)
    got = [f.located("other").assignee for _ in range(6)]  # A, B, A, B, A, B: then A 3 and B 3 open
    assert got == [team["A"], team["B"]] * 3
    extra = f.located("other")  # both counted 3 (the cap): a tie, A
    assert extra.assignee == team["A"]  # A now holds 4, still counted 3
    assert f.located("other").assignee == team["A"]  # B's 3 is no fewer than A's capped 3
    monkeypatch.setattr(selectors, "load_cap", lambda: 100)
    assert f.located("other").assignee == team["B"]  # counted exactly again: B (3) carries fewer than A (5)
