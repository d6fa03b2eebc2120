"""WSGI entry point (the platform normally runs under ASGI)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
application = get_wsgi_application()
