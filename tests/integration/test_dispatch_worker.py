"""Both kinds of worker take what Baton publishes: Celery's own worker (consumer, message strategy,
task execution; solo pool, in a thread of this process) runs a task registered with
``workers.runtime.worker_task`` from its ``baton.task.<type>`` queue and Baton's decide task from
``baton.decide``, and a REST poll takes the task's message off the same queue with kombu."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import kombu
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection
from django.test import Client

from conductor_project.celery import app as celery_app
from orchestration import dispatch
from orchestration.models import DecideRequest, Task, Workflow
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import request_decide, workflow_start
from workers.runtime import worker_task

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "dispatch@baton.local"


class Finished:
    """The tasks the worker finished, by Celery task name, and a way to wait for one."""

    def __init__(self) -> None:
        self.args: list[tuple[str, list[Any]]] = []
        self.changed = threading.Condition()

    def __call__(self, sender: Any = None, args: Any = None, **_: Any) -> None:
        # Runs in the worker's thread: its database connection is closed here, not left open
        # after the test (a solo pool runs tasks in the worker's own thread).
        connection.close()
        with self.changed:
            self.args.append((sender.name, list(args or [])))
            self.changed.notify_all()

    def wait_for(self, name: str, arg: str, timeout: float = 20) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: (name, [arg]) in self.args, timeout)


def register_one_task_workflow(task_type: str) -> str:
    """A workflow of one SIMPLE task of ``task_type`` that gets the workflow's ``name``: its name."""
    task_defs_register(defs=[{"name": task_type, "retryCount": 0, "ownerEmail": OWNER}])
    name = f"dispatch_wf_{uuid.uuid4().hex[:8]}"
    workflow_def_register(data={
        "name": name, "version": 1, "schemaVersion": 2, "ownerEmail": OWNER,
        "tasks": [{"name": task_type, "taskReferenceName": "greet", "type": "SIMPLE",
                   "inputParameters": {"name": "${workflow.input.name}"}}],
    })  # fmt: skip
    return name


@pytest.fixture
def finished() -> Iterator[Finished]:
    finished = Finished()
    task_postrun.connect(finished, weak=False)
    try:
        yield finished
    finally:
        task_postrun.disconnect(finished)


def test_a_celery_worker_runs_the_task_and_decide_messages_baton_publishes(
    finished: Finished, redis_client: redis.Redis
) -> None:
    task_type = f"dispatch_worker_{uuid.uuid4().hex[:8]}"
    ran: list[dict[str, Any]] = []

    @worker_task(task_type)
    def greet(task_input: dict[str, Any]) -> dict[str, Any]:
        ran.append(task_input)
        return {"greeting": f"hello {task_input['name']}"}

    name = register_one_task_workflow(task_type)
    # Older decide requests of this test session are no business of this worker.
    redis_client.delete(dispatch.DECIDE_QUEUE)
    queue = dispatch.broker_queue(task_type)
    # Celery's Django fixup closes the socket of every open database connection of the thread
    # that starts a worker (meant for a process it forked); this one is handed back first.
    connection.close()
    log_level = logging.getLogger().level  # which the worker's logging set-up changes
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue, dispatch.DECIDE_QUEUE]):
            workflow_id = workflow_start(name=name, input={"name": "Ada"})  # publishes the task's message
            task_id = Task.objects.get(workflow_id=workflow_id).id
            assert finished.wait_for(dispatch.worker_task_name(task_type), task_id)
            request_decide(workflow_id)  # publishes a decide message
            assert finished.wait_for(dispatch.DECIDE_TASK, workflow_id)
    finally:
        logging.getLogger().setLevel(log_level)
        redis_client.delete(queue)
    assert ran == [{"name": "Ada"}]
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.status == "COMPLETED"
    assert Task.objects.get(pk=task_id).output == {"greeting": "hello Ada"}
    assert not DecideRequest.objects.filter(workflow_id=workflow_id).exists()  # the decide task took it


def test_a_rest_poll_takes_the_tasks_message_with_kombu(
    client: Client, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_type = f"dispatch_rest_{uuid.uuid4().hex[:8]}"
    name = register_one_task_workflow(task_type)
    queue = dispatch.broker_queue(task_type)
    taken: list[str] = []
    get = kombu.Queue.get

    def get_and_note(self: kombu.Queue, *args: Any, **kwargs: Any) -> Any:
        message = get(self, *args, **kwargs)
        if message is not None:
            taken.append(self.name)
        return message

    monkeypatch.setattr(kombu.Queue, "get", get_and_note)
    try:
        workflow_id = workflow_start(name=name, input={"name": "Ada"})
        assert redis_client.llen(queue) == 1
        polled = client.get(f"/api/tasks/poll/{task_type}?workerid=rest-1").json()
        assert redis_client.llen(queue) == 0
    finally:
        redis_client.delete(queue)
    assert polled["workflowInstanceId"] == workflow_id and polled["inputData"] == {"name": "Ada"}
    assert taken == [queue]  # the message was taken by the poll, through kombu's Queue.get
