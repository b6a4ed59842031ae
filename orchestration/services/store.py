"""Rows <-> engine values: loading a workflow for a decide, writing back exactly what the
decision changed, and the claim of a task.

Kept close to the SQL because every task transition runs through here and is budgeted in
statements (at most 10 statements and 3 commits per transition; ``make bench`` counts them): a
workflow loads in two statements and a decision saves in at most four, each step in one round
trip (``services.statements``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import connection, models

from orchestration.engine.results import AppliedResult
from orchestration.engine.state import TaskState, WorkflowState
from orchestration.models import (
    CLAIM_COLUMNS,
    TASK_FIELDS,
    WORKFLOW_FIELDS,
    WORKFLOW_INFO,
    DefinitionSnapshot,
    History,
    Task,
    Workflow,
)
from orchestration.services import statements
from orchestration.snapshots import definition_for


class TaskChangedConcurrently(Exception):
    """A task's status changed between loading the workflow and saving the decision (a worker
    result or claim committed meanwhile): the transaction must roll back and decide again."""


# Every field of a TaskState is either a persisted column or bookkeeping for the save.
assert {f.name for f in dataclasses.fields(TaskState)} == {"task_id", *TASK_FIELDS, "is_new", "dirty", "loaded_status"}

_JSON_TASK_FIELDS = ("input", "output", "extra")
_BOOL_TASK_FIELDS = ("retried", "executed")
_WORKFLOW_JSON = ("input", "output", "variables", "task_to_domain", "failed_reference_task_names", "failed_task_names", "extra")


def _json(value: Any) -> Any:
    """A JSON column as read with plain SQL: Django has the driver hand JSON back as text (its
    JSONField decodes it), so statements that bypass the ORM decode it here."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def decode_task_row(row: dict[str, Any]) -> dict[str, Any]:
    """A task row read with plain SQL, as the ORM would give it: JSON decoded, and booleans as
    booleans (SQLite hands them back as integers)."""
    for name in _JSON_TASK_FIELDS:
        row[name] = _json(row[name])
    for name in _BOOL_TASK_FIELDS:
        row[name] = bool(row[name])
    return row


_new_object = object.__new__
_set_field = object.__setattr__


def task_from_row(row: dict[str, Any]) -> TaskState:
    """A loaded task (``id``, ``TASK_FIELDS``, decoded), tracking changes from now on. Filled
    field by field rather than through the dataclass __init__, which would send each of its
    ~35 fields through the change tracker's __setattr__: every decide loads every live task of
    its workflow, and that showed up in the worker's profile."""
    task = _new_object(TaskState)
    _set_field(task, "task_id", row["id"])
    for name in TASK_FIELDS:
        _set_field(task, name, row[name])
    _set_field(task, "is_new", False)
    _set_field(task, "dirty", set())
    _set_field(task, "loaded_status", row["status"])
    return task


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


_TASK_COLUMNS = ("id", *TASK_FIELDS)


def load_workflow(workflow_id: str, *, lock: bool = False, nowait: bool = False) -> WorkflowState | None:
    """A workflow and its live tasks, optionally under the workflow's row lock (SELECT ... FOR
    UPDATE [NOWAIT] on PostgreSQL; SQLite serializes writers with BEGIN IMMEDIATE instead).
    The two reads share one round trip."""
    workflow_sql, task_sql = _load_statements(lock, nowait, connection.vendor)
    rows, task_rows = statements.run([(workflow_sql, [workflow_id]), (task_sql, [workflow_id, False])], fetch=True)
    if not rows:
        return None
    values = dict(zip(("snapshot_id", *WORKFLOW_FIELDS), rows[0], strict=True))
    for name in _WORKFLOW_JSON:
        values[name] = _json(values[name])
    snapshot = values.pop("snapshot_id")
    wf = WorkflowState(workflow_id=workflow_id, definition=definition_for(snapshot), snapshot_key=snapshot, **values)
    wf.tasks = [task_from_row(decode_task_row(dict(zip(_TASK_COLUMNS, r, strict=True)))) for r in task_rows]
    wf.start_tracking()
    return wf


_HISTORY_COLUMNS = ("workflow_id", "task_id", "ref", "from_status", "to_status", "actor", "reason", "at")
_TASK_INSERT_COLUMNS = ("id", "workflow_id", *TASK_FIELDS)
_WORKFLOW_INSERT_COLUMNS = ("id", "snapshot_id", *WORKFLOW_FIELDS)


def _as_json(value: Any) -> Any:
    return None if value is None else json.dumps(value)


