"""Task services: claim (hand a task to a worker) and update (a worker's result).

Both are single transactions with a compare-and-set on the task's status: a task reaches a
terminal status once per attempt, and a late or duplicate result changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from orchestration import dispatch
from orchestration.definitions.model import TaskDefinition
from orchestration.engine import timeouts
from orchestration.engine.operators import Kind, operator_for
from orchestration.models import History, PollData, Task, TaskLog
from orchestration.services import store
from orchestration.services.errors import BadRequest, NotFound
from orchestration.services.workflows import now_ms, redispatch_grace_ms, workflow_decide

UPDATE_STATUSES = frozenset({"IN_PROGRESS", "COMPLETED", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "CANCELED"})
OPEN = ("SCHEDULED", "IN_PROGRESS")


@dataclass(frozen=True, slots=True)
class UpdateResult:
    task_id: str
    workflow_id: str
    applied: bool  # False: the task was already terminal, nothing changed
    terminal: bool  # the update made the task terminal (a decide follows)


def task_claim(*, task_id: str, worker_id: str | None) -> dict[str, Any] | None:
    """SCHEDULED -> IN_PROGRESS; None when the task is gone or no longer SCHEDULED (a stale or
    duplicate message, or another worker won)."""
    with transaction.atomic():
        return store.claim_task(task_id=task_id, worker_id=worker_id, now=now_ms())


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
    rows = list(Task.objects.select_for_update().filter(pk=task_id).values("id", "workflow_id", *store.TASK_FIELDS))
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
        callback = max(0, int(callback_after_seconds or 0))
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
