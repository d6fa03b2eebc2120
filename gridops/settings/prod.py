"""Production (DJANGO_ENV=production, the default of manage.py, ASGI, WSGI and Celery).

DEBUG is off whatever the environment says. Start-up stops with ImproperlyConfigured, naming the
variable, when any of these is missing:

    DJANGO_SECRET_KEY      the secret key (50+ random characters)
    DJANGO_ALLOWED_HOSTS   comma-separated host names the site answers to
    DATABASE_URL           postgis://user:password@host:5432/name (the app's role: create_app_role)
    REDIS_URL              redis://host:6379/0: the channel layer of the live push. The in-memory
                           layer reaches only the browsers of one server process, so with several
                           processes (uvicorn --workers, several hosts) pushes silently go missing.

Optional:

    DJANGO_CSRF_TRUSTED_ORIGINS   comma-separated origins (https://gridops.example.cn) for POSTs
                                  from another origin, e.g. a TLS proxy on another port or name
    DJANGO_SECURE_PROXY_SSL_HEADER=1   behind a TLS-terminating proxy that sets X-Forwarded-Proto
                                  (and strips it from clients): requests it marks https count as
                                  secure, so the HTTPS redirect does not loop. Never set it when
                                  clients can reach the server without that proxy.
    DJANGO_SECURE_SSL_REDIRECT    1 (default): plain HTTP is redirected to HTTPS
    DJANGO_HSTS_SECONDS           31536000 (one year) by default; DJANGO_HSTS_PRELOAD=1 to add preload

Past one machine (docs/deploy.md; the settings themselves are in base.py):

    REPLICA_DATABASE_URL   a streaming replica: stale-tolerant reads go there (core/routing_db.py)
    REPLICA_PIN_SECONDS    5: how long an actor who wrote reads the primary (read-your-writes)
    DB_POOLER              session | transaction when DATABASE_URL points at pgbouncer
"""
import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import MAP_TILE_URL, SILENCED_SYSTEM_CHECKS, content_security_policy, env_bool


def required(name: str, what: str) -> str:
    """Return the environment variable, or stop start-up naming it."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: production settings (DJANGO_ENV=production, gridops.settings.prod) need {what}. "
            f"Set it, or DJANGO_ENV=development for a local run (SECURITY.md, 'Production settings').")
    return value


def listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


ENVIRONMENT = "production"
DEBUG = False
SECRET_KEY = required("DJANGO_SECRET_KEY", "a secret key of 50 or more random characters")
ALLOWED_HOSTS = listed(required("DJANGO_ALLOWED_HOSTS", "the host names the site answers to, comma-separated"))
required("DATABASE_URL", "the database, postgis://user:password@host:5432/name")  # base.py parsed it
REDIS_URL = required("REDIS_URL", "Redis for the live push between server processes (redis://host:6379/0)")
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL

# HTTPS only
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Preloading is a promise to browser vendors about a public domain, hard to take back; the
    # platform usually runs on an internal name. An operator who wants it sets DJANGO_HSTS_PRELOAD=1.
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = listed(os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", ""))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = content_security_policy(ALLOWED_HOSTS, MAP_TILE_URL, secure=True)

STATIC_ROOT = BASE_DIR / "staticfiles"  # noqa: F405  (collectstatic target, done when the image is built)
STORAGES = {
    **STORAGES,  # noqa: F405  (the evidence photos' storage: base.py)
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
