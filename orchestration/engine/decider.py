"""The decider: (workflow state, now) -> the next state.

``decide`` is pure: it reads the values in a ``DecideContext`` and changes only them
(marking what changed), with time, randomness and ids injected. The service layer loads the
state under the workflow's row lock, calls ``decide`` and writes back what is marked.

It follows Conductor's DeciderService: check the workflow timeout, then
repeatedly process every pending task (timeouts, retries, sync execution, successors) until a
pass changes nothing, then check for completion. Terminal tasks whose successors have been
computed are flagged ``executed`` and never looked at again, so a pass costs O(pending tasks).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from orchestration.conductor.java_text import java_string
from orchestration.conductor.loop_refs import loop_ref
from orchestration.definitions.model import WorkflowTaskNode
from orchestration.engine import expressions, retry, timeouts
from orchestration.engine.context import DecideContext, FollowUp, StartFailureWorkflow
from orchestration.engine.operators import BranchEnd, Kind, create_tasks, operator_for
from orchestration.engine.state import (
    TERMINAL_TASK,
    TERMINAL_WORKFLOW,
    TaskState,
    is_terminal_unsuccessful,
)

# A chain of sync system tasks runs to its end in one decide; this bounds a runaway loop.
MAX_PASSES = 1000


class WorkflowEnded(Exception):
    """Raised inside the loop when the workflow reached a terminal state."""


@dataclass(frozen=True, slots=True)
class Decision:
    new_tasks: list[TaskState]
    changed_tasks: list[TaskState]
    to_dispatch: list[TaskState]
    workflow_changed: bool
    # Work for the service once the rows are written, same transaction (e.g. failureWorkflow).
    follow_ups: list[FollowUp] = field(default_factory=list)


def decide(ctx: DecideContext) -> Decision:
    wf = ctx.workflow
    with contextlib.suppress(WorkflowEnded):
        _decide(ctx)
    _add_failure_workflow(ctx)
    next_check = _next_check_at(ctx) if wf.status == "RUNNING" else None
    if next_check != wf.next_check_at:
        wf.next_check_at = next_check
    changed = [t for t in wf.tasks if t.changed and not t.is_new]
    dispatch = [t for t in ctx.to_dispatch if t.status == "SCHEDULED"]
    return Decision(
        new_tasks=ctx.new_tasks,
        changed_tasks=changed,
        to_dispatch=dispatch,
        workflow_changed=wf.changed,
        follow_ups=list(ctx.follow_ups),
    )


def failure_workflow_target(definition: Any, workflow_input: dict[str, Any]) -> tuple[str, int | None] | None:
    """The (name, version) of the workflow to start when the engine fails this one, or None.

    ``failureWorkflow`` may name the workflow indirectly, ``$workflow.input.<key>``: Conductor
    then takes the third dot-separated part as an input key. Baton also accepts the ``${...}``
    spelling of the same path (Conductor would look up the key ``<key>}`` and start nothing).
    An indirection to a missing or blank input starts nothing, as in Conductor.
    """
    name = definition.failure_workflow
    if not isinstance(name, str) or not name.strip():
        return None
    if name.startswith("$"):
        parts = name.removeprefix("${").removesuffix("}").removeprefix("$").split(".")
        key = parts[2] if len(parts) > 2 else None
        value = workflow_input.get(key) if key is not None else None
        if not isinstance(value, str) or not value.strip():
            return None
        name = value
    version = definition.raw.get("failureWorkflowVersion")
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    return name, version


def _add_failure_workflow(ctx: DecideContext) -> None:
    """When *this decision* ended the workflow unsuccessfully, ask for its failureWorkflow.

    Judged from the transition (not terminal when loaded, unsuccessful now), so every path that
    ends a workflow in the engine (task failure, TERMINATE, timeouts, operators added later)
    starts it, and deciding an already-ended workflow never starts a second one. A terminate
    through the API does not go through the decider, so it never starts one (nor does Conductor's).
    """
    wf = ctx.workflow
    if wf.loaded_status in TERMINAL_WORKFLOW or wf.status not in TERMINAL_WORKFLOW or wf.status == "COMPLETED":
        return
    target = failure_workflow_target(wf.definition, wf.input)
    if target is not None:
        ctx.follow_ups.append(StartFailureWorkflow(name=target[0], version=target[1], failed_task_id=ctx.failed_task_id))


def _decide(ctx: DecideContext) -> None:
    wf = ctx.workflow
    if wf.terminal:
        if wf.status != "COMPLETED":
            _cancel_open_tasks(ctx)
        return
    reason = timeouts.check_workflow_timeout(workflow=wf, now=ctx.now)
    if reason is not None:
        _end_workflow(ctx, "TIMED_OUT", reason)
    if wf.status == "PAUSED":
        return
    if not wf.tasks:
        if not wf.definition.tasks:
            _end_workflow(ctx, "COMPLETED", None)
        _schedule_node(ctx, wf.definition.tasks[0], iteration=0)
    for _ in range(MAX_PASSES):
        if not _pass(ctx):
            break
    _check_completion(ctx)


def _pass(ctx: DecideContext) -> bool:
    """One sweep over pending tasks; True if anything changed."""
    progressed = False
    for task in list(ctx.workflow.tasks):
        # SKIPPED placeholders wait for their predecessor (skip-task API): not pending.
        if task.retried or task.executed or task.status == "SKIPPED":
            continue
        node = ctx.node_for(task)
        if not task.terminal:
            progressed |= _advance_open_task(ctx, task, node)
        if task.terminal and not task.executed:
            _process_terminal(ctx, task, node)
            progressed = True
    return progressed


def _advance_open_task(ctx: DecideContext, task: TaskState, node: WorkflowTaskNode | None) -> bool:
    operator = operator_for(node.type if node is not None else task.task_type)
    task_def = ctx.task_def_for(node)
    if task_def is not None and operator.kind is not Kind.SYNC:
        async_complete = bool(node and node.async_complete)
        verdict = timeouts.check_task_timeouts(task=task, task_def=task_def, now=ctx.now, async_complete=async_complete)
        if verdict is not None and verdict.actionable:
            task.set_status("TIMED_OUT", now=ctx.now, reason=verdict.reason)
            task.timeout_at = None
            if verdict.times_out_workflow:
                # Conductor ends the workflow with the timeout text itself as the reason.
                _end_workflow(ctx, "TIMED_OUT", verdict.reason, failed_task=task)
            return True
        # Keep the sweeper's hint exact, so an ALERT_ONLY or early hint is not re-swept forever.
        timeouts.set_deadlines(task, task_def=task_def, async_complete=async_complete)
    if operator.kind is Kind.SYNC and node is not None:
        return operator.execute(ctx, task, node)
    return False


def _process_terminal(ctx: DecideContext, task: TaskState, node: WorkflowTaskNode | None) -> None:
    if is_terminal_unsuccessful(task.status):
        task_def = ctx.task_def_for(node)
        refusal = retry.retry_refusal(task=task, node=node, task_def=task_def, now=ctx.now)
        if refusal is None:
            _retry(ctx, task, node, task_def)
            return
        absorbed = refusal.honours_optional and node is not None and (node.optional or node.permissive)
        if not absorbed:
            _end_workflow(ctx, refusal.workflow_status, refusal.reason, failed_task=task)
        if node.optional:
            task.set_status("COMPLETED_WITH_ERRORS", now=ctx.now)
    task.executed = True
    if node is not None:
        for nxt in next_nodes(ctx, node):
            _schedule_node(ctx, nxt, iteration=task.iteration)


def _retry(ctx: DecideContext, task: TaskState, node: WorkflowTaskNode | None, task_def) -> None:
    assert node is not None and task_def is not None
    delay_ms = retry.retry_delay_ms(task_def, task.retry_count, ctx.rng)
    task.retried = True
    task.executed = True
    attempt = ctx.new_task(
        node,
        ref=task.ref,
        iteration=task.iteration,
        status="SCHEDULED",
        retry_of=task,
        delay_seconds=delay_ms // 1000,
    )
    # Sub-second jitter still counts: the due time is exact even if the seconds field rounds.
    attempt.dispatch_at = ctx.now + delay_ms
    ctx.add_task(attempt)
    if delay_ms > 0 and attempt in ctx.to_dispatch:
        ctx.to_dispatch.remove(attempt)


def next_nodes(ctx: DecideContext, node: WorkflowTaskNode) -> list[WorkflowTaskNode]:
    """The node(s) that follow ``node`` once it is done: its next sibling; at the end of a branch,
    what follows the task that owns the branch (outwards, level by level), unless that task's
    operator waits for its branches itself (a fork's JOIN, a loop), in which case nothing."""
    location = ctx.workflow.definition.locations.get(node.ref)
    while location is not None:
        if location.index + 1 < len(location.siblings):
            return [location.siblings[location.index + 1]]
        parent = location.parent
        if parent is None or location.branch is None:
            return []
        if operator_for(parent.type).branch_end(parent, location.branch) is BranchEnd.WAIT_FOR_PARENT:
            return []
        location = ctx.workflow.definition.locations.get(parent.ref)
    return []


def _schedule_node(ctx: DecideContext, node: WorkflowTaskNode, *, iteration: int) -> None:
    ref = loop_ref(node.ref, iteration)
    existing = [t for t in ctx.workflow.tasks if t.ref == ref]
    if existing:
        # A SKIPPED placeholder (skip-task API) means: jump over it to its successors.
        if any(t.status == "SKIPPED" for t in existing):
            for nxt in next_nodes(ctx, node):
                _schedule_node(ctx, nxt, iteration=iteration)
        return
    for task in create_tasks(ctx, node, iteration=iteration):
        ctx.add_task(task)


def _check_completion(ctx: DecideContext) -> None:
    wf = ctx.workflow
    if wf.terminal or wf.status == "PAUSED":
        return
    live = [t for t in wf.tasks if not t.retried]
    if not live or any(not t.terminal or not (t.executed or t.status == "SKIPPED") for t in live):
        return
    permissive_failures = [t for t in live if is_terminal_unsuccessful(t.status)]
    if permissive_failures:
        task = permissive_failures[0]
        cause = java_string(task.reason_for_incompletion)
        _end_workflow(
            ctx, "FAILED", f"Task {task.task_id} failed with status: FAILED and reason: '{cause}'", failed_task=task
        )
    _end_workflow(ctx, "COMPLETED", None)


def _end_workflow(ctx: DecideContext, status: str, reason: str | None, *, failed_task: TaskState | None = None) -> None:
    wf = ctx.workflow
    if failed_task is not None and ctx.failed_task_id is None:
        ctx.failed_task_id = failed_task.task_id
    wf.status = status
    wf.reason_for_incompletion = reason
    wf.end_time = ctx.now
    wf.update_time = ctx.now
    if status != "COMPLETED":
        _cancel_open_tasks(ctx)
    failed = [t for t in wf.tasks if t.status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR")]
    # Conductor adds to these sets, never replaces them: failures of attempts a workflow retry
    # superseded (no longer loaded) stay listed after the retried run completes.
    wf.failed_reference_task_names = sorted({*wf.failed_reference_task_names, *(t.ref for t in failed)})
    wf.failed_task_names = sorted({*wf.failed_task_names, *(t.task_def_name for t in failed)})
    wf.output = workflow_output(ctx)
    raise WorkflowEnded


def workflow_output(ctx: DecideContext) -> dict:
    """outputParameters resolved in the final state, else the output of the last finished task
    (by seq), as Conductor computes a workflow's output."""
    wf = ctx.workflow
    params = wf.definition.output_parameters
    if params:
        return expressions.resolve_input(params, expressions.ExpressionContext(wf))
    done = [t for t in wf.tasks if t.status in TERMINAL_TASK and not t.retried]
    if not done:
        return {}
    return dict(max(done, key=lambda t: t.seq).output)


def _cancel_open_tasks(ctx: DecideContext) -> None:
    for task in ctx.workflow.tasks:
        if not task.terminal:
            task.set_status("CANCELED", now=ctx.now)
            task.timeout_at = None
            task.dispatch_at = None


def _next_check_at(ctx: DecideContext) -> int | None:
    """The soonest instant something time-driven happens that no task row's own deadline covers:
    the workflow timeout and the tasks' total (all-attempts) budgets."""
    wf = ctx.workflow
    candidates: list[int] = []
    deadline = timeouts.workflow_deadline(wf)
    if deadline is not None:
        candidates.append(deadline)
    for task in wf.tasks:
        if task.terminal or task.retried:
            continue
        task_def = ctx.task_def_for(ctx.node_for(task))
        if task_def is not None and task_def.total_timeout_seconds > 0 and task.first_scheduled_time:
            candidates.append(task.first_scheduled_time + task_def.total_timeout_seconds * 1000)
    return min(candidates) if candidates else None


__all__ = ["Decision", "decide", "failure_workflow_target", "next_nodes", "workflow_output"]
