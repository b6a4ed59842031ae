"""A Celery worker's database connection between tasks (orchestration.celery_setup): a pooled
connection is kept while usable, replaced when it is not, and a connection the database dropped
costs a task nothing (workers.runtime claims again on a fresh one)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, connections

from orchestration.celery_setup import fresh_enough_connections
from orchestration.models import Task
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import workflow_start
from workers.runtime import execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_own_messages")]


def _pooled() -> bool:
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def _one_task_workflow() -> str:
    task_type = f"conn_t_{uuid.uuid4().hex[:8]}"
    name = f"conn_wf_{uuid.uuid4().hex[:8]}"
    task_defs_register(defs=[{"name": task_type, "retryCount": 0, "ownerEmail": "conn@baton.local"}])
    workflow_def_register(data={
        "name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "conn@baton.local",
        "tasks": [{"name": task_type, "taskReferenceName": "only", "type": "SIMPLE"}],
    })  # fmt: skip
    return workflow_start(name=name, input={})


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_a_worker_keeps_its_pooled_connection_between_tasks() -> None:
    if not _pooled():
        pytest.skip("only a pooled (PostgreSQL) connection is kept between tasks")
    pid = _backend_pid()
    raw = connection.connection
    fresh_enough_connections()
    assert connection.connection is raw
    assert _backend_pid() == pid


def test_a_kept_connection_that_stopped_answering_is_replaced() -> None:
    if not _pooled():
        pytest.skip("only a pooled (PostgreSQL) connection is kept between tasks")
    _backend_pid()
    raw = connection.connection
    raw.close()  # as if the server had gone away under it
    connection.errors_occurred = True  # what Django records when a statement fails that way
    fresh_enough_connections()
    assert connection.connection is None
    _backend_pid()  # the next task gets a working connection


def test_a_worker_survives_the_database_dropping_its_connection() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's pg_terminate_backend")
    workflow_id = _one_task_workflow()
    task_id = Task.objects.get(workflow_id=workflow_id, ref="only").id
    victim = _backend_pid()
    # Another session ends this one's backend, as a database restart or failover would.
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
    finally:
        other.close()
    assert execute(task_id, lambda _input: {"ok": True}, wants_context=False) == "COMPLETED"
    assert Task.objects.get(pk=task_id).status == "COMPLETED"
    assert _backend_pid() != victim


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.parametrize("async_claims", [True, False])
def test_an_asynchronous_claim_commit_stays_within_the_claim(async_claims: bool, settings: object) -> None:
    # The claim's own transaction may commit without waiting for the disk; the connection's
    # next transactions (results, decides, starts) must still wait for it.
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    settings.BATON = {**settings.BATON, "ASYNC_CLAIM_COMMIT": async_claims}  # type: ignore[attr-defined]
    workflow_id = _one_task_workflow()
    task_id = Task.objects.get(workflow_id=workflow_id, ref="only").id
    before = _synchronous_commit()
    assert execute(task_id, lambda _input: {"ok": True}, wants_context=False) == "COMPLETED"
    assert _synchronous_commit() == before
    assert Task.objects.get(pk=task_id).status == "COMPLETED"
