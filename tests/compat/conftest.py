"""Compatibility fixtures: a complete, live Baton (uvicorn web server, Celery worker, Celery beat)
on the session's test database and broker, with API authentication ON, for official Conductor
SDKs to talk to over real HTTP.

``live_baton`` is package-scoped: started once for everything under tests/compat (several
seconds), stopped when the package is done. The processes come from tests/acceptance/cluster.py
(own process groups, log files, SIGKILL when pytest dies, bounded waits). The processes commit
rows outside any test transaction, so after stopping them the fixture flushes the database,
exactly as pytest-django does after a ``transactional_db`` test: the suites that run afterwards
start from empty tables.

Tests here never touch the database themselves: everything goes through the SDKs (or, for
set-up the SDK under test cannot do, ``LiveBaton.call``: plain HTTP with a token). Names are
unique per test (``live.unique_name``), so tests never see each other's definitions or runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from acceptance.cluster import BatonCluster, database_url
from django.conf import settings

from .live import (
    HOST,
    LiveBaton,
    create_admin_key,
    drop_compat_queues,
    flush_database,
    free_port,
    start_web,
    wait_until_serving,
)

_LIVE: LiveBaton | None = None
# The database named by the settings before pytest-django switched to the test database: this
# module is imported at collection, before any fixture has run.
_CONFIGURED_DB_NAME = str(settings.DATABASES["default"]["NAME"])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    live = _LIVE
    if live is not None and report.failed:
        for title, text in live.cluster.log_sections():
            report.sections.append((title, text))
        for owner, proc in live.extra:
            if owner == item.nodeid:
                report.sections.append((f"{proc.name} (pid {proc.pid}) log tail", proc.log()))
    return report


@pytest.fixture(scope="package")
def live_baton(
    django_db_setup: None,
    django_db_blocker: Any,
    broker_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveBaton]:
    """Baton's web server, a Celery worker and beat on the test database, API auth ON, and an
    ADMIN key made by ``manage.py create_app_key``."""
    global _LIVE
    from django.db import connection, connections
    from django.test.utils import setup_databases, teardown_databases

    workdir = tmp_path_factory.mktemp("live_baton")
    own_database: Any = None
    with django_db_blocker.unblock():
        if connection.settings_dict["NAME"] == _CONFIGURED_DB_NAME:
            # pytest-django creates test databases only for tests that ask for one (a django_db
            # mark or a db fixture), and these run their database in other processes: when
            # nothing else in the session asked, make it here, as its setup would have.
            own_database = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        assert connection.settings_dict["NAME"] != _CONFIGURED_DB_NAME, "not on a test database"
        db_url = database_url(connection.settings_dict)
        key_id, key_secret = create_admin_key()
        connections.close_all()  # hold no SQLite handle while other processes write

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "CONDUCTOR_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="conductor_project.settings",
        DATABASE_URL=db_url,
        CELERY_BROKER_URL=broker_url,
        BATON_STATE_DIR=str(settings.STATE_DIR),
        BATON_WORKER_MODULES="workers.examples",
        BATON_AUTH_ENABLED="true",
        BATON_LOG_LEVEL="INFO",  # task lines in the logs attached to a failing test
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    cluster = BatonCluster(env, workdir)
    port = free_port()
    live = LiveBaton(
        base_url=f"http://{HOST}:{port}",
        key_id=key_id,
        key_secret=key_secret,
        cluster=cluster,
        workdir=workdir,
    )
    _LIVE = live
    try:
        web = start_web(cluster, port)
        cluster.start_worker(concurrency=2)
        cluster.start_beat()
        wait_until_serving(web, live.base_url)
        yield live
    finally:
        _LIVE = None
        for _owner, proc in live.extra:
            proc.kill_group()
        cluster.stop_all()
        drop_compat_queues()
        with django_db_blocker.unblock():
            flush_database()
            connections.close_all()
            if own_database is not None:
                teardown_databases(own_database, verbosity=0)


@pytest.fixture
def worker_key(live_baton: LiveBaton, django_db_blocker: Any) -> tuple[str, str]:
    """A new WORKER-role key (id, secret), as an operator would hand to a worker fleet."""
    from django.db import connections

    from orchestration.security import keys

    with django_db_blocker.unblock():
        try:
            new = keys.create_key(f"compat worker {uuid.uuid4().hex[:6]}", "WORKER")
        finally:
            connections.close_all()
    return new.key.key_id, new.secret
