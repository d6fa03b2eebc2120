"""Production: every secret from the environment, secure cookies."""
import os

from .base import *  # noqa: F403

DEBUG = False
STATIC_ROOT = BASE_DIR / "staticfiles"  # noqa: F405  (collectstatic target)
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
