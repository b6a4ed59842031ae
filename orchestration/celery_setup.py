"""Celery wiring that needs Django: the system queues, one queue per registered worker type,
routing, and the sweeper's beat schedule."""

from __future__ import annotations

import importlib

from celery import Celery
from celery.signals import task_prerun
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from orchestration import dispatch, worker_registry


def import_worker_modules() -> None:
    for module in settings.BATON["WORKER_MODULES"]:
        importlib.import_module(module)


def configure(app: Celery) -> None:
    import_worker_modules()
    # Fresh objects for the consumer side: Celery fills in a default exchange on the queues it
    # is given, and the cached publish-side declarations must keep the empty one.
    worker_queues = [dispatch.broker_queue(q) for q in worker_registry.registered_queues()]
    names = [dispatch.DECIDE_QUEUE, dispatch.SYSTEM_QUEUE, *worker_queues]
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
def fresh_enough_connections(**_: object) -> None:
    """Connections live across tasks (CELERY_DB_REUSE_MAX): drop any that are past
    CONN_MAX_AGE or fail the health check, as Django does at the start of each request.

    A connection taken from a pool (PostgreSQL's default here) is kept across tasks instead,
    while it is usable: Django's rules (CONN_MAX_AGE is 0 with a pool) would hand it back and
    take it again around every task, at the price of the pool's check query and Django's
    connection set-up each time, about a tenth of a transition's cost in this process. A
    pool-fresh connection is still checked; one that breaks while kept fails the statement
    that finds out (workers.runtime retries a claim once on a fresh connection)."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.settings_dict.get("OPTIONS", {}).get("pool"):
            keep_if_usable(conn)
        else:
            conn.close_if_unusable_or_obsolete()


def keep_if_usable(conn: BaseDatabaseWrapper) -> None:
    """Close a kept connection only when it cannot serve the next task: a transaction left
    open, or an error since which it no longer answers."""
    if conn.in_atomic_block or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
        conn.close()
    elif conn.errors_occurred:
        if conn.is_usable():
            conn.errors_occurred = False
        else:
            conn.close()
