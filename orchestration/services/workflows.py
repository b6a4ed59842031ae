"""Workflow services: start and decide. Each is one transaction; messages go out on commit."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.definitions.model import WorkflowDefinition
from orchestration.definitions.validation import DefinitionError, validate_workflow_def
from orchestration.engine.context import DecideContext
from orchestration.engine.decider import decide
from orchestration.engine.results import AppliedResult
from orchestration.engine.state import WorkflowState
from orchestration.errors import BadRequest
from orchestration.models import DecideRequest, PollData
from orchestration.services import frozen, store
from orchestration.services.definitions import registered_task_def
from orchestration.services.follow_ups import run_follow_ups

log = logging.getLogger(__name__)
_rng = random.SystemRandom()


def active_domains(task_type: str) -> frozenset[str]:
    """Domains with a worker that polled ``task_type`` in the last 10 s: the ones a taskToDomain
    list may pick (Conductor's activeWorkerLastPollTimeout is 10 s too)."""
    since = now_ms() - 10_000
    rows = PollData.objects.filter(task_type=task_type, last_poll_time__gte=since).values_list("domain", flat=True)
    return frozenset(d for d in rows if d)


def redispatch_grace_ms() -> int:
    return int(settings.BATON["REDISPATCH_AFTER_SECONDS"]) * 1000


def frozen_definition(definition: dict[str, Any]) -> tuple[str, WorkflowDefinition]:
    """Freeze ``definition`` and store its snapshot (for runs moved to a new definition)."""
    result = frozen.freeze(definition)
    frozen.store_snapshot(result, now_ms())
    return result.key, result.definition


def workflow_start(
    *,
    name: str,
    input: dict[str, Any] | None,
    version: int | None = None,
    correlation_id: str | None = None,
    priority: int = 0,
    task_to_domain: dict[str, str] | None = None,
    workflow_def: dict[str, Any] | None = None,
    parent_workflow_id: str | None = None,
    parent_workflow_task_id: str | None = None,
    extra: dict[str, Any] | None = None,
    workflow_id: str | None = None,
    actor: str = "api",
) -> str:
    """Create a workflow and run its first decide in the same transaction (as Conductor does,
    so sync system tasks at its head have run before the id is returned)."""
    if input is None:
        raise BadRequest("NULL input passed when starting workflow")
    if not isinstance(input, dict):
        raise BadRequest("input must be a JSON object")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 99:
        raise BadRequest("priority: Priority must be between 0 and 99")
    if workflow_def is not None:
        errors = validate_workflow_def(workflow_def, path="workflowDef", task_def_lookup=registered_task_def)
        if errors:
            raise DefinitionError(errors)
        run_def = frozen.freeze(workflow_def)
    else:
        run_def = frozen.frozen_for(name, version)
    parsed = run_def.definition
    now = now_ms()
    with transaction.atomic():
        wf_input = dict(input)
        for k, v in parsed.input_template.items():
            wf_input.setdefault(k, v)
        wf = WorkflowState(
            workflow_id=workflow_id or str(uuid.uuid4()),
            name=parsed.name,
            version=parsed.version,
            status="RUNNING",
            definition=parsed,
            snapshot_key=run_def.key,
            input=wf_input,
            variables=dict(parsed.variables),
            task_to_domain=dict(task_to_domain or {}),
            correlation_id=correlation_id,
            priority=priority,
            parent_workflow_id=parent_workflow_id,
            parent_workflow_task_id=parent_workflow_task_id,
            extra=dict(extra or {}),
            create_time=now,
            update_time=now,
            is_new=True,
        )
        decide_and_save(wf, now=now, actor=actor, snapshot=(run_def.key, run_def.data_text))
    return wf.workflow_id


def decide_and_save(
    wf: WorkflowState,
    *,
    now: int,
    actor: str,
    snapshot: tuple[str, str] | None = None,
    results: Mapping[str, tuple[AppliedResult, str]] | None = None,
) -> None:
    """Run the decider on a loaded (locked) workflow and write what it decided, in the caller's
    transaction; new worker tasks are published once it commits. ``snapshot`` and ``results``
    as ``store.save_workflow`` takes them."""
    ctx = DecideContext(workflow=wf, now=now, rng=_rng, active_domains=active_domains)
    decision = decide(ctx)
    grace = redispatch_grace_ms()
    for task in decision.to_dispatch:
        task.dispatch_at = now + grace
    store.save_workflow(
        wf, new_tasks=decision.new_tasks, changed_tasks=decision.changed_tasks, actor=actor, snapshot=snapshot,
        results=results,
    )
    if decision.to_dispatch:
        messages = [(t.task_id, t.queue_name, t.task_type) for t in decision.to_dispatch]
        transaction.on_commit(lambda: dispatch.publish_tasks(messages))
    if decision.follow_ups:
        run_follow_ups(wf, decision.follow_ups, actor=actor, start_workflow=workflow_start)


def lock_busy(error: DatabaseError) -> bool:
    # PostgreSQL's lock_not_available (55P03) for NOWAIT; anything else is a real error.
    return getattr(getattr(error, "__cause__", None), "sqlstate", None) == "55P03"


# A decide whose tasks keep changing under it (see store.TaskChangedConcurrently) is retried
# this many times, then left to a queued decide request.
MAX_DECIDE_ATTEMPTS = 3


def workflow_decide(*, workflow_id: str, actor: str = "decider", wait: bool = True) -> bool:
    """Decide one workflow under its row lock. With ``wait=False`` a busy lock is not waited
    for: a (coalesced) decide request is queued instead and False returned."""
    for _ in range(MAX_DECIDE_ATTEMPTS):
        try:
            with transaction.atomic():
                wf = store.load_workflow(workflow_id, lock=True, nowait=not wait)
                if wf is None:
                    return False
                if wf.terminal and wf.status == "COMPLETED":
                    return True
                decide_and_save(wf, now=now_ms(), actor=actor)
                return True
        except store.TaskChangedConcurrently:
            continue  # rolled back: decide again on the rows as they are now
        except DatabaseError as error:
            if wait or not lock_busy(error):
                raise
            break
    request_decide(workflow_id)
    return False


def request_decide(workflow_id: str) -> None:
    """Ask a Celery worker to decide this workflow. Requests coalesce: while one is pending
    (its row exists), further requests add nothing."""
    table = DecideRequest._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (workflow_id, requested_at) VALUES (%s, %s) "
            "ON CONFLICT (workflow_id) DO NOTHING RETURNING workflow_id",
            [workflow_id, now_ms()],
        )
        inserted = cursor.fetchone() is not None
        if inserted:
            transaction.on_commit(lambda: dispatch.publish_decide(workflow_id))


def take_decide_request(workflow_id: str) -> None:
    """Clear the pending request before deciding, so a change made during the decide queues
    a fresh one instead of being coalesced into the request being served."""
    DecideRequest.objects.filter(workflow_id=workflow_id).delete()

