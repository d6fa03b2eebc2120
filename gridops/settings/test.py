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

# --- issue 11 auth block: no test is throttled by accident (tests/security/test_limits.py sets low
# rates where it proves a throttle); the cache keys carry the process id, since concurrent test runs
# share one Redis.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {  # noqa: F405
    "anon": "1000000/min", "user": "1000000/min", "intake": "1000000/min"}}
CACHES["default"]["KEY_PREFIX"] = f"test{os.getpid()}"  # noqa: F405
# Login lockout off in tests: Django's test Client.login() authenticates without a request, which axes
# refuses; tests/security/test_limits.py turns it on where it proves the lockout.
AXES_ENABLED = False
