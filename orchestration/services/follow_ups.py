"""The follow-ups a decision asks for, carried out in its transaction after its rows are
written: for now, starting the definition's failureWorkflow when the engine ended a workflow
unsuccessfully.

Starting a workflow decides it, and that decision may ask for follow-ups in turn, so starting
and following up call each other. The decide that asks passes its start function in, which
keeps this module from importing ``services.workflows`` back.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, Protocol

from django.db import transaction

from orchestration.documents import executions
from orchestration.engine.context import FollowUp, StartFailureWorkflow
from orchestration.engine.state import WorkflowState
from orchestration.errors import ServiceError
from orchestration.models import Workflow
from orchestration.selectors import workflows

log = logging.getLogger(__name__)

FAILURE_WORKFLOW_KEY = "conductor.failure_workflow"
# A failure workflow that fails at once starts its own failure workflow inside the same call
# stack; a definition naming itself would never stop. Conductor loops (asynchronously); Baton
# stops the chain here and records why in the output.
MAX_FAILURE_CHAIN = 5
_failure_chain: ContextVar[int] = ContextVar("baton_failure_chain", default=0)


class StartWorkflow(Protocol):
    """``services.workflows.workflow_start``, as far as a follow-up uses it."""

    def __call__(
        self,
        *,
        name: str,
        version: int | None,
        input: dict[str, Any] | None,
        correlation_id: str | None,
        task_to_domain: dict[str, str] | None,
        actor: str,
    ) -> str: ...


def run_follow_ups(
    wf: WorkflowState, follow_ups: list[FollowUp], *, actor: str, start_workflow: StartWorkflow
) -> None:
    """Carry out what a decision asked for, in its transaction, after its rows were written."""
    for follow_up in follow_ups:
        if isinstance(follow_up, StartFailureWorkflow):
            depth = _failure_chain.get()
            token = _failure_chain.set(depth + 1)
            try:
                _start_failure_workflow(wf, follow_up, actor=actor, depth=depth, start_workflow=start_workflow)
            finally:
                _failure_chain.reset(token)


def _start_failure_workflow(
    wf: WorkflowState, follow_up: StartFailureWorkflow, *, actor: str, depth: int, start_workflow: StartWorkflow
) -> None:
    """Start the failureWorkflow with the failed workflow's input plus what failed, and write
    its id (or why it could not start) to the failed workflow's output under
    ``conductor.failure_workflow``, the key Conductor uses."""
    payload: dict[str, Any] = {
        **wf.input,
        "workflowId": wf.workflow_id,
        "reason": wf.reason_for_incompletion,
        "failureStatus": wf.status,
    }
    if follow_up.failed_task_id:
        payload["failureTaskId"] = follow_up.failed_task_id
    failed = workflows.workflow_execution(workflow_id=wf.workflow_id)
    payload["failedWorkflow"] = executions.workflow_json(failed.workflow, failed.tasks)
    try:
        if depth >= MAX_FAILURE_CHAIN:
            raise ServiceError(f"failure workflows started each other more than {MAX_FAILURE_CHAIN} times in a row")
        with transaction.atomic():  # a savepoint: a failed start must not spoil the decision
            value = start_workflow(
                name=follow_up.name, version=follow_up.version, input=payload, correlation_id=wf.correlation_id,
                task_to_domain=dict(wf.task_to_domain), actor=actor,
            )
    except Exception as error:  # whatever stops it, the failed workflow records why (as Conductor does)
        message = getattr(error, "message", None) or str(error)
        log.warning("failure workflow %s for %s could not start: %s", follow_up.name, wf.workflow_id, message)
        value = f"Error workflow {follow_up.name} failed to start.  reason: {message}"
    wf.output = {**wf.output, FAILURE_WORKFLOW_KEY: value}
    Workflow.objects.filter(pk=wf.workflow_id).update(output=wf.output)