def _as_int(value: Any) -> Any:
    return None if value is None else int(value)


def _as_bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _as_str(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _adapter(field: models.Field) -> Any:
    """What the field's get_db_prep_save would do to a value, for the few field kinds these
    tables use, without the ORM's per-value dispatch (this runs for every column of every row
    written on a transition). A JSON value goes as text, which both databases take for a JSON
    column; an SQL NULL stays NULL."""
    if isinstance(field, models.JSONField):
        return _as_json
    if isinstance(field, models.BooleanField):
        return _as_bool
    if isinstance(field, models.IntegerField | models.BigIntegerField | models.AutoField):
        return _as_int
    if isinstance(field, models.CharField | models.TextField | models.ForeignKey):
        return _as_str
    raise TypeError(f"no adapter for {field!r}")


@functools.cache
def _adapters(model: type[models.Model], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_adapter(model._meta.get_field(c)) for c in columns)


# Rows per INSERT: keeps a statement under SQLite's 32,766 and PostgreSQL's 65,535 parameters
# even for a fork of thousands of branches.
_INSERT_CHUNK = 500


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], columns: tuple[str, ...], count: int) -> str:
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) VALUES {', '.join([row] * count)}"


@functools.cache
def _snapshot_insert_sql() -> str:
    table = connection.ops.quote_name(DefinitionSnapshot._meta.db_table)
    return f"INSERT INTO {table} (key, data, create_time) VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING"


def _insert(model: type[models.Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[tuple[str, Any]]:
    """The multi-row INSERT statements (SQL is cached) for ``rows``, values adapted per column."""
    adapters = _adapters(model, columns)
    statements = []
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        params = [adapt(v) for row in chunk for adapt, v in zip(adapters, row, strict=True)]
        statements.append((_insert_sql(model, columns, len(chunk)), params))
    return statements


@functools.lru_cache(maxsize=256)
def _update_sql(model: type[models.Model], columns: tuple[str, ...], guarded: bool) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(c)} = %s" for c in columns)
    guard = f" AND {quote('status')} = %s" if guarded else ""
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote('id')} = %s{guard}"


def _update(model: type[models.Model], pk: str, values: dict[str, Any], *, expected_status: str | None = None) -> tuple[str, Any]:
    """The UPDATE of one row's ``values``; with ``expected_status``, only if its status is still
    that (compare-and-set: the row count tells)."""
    columns = tuple(values)
    params = [adapt(values[c]) for c, adapt in zip(columns, _adapters(model, columns), strict=True)]
    params.append(pk)
    if expected_status is not None:
        params.append(expected_status)
    return _update_sql(model, columns, expected_status is not None), params


def save_workflow(
    wf: WorkflowState,
    *,
    new_tasks: list[TaskState],
    changed_tasks: list[TaskState],
    actor: str,
    snapshot: tuple[str, str] | None = None,
    results: Mapping[str, tuple[AppliedResult, str]] | None = None,
) -> None:
    """Write what the decision changed and append the history of every status change, in one
    round trip. A new workflow's frozen definition (``snapshot``: key, JSON text) is stored
    first unless a row with that key exists. ``results``: task id -> (the worker's result
    applied before the decide, who reported it), so that the history shows the result and then
    what the decider made of it (a FAILED optional task becoming COMPLETED_WITH_ERRORS)."""
    results = results or {}
    history: list[tuple[Any, ...]] = []
    batch: list[tuple[str, Any]] = []
    if snapshot is not None:
        batch.append((_snapshot_insert_sql(), [snapshot[0], snapshot[1], wf.create_time]))
    guarded: dict[int, str] = {}  # statement index -> task id, for the compare-and-set updates
    wid = wf.workflow_id
    if wf.is_new:
        batch += _insert(Workflow, _WORKFLOW_INSERT_COLUMNS, [(wid, wf.snapshot_key, *(getattr(wf, f) for f in WORKFLOW_FIELDS))])
        history.append((wid, None, None, None, "RUNNING", actor, None, wf.create_time))
    if new_tasks:
        batch += _insert(Task, _TASK_INSERT_COLUMNS, [(t.task_id, wid, *(getattr(t, f) for f in TASK_FIELDS)) for t in new_tasks])
        history.extend((wid, t.task_id, t.ref, None, t.status, actor, None, t.update_time) for t in new_tasks)
    _task_updates(wid, changed_tasks, actor=actor, results=results, batch=batch, history=history, guarded=guarded)
    if not wf.is_new and wf.dirty:
        fields = sorted(wf.dirty)
        batch.append(_update(Workflow, wid, {f: getattr(wf, f) for f in fields}))
        if "status" in fields and wf.status != wf.loaded_status:
            history.append((wid, None, None, wf.loaded_status, wf.status, actor, wf.reason_for_incompletion, wf.update_time))
    if wf.is_new and wf.status != "RUNNING":
        final = ("status", "output", "reason_for_incompletion", "end_time", "update_time", "next_check_at",
                 "variables", "failed_reference_task_names", "failed_task_names")  # fmt: skip
        batch.append(_update(Workflow, wid, {f: getattr(wf, f) for f in final}))
        history.append((wid, None, None, "RUNNING", wf.status, actor, wf.reason_for_incompletion, wf.update_time))
    _run_writes(batch, history, guarded)


