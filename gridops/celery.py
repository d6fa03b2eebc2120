"""The Celery app: a worker runs the SLA sweep (beat schedules it every minute)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")

app = Celery("gridops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
