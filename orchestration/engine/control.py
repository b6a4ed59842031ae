"""Control operations on a workflow's state (pause, resume, terminate, restart, retry, skip, reset
callbacks), as pure functions.

Each function takes the values the service loaded under the workflow's row lock (through a
``DecideContext``, which brings the clock, ids and task creation), checks that the operation is
allowed in the workflow's state, and changes the values the way Conductor's WorkflowExecutor
does. The service writes back what changed, deletes the tasks a function hands back, and then
decides the workflow where Conductor does. A refused operation raises ``ControlRefused`` with
Conductor's message; the service maps its kind to an HTTP status.

Nothing here touches the database, the broker or the real clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from orchestration.conductor.loop_refs import loop_ref
from orchestration.engine import timeouts
from orchestration.engine.context import DecideContext
from orchestration.engine.decider import workflow_output
from orchestration.engine.operators import Kind, operator_for
from orchestration.engine.state import TaskState, WorkflowState

# Reset in place by a workflow retry (same task id, retryCount + 1, IN_PROGRESS) instead of
# getting a new attempt: they are evaluated, never queued (Conductor's taskToBeRescheduled).
RETRY_IN_PLACE = frozenset({"DO_WHILE", "FORK_JOIN", "JOIN", "EXCLUSIVE_JOIN"})
# CANCELED ones of these go back to IN_PROGRESS when their workflow is retried or rerun.
REOPEN_WHEN_CANCELED = frozenset({"JOIN", "DO_WHILE"})
JOIN_TYPES = frozenset({"JOIN", "EXCLUSIVE_JOIN"})
SUB_WORKFLOW = "SUB_WORKFLOW"


class Refusal(StrEnum):
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    BAD_REQUEST = "bad_request"


class ControlRefused(Exception):
    """The operation is not allowed now; ``message`` is Conductor's text for it."""

    def __init__(self, kind: Refusal, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def describe(wf: WorkflowState) -> str:
    """Conductor's ``WorkflowModel.toString()``: ``name.version/id.STATUS``."""
    return f"{wf.definition.name}.{wf.definition.version}/{wf.workflow_id}.{wf.status}"


def short_description(wf: WorkflowState) -> str:
    """Conductor's ``WorkflowModel.toShortString()``: ``name.version/id``."""
    return f"{wf.definition.name}.{wf.definition.version}/{wf.workflow_id}"


def sub_workflow_id(task: TaskState) -> str | None:
    """The child workflow of a SUB_WORKFLOW task, wherever its operator keeps it (Conductor's
    ``getSubWorkflowId()`` falls back from the field to the output, then the input)."""
    for source in (task.extra, task.output, task.input):
        value = (source or {}).get("subWorkflowId")
        if isinstance(value, str) and value:
            return value
    return None


def revive_workflow(wf: WorkflowState, now: int) -> None:
    """A terminal workflow runs again: RUNNING, its failure forgotten.

    Conductor leaves ``endTime`` (and, on rerun, the old output) on the revived workflow until
    it ends again; Baton clears them, so a RUNNING workflow never shows when it "ended".
    """
    wf.status = "RUNNING"
    wf.reason_for_incompletion = None
    wf.end_time = 0
    wf.update_time = now
    wf.next_check_at = None


# --- pause / resume -----------------------------------------------------------------------------


def pause(wf: WorkflowState, *, now: int) -> bool:
    """RUNNING -> PAUSED; False when it already was PAUSED (pausing is idempotent)."""
    if wf.terminal:
        raise ControlRefused(Refusal.CONFLICT, f"Workflow {short_description(wf)} has ended, status cannot be updated.")
    if wf.status == "PAUSED":
        return False
    wf.status = "PAUSED"
    wf.update_time = now
    return True


def resume(wf: WorkflowState, *, now: int) -> None:
    """PAUSED -> RUNNING; restarts the workflow-timeout clock (``lastRetriedTime``).

    Conductor answers a resume of a workflow that is not PAUSED with an IllegalStateException
    (HTTP 500); Baton refuses it as a conflict (409): the request is fine, the state is not.
    """
    if wf.status != "PAUSED":
        raise ControlRefused(
            Refusal.CONFLICT,
            f"The workflow {wf.workflow_id} is not PAUSED so cannot resume. Current status is {wf.status}",
        )
    wf.status = "RUNNING"
    wf.last_retried_time = now
    wf.update_time = now


# --- terminate ------------------------------------------------------------------------------------


def cancel_open_tasks(wf: WorkflowState, *, now: int) -> list[TaskState]:
    """Every non-terminal task -> CANCELED; the ones canceled are returned."""
    canceled = []
    for task in wf.tasks:
        if not task.terminal:
            task.set_status("CANCELED", now=now)
            task.timeout_at = None
            task.dispatch_at = None
            canceled.append(task)
    return canceled


def _add_failed_names(wf: WorkflowState) -> None:
    failed = [t for t in wf.tasks if t.status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR")]
    wf.failed_reference_task_names = sorted({*wf.failed_reference_task_names, *(t.ref for t in failed)})
    wf.failed_task_names = sorted({*wf.failed_task_names, *(t.task_def_name for t in failed)})


def terminate(ctx: DecideContext, *, reason: str | None) -> list[TaskState] | None:
    """Terminate through the API: any non-COMPLETED status -> TERMINATED (a FAILED workflow
    too), open tasks CANCELED, output recomputed. None when it already was TERMINATED (no-op);
    else the tasks canceled (the service terminates the children of canceled sub-workflows).
    Never starts the failureWorkflow: that is for failures the engine detects."""
    wf = ctx.workflow
    if wf.status == "COMPLETED":
        raise ControlRefused(Refusal.CONFLICT, "Cannot terminate a COMPLETED workflow.")
    if wf.status == "TERMINATED":
        return None
    # Conductor's order: status, then output (so output parameters see the old reason), then
    # the failed-task names, the reason, and the cancellations.
    wf.status = "TERMINATED"
    wf.output = workflow_output(ctx)
    _add_failed_names(wf)
    wf.reason_for_incompletion = reason
    wf.end_time = ctx.now
    wf.update_time = ctx.now
    wf.next_check_at = None
    return cancel_open_tasks(wf, now=ctx.now)


# --- restart ----------------------------------------------------------------------------------------


def restart(wf: WorkflowState, *, now: int, restartable: bool) -> None:
    """Reset a terminal workflow to run again from its first task, same id.

    ``restartable`` is that of the definition the restart will run (the latest one when the
    caller asked for it). The service deletes every task row and decides afterwards. Baton also
    clears the failed-task names of the previous run, which Conductor keeps.
    """
    if not wf.terminal:
        raise ControlRefused(
            Refusal.CONFLICT, f"Workflow: {describe(wf)} is not in terminal state, unable to restart."
        )
    if not restartable and wf.status == "COMPLETED":
        # Conductor's NotFoundException, hence 404.
        raise ControlRefused(Refusal.NOT_FOUND, f"Workflow: {describe(wf)} is non-restartable")
    revive_workflow(wf, now)
    wf.create_time = now
    wf.last_retried_time = 0
    wf.output = {}
    wf.failed_reference_task_names = []
    wf.failed_task_names = []
    if "externalOutputPayloadStoragePath" in wf.extra:
        wf.extra = {k: v for k, v in wf.extra.items() if k != "externalOutputPayloadStoragePath"}
    wf.tasks = []


# --- retry ------------------------------------------------------------------------------------------


def reopen_task(task: TaskState, now: int) -> None:
    """Back to IN_PROGRESS in place, to be evaluated again by the decider."""
    task.set_status("IN_PROGRESS", now=now)
    task.executed = False
    task.end_time = 0
    task.reason_for_incompletion = None


def _join_on_failed_permissive(ctx: DecideContext, join: TaskState) -> bool:
    joined = join.input.get("joinOn") if isinstance(join.input, dict) else None
    for ref in joined if isinstance(joined, list) else ():
        task = ctx.latest(loop_ref(ref, join.iteration))
        node = ctx.node_for(task) if task is not None else None
        if task is not None and node is not None and node.permissive and not node.optional and task.status == "FAILED":
            return True
    return False


def retry_check(wf: WorkflowState) -> None:
    if not wf.terminal:
        # Conductor's NotFoundException (404), with its double space.
        raise ControlRefused(Refusal.NOT_FOUND, f"Workflow is still running.  status={wf.status}")
    if not wf.tasks:
        raise ControlRefused(Refusal.CONFLICT, "Workflow has not started yet")


def retry(ctx: DecideContext) -> list[TaskState]:
    """Retry a terminal workflow from its failed tasks; returns the retried tasks.

    The latest attempt of every reference that ended FAILED, FAILED_WITH_TERMINAL_ERROR,
    TIMED_OUT or CANCELED gets a new attempt; joins and loops are reopened in place."""
    wf = ctx.workflow
    retry_check(wf)
    retriable: list[TaskState] = []
    for task in sorted(wf.latest_by_ref().values(), key=lambda t: t.seq):
        if task.status == "FAILED" and task.task_type in JOIN_TYPES and _join_on_failed_permissive(ctx, task):
            reopen_task(task, ctx.now)  # the permissive branch task is retried below, the join waits
        elif task.status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT"):
            retriable.append(task)
        elif task.status == "CANCELED":
            if task.task_type in REOPEN_WHEN_CANCELED:
                reopen_task(task, ctx.now)
            else:
                retriable.append(task)
    # A workflow that timed out on its own timeoutSeconds may have nothing to retry: it just runs on.
    if not retriable and wf.status != "TIMED_OUT":
        raise ControlRefused(
            Refusal.CONFLICT,
            "There are no retryable tasks! Use restart if you want to attempt entire workflow execution again.",
        )
    revive_workflow(wf, ctx.now)
    wf.last_retried_time = ctx.now
    for task in retriable:
        if task.task_type in RETRY_IN_PLACE:
            reopen_task(task, ctx.now)
            task.retry_count += 1
        else:
            ctx.add_task(new_attempt(ctx, task))
    return retriable


def new_attempt(ctx: DecideContext, task: TaskState) -> TaskState:
    """A fresh attempt of ``task`` made by an operator (not by the retry policy): new id,
    ``retriedTaskId`` = the old one, ``retryCount`` + 1, no reason, input resolved again on top
    of the old input (keys only the old input had, e.g. dynamic ones, survive).

    Its ``totalTimeoutSeconds`` budget starts again: Conductor copies the first attempt's
    ``firstScheduledTime``, so retrying a task that failed on that budget would time it out
    at once.
    """
    node = ctx.node_for(task)
    kind = operator_for(task.task_type).kind
    status = "IN_PROGRESS" if kind is Kind.SYNC else "SCHEDULED"
    if node is not None:
        attempt = ctx.new_task(node, ref=task.ref, iteration=task.iteration, status=status, retry_of=task)
        attempt.input = {**task.input, **attempt.input}
    else:
        attempt = _copy_attempt(ctx, task, status)
    attempt.reason_for_incompletion = None
    attempt.first_scheduled_time = ctx.now
    if attempt.status == "SCHEDULED":
        timeouts.set_deadlines(attempt, task_def=ctx.task_def_for(node), async_complete=bool(node and node.async_complete))
    task.retried = True
    task.executed = True
    return attempt


def _copy_attempt(ctx: DecideContext, task: TaskState, status: str) -> TaskState:
    """A new attempt of a task that has no node in the definition (made at runtime)."""
    seq = ctx.next_seq()
    attempt = TaskState(
        task_id=ctx.new_id(), ref=task.ref, task_type=task.task_type, task_def_name=task.task_def_name,
        status=status, seq=seq, retry_count=task.retry_count + 1, iteration=task.iteration,
        input=dict(task.input), domain=task.domain, queue_name=task.queue_name,
        response_timeout_seconds=task.response_timeout_seconds, timeout_seconds=task.timeout_seconds,
        retried_task_id=task.task_id, workflow_priority=ctx.workflow.priority,
        extra={k: v for k, v in task.extra.items() if k != "subWorkflowId"},
        scheduled_time=ctx.now, first_scheduled_time=ctx.now, update_time=ctx.now, is_new=True,
    )
    if status == "SCHEDULED":
        attempt.dispatch_at = ctx.now
    return attempt


# --- skip ---------------------------------------------------------------------------------------------


def skip(
    ctx: DecideContext, *, ref: str, task_input: dict[str, Any] | None, task_output: dict[str, Any] | None
) -> TaskState:
    """A SKIPPED placeholder for a task not scheduled yet: when its predecessor finishes, the
    decider jumps over it.

    Conductor answers every refusal here with an IllegalStateException (HTTP 500); Baton answers
    409 for a workflow that is not RUNNING or a task already scheduled (wrong state) and 400 for
    a reference the definition does not have (a wrong request).
    """
    wf = ctx.workflow
    if wf.status != "RUNNING":
        raise ControlRefused(
            Refusal.CONFLICT,
            f"The workflow {wf.workflow_id} is not running so the task referenced by {ref} cannot be skipped",
        )
    node = wf.definition.by_ref.get(ref)
    if node is None:
        raise ControlRefused(
            Refusal.BAD_REQUEST,
            f"The task referenced by {ref} does not exist in the WorkflowDefinition {wf.definition.name}",
        )
    if any(t.ref == ref for t in wf.tasks):
        raise ControlRefused(
            Refusal.CONFLICT, f"The task referenced {ref} has already been processed, cannot be skipped"
        )
    task = TaskState(
        task_id=ctx.new_id(), ref=ref, task_type=node.task_type, task_def_name=node.name or node.task_type,
        status="SKIPPED",
        # Conductor never numbers a skipped task (seq 0), so it lists before the tasks scheduled.
        seq=0, input=dict(task_input or {}), output=dict(task_output or {}), workflow_priority=wf.priority,
        end_time=ctx.now, update_time=ctx.now, is_new=True,
    )
    ctx.add_task(task)
    return task


# --- reset callbacks ------------------------------------------------------------------------------------


def callbacks_to_reset(wf: WorkflowState) -> list[TaskState]:
    """SCHEDULED worker tasks waiting out a ``callbackAfterSeconds`` (a worker's IN_PROGRESS
    answer or a retry delay): the service makes them due now."""
    if wf.terminal:
        raise ControlRefused(Refusal.CONFLICT, f"Workflow is in terminal state. Status = {wf.status}")
    return [
        t
        for t in wf.tasks
        if t.status == "SCHEDULED" and t.callback_after_seconds > 0 and operator_for(t.task_type).kind is Kind.WORKER
    ]


__all__ = [
    "ControlRefused", "Refusal", "callbacks_to_reset", "cancel_open_tasks", "describe", "new_attempt", "pause",
    "restart", "resume", "retry", "retry_check", "short_description", "skip", "sub_workflow_id", "terminate",
]
