"""Rows <-> engine values, and writing back exactly what a decision changed.

Kept deliberately close to the SQL: the transition hot path is counted in statements
(reference budget: at most 10 statements and 3 commits per task transition), so this module
loads a workflow in two queries and saves a decision in at most four.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from django.db import connection, models

from orchestration.definitions.model import WorkflowDefinition
from orchestration.engine.state import LoadedTask, RawJSON, TaskState, WorkflowState
from orchestration.models import (
    CLAIM_COLUMNS,
    TASK_FIELDS,
    WORKFLOW_FIELDS,
    DefinitionSnapshot,
    History,
    Task,
    Workflow,
)
from orchestration.services.batch import run_batch

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


_new_object = object.__new__
_set_slot = object.__setattr__
# Every slot of a TaskState is either a persisted field or bookkeeping set below.
assert {f.name for f in dataclasses.fields(TaskState)} == {"task_id", *TASK_FIELDS, "is_new", "dirty", "loaded_status"}


def task_from_row(row: dict[str, Any]) -> TaskState:
    """A loaded task, tracking changes from now on; JSON columns still as text are decoded
    when first read (``LoadedTask``). Filled slot by slot rather than through the dataclass
    __init__: that sends each of its ~35 fields through the change tracker's __setattr__,
    which showed up in the worker's profile (every decide loads its tasks)."""
    task = _new_object(LoadedTask)
    _set_slot(task, "task_id", row["id"])
    for name in TASK_FIELDS:
        value = row[name]
        if name in _JSON_TASK_FIELDS and isinstance(value, str):
            value = RawJSON(value)
        _set_slot(task, name, value)
    _set_slot(task, "is_new", False)
    _set_slot(task, "dirty", set())
    _set_slot(task, "loaded_status", row["status"])
    return task


_JSON_TASK_FIELDS = frozenset({"input", "output", "extra"})
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


_TASK_COLUMNS = ("id", *TASK_FIELDS)


def load_workflow(workflow_id: str, *, lock: bool = False, nowait: bool = False) -> WorkflowState | None:
    """A workflow and its live tasks, optionally under the workflow's row lock (SELECT ... FOR
    UPDATE [NOWAIT] on PostgreSQL; SQLite serializes writers with BEGIN IMMEDIATE instead)."""
    return load_workflow_and(workflow_id, lock=lock, nowait=nowait)[0]


