"""Control operations on running and finished workflows: pause, resume, terminate, remove,
restart, retry, rerun, skip a task, reset callbacks, decide now.

Every operation is one transaction under the workflow's row lock: the pure functions of
``engine.control`` and ``engine.rerun`` change the loaded state, this module writes it back with history rows naming
the actor, then decides the workflow in the same transaction where Conductor decides; messages
are published on commit. A worker result committed between the load and the write is caught by
the compare-and-set of ``store.save_workflow`` and the whole operation runs again.

Lock order: a workflow's ancestors (parent, grandparent...) are locked before the workflow and
its children after it, so operations that touch a whole tree cannot deadlock each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, transaction

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.engine import control, rerun
from orchestration.engine import timeouts as engine_timeouts
from orchestration.engine.context import DecideContext
from orchestration.engine.control import ControlRefused, Refusal
from orchestration.engine.state import TaskState, WorkflowState
from orchestration.errors import BadRequest, Conflict, NotFound, ServiceError
from orchestration.models import TASK_FIELDS, DecideRequest, History, Task, TaskLog, Workflow
from orchestration.selectors import definitions
from orchestration.selectors.workflows import not_found
from orchestration.services import store
from orchestration.services.workflows import (
    active_domains,
    decide_and_save,
    frozen_definition,
    redispatch_grace_ms,
    request_decide,
    workflow_decide,
)

_rng = random.SystemRandom()
T = TypeVar("T")

# An operation whose tasks keep changing under it (worker results landing) is run again this
# many times before the client is told to try later.
MAX_ATTEMPTS = 3
# Guards the walk up a (corrupt) parent chain.
MAX_DEPTH = 32


class ChangedConcurrently(ServiceError):
    """The workflow kept changing while the operation ran; retrying the request is safe."""


def _service_error(refused: ControlRefused) -> ServiceError:
    kind = {Refusal.NOT_FOUND: NotFound, Refusal.CONFLICT: Conflict, Refusal.BAD_REQUEST: BadRequest}[refused.kind]
    return kind(refused.message)


def _in_transaction(operation: Callable[[], T]) -> T:
    """Run ``operation`` in one transaction; again (from a fresh load) when a task it changes
    was changed meanwhile by someone not holding the workflow lock (a worker's result)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic():
                return operation()
        except (store.TaskChangedConcurrently, IntegrityError):
            # IntegrityError: a concurrent decide created the same attempt (unique workflow, ref,
            # retry_count) first; reload and apply the operation to what is there now.
            continue
        except ControlRefused as refused:
            raise _service_error(refused) from None
    raise ChangedConcurrently("The workflow changed while the operation ran; please try again.")


def _lock_ancestors(workflow_id: str) -> None:
    """Lock the parent chain top-down before the workflow itself (see the module's lock order)."""
    chain: list[str] = []
    current = Workflow.objects.filter(pk=workflow_id).values_list("parent_workflow_id", flat=True).first()
    while current and current not in chain and len(chain) < MAX_DEPTH:
        chain.append(current)
        current = Workflow.objects.filter(pk=current).values_list("parent_workflow_id", flat=True).first()
    for ancestor in reversed(chain):
        list(Workflow.objects.select_for_update().filter(pk=ancestor).values_list("pk", flat=True))


def _locked(workflow_id: str, *, ancestors: bool = False) -> WorkflowState:
    if ancestors:
        _lock_ancestors(workflow_id)
    wf = store.load_workflow(workflow_id, lock=True)
    if wf is None:
        raise not_found(workflow_id)
    return wf


def _context(wf: WorkflowState) -> DecideContext:
    return DecideContext(workflow=wf, now=now_ms(), rng=_rng, active_domains=active_domains)


def _save(ctx: DecideContext, *, actor: str, note: str | None, deleted: list[TaskState] | None = None) -> None:
    """Write what the operation changed; the workflow's status change is recorded with ``note``
    (what was done) as its history reason; publish the tasks to queue on commit."""
    wf = ctx.workflow
    if deleted:
        ids = [t.task_id for t in deleted]
        TaskLog.objects.filter(task_id__in=ids).delete()
        Task.objects.filter(workflow_id=wf.workflow_id, pk__in=ids).delete()
    status_change = (wf.loaded_status, wf.status) if wf.status != wf.loaded_status else None
    # Recorded below with the operation named: save_workflow must not add a row of its own.
    wf.loaded_status = wf.status
    # Once each (a task may be listed twice), in the order listed.
    to_publish = list({t.task_id: t for t in ctx.to_dispatch if t.status == "SCHEDULED"}.values())
    grace = redispatch_grace_ms()
    for task in to_publish:
        task.dispatch_at = ctx.now + grace  # published at commit; again by the sweeper if lost
    changed = [t for t in wf.tasks if t.changed and not t.is_new]
    store.save_workflow(wf, new_tasks=ctx.new_tasks, changed_tasks=changed, actor=actor)
    if status_change is not None:
        History.objects.create(
            workflow_id=wf.workflow_id, from_status=status_change[0], to_status=status_change[1], actor=actor,
            reason=note, at=ctx.now,
        )
    if to_publish:
        messages = [(t.task_id, t.queue_name, t.task_type) for t in to_publish]
        transaction.on_commit(lambda: dispatch.publish_tasks(messages))


def _decide_locked(workflow_id: str, *, actor: str) -> None:
    """Decide inside the caller's transaction (the row is locked already)."""
    wf = store.load_workflow(workflow_id, lock=True)
    if wf is not None:
        decide_and_save(wf, now=now_ms(), actor=actor)


def _revive_parents(wf: WorkflowState, *, actor: str, operation: str) -> None:
    """A retried/restarted/rerun sub-workflow takes its parents with it (Conductor's
    updateAndPushParents): each parent's task waits for the child again and the parent runs."""
    child = wf
    for _ in range(MAX_DEPTH):
        if not (child.parent_workflow_id and child.parent_workflow_task_id):
            return
        parent = store.load_workflow(child.parent_workflow_id, lock=True)
        if parent is None:
            return
        ctx = _context(parent)
        if not rerun.revive_parent(ctx, parent_task_id=child.parent_workflow_task_id):
            return
        _save(ctx, actor=actor, note=f"sub workflow {child.workflow_id} {operation}")
        _decide_locked(parent.workflow_id, actor=actor)
        child = parent


# --- pause / resume / decide ------------------------------------------------------------------------


def workflow_pause(*, workflow_id: str, actor: str = "api") -> None:
    """Nothing new is scheduled until resumed; tasks already queued can still be polled and
    completed. Idempotent on a PAUSED workflow; 409 on a terminal one."""

    def operation() -> None:
        wf = _locked(workflow_id)
        ctx = _context(wf)
        if control.pause(wf, now=ctx.now):
            _save(ctx, actor=actor, note="paused")

    _in_transaction(operation)


def workflow_resume(*, workflow_id: str, actor: str = "api") -> None:
    """PAUSED -> RUNNING (409 otherwise), then decide: what completed meanwhile moves on."""

    def operation() -> None:
        wf = _locked(workflow_id)
        ctx = _context(wf)
        control.resume(wf, now=ctx.now)
        _save(ctx, actor=actor, note="resumed")
        _decide_locked(workflow_id, actor=actor)

    _in_transaction(operation)


def workflow_decide_now(*, workflow_id: str, actor: str = "api") -> None:
    """``PUT /api/workflow/decide/{id}``: one decide, waiting for the lock if a decide runs."""
    if not Workflow.objects.filter(pk=workflow_id).exists():
        raise not_found(workflow_id)
    workflow_decide(workflow_id=workflow_id, actor=actor, wait=True)


# --- terminate / remove -------------------------------------------------------------------------------


def workflow_terminate(*, workflow_id: str, reason: str | None = None, actor: str = "api") -> None:
    """Any status but COMPLETED (409) -> TERMINATED; a TERMINATED workflow is left as it is.
    Open tasks are canceled, children of open sub-workflow tasks terminated, the parent (if
    any) decided; the failureWorkflow is never started by a terminate (as in Conductor)."""
    _in_transaction(lambda: _terminate_locked(_locked(workflow_id), reason=reason, actor=actor))


def _terminate_locked(wf: WorkflowState, *, reason: str | None, actor: str, depth: int = 0) -> None:
    ctx = _context(wf)
    canceled = control.terminate(ctx, reason=reason)
    if canceled is None:
        return
    _save(ctx, actor=actor, note=f"terminated: {reason}" if reason else "terminated")
    for task in canceled:
        child_id = control.sub_workflow_id(task) if task.task_type == control.SUB_WORKFLOW else None
        if child_id and depth < MAX_DEPTH:
            child = store.load_workflow(child_id, lock=True)
            if child is not None and not child.terminal:
                # Conductor's SubWorkflow.cancel wording.
                why = (
                    f"Parent workflow has been terminated with reason: {wf.reason_for_incompletion}"
                    if wf.reason_for_incompletion
                    else f"Parent workflow has been terminated with status {wf.status}"
                )
                _terminate_locked(child, reason=why, actor=actor, depth=depth + 1)
    parent_id = wf.parent_workflow_id
    if parent_id and depth == 0:
        # The parent's sub-workflow task must see its child's end.
        transaction.on_commit(lambda: request_decide(parent_id))


def workflow_remove(*, workflow_id: str, archive: bool = True, actor: str = "api") -> None:
    """Hard delete of the execution: the workflow, its tasks, their logs, its pending decide.

    The history rows stay, plus one recording the removal: history is the append-only audit
    of who changed what, and "who deleted this workflow" is part of it. ``archive`` is accepted
    for compatibility; Baton has no separate archive or index for it to keep a copy in.
    """
    _in_transaction(lambda: _remove_locked(workflow_id, archive=archive, actor=actor))


def _remove_locked(workflow_id: str, *, archive: bool, actor: str) -> None:
    status = Workflow.objects.select_for_update().filter(pk=workflow_id).values_list("status", flat=True).first()
    if status is None:
        raise not_found(workflow_id)
    task_ids = list(Task.objects.filter(workflow_id=workflow_id).values_list("id", flat=True))
    TaskLog.objects.filter(task_id__in=task_ids).delete()
    Task.objects.filter(workflow_id=workflow_id).delete()
    DecideRequest.objects.filter(workflow_id=workflow_id).delete()
    Workflow.objects.filter(pk=workflow_id).delete()
    History.objects.create(
        workflow_id=workflow_id, from_status=status, to_status="REMOVED", actor=actor,
        reason=f"removed with {len(task_ids)} task(s) (archiveWorkflow={str(archive).lower()})", at=now_ms(),
    )


def workflow_terminate_remove(
    *, workflow_id: str, reason: str | None = None, archive: bool = True, actor: str = "api"
) -> None:
    """Terminate, then remove, in one transaction (a COMPLETED workflow: 409, nothing removed)."""

    def operation() -> None:
        _terminate_locked(_locked(workflow_id), reason=reason, actor=actor)
        _remove_locked(workflow_id, archive=archive, actor=actor)

    _in_transaction(operation)


# --- restart / retry / rerun ------------------------------------------------------------------------------


def workflow_restart(*, workflow_id: str, use_latest_definitions: bool = False, actor: str = "api") -> None:
    """Run a terminal workflow again from its first task, same id (409 if not terminal; 404 for
    a COMPLETED workflow whose definition says ``restartable: false``). With
    ``use_latest_definitions`` it runs the latest registered version, frozen anew."""

    def operation() -> None:
        wf = _locked(workflow_id, ancestors=True)
        ctx = _context(wf)
        definition, snapshot_key = wf.definition, None
        if use_latest_definitions and wf.terminal:
            data = definitions.find_workflow_def(name=wf.name)
            if data is None:
                raise NotFound(f"Unable to find latest definition for {workflow_id}")
            snapshot_key, definition = frozen_definition(data)
        control.restart(wf, now=ctx.now, restartable=definition.restartable)
        if snapshot_key is not None:
            Workflow.objects.filter(pk=workflow_id).update(snapshot_id=snapshot_key)
            wf.name, wf.version = definition.name, definition.version
        TaskLog.objects.filter(task_id__in=Task.objects.filter(workflow_id=workflow_id).values("id")).delete()
        Task.objects.filter(workflow_id=workflow_id).delete()
        _save(ctx, actor=actor, note="restarted")
        _decide_locked(workflow_id, actor=actor)
        _revive_parents(wf, actor=actor, operation="restarted")

    _in_transaction(operation)


def workflow_retry(*, workflow_id: str, resume_subworkflow_tasks: bool = False, actor: str = "api") -> None:
    """Retry a terminal workflow from its failed tasks (404 ``Workflow is still running`` when
    not terminal, Conductor's quirk; 409 when nothing is retryable). With
    ``resume_subworkflow_tasks`` the deepest failed sub-workflow is retried in place instead."""

    def operation() -> None:
        wf = _locked(workflow_id, ancestors=True)
        target = wf
        if resume_subworkflow_tasks:
            control.retry_check(wf)
            failed = _first_unsuccessful(wf)
            if failed is None:
                return  # Conductor: nothing failed, nothing to do
            target = _deepest_failed_child(wf, failed)
        ctx = _context(target)
        control.retry(ctx)
        _save(ctx, actor=actor, note="retried")
        _decide_locked(target.workflow_id, actor=actor)
        _revive_parents(target, actor=actor, operation="retried")

    _in_transaction(operation)


def _first_unsuccessful(wf: WorkflowState) -> TaskState | None:
    rows = Task.objects.filter(workflow_id=wf.workflow_id).exclude(status__in=("SCHEDULED", "IN_PROGRESS"))
    for row in rows.order_by("seq").values("id", *TASK_FIELDS):
        task = store.task_from_row(row)
        if task.status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED"):
            return task
    return None


def _deepest_failed_child(wf: WorkflowState, failed: TaskState) -> WorkflowState:
    """Follow failed SUB_WORKFLOW tasks down to the workflow that really failed."""
    current, task = wf, failed
    for _ in range(MAX_DEPTH):
        if task.task_type == "DO_WHILE":
            # A loop that failed because of a sub-workflow in its body.
            task = next((t for t in current.tasks if t.task_type == control.SUB_WORKFLOW and _unsuccessful(t)), None)
            if task is None:
                return current
        child_id = control.sub_workflow_id(task) if task.task_type == control.SUB_WORKFLOW else None
        child = store.load_workflow(child_id, lock=True) if child_id else None
        if child is None:
            return current
        failed_in_child = _first_unsuccessful(child)
        if failed_in_child is None:
            return current
        current, task = child, failed_in_child
    return current


def _unsuccessful(task: TaskState) -> bool:
    return task.status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED")


def workflow_rerun(
    *,
    workflow_id: str,
    rerun_from_task_id: str | None = None,
    task_input: dict[str, Any] | None = None,
    workflow_input: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    actor: str = "api",
) -> str:
    """Rerun a terminal workflow in place (409 if not terminal) and return its id: from the
    start (optionally with new input / correlation id), or from one task, which may also be a
    task of one of its sub-workflows (400 ``Task <id> not found`` when it is nowhere)."""

    def operation() -> None:
        wf = _locked(workflow_id, ancestors=True)
        if not _rerun_locked(wf, rerun_from_task_id, task_input, workflow_input, correlation_id, actor):
            raise BadRequest(f"Task {rerun_from_task_id} not found")

    _in_transaction(operation)
    return workflow_id


def _rerun_locked(
    wf: WorkflowState,
    task_id: str | None,
    task_input: dict[str, Any] | None,
    workflow_input: dict[str, Any] | None,
    correlation_id: str | None,
    actor: str,
    depth: int = 0,
) -> bool:
    rerun.rerun_check(wf)
    if task_id is None:
        ctx = _context(wf)
        plan = rerun.rerun_from_start(ctx, workflow_input=workflow_input, correlation_id=correlation_id)
        note = "rerun"
    else:
        # Any attempt may be named, superseded ones included: load those too.
        retried = Task.objects.filter(workflow_id=wf.workflow_id, retried=True).values("id", *TASK_FIELDS)
        wf.tasks = sorted([*wf.tasks, *(store.task_from_row(r) for r in retried)], key=lambda t: t.seq)
        target = next((t for t in wf.tasks if t.task_id == task_id), None)
        if target is None:
            return _rerun_in_children(wf, task_id, task_input, actor, depth)
        ctx = _context(wf)
        plan = rerun.rerun_from_task(
            ctx, target, task_input=task_input, workflow_input=workflow_input, correlation_id=correlation_id
        )
        note = f"rerun from task {task_id}"
    _save(ctx, actor=actor, note=note, deleted=plan.deleted)
    _decide_locked(wf.workflow_id, actor=actor)
    _revive_parents(wf, actor=actor, operation="reran")
    return True


def _rerun_in_children(wf: WorkflowState, task_id: str, task_input: dict[str, Any] | None, actor: str, depth: int) -> bool:
    """Look for the task in the sub-workflows; rerunning it there revives this workflow too
    (through the child's parents), as Conductor's recursive rerun does."""
    if depth >= MAX_DEPTH:
        return False
    for task in wf.tasks:
        child_id = control.sub_workflow_id(task) if task.task_type == control.SUB_WORKFLOW else None
        child = store.load_workflow(child_id, lock=True) if child_id else None
        if child is not None and child.terminal and _rerun_locked(child, task_id, task_input, None, None, actor, depth + 1):
            return True
    return False


# --- skip / reset callbacks ---------------------------------------------------------------------------


def task_skip(
    *,
    workflow_id: str,
    task_reference_name: str,
    task_input: dict[str, Any] | None = None,
    task_output: dict[str, Any] | None = None,
    actor: str = "api",
) -> None:
    """Mark a task of a RUNNING workflow SKIPPED before it is scheduled, then decide."""

    def operation() -> None:
        wf = _locked(workflow_id)
        ctx = _context(wf)
        control.skip(ctx, ref=task_reference_name, task_input=task_input, task_output=task_output)
        _save(ctx, actor=actor, note=None)
        _decide_locked(workflow_id, actor=actor)

    _in_transaction(operation)


def workflow_reset_callbacks(*, workflow_id: str, actor: str = "api") -> None:
    """SCHEDULED worker tasks waiting out ``callbackAfterSeconds`` become due now (409 for a
    terminal workflow)."""

    def operation() -> None:
        wf = _locked(workflow_id)
        ctx = _context(wf)
        grace = redispatch_grace_ms()
        published: list[tuple[str, str, str]] = []
        for task in control.callbacks_to_reset(wf):
            task.callback_after_seconds = 0
            node = ctx.node_for(task)
            engine_timeouts.set_deadlines(
                task, task_def=ctx.task_def_for(node), async_complete=bool(node and node.async_complete)
            )
            # Guarded: a task claimed since the load keeps what its claim wrote.
            if Task.objects.filter(pk=task.task_id, status="SCHEDULED").update(
                callback_after_seconds=0, dispatch_at=ctx.now + grace, timeout_at=task.timeout_at,
                claim_deadline_at=task.claim_deadline_at, claim_lease_ms=task.claim_lease_ms,
            ):
                published.append((task.task_id, task.queue_name, task.task_type))
                History.objects.create(
                    workflow_id=workflow_id, task_id=task.task_id, ref=task.ref, from_status="SCHEDULED",
                    to_status="SCHEDULED", actor=actor, reason="callbackAfterSeconds reset", at=ctx.now,
                )
        if published:
            transaction.on_commit(lambda: dispatch.publish_tasks(published))

    _in_transaction(operation)
