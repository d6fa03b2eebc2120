"""Background work: the SLA sweep (safe to run twice, safe to kill; the database holds the truth)."""
from __future__ import annotations

from celery import shared_task

from dispatch.services import sweep_overdue


@shared_task(name="dispatch.sweep_overdue", acks_late=True, reject_on_worker_lost=True)
def sweep_overdue_task(limit: int = 500) -> int:
    """Escalate overdue incidents one level; return how many were escalated."""
    return sweep_overdue(limit=limit)


@shared_task(name="dispatch.deliver_outbox", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_outbox_task() -> dict[str, int]:
    """Send the outbox's due messages to the source systems' webhooks (dispatch.outbox)."""
    from dispatch.outbox import deliver_due

    return deliver_due()


@shared_task(name="dispatch.send_sms", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_sms_task() -> dict[str, int]:
    """Send the due text messages to the people dispatched (dispatch.sms)."""
    from dispatch.sms import send_due

    return send_due()
