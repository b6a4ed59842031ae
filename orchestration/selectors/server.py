"""What the server tells about itself: its version and an allow-listed view of its settings."""

from __future__ import annotations

import platform
from importlib import metadata as package_metadata
from typing import Any
from urllib.parse import urlparse

import django
from django.conf import settings
from django.db import connection


def server_version() -> str:
    try:
        return package_metadata.version("baton")
    except package_metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def server_config() -> dict[str, Any]:
    """Conductor dumps its JVM system properties; Baton answers an explicit allow-list, so a
    secret added to settings later can never leak through this read (no database or broker URL:
    they may carry passwords; only their kind)."""
    baton = settings.BATON
    return {
        "version": server_version(),
        "python.version": platform.python_version(),
        "django.version": django.get_version(),
        "database.vendor": connection.vendor,
        "broker.transport": urlparse(str(settings.CELERY_BROKER_URL)).scheme,
        "broker.embedded": bool(getattr(settings, "USES_EMBEDDED_REDIS", False)),
        "instanceId": str(baton.get("INSTANCE_ID") or ""),
        "ownerEmailMandatory": bool(baton.get("OWNER_EMAIL_MANDATORY")),
        "sweepIntervalSeconds": baton.get("SWEEP_INTERVAL_SECONDS"),
        "redispatchAfterSeconds": baton.get("REDISPATCH_AFTER_SECONDS"),
        "workerModules": list(baton.get("WORKER_MODULES") or ()),
        "externalPayloadStorage": False,
        "eventQueues": False,
    }
