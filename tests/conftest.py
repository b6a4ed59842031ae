"""Root conftest: the broker every test session talks to.

With ``CELERY_BROKER_URL`` set (CI, or a developer's own Redis) the tests use that broker as is.
Without it, settings point Celery at the embedded Redis on ``settings.EMBEDDED_REDIS_SOCKET``, and
this module makes sure a server answers there before any test can publish: ``make test`` needs
no setup. Fixtures for particular layers live in the conftest of tests/unit, tests/integration...
"""

from __future__ import annotations

import atexit
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from conductor_project import embedded_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_project.settings")

from django.conf import settings  # noqa: E402  (after DJANGO_SETTINGS_MODULE is known)

_embedded_proc: subprocess.Popen[bytes] | None = None
if "CELERY_BROKER_URL" not in os.environ:
    # Import time, not a session fixture: pytest-django has configured Django by now, but no
    # test has run, and Celery only connects on its first publish. The path comes from settings
    # so this server and the URL Celery uses cannot disagree.
    _embedded_proc = embedded_redis.ensure_running(
        Path(settings.EMBEDDED_REDIS_SOCKET), Path(settings.STATE_DIR)
    )
    # atexit as well as sessionfinish: an interrupted session must not leave the server behind.
    atexit.register(embedded_redis.stop, _embedded_proc)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    embedded_redis.stop(_embedded_proc)


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    where = "embedded (started by this session)" if _embedded_proc is not None else "as configured"
    return [
        f"baton database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}",
        f"baton broker: {settings.CELERY_BROKER_URL} [{where}]",
    ]


@pytest.fixture(autouse=True)
def api_auth_off(settings: Any) -> None:
    """The API is on a trusted network in tests: no tokens needed (BATON["AUTH_ENABLED"] is on by
    default). Tests of authentication turn it back on with their own autouse fixture, which runs
    after this one (tests/integration/test_auth.py). A new dict, not an in-place change, so
    pytest-django's ``settings`` restores the original after each test."""
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The broker URL the Celery app actually uses in this session."""
    from conductor_project.celery import app

    return str(app.conf.broker_url)


@pytest.fixture(scope="session")
def redis_client(broker_url: str) -> Iterator[redis.Redis]:
    """A client on the broker's Redis (to inspect or purge queues); skips on a non-Redis broker."""
    try:
        client = embedded_redis.client_for_broker_url(broker_url)
    except ValueError as exc:
        pytest.skip(str(exc))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(autouse=True)
def fresh_poll_records() -> None:
    """Poll times are written once per interval per process (services.polling); a test's
    rolled-back database must not look written to the next test."""
    from orchestration.services.polling import forget_recorded_polls

    forget_recorded_polls()
