"""Rows <-> engine values, and writing back exactly what a decision changed.

Kept deliberately close to the SQL: the transition hot path is counted in statements
(reference budget: at most 10 statements and 3 commits per task transition), so this module
loads a workflow in two queries and saves a decision in at most four.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from django.db import connection

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


def load_workflow(workflow_id: str, *, lock: bool = False, nowait: bool = False) -> WorkflowState | None:
    qs = Workflow.objects.filter(pk=workflow_id)
    if lock:
        qs = qs.select_for_update(nowait=nowait)
    rows = list(qs.values("snapshot_id", *WORKFLOW_FIELDS))
    if not rows:
        return None
    row = rows[0]
    wf = WorkflowState(
        workflow_id=workflow_id,
        definition=definition_for(row["snapshot_id"]),
        snapshot_key=row["snapshot_id"],
        **{f: row[f] for f in WORKFLOW_FIELDS},
    )
    # Superseded attempts (retried=True) are history: the decider never needs them.
    task_rows = Task.objects.filter(workflow_id=workflow_id, retried=False).values("id", *TASK_FIELDS)
    wf.tasks = [task_from_row(r) for r in task_rows]
    wf.tasks.sort(key=lambda t: t.seq)
    wf.start_tracking()
    return wf


def _task_row(task: TaskState, workflow_id: str) -> Task:
    return Task(id=task.task_id, workflow_id=workflow_id, **{f: getattr(task, f) for f in TASK_FIELDS})


def save_workflow(wf: WorkflowState, *, new_tasks: list[TaskState], changed_tasks: list[TaskState], actor: str) -> None:
    """Write what the decision changed and append the history of every status change."""
    history: list[History] = []
    if wf.is_new:
        Workflow.objects.create(id=wf.workflow_id, snapshot_id=wf.snapshot_key, **{f: getattr(wf, f) for f in WORKFLOW_FIELDS})
        history.append(History(workflow_id=wf.workflow_id, to_status="RUNNING", actor=actor, at=wf.create_time))
    if new_tasks:
        Task.objects.bulk_create([_task_row(t, wf.workflow_id) for t in new_tasks])
        history.extend(
            History(workflow_id=wf.workflow_id, task_id=t.task_id, ref=t.ref, to_status=t.status, actor=actor, at=t.update_time)
            for t in new_tasks
        )
    for task in changed_tasks:
        fields = sorted(task.dirty or ())
        if not fields:
            continue
        rows = Task.objects.filter(pk=task.task_id)
        if "status" in fields:
            # Compare-and-set: the decider holds the workflow's lock, not the task's, so a
            # worker's result may have landed since the load; then this decision is stale.
            rows = rows.filter(status=task.loaded_status)
        if not rows.update(**{f: getattr(task, f) for f in fields}) and "status" in fields:
            raise TaskChangedConcurrently(task.task_id)
        if "status" in fields and task.status != task.loaded_status:
            history.append(
                History(
                    workflow_id=wf.workflow_id, task_id=task.task_id, ref=task.ref, from_status=task.loaded_status,
                    to_status=task.status, actor=actor, reason=task.reason_for_incompletion, at=task.update_time,
                )
            )
    if not wf.is_new and wf.dirty:
        fields = sorted(wf.dirty)
        Workflow.objects.filter(pk=wf.workflow_id).update(**{f: getattr(wf, f) for f in fields})
        if "status" in fields and wf.status != wf.loaded_status:
            history.append(
                History(
                    workflow_id=wf.workflow_id, from_status=wf.loaded_status, to_status=wf.status, actor=actor,
                    reason=wf.reason_for_incompletion, at=wf.update_time,
                )
            )
    if wf.is_new and wf.status != "RUNNING":
        Workflow.objects.filter(pk=wf.workflow_id).update(
            **{f: getattr(wf, f) for f in ("status", "output", "reason_for_incompletion", "end_time", "update_time", "next_check_at",
                                            "variables", "failed_reference_task_names", "failed_task_names")}
        )
        history.append(History(workflow_id=wf.workflow_id, from_status="RUNNING", to_status=wf.status, actor=actor,
                               reason=wf.reason_for_incompletion, at=wf.update_time))
    if history:
        History.objects.bulk_create(history)


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
