"""Acceptance fixtures: real ``celery worker`` and ``celery beat`` processes on the test's own
database and broker.

pytest-django creates the test database (a SQLite file, or ``test_<name>`` on PostgreSQL); the
``baton`` fixture starts subprocesses with a ``DATABASE_URL`` that names exactly that database
and the session's ``CELERY_BROKER_URL``. Tests using it must be
``@pytest.mark.django_db(transaction=True)``: rows the test writes are committed, so the
processes see them, and the processes are stopped before pytest-django flushes the tables.

Every process runs in its own process group with its output in a file under the test's tmp
dir; the logs are attached to the report of a failing test. Every wait is bounded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from .cluster import (
    REDISPATCH_AFTER_SECONDS,
    SWEEP_INTERVAL_SECONDS,
    WORKER_MODULES,
    BatonCluster,
    database_url,
)

_CLUSTER_KEY = pytest.StashKey[BatonCluster]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    cluster = item.stash.get(_CLUSTER_KEY, None)
    if cluster is not None and report.failed:
        for title, text in cluster.log_sections():
            report.sections.append((title, text))
    return report


@pytest.fixture
def baton(
    request: pytest.FixtureRequest,
    transactional_db: None,
    broker_url: str,
    settings: Settings,
    tmp_path: Path,
) -> Iterator[BatonCluster]:
    """A supervisor for real Baton processes on this test's database and broker.

    The test process gets the same BATON settings as the processes (a task it schedules is
    re-published as soon as one they schedule), and everything is stopped before the tables
    are flushed.
    """
    from django.db import connection

    settings.BATON = {
        **settings.BATON,
        "REDISPATCH_AFTER_SECONDS": REDISPATCH_AFTER_SECONDS,
        "SWEEP_INTERVAL_SECONDS": SWEEP_INTERVAL_SECONDS,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="conductor_project.settings",
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_URL=broker_url,
        BATON_STATE_DIR=str(settings.STATE_DIR),
        BATON_WORKER_MODULES=WORKER_MODULES,
        BATON_REDISPATCH_AFTER_SECONDS=str(REDISPATCH_AFTER_SECONDS),
        BATON_SWEEP_INTERVAL_SECONDS=str(SWEEP_INTERVAL_SECONDS),
        BATON_LOG_LEVEL="INFO",  # task received/succeeded lines in the logs of a failing test
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    cluster = BatonCluster(env, tmp_path)
    request.node.stash[_CLUSTER_KEY] = cluster
    try:
        yield cluster
    finally:
        cluster.stop_all()
