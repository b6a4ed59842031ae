"""Acceptance: workflows run by real ``celery worker`` and ``celery beat`` processes.

Each test starts its processes on the test database and the session's broker (see conftest),
and covers one of Baton's promises end to end:
- the example workflows complete (or fail) exactly as their definitions say;
- a worker process killed mid-task costs a response timeout and a retry, not the workflow;
- deleting every message in the broker delays workflows, it never loses one.
"""

from __future__ import annotations

import io
import os
import signal
import time
from typing import Any

import pytest
import redis
from django.core.management import call_command

from orchestration.dispatch import broker_queue
from orchestration.models import History, Task, Workflow
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import workflow_start

from .cluster import BASE_DIR, BatonCluster

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

OWNER = "acceptance@baton.local"
TERMINAL = ("COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED")


def load_examples() -> None:
    call_command(
        "load_definitions", str(BASE_DIR / "workers" / "examples" / "definitions"), stdout=io.StringIO()
    )


def finished(workflow_id: str) -> Workflow | None:
    wf = Workflow.objects.get(pk=workflow_id)
    return wf if wf.status in TERMINAL else None


def tasks_of(workflow_id: str) -> list[Task]:
    return list(Task.objects.filter(workflow_id=workflow_id).order_by("seq"))


def describe(workflow_id: str) -> str:
    wf = Workflow.objects.get(pk=workflow_id)
    lines = [f"workflow {wf.id} {wf.status} reason={wf.reason_for_incompletion!r}"]
    lines += [
        f"  {t.ref}#{t.retry_count} {t.status} worker={t.worker_id} reason={t.reason_for_incompletion!r}"
        for t in tasks_of(workflow_id)
    ]
    return "\n".join(lines)


def test_example_greeting_completes(baton: BatonCluster) -> None:
    load_examples()
    baton.start_worker()
    baton.start_beat()

    workflow_id = workflow_start(name="example_greeting", input={"name": "Ada"})
    wf = baton.wait_for(
        lambda: finished(workflow_id), timeout=20, what=f"example_greeting {workflow_id} to finish"
    )

    assert wf.status == "COMPLETED", describe(workflow_id)
    assert wf.output == {"greeting": "Hello, Ada!", "shouted": "HELLO, ADA!", "greeted": "Ada"}
    assert wf.variables == {"greeted": "Ada"}
    tasks = tasks_of(workflow_id)
    assert [(t.ref, t.status, t.retry_count) for t in tasks] == [
        ("greet_ref", "COMPLETED", 0),
        ("remember_ref", "COMPLETED", 0),
        ("shout_ref", "COMPLETED", 0),
    ]
    # The SIMPLE tasks ran in a worker process, not in this one.
    for task in (tasks[0], tasks[2]):
        assert task.worker_id and not task.worker_id.endswith(f":{os.getpid()}")


def test_example_order_fails_terminally_without_retry(baton: BatonCluster) -> None:
    load_examples()
    baton.start_worker()
    baton.start_beat()

    workflow_id = workflow_start(name="example_order", input={"quantity": -1, "customer": "Bob"})
    wf = baton.wait_for(
        lambda: finished(workflow_id), timeout=20, what=f"example_order {workflow_id} to finish"
    )

    assert wf.status == "FAILED", describe(workflow_id)
    assert "quantity must be a positive integer, got -1" in (wf.reason_for_incompletion or "")
    assert wf.failed_reference_task_names == ["validate"]
    tasks = tasks_of(workflow_id)
    # One attempt (validate_order has retryCount 1, but a terminal error is never retried), and
    # the task after it was never scheduled.
    assert [(t.ref, t.status, t.retry_count) for t in tasks] == [
        ("validate", "FAILED_WITH_TERMINAL_ERROR", 0)
    ]
    assert tasks[0].reason_for_incompletion == "quantity must be a positive integer, got -1"


