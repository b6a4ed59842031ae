"""Workflows run end to end on the real database and broker, workers driven in-process.

The example definitions (``workers/examples/definitions``) and workers (``workers.examples``)
run to COMPLETED; the history records every status change and who made it; callbacks,
terminal errors, failures with retries and task logs behave as in Conductor; definitions are
frozen per run; a bad start stores nothing.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from orchestration import dispatch
from orchestration.errors import BadRequest, NotFound
from orchestration.models import DecideRequest, DefinitionSnapshot, History, Task, TaskLog, Workflow
from orchestration.selectors.definitions import task_def
from orchestration.services.definitions import (
    task_def_update,
    task_defs_register,
    workflow_def_register,
)
from orchestration.services.polling import task_poll
from orchestration.services.sweeper import sweep
from orchestration.services.tasks import task_update
from orchestration.services.workflows import workflow_start
from orchestration.testing import Clock
from workers import examples
from workers.runtime import InProgress, current_worker_id, execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_own_messages")]

EXAMPLES = settings.BASE_DIR / "workers" / "examples" / "definitions"
WORKER_ACTOR = f"worker:{current_worker_id()}"
EXAMPLE_WORKERS: dict[str, Callable[..., Any]] = {
    "greet": examples.greet, "shout": examples.shout, "validate_order": examples.validate_order,
}


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def example_definitions() -> None:
    call_command("load_definitions", str(EXAMPLES), verbosity=0)


def wants_context(function: Callable[..., Any]) -> bool:
    params = [p for p in inspect.signature(function).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) >= 2


def run(task_id: str, function: Callable[..., Any]) -> str | None:
    return execute(task_id, function, wants_context=wants_context(function))


def scheduled(workflow_id: str) -> list[Task]:
    return list(Task.objects.filter(workflow_id=workflow_id, status="SCHEDULED").order_by("seq"))


def run_to_end(workflow_id: str, workers: dict[str, Callable[..., Any]] | None = None, max_steps: int = 50) -> Workflow:
    """Execute every SCHEDULED task with the worker for its type until the workflow stops."""
    workers = {**EXAMPLE_WORKERS, **(workers or {})}
    for _ in range(max_steps):
        workflow = Workflow.objects.get(pk=workflow_id)
        pending = scheduled(workflow_id)
        if workflow.status != "RUNNING" or not pending:
            return workflow
        for task in pending:
            run(task.id, workers[task.task_type])
    raise AssertionError("workflow did not stop")


def history_of(workflow_id: str) -> list[tuple[str | None, str | None, str | None, str, str]]:
    return list(
        History.objects.filter(workflow_id=workflow_id).order_by("id").values_list("task_id", "ref", "from_status", "to_status", "actor")
    )


def assert_history_chains(workflow_id: str) -> None:
    """Every task's and the workflow's history is an unbroken chain ending at the current status."""
    rows = history_of(workflow_id)
    entities: dict[str | None, list[tuple[str | None, str]]] = {}
    for task_id, _, from_status, to_status, _ in rows:
        entities.setdefault(task_id, []).append((from_status, to_status))
    current = {t.id: t.status for t in Task.objects.filter(workflow_id=workflow_id)}
    current[None] = Workflow.objects.get(pk=workflow_id).status
    assert set(entities) == set(current), "a task or the workflow has no history"
    for entity, changes in entities.items():
        assert changes[0][0] is None, f"{entity}: history does not start at creation: {changes}"
        for (_, previous_to), (from_status, _) in zip(changes, changes[1:], strict=False):
            assert from_status == previous_to, f"{entity}: broken chain {changes}"
        assert changes[-1][1] == current[entity], f"{entity}: history ends at {changes[-1][1]}, row is {current[entity]}"


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Workflow, Task, History, DefinitionSnapshot, DecideRequest)}


# --- the examples -----------------------------------------------------------------------------------


def test_example_workflows_run_to_completed(example_definitions: None) -> None:
    greeting = workflow_start(name="example_greeting", input={"name": "Ada"})
    workflow = run_to_end(greeting)
    assert workflow.status == "COMPLETED"
    assert workflow.output == {"greeting": "Hello, Ada!", "shouted": "HELLO, ADA!", "greeted": "Ada"}
    assert workflow.variables == {"greeted": "Ada"}
    assert workflow.end_time >= workflow.create_time > 0
    tasks = {t.ref: t for t in Task.objects.filter(workflow_id=greeting)}
    assert {ref: t.status for ref, t in tasks.items()} == {
        "greet_ref": "COMPLETED", "remember_ref": "COMPLETED", "shout_ref": "COMPLETED",
    }
    assert tasks["shout_ref"].input == {"text": "Hello, Ada!"}
    assert all(t.executed for t in tasks.values())

    order = workflow_start(name="example_order", input={"quantity": 3, "customer": "Bob"})
    workflow = run_to_end(order)
    assert workflow.status == "COMPLETED"
    assert workflow.output == {"valid": True, "message": "Hello, Bob!"}
    assert not DecideRequest.objects.exists()


def test_history_records_every_status_change_with_actors(example_definitions: None) -> None:
    workflow_id = workflow_start(name="example_greeting", input={"name": "Ada"})
    run_to_end(workflow_id)
    assert_history_chains(workflow_id)
    ids = {t.ref: t.id for t in Task.objects.filter(workflow_id=workflow_id)}
    changes = {(task_id, from_status, to_status, actor) for task_id, _, from_status, to_status, actor in history_of(workflow_id)}
    assert changes == {
        (None, None, "RUNNING", "api"),
        (ids["greet_ref"], None, "SCHEDULED", "api"),  # scheduled by the start's inline decide
        (ids["greet_ref"], "SCHEDULED", "IN_PROGRESS", WORKER_ACTOR),
        (ids["greet_ref"], "IN_PROGRESS", "COMPLETED", WORKER_ACTOR),
        (ids["remember_ref"], None, "COMPLETED", "decider"),  # a sync task: created and done in one decide
        (ids["shout_ref"], None, "SCHEDULED", "decider"),
        (ids["shout_ref"], "SCHEDULED", "IN_PROGRESS", WORKER_ACTOR),
        (ids["shout_ref"], "IN_PROGRESS", "COMPLETED", WORKER_ACTOR),
        (None, "RUNNING", "COMPLETED", "decider"),
    }
    assert len(history_of(workflow_id)) == len(changes)
    # Every row about a task names its task reference name (the worker runtime passes it with the result).
    refs = {task_id: ref for ref, task_id in ids.items()}
    assert all(ref == refs.get(task_id) for task_id, ref, *_ in history_of(workflow_id))
    times = list(History.objects.filter(workflow_id=workflow_id).order_by("id").values_list("at", flat=True))
    assert times == sorted(times)


# --- worker outcomes ---------------------------------------------------------------------------------


def test_in_progress_with_callback_is_rescheduled_and_redispatched_when_due(
    clock: Clock, redis_client: redis.Redis
) -> None:
    task_type = f"flow_callback_{uuid.uuid4().hex[:8]}"
    name = f"flow_callback_wf_{uuid.uuid4().hex[:8]}"
    task_defs_register(defs=[{"name": task_type, "retryCount": 0, "responseTimeoutSeconds": 60,
                              "ownerEmail": "flow@baton.local"}])
    workflow_def_register(data={"name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "flow@baton.local",
                                "tasks": [{"name": task_type, "taskReferenceName": "poll_me", "type": "SIMPLE"}]})
    queue = dispatch.broker_queue(task_type)
    workflow_id = workflow_start(name=name, input={})
    task = Task.objects.get(workflow_id=workflow_id)
    assert redis_client.llen(queue) == 1

    # A Celery worker gets the message and says "not yet, call me back in 5 s". The message it
    # ran from stays in the queue: a duplicate delivery, as at-least-once brokers make.
    assert run(task.id, lambda _input: InProgress(callback_after_seconds=5, output={"step": 1})) == "IN_PROGRESS"
    task.refresh_from_db()
    assert task.status == "SCHEDULED" and task.callback_after_seconds == 5 and task.output == {"step": 1}
    assert task.dispatch_at == task.update_time + 5000
    assert History.objects.filter(task_id=task.id, from_status="IN_PROGRESS", to_status="SCHEDULED",
                                  actor=WORKER_ACTOR).count() == 1
    assert redis_client.llen(queue) == 1

    # Not claimable before it is due: not by a REST poll (from the message or the database) ...
    assert task_poll(task_type=task_type, worker_id="poller", domain=None, count=1, timeout_ms=0) == []
    assert task_poll(task_type=task_type, worker_id="poller", domain=None, count=1, timeout_ms=0) == []
    # ... nor by a Celery worker handed a duplicate of the old message.
    assert run(task.id, lambda _input: {"too": "early"}) is None
    clock.advance(4)
    assert sweep().published == 0
    assert task_poll(task_type=task_type, worker_id="poller", domain=None, count=1, timeout_ms=0) == []
    task.refresh_from_db()
    assert task.status == "SCHEDULED" and task.poll_count == 1

    # Due: the sweeper publishes it again and a poll gets it.
    clock.advance(1.5)
    assert sweep().published == 1
    assert redis_client.llen(queue) >= 1
    claimed = task_poll(task_type=task_type, worker_id="poller", domain=None, count=1, timeout_ms=0)
    assert [row["id"] for row in claimed] == [task.id]
    assert claimed[0]["poll_count"] == 2
    assert task_update(task_id=task.id, workflow_id=workflow_id, status="COMPLETED", output={"step": 2},
                       worker_id="poller").applied
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.status == "COMPLETED" and workflow.output == {"step": 2}
    assert_history_chains(workflow_id)


def test_terminal_error_fails_task_without_retry(example_definitions: None) -> None:
    workflow_id = workflow_start(name="example_order", input={"quantity": 0, "customer": "Bob"})
    workflow = run_to_end(workflow_id)
    task = Task.objects.get(workflow_id=workflow_id, ref="validate")
    assert task.status == "FAILED_WITH_TERMINAL_ERROR"
    assert task.reason_for_incompletion == "quantity must be a positive integer, got 0"
    # validate_order allows one retry, but a terminal error is never retried.
    assert Task.objects.filter(workflow_id=workflow_id, ref="validate").count() == 1
    assert not Task.objects.filter(workflow_id=workflow_id, ref="thank").exists()
    assert workflow.status == "FAILED"
    assert workflow.reason_for_incompletion == (
        f"Task {task.id} failed with status: FAILED and reason: 'quantity must be a positive integer, got 0'"
    )
    assert workflow.failed_reference_task_names == ["validate"]
    assert workflow.failed_task_names == ["validate_order"]
    assert_history_chains(workflow_id)


def test_exception_fails_task_and_it_is_retried(example_definitions: None, clock: Clock) -> None:
    workflow_id = workflow_start(name="example_greeting", input={"name": "Ada"})
    first = Task.objects.get(workflow_id=workflow_id, ref="greet_ref")

    def flaky(_input: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("greeter is out for lunch")

    assert run(first.id, flaky) == "FAILED"
    first.refresh_from_db()
    assert first.status == "FAILED" and first.reason_for_incompletion == "greeter is out for lunch"
    assert first.retried and first.executed
    retry = Task.objects.get(workflow_id=workflow_id, ref="greet_ref", retry_count=1)
    assert retry.status == "SCHEDULED" and retry.retried_task_id == first.id
    assert retry.input == first.input
    assert retry.dispatch_at == retry.scheduled_time + 1000  # the TaskDef's retryDelaySeconds
    assert Workflow.objects.get(pk=workflow_id).status == "RUNNING"
    # The traceback is kept as the failed attempt's log.
    logs = list(TaskLog.objects.filter(task_id=first.id).values_list("log", flat=True))
    assert len(logs) == 1 and "RuntimeError: greeter is out for lunch" in logs[0] and "Traceback" in logs[0]

    clock.advance(1.5)
    assert sweep().published == 1
    workflow = run_to_end(workflow_id)
    assert workflow.status == "COMPLETED"
    assert workflow.output["greeting"] == "Hello, Ada!"
    assert Task.objects.filter(workflow_id=workflow_id, ref="greet_ref").count() == 2
    assert_history_chains(workflow_id)


def test_task_logs_are_stored(example_definitions: None) -> None:
    workflow_id = workflow_start(name="example_greeting", input={"name": "Ada"})
    run_to_end(workflow_id)
    shout = Task.objects.get(workflow_id=workflow_id, ref="shout_ref")
    logs = list(TaskLog.objects.filter(task_id=shout.id).values_list("log", "created_time"))
    assert [log for log, _ in logs] == ["shouting 11 characters"]
    assert logs[0][1] >= shout.start_time > 0
    greet = Task.objects.get(workflow_id=workflow_id, ref="greet_ref")
    assert not TaskLog.objects.filter(task_id=greet.id).exists()


# --- definitions are frozen per run -----------------------------------------------------------------------


def test_definition_edited_after_start_does_not_change_running_workflow(example_definitions: None, clock: Clock) -> None:
    running = workflow_start(name="example_greeting", input={"name": "Ada"})
    snapshot = Workflow.objects.get(pk=running).snapshot_id

    # Edit the workflow (one task, other output) and the greet TaskDef (no retries) in place.
    workflow_def_register(
        data={"name": "example_greeting", "version": 1, "schemaVersion": 2, "ownerEmail": "examples@baton.local",
              "tasks": [{"name": "greet", "taskReferenceName": "greet_ref", "type": "SIMPLE",
                         "inputParameters": {"name": "Nobody"}}],
              "outputParameters": {"edited": True}},
        overwrite=True,
    )
    task_def_update(data={**task_def(name="greet"), "retryCount": 0, "retryDelaySeconds": 0})

    # The running workflow still retries greet as its frozen TaskDef says ...
    first = Task.objects.get(workflow_id=running, ref="greet_ref")
    assert run(first.id, lambda _input: 1 / 0) == "FAILED"
    retry = Task.objects.get(workflow_id=running, ref="greet_ref", retry_count=1)
    assert retry.dispatch_at == retry.scheduled_time + 1000
    clock.advance(1.5)
    sweep()
    # ... and runs every task of the definition it started with.
    workflow = run_to_end(running)
    assert workflow.status == "COMPLETED"
    assert workflow.snapshot_id == snapshot
    assert workflow.output == {"greeting": "Hello, Ada!", "shouted": "HELLO, ADA!", "greeted": "Ada"}
    assert set(Task.objects.filter(workflow_id=running).values_list("ref", flat=True)) == {
        "greet_ref", "remember_ref", "shout_ref",
    }

    # A new run gets the edited definition (and the edited TaskDef: no retry).
    fresh = workflow_start(name="example_greeting", input={"name": "Ada"})
    assert Workflow.objects.get(pk=fresh).snapshot_id != snapshot
    task = Task.objects.get(workflow_id=fresh)
    assert task.input == {"name": "Nobody"}
    assert run(task.id, lambda _input: 1 / 0) == "FAILED"
    workflow = Workflow.objects.get(pk=fresh)
    assert workflow.status == "FAILED"
    assert Task.objects.filter(workflow_id=fresh).count() == 1
    assert Workflow.objects.get(pk=running).output == {"greeting": "Hello, Ada!", "shouted": "HELLO, ADA!", "greeted": "Ada"}


# --- starts that fail store nothing ---------------------------------------------------------------------


def test_start_unknown_workflow_raises_not_found_and_stores_nothing(example_definitions: None) -> None:
    before = row_counts()
    with pytest.raises(NotFound, match="No such workflow defined. name=no_such_workflow"):
        workflow_start(name="no_such_workflow", input={})
    with pytest.raises(NotFound):
        workflow_start(name="example_greeting", version=99, input={})
    assert row_counts() == before


def test_start_with_null_input_raises_bad_request_and_stores_nothing(example_definitions: None) -> None:
    before = row_counts()
    with pytest.raises(BadRequest, match="NULL input passed when starting workflow"):
        workflow_start(name="example_greeting", input=None)
    assert row_counts() == before


# --- the timeout deadline a claim writes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected_after_claim_ms"),
    # Claimed 15 s after scheduling: the total timeout (40 s from scheduling) comes 25 s after the
    # claim, before the response timeout (30 s after it).
    [("RETRY", 25_000), ("TIME_OUT_WF", 25_000), ("ALERT_ONLY", 30_000)],
)
def test_claim_writes_the_deadline_the_timeout_rule_gives(clock: Clock, policy: str, expected_after_claim_ms: int) -> None:
    """The claim statement finishes what the decider computed: an ALERT_ONLY timeout never acts,
    so only the response timeout bounds the claimed task (the sweeper is not woken for a
    timeout that would change nothing)."""
    clock.frozen_at = clock()
    task_type = f"deadline_{uuid.uuid4().hex[:8]}"
    task_defs_register(defs=[{"name": task_type, "timeoutSeconds": 40, "totalTimeoutSeconds": 40,
                              "responseTimeoutSeconds": 30, "timeoutPolicy": policy, "ownerEmail": "t@baton.local"}])
    name = f"deadline_wf_{uuid.uuid4().hex[:8]}"
    workflow_def_register(data={"name": name, "version": 1, "ownerEmail": "t@baton.local",
                                "tasks": [{"name": task_type, "taskReferenceName": "t", "type": "SIMPLE"}]})
    workflow_id = workflow_start(name=name, input={})
    clock.advance(15)
    claimed = task_poll(task_type=task_type, worker_id="w", domain=None, count=1, timeout_ms=0)
    assert [row["workflow_id"] for row in claimed] == [workflow_id]
    assert Task.objects.get(pk=claimed[0]["id"]).timeout_at == clock() + expected_after_claim_ms
