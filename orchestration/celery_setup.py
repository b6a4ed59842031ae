"""Celery wiring that needs Django: the system queues, one queue per registered worker type,
routing, and the sweeper's beat schedule."""

from __future__ import annotations

import importlib

from celery import Celery
from django.conf import settings
from kombu import Queue

from orchestration import dispatch


def import_worker_modules() -> None:
    for module in settings.BATON["WORKER_MODULES"]:
        importlib.import_module(module)


def configure(app: Celery) -> None:
    from workers.runtime import registered_queues

    import_worker_modules()
    queues = [Queue(dispatch.DECIDE_QUEUE), Queue(dispatch.SYSTEM_QUEUE)]
    queues += [Queue(dispatch.broker_queue(q)) for q in registered_queues()]
    interval = float(settings.BATON["SWEEP_INTERVAL_SECONDS"])
    app.conf.update(
        task_queues=queues,
        task_routes={dispatch.DECIDE_TASK: {"queue": dispatch.DECIDE_QUEUE}, "baton.sweep": {"queue": dispatch.SYSTEM_QUEUE}},
        beat_schedule={
            "baton-sweep": {
                "task": "baton.sweep",
                "schedule": interval,
                # A sweep that could not start in time is superseded by the next one.
                "options": {"queue": dispatch.SYSTEM_QUEUE, "expires": max(1.0, interval * 5)},
            }
        },
    )
