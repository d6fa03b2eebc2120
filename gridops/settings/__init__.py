"""Settings by environment, chosen by one variable: DJANGO_ENV.

    DJANGO_ENV=production   gridops.settings.prod  (the default: manage.py, ASGI, WSGI and Celery)
    DJANGO_ENV=development  gridops.settings.dev   (`make run`, scripts/run.sh)
    DJANGO_ENV=test         gridops.settings.test  (`make test`, pytest)

Django's own DJANGO_SETTINGS_MODULE, when set, still wins (pytest-django, tools that set it); without
it, an entry point that forgot to say which environment it is gets production, where a missing secret
stops start-up instead of running with a known key and DEBUG on.
"""
from __future__ import annotations

import os

ENVIRONMENTS = {
    "production": "gridops.settings.prod",
    "development": "gridops.settings.dev",
    "test": "gridops.settings.test",
}
DEFAULT_ENVIRONMENT = "production"


def settings_module(environ=os.environ) -> str:
    """Return the settings module that DJANGO_SETTINGS_MODULE, else DJANGO_ENV (default production), names."""
    explicit = environ.get("DJANGO_SETTINGS_MODULE")
    if explicit:
        return explicit
    name = (environ.get("DJANGO_ENV") or DEFAULT_ENVIRONMENT).strip().lower()
    if name not in ENVIRONMENTS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"DJANGO_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}")
    return ENVIRONMENTS[name]


def use_environment() -> str:
    """Set DJANGO_SETTINGS_MODULE for this process (and the processes it starts); return it."""
    module = settings_module()
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    return module
