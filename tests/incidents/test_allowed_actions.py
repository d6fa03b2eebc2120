"""The actions the server offers (``allowed_actions``, served in /context/) are exactly the actions
its endpoints accept: for every actor, state, level and action, a listed action succeeds and an
unlisted one is refused with TransitionRefused."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import Actor
from dispatch.aftercare import incident_return_visit
from dispatch.services import incident_escalate, incident_hand_back, incident_reassign, incident_return_to_centre
from incidents.actions import incident_merge, incident_relocate, incident_status_note
from incidents.extensions import incident_decide_extension, incident_request_extension
from incidents.lifecycle import incident_transition
from incidents.models import ExtensionRequest, Incident, Level
from incidents.rules import LIFECYCLE_ACTIONS, TransitionRefused
from incidents.selectors import allowed_actions
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
S = Incident.State
ENDPOINT_ACTIONS = [*LIFECYCLE_ACTIONS, "reassign", "escalate", "hand_back", "merge", "relocate", "status_note",
                    "return_to_centre", "request_extension", "decide_extension", "return_visit"]

# (state, level, triaged, flagged as a possible duplicate[, who asked for the extension that is pending])
SITUATIONS = [
    (S.DISPATCHED, Level.GRID, False, False, "team member"),
    (S.IN_PROGRESS, Level.VILLAGE, False, False, "village leader"),  # who may not decide their own
    (S.HANDLED, Level.GRID, False, False, "team member"),
    (S.REPORTED, Level.GRID, True, False),
    (S.REPORTED, Level.GRID, True, True),
    (S.REGISTERED, Level.GRID, False, True),
    (S.DISPATCHED, Level.GRID, False, True),
    (S.DISPATCHED, Level.VILLAGE, False, False),
    (S.IN_PROGRESS, Level.GRID, False, False),
    (S.IN_PROGRESS, Level.TOWN, False, True),
    (S.IN_PROGRESS, Level.BUREAU, False, False),
    (S.HANDLED, Level.VILLAGE, False, False),
    (S.VERIFIED, Level.GRID, False, False),
    (S.CLOSED, Level.GRID, False, False),
    (S.CANCELLED, Level.GRID, False, True),
]


class _Undo(Exception):
    """Raised inside the savepoint of an attempt that succeeded, to undo it."""


def _accepted(action: str, incident: Incident, actor: Actor, *, to_person: str, at: tuple[float, float]) -> bool:
    """Perform ``action`` through the function its endpoint calls; undo it; return whether it was accepted."""
    calls = {
        "reassign": lambda: incident_reassign(incident_id=incident.pk, actor=actor, person_external_id=to_person,
                                              reason="test"),
        "escalate": lambda: incident_escalate(incident_id=incident.pk, actor=actor, reason="test"),
        "hand_back": lambda: incident_hand_back(incident_id=incident.pk, actor=actor, reason="test"),
        "merge": lambda: incident_merge(duplicate_id=incident.pk, into_id=incident.possible_duplicate_of_id,
                                        actor=actor),
        "relocate": lambda: incident_relocate(incident_id=incident.pk, actor=actor, x=at[0], y=at[1]),
        "status_note": lambda: incident_status_note(incident_id=incident.pk, actor=actor, note="test"),
        "return_to_centre": lambda: incident_return_to_centre(incident_id=incident.pk, actor=actor, reason="test"),
        "request_extension": lambda: incident_request_extension(
            incident_id=incident.pk, actor=actor, reason="test",
            requested_due=(incident.handle_due_at or timezone.now()) + timedelta(hours=1)),
        "decide_extension": lambda: incident_decide_extension(incident_id=incident.pk, actor=actor, approve=True),
        "return_visit": lambda: incident_return_visit(incident_id=incident.pk, actor=actor, outcome="satisfied"),
    }
    if action == "merge" and incident.possible_duplicate_of_id is None:
        return False  # the pages merge into the flagged incident only
    call = calls.get(action) or (lambda: incident_transition(incident_id=incident.pk, action=action, actor=actor))
    try:
        with transaction.atomic():
            call()
            raise _Undo
    except _Undo:
        return True
    except TransitionRefused:
        return False


@pytest.fixture
def scene():
    incident = f.located("other")
    earlier = f.located("other")
    triaged = f.report("other", address="查无此地 nowhere at all")
    assert triaged.triage == Incident.Triage.UNRESOLVED_ADDRESS and triaged.state == S.REPORTED
    team = f.team_of(incident.handling_grid)
    member = team.memberships.get(role="police", slot="A").person
    actors = {
        "operator": f.operator(),
        "grid leader": f.actor(person=team.leader),
        "team member": f.actor(person=member),
        "assignee": f.actor(person=incident.assignee),
        "village leader": f.actor(person=f.village_leader(incident)),
        "unrelated grid leader": f.actor(person=f.unrelated_leader(incident)),
        "planner": f.actor("planner"),
        "integration client": f.actor("integration"),
        "user with no role": f.actor(),
    }
    return incident, earlier, triaged, team, actors


def _put(scene, state, level, triaged, flagged, pending: str = "") -> Incident:
    """Return the scene's triaged or located incident, moved to the situation."""
    incident, earlier, in_triage, _, actors = scene
    chosen = in_triage if triaged else incident
    f.set_state(chosen, state, level=level, possible_duplicate_of=earlier if flagged else None)
    ExtensionRequest.objects.filter(incident=chosen, state="pending").update(state="refused", decided_at=timezone.now())
    if pending:
        asker = actors[pending]
        ExtensionRequest.objects.create(
            incident=chosen, requested_by=asker.user, requested_by_label=asker.label, requested_at=timezone.now(),
            reason="test", previous_due=chosen.handle_due_at, requested_due=chosen.handle_due_at + timedelta(days=1))
    return f.reload(chosen)