def save_task_result(task: TaskState, *, workflow_id: str, applied: AppliedResult, reporter: str) -> None:
    """Write a worker's result to its task alone, without a decide (the workflow's lock was
    taken by another process, which leaves the decide to a decide request)."""
    batch: list[tuple[str, Any]] = []
    history: list[tuple[Any, ...]] = []
    guarded: dict[int, str] = {}
    results = {task.task_id: (applied, reporter)}
    _task_updates(workflow_id, [task], actor=reporter, results=results, batch=batch, history=history, guarded=guarded)
    _run_writes(batch, history, guarded)


def _task_updates(
    workflow_id: str,
    changed_tasks: list[TaskState],
    *,
    actor: str,
    results: Mapping[str, tuple[AppliedResult, str]],
    batch: list[tuple[str, Any]],
    history: list[tuple[Any, ...]],
    guarded: dict[int, str],
) -> None:
    """The UPDATEs of changed tasks (appended to ``batch``), and their history rows."""
    for task in changed_tasks:
        fields = sorted(task.dirty or ())
        if not fields:
            continue
        # Compare-and-set on a status change: the decider holds the workflow's lock, not the
        # task's, so a worker's result may have landed since the load; then this decision is stale.
        guard = task.loaded_status if "status" in fields else None
        if guard:
            guarded[len(batch)] = task.task_id
        batch.append(_update(Task, task.task_id, {f: getattr(task, f) for f in fields}, expected_status=guard))
        if not guard:
            continue
        before = task.loaded_status
        reported = results.get(task.task_id)
        if reported is not None and reported[0].to_status != before:
            applied, reporter = reported
            history.append((workflow_id, task.task_id, task.ref, before, applied.to_status, reporter, task.reason_for_incompletion, task.update_time))
            before = applied.to_status
        if task.status != before:
            history.append((workflow_id, task.task_id, task.ref, before, task.status, actor, task.reason_for_incompletion, task.update_time))


def _run_writes(batch: list[tuple[str, Any]], history: list[tuple[Any, ...]], guarded: dict[int, str]) -> None:
    if history:
        batch += _insert(History, _HISTORY_COLUMNS, history)
    if not batch:
        return
    counts = statements.run(batch)
    for index, task_id in guarded.items():
        if not counts[index]:
            raise TaskChangedConcurrently(task_id)  # the caller's transaction rolls it all back


_LOAD_TASK_SQL = f"SELECT {', '.join(('id', *TASK_FIELDS))} FROM {Task._meta.db_table} WHERE id = %s AND workflow_id = %s"


def load_task(task_id: str, *, workflow_id: str) -> TaskState | None:
    """One task of a workflow, loaded to apply a result to it, tracking changes from now on."""
    rows = statements.run([(_LOAD_TASK_SQL, [task_id, workflow_id])], fetch=True)[0]
    return task_from_row(decode_task_row(dict(zip(_TASK_COLUMNS, rows[0], strict=True)))) if rows else None




# --- the claim of a task: SCHEDULED -> IN_PROGRESS ---------------------------------------------



