"""Rows <-> engine values, and writing back exactly what a decision changed.

Kept deliberately close to the SQL: the transition hot path is counted in statements
(reference budget: at most 10 statements and 3 commits per task transition), so this module
loads a workflow in two queries and saves a decision in at most four.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from django.db import connection, models

from orchestration.definitions.model import WorkflowDefinition
from orchestration.engine.state import TaskState, WorkflowState
from orchestration.models import DefinitionSnapshot, History, Task, Workflow

# Columns of Task in TaskState's vocabulary (TaskState.task_id <-> Task.id).
TASK_FIELDS: tuple[str, ...] = (
    "ref", "task_type", "task_def_name", "status", "seq", "retry_count", "retried", "executed", "iteration",
    "input", "output", "reason_for_incompletion", "worker_id", "domain", "queue_name", "poll_count",
    "callback_after_seconds", "start_delay_seconds", "response_timeout_seconds", "timeout_seconds",
    "retried_task_id", "workflow_priority", "extra", "scheduled_time", "first_scheduled_time", "start_time",
    "end_time", "update_time", "dispatch_at", "timeout_at",
)
WORKFLOW_FIELDS: tuple[str, ...] = (
    "name", "version", "status", "correlation_id", "priority", "input", "output", "variables", "task_to_domain",
    "reason_for_incompletion", "failed_reference_task_names", "failed_task_names", "parent_workflow_id",
    "parent_workflow_task_id", "extra", "create_time", "update_time", "end_time", "last_retried_time",
    "next_check_at",
)

_SNAPSHOT_CACHE_SIZE = 256
_snapshot_cache: OrderedDict[str, WorkflowDefinition] = OrderedDict()
_snapshot_lock = threading.Lock()


class TaskChangedConcurrently(Exception):
    """A task's status changed between loading the workflow and saving the decision (a worker
    result or claim committed meanwhile): the transaction must roll back and decide again."""


def snapshot_key(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def remember_definition(key: str, definition: WorkflowDefinition) -> None:
    with _snapshot_lock:
        _snapshot_cache[key] = definition
        _snapshot_cache.move_to_end(key)
        while len(_snapshot_cache) > _SNAPSHOT_CACHE_SIZE:
            _snapshot_cache.popitem(last=False)


def definition_for(key: str) -> WorkflowDefinition:
    """The parsed frozen definition; parsed once per process (snapshots never change)."""
    with _snapshot_lock:
        cached = _snapshot_cache.get(key)
        if cached is not None:
            _snapshot_cache.move_to_end(key)
            return cached
    data = DefinitionSnapshot.objects.values_list("data", flat=True).get(pk=key)
    definition = WorkflowDefinition.from_json(data)
    remember_definition(key, definition)
    return definition


def task_from_row(row: dict[str, Any]) -> TaskState:
    task = TaskState(task_id=row["id"], **{f: row[f] for f in TASK_FIELDS})
    task.start_tracking()
    return task


_WORKFLOW_JSON = ("input", "output", "variables", "task_to_domain", "failed_reference_task_names", "failed_task_names", "extra")


@functools.cache
def _load_statements(lock: bool, nowait: bool, vendor: str) -> tuple[str, str]:
    """The two reads of a decide, as SQL built once per process: this runs on every task
    transition, and the ORM spent more time composing these queries than the database did
    answering them."""
    lock_clause = ""
    if lock and vendor == "postgresql":
        lock_clause = " FOR UPDATE NOWAIT" if nowait else " FOR UPDATE"
    workflow_sql = (
        f"SELECT snapshot_id, {', '.join(WORKFLOW_FIELDS)} FROM {Workflow._meta.db_table} WHERE id = %s{lock_clause}"
    )
    # Superseded attempts (retried=True) are history: the decider never needs them.
    task_sql = (
        f"SELECT id, {', '.join(TASK_FIELDS)} FROM {Task._meta.db_table} "
        "WHERE workflow_id = %s AND retried = %s ORDER BY seq"
    )
    return workflow_sql, task_sql


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def load_workflow(workflow_id: str, *, lock: bool = False, nowait: bool = False) -> WorkflowState | None:
    """A workflow and its live tasks, optionally under the workflow's row lock (SELECT ... FOR
    UPDATE [NOWAIT] on PostgreSQL; SQLite serializes writers with BEGIN IMMEDIATE instead)."""
    workflow_sql, task_sql = _load_statements(lock, nowait, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(workflow_sql, [workflow_id])
        row = cursor.fetchone()
        if row is None:
            return None
        values = dict(zip(("snapshot_id", *WORKFLOW_FIELDS), row, strict=True))
        for name in _WORKFLOW_JSON:
            values[name] = _json(values[name])
        cursor.execute(task_sql, [workflow_id, False])
        task_names = [c[0] for c in cursor.description]
        task_rows = cursor.fetchall()
    snapshot = values.pop("snapshot_id")
    wf = WorkflowState(workflow_id=workflow_id, definition=definition_for(snapshot), snapshot_key=snapshot, **values)
    wf.tasks = [task_from_row(decode_task_row(dict(zip(task_names, r, strict=True)))) for r in task_rows]
    wf.start_tracking()
    return wf


_HISTORY_COLUMNS = ("workflow_id", "task_id", "ref", "from_status", "to_status", "actor", "reason", "at")
_TASK_INSERT_COLUMNS = ("id", "workflow_id", *TASK_FIELDS)
_WORKFLOW_INSERT_COLUMNS = ("id", "snapshot_id", *WORKFLOW_FIELDS)


@functools.cache
def _fields(model: type[models.Model], columns: tuple[str, ...]) -> tuple[models.Field, ...]:
    return tuple(model._meta.get_field(c) for c in columns)


# Rows per INSERT: keeps a statement under SQLite's 32,766 and PostgreSQL's 65,535 parameters
# even for a fork of thousands of branches.
_INSERT_CHUNK = 500


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], columns: tuple[str, ...], count: int) -> str:
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) VALUES {', '.join([row] * count)}"


def _insert(model: type[models.Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """A multi-row INSERT in one statement; each value goes through its Django field, so JSON and
    types are adapted exactly as the ORM would (this runs on every transition: SQL is cached)."""
    fields = _fields(model, columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params = [field.get_db_prep_save(v, connection) for row in chunk for field, v in zip(fields, row, strict=True)]
            cursor.execute(_insert_sql(model, columns, len(chunk)), params)


@functools.lru_cache(maxsize=256)
def _update_sql(model: type[models.Model], columns: tuple[str, ...], guarded: bool) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(c)} = %s" for c in columns)
    guard = f" AND {quote('status')} = %s" if guarded else ""
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote('id')} = %s{guard}"


def _update(model: type[models.Model], pk: str, values: dict[str, Any], *, expected_status: str | None = None) -> int:
    """UPDATE one row's ``values``; with ``expected_status``, only if its status is still that
    (compare-and-set). Returns the number of rows changed."""
    columns = tuple(values)
    fields = _fields(model, columns)
    params = [field.get_db_prep_save(values[c], connection) for c, field in zip(columns, fields, strict=True)]
    params.append(pk)
    if expected_status is not None:
        params.append(expected_status)
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, columns, expected_status is not None), params)
        return cursor.rowcount


def save_workflow(wf: WorkflowState, *, new_tasks: list[TaskState], changed_tasks: list[TaskState], actor: str) -> None:
    """Write what the decision changed and append the history of every status change."""
    history: list[tuple[Any, ...]] = []
    wid = wf.workflow_id
    if wf.is_new:
        _insert(Workflow, _WORKFLOW_INSERT_COLUMNS, [(wid, wf.snapshot_key, *(getattr(wf, f) for f in WORKFLOW_FIELDS))])
        history.append((wid, None, None, None, "RUNNING", actor, None, wf.create_time))
    if new_tasks:
        _insert(Task, _TASK_INSERT_COLUMNS, [(t.task_id, wid, *(getattr(t, f) for f in TASK_FIELDS)) for t in new_tasks])
        history.extend((wid, t.task_id, t.ref, None, t.status, actor, None, t.update_time) for t in new_tasks)
    for task in changed_tasks:
        fields = sorted(task.dirty or ())
        if not fields:
            continue
        # Compare-and-set on a status change: the decider holds the workflow's lock, not the
        # task's, so a worker's result may have landed since the load; then this decision is stale.
        guard = task.loaded_status if "status" in fields else None
        if not _update(Task, task.task_id, {f: getattr(task, f) for f in fields}, expected_status=guard) and guard:
            raise TaskChangedConcurrently(task.task_id)
        if guard and task.status != task.loaded_status:
            history.append(
                (wid, task.task_id, task.ref, task.loaded_status, task.status, actor, task.reason_for_incompletion, task.update_time)
            )
    if not wf.is_new and wf.dirty:
        fields = sorted(wf.dirty)
        _update(Workflow, wid, {f: getattr(wf, f) for f in fields})
        if "status" in fields and wf.status != wf.loaded_status:
            history.append((wid, None, None, wf.loaded_status, wf.status, actor, wf.reason_for_incompletion, wf.update_time))
    if wf.is_new and wf.status != "RUNNING":
        final = ("status", "output", "reason_for_incompletion", "end_time", "update_time", "next_check_at",
                 "variables", "failed_reference_task_names", "failed_task_names")  # fmt: skip
        _update(Workflow, wid, {f: getattr(wf, f) for f in final})
        history.append((wid, None, None, "RUNNING", wf.status, actor, wf.reason_for_incompletion, wf.update_time))
    if history:
        _insert(History, _HISTORY_COLUMNS, history)


def decode_task_row(row: dict[str, Any]) -> dict[str, Any]:
    """A task row read with raw SQL, as the ORM would give it: Django has the driver hand JSON
    back as text (its JSONField decodes it), and SQLite gives booleans as integers."""
    for json_field in ("input", "output", "extra"):
        value = row[json_field]
        if isinstance(value, str | bytes):
            row[json_field] = json.loads(value)
    for bool_field in ("retried", "executed"):
        row[bool_field] = bool(row[bool_field])
    return row


def claim_sql(*, extra_condition: str = "") -> str:
    """The guarded SCHEDULED -> IN_PROGRESS UPDATE ... RETURNING, shared by the transactional
    claim below and the PostgreSQL single-statement one (services.fastpath).

    A task waiting out a delay (callbackAfterSeconds, start delay, retry backoff) is not
    claimable before it is due, whoever holds an old message for it; undelayed tasks are
    claimable whatever the clocks say (no skew between machines can strand a fresh task).

    The response/task timeout deadline is computed in SQL from the row's own columns so that
    no read is needed before the write.
    """
    table = Task._meta.db_table
    resp_deadline = "(%(now)s + response_timeout_seconds * 1000)"
    started = "(CASE WHEN start_time > 0 THEN start_time ELSE %(now)s END)"
    task_deadline = f"({started} + (start_delay_seconds + timeout_seconds) * 1000)"
    return f"""
        UPDATE {table} SET
            status = 'IN_PROGRESS',
            start_time = {started},
            poll_count = poll_count + 1,
            callback_after_seconds = 0,
            worker_id = %(worker)s,
            update_time = %(now)s,
            dispatch_at = NULL,
            timeout_at = CASE
                WHEN timeout_seconds > 0 AND (response_timeout_seconds <= 0 OR {task_deadline} < {resp_deadline})
                    THEN {task_deadline}
                WHEN response_timeout_seconds > 0 THEN {resp_deadline}
                ELSE NULL END
        WHERE id = %(id)s AND status = 'SCHEDULED'
            AND (callback_after_seconds <= 0 OR update_time + callback_after_seconds * 1000 <= %(now)s)
            {extra_condition}
        RETURNING id, workflow_id, {", ".join(TASK_FIELDS)}
    """


def claim_task(*, task_id: str, worker_id: str | None, now: int) -> dict[str, Any] | None:
    """SCHEDULED -> IN_PROGRESS with its history row, inside the caller's transaction; the
    claimed row comes back (see claim_sql for the conditions)."""
    sql = claim_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"now": now, "worker": worker_id, "id": task_id})
        row = cursor.fetchone()
        if row is None:
            return None
        names = [c[0] for c in cursor.description]
    result = decode_task_row(dict(zip(names, row, strict=True)))
    History.objects.create(
        workflow_id=result["workflow_id"], task_id=task_id, ref=result["ref"], from_status="SCHEDULED",
        to_status="IN_PROGRESS", actor=f"worker:{worker_id}" if worker_id else "worker", at=now,
    )
    return result
