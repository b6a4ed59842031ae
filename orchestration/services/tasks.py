"""Task services: claim (hand a task to a worker) and update (a worker's result).

Both are single transactions with a compare-and-set on the task's status: a task reaches a
terminal status once per attempt, and a late or duplicate result changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.definitions.model import MAX_SECONDS, TaskDefinition
from orchestration.engine import timeouts
from orchestration.engine.context import base_ref
from orchestration.engine.operators import Kind, operator_for
from orchestration.models import TASK_FIELDS, History, PollData, Task, TaskLog, Workflow
from orchestration.services import fastpath, limits, store
from orchestration.services.errors import BadRequest, NotFound
from orchestration.services.workflows import (
    LockBusy,
    redispatch_grace_ms,
    workflow_decide,
    workflow_finish_and_decide,
)

UPDATE_STATUSES = frozenset({"IN_PROGRESS", "COMPLETED", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "CANCELED"})
OPEN = ("SCHEDULED", "IN_PROGRESS")


@dataclass(frozen=True, slots=True)
class UpdateResult:
    task_id: str
    workflow_id: str
    applied: bool  # False: the task was already terminal, nothing changed
    terminal: bool  # the update made the task terminal (a decide follows)
    # (task type, domain) when the write that applied the update already read them
    queue: tuple[str, str | None] | None = None


def task_claim(*, task_id: str, worker_id: str | None) -> dict[str, Any] | None:
    """SCHEDULED -> IN_PROGRESS; None when the task is gone or no longer SCHEDULED (a stale or
    duplicate message, or another worker won), or when its TaskDef's concurrency or rate limit
    is reached (then it stays SCHEDULED and is offered again later, see services.limits)."""
    now = now_ms()
    if fastpath.available():
        row = fastpath.claim(task_id=task_id, worker_id=worker_id, now=now)
        if row is not None:
            return row
        # Not claimed in one statement: a stale message, or a task with limits to check.
    try:
        with transaction.atomic():
            row = store.claim_task(task_id=task_id, worker_id=worker_id, now=now)
            # Claim first, check after: the claim is the one statement an unlimited task pays,
            # and only a task carrying limits goes on to lock and count.
            if row is not None and limits.LIMITS_KEY in row["extra"]:
                limited = limits.candidate(row)
                refused = limits.refusals([limited], now=now) if limited else {}
                if refused:
                    raise limits.Refused(refused[task_id])  # rolls the claim back
            return row
    except limits.Refused as refusal:
        limits.postpone({task_id: refusal.retry_at})
        return None


def record_poll(*, task_type: str, domain: str | None, worker_id: str | None, queue_name: str) -> None:
    PollData.objects.update_or_create(
        queue_name=queue_name,
        worker_id=worker_id or "",
        defaults={"task_type": task_type, "domain": domain, "last_poll_time": now_ms()},
    )


def task_update(
    *,
    task_id: str,
    workflow_id: str | None,
    status: str,
    output: dict[str, Any] | None = None,
    reason: str | None = None,
    worker_id: str | None = None,
    callback_after_seconds: int = 0,
    logs: list[str | dict[str, Any]] | None = None,
    extend_lease: bool = False,
    actor: str | None = None,
    decide: bool = True,
    ref: str | None = None,
) -> UpdateResult:
    """Apply a worker's TaskResult (reference §2.7, §4.9), then decide the workflow."""
    if not task_id:
        raise BadRequest("Task ID cannot be null or empty")
    if status not in UPDATE_STATUSES:
        raise BadRequest(f"status: invalid task status {status!r}")
    if output is not None and not isinstance(output, dict):
        raise BadRequest("outputData must be a JSON object")
    now = now_ms()
    who = actor or (f"worker:{worker_id}" if worker_id else "worker")
    if fastpath.available() and not logs and not extend_lease and status != "IN_PROGRESS":
        finish = {
            "task_id": task_id, "workflow_id": workflow_id, "status": status, "output": output or {}, "reason": reason,
            "worker_id": worker_id, "actor": who, "now": now,
        }
        if decide and workflow_id:
            # The usual case: the result and the decide in one transaction.
            try:
                row = workflow_finish_and_decide(
                    workflow_id=workflow_id, finish=fastpath.finish_statement(**finish, mark_executed=True),
                    marks_executed=task_id,
                )
            except LockBusy:
                pass  # another decide holds the workflow: write the result alone, queue a decide
            else:
                if row is None:
                    return UpdateResult(task_id, _existing_workflow(task_id, workflow_id), applied=False, terminal=False)
                return UpdateResult(task_id, workflow_id, applied=True, terminal=True, queue=(row[3], row[4]))
        done = fastpath.finish(**finish)
        if done is None:
            result = UpdateResult(task_id, _existing_workflow(task_id, workflow_id), applied=False, terminal=False)
        else:
            result = UpdateResult(task_id, done[0], applied=True, terminal=True, queue=(done[3], done[4]))
        if decide and result.terminal:
            workflow_decide(workflow_id=result.workflow_id, wait=False)
        return result
    with transaction.atomic():
        if status in ("IN_PROGRESS",) or extend_lease:
            result = _update_open(task_id, workflow_id, status, output, reason, worker_id, callback_after_seconds, extend_lease, now)
        else:
            fields: dict[str, Any] = {
                "status": status, "end_time": now, "update_time": now, "timeout_at": None, "dispatch_at": None,
                "output": output or {}, "reason_for_incompletion": reason,
            }
            if worker_id:
                fields["worker_id"] = worker_id
            qs = Task.objects.filter(pk=task_id)
            if workflow_id:
                qs = qs.filter(workflow_id=workflow_id)
            # Compare-and-set on the status: IN_PROGRESS is the usual case (one statement);
            # a result for a task nobody polled is accepted from SCHEDULED, as Conductor does.
            from_status = None
            for expected in OPEN[::-1]:
                if qs.filter(status=expected).update(**fields) == 1:
                    from_status = expected
                    break
            if from_status is None:
                wf_id = _existing_workflow(task_id, workflow_id)
                result = UpdateResult(task_id, wf_id, applied=False, terminal=False)
            else:
                wf_id = workflow_id or Task.objects.values_list("workflow_id", flat=True).get(pk=task_id)
                History.objects.create(
                    workflow_id=wf_id, task_id=task_id, ref=ref, from_status=from_status, to_status=status, actor=who,
                    reason=reason, at=now,
                )
                result = UpdateResult(task_id, wf_id, applied=True, terminal=True)
        if logs and result.applied:
            TaskLog.objects.bulk_create([_log_row(task_id, line, now) for line in logs])
    if decide and result.terminal:
        workflow_decide(workflow_id=result.workflow_id, wait=False)
    return result


