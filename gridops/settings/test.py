"""Tests (`make test`, DJANGO_ENV=test): the project-local PostGIS cluster (or DATABASE_URL), fast hashing."""
import os

from .base import *  # noqa: F403

ENVIRONMENT = "test"
DEBUG = False
SECRET_KEY = SECRET_KEY or "insecure-test-key-change-me"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# One test database per test process, so concurrent runs (several shells, CI) never drop each
# other's database; GRIDOPS_TEST_DB names it explicitly.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("GRIDOPS_TEST_DB") or f"test_gridops_{os.getpid()}"}  # noqa: F405
