"""The only module that talks to the broker.

Every message is a hint: the database is the truth. A lost message delays work until the
sweeper publishes it again; a duplicate is dropped by the claim's compare-and-set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

from celery import current_app
from kombu import Exchange, Queue

log = logging.getLogger(__name__)

DECIDE_QUEUE = "baton.decide"
SYSTEM_QUEUE = "baton.system"
TASK_QUEUE_PREFIX = "baton.task."
DECIDE_TASK = "baton.decide"
WORKER_TASK_PREFIX = "baton.worker."


@lru_cache(maxsize=4096)
def queue_decl(name: str) -> Queue:
    """A broker queue on the default exchange, routed by its own name.

    No exchange binding is involved, so nothing depends on routing tables the broker may
    lose (FLUSHDB on Redis deletes kombu's bindings with the messages): a publish always
    lands in the queue, and consumers and publishers agree without declaring anything.
    """
    return Queue(name, Exchange(""), routing_key=name)


def broker_queue(queue_name: str) -> str:
    """The broker queue that carries a Conductor queue (``[domain:]taskType``)."""
    return TASK_QUEUE_PREFIX + queue_name


def worker_task_name(task_type: str) -> str:
    """The Celery task name a worker for ``task_type`` registers under."""
    return WORKER_TASK_PREFIX + task_type


def publish_tasks(messages: Iterable[tuple[str, str, str]]) -> None:
    """Publish (task_id, queue_name, task_type) triples to their queues; never raises, since
    the sweeper re-publishes anything that does not arrive."""
    app = current_app
    try:
        with app.producer_or_acquire() as producer:
            for task_id, queue_name, task_type in messages:
                app.send_task(
                    worker_task_name(task_type),
                    args=[task_id],
                    queue=queue_decl(broker_queue(queue_name)),
                    producer=producer,
                    ignore_result=True,
                )
    except Exception:  # broker down: the sweeper will publish again
        log.warning("could not publish task messages; the sweeper will retry", exc_info=True)


def publish_decide(workflow_id: str) -> None:
    try:
        current_app.send_task(DECIDE_TASK, args=[workflow_id], queue=queue_decl(DECIDE_QUEUE), ignore_result=True)
    except Exception:
        log.warning("could not publish decide for %s; the sweeper will retry", workflow_id, exc_info=True)
