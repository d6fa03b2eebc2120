"""Local development: debug on, the project-local PostGIS cluster unless DATABASE_URL is set."""
from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
