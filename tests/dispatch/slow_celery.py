"""The Celery app for the test of a worker killed in the middle of a sweep: the platform's own app,
with a pause between two escalations of a sweep (after one commits, before the next starts) so the
test can kill the worker between them. ``celery -A tests.dispatch.slow_celery worker``."""
from __future__ import annotations

import os
import time

from celery.signals import worker_init

from gridops.celery import app

__all__ = ["app"]
PAUSE_S = float(os.environ.get("SWEEP_PAUSE_S", "0.5"))


@worker_init.connect
def _pause_between_escalations(**_kwargs) -> None:
    import django

    django.setup()
    from dispatch import services

    overdue_ids = services.overdue_ids

    def slowly(now, limit=500):
        for n, incident_id in enumerate(overdue_ids(now, limit)):
            if n:
                time.sleep(PAUSE_S)
            yield incident_id

    services.overdue_ids = slowly
