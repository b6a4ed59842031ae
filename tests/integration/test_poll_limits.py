"""TaskDef concurrency and rate limits, at hand-out time, for REST polls and for
Celery workers' claims alike; and the races: N+k pollers at once hand out exactly N.

On SQLite the racing transactions serialize (BEGIN IMMEDIATE); on PostgreSQL they really
overlap, and a per-TaskDef advisory lock orders the count-then-claim of each."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from orchestration import dispatch
from orchestration.engine.context import LIMITS_KEY
from orchestration.models import History, Task
from orchestration.services import limits
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.polling import task_poll
from orchestration.services.sweeper import sweep
from orchestration.services.tasks import task_claim, task_update
from orchestration.services.workflows import workflow_start
from orchestration.testing import Clock, count_queries

from .seams import LinedUpCounts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broker_waits(redis_client: Any) -> None:
    """Every test here uses fresh task types; nothing to clean but the habit of checking the
    broker is reachable (the polls below take their messages from it)."""
    redis_client.ping()


def limited_workflow(**limits_: Any) -> tuple[str, str]:
    """A workflow of one SIMPLE task whose TaskDef has ``limits_``: (workflow name, task type)."""
    task_type = f"lim_{uuid.uuid4().hex[:10]}"
    name = f"lim_wf_{uuid.uuid4().hex[:10]}"
    task_defs_register(defs=[{"name": task_type, "retryCount": 0, "responseTimeoutSeconds": 600,
                              "ownerEmail": "l@baton.local", **limits_}])
    workflow_def_register(data={"name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "l@baton.local",
                                "tasks": [{"name": task_type, "taskReferenceName": "a", "type": "SIMPLE"}]})
    return name, task_type


def start_many(name: str, n: int) -> list[str]:
    return [workflow_start(name=name, input={}) for _ in range(n)]


def task_of(workflow_id: str) -> Task:
    return Task.objects.get(workflow_id=workflow_id, ref="a")


def complete(task_id: str) -> None:
    task_update(task_id=task_id, workflow_id=None, status="COMPLETED", output={})


def in_progress(task_type: str) -> int:
    return Task.objects.filter(task_type=task_type, status="IN_PROGRESS").count()


def run_at_once(calls: list[Callable[[], Any]], timeout: float = 120) -> list[Any]:
    """Each call in its own thread, released together by a barrier; every thread closes its
    database connection. Each call's result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def runner(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[i] = call()
        except BaseException as error:  # reported to the test, never lost in a thread
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"racing calls raised: {errors!r}"
    return results


# --- the limits travel on the task ----------------------------------------------------------------


def test_limits_are_copied_onto_tasks_only_when_set() -> None:
    name, _ = limited_workflow(concurrentExecLimit=2, rateLimitPerFrequency=5, rateLimitFrequencyInSeconds=10)
    [workflow_id] = start_many(name, 1)
    assert task_of(workflow_id).extra[LIMITS_KEY] == {
        "concurrentExecLimit": 2, "rateLimitPerFrequency": 5, "rateLimitFrequencyInSeconds": 10,
    }
    plain, _ = limited_workflow()
    assert task_of(start_many(plain, 1)[0]).extra == {}


def test_an_unlimited_claim_costs_no_extra_statement() -> None:
    name, _ = limited_workflow()
    task_id = task_of(start_many(name, 1)[0]).pk
    with count_queries() as counted:
        assert task_claim(task_id=task_id, worker_id="w") is not None
    # PostgreSQL claims in one data-modifying WITH; SQLite, which has no DML inside WITH, in
    # UPDATE + INSERT. One commit either way.
    expected = ["WITH"] if connection.vendor == "postgresql" else ["UPDATE", "INSERT"]
    assert counted.verbs == expected
    assert counted.commits == 1


# --- concurrentExecLimit ---------------------------------------------------------------------------


def test_concurrency_limit_on_rest_polls() -> None:
    name, task_type = limited_workflow(concurrentExecLimit=2)
    start_many(name, 4)
    scheduled = dict(Task.objects.filter(task_type=task_type).values_list("id", "dispatch_at"))
    first = task_poll(task_type=task_type, worker_id="w", domain=None, count=4, timeout_ms=0)
    assert len(first) == 2 and in_progress(task_type) == 2
    assert task_poll(task_type=task_type, worker_id="w", domain=None, count=4, timeout_ms=0) == []
    waiting = Task.objects.filter(task_type=task_type, status="SCHEDULED")
    assert waiting.count() == 2
    # Pollers look in the database: no re-publishing is brought forward for them.
    assert all(dispatch_at == scheduled[task_id] for task_id, dispatch_at in waiting.values_list("id", "dispatch_at"))
    complete(first[0]["id"])
    again = task_poll(task_type=task_type, worker_id="w", domain=None, count=4, timeout_ms=0)
    assert len(again) == 1 and in_progress(task_type) == 2
    # Oldest first: the one left waiting is the last scheduled.
    assert waiting.get().scheduled_time >= max(t["scheduled_time"] for t in first + again)


