"""The Celery app: a worker runs the SLA sweep (beat schedules it every minute)."""
from celery import Celery

from gridops.settings import use_environment

use_environment()  # DJANGO_ENV, default production (gridops/settings/__init__.py)

app = Celery("gridops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
