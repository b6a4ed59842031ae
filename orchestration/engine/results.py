"""A worker's result applied to a task, as a pure function of the task, the result and ``now``.

The service loads the task's workflow under its lock, applies the result here, lets the decider
act on it, and writes the task row once with everything the two changed. A terminal status
ends the attempt; IN_PROGRESS keeps it open (a worker task goes back to its queue, to be handed
out again after ``callbackAfterSeconds``, as Conductor's updateTask does); a lease extension
only says the worker is still alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.definitions.model import MAX_SECONDS, TaskDefinition
from orchestration.engine import timeouts
from orchestration.engine.operators import Kind, operator_for
from orchestration.engine.state import OPEN_TASK, TaskState

# What a worker may report: Conductor's TaskResult statuses.
RESULT_STATUSES = frozenset({"IN_PROGRESS", "COMPLETED", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "CANCELED"})


@dataclass(frozen=True, slots=True)
class TaskResult:
    status: str
    output: dict[str, Any] | None = None
    reason: str | None = None
    worker_id: str | None = None
    callback_after_seconds: int = 0
    extend_lease: bool = False

    @property
    def terminal(self) -> bool:
        return self.status != "IN_PROGRESS" and not self.extend_lease


@dataclass(frozen=True, slots=True)
class AppliedResult:
    """What the result did to the task: its status before and after, and whether the task
    went back to its queue and needs a message now (no callback delay to wait out)."""

    from_status: str
    to_status: str
    requeued_now: bool


def apply_result(task: TaskState, result: TaskResult, *, now: int, redispatch_grace_ms: int) -> AppliedResult | None:
    """Apply ``result`` to ``task``; None, and nothing changed, when the task is not open (a late
    or duplicate result: a task ends once per attempt)."""
    if task.status not in OPEN_TASK:
        return None
    from_status = task.status
    task.update_time = now
    if result.terminal:
        task.status = result.status
        task.end_time = now
        task.timeout_at = None
        task.dispatch_at = None
        task.output = result.output or {}
        task.reason_for_incompletion = result.reason
        if result.worker_id:
            task.worker_id = result.worker_id
        return AppliedResult(from_status, task.status, requeued_now=False)
    if not result.extend_lease:
        # A result replaces output, reason and worker, as Conductor's updateTask does.
        task.output = result.output or {}
        task.reason_for_incompletion = result.reason
        task.worker_id = result.worker_id
        callback = min(max(0, int(result.callback_after_seconds or 0)), MAX_SECONDS)
        task.callback_after_seconds = callback
        if operator_for(task.task_type).kind is Kind.WORKER:
            # "Not done yet" from a worker hands the task back: same id, queued again once
            # callbackAfterSeconds have passed.
            task.status = "SCHEDULED"
            task.dispatch_at = now + (callback * 1000 if callback else redispatch_grace_ms)
        else:
            task.status = "IN_PROGRESS"
    # The thresholds as the task row carries them: the response clock restarts now.
    task_def = TaskDefinition.from_json(
        {"name": task.task_def_name, "responseTimeoutSeconds": task.response_timeout_seconds, "timeoutSeconds": task.timeout_seconds}
    )
    timeouts.set_deadlines(task, task_def=task_def)
    requeued_now = task.status == "SCHEDULED" and task.callback_after_seconds <= 0
    return AppliedResult(from_status, task.status, requeued_now=requeued_now)