def test_worker_killed_mid_task_times_out_and_retries(baton: BatonCluster) -> None:
    task_defs_register(
        defs=[{
            "name": "slow_step", "retryCount": 1, "retryLogic": "FIXED", "retryDelaySeconds": 0,
            "responseTimeoutSeconds": 2, "timeoutSeconds": 120, "ownerEmail": OWNER,
        }]
    )  # fmt: skip
    workflow_def_register(
        data={
            "name": "acceptance_slow", "version": 1, "schemaVersion": 2, "ownerEmail": OWNER,
            "tasks": [{"name": "slow_step", "taskReferenceName": "slow", "type": "SIMPLE",
                       "inputParameters": {"sleep_seconds": "${workflow.input.sleep_seconds}"}}],
            "outputParameters": {"attempt": "${slow.output.attempt}"},
        },
        overwrite=True,
    )  # fmt: skip
    # One pool child: once it is killed, only the fresh worker can run anything.
    doomed = baton.start_worker("doomed", concurrency=1)
    baton.start_beat()

    workflow_id = workflow_start(name="acceptance_slow", input={"sleep_seconds": 60})

    def first_attempt_running() -> Task | None:
        return Task.objects.filter(
            workflow_id=workflow_id, ref="slow", retry_count=0, status="IN_PROGRESS"
        ).first()

    first = baton.wait_for(first_attempt_running, timeout=20, what="the first attempt to be IN_PROGRESS")
    # worker_id is "<host>:<pid of the pool child running the task>".
    child_pid = int(str(first.worker_id).rsplit(":", 1)[1])
    assert child_pid != doomed.pid and doomed.owns(child_pid), (
        f"{first.worker_id} is not a pool child of {doomed}"
    )

    os.kill(child_pid, signal.SIGKILL)  # the process executing the task dies mid-task...
    doomed.kill_group()  # ...and so does its whole worker
    assert Task.objects.get(pk=first.id).status == "IN_PROGRESS"
    fresh = baton.start_worker("fresh", wait_ready=False)

    wf = baton.wait_for(
        lambda: finished(workflow_id), timeout=30, what=f"acceptance_slow {workflow_id} to finish"
    )
    assert wf.status == "COMPLETED", describe(workflow_id)
    assert wf.output == {"attempt": 1}

    attempts = tasks_of(workflow_id)
    assert [(t.retry_count, t.status) for t in attempts] == [(0, "TIMED_OUT"), (1, "COMPLETED")], describe(
        workflow_id
    )
    timed_out, retry = attempts
    assert timed_out.id == first.id and timed_out.retried
    assert "responseTimeout" in (timed_out.reason_for_incompletion or "")
    # The sweeper noticed the silence: nobody reported anything for the killed attempt.
    history = History.objects.get(task_id=timed_out.id, to_status="TIMED_OUT")
    assert (history.from_status, history.actor) == ("IN_PROGRESS", "sweeper")
    assert retry.retried_task_id == timed_out.id
    assert retry.output.get("attempt") == 1
    assert fresh.owns(int(retry.output["pid"])), f"attempt 1 ran in pid {retry.output['pid']}, not in {fresh}"


def test_flushed_broker_delays_but_loses_no_workflow(baton: BatonCluster, redis_client: redis.Redis) -> None:
    count = 50
    task_defs_register(
        defs=[{"name": "nap", "retryCount": 0, "responseTimeoutSeconds": 60, "timeoutSeconds": 120, "ownerEmail": OWNER}]
    )  # fmt: skip
    workflow_def_register(
        data={
            "name": "acceptance_naps", "version": 1, "schemaVersion": 2, "ownerEmail": OWNER,
            "tasks": [
                {"name": "nap", "taskReferenceName": f"nap{i}", "type": "SIMPLE", "inputParameters": {"step": i}}
                for i in (1, 2, 3)
            ],
            "outputParameters": {"steps": ["${nap1.output.step}", "${nap2.output.step}", "${nap3.output.step}"]},
        },
        overwrite=True,
    )  # fmt: skip
    baton.start_worker(concurrency=4)
    baton.start_beat()

    ids = [workflow_start(name="acceptance_naps", input={"n": i}) for i in range(count)]
    baton.wait_for(
        lambda: Task.objects.filter(workflow_id__in=ids, status="COMPLETED").count() >= 5,
        timeout=30,
        what="the first tasks to complete",
    )
    queue = broker_queue("nap")
    with redis_client.pipeline(transaction=True) as pipe:
        pipe.llen(queue)
        pipe.flushdb()
        queued, _ = pipe.execute()
    flushed_at = time.monotonic()
    running = Workflow.objects.filter(pk__in=ids, status="RUNNING").count()
    # The flush must have hit work in flight, or the test proves nothing.
    assert queued > 0, "no task message was waiting in the broker when it was flushed"
    assert running > 0, "every workflow had finished before the flush"

    def all_finished() -> bool:
        return Workflow.objects.filter(pk__in=ids, status="RUNNING").count() == 0

    try:
        baton.wait_for(
            all_finished, timeout=60, what=f"{running} running workflows to finish after the flush"
        )
    except AssertionError as error:
        stuck = Workflow.objects.filter(pk__in=ids, status="RUNNING").values_list("id", flat=True)[:3]
        raise AssertionError("\n".join([str(error), *(describe(w) for w in stuck)])) from None
    recovery = time.monotonic() - flushed_at

    statuses = dict(Workflow.objects.filter(pk__in=ids).values_list("id", "status"))
    assert set(statuses.values()) == {"COMPLETED"}, statuses
    assert {tuple(wf.output["steps"]) for wf in Workflow.objects.filter(pk__in=ids)} == {(1, 2, 3)}
    # Nothing ran twice or timed out: re-published duplicates were dropped by the claim.
    tasks: list[dict[str, Any]] = list(
        Task.objects.filter(workflow_id__in=ids).values("status", "retry_count", "poll_count")
    )
    assert len(tasks) == 3 * count
    assert {(t["status"], t["retry_count"], t["poll_count"]) for t in tasks} == {("COMPLETED", 0, 1)}
    print(f"\n{queued} queued task messages flushed with {running}/{count} workflows running; "
          f"all completed {recovery:.1f}s later")  # fmt: skip
