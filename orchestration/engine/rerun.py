"""Rerun (from the start or from one task), and reviving the parents of a sub-workflow that runs
again, as pure functions in the manner of ``engine.control``: they change the loaded state and
say which task rows the service must delete; the service writes, deletes and decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.conductor.loop_refs import loop_ref
from orchestration.engine import timeouts
from orchestration.engine.context import DecideContext
from orchestration.engine.control import (
    REOPEN_WHEN_CANCELED,
    SUB_WORKFLOW,
    ControlRefused,
    Refusal,
    describe,
    reopen_task,
    revive_workflow,
)
from orchestration.engine.decider import next_nodes
from orchestration.engine.operators import Kind, create_tasks, operator_for
from orchestration.engine.state import TaskState, WorkflowState, is_terminal_unsuccessful

# Node types whose successors depend on a choice the operator made (a branch, an iteration):
# rerun never asks the decider to recompute their successors (see ``_resume_successors``).
BRANCHING_TYPES = frozenset({"SWITCH", "DECISION", "DO_WHILE", "FORK_JOIN_DYNAMIC"})


# --- rerun ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RerunPlan:
    """The task rows the service must delete: the tasks the rerun undid."""

    deleted: list[TaskState] = field(default_factory=list)


def rerun_check(wf: WorkflowState) -> None:
    if not wf.terminal:
        raise ControlRefused(Refusal.CONFLICT, f"Workflow: {describe(wf)} is not in terminal state, unable to rerun.")


def _rerun_workflow_fields(
    wf: WorkflowState, now: int, workflow_input: dict[str, Any] | None, correlation_id: str | None
) -> None:
    revive_workflow(wf, now)
    wf.failed_reference_task_names = []
    wf.failed_task_names = []
    if correlation_id is not None:
        wf.correlation_id = correlation_id
    if workflow_input is not None:
        wf.input = dict(workflow_input)


def rerun_from_start(
    ctx: DecideContext, *, workflow_input: dict[str, Any] | None, correlation_id: str | None
) -> RerunPlan:
    """Rerun without a task: every task goes, the workflow starts again (same id), optionally
    with new input and correlation id. Unlike restart, ``createTime`` stays."""
    wf = ctx.workflow
    rerun_check(wf)
    plan = RerunPlan(deleted=list(wf.tasks))
    wf.tasks = []
    _rerun_workflow_fields(wf, ctx.now, workflow_input, correlation_id)
    wf.output = {}
    return plan


def rerun_from_task(
    ctx: DecideContext,
    target: TaskState,
    *,
    task_input: dict[str, Any] | None,
    workflow_input: dict[str, Any] | None,
    correlation_id: str | None,
) -> RerunPlan:
    """Rerun from ``target`` (any attempt of any task in ``ctx.workflow.tasks``, which must hold
    the retried attempts too): every task scheduled after it (higher ``seq``) is deleted, the
    target runs again (``task_input`` replaces its input) and the unsuccessful tasks before it
    are reset, as Conductor's rerun and finalizeRerun do.

    Two repairs Conductor lacks, so that the deletion by ``seq`` cannot strand a workflow:
    tasks whose successors were deleted have them computed again by the decider, and a fork
    whose branch heads were deleted gets them back.
    """
    wf = ctx.workflow
    rerun_check(wf)
    _rerun_workflow_fields(wf, ctx.now, workflow_input, correlation_id)
    plan = RerunPlan(deleted=[t for t in wf.tasks if t.seq > target.seq])
    wf.tasks = [t for t in wf.tasks if t.seq <= target.seq]
    _revive_superseded_attempts(wf)
    node = ctx.node_for(target)
    fresh = create_tasks(ctx, node, iteration=target.iteration) if node is not None else [target]
    if len(fresh) > 1:
        # A node that schedules several tasks (FORK: branch heads and JOIN): schedule it anew.
        plan.deleted.append(target)
        wf.tasks.remove(target)
        for task in fresh:
            task.retry_count = _next_retry_count(wf, task.ref)
            if task.ref == target.ref and task_input is not None:
                task.input = dict(task_input)
            ctx.add_task(task)
    else:
        _reset_for_rerun(ctx, target, task_input)
    for task in list(wf.tasks):
        if task is not target and not task.retried and task.ref != target.ref and is_terminal_unsuccessful(task.status):
            _reset_for_rerun(ctx, task, None)
    _resume_successors(ctx)
    return plan


def _revive_superseded_attempts(wf: WorkflowState) -> None:
    """A reference whose newest surviving row is a superseded attempt (its later attempts were
    deleted) gets that attempt back as its live one, so every reference has one."""
    newest: dict[str, TaskState] = {}
    for task in wf.tasks:
        if task.ref not in newest or task.seq > newest[task.ref].seq:
            newest[task.ref] = task
    for task in newest.values():
        if task.retried:
            task.retried = False
            task.executed = False


def _next_retry_count(wf: WorkflowState, ref: str) -> int:
    """retryCount for a task made again for ``ref``: above every surviving attempt (attempts
    are unique per reference and retryCount)."""
    counts = [t.retry_count for t in wf.tasks if t.ref == ref]
    return max(counts) + 1 if counts else 0


def _reset_for_rerun(ctx: DecideContext, task: TaskState, task_input: dict[str, Any] | None) -> None:
    """Run ``task`` again in place (same id): evaluated again if it is a sync system task,
    queued again otherwise; its previous result is cleared."""
    now = ctx.now
    kind = operator_for(task.task_type).kind
    if task.task_type == SUB_WORKFLOW:
        # A new child is started for it, so the old child's id must not linger.
        task.extra = {k: v for k, v in task.extra.items() if k != "subWorkflowId"}
        task.input = {k: v for k, v in task.input.items() if k != "subWorkflowId"}
    elif task_input is not None:
        task.input = dict(task_input)
    task.output = {}
    task.retried = False
    task.executed = False
    task.poll_count = 0
    task.worker_id = None
    task.callback_after_seconds = 0
    task.reason_for_incompletion = None
    task.end_time = 0
    task.scheduled_time = now
    task.update_time = now
    if kind is Kind.SYNC or task.task_type in REOPEN_WHEN_CANCELED:
        task.status = "IN_PROGRESS"
        task.start_time = now
        task.dispatch_at = None
        task.timeout_at = None
        return
    task.status = "SCHEDULED"
    task.start_time = 0
    task.start_delay_seconds = 0
    task.dispatch_at = now
    node = ctx.node_for(task)
    task_def = ctx.task_def_for(node)
    timeouts.set_deadlines(task, task_def=task_def, async_complete=bool(node and node.async_complete))
    ctx.to_dispatch.append(task)


def _resume_successors(ctx: DecideContext) -> None:
    """Let the decider schedule again what the rerun deleted after a surviving task.

    A finished task whose successor is gone is marked not yet ``executed``, so the next decide
    computes its successors again (existing ones are never duplicated). A FORK whose branch
    heads are gone gets them back here, since only scheduling the fork makes them. Nodes that
    chose a branch or iteration are left alone: their choice is their operator's to repeat.
    """
    wf = ctx.workflow
    present = {t.ref for t in wf.tasks}
    for task in list(wf.tasks):
        if task.retried or not task.terminal or task.status == "SKIPPED":
            continue
        node = ctx.node_for(task)
        if node is None or node.type in BRANCHING_TYPES:
            continue
        if node.type == "FORK_JOIN":
            for key, branch in node.branches.items():
                if key.startswith("forkTasks:") and branch and loop_ref(branch[0].ref, task.iteration) not in present:
                    for created in create_tasks(ctx, branch[0], iteration=task.iteration):
                        created.retry_count = _next_retry_count(wf, created.ref)
                        ctx.add_task(created)
                        present.add(created.ref)
        if task.executed and any(loop_ref(n.ref, task.iteration) not in present for n in next_nodes(ctx, node)):
            task.executed = False


# --- parents of sub-workflows -------------------------------------------------------------------------------


def revive_parent(ctx: DecideContext, *, parent_task_id: str) -> bool:
    """A sub-workflow was retried, restarted or rerun: its parent runs again too (Conductor's
    updateAndPushParents). The parent's SUB_WORKFLOW task waits again (IN_PROGRESS), the parent
    is RUNNING, its canceled joins/loops reopen and its other canceled tasks are queued again.

    False (nothing changed) when the parent task is gone or superseded (the parent moved on) or
    optional (its failure never failed the parent). Children of the parent's other failed
    SUB_WORKFLOW tasks are not retried here (Conductor does that too).
    """
    wf = ctx.workflow
    task = next((t for t in wf.tasks if t.task_id == parent_task_id), None)
    node = ctx.node_for(task) if task is not None else None
    if task is None or task.retried or (node is not None and node.optional):
        return False
    if task.status != "IN_PROGRESS":
        reopen_task(task, ctx.now)
    wf.status = "RUNNING"
    wf.reason_for_incompletion = None
    wf.failed_reference_task_names = []
    wf.failed_task_names = []
    wf.last_retried_time = ctx.now
    wf.end_time = 0
    wf.update_time = ctx.now
    wf.next_check_at = None
    for sibling in wf.tasks:
        if sibling is task or sibling.retried or sibling.status != "CANCELED":
            continue
        if sibling.task_type in REOPEN_WHEN_CANCELED:
            reopen_task(sibling, ctx.now)
        elif sibling.task_type != SUB_WORKFLOW:
            _reset_for_rerun(ctx, sibling, None)
            sibling.retry_count = _next_retry_count(wf, sibling.ref)
    return True


__all__ = ["RerunPlan", "rerun_check", "rerun_from_start", "rerun_from_task", "revive_parent"]
