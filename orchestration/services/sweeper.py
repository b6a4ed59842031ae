"""The sweeper: the safety net that makes lost messages and dead processes cost only time.

Run by Celery beat every ``SWEEP_INTERVAL_SECONDS``. Each step is an indexed query for rows
whose due-time has passed:
- SCHEDULED tasks due for (re)publishing: delayed retries and callbacks, and messages that
  may have been lost;
- open tasks past a timeout deadline, and RUNNING workflows past their next check;
- terminal tasks the decider never processed (a process died between update and decide);
- decide requests whose message may have been lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.engine.state import OPEN_TASK
from orchestration.models import DecideRequest, Task, Workflow
from orchestration.services.workflows import workflow_decide

log = logging.getLogger(__name__)

TERMINAL = ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED")
# A terminal task still unprocessed after this long was orphaned by a dead process.
UNPROCESSED_GRACE_MS = 5_000
STALE_DECIDE_REQUEST_MS = 10_000


@dataclass(frozen=True, slots=True)
class SweepReport:
    published: int
    decided: int
    requeued_decides: int


def sweep(*, now: int | None = None, batch: int = 500) -> SweepReport:
    now = now if now is not None else now_ms()
    published = _publish_due_tasks(now, batch)
    workflow_ids: set[str] = set()
    workflow_ids.update(
        Task.objects.filter(status__in=OPEN_TASK, timeout_at__lte=now).values_list("workflow_id", flat=True)[:batch]
    )
    workflow_ids.update(
        Workflow.objects.filter(status="RUNNING", next_check_at__lte=now).values_list("id", flat=True)[:batch]
    )
    workflow_ids.update(
        Task.objects.filter(
            executed=False, retried=False, status__in=TERMINAL, update_time__lte=now - UNPROCESSED_GRACE_MS,
            workflow__status="RUNNING",
        ).values_list("workflow_id", flat=True)[:batch]
    )
    decided = 0
    for workflow_id in workflow_ids:
        try:
            if workflow_decide(workflow_id=workflow_id, actor="sweeper", wait=False):
                decided += 1
        except Exception:  # one broken workflow must not stop the sweep of the others
            log.exception("sweeper could not decide workflow %s", workflow_id)
    stale = list(
        DecideRequest.objects.filter(requested_at__lte=now - STALE_DECIDE_REQUEST_MS).values_list("workflow_id", flat=True)[:batch]
    )
    if stale:
        DecideRequest.objects.filter(workflow_id__in=stale).update(requested_at=now)
        for workflow_id in stale:
            dispatch.publish_decide(workflow_id)
    return SweepReport(published=published, decided=decided, requeued_decides=len(stale))


def _publish_due_tasks(now: int, batch: int) -> int:
    grace = int(settings.BATON["REDISPATCH_AFTER_SECONDS"]) * 1000
    with transaction.atomic():
        rows = list(
            Task.objects.select_for_update(skip_locked=True)
            .filter(status="SCHEDULED", dispatch_at__lte=now)
            .order_by("dispatch_at")
            .values_list("id", "queue_name", "task_type")[:batch]
        )
        if not rows:
            return 0
        Task.objects.filter(pk__in=[r[0] for r in rows], status="SCHEDULED").update(dispatch_at=now + grace)
        transaction.on_commit(lambda: dispatch.publish_tasks(rows))
    return len(rows)
