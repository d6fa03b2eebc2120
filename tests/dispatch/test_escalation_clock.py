"""An escalation starts a fresh handling period at the new level: later lifecycle steps (accept,
rework) recompute the next escalation from that period, never from the missed original deadline."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.services import sweep_overdue
from incidents.models import Incident, Level
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def test_rework_after_an_escalation_does_not_escalate_again_at_once():
    incident = f.located("other")
    late = timezone.now() - timedelta(hours=1)
    Incident.objects.filter(pk=incident.pk).update(handle_due_at=late, level_due_at=late, escalate_at=late)
    assert sweep_overdue() == 1
    escalated = f.reload(incident)
    assert escalated.level == Level.VILLAGE
    assert escalated.level_due_at > timezone.now() and escalated.handle_due_at == late  # figures keep the SLA
    f.drive(escalated, ["accept", "report_handled", "rework"], f.operator())
    reworked = f.reload(incident)
    assert reworked.state == "in_progress" and reworked.escalate_at == reworked.level_due_at
    assert sweep_overdue() == 0
    assert f.reload(incident).escalations == 1
    assert sweep_overdue(now=reworked.level_due_at + timedelta(seconds=1)) == 1
    assert f.reload(incident).level == Level.TOWN


def test_registration_sets_both_clocks_from_the_category():
    incident = f.located("straw_burning")
    assert incident.level_due_at == incident.handle_due_at
    assert incident.handle_due_at - incident.registered_at == timedelta(minutes=incident.category.sla_handle_min)
    assert incident.escalate_at == incident.accept_due_at  # dispatched: the acceptance clock runs first
