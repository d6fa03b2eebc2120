"""Background work: the SLA sweep (safe to run twice, safe to kill; the database holds the truth)."""
from __future__ import annotations

import os
import time

from celery import shared_task

from dispatch.services import sweep_overdue


@shared_task(name="dispatch.sweep_overdue", acks_late=True, reject_on_worker_lost=True)
def sweep_overdue_task(limit: int = 500) -> int:
    """Escalate overdue incidents one level; return how many were escalated."""
    delay = float(os.environ.get("GRIDOPS_SWEEP_ITEM_DELAY_S", "0"))  # tests: widen the kill window
    return sweep_overdue(limit=limit, on_each=(lambda _id: time.sleep(delay)) if delay else None)
