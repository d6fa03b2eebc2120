"""Settings shared by every environment; everything site-specific comes from the environment."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Return an environment flag ("1", "true", "yes" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def local_database_url() -> str:
    """Return the URL of the project-local PostGIS cluster started by scripts/pg.sh."""
    socket_dir = os.environ.get("GRIDOPS_PGHOST", str(BASE_DIR / "var" / "pg" / "run"))
    name = os.environ.get("GRIDOPS_DB_NAME", "gridops")
    return f"postgis://postgres@/{name}?host={socket_dir}"


# No fallback here: dev.py and test.py have their own throw-away key, prod.py requires one.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "knox",  # API tokens: hashed at rest, expiring (issue 11; replaces rest_framework.authtoken)
    "axes",  # login lockout on /accounts/login/ and /admin/login/
    "rest_framework_gis",
    "drf_spectacular",
    "gis_core",
    "core",
    "grids",
    "cameras",
    "components",
    "incidents",
    "dispatch",
    "patrols",
    "planner",
    "web",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.BodyLimitMiddleware",  # 413 from Content-Length before anything reads the body
    # text answers compressed for clients that accept it: a city's assessment per person is 6 MB of JSON,
    # on a government network that counts (placed before what writes the body; Django's gzip adds random
    # bytes against BREACH, and the CSRF token is masked per response); photos go as they are
    "core.middleware.TextGZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",  # every page needs a login unless marked
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lockout into its 429 page
    "core.routing_db.ReplicaReadsMiddleware",  # reads to the replica (removes itself when there is none)
]

ROOT_URLCONF = "gridops.urls"
ASGI_APPLICATION = "gridops.asgi.application"
HTTP_THREADS = int(os.environ.get("HTTP_THREADS", "2"))  # per server process (gridops/asgi.py)
# What a server process builds before its first request (core.serving.warm_up): the locator index of
# the active generations, the gazetteer of place names.
WARM_UP = ["grids.locator.warm_up", "incidents.gazetteer.build_gazetteer"]
WSGI_APPLICATION = "gridops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context_processors.incident_rules",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or local_database_url(),
        engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # a kept connection is checked before a request reuses it: after a database restart the
        # next request reconnects instead of failing on the dead connection
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# DB_POOLER says what DATABASE_URL points at (docs/deploy.md, scripts/pgbouncer.sh):
#   ""            PostgreSQL itself
#   "session"     pgbouncer in session mode: a client keeps its server connection until it disconnects
#                 (then DISCARD ALL), so session state, prepared statements included, stays right
#   "transaction" pgbouncer in transaction mode: each transaction may run on another server connection,
#                 so no session state: no prepared statements, no server-side cursors
# Behind either, no "options" startup parameter (pgbouncer refuses it): set the session settings below on
# the app's role instead (ALTER ROLE ... SET jit = off; ... SET plan_cache_mode = force_generic_plan).
DB_POOLER = os.environ.get("DB_POOLER", "").strip().lower()
if DB_POOLER not in {"", "session", "transaction"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"DB_POOLER={DB_POOLER!r} is not one of '', session, transaction")
if DB_POOLER == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# The intake path's fixed queries as server-side prepared statements (core/db.py); off by default
# behind a transaction-mode connection pooler.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", DB_POOLER != "transaction")
# The app's session settings, given at connect time (on a pooler's role instead, above):
# - jit off: the analytical reads of a city (the assessment, the heatmaps) are short scans of rollup rows
#   that the planner costs high, and PostgreSQL's JIT compiled each for longer than it ran (the assessment
#   of a month of the 10M city: 1.1 s of JIT beside a 0.55 s read of 164,000 rollup rows, bench/README.md);
#   the app has no query long enough to win it back.
# - plan_cache_mode for the prepared statements: plan them once (with array parameters PostgreSQL would
#   otherwise keep making custom plans); only prepared statements are affected, Django prepares none.
DB_SESSION_SETTINGS = {"jit": "off"}
if DB_PREPARED_STATEMENTS:
    DB_SESSION_SETTINGS["plan_cache_mode"] = "force_generic_plan"
DB_SESSION_OPTIONS = " ".join(f"-c {name}={value}" for name, value in DB_SESSION_SETTINGS.items())
if not DB_POOLER:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = DB_SESSION_OPTIONS

# --- Read replicas (issue 12; core/routing_db.py, docs/deploy.md) -----------------------------------
# REPLICA_DATABASE_URL names a streaming replica of DATABASE_URL (same database, read-only). When set,
# the reads of the views in REPLICA_READ_VIEWS (GET/HEAD; a second of lag is harmless there) go to it,
# except for an actor who wrote in the last REPLICA_PIN_SECONDS (read-your-writes) and anything inside a
# transaction; writes, locks, the sweep, intake, sessions and tokens stay on the primary. A replica
# behind a pooler: the same URL rules as DATABASE_URL.
REPLICA_DATABASE_URL = os.environ.get("REPLICA_DATABASE_URL", "")
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "5"))
REPLICA_RETRY_SECONDS = int(os.environ.get("REPLICA_RETRY_SECONDS", "10"))  # after a failed connect: primary only
# The list and the map view take their X-Changes-Cursor on the connection they read (the replica's
# snapshot with the replica's rows: incidents.selectors.changes_cursor), so the live pages' catch-up
# skips nothing. Not here: the CSV export (streamed after the view returns), anything the planner
# reads while editing a draft.
REPLICA_READ_VIEWS = [
    "heatmap", "trend", "assessment", "incident-stats", "categories", "incident-list", "incident-map-view",
    "town-list", "town-detail", "village-list", "village-detail", "grid-list", "grid-detail",
    "camera-list", "camera-detail", "camera-coverage",
    "incident-detail", "incident-events", "incident-context",
]
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = dj_database_url.parse(
        REPLICA_DATABASE_URL, engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")), conn_health_checks=True)
    DATABASES["replica"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_POOLER == "transaction"
    # a replica that is down is given up on quickly (its reads then go to the primary, core/routing_db.py)
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = int(
        os.environ.get("REPLICA_CONNECT_TIMEOUT", "2"))
    if not DB_POOLER:
        DATABASES["replica"]["OPTIONS"]["options"] = DB_SESSION_OPTIONS
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests in one process: the replica is the primary
    DATABASE_ROUTERS = ["core.routing_db.ReplicaRouter"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

STATIC_URL = "/static/"
STATICFILES_DIRS = [
    ("vendor/leaflet", BASE_DIR / "frontend" / "node_modules" / "leaflet" / "dist"),
    ("vendor/markercluster", BASE_DIR / "frontend" / "node_modules" / "leaflet.markercluster" / "dist"),
    ("vendor/leaflet-heat", BASE_DIR / "frontend" / "node_modules" / "leaflet.heat" / "dist"),
    ("vendor/ol", BASE_DIR / "frontend" / "node_modules" / "ol"),
    # Noto Sans SC (SIL OFL 1.1), cut by unicode-range: a browser without a CJK font fetches only the
    # pieces holding the characters on the page, from this server
    ("vendor/noto-sans-sc", BASE_DIR / "frontend" / "node_modules" / "@fontsource" / "noto-sans-sc"),
    # Workbox (MIT): the phone's service worker loads its modules from here (web/templates/web/sw.js)
    *[("vendor/workbox", BASE_DIR / "frontend" / "node_modules" / f"workbox-{m}" / "build")
      for m in ("sw", "core", "routing", "strategies", "expiration")],
]
WHITENOISE_USE_FINDERS = True

# --- Authentication, API defaults and limits (issue 11 "Safe to expose", session `auth`) ------------
# Every endpoint needs a login or a token; the few public ones are listed once, in
# gridops.urls.PUBLIC_URL_NAMES (and use core.api.Public). The token class comes first so that an
# anonymous API request gets 401 with "WWW-Authenticate: Token" (DRF takes the challenge from the
# first class; the session class has none).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ActorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only (Open311 takes forms too, as its standard says: its own parsers); refuses JSON nested
    # deeper than API_JSON_MAX_DEPTH with 400. A form read as the same fields would take what the JSON
    # schema refuses (an empty string for a number, a list as text).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.AnonRateThrottle",
        "core.throttling.ClientRateThrottle",
    ],
    # per anonymous address, per client (user), and the intake endpoints' higher per-client rate
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_RATE_ANON", "60/min"),
        "user": os.environ.get("API_RATE_USER", "1200/min"),
        "intake": os.environ.get("API_RATE_INTAKE", "6000/min"),
    },
    # the anonymous address: REMOTE_ADDR, unless API_NUM_PROXIES trusted proxies add X-Forwarded-For
    # (DRF's default, None, believes any X-Forwarded-For a client sends, so a throttle is dodged by one)
    "NUM_PROXIES": int(os.environ.get("API_NUM_PROXIES", "0")),
    "DEFAULT_PAGINATION_CLASS": "core.schema.GeoJsonPagination",
    "PAGE_SIZE": 500,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
}
# The paths (and methods) counted at the "intake" rate instead of "user" (core.throttling)
API_THROTTLE_SCOPES = [
    (("POST",), r"^/api/incidents/(batch/)?$", "intake"),
    (("POST",), r"^/open311/v2/requests\.", "intake"),
]
# knox tokens for integration clients: issued by `manage.py api_tokens issue USER` (the key is printed
# once), listed and revoked by `api_tokens list|revoke|prune`. They expire after API_TOKEN_TTL_DAYS.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=int(os.environ.get("API_TOKEN_TTL_DAYS", "90"))),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
# Request bodies: anything above REQUEST_BODY_MAX bytes gets 413 before it is read (core.middleware);
# REQUEST_BODY_LIMITS raises the limit per path (regular expressions on request.path_info; a third item:
# only for that content type). Django's own DATA_UPLOAD_MAX_MEMORY_SIZE (below) must stay at least the largest of them.
REQUEST_BODY_MAX = int(os.environ.get("REQUEST_BODY_MAX", str(1024 * 1024)))
# Evidence photos (incidents.evidence): one file at most PHOTO_MAX_BYTES (413 above), at most
# PHOTO_MAX_PIXELS (width x height: 400 above, decompression bombs), PHOTO_MAX_FILES in one request.
PHOTO_MAX_BYTES = int(os.environ.get("PHOTO_MAX_BYTES", str(10 * 1024 * 1024)))
PHOTO_MAX_PIXELS = int(os.environ.get("PHOTO_MAX_PIXELS", str(50_000_000)))
PHOTO_MAX_FILES = 6
REQUEST_BODY_LIMITS = [
    (r"^/api/incidents/batch/$", 64 * 1024 * 1024),  # batches of up to 100,000 incidents
    # evidence photos, multipart only: intake with photos and a photo upload; each file is held to
    # PHOTO_MAX_BYTES by incidents.evidence (413 too), the body to room for PHOTO_MAX_FILES of them
    (r"^/api/incidents/(\d+/photos/)?$", PHOTO_MAX_FILES * PHOTO_MAX_BYTES + 256 * 1024, "multipart/form-data"),
]
# A body sent to these paths without credentials (Authorization header, session cookie, or one of the
# listed query parameters) answers 401 before it is read (core.middleware).
REQUEST_CREDENTIALS_REQUIRED = [
    (r"^/api/", ()),
]
API_JSON_MAX_DEPTH = 32
# Login lockout (django-axes) on the login page and the admin: AXES_FAILURE_LIMIT failed logins lock
# out that username from that address for AXES_COOLOFF_TIME; the address is REMOTE_ADDR (behind a
# proxy set AXES_IPWARE_META_PRECEDENCE_ORDER / AXES_IPWARE_PROXY_COUNT, see SECURITY notes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Throttle counters live in the cache: Redis when REDIS_URL is set (shared by every server process),
# else per-process memory (one process only: each would count on its own).
# A Redis that is down or stalled costs a request at most the short timeouts: the throttles then let
# it through (core.throttling).
CACHES = {
    # core.cache.RedisCache: Django's, keeping one redis-py client per pool
    "default": {"BACKEND": "core.cache.RedisCache", "LOCATION": os.environ["REDIS_URL"],
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    if os.environ.get("REDIS_URL") else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# The lean path (core.lean): body-less GETs and JSON POSTs of these URL names (the point lookup, and the
# incidents' list where every single report is posted) are answered by their view in the ASGI application,
# without the WSGI bridge, the URL resolver and the middleware that has nothing to do for them
# (API_LEAN=0 sends them the ordinary way, e.g. to compare).
LEAN_API_URLS = ["locate", "incident-list"] if env_bool("API_LEAN", True) else []
# Open311's api_key travels in the query string: the log filter scrubs it from every log line.
LOG_SCRUB_PARAMETERS = ["api_key", "token", "auth_token"]
# --- end of issue 11 auth block ------------------------------------------------------------------

SPECTACULAR_SETTINGS = {
    "TITLE": "Grid governance and dispatch API",
    "DESCRIPTION": "Villages, grids, teams, cameras and point location for town grid governance.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],  # issue 11: the schema is not public
    # the people's roles appear on people, team posts and categories: one named enum for all
    "ENUM_NAME_OVERRIDES": {"PersonRoleEnum": "grids.models.Person.Role",
                            "IncidentSourceEnum": "incidents.models.Incident.Source"},
    # requests and answers described apart: what a request must send (required, not blank) is not
    # what an answer holds
    "COMPONENT_SPLIT_REQUEST": True,
    # every error status of every operation, with the one error body (core/schema.py)
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.schema.add_error_responses"],
}

# Map: optional base tile layer (off by default: the command centre runs on a closed network).
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_secrets": {"()": "core.logging.ScrubSecrets"}},  # issue 11: no api_key in logs
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["scrub_secrets"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Debian 12 ships GDAL 3.6; the check asks for 3.9 to block network access from spatial
# references. The importer only reads local files the operator names.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Dispatch: who routes a registered incident, and how many open incidents an A holder may carry
# before the B backup takes new ones.
INCIDENT_DISPATCHER = "dispatch.routing.GridDispatcher"
DISPATCH_MAX_OPEN_PER_PERSON = int(os.environ.get("DISPATCH_MAX_OPEN_PER_PERSON", "5"))

# Celery: Redis broker (the machine's Redis by default); the sweep runs every minute under beat.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "sla-sweep": {"task": "dispatch.sweep_overdue", "schedule": 60.0},
    "missing-thumbnails": {"task": "incidents.make_missing_thumbnails", "schedule": 300.0},
    # the outbox's safety net: each change kicks a delivery; this sends what a kick missed and the retries
    "outbox": {"task": "dispatch.deliver_outbox", "schedule": 10.0},
    "sms": {"task": "dispatch.send_sms", "schedule": 30.0},  # the retries, and the morning after quiet hours
    "patrol-tracks": {"task": "patrols.purge_tracks", "schedule": 3600.0},  # personal data: kept no longer
    "patrol-days": {"task": "patrols.record_patrol_days", "schedule": 300.0},  # the days of ended patrols
    # the whole city's long heatmaps kept ahead (incidents.heat_ahead): the daily runs summed after
    # midnight, and again when many late changes fall in their days; the live runs (the N days ending
    # now) every time, so a read of the N days ending now sums again some minutes of reports only
    "heat-ahead": {"task": "incidents.refresh_heat_ahead", "schedule": 300.0},
}
# Patrols (patrols/): a point less accurate than this, or further from the previous kept point than this
# speed allows (a walker, a bicycle, an e-bike in town), is flagged and left out of the figures; steps
# further apart in time are not guessed across; a walk covers a band this wide on each side; the duty
# day presence is counted against; tracks are deleted this many days after the patrol ended.
PATROL_MAX_ACCURACY_M = float(os.environ.get("PATROL_MAX_ACCURACY_M", "50"))
PATROL_MAX_SPEED_MPS = float(os.environ.get("PATROL_MAX_SPEED_MPS", "12"))
PATROL_MAX_GAP_S = int(os.environ.get("PATROL_MAX_GAP_S", "120"))
PATROL_COVER_M = float(os.environ.get("PATROL_COVER_M", "25"))
PATROL_DUTY_HOURS = float(os.environ.get("PATROL_DUTY_HOURS", "8"))
# the weekdays on duty (Monday 0 ... Sunday 6): 在岗率 over a period counts these days
PATROL_DUTY_WEEKDAYS = frozenset(int(d) for d in os.environ.get("PATROL_DUTY_WEEKDAYS", "0,1,2,3,4").split(","))
PATROL_RETENTION_DAYS = int(os.environ.get("PATROL_RETENTION_DAYS", "180"))
# Evidence photos (incidents.evidence): stored through django-storages under the "evidence" alias, in a
# project-local folder by default (var/media, not in git) or an S3-compatible bucket when
# EVIDENCE_STORAGE=s3 (README "Evidence photos", docs/deploy.md). No MEDIA_URL is served by anything:
# files leave only through the app's scoped endpoints (/api/photos/{id}/file/, .../thumbnail/).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "var" / "media")
_EVIDENCE_S3 = os.environ.get("EVIDENCE_STORAGE", "local") == "s3"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "evidence": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("EVIDENCE_S3_BUCKET", "gridops-evidence"),
            "endpoint_url": os.environ.get("EVIDENCE_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("EVIDENCE_S3_REGION") or None,
            "access_key": os.environ.get("EVIDENCE_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("EVIDENCE_S3_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("EVIDENCE_S3_PREFIX", "evidence"),
            "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
        },
    } if _EVIDENCE_S3 else {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT / "evidence"), "base_url": None},
    },
}
# The queue of the image work (thumbnails): None is Celery's default queue; name one to keep image work
# apart from the SLA sweep (run a worker with -Q on it).
EVIDENCE_TASK_QUEUE = os.environ.get("EVIDENCE_TASK_QUEUE") or None

# The outbox to the source systems' webhooks (dispatch.outbox): the wait before each retry, in seconds;
# a message is a dead letter after the last (9 tries over about 10 hours by default).
OUTBOX_RETRY_DELAYS_S = [float(d) for d in os.environ.get(
    "OUTBOX_RETRY_DELAYS_S", "10,30,120,600,1800,3600,7200,21600").split(",") if d.strip()]
OUTBOX_TASK_QUEUE = os.environ.get("OUTBOX_TASK_QUEUE") or None

# Text messages to the person dispatched (dispatch.sms): the backend, as Django's email backends (the log
# by default; dispatch.sms.HttpGatewayBackend for a provider's gateway), the quiet hours (local time, only
# urgent categories' messages are sent then; empty: none) and the retries.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "dispatch.sms.LogBackend")
SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL", "")
SMS_GATEWAY_TOKEN = os.environ.get("SMS_GATEWAY_TOKEN", "")
SMS_QUIET_HOURS = [t for t in os.environ.get("SMS_QUIET_HOURS", "22:00,07:00").split(",") if t.strip()]
SMS_RETRY_DELAYS_S = [float(d) for d in os.environ.get("SMS_RETRY_DELAYS_S", "30,120,600").split(",") if d.strip()]
SMS_TASK_QUEUE = os.environ.get("SMS_TASK_QUEUE") or None
INTAKE_BATCH_MAX = int(os.environ.get("INTAKE_BATCH_MAX", "100000"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024  # batches of up to 100,000 incidents

# Live push: Redis channel layer when REDIS_URL is set, else in-process memory (one server only).
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    if REDIS_URL else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}
LIVE_PUSH_IN_BACKGROUND = env_bool("LIVE_PUSH_IN_BACKGROUND", True)  # the intake response never waits for it
LIVE_MAX_ITEMS = int(os.environ.get("LIVE_MAX_ITEMS", "200"))  # larger batches send one 'refresh' notice
# Changes committed within this many milliseconds of a run's first one are pushed in that run.
LIVE_COALESCE_MS = int(os.environ.get("LIVE_COALESCE_MS", "50"))

# --- issue 11 (scope): least privilege -------------------------------------------------------------
# A live socket checks its session and rights again at most this many seconds before forwarding a push
# (signals close it at once on logout, deactivation, password or role change: dispatch/rights.py).
LIVE_RIGHTS_RECHECK_S = float(os.environ.get("LIVE_RIGHTS_RECHECK_S", "30"))
# The most vertices one grid boundary may have (planner edits over the API, boundary imports): checked
# before any geometry is built (Gongdao's grids have fewer than 1,000 each).
GRID_BOUNDARY_MAX_VERTICES = int(os.environ.get("GRID_BOUNDARY_MAX_VERTICES", "10000"))
# --- end issue 11 (scope) --------------------------------------------------------------------------
# --- issue 11, intake contract (session "intake") ------------------------------------------------
# How long a batch's Idempotency-Key is remembered (incidents.intake_keys), and the most rows one
# CSV export may stream (beyond it: 400, asking for a narrower filter).
INTAKE_IDEMPOTENCY_TTL_H = int(os.environ.get("INTAKE_IDEMPOTENCY_TTL_H", "24"))
CSV_EXPORT_MAX_ROWS = int(os.environ.get("CSV_EXPORT_MAX_ROWS", "1000000"))
# Open311 form-encoded POSTs carrying their api_key in the body are parsed only below this size (bytes);
# a key in the query string or an Authorization header is checked before any body is read.
OPEN311_FORM_KEY_MAX_BYTES = int(os.environ.get("OPEN311_FORM_KEY_MAX_BYTES", str(64 * 1024)))
# --- end issue 11, intake contract ---------------------------------------------------------------

# --- Content Security Policy (issue 11, deploy) -------------------------------------------------------
# django-csp 4 (CONTENT_SECURITY_POLICY dict). Every page's scripts and styles are files from this
# server: no inline script, style attribute or event handler in the templates or in the HTML the
# pages' modules build. The one exception is the import map (web/modules.html): browsers take an
# import map only inline, so it carries the request's nonce. The same policy in every environment, so
# the browser tests (tests/browser/conftest.py fails a test on any violation) check the production one.
INSTALLED_APPS += ["csp"]  # noqa: F405 (its system checks)
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")


def tile_source(url: str) -> list[str]:
    """Return the CSP source of a Leaflet tile URL template ("https://{s}.tiles.lan/{z}/{x}/{y}.png" ->
    "https://*.tiles.lan"), or nothing when there is no tile layer."""
    if not url:
        return []
    parts = urlsplit(url.replace("{s}", "sub"))
    host = parts.netloc.replace("sub.", "*.", 1) if "{s}." in url else parts.netloc
    return [f"{parts.scheme}://{host}"] if parts.scheme and host else []


def socket_sources(hosts: list[str], secure: bool) -> list[str]:
    """Return the WebSocket sources of the live socket for these ALLOWED_HOSTS (CSP 3 browsers already
    count same-origin ws(s) as 'self'; older ones need them named)."""
    sources = []
    for host in hosts:
        if host == "*" or not host:
            continue
        name = "*" + host if host.startswith(".") else host
        sources.append(f"wss://{name}" if secure else f"ws://{name}:*")
    return sources


def content_security_policy(hosts: list[str], tile_url: str, secure: bool) -> dict:
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF, NONCE],  # NONCE: the import map only
            "style-src": [SELF],
            "img-src": [SELF, "data:", *tile_source(tile_url)],  # data: Leaflet's and the favicon's data URLs
            "font-src": [SELF],
            "connect-src": [SELF, *socket_sources(hosts, secure)],
            "object-src": [NONE],
            "base-uri": [SELF],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        },
    }


CONTENT_SECURITY_POLICY = content_security_policy(ALLOWED_HOSTS, MAP_TILE_URL, secure=False)
