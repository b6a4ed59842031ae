"""The sweeper is the safety net: lost messages, due retries, timeouts, orphaned results and
lost decide requests cost time, never work.

Time is injected two ways: ``sweep(now=...)`` picks what is due at that instant, and the
``clock`` fixture moves the services' clock (the decider reads it) for timeouts. Broker effects
are checked on the real broker queues (``baton.task.<type>``, one unique type per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from orchestration import clock, dispatch
from orchestration import tasks as celery_tasks
from orchestration.models import DecideRequest, History, Task, Workflow
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.sweeper import STALE_DECIDE_REQUEST_MS, UNPROCESSED_GRACE_MS, SweepReport, sweep
from orchestration.services.tasks import task_claim, task_update
from orchestration.services.workflows import workflow_start
from orchestration.testing import Clock, finish_without_decide
from workers.runtime import execute

pytestmark = pytest.mark.django_db(transaction=True)

GRACE_MS = int(settings.BATON["REDISPATCH_AFTER_SECONDS"]) * 1000


# --- helpers ------------------------------------------------------------------------------------


class Broker:
    """The real broker's queues as the test sees them; removes what the test left behind."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.task_types: list[str] = []
        self.decide_ids: list[str] = []

    def task_type(self, prefix: str) -> str:
        task_type = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.task_types.append(task_type)
        return task_type

    def queue(self, task_type: str) -> list[bytes]:
        return list(self.client.lrange(dispatch.broker_queue(task_type), 0, -1))

    def length(self, task_type: str) -> int:
        return int(self.client.llen(dispatch.broker_queue(task_type)))

    def lose_messages(self, task_type: str) -> None:
        """What a Redis restart without persistence does to a queue."""
        self.client.delete(dispatch.broker_queue(task_type))

    def decide_messages(self, workflow_id: str) -> int:
        self.decide_ids.append(workflow_id)
        return sum(workflow_id.encode() in raw for raw in self.client.lrange(dispatch.DECIDE_QUEUE, 0, -1))

    def cleanup(self) -> None:
        for task_type in self.task_types:
            self.lose_messages(task_type)
        for raw in self.client.lrange(dispatch.DECIDE_QUEUE, 0, -1):
            if any(workflow_id.encode() in raw for workflow_id in self.decide_ids):
                self.client.lrem(dispatch.DECIDE_QUEUE, 0, raw)


@pytest.fixture
def broker(redis_client: redis.Redis) -> Iterator[Broker]:
    view = Broker(redis_client)
    try:
        yield view
    finally:
        view.cleanup()


def register(task_type: str, tasks: int = 2, task_def: dict[str, Any] | None = None, **workflow: Any) -> str:
    name = f"sweep_wf_{uuid.uuid4().hex[:8]}"
    task_defs_register(defs=[{"name": task_type, "retryCount": 0, "responseTimeoutSeconds": 600,
                              "ownerEmail": "sweep@baton.local", **(task_def or {})}])
    workflow_def_register(data={
        "name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "sweep@baton.local",
        "tasks": [{"name": task_type, "taskReferenceName": f"step{i}", "type": "SIMPLE"} for i in range(1, tasks + 1)],
        **workflow,
    })
    return name


def the_task(workflow_id: str, ref: str, retry_count: int = 0) -> Task:
    return Task.objects.get(workflow_id=workflow_id, ref=ref, retry_count=retry_count)


def state_of_everything() -> tuple[Any, ...]:
    return (
        list(Task.objects.order_by("id").values()),
        list(Workflow.objects.order_by("id").values()),
        History.objects.count(),
        list(DecideRequest.objects.order_by("workflow_id").values()),
    )


# --- (i) a lost message ------------------------------------------------------------------------------


def test_lost_message_of_scheduled_task_is_republished(broker: Broker) -> None:
    task_type = broker.task_type("sweep_lost")
    workflow_id = workflow_start(name=register(task_type), input={})
    task = the_task(workflow_id, "step1")
    assert broker.length(task_type) == 1  # published on commit
    assert task.dispatch_at is not None and task.dispatch_at - task.scheduled_time == GRACE_MS
    broker.lose_messages(task_type)

    # Within the grace period the sweeper assumes the message is on its way.
    assert sweep(now=task.dispatch_at - 1).published == 0
    assert broker.length(task_type) == 0

    due = task.dispatch_at
    report = sweep(now=due)
    assert report.published == 1
    messages = broker.queue(task_type)
    assert len(messages) == 1 and task.id.encode() in messages[0]
    task.refresh_from_db()
    assert task.status == "SCHEDULED" and task.dispatch_at == due + GRACE_MS

    # The re-published message is as good as the first: a worker claims and completes it.
    assert execute(task.id, lambda _input: {"ok": True}, wants_context=False) == "COMPLETED"
    assert the_task(workflow_id, "step2").status == "SCHEDULED"