@pytest.mark.parametrize("situation", SITUATIONS)
def test_listed_exactly_when_the_endpoint_accepts(scene, situation):
    _, _, _, team, actors = scene
    state, level = situation[:2]
    incident = _put(scene, *situation)
    at = f.interior_point(team.grid)
    seen_listed = set()
    for name, actor in actors.items():
        listed = allowed_actions(incident, actor)
        assert set(listed) <= set(ENDPOINT_ACTIONS)
        assert listed == [a for a in ENDPOINT_ACTIONS if a in listed], "in the pages' order"
        accepted = [a for a in ENDPOINT_ACTIONS
                    if _accepted(a, incident, actor, to_person=team.leader.external_id, at=at)]
        assert listed == accepted, f"{name} on a {state} incident at level {level}"
        seen_listed |= set(listed)
    assert f.reload(incident).state == state  # every accepted attempt was undone
    if not situation[3]:
        assert "merge" not in seen_listed


def test_the_matrix_covers_every_action_both_ways(scene):
    """Each endpoint action is listed for someone somewhere, and refused to someone somewhere."""
    actors = scene[4]
    listed, refused = set(), set()
    for situation in SITUATIONS:
        current = _put(scene, *situation)
        for actor in actors.values():
            allowed = set(allowed_actions(current, actor))
            listed |= allowed
            refused |= set(ENDPOINT_ACTIONS) - allowed
    assert listed == set(ENDPOINT_ACTIONS) == refused


def test_context_serves_them_and_a_grid_leader_may_reassign(scene):
    incident, actors = scene[0], scene[4]
    leader = actors["grid leader"]
    client = APIClient()
    client.force_authenticate(leader.user)
    body = client.get(f"/api/incidents/{incident.pk}/context/").json()
    assert body["allowed_actions"] == allowed_actions(incident, leader)
    assert "reassign" in body["allowed_actions"] and "relocate" not in body["allowed_actions"]
    client.force_authenticate(actors["operator"].user)
    assert client.get(f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"] == [
        "accept", "cancel", "reassign", "escalate", "status_note"]


def test_merge_is_not_offered_into_a_cancelled_incident(scene):
    incident, earlier, _, _, actors = scene
    f.set_state(incident, S.DISPATCHED, possible_duplicate_of=earlier)
    incident, operator = f.reload(incident), actors["operator"]
    assert "merge" in allowed_actions(incident, operator)
    f.set_state(earlier, S.CANCELLED)
    assert "merge" not in allowed_actions(incident, operator)
    assert not _accepted("merge", incident, operator, to_person="", at=(0, 0))
