"""Task polling for REST workers (``GET /api/tasks/poll...``, single and batch, with long polls).

A REST poller is served from the same broker queue a Celery worker for that type would consume,
so both kinds of worker can share a queue. Messages are only hints (the database is the truth): the
claim (SCHEDULED -> IN_PROGRESS, a compare-and-set) decides who gets a task, and polling also
claims due SCHEDULED tasks straight from the database, so a lost message never strands a task
until the sweeper re-publishes it.

One poll:
1. take up to ``count`` messages without waiting, claim their tasks (stale ones are skipped);
2. if that was not enough, claim the oldest due SCHEDULED tasks of the queue from the database;
3. if still nothing and ``timeout_ms`` > 0, wait on the broker queue (a blocking consume that
   wakes when a message arrives, not a sleep loop), claim what arrives, and look at the
   database once more at the end.
No database transaction is open while the broker is waited on.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, Q

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.conductor import queues
from orchestration.definitions.model import SYSTEM_TASK_TYPES
from orchestration.errors import BadRequest
from orchestration.models import PollData, Task
from orchestration.services.tasks import record_poll, task_claim
from orchestration.services.workflows import redispatch_grace_ms

log = logging.getLogger(__name__)

MAX_POLL_TIMEOUT_MS = 5000
# Conductor has no cap; one poll holding thousands of claims in a transaction helps nobody.
MAX_POLL_COUNT = 1000


def task_poll(
    *, task_type: str, worker_id: str | None, domain: str | None, count: int = 1, timeout_ms: int = 100
) -> list[dict[str, Any]]:
    """Claim up to ``count`` tasks of ``task_type`` (in ``domain``) for ``worker_id``; the rows
    come back as ``claim_task`` returns them (``id``, ``workflow_id`` and ``models.TASK_FIELDS``)."""
    if not task_type:
        raise BadRequest("TaskType cannot be null or empty.")
    if timeout_ms > MAX_POLL_TIMEOUT_MS:
        raise BadRequest("Long Poll Timeout value cannot be more than 5 seconds")
    queue_name = queues.queue_name(task_type, domain)
    _record_poll(task_type=task_type, domain=domain, worker_id=worker_id, queue_name=queue_name)
    count = min(count, MAX_POLL_COUNT)
    if count <= 0:
        return []
    broker_queue = dispatch.broker_queue(queue_name)
    claimed = _claim_ids(dispatch.take_task_ids(broker_queue, count), queue_name, worker_id)
    if len(claimed) < count:
        claimed += _claim_due(queue_name, count - len(claimed), worker_id)
    if claimed or timeout_ms <= 0:
        return claimed
    deadline = time.monotonic() + timeout_ms / 1000
    _release_pooled_connection()
    while not claimed:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ids = dispatch.wait_for_task_ids(broker_queue, count, remaining)
        if ids is None:  # broker unreachable: the database is all there is
            time.sleep(max(0.0, deadline - time.monotonic()))
            break
        if not ids:
            break  # timed out
        claimed = _claim_ids(ids, queue_name, worker_id)  # all stale: wait on for the rest of the timeout
    if len(claimed) < count:
        claimed += _claim_due(queue_name, count - len(claimed), worker_id)
    return claimed


def _release_pooled_connection() -> None:
    """Give a pooled database connection back before waiting on the broker for up to seconds:
    long polls would otherwise hold a pool's connections while doing nothing with them. The
    next query takes one from the pool again (no new server backend)."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


# (queue name, worker id) -> when this process last wrote that worker's poll time, epoch ms.
_poll_written: dict[tuple[str, str], int] = {}
_POLL_WRITTEN_MAX = 10_000  # forgotten wholesale past this: worker ids can be anything


def poll_data_interval_ms() -> int:
    return int(settings.BATON["POLL_DATA_INTERVAL_MS"])


def _record_poll(*, task_type: str, domain: str | None, worker_id: str | None, queue_name: str) -> None:
    # A worker polling in a loop would otherwise cost a write and a commit on every poll; its
    # poll time is written at most once per interval per process, as Conductor's PostgreSQL
    # store can flush it on an interval. What reads it (poll data, a domain's worker being
    # active in the last 10 s) needs no finer grain.
    key = (queue_name, worker_id or "")
    now = now_ms()
    if now - _poll_written.get(key, -(2**62)) < poll_data_interval_ms():
        return
    # A known worker is one UPDATE in autocommit; only a new (queue, worker) pair pays for
    # services.tasks.record_poll's locked upsert.
    updated = PollData.objects.filter(queue_name=queue_name, worker_id=key[1]).update(
        last_poll_time=now, task_type=task_type, domain=domain
    )
    if not updated:
        record_poll(task_type=task_type, domain=domain, worker_id=worker_id, queue_name=queue_name)
    if len(_poll_written) >= _POLL_WRITTEN_MAX:
        _poll_written.clear()
    _poll_written[key] = now


