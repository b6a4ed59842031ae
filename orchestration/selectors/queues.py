"""Reads of the task queues: how many tasks wait in each, and when workers last polled.

A queue's size is read from the database, the truth: the SCHEDULED tasks of that queue name,
delayed ones included (Conductor counts every message in the queue, visible or not). The
broker's queue length would count stale and duplicate messages and miss lost ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count

from orchestration.models import PollData, Task


def queue_size(*, queue_name: str) -> int:
    return Task.objects.filter(queue_name=queue_name, status="SCHEDULED").count()


def queue_sizes(*, queue_names: Sequence[str]) -> dict[str, int]:
    """Each name -> its size, in the order given (0 for an unknown queue)."""
    counts = dict(
        Task.objects.filter(queue_name__in=set(queue_names), status="SCHEDULED")
        .values_list("queue_name")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {name: counts.get(name, 0) for name in queue_names}


def all_queue_sizes() -> dict[str, int]:
    """Every known queue (one with tasks waiting, or one a worker has polled) -> its size,
    sorted by name."""
    counts: dict[str, int] = dict(
        Task.objects.filter(status="SCHEDULED").values_list("queue_name").annotate(n=Count("id")).order_by()
    )
    for name in PollData.objects.values_list("queue_name", flat=True).distinct():
        counts.setdefault(name, 0)
    return dict(sorted(counts.items()))


def poll_data(*, task_type: str | None = None) -> list[dict[str, Any]]:
    """Conductor's PollData list: one entry per (task type, domain), the latest poll. Its
    ``queueName`` is the task type, as Conductor's poll-data stores write it."""
    rows = PollData.objects.order_by("task_type", "domain", "-last_poll_time")
    if task_type is not None:
        rows = rows.filter(task_type=task_type)
    latest: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows.values("task_type", "domain", "worker_id", "last_poll_time"):
        key = (row["task_type"], row["domain"] or None)
        if key not in latest:
            doc = {"queueName": row["task_type"], "domain": key[1], "workerId": row["worker_id"] or None,
                   "lastPollTime": row["last_poll_time"]}
            latest[key] = {k: v for k, v in doc.items() if v is not None}
    return list(latest.values())