# --- (ii) a delayed retry -----------------------------------------------------------------------------


def test_retry_with_delay_is_published_only_when_due(broker: Broker) -> None:
    task_type = broker.task_type("sweep_retry")
    workflow_id = workflow_start(
        name=register(task_type, task_def={"retryCount": 1, "retryDelaySeconds": 5}), input={}
    )
    first = the_task(workflow_id, "step1")
    broker.lose_messages(task_type)  # not under test here
    assert task_claim(task_id=first.id, worker_id="w") is not None
    assert task_update(task_id=first.id, workflow_id=workflow_id, status="FAILED", reason="boom", worker_id="w").applied

    retry = the_task(workflow_id, "step1", retry_count=1)
    assert retry.status == "SCHEDULED" and retry.retried_task_id == first.id
    assert retry.dispatch_at is not None and retry.dispatch_at - retry.scheduled_time == 5000
    assert broker.length(task_type) == 0, "a delayed retry must not be published before it is due"

    assert sweep(now=retry.scheduled_time + 1000).published == 0
    assert sweep(now=retry.dispatch_at - 1).published == 0
    assert broker.length(task_type) == 0

    assert sweep(now=retry.dispatch_at).published == 1
    messages = broker.queue(task_type)
    assert len(messages) == 1 and retry.id.encode() in messages[0]
    retry.refresh_from_db()
    assert retry.dispatch_at is not None and retry.dispatch_at > retry.scheduled_time + 5000


# --- (iii) a response timeout -----------------------------------------------------------------------


