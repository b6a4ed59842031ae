"""The Celery application: Django settings prefixed CELERY_, Baton's system queues, and
one queue per worker task type registered through ``workers.runtime.worker_task``."""

from __future__ import annotations

import os

from celery import Celery

from orchestration.celery_setup import configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_project.settings")

app = Celery("conductor_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    # Task rows are the record of every execution: Celery results would be a second, slower copy.
    task_ignore_result=True,
    task_store_errors_even_if_ignored=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_default_queue="baton.system",
    # Delays live in the database (due-times); nothing here waits for hours in the broker.
    broker_transport_options={"visibility_timeout": 3600},
    worker_send_task_events=False,
    task_send_sent_event=False,
)
app.autodiscover_tasks(["orchestration"])


@app.on_after_finalize.connect
def _configure_baton(sender: Celery, **_: object) -> None:
    try:
        configure(sender)
    except Exception as error:
        # Celery logs and swallows errors raised by signal receivers: a worker would come up
        # "ready" on baton.system only and beat without the sweep. Refuse to start instead.
        raise SystemExit(f"baton: cannot configure Celery: {error!r}") from error