def _log_row(task_id: str, line: Any, now: int) -> TaskLog:
    """A log line: a plain string, or Conductor's TaskExecLog ``{log, createdTime}``."""
    if isinstance(line, dict):
        created = line.get("createdTime")
        created = created if isinstance(created, int) and not isinstance(created, bool) and created > 0 else now
        return TaskLog(task_id=task_id, log=str(line.get("log", "")), created_time=created)
    return TaskLog(task_id=task_id, log=str(line), created_time=now)


def _existing_workflow(task_id: str, workflow_id: str | None) -> str:
    row = Task.objects.filter(pk=task_id).values_list("workflow_id", flat=True).first()
    if row is None or (workflow_id and row != workflow_id):
        raise NotFound(f"No such task found by id: {task_id}")
    return row


def _update_open(
    task_id: str,
    workflow_id: str | None,
    status: str,
    output: dict[str, Any] | None,
    reason: str | None,
    worker_id: str | None,
    callback_after_seconds: int,
    extend_lease: bool,
    now: int,
) -> UpdateResult:
    """IN_PROGRESS updates and lease extensions: the task stays open."""
    rows = list(Task.objects.select_for_update().filter(pk=task_id).values("id", "workflow_id", *TASK_FIELDS))
    if not rows or (workflow_id and rows[0]["workflow_id"] != workflow_id):
        raise NotFound(f"No such task found by id: {task_id}")
    row = rows[0]
    task = store.task_from_row(row)
    if task.status not in OPEN:
        return UpdateResult(task_id, row["workflow_id"], applied=False, terminal=False)
    task.update_time = now
    if not extend_lease:
        # A result replaces output, reason and worker, as Conductor's updateTask does.
        task.output = output or {}
        task.reason_for_incompletion = reason
        task.worker_id = worker_id
        callback = min(max(0, int(callback_after_seconds or 0)), MAX_SECONDS)
        task.callback_after_seconds = callback
        if operator_for(task.task_type).kind is Kind.WORKER:
            # A worker saying "not done yet" hands the task back: it returns to the queue and is
            # handed out again, same id, once callbackAfterSeconds have passed (reference §4.9).
            task.status = "SCHEDULED"
            task.dispatch_at = now + (callback * 1000 if callback else redispatch_grace_ms())
        else:
            task.status = "IN_PROGRESS"
    task_def = TaskDefinition.from_json(
        {"name": task.task_def_name, "responseTimeoutSeconds": task.response_timeout_seconds, "timeoutSeconds": task.timeout_seconds}
    )
    task.timeout_at = timeouts.task_deadline(task=task, task_def=task_def)
    fields = sorted(task.dirty or ())
    Task.objects.filter(pk=task_id).update(**{f: getattr(task, f) for f in fields})
    if task.status != task.loaded_status:
        History.objects.create(
            workflow_id=row["workflow_id"], task_id=task_id, ref=task.ref, from_status=task.loaded_status,
            to_status=task.status, actor=f"worker:{worker_id}" if worker_id else "worker", at=now,
        )
    if task.status == "SCHEDULED" and task.callback_after_seconds <= 0:
        transaction.on_commit(lambda: dispatch.publish_tasks([(task.task_id, task.queue_name, task.task_type)]))
    return UpdateResult(task_id, row["workflow_id"], applied=True, terminal=False)


