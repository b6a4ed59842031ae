"""Conductor's admin repairs of one workflow (``/api/admin/sweep/requeue`` and
``/api/admin/consistency/verifyAndRepair``): queue a decide, or decide now and publish again
what should be queued."""

from __future__ import annotations

from django.db import transaction

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.engine.state import TERMINAL_WORKFLOW
from orchestration.models import DecideRequest, Task
from orchestration.selectors.workflows import current_status, not_found
from orchestration.services.workflows import redispatch_grace_ms, request_decide, workflow_decide


def _workflow_status(workflow_id: str) -> str:
    status = current_status(workflow_id=workflow_id)
    if status is None:
        raise not_found(workflow_id)
    return status


def requeue_sweep(*, workflow_id: str) -> bool:
    """Queue a decide for the workflow; True when this call queued it, False when a request
    was already pending (Conductor's pushIfNotExists on its decider queue)."""
    _workflow_status(workflow_id)
    already = DecideRequest.objects.filter(workflow_id=workflow_id).exists()
    request_decide(workflow_id)
    return not already


def verify_and_repair(*, workflow_id: str) -> bool:
    """Re-evaluate a running workflow now and re-publish the messages of its due SCHEDULED tasks
    (a lost message would otherwise wait for the sweeper). True when something was done; a
    terminal workflow needs nothing (False), as in Conductor's repair service."""
    if _workflow_status(workflow_id) in TERMINAL_WORKFLOW:
        return False
    decided = workflow_decide(workflow_id=workflow_id, actor="admin", wait=True)
    now = now_ms()
    with transaction.atomic():
        rows = list(
            Task.objects.select_for_update()
            .filter(workflow_id=workflow_id, status="SCHEDULED", dispatch_at__lte=now)
            .values_list("id", "queue_name", "task_type")
        )
        if rows:
            # As the sweeper does: the next automatic re-publish waits a full grace period.
            Task.objects.filter(pk__in=[r[0] for r in rows], status="SCHEDULED").update(
                dispatch_at=now + redispatch_grace_ms()
            )
            transaction.on_commit(lambda: dispatch.publish_tasks(rows))
    return decided or bool(rows)