def forget_recorded_polls() -> None:
    """Write the next poll of every worker again (tests whose database was rolled back)."""
    _poll_written.clear()


# --- claiming ----------------------------------------------------------------------------------


# Typed explicitly: Django infers IntegerField for ``bigint * 1000``, and on PostgreSQL it then
# drops a comparison with an epoch-ms value as "out of int32 range, always true".
_DUE_AT = ExpressionWrapper(F("update_time") + F("callback_after_seconds") * 1000, output_field=BigIntegerField())


def _claimable(now: int) -> Q:
    """SCHEDULED and not waiting out a delay. Undelayed tasks are claimable whatever the clocks
    say, so a few ms of skew between the machine that scheduled and the one polling never
    strands a fresh task."""
    return Q(status="SCHEDULED") & (Q(callback_after_seconds__lte=0) | Q(due_at__lte=now))


def _claim_each(task_ids: list[str], queue_name: str, worker_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Claim the named tasks one by one (``task_claim``: a compare-and-set, limits checked),
    until ``limit`` are claimed; a task that is gone, taken, waiting out a delay or over its
    TaskDef's limits is passed over."""
    claimed: list[dict[str, Any]] = []
    for task_id in task_ids:
        if len(claimed) >= limit:
            break
        row = task_claim(task_id=task_id, worker_id=worker_id, queue_name=queue_name, postpone_refused=False)
        if row is not None:
            claimed.append(row)
    return claimed


def _claim_ids(task_ids: list[str], queue_name: str, worker_id: str | None) -> list[dict[str, Any]]:
    """Claim the tasks messages named, in the broker's order. A message for a task that is
    gone, taken, or waiting out a callbackAfterSeconds (the same task id is re-queued by an
    IN_PROGRESS update, and an older message for it may still be around) is stale: dropped, the
    database has the truth."""
    unique = list(dict.fromkeys(task_ids))
    return _claim_each(unique, queue_name, worker_id, len(unique))


def _claim_due(queue_name: str, limit: int, worker_id: str | None) -> list[dict[str, Any]]:
    """Claim the oldest SCHEDULED tasks of the queue whose delay (callbackAfterSeconds, start
    delay, retry backoff) has passed, whether or not their message is still around."""
    now = now_ms()
    due = (
        Task.objects.filter(queue_name=queue_name, status="SCHEDULED")
        .alias(due_at=_DUE_AT)
        .filter(due_at__lte=now)
        .order_by("scheduled_time")
    )
    # A few more candidates than wanted: another poller may take some of them first, and a
    # task over its TaskDef's limits is passed over.
    candidates = list(due.values_list("id", flat=True)[: limit * 2 + 8])
    return _claim_each(candidates, queue_name, worker_id, limit) if candidates else []


# --- requeue (the queue reads are orchestration.selectors.queues) -------------------------------


def requeue_pending(task_type: str) -> int:
    """Publish a message again for every SCHEDULED task of a worker task type (all domains);
    returns how many tasks are queued. Tasks waiting out a delay keep it: the sweeper publishes
    them when due. IN_PROGRESS tasks stay with their worker (Conductor re-queues those too,
    which lets a second worker take a task the first still holds)."""
    if task_type in SYSTEM_TASK_TYPES:
        return 0
    now = now_ms()
    pending = Task.objects.filter(task_type=task_type, status="SCHEDULED")
    queued = pending.count()
    due = list(
        pending.alias(due_at=_DUE_AT).filter(Q(callback_after_seconds__lte=0) | Q(due_at__lte=now))
        .values_list("id", "queue_name", "task_type")
    )
    if due:
        # As the sweeper does: the next safety-net publish is a grace period away.
        Task.objects.filter(pk__in=[d[0] for d in due], status="SCHEDULED").update(dispatch_at=now + redispatch_grace_ms())
        transaction.on_commit(lambda: dispatch.publish_tasks(due))
    return queued