# --- results addressed by reference name, signals, logs (reference §1.3) ------------------------

# Task types a signal completes. Conductor signals WAIT only; HUMAN tasks are the other kind of
# task that waits on the outside world, and nothing but an API call ever completes them.
SIGNAL_TASK_TYPES = ("WAIT", "HUMAN")
# How deep a signal looks into running sub-workflows (a guard against a malformed cycle).
MAX_SIGNAL_DEPTH = 32


def _check_status(status: str) -> None:
    if status not in UPDATE_STATUSES:
        names = ", ".join(sorted(UPDATE_STATUSES))
        raise BadRequest(f"Invalid task status '{status}': must be one of {names}")


def _open_tasks(workflow_id: str) -> list[dict[str, Any]]:
    rows = Task.objects.filter(workflow_id=workflow_id, status__in=OPEN).values("id", "workflow_id", *TASK_FIELDS)
    return sorted(rows, key=lambda r: r["seq"])


def pending_task_by_ref(*, workflow_id: str, ref: str) -> dict[str, Any] | None:
    """The open (non-terminal) task with reference name ``ref``; failing that, the open loop
    iteration ``ref__N`` with the highest N (Conductor's getPendingTaskForWorkflow)."""
    rows = _open_tasks(workflow_id)
    for row in rows:
        if row["ref"] == ref:
            return row
    iterations = [r for r in rows if base_ref(r["ref"]) == ref]
    return max(iterations, key=lambda r: (r["iteration"], r["seq"])) if iterations else None


def _apply_to_pending(
    pending: dict[str, Any], *, status: str, output: dict[str, Any] | None, worker_id: str | None, actor: str
) -> UpdateResult:
    """Conductor's ``new TaskResult(pending)`` with a new status and ``output`` merged into the
    task's current output; reason, worker and callbackAfterSeconds carry over from the task."""
    merged = {**(pending["output"] or {}), **(output or {})}
    return task_update(
        task_id=pending["id"], workflow_id=pending["workflow_id"], status=status, output=merged,
        reason=pending["reason_for_incompletion"], worker_id=worker_id or pending["worker_id"],
        callback_after_seconds=pending["callback_after_seconds"], ref=pending["ref"], actor=actor,
    )


def task_update_by_ref(
    *, workflow_id: str, ref: str, status: str, output: dict[str, Any] | None, worker_id: str | None = None
) -> str | None:
    """Update the open task ``ref`` of a workflow; its id, or None when there is none (an unknown
    workflow included, as in Conductor)."""
    _check_status(status)
    if output is not None and not isinstance(output, dict):
        raise BadRequest("output must be a JSON object")
    pending = pending_task_by_ref(workflow_id=workflow_id, ref=ref)
    if pending is None:
        return None
    _apply_to_pending(pending, status=status, output=output, worker_id=worker_id,
                      actor=f"worker:{worker_id}" if worker_id else "api")
    return pending["id"]


def _sub_workflow_id(row: dict[str, Any]) -> str | None:
    for source in (row.get("extra"), row.get("output"), row.get("input")):
        value = source.get("subWorkflowId") if isinstance(source, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def blocked_task(workflow_id: str, *, depth: int = 0) -> dict[str, Any] | None:
    """The first open WAIT/HUMAN task of the workflow, else of its running sub-workflows (in
    task order, depth first), as Conductor's signal looks for it."""
    rows = _open_tasks(workflow_id)
    for row in rows:
        if row["task_type"] in SIGNAL_TASK_TYPES:
            return row
    if depth >= MAX_SIGNAL_DEPTH:
        return None
    for row in rows:
        child = _sub_workflow_id(row) if row["task_type"] == "SUB_WORKFLOW" else None
        found = blocked_task(child, depth=depth + 1) if child else None
        if found is not None:
            return found
    return None


def task_signal(*, workflow_id: str, status: str, output: dict[str, Any] | None) -> dict[str, Any] | None:
    """Update the workflow's blocked task (see ``blocked_task``); the task row as it was before
    the update, or None when nothing is blocked."""
    _check_status(status)
    if output is not None and not isinstance(output, dict):
        raise BadRequest("output must be a JSON object")
    if not Workflow.objects.filter(pk=workflow_id).exists():
        raise NotFound(f"No such workflow found by id: {workflow_id}")
    pending = blocked_task(workflow_id)
    if pending is None:
        return None
    _apply_to_pending(pending, status=status, output=output, worker_id=None, actor="api:signal")
    return pending


def task_log_append(*, task_id: str, line: str) -> None:
    """One log line for a task, stored as sent (Conductor does not check that the task exists)."""
    TaskLog.objects.create(task_id=task_id, log=line, created_time=now_ms())


def task_logs(*, task_id: str) -> list[dict[str, Any]]:
    """The task's log as Conductor's TaskExecLog list, oldest first."""
    rows = TaskLog.objects.filter(task_id=task_id).order_by("id").values_list("log", "created_time")
    return [{"log": line, "taskId": task_id, "createdTime": created} for line, created in rows]