def _claim_update(vendor: str, in_queue: bool) -> str:
    """The guarded SCHEDULED -> IN_PROGRESS update, returning the claimed row and its
    workflow's ``WORKFLOW_INFO``.

    A task waiting out a delay (callbackAfterSeconds, start delay, retry backoff) is not
    claimable before it is due, whoever holds an old message for it; undelayed tasks are
    claimable whatever the clocks say (no skew between machines can strand a fresh task).

    The timeout deadline is what the decider left for the claim to finish (the earliest of a
    fixed time and a time counted from now, see engine.timeouts.ClaimDeadline): no rule of its
    own here, and no read before the write."""
    table, workflows = Task._meta.db_table, Workflow._meta.db_table
    from_now = "(%(now)s + claim_lease_ms)"
    queue = "AND queue_name = %(queue)s" if in_queue else ""
    info = ", ".join(
        f"(SELECT w.{c} FROM {workflows} AS w WHERE w.id = {table}.workflow_id) AS workflow_{c}" for c in WORKFLOW_INFO[1:]
    )
    return f"""
        UPDATE {table} SET
            status = 'IN_PROGRESS',
            start_time = CASE WHEN start_time > 0 THEN start_time ELSE %(now)s END,
            poll_count = poll_count + 1,
            callback_after_seconds = 0,
            worker_id = %(worker)s,
            update_time = %(now)s,
            dispatch_at = NULL,
            timeout_at = CASE
                WHEN claim_lease_ms IS NULL THEN claim_deadline_at
                WHEN claim_deadline_at IS NULL OR {from_now} < claim_deadline_at THEN {from_now}
                ELSE claim_deadline_at END,
            claim_deadline_at = NULL,
            claim_lease_ms = NULL
        WHERE id = %(id)s AND status = 'SCHEDULED'
            AND (callback_after_seconds <= 0 OR update_time + callback_after_seconds * 1000 <= %(now)s)
            {queue}
        RETURNING {", ".join(CLAIM_COLUMNS)}, {info}
    """


_HISTORY_INSERT = (
    f"INSERT INTO {History._meta.db_table} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at) "
    "VALUES (%(workflow)s, %(id)s, %(ref)s, 'SCHEDULED', 'IN_PROGRESS', %(actor)s, NULL, %(now)s)"
)


@functools.cache
def _claim_statement(vendor: str, in_queue: bool, async_commit: bool) -> str:
    """The claim as one statement where the dialect allows it. PostgreSQL writes the history row
    in the same statement (a data-modifying WITH); SQLite, which has no DML inside WITH, writes
    it with a second statement (``_HISTORY_INSERT``) in the same transaction."""
    update = _claim_update(vendor, in_queue)
    if vendor != "postgresql":
        return update
    history = History._meta.db_table
    # With ``async_commit`` the claim's transaction commits without waiting for its WAL to reach
    # disk (set_config(..., true) lasts until that commit). A database crash may then forget
    # the claims of its last fraction of a second, all or nothing: those tasks are SCHEDULED
    # again and handed out again, as after a worker crash. The wait it saves is a disk flush
    # per transition, the largest single wait of a worker's transition.
    unlogged = ", (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit" if async_commit else ""
    return f"""
        WITH claimed AS ({update}),
        logged AS (
            INSERT INTO {history} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at)
            SELECT workflow_id, id, ref, 'SCHEDULED', 'IN_PROGRESS', %(actor)s, NULL, %(now)s FROM claimed
        )
        SELECT claimed.*{unlogged} FROM claimed
    """


def claim(*, task_id: str, worker_id: str | None, now: int, queue_name: str | None = None) -> dict[str, Any] | None:
    """SCHEDULED -> IN_PROGRESS with its history row, in the caller's transaction (of queue
    ``queue_name`` only, if given): the claimed row (``id``, ``workflow_id``, ``TASK_FIELDS``)
    with its workflow's ``WORKFLOW_INFO`` under ``"workflow_info"``, or None when the task was
    not claimable (gone, taken, or waiting out a delay)."""
    actor = f"worker:{worker_id}" if worker_id else "worker"
    params: dict[str, Any] = {"now": now, "worker": worker_id, "id": task_id, "actor": actor}
    if queue_name is not None:
        params["queue"] = queue_name
    vendor = connection.vendor
    sql = _claim_statement(vendor, queue_name is not None, bool(settings.BATON["ASYNC_CLAIM_COMMIT"]))
    rows = statements.run([(sql, params)], fetch=True)[0]
    if not rows:
        return None
    row = rows[0]
    task = decode_task_row(dict(zip(CLAIM_COLUMNS, row[: len(CLAIM_COLUMNS)], strict=True)))
    if vendor != "postgresql":
        statements.run([(_HISTORY_INSERT, {**params, "workflow": task["workflow_id"], "ref": task["ref"]})])
    info = row[len(CLAIM_COLUMNS) : len(CLAIM_COLUMNS) + len(WORKFLOW_INFO) - 1]
    task["workflow_info"] = dict(zip(WORKFLOW_INFO, (task["workflow_id"], *info), strict=True))
    return task
