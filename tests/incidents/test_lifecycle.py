"""The incident state machine (incidents.lifecycle): every transition allowed and refused, the event
each one writes, the clocks it sets, the append-only event table and conflicting concurrent actions."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.actors import Actor, Role
from incidents import lifecycle
from incidents.lifecycle import incident_transition
from incidents.models import Incident, IncidentEvent, Level
from incidents.rules import STATES, TRANSITIONS, TransitionRefused
from incidents.selectors import roles_on
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
S = Incident.State


@dataclass
class Cast:
    """A dispatched incident and one actor per role, each holding exactly that role towards it."""

    incident: Incident
    by_role: dict[Role, Actor]
    others: dict[str, Actor]  # actors holding no role that any transition accepts

    def refused_for(self, allowed: frozenset[Role]) -> dict[str, Actor]:
        refused = {role.value: a for role, a in self.by_role.items() if role not in allowed}
        return {**refused, **self.others}


@pytest.fixture
def cast() -> Cast:
    incident = f.located("other", source="patrol")  # found on patrol: self_handle's guard holds
    team = f.team_of(incident.handling_grid)
    team.leader = f.new_person(f.Person.Role.CADRE, "网格长")  # a leader with no member post
    team.save()
    outsider_assignee = f.new_person(name="承办人")  # assignee with no post in the team
    Incident.objects.filter(pk=incident.pk).update(assignee=outsider_assignee)
    incident = f.reload(incident)
    by_role = {
        Role.SYSTEM: Actor.system(),
        Role.OPERATOR: f.operator(),
        Role.GRID_LEADER: f.actor(person=team.leader),
        Role.GRID_MEMBER: f.actor(person=team.memberships.get(role="police", slot="A").person),
        Role.ASSIGNEE: f.actor(person=outsider_assignee),
        Role.VILLAGE_LEADER: f.actor(person=f.village_leader(incident)),
    }
    others = {
        "unrelated grid leader": f.actor(person=f.unrelated_leader(incident)),
        "planner": f.actor("planner"),
        "town leader (group)": f.actor("town_leader"),
        "integration client": f.actor("integration"),
        "user with no role": f.actor(),
        "anonymous": Actor(user=None, label="anonymous"),
    }
    for role, a in by_role.items():
        assert roles_on(a, incident) == {role}, role
    for name, a in others.items():
        assert not roles_on(a, incident) & {r for t in TRANSITIONS.values() for r in t.roles}, name
    return Cast(incident, by_role, others)


def last_event_id(incident: Incident) -> int:
    return IncidentEvent.objects.filter(incident=incident).order_by("-id").values_list("id", flat=True).first() or 0


ALLOWED = [(t.name, s) for t in TRANSITIONS.values() for s in sorted(t.sources)]


@pytest.mark.parametrize(("action", "source"), ALLOWED, ids=[f"{a}-from-{s}" for a, s in ALLOWED])
def test_allowed_from_each_source_by_each_allowed_role(cast, action, source):
    transition = TRANSITIONS[action]
    for role in sorted(transition.roles):
        who = cast.by_role[role]
        f.set_state(cast.incident, source)
        since = last_event_id(cast.incident)
        before = timezone.now()
        done = incident_transition(incident_id=cast.incident.pk, action=action, actor=who, note=f"by {role}")
        after = timezone.now()
        stored = f.reload(cast.incident)
        assert done.state == stored.state == transition.target, role
        new = list(IncidentEvent.objects.filter(incident=cast.incident, id__gt=since))
        assert len(new) == 1, role
        event = new[0]
        assert (event.action, event.from_state, event.to_state) == (action, source, transition.target), role
        assert (event.level, event.note) == (stored.level, f"by {role}"), role
        assert (event.actor, event.actor_label) == (who.user, who.label), role
        assert before <= event.created_at <= after, role


@pytest.mark.parametrize(("action", "source"), ALLOWED, ids=[f"{a}-from-{s}" for a, s in ALLOWED])
def test_refused_to_every_other_role(cast, action, source):
    f.set_state(cast.incident, source)
    since = last_event_id(cast.incident)
    refused = cast.refused_for(TRANSITIONS[action].roles)
    assert refused
    for name, who in refused.items():
        with pytest.raises(TransitionRefused) as caught:
            incident_transition(incident_id=cast.incident.pk, action=action, actor=who)
        assert caught.value.reason == "role", name
    assert f.reload(cast.incident).state == source
    assert last_event_id(cast.incident) == since


@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_refused_from_every_other_state(cast, action):
    transition = TRANSITIONS[action]
    # the operator may do nearly everything (the finder alone fixes on the spot): so only the state refuses
    allowed = Role.OPERATOR if Role.OPERATOR in transition.roles else sorted(transition.roles)[0]
    since = last_event_id(cast.incident)
    for state in sorted(set(STATES) - transition.sources):
        f.set_state(cast.incident, state)
        for who in (cast.by_role[allowed], cast.others["unrelated grid leader"]):
            with pytest.raises(TransitionRefused) as caught:
                incident_transition(incident_id=cast.incident.pk, action=action, actor=who)
            assert caught.value.reason == "state", (state, who.label)
        assert f.reload(cast.incident).state == state
    assert last_event_id(cast.incident) == since


def test_unknown_action_is_refused(cast):
    with pytest.raises(TransitionRefused) as caught:
        incident_transition(incident_id=cast.incident.pk, action="teleport", actor=cast.by_role[Role.OPERATOR])
    assert caught.value.reason == "state"


def test_full_loop_with_reworks_sets_every_clock():
    """Intake, then the real team: assignee accepts and reports, leaders rework and verify, operator closes."""
    t0 = timezone.now().replace(microsecond=0)
    incident = f.report("illegal_construction", at=f.interior_point(f.grid()), now=t0)
    sla = incident.category
    assert (incident.state, incident.level) == (S.DISPATCHED, Level.GRID)
    assert incident.created_at == incident.registered_at == incident.dispatched_at == t0
    assert incident.handle_due_at == t0 + timedelta(minutes=sla.sla_handle_min)
    assert incident.accept_due_at == t0 + timedelta(minutes=sla.sla_accept_min)
    assert incident.escalate_at == incident.accept_due_at < incident.handle_due_at

    assignee = f.actor(person=incident.assignee)
    leader = f.actor(person=f.team_of(incident.handling_grid).leader)
    village = f.actor(person=f.village_leader(incident))
    op = f.operator()
    steps = [("accept", assignee), ("report_handled", assignee), ("rework", leader),
             ("report_handled", assignee), ("rework", village), ("report_handled", assignee),
             ("verify", leader), ("close", op)]
    escalate_after = {"accept": incident.handle_due_at, "report_handled": None, "rework": incident.handle_due_at,
                      "verify": None, "close": None}
    stamp = {"accept": "accepted_at", "report_handled": "handled_at", "verify": "verified_at", "close": "closed_at"}
    reworks = 0
    for action, who in steps:
        before = timezone.now()
        incident = f.drive(incident, [action], who)
        reworks += action == "rework"
        assert incident.escalate_at == escalate_after[action], action
        assert incident.reworks == reworks
        if action in stamp:
            assert before <= getattr(incident, stamp[action]) <= timezone.now(), action
    assert incident.state == S.CLOSED
    assert incident.handle_due_at == t0 + timedelta(minutes=sla.sla_handle_min)  # never moved
    events = list(IncidentEvent.objects.filter(incident=incident).order_by("id"))
    assert [e.action for e in events] == ["report", "register", "dispatch", *[a for a, _ in steps]]
    expected, state = [], S.DISPATCHED
    for action, _ in steps:
        expected.append((state, TRANSITIONS[action].target))
        state = TRANSITIONS[action].target
    assert [(e.from_state, e.to_state) for e in events[3:]] == expected
    assert [e.actor_label for e in events[3:]] == [who.label for _, who in steps]


def test_register_and_dispatch_by_operator_start_the_clocks():
    incident = f.report("straw_burning")  # no location: stays reported, in triage
    assert (incident.state, incident.triage) == (S.REPORTED, Incident.Triage.NO_LOCATION)
    assert incident.registered_at is incident.handle_due_at is incident.escalate_at is None
    op = f.operator()
    incident = f.drive(incident, ["register"], op)
    sla = incident.category
    assert incident.state == S.REGISTERED
    assert incident.handle_due_at == incident.registered_at + timedelta(minutes=sla.sla_handle_min)
    assert incident.escalate_at == incident.handle_due_at and incident.accept_due_at is None
    incident = f.drive(incident, ["dispatch"], op)
    assert incident.accept_due_at == incident.dispatched_at + timedelta(minutes=sla.sla_accept_min)
    assert incident.escalate_at == incident.accept_due_at  # 10 min to accept < 120 min to handle
    assert f.actions_of(incident) == ["report", "register", "dispatch"]


def test_no_escalation_clock_at_bureau_level(cast):
    Incident.objects.filter(pk=cast.incident.pk).update(level=Level.BUREAU)
    incident = f.drive(cast.incident, ["accept"], cast.by_role[Role.OPERATOR])
    assert incident.state == S.IN_PROGRESS and incident.escalate_at is None
    assert IncidentEvent.objects.filter(incident=incident).latest("id").level == Level.BUREAU


@pytest.mark.parametrize("action", ["cancel", "mark_duplicate", "out_of_jurisdiction"])
def test_ending_early_stops_the_clock(action):
    incident = f.report("other")
    incident = f.drive(incident, ["register"], f.operator())
    assert incident.escalate_at is not None
    incident = f.drive(incident, [action], f.operator())
    assert incident.state == TRANSITIONS[action].target and incident.escalate_at is None


# --- the event table is append-only ----------------------------------------------------------

@pytest.fixture
def event():
    incident = f.located("other")
    return IncidentEvent.objects.filter(incident=incident).order_by("id").first()


def test_event_save_and_delete_refused(event):
    event.note = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert IncidentEvent.objects.get(pk=event.pk).note == ""


def test_event_queryset_update_delete_and_bulk_update_refused(event):
    qs = IncidentEvent.objects.filter(pk=event.pk)
    with pytest.raises(PermissionError):
        qs.update(note="rewritten")
    with pytest.raises(PermissionError):
        qs.delete()
    event.note = "rewritten"
    with pytest.raises(PermissionError), transaction.atomic():  # bulk_update breaks the enclosing atomic
        IncidentEvent.objects.bulk_update([event], ["note"])
    assert IncidentEvent.objects.get(pk=event.pk).note == ""


@pytest.mark.parametrize("sql", [
    "UPDATE incidents_incidentevent SET note = 'rewritten' WHERE id = %s",
    "DELETE FROM incidents_incidentevent WHERE id = %s",
])
def test_raw_sql_refused_by_the_database_trigger(event, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])
    stored = IncidentEvent.objects.get(pk=event.pk)
    assert (stored.note, stored.action) == ("", "report")


# --- conflicting actions at the same moment ---------------------------------------------------

def race(monkeypatch, calls: list) -> list:
    """Run the calls in threads started together; return each one's result or exception.

    The transition itself is slowed (after the row lock is taken) so both threads are inside the
    service at once: without the lock both would read 'dispatched' and both would succeed.
    """
    real = lifecycle.apply_transition

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "apply_transition", slow)
    start = threading.Barrier(len(calls), timeout=30)
    results: list = [None] * len(calls)

    def run(n: int, call) -> None:
        try:
            start.wait()
            results[n] = call()
        except Exception as exc:  # noqa: BLE001 - the result under test
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


def transition_call(incident: Incident, action: str, who: Actor):
    return lambda: incident_transition(incident_id=incident.pk, action=action, actor=who)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actions", [("accept", "accept"), ("cancel", "mark_duplicate")])
def test_conflicting_actions_one_wins(demo_data, monkeypatch, settings, actions):
    settings.LIVE_PUSH_IN_BACKGROUND = False  # the pool thread would keep a DB connection past the test
    incident = f.located("other")
    before = IncidentEvent.objects.filter(incident=incident).count()
    people = [f.actor(person=incident.assignee), f.actor(person=f.team_of(incident.handling_grid).leader)]
    if actions[0] == "cancel":
        people = [f.operator(), f.operator()]
    results = race(monkeypatch, [transition_call(incident, a, p) for a, p in zip(actions, people, strict=True)])
    won = [r for r in results if isinstance(r, Incident)]
    lost = [r for r in results if isinstance(r, TransitionRefused)]
    assert (len(won), len(lost)) == (1, 1), results
    assert lost[0].reason == "state"
    stored = f.reload(incident)
    assert stored.state == won[0].state
    new = IncidentEvent.objects.filter(incident=incident).order_by("id")[before:]
    assert [(e.from_state, e.to_state) for e in new] == [(S.DISPATCHED, stored.state)]


@pytest.mark.django_db(transaction=True)
def test_actions_on_different_incidents_of_one_category_do_not_wait(demo_data, settings):
    """The row lock is the incident's only: not its category's, which every incident of the kind shares."""
    settings.LIVE_PUSH_IN_BACKGROUND = False  # the pool thread would keep a DB connection past the test
    held, other = f.located("other"), f.located("other")
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lifecycle.locked(held.pk)
                taken.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")  # fail rather than wait for the other row
            incident_transition(incident_id=other.pk, action="accept", actor=f.operator())
    finally:
        release.set()
        holder.join(30)
    assert f.reload(other).state == S.IN_PROGRESS
    assert f.reload(held).state == S.DISPATCHED
