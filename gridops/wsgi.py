"""WSGI entry point (the platform normally runs under ASGI)."""
from django.core.wsgi import get_wsgi_application

from gridops.settings import use_environment

use_environment()  # DJANGO_ENV, default production (gridops/settings/__init__.py)
application = get_wsgi_application()