def test_concurrency_limit_on_celery_claims_postpones_and_sweeper_redelivers(clock: Clock, redis_client: Any) -> None:
    name, task_type = limited_workflow(concurrentExecLimit=1)
    ids = [task_of(w).pk for w in start_many(name, 2)]
    assert task_claim(task_id=ids[0], worker_id="c1") is not None
    assert task_claim(task_id=ids[1], worker_id="c2") is None  # over the limit: not claimed
    refused = Task.objects.get(pk=ids[1])
    assert refused.status == "SCHEDULED" and refused.poll_count == 0 and refused.worker_id is None
    assert not History.objects.filter(task_id=ids[1], to_status="IN_PROGRESS").exists()  # rolled back
    # Offered again soon: the sweeper re-publishes it once dispatch_at has passed.
    postpone_ms = limits.DEFAULT_CONCURRENCY_POSTPONE_SECONDS * 1000
    assert clock() < refused.dispatch_at <= clock() + postpone_ms

    complete(ids[0])
    queue = dispatch.broker_queue(task_type)
    redis_client.delete(queue)  # the messages the Celery worker consumed
    clock.advance(limits.DEFAULT_CONCURRENCY_POSTPONE_SECONDS + 1)
    assert sweep(now=clock()).published >= 1
    assert redis_client.llen(queue) == 1
    assert task_claim(task_id=ids[1], worker_id="c2") is not None


# --- rateLimitPerFrequency ------------------------------------------------------------------------


def test_rate_limit_on_rest_polls(clock: Clock) -> None:
    name, task_type = limited_workflow(rateLimitPerFrequency=2, rateLimitFrequencyInSeconds=60)
    start_many(name, 3)
    first = task_poll(task_type=task_type, worker_id="w", domain=None, count=5, timeout_ms=0)
    assert len(first) == 2
    for task in first:  # completing them frees no rate: the window counts hand-outs
        complete(task["id"])
    assert task_poll(task_type=task_type, worker_id="w", domain=None, count=5, timeout_ms=0) == []
    clock.advance(30)
    assert task_poll(task_type=task_type, worker_id="w", domain=None, count=5, timeout_ms=0) == []
    clock.advance(31)
    assert len(task_poll(task_type=task_type, worker_id="w", domain=None, count=5, timeout_ms=0)) == 1


def test_rate_limit_on_celery_claims(clock: Clock) -> None:
    name, _ = limited_workflow(rateLimitPerFrequency=1, rateLimitFrequencyInSeconds=10)
    ids = [task_of(w).pk for w in start_many(name, 2)]
    first = task_claim(task_id=ids[0], worker_id="c")
    assert first is not None
    assert task_claim(task_id=ids[1], worker_id="c") is None
    # Re-published exactly when the window has room again.
    assert Task.objects.get(pk=ids[1]).dispatch_at == first["start_time"] + 10_000 + 1
    clock.advance(11)
    assert task_claim(task_id=ids[1], worker_id="c") is not None


def test_both_limits_each_frozen_per_task() -> None:
    name, task_type = limited_workflow(concurrentExecLimit=1, rateLimitPerFrequency=10, rateLimitFrequencyInSeconds=60)
    start_many(name, 2)
    # Raising the limit in the TaskDef changes nothing for tasks already scheduled.
    task_defs_register(defs=[{"name": task_type, "concurrentExecLimit": 5, "responseTimeoutSeconds": 600,
                              "ownerEmail": "l@baton.local"}])
    assert len(task_poll(task_type=task_type, worker_id="w", domain=None, count=5, timeout_ms=0)) == 1


# --- races: N+k at once hand out exactly N -----------------------------------------------------------

LIMIT = 3
EXTRA = 5


@pytest.fixture
def lined_up(monkeypatch: pytest.MonkeyPatch) -> LinedUpCounts:
    return LinedUpCounts(monkeypatch)


def test_race_rate_limit_concurrent_polls(lined_up: LinedUpCounts) -> None:
    name, task_type = limited_workflow(rateLimitPerFrequency=LIMIT, rateLimitFrequencyInSeconds=60)
    start_many(name, LIMIT + EXTRA)
    calls = [
        (lambda i=i: task_poll(task_type=task_type, worker_id=f"w{i}", domain=None, count=1, timeout_ms=0))
        for i in range(LIMIT + EXTRA)
    ]
    handed = [task for polled in run_at_once(lined_up.racers(calls)) for task in polled]
    assert len(handed) == LIMIT, handed
    assert len({t["id"] for t in handed}) == LIMIT
    assert in_progress(task_type) == LIMIT
    assert Task.objects.filter(task_type=task_type, status="SCHEDULED").count() == EXTRA


def test_race_concurrency_limit_concurrent_polls(lined_up: LinedUpCounts) -> None:
    name, task_type = limited_workflow(concurrentExecLimit=LIMIT)
    start_many(name, LIMIT + EXTRA)
    calls = [
        (lambda i=i: task_poll(task_type=task_type, worker_id=f"w{i}", domain=None, count=2, timeout_ms=0))
        for i in range(LIMIT + EXTRA)
    ]
    handed = [task for polled in run_at_once(lined_up.racers(calls)) for task in polled]
    assert len(handed) == LIMIT
    assert in_progress(task_type) == LIMIT


def test_race_concurrency_limit_rest_polls_and_celery_claims(lined_up: LinedUpCounts) -> None:
    name, task_type = limited_workflow(concurrentExecLimit=LIMIT)
    ids = [task_of(w).pk for w in start_many(name, 2 * (LIMIT + EXTRA))]
    polls = [
        (lambda i=i: task_poll(task_type=task_type, worker_id=f"rest{i}", domain=None, count=1, timeout_ms=0))
        for i in range(LIMIT + EXTRA)
    ]
    claims = [(lambda t=t: task_claim(task_id=t, worker_id="celery")) for t in ids[-(LIMIT + EXTRA):]]
    results = run_at_once(lined_up.racers(polls + claims))
    handed = [t for r in results[: len(polls)] for t in r] + [r for r in results[len(polls):] if r is not None]
    assert len(handed) == LIMIT, handed
    assert in_progress(task_type) == LIMIT
