"""Celery wiring that needs Django: the system queues, one queue per registered worker type,
routing, and the sweeper's beat schedule."""

from __future__ import annotations

import importlib

from celery import Celery
from celery.signals import task_prerun
from django.conf import settings
from django.db import close_old_connections

from orchestration import dispatch


def import_worker_modules() -> None:
    for module in settings.BATON["WORKER_MODULES"]:
        importlib.import_module(module)


def configure(app: Celery) -> None:
    from workers.runtime import registered_queues

    import_worker_modules()
    # Fresh objects for the consumer side: Celery fills in a default exchange on the queues it
    # is given, and the cached publish-side declarations must keep the empty one.
    names = [dispatch.DECIDE_QUEUE, dispatch.SYSTEM_QUEUE] + [dispatch.broker_queue(q) for q in registered_queues()]
    queues = [dispatch.queue_decl.__wrapped__(name) for name in names]
    interval = float(settings.BATON["SWEEP_INTERVAL_SECONDS"])
    app.conf.update(
        task_queues=queues,
        task_routes={
            dispatch.DECIDE_TASK: {"queue": dispatch.queue_decl(dispatch.DECIDE_QUEUE)},
            "baton.sweep": {"queue": dispatch.queue_decl(dispatch.SYSTEM_QUEUE)},
        },
        beat_schedule={
            "baton-sweep": {
                "task": "baton.sweep",
                "schedule": interval,
                # A sweep that could not start in time is superseded by the next one.
                "options": {"queue": dispatch.queue_decl(dispatch.SYSTEM_QUEUE), "expires": max(1.0, interval * 5)},
            }
        },
    )


@task_prerun.connect
def _fresh_enough_connections(**_: object) -> None:
    """Connections live across tasks (CELERY_DB_REUSE_MAX): drop any that are past
    CONN_MAX_AGE or fail the health check, as Django does at the start of each request."""
    close_old_connections()
