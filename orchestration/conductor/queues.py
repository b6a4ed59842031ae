"""Conductor's task queues: what one is called and how long a task waited in it."""

from __future__ import annotations

DOMAIN_SEPARATOR = ":"


def queue_name(task_type: str, domain: str | None = None) -> str:
    """``taskType``, or ``domain:taskType`` for a task in a domain. An empty domain counts as
    none: no client can poll for it (an empty ``domain`` query parameter means no domain)."""
    return f"{domain}{DOMAIN_SEPARATOR}{task_type}" if domain else task_type


def full_queue_name(
    task_type: str, domain: str | None = None, isolation_group_id: str | None = None, execution_namespace: str | None = None
) -> str:
    """The queue name with the TaskDef's partitions: ``[domain:]taskType[@executionNamespace]``
    then ``[-isolationGroupId]``."""
    name = queue_name(task_type, domain)
    if execution_namespace:
        name = f"{name}@{execution_namespace}"
    if isolation_group_id:
        name = f"{name}-{isolation_group_id}"
    return name


def queue_wait_time(
    *, start_time: int, scheduled_time: int, update_time: int, callback_after_seconds: int, now: int
) -> int:
    """Conductor's ``Task.getQueueWaitTime()`` in milliseconds: 0 until the task has been both
    scheduled and started; for a task a worker asked to be called back later (its
    ``callbackAfterSeconds``), the time since that callback fell due, as of ``now``, and never
    negative; otherwise start minus scheduled time."""
    if start_time > 0 and scheduled_time > 0:
        if update_time > 0 and callback_after_seconds > 0:
            return max(0, now - (update_time + callback_after_seconds * 1000))
        return start_time - scheduled_time
    return 0