def load_workflow_and(
    workflow_id: str, *, lock: bool = False, nowait: bool = False, between: tuple[str, Any] | None = None
) -> tuple[WorkflowState | None, tuple[Any, ...] | None]:
    """``load_workflow``, with one more statement run after the workflow's row is locked and
    before its tasks are read (a worker's result, so that the decide sees it); returns the
    workflow (None if there is none) and the first row that statement returned (None if none).

    On PostgreSQL the two or three statements travel in one round trip (see ``run_batch``)."""
    workflow_sql, task_sql = _load_statements(lock, nowait, connection.vendor)
    statements: list[tuple[str, Any]] = [(workflow_sql, [workflow_id])]
    if between is not None:
        statements.append(between)
    statements.append((task_sql, [workflow_id, False]))
    results = run_batch(statements, fetch=True)
    rows = results[0]
    extra = results[1][0] if between is not None and results[1] else None
    if not rows:
        return None, extra
    values = dict(zip(("snapshot_id", *WORKFLOW_FIELDS), rows[0], strict=True))
    for name in _WORKFLOW_JSON:
        values[name] = _json(values[name])
    snapshot = values.pop("snapshot_id")
    wf = WorkflowState(workflow_id=workflow_id, definition=definition_for(snapshot), snapshot_key=snapshot, **values)
    wf.tasks = [task_from_row(_bools(dict(zip(_TASK_COLUMNS, r, strict=True)))) for r in results[-1]]
    wf.start_tracking()
    return wf, extra


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
    executed_in_db: frozenset[str] = frozenset(),
) -> None:
    """Write what the decision changed and append the history of every status change: one
    batch of statements (one round trip on PostgreSQL). A new workflow's frozen definition
    (``snapshot``: key, JSON text) is stored first unless a row with that key exists.
    ``executed_in_db``: tasks whose row already has its processed flag set in this transaction
    (see ``unmark_executed``)."""
    if executed_in_db:
        changed_tasks = _reconcile_executed(wf, changed_tasks, executed_in_db)
    history: list[tuple[Any, ...]] = []
    statements: list[tuple[str, Any]] = []
    if snapshot is not None:
        statements.append((_snapshot_insert_sql(), [snapshot[0], snapshot[1], wf.create_time]))
    guarded: dict[int, str] = {}  # statement index -> task id, for the compare-and-set updates
    wid = wf.workflow_id
    if wf.is_new:
        statements += _insert(Workflow, _WORKFLOW_INSERT_COLUMNS, [(wid, wf.snapshot_key, *(getattr(wf, f) for f in WORKFLOW_FIELDS))])
        history.append((wid, None, None, None, "RUNNING", actor, None, wf.create_time))
    if new_tasks:
        statements += _insert(Task, _TASK_INSERT_COLUMNS, [(t.task_id, wid, *(getattr(t, f) for f in TASK_FIELDS)) for t in new_tasks])
        history.extend((wid, t.task_id, t.ref, None, t.status, actor, None, t.update_time) for t in new_tasks)
    for task in changed_tasks:
        fields = sorted(task.dirty or ())
        if not fields:
            continue
        # Compare-and-set on a status change: the decider holds the workflow's lock, not the
        # task's, so a worker's result may have landed since the load; then this decision is stale.
        guard = task.loaded_status if "status" in fields else None
        if guard:
            guarded[len(statements)] = task.task_id
        statements.append(_update(Task, task.task_id, {f: getattr(task, f) for f in fields}, expected_status=guard))
        if guard and task.status != task.loaded_status:
            history.append(
                (wid, task.task_id, task.ref, task.loaded_status, task.status, actor, task.reason_for_incompletion, task.update_time)
            )
    if not wf.is_new and wf.dirty:
        fields = sorted(wf.dirty)
        statements.append(_update(Workflow, wid, {f: getattr(wf, f) for f in fields}))
        if "status" in fields and wf.status != wf.loaded_status:
            history.append((wid, None, None, wf.loaded_status, wf.status, actor, wf.reason_for_incompletion, wf.update_time))
    if wf.is_new and wf.status != "RUNNING":
        final = ("status", "output", "reason_for_incompletion", "end_time", "update_time", "next_check_at",
                 "variables", "failed_reference_task_names", "failed_task_names")  # fmt: skip
        statements.append(_update(Workflow, wid, {f: getattr(wf, f) for f in final}))
        history.append((wid, None, None, "RUNNING", wf.status, actor, wf.reason_for_incompletion, wf.update_time))
    if history:
        statements += _insert(History, _HISTORY_COLUMNS, history)
    if not statements:
        return
    counts = run_batch(statements)
    for index, task_id in guarded.items():
        if not counts[index]:
            raise TaskChangedConcurrently(task_id)  # the caller's transaction rolls it all back


def unmark_executed(wf: WorkflowState, task_ids: frozenset[str]) -> None:
    """Show the decider these tasks as not yet processed, without recording a change: their
    rows got the flag from the result written in this same transaction, ahead of the decide
    that is about to process them."""
    if not task_ids:
        return
    for task in wf.tasks:
        if task.task_id in task_ids:
            _set_slot(task, "executed", False)


def _reconcile_executed(wf: WorkflowState, changed: list[TaskState], task_ids: frozenset[str]) -> list[TaskState]:
    """After the decide, for tasks whose row already says processed: a decide that processed
    them needs no write for the flag; one that did not (say, a paused workflow) writes it back
    to false."""
    out = list(changed)
    for task in wf.tasks:
        if task.task_id not in task_ids or task.dirty is None:
            continue
        if task.executed:
            task.dirty.discard("executed")
        else:
            task.dirty.add("executed")
            if not any(t is task for t in out):
                out.append(task)
    return out


def decode_task_row(row: dict[str, Any]) -> dict[str, Any]:
    """A task row read with raw SQL, as the ORM would give it: Django has the driver hand JSON
    back as text (its JSONField decodes it), and SQLite gives booleans as integers."""
    for json_field in _JSON_TASK_FIELDS:
        value = row[json_field]
        if isinstance(value, str | bytes):
            row[json_field] = json.loads(value)
    return _bools(row)


def _bools(row: dict[str, Any]) -> dict[str, Any]:
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
        RETURNING {", ".join(CLAIM_COLUMNS)}
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
    result = decode_task_row(dict(zip(CLAIM_COLUMNS, row, strict=True)))
    History.objects.create(
        workflow_id=result["workflow_id"], task_id=task_id, ref=result["ref"], from_status="SCHEDULED",
        to_status="IN_PROGRESS", actor=f"worker:{worker_id}" if worker_id else "worker", at=now,
    )
    return result
