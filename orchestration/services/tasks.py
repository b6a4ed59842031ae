"""Task services: the claim of a task by a worker, and a worker's result.

Each is one transaction, the same on PostgreSQL and SQLite. A claim is a compare-and-set
SCHEDULED -> IN_PROGRESS. A result is applied under the workflow's lock together with the decide
it calls for, so the task row is written once with the result and the decider's verdict on it;
a task ends once per attempt, and a late or duplicate result changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.engine.results import RESULT_STATUSES, TaskResult, apply_result
from orchestration.errors import BadRequest, Conflict, NotFound
from orchestration.models import PollData, Task, TaskLog, Workflow
from orchestration.selectors import open_tasks
from orchestration.services import limits, store, workflows
from orchestration.services.workflows import decide_and_save, lock_busy, redispatch_grace_ms

# A result is decided under the workflow's lock; a task of the workflow claimed meanwhile
# (claims take no workflow lock) makes the decide start over, on the rows as they are now.
MAX_RESULT_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class UpdateResult:
    task_id: str
    workflow_id: str
    applied: bool  # False: the task was already terminal, nothing changed
    terminal: bool  # the update made the task terminal
    # (task type, domain) of the task, when it was loaded
    queue: tuple[str, str | None] | None = None


def task_claim(
    *, task_id: str, worker_id: str | None, queue_name: str | None = None, postpone_refused: bool = True
) -> dict[str, Any] | None:
    """SCHEDULED -> IN_PROGRESS (of queue ``queue_name`` only, if given); None when the task is
    gone or no longer SCHEDULED (a stale or duplicate message, or another worker won), or when
    its TaskDef's concurrency or rate limit is reached: then it stays SCHEDULED, and with
    ``postpone_refused`` its message is due again later (see services.limits). REST pollers
    pass False: they look in the database on every poll, and a message brought back for them
    would only be published again and again with nobody allowed to take it."""
    now = now_ms()
    try:
        with transaction.atomic():
            row = store.claim(task_id=task_id, worker_id=worker_id, now=now, queue_name=queue_name)
            # Claim first, check after: the claim is the one statement an unlimited task pays,
            # and only a task carrying limits goes on to lock and count.
            if row is not None and limits.LIMITS_KEY in row["extra"]:
                limited = limits.candidate(row)
                refused = limits.refusals([limited], now=now) if limited else {}
                if refused:
                    raise limits.Refused(refused[task_id])  # rolls the claim back
            return row
    except limits.Refused as refusal:
        if postpone_refused:
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
) -> UpdateResult:
    """Apply a worker's TaskResult and decide the workflow, in one transaction: lock the
    workflow, load its live tasks, apply the result to the task (``engine.results``), decide,
    and write every change (the task's row once) with its history; messages for new tasks go
    out on commit."""
    if not task_id:
        raise BadRequest("Task ID cannot be null or empty")
    if status not in RESULT_STATUSES:
        raise BadRequest(f"status: invalid task status {status!r}")
    if output is not None and not isinstance(output, dict):
        raise BadRequest("outputData must be a JSON object")
    result = TaskResult(
        status=status, output=output, reason=reason, worker_id=worker_id,
        callback_after_seconds=callback_after_seconds, extend_lease=extend_lease,
    )
    reporter = actor or (f"worker:{worker_id}" if worker_id else "worker")
    wf_id = workflow_id or _existing_workflow(task_id, None)
    for _ in range(MAX_RESULT_ATTEMPTS):
        try:
            with transaction.atomic():
                return _apply(task_id, wf_id, result, reporter, logs, decide=True)
        except store.TaskChangedConcurrently:
            continue  # rolled back, the result included: apply it again to the rows as they are now
        except DatabaseError as error:
            if not lock_busy(error):
                raise
        # Another process holds the workflow's lock: write the result alone, and queue a decide
        # request, so that a worker never waits behind someone else's decide.
        try:
            with transaction.atomic():
                return _apply(task_id, wf_id, result, reporter, logs, decide=False)
        except store.TaskChangedConcurrently:
            continue
    # Every attempt met a task of the workflow changing under it: say so rather than fail
    # with an internal error; the worker's SDK retries the update.
    raise Conflict(f"Task {task_id}: its workflow kept changing while the result was applied; retry the update")


def _apply(
    task_id: str,
    workflow_id: str,
    result: TaskResult,
    reporter: str,
    logs: list[str | dict[str, Any]] | None,
    *,
    decide: bool,
) -> UpdateResult:
    """One attempt at applying a result, in the caller's transaction: with ``decide``, under the
    workflow's lock (taken without waiting: a busy lock raises) and with the decide it calls for;
    without, to the task alone, with a decide request queued."""
    now = now_ms()
    wf = store.load_workflow(workflow_id, lock=True, nowait=True) if decide else None
    if decide:
        task = next((t for t in wf.tasks if t.task_id == task_id), None) if wf is not None else None
    else:
        task = store.load_task(task_id, workflow_id=workflow_id)
    if task is None:
        # Not a live task of this workflow: unknown (404), or an attempt already superseded.
        return UpdateResult(task_id, _existing_workflow(task_id, workflow_id), applied=False, terminal=False)
    queue = (task.task_type, task.domain)
    applied = apply_result(task, result, now=now, redispatch_grace_ms=redispatch_grace_ms())
    if applied is None:
        return UpdateResult(task_id, workflow_id, applied=False, terminal=False, queue=queue)
    results = {task_id: (applied, reporter)}
    if wf is None:  # written alone: the lock's holder or a decide request decides
        store.save_task_result(task, workflow_id=workflow_id, applied=applied, reporter=reporter)
        if result.terminal:
            workflows.request_decide(workflow_id)
    elif wf.terminal and wf.status == "COMPLETED":
        # Nothing is left to decide; the task still records its result.
        store.save_workflow(wf, new_tasks=[], changed_tasks=[task], actor="decider", results=results)
    else:
        decide_and_save(wf, now=now, actor="decider", results=results)
    if applied.requeued_now:
        message = [(task.task_id, task.queue_name, task.task_type)]
        transaction.on_commit(lambda: dispatch.publish_tasks(message))
    if logs:
        TaskLog.objects.bulk_create([_log_row(task_id, line, now) for line in logs])
    return UpdateResult(task_id, workflow_id, applied=True, terminal=result.terminal, queue=queue)


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


# --- results addressed by task reference name, signals, logs -----------------------------------



def _check_status(status: str) -> None:
    if status not in RESULT_STATUSES:
        names = ", ".join(sorted(RESULT_STATUSES))
        raise BadRequest(f"Invalid task status '{status}': must be one of {names}")


def _apply_to_pending(
    pending: dict[str, Any], *, status: str, output: dict[str, Any] | None, worker_id: str | None, actor: str
) -> UpdateResult:
    """Conductor's ``new TaskResult(pending)`` with a new status and ``output`` merged into the
    task's current output; reason, worker and callbackAfterSeconds carry over from the task."""
    merged = {**(pending["output"] or {}), **(output or {})}
    return task_update(
        task_id=pending["id"], workflow_id=pending["workflow_id"], status=status, output=merged,
        reason=pending["reason_for_incompletion"], worker_id=worker_id or pending["worker_id"],
        callback_after_seconds=pending["callback_after_seconds"], actor=actor,
    )


def task_update_by_ref(
    *, workflow_id: str, ref: str, status: str, output: dict[str, Any] | None, worker_id: str | None = None
) -> str | None:
    """Update the open task ``ref`` of a workflow; its id, or None when there is none (an unknown
    workflow included, as in Conductor)."""
    _check_status(status)
    if output is not None and not isinstance(output, dict):
        raise BadRequest("output must be a JSON object")
    pending = open_tasks.pending_task_by_ref(workflow_id=workflow_id, ref=ref)
    if pending is None:
        return None
    _apply_to_pending(pending, status=status, output=output, worker_id=worker_id,
                      actor=f"worker:{worker_id}" if worker_id else "api")
    return pending["id"]


def task_signal(*, workflow_id: str, status: str, output: dict[str, Any] | None) -> dict[str, Any] | None:
    """Update the workflow's blocked task (see ``selectors.open_tasks.blocked_task``); the task row as it was before
    the update, or None when nothing is blocked."""
    _check_status(status)
    if output is not None and not isinstance(output, dict):
        raise BadRequest("output must be a JSON object")
    if not Workflow.objects.filter(pk=workflow_id).exists():
        raise NotFound(f"No such workflow found by id: {workflow_id}")
    pending = open_tasks.blocked_task(workflow_id=workflow_id)
    if pending is None:
        return None
    _apply_to_pending(pending, status=status, output=output, worker_id=None, actor="api:signal")
    return pending


def task_log_append(*, task_id: str, line: str) -> None:
    """One log line for a task, stored as sent (Conductor does not check that the task exists)."""
    TaskLog.objects.create(task_id=task_id, log=line, created_time=now_ms())
