"""A minimal Django project around mySociety's MapIt (django-mapit 3.0 from PyPI) for the locate benchmark.

It runs in a virtual environment of its own (var/mapit/venv: MapIt 3.0 needs Django 3.2), on a database
of its own in the project-local PostGIS cluster (MAPIT_DB_NAME, default mapit_bench), production-like:
DEBUG off, no rate limit, JSON answers. scripts/bench-mapit.sh installs and fills it.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[3]  # the gridops working tree
SECRET_KEY = os.environ.get("MAPIT_SECRET_KEY", "mapit-bench-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.gis",
    "mapit",
]
MIDDLEWARE = [  # as MapIt's own project template
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mapit.middleware.JSONPMiddleware",
    "mapit.middleware.view_error.ViewExceptionMiddleware",
]
ROOT_URLCONF = "gridops_mapit.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                       "mapit.context_processors.country", "mapit.context_processors.analytics"]},
}]
DATABASES = {
    "default": {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": os.environ.get("MAPIT_DB_NAME", "mapit_bench"),
        "USER": "postgres",
        "HOST": os.environ.get("GRIDOPS_PGHOST", str(BASE_DIR / "var" / "pg" / "run")),
        "CONN_MAX_AGE": 60,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
STATIC_URL = "/static/"

# MapIt's own settings (as its project template sets them)
MAPIT_AREA_SRID = 4326
MAPIT_COUNTRY = "CN"  # no country module: MapIt's generic behaviour
MAPIT_RATE_LIMIT = []
POSTCODES_AVAILABLE = PARTIAL_POSTCODES_AVAILABLE = False
GOOGLE_ANALYTICS = ""
