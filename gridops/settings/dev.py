"""Local development (`make run`, DJANGO_ENV=development): debug on, the project-local PostGIS cluster
unless DATABASE_URL is set, a throw-away secret key unless DJANGO_SECRET_KEY is set."""
from .base import *  # noqa: F403
from .base import env_bool

ENVIRONMENT = "development"
DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = SECRET_KEY or "insecure-dev-key-change-me"  # noqa: F405
