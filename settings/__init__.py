"""The example project: embedded defaults (SQLite and an embedded Redis under ``var/``).

``DATABASE_URL`` and ``REDIS_URL`` switch to real servers; ``VAR_DIR`` moves ``var/``.
"""

import os
from pathlib import Path
from typing import Any

from triggers.redis_config import cache_settings, queue_settings

from .embedded_redis import ensure_server
from .environment import database_from_url, sqlite_default

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-for-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "triggers",
    "collector_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": (
        database_from_url(os.environ["DATABASE_URL"])
        if os.environ.get("DATABASE_URL")
        else sqlite_default(VAR_DIR)
    )
}
# Workers run many short jobs: keep connections between them (RQ's forking worker still
# starts each job in a fresh process, whose connections triggers.worker closes before forking).
DATABASES["default"]["CONN_MAX_AGE"] = 60
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One Redis for the cache (trigger storage) and the RQ queues: REDIS_URL, else the embedded one.
REDIS_URL = os.environ.get("REDIS_URL") or ensure_server(VAR_DIR)

# A redis+sentinel:// REDIS_URL puts both behind Redis Sentinel (docs/deployment.md).
CACHES = {
    "default": cache_settings(
        REDIS_URL, KEY_PREFIX=os.environ.get("CACHE_KEY_PREFIX", "example"), TIMEOUT=None
    )
}

RQ_QUEUES = {
    "default": queue_settings(REDIS_URL, DEFAULT_TIMEOUT=600),
    "low": queue_settings(REDIS_URL, DEFAULT_TIMEOUT=600),
}
# Workers started with `manage.py rqworker` also run trigger recovery (triggers.worker).
RQ = {"WORKER_CLASS": "triggers.worker.Worker"}

TRIGGERS = {
    "DEFAULT_STORAGE": "cache",
    "DEFAULT_RUNNER": "rq",
    "CACHE_ALIAS": "default",
}

COLLECTORS: dict[str, Any] = {
    # Run folders of the "local" recorder (collector_app.pushcollector), the default one.
    "ARTIFACTS_ROOT": VAR_DIR / "artifacts",
    # The demo's pipeline, its components and its gathering collection (make demo).
    "PIPELINES": {"demo-inventory": BASE_DIR / "settings" / "demo_pipelines" / "inventory.toml"},
    "COMPONENT_MODULES": ["settings.demo_components"],
    "GATHERERS": {
        "demo": {
            "module": "settings.demo_collection",
            "transport": "directory",
            "shipping_directory": VAR_DIR / "demo" / "outbox",
        }
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"triggers": {"handlers": ["console"], "level": "WARNING"}},
}