def test_in_progress_task_past_response_timeout_is_timed_out_and_retried(broker: Broker, clock: Clock) -> None:
    task_type = broker.task_type("sweep_resp")
    workflow_id = workflow_start(
        name=register(task_type, task_def={"retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 2}),
        input={},
    )
    task = the_task(workflow_id, "step1")
    broker.lose_messages(task_type)
    assert task_claim(task_id=task.id, worker_id="silent") is not None
    task.refresh_from_db()
    assert task.timeout_at == task.update_time + 2000

    assert sweep().decided == 0  # not yet due
    task.refresh_from_db()
    assert task.status == "IN_PROGRESS"

    clock.advance(3)
    report = sweep()
    assert report.decided == 1
    task.refresh_from_db()
    assert task.status == "TIMED_OUT" and task.timeout_at is None
    assert task.reason_for_incompletion == (
        f"responseTimeout: 2 exceeded for the taskId: {task.id} with Task Definition: {task_type}"
    )
    assert History.objects.filter(task_id=task.id, from_status="IN_PROGRESS", to_status="TIMED_OUT", actor="sweeper").count() == 1
    retry = the_task(workflow_id, "step1", retry_count=1)
    assert retry.status == "SCHEDULED" and retry.retried_task_id == task.id
    # No retry delay: the new attempt is published with the decision.
    messages = broker.queue(task_type)
    assert len(messages) == 1 and retry.id.encode() in messages[0]
    assert Workflow.objects.get(pk=workflow_id).status == "RUNNING"


# --- (iv) a result that was never decided -----------------------------------------------------------


def test_terminal_task_never_decided_is_decided_by_sweep(broker: Broker, clock: Clock) -> None:
    task_type = broker.task_type("sweep_orphan")
    workflow_id = workflow_start(name=register(task_type), input={})
    task = the_task(workflow_id, "step1")
    assert task_claim(task_id=task.id, worker_id="w") is not None
    # The process dies between the update's commit and its decide.
    finish_without_decide(task.id, output={"v": 1})
    assert not Task.objects.filter(workflow_id=workflow_id, ref="step2").exists()

    # Fresh results are left to their own decide for a grace period.
    assert sweep().decided == 0
    assert not Task.objects.filter(workflow_id=workflow_id, ref="step2").exists()

    clock.advance(UNPROCESSED_GRACE_MS / 1000 + 5)
    report = sweep()
    assert report.decided == 1
    task.refresh_from_db()
    assert task.executed
    successor = the_task(workflow_id, "step2")
    assert successor.status == "SCHEDULED"
    assert History.objects.filter(task_id=successor.id, to_status="SCHEDULED", actor="sweeper").count() == 1
    assert sweep().decided == 0


# --- (v) a lost decide request ---------------------------------------------------------------------------


def test_stale_decide_request_is_republished_and_refreshed(broker: Broker) -> None:
    task_type = broker.task_type("sweep_decide")
    name = register(task_type)
    stale_id = workflow_start(name=name, input={})
    fresh_id = workflow_start(name=name, input={})
    now = clock.now_ms()
    DecideRequest.objects.create(workflow_id=stale_id, requested_at=now - STALE_DECIDE_REQUEST_MS - 1000)
    DecideRequest.objects.create(workflow_id=fresh_id, requested_at=now - 1000)
    assert broker.decide_messages(stale_id) == 0

    report = sweep(now=now)
    assert report.requeued_decides == 1
    assert broker.decide_messages(stale_id) == 1
    assert broker.decide_messages(fresh_id) == 0
    assert DecideRequest.objects.get(pk=stale_id).requested_at == now
    assert DecideRequest.objects.get(pk=fresh_id).requested_at == now - 1000

    # Refreshed: not re-published again until it is stale again (by then the other one is).
    assert sweep(now=now + STALE_DECIDE_REQUEST_MS - 1).requeued_decides == 1
    assert broker.decide_messages(stale_id) == 1
    assert broker.decide_messages(fresh_id) == 1

    # The Celery task serving the message clears the request.
    celery_tasks.decide(stale_id)
    assert not DecideRequest.objects.filter(pk=stale_id).exists()


# --- (vi) a workflow timeout ---------------------------------------------------------------------------


def test_workflow_past_its_timeout_is_timed_out(broker: Broker, clock: Clock) -> None:
    task_type = broker.task_type("sweep_wf_timeout")
    workflow_id = workflow_start(
        name=register(task_type, timeoutSeconds=2, timeoutPolicy="TIME_OUT_WF"), input={}
    )
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.next_check_at == workflow.create_time + 2000
    task = the_task(workflow_id, "step1")
    assert task_claim(task_id=task.id, worker_id="w") is not None

    assert sweep().decided == 0
    clock.advance(3)
    assert sweep().decided == 1
    workflow.refresh_from_db()
    assert workflow.status == "TIMED_OUT"
    assert workflow.next_check_at is None
    assert workflow.reason_for_incompletion is not None
    assert workflow.reason_for_incompletion.startswith("Workflow timed out after 3 seconds. Timeout configured as 2 seconds")
    task.refresh_from_db()
    assert task.status == "CANCELED"
    assert History.objects.filter(workflow_id=workflow_id, task_id__isnull=True, from_status="RUNNING",
                                  to_status="TIMED_OUT", actor="sweeper").count() == 1
    # The worker's late result changes nothing.
    assert not task_update(task_id=task.id, workflow_id=workflow_id, status="COMPLETED", worker_id="w").applied
    assert sweep().decided == 0


# --- (vii) idempotence ------------------------------------------------------------------------------


def test_sweeping_twice_does_nothing_more_the_second_time(broker: Broker, clock: Clock) -> None:
    # One task type per definition: registering a type again replaces its TaskDef.
    types = [broker.task_type("sweep_twice") for _ in range(3)]
    plain = register(types[0])
    slow = register(types[1], task_def={"retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 2})
    short = register(types[2], timeoutSeconds=2, timeoutPolicy="TIME_OUT_WF")
    lost = workflow_start(name=plain, input={})  # message lost
    timing_out = workflow_start(name=slow, input={})  # response timeout
    orphan = workflow_start(name=plain, input={})  # result never decided
    expiring = workflow_start(name=short, input={})  # workflow timeout
    waiting = workflow_start(name=plain, input={})  # decide request lost
    for task_type in types:
        broker.lose_messages(task_type)
    assert task_claim(task_id=the_task(timing_out, "step1").id, worker_id="w") is not None
    orphan_task = the_task(orphan, "step1")
    assert task_claim(task_id=orphan_task.id, worker_id="w") is not None
    finish_without_decide(orphan_task.id)
    DecideRequest.objects.create(workflow_id=waiting, requested_at=clock() - STALE_DECIDE_REQUEST_MS - 1)

    clock.advance(GRACE_MS / 1000 + 1)  # past every deadline above
    now = clock()
    first = sweep(now=now)
    assert first.published >= 1 and first.decided == 3 and first.requeued_decides == 1
    assert the_task(lost, "step1").dispatch_at == now + GRACE_MS
    assert the_task(timing_out, "step1").status == "TIMED_OUT"
    assert the_task(orphan, "step2").status == "SCHEDULED"
    assert Workflow.objects.get(pk=expiring).status == "TIMED_OUT"
    before = state_of_everything()
    published = [broker.length(task_type) for task_type in types]
    decide_messages = broker.decide_messages(waiting)

    second = sweep(now=now)
    assert second == SweepReport(published=0, decided=0, requeued_decides=0)
    assert state_of_everything() == before
    assert [broker.length(task_type) for task_type in types] == published
    assert broker.decide_messages(waiting) == decide_messages
