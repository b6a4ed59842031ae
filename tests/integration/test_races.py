"""Races on the real database and broker: duplicate results, many results at once, duplicate
broker messages, late results, and a result landing while the decider times the task out.

Each test lines its threads up with a ``threading.Barrier`` so that the racing calls really
overlap; every thread closes its own database connection. On SQLite writers serialize (BEGIN
IMMEDIATE), so the same outcomes must hold there too; a test that is only meaningful with row
locks is marked ``postgres_only`` and skipped on SQLite.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Count

from orchestration import dispatch
from orchestration import tasks as celery_tasks
from orchestration.models import DecideRequest, History, Task, Workflow
from orchestration.services import store
from orchestration.services import workflows as workflow_services
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.tasks import UpdateResult, task_claim, task_update
from orchestration.services.workflows import workflow_decide, workflow_start
from orchestration.testing import Clock
from workers.runtime import execute

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED")


def postgres_only(test: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a test that needs PostgreSQL row locks; on SQLite (writers serialized) it is skipped."""
    return pytest.mark.postgres_only(test)


@pytest.fixture(autouse=True)
def _skip_postgres_only_on_sqlite(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres_only") and connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL row locks: on {connection.vendor} writers are serialized (BEGIN IMMEDIATE), "
            "so a second writer cannot interleave inside the decider's transaction"
        )


# --- helpers ----------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    # Task types name broker queues, which a concurrent test session may share.
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def simple(name: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref, "type": "SIMPLE", "inputParameters": {}, **extra}


def task_def(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "retryCount": 0, "responseTimeoutSeconds": 600, "ownerEmail": "race@baton.local", **extra}


def register_workflow(tasks: list[dict[str, Any]], task_defs: list[dict[str, Any]], **extra: Any) -> str:
    name = unique("race_wf")
    task_defs_register(defs=task_defs)
    workflow_def_register(
        data={"name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "race@baton.local", "tasks": tasks, **extra},
        overwrite=True,
    )
    return name


def the_task(workflow_id: str, ref: str, retry_count: int = 0) -> Task:
    return Task.objects.get(workflow_id=workflow_id, ref=ref, retry_count=retry_count)


def run_at_once(calls: list[Callable[[], Any]], timeout: float = 120) -> list[Any]:
    """Run each call in its own thread, released together by a barrier; each thread closes its
    database connection. Returns each call's result, or the exception it raised."""
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
    return results


def no_errors(results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"racing calls raised: {errors!r}"


def run_pending_decides() -> int:
    """What a Celery worker on ``baton.decide`` would do with the queued decide requests."""
    served = 0
    for _ in range(10):
        pending = list(DecideRequest.objects.values_list("workflow_id", flat=True))
        if not pending:
            return served
        for workflow_id in pending:
            celery_tasks.decide(workflow_id)
            served += 1
    raise AssertionError("decide requests keep coming back")


@pytest.fixture
def decide_counters(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Count decide requests (busy workflow lock) and the ``baton.decide`` messages they publish;
    both still do their real work."""
    counts: Counter[str] = Counter()
    real_request = workflow_services.request_decide
    real_publish = dispatch.publish_decide

    def request_decide(workflow_id: str) -> None:
        counts["requests"] += 1
        real_request(workflow_id)

    def publish_decide(workflow_id: str) -> None:
        counts["published"] += 1
        real_publish(workflow_id)

    monkeypatch.setattr(workflow_services, "request_decide", request_decide)
    monkeypatch.setattr(dispatch, "publish_decide", publish_decide)
    yield counts


# --- (a) the same result twice at once --------------------------------------------------------------


def test_race_duplicate_result_sent_twice_at_once(decide_counters: Counter[str]) -> None:
    task_type = unique("race_dup")
    name = register_workflow([simple(task_type, "first"), simple(task_type, "second")], [task_def(task_type)])
    workflow_id = workflow_start(name=name, input={})
    first = the_task(workflow_id, "first")
    assert task_claim(task_id=first.id, worker_id="w0") is not None

    def report(worker: str) -> Callable[[], UpdateResult]:
        return lambda: task_update(
            task_id=first.id, workflow_id=workflow_id, status="COMPLETED", output={"by": worker}, worker_id=worker
        )

    results = run_at_once([report("w1"), report("w2")])
    no_errors(results)
    run_pending_decides()

    assert sorted(r.applied for r in results) == [False, True]
    winner = next(r for r, w in zip(results, ("w1", "w2"), strict=True) if r.applied)
    loser = next(r for r in results if not r.applied)
    assert winner.terminal and not loser.terminal
    assert loser.workflow_id == workflow_id
    first.refresh_from_db()
    assert first.status == "COMPLETED"
    # The winner's output is the one kept; the duplicate changed nothing.
    assert first.output == {"by": first.worker_id}
    assert History.objects.filter(task_id=first.id, to_status="COMPLETED").count() == 1
    assert History.objects.filter(task_id=first.id).exclude(to_status__in=("SCHEDULED", "IN_PROGRESS")).count() == 1
    # The workflow advanced exactly once: one successor, scheduled once.
    successors = Task.objects.filter(workflow_id=workflow_id, ref="second")
    assert successors.count() == 1
    assert History.objects.filter(task_id=successors.get().id, to_status="SCHEDULED").count() == 1
    assert Task.objects.filter(workflow_id=workflow_id).count() == 2
    # Deciding again changes nothing.
    assert workflow_decide(workflow_id=workflow_id)
    assert Task.objects.filter(workflow_id=workflow_id).count() == 2
    assert decide_counters["published"] <= 1


# --- (b) many branches of one workflow completed at once ----------------------------------------------

BRANCHES = 40
COMPLETING_THREADS = 8


def test_race_many_fork_branches_completed_at_once(decide_counters: Counter[str]) -> None:
    task_type = unique("race_fork")
    refs = [f"branch_{i}" for i in range(BRANCHES)]
    name = register_workflow(
        [
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [[simple(task_type, r)] for r in refs]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": refs},
            simple(task_type, "final", inputParameters={"joined": "${join.output}"}),
        ],
        [task_def(task_type)],
    )
    workflow_id = workflow_start(name=name, input={})
    branch_ids = list(Task.objects.filter(workflow_id=workflow_id, ref__in=refs).values_list("id", flat=True))
    assert len(branch_ids) == BRANCHES
    for task_id in branch_ids:
        assert task_claim(task_id=task_id, worker_id="fork-worker") is not None

    def complete_share(share: list[str]) -> list[UpdateResult]:
        return [
            task_update(task_id=task_id, workflow_id=workflow_id, status="COMPLETED", output={"id": task_id}, worker_id="w")
            for task_id in share
        ]

    shares = [branch_ids[i::COMPLETING_THREADS] for i in range(COMPLETING_THREADS)]
    results = run_at_once([lambda share=share: complete_share(share) for share in shares])
    no_errors(results)
    updates = [u for per_thread in results for u in per_thread]
    assert len(updates) == BRANCHES and all(u.applied and u.terminal for u in updates)

    # Requests made while the workflow row was locked coalesce into one pending row (one message).
    pending_after_race = DecideRequest.objects.filter(workflow_id=workflow_id).count()
    assert pending_after_race <= 1
    published_during_race = decide_counters["published"]
    served = run_pending_decides()
    print(
        f"\n[{connection.vendor}] {BRANCHES} branches completed by {COMPLETING_THREADS} threads: "
        f"{decide_counters['requests']} busy-lock decide requests, {published_during_race} baton.decide "
        f"message(s) published, {served} queued decide(s) served"
    )
    assert published_during_race == pending_after_race <= 1
    if connection.vendor == "postgresql":
        assert decide_counters["published"] <= 2, "decide requests were not coalesced"

    tasks = list(Task.objects.filter(workflow_id=workflow_id))
    by_ref = Counter(t.ref for t in tasks)
    assert all(n == 1 for n in by_ref.values()), f"duplicate tasks: {by_ref}"
    assert set(by_ref) == {"fork", "join", "final", *refs}
    branch_tasks = [t for t in tasks if t.ref in refs]
    assert all(t.status == "COMPLETED" and t.executed for t in branch_tasks)
    completed_history = Counter(
        History.objects.filter(task_id__in=branch_ids, to_status="COMPLETED").values_list("task_id", flat=True)
    )
    assert completed_history == Counter({task_id: 1 for task_id in branch_ids})

    join = next(t for t in tasks if t.ref == "join")
    assert join.status == "COMPLETED"
    assert set(join.output) == set(refs)
    assert History.objects.filter(task_id=join.id, to_status="COMPLETED").count() == 1
    final = next(t for t in tasks if t.ref == "final")
    assert final.status == "SCHEDULED"
    assert set(final.input["joined"]) == set(refs)
    assert History.objects.filter(workflow_id=workflow_id, ref="final").count() == 1
    assert Workflow.objects.get(pk=workflow_id).status == "RUNNING"
    assert not DecideRequest.objects.exists()

    # And the workflow finishes normally.
    assert execute(final.id, lambda _input: {"done": True}, wants_context=False) == "COMPLETED"
    run_pending_decides()
    assert Workflow.objects.get(pk=workflow_id).status == "COMPLETED"
    duplicates = (
        History.objects.filter(workflow_id=workflow_id, task_id__isnull=False)
        .values("task_id", "to_status").annotate(n=Count("id")).filter(n__gt=1)
    )
    assert not list(duplicates)


# --- (c2) one broker message delivered twice ------------------------------------------------------------


def test_race_duplicate_broker_message_runs_function_once() -> None:
    task_type = unique("race_msg")
    name = register_workflow(
        [simple(task_type, "only", inputParameters={"x": "${workflow.input.x}"})], [task_def(task_type)]
    )
    workflow_id = workflow_start(name=name, input={"x": 1})
    task_id = the_task(workflow_id, "only").id
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()
    duplicate_returned = threading.Event()
    waited: list[bool] = []

    def work(task_input: dict[str, Any]) -> dict[str, Any]:
        with lock:
            calls.append(task_input)
            first = len(calls) == 1
        if first:
            # Keep the first claim's work in flight until the other delivery has been handled
            # (a second call here already fails the test, so it does not wait).
            waited.append(duplicate_returned.wait(30))
        return {"ok": True}

    def deliver() -> Any:
        try:
            return execute(task_id, work, wants_context=False)
        finally:
            duplicate_returned.set()  # seen by the work of the other delivery, never by its own

    results = run_at_once([deliver, deliver])
    no_errors(results)
    run_pending_decides()

    assert sorted(results, key=str) == ["COMPLETED", None]
    assert calls == [{"x": 1}]
    assert waited == [True]  # the duplicate was turned away while the work was in flight
    task = Task.objects.get(pk=task_id)
    assert task.status == "COMPLETED" and task.poll_count == 1
    assert History.objects.filter(task_id=task_id, to_status="IN_PROGRESS").count() == 1
    assert History.objects.filter(task_id=task_id, to_status="COMPLETED").count() == 1
    assert Workflow.objects.get(pk=workflow_id).status == "COMPLETED"


# --- (d2) a late result for an attempt that timed out ---------------------------------------------------


def test_race_late_result_for_timed_out_attempt_is_ignored(clock: Clock) -> None:
    task_type = unique("race_late")
    name = register_workflow(
        [simple(task_type, "slow")],
        [task_def(task_type, retryCount=1, retryDelaySeconds=0, responseTimeoutSeconds=2)],
    )
    workflow_id = workflow_start(name=name, input={})
    old = the_task(workflow_id, "slow")
    assert task_claim(task_id=old.id, worker_id="old-worker") is not None

    clock.advance(3)  # past the 2 s response timeout
    assert workflow_decide(workflow_id=workflow_id, actor="decider")
    old.refresh_from_db()
    assert old.status == "TIMED_OUT"
    retry = the_task(workflow_id, "slow", retry_count=1)
    assert retry.status == "SCHEDULED" and retry.retried_task_id == old.id
    retry_before = Task.objects.filter(pk=retry.id).values().get()
    history_before = History.objects.count()

    late = task_update(
        task_id=old.id, workflow_id=workflow_id, status="COMPLETED", output={"late": True}, worker_id="old-worker"
    )
    assert late == UpdateResult(old.id, workflow_id, applied=False, terminal=False)
    old.refresh_from_db()
    assert old.status == "TIMED_OUT" and old.output == {}
    assert Task.objects.filter(pk=retry.id).values().get() == retry_before
    assert History.objects.count() == history_before
    assert Task.objects.filter(workflow_id=workflow_id).count() == 2

    # The retry attempt still runs and finishes the workflow.
    assert execute(retry.id, lambda _input: {"fresh": True}, wants_context=False) == "COMPLETED"
    run_pending_decides()
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.status == "COMPLETED" and workflow.output == {"fresh": True}


# --- a result committed while the decider is timing the same attempt out ----------------------------------


@postgres_only
def test_race_result_committed_while_decider_times_out_the_task(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decider loads an IN_PROGRESS task past its response timeout; before it writes
    TIMED_OUT, the worker's COMPLETED commits (the decider holds the workflow row lock, not the
    task's). The attempt must still reach a terminal status exactly once."""
    task_type = unique("race_timeout")
    name = register_workflow(
        [simple(task_type, "slow"), simple(task_type, "after")],
        [task_def(task_type, retryCount=1, retryDelaySeconds=0, responseTimeoutSeconds=2)],
    )
    workflow_id = workflow_start(name=name, input={})
    task = the_task(workflow_id, "slow")
    assert task_claim(task_id=task.id, worker_id="slow-worker") is not None
    clock.advance(3)

    worker_results: list[Any] = []
    real_save = store.save_workflow

    def save_after_worker_result(wf: Any, *, new_tasks: list[Any], changed_tasks: list[Any], **kwargs: Any) -> None:
        timing_out = any(t.task_id == task.id and t.status == "TIMED_OUT" for t in changed_tasks)
        if timing_out and not worker_results:
            worker_results.extend(
                run_at_once(
                    [lambda: task_update(task_id=task.id, workflow_id=workflow_id, status="COMPLETED",
                                         output={"worker": "won"}, worker_id="slow-worker")],
                    timeout=30,
                )
            )
        real_save(wf, new_tasks=new_tasks, changed_tasks=changed_tasks, **kwargs)

    monkeypatch.setattr(store, "save_workflow", save_after_worker_result)
    workflow_decide(workflow_id=workflow_id, actor="sweeper")
    run_pending_decides()

    assert len(worker_results) == 1
    no_errors(worker_results)
    terminal_history = list(
        History.objects.filter(task_id=task.id, to_status__in=TERMINAL).values_list("to_status", "actor")
    )
    assert len(terminal_history) == 1, f"one attempt reached a terminal status twice: {terminal_history}"
    task.refresh_from_db()
    if worker_results[0].applied:
        # The worker's result committed first: it stands, and no retry is made.
        assert task.status == "COMPLETED" and task.output == {"worker": "won"}
        assert not Task.objects.filter(workflow_id=workflow_id, ref="slow", retry_count=1).exists()
        assert Task.objects.filter(workflow_id=workflow_id, ref="after").count() == 1
    else:
        assert task.status == "TIMED_OUT"
        assert Task.objects.filter(workflow_id=workflow_id, ref="slow", retry_count=1).count() == 1


# --- a result arriving while another process decides the workflow ---------------------------------


@postgres_only
def test_race_result_while_another_process_holds_the_workflow_lock(decide_counters: Counter[str]) -> None:
    """On PostgreSQL a worker's result and its decide share one transaction that takes the
    workflow's lock with NOWAIT. When another process holds that lock, the result must still be
    written at once (alone), and a decide request queued, never waited for or lost."""
    task_type = unique("race_lock")
    name = register_workflow([simple(task_type, "first"), simple(task_type, "second")], [task_def(task_type)])
    workflow_id = workflow_start(name=name, input={})
    first = the_task(workflow_id, "first")
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with transaction.atomic():
            Workflow.objects.select_for_update().filter(pk=workflow_id).get()
            locked.set()
            release.wait(60)

    holder = threading.Thread(target=lambda: (hold_the_lock(), connection.close()), daemon=True)
    holder.start()
    try:
        assert locked.wait(30)
        assert execute(first.id, lambda _input: {"done": True}, wants_context=False) == "COMPLETED"
        first.refresh_from_db()
        assert first.status == "COMPLETED" and first.output == {"done": True}
        assert DecideRequest.objects.filter(workflow_id=workflow_id).exists()
        assert not Task.objects.filter(workflow_id=workflow_id, ref="second").exists()
    finally:
        release.set()
        holder.join(30)
    assert decide_counters["requests"] == 1
    run_pending_decides()
    assert Task.objects.filter(workflow_id=workflow_id, ref="second", status="SCHEDULED").count() == 1
    assert History.objects.filter(task_id=first.id, to_status="COMPLETED").count() == 1
