"""Workflow control operations end to end on the real database and broker, through the REST API
(Django test client): pause/resume, terminate, remove, restart, retry, rerun, skip, reset
callbacks, decide, status/tasks reads, the bulk forms, the synchronous execute, the
failureWorkflow, and a control operation racing a worker's result.

Expected task states follow Conductor's test-harness specs (SimpleWorkflowSpec,
WorkflowAndTaskConfigurationSpec, FailureWorkflowSpec); status codes and messages follow its
REST controllers (WorkflowResource and the exception mappers that write its error bodies).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from orchestration.models import DecideRequest, History, Task, TaskLog, Workflow
from orchestration.services import control as control_services
from orchestration.services import follow_ups, store
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.tasks import task_claim, task_update
from orchestration.services.workflows import workflow_decide, workflow_start
from orchestration.testing import Clock, finish_without_decide

from .seams import ExecuteLooks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_own_messages")]

JSON = "application/json"
TERMINAL = ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED")


# --- helpers -------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    # Task types name broker queues, which outlive each test's database: never share one.
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _no_auth(settings: Any) -> None:
    # Authentication and roles are tested in test_auth; here every call is a trusted operator.
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}


def simple(task_type: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"name": task_type, "taskReferenceName": ref, "type": "SIMPLE", **extra}


def register(tasks: list[dict[str, Any]], *, retry_count: int = 0, **extra: Any) -> str:
    """Register the task types used by ``tasks`` (no retries unless asked) and a workflow."""
    types: set[str] = set()

    def collect(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node.get("type", "SIMPLE") == "SIMPLE":
                types.add(node["name"])
            for branch in node.get("forkTasks") or ():
                collect(branch)

    collect(tasks)
    task_defs_register(
        defs=[
            {"name": t, "retryCount": retry_count, "retryDelaySeconds": 0, "responseTimeoutSeconds": 600,
             "ownerEmail": "ctl@baton.local"}
            for t in types
        ]
    )
    name = extra.pop("name", None) or unique("ctl_wf")
    workflow_def_register(
        data={"name": name, "version": extra.pop("version", 1), "schemaVersion": 2, "ownerEmail": "ctl@baton.local",
              "tasks": tasks, **extra},
        overwrite=True,
    )
    return name


def linear(count: int = 2, **extra: Any) -> tuple[str, list[str]]:
    """A workflow t1 -> t2 ... each its own task type; output o1 = t1's output ``v``."""
    types = [unique(f"ctl_t{i}") for i in range(1, count + 1)]
    tasks = [simple(t, f"t{i}", inputParameters={"p": "${workflow.input.p}"}) for i, t in enumerate(types, 1)]
    extra.setdefault("outputParameters", {"o1": "${t1.output.v}"})
    return register(tasks, **extra), types


def task_of(workflow_id: str, ref: str) -> Task:
    """The latest attempt of ``ref``."""
    return Task.objects.filter(workflow_id=workflow_id, ref=ref).order_by("-seq").first()


def finish(workflow_id: str, ref: str, status: str = "COMPLETED", output: dict[str, Any] | None = None) -> Task:
    """What a worker does: claim the latest attempt (if SCHEDULED) and report a result."""
    task = task_of(workflow_id, ref)
    if task.status == "SCHEDULED":
        assert task_claim(task_id=task.id, worker_id="w") is not None
    reason = None if status == "COMPLETED" else f"{ref} went {status}"
    assert task_update(task_id=task.id, workflow_id=workflow_id, status=status, output=output or {}, reason=reason,
                       worker_id="w").applied
    return task


def statuses(workflow_id: str) -> list[tuple[str, str]]:
    return list(Task.objects.filter(workflow_id=workflow_id).order_by("seq").values_list("ref", "status"))


def workflow(workflow_id: str) -> Workflow:
    return Workflow.objects.get(pk=workflow_id)


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=json.dumps(body), content_type=JSON)


def assert_empty_ok(response: Any) -> None:
    assert response.status_code == 200, response.content
    assert response.content == b""
    assert response["Content-Type"].startswith("text/plain")


def assert_no_content(response: Any) -> None:
    assert response.status_code == 204, response.content
    assert response.content == b""


def assert_error(response: Any, status: int, message: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert body["status"] == status
    text = body.get("message", "") + " " + " ".join(e["message"] for e in body.get("validationErrors", []))
    assert message in text, text
    return body


def history(workflow_id: str, task_id: str | None = None) -> list[tuple[str | None, str, str, str | None]]:
    rows = History.objects.filter(workflow_id=workflow_id, task_id=task_id).order_by("id")
    return list(rows.values_list("from_status", "to_status", "actor", "reason"))


def assert_task_histories(workflow_id: str) -> None:
    """Every task's history is an unbroken chain from its creation to its current status, with
    the control operations' own changes in it."""
    for task in Task.objects.filter(workflow_id=workflow_id):
        changes = history(workflow_id, task.id)
        assert changes and changes[0][0] is None, f"{task.ref}: {changes}"
        for (_, previous, _, _), (current, _, _, _) in zip(changes, changes[1:], strict=False):
            assert current == previous, f"{task.ref}: broken chain {changes}"
        assert changes[-1][1] == task.status, f"{task.ref}: history ends at {changes[-1][1]}, row is {task.status}"


# --- unknown ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/workflow/{id}/pause"), ("put", "/api/workflow/{id}/resume"), ("delete", "/api/workflow/{id}"),
        ("delete", "/api/workflow/{id}/remove"), ("delete", "/api/workflow/{id}/terminate-remove"),
        ("post", "/api/workflow/{id}/restart"), ("post", "/api/workflow/{id}/retry"),
        ("post", "/api/workflow/{id}/resetcallbacks"), ("put", "/api/workflow/decide/{id}"),
        ("put", "/api/workflow/{id}/skiptask/t1"), ("get", "/api/workflow/{id}/status"),
        ("get", "/api/workflow/{id}/tasks"),
    ],
)
def test_unknown_workflow_is_404(client: Client, method: str, path: str) -> None:
    missing = str(uuid.uuid4())
    assert_error(call(client, method, path.format(id=missing)), 404, f"No such workflow found by id: {missing}")


def test_rerun_of_unknown_workflow_is_404(client: Client) -> None:
    missing = str(uuid.uuid4())
    assert_error(call(client, "post", f"/api/workflow/{missing}/rerun", {}), 404, f"No such workflow found by id: {missing}")


# --- pause / resume / decide ------------------------------------------------------------------------


def test_pause_and_resume(client: Client, clock: Clock) -> None:
    """WorkflowAndTaskConfigurationSpec "Test pause and resume simple workflow"."""
    name, _ = linear()
    workflow_id = workflow_start(name=name, input={"p": 1})
    assert_empty_ok(call(client, "put", f"/api/workflow/{workflow_id}/pause"))
    assert_empty_ok(call(client, "put", f"/api/workflow/{workflow_id}/pause"))  # idempotent
    assert workflow(workflow_id).status == "PAUSED"

    finish(workflow_id, "t1", output={"v": "done"})  # tasks already queued still run
    assert statuses(workflow_id) == [("t1", "COMPLETED")]
    assert workflow(workflow_id).status == "PAUSED"
    assert_empty_ok(call(client, "put", f"/api/workflow/decide/{workflow_id}"))
    assert statuses(workflow_id) == [("t1", "COMPLETED")]

    clock.advance(3600)  # so a stamp left from the start or the pause cannot pass for the resume's
    before = clock()
    assert_empty_ok(call(client, "put", f"/api/workflow/{workflow_id}/resume"))
    resumed = workflow(workflow_id)
    assert resumed.status == "RUNNING" and resumed.last_retried_time >= before
    assert statuses(workflow_id) == [("t1", "COMPLETED"), ("t2", "SCHEDULED")]
    assert_error(call(client, "put", f"/api/workflow/{workflow_id}/resume"), 409,
                 f"The workflow {workflow_id} is not PAUSED so cannot resume. Current status is RUNNING")
    assert [(f, t, a) for f, t, a, _ in history(workflow_id)] == [
        (None, "RUNNING", "api"), ("RUNNING", "PAUSED", "api"), ("PAUSED", "RUNNING", "api"),
    ]

    finish(workflow_id, "t2")
    assert workflow(workflow_id).status == "COMPLETED"
    assert_error(call(client, "put", f"/api/workflow/{workflow_id}/pause"), 409, "has ended, status cannot be updated.")


def test_decide_endpoint_runs_a_decide(client: Client) -> None:
    name, _ = linear()
    workflow_id = workflow_start(name=name, input={})
    task = task_of(workflow_id, "t1")
    task_claim(task_id=task.id, worker_id="w")
    # A result written without its decide (a process died in between): deciding repairs it.
    finish_without_decide(task.id)
    assert statuses(workflow_id) == [("t1", "COMPLETED")]
    assert_empty_ok(call(client, "put", f"/api/workflow/decide/{workflow_id}"))
    assert statuses(workflow_id) == [("t1", "COMPLETED"), ("t2", "SCHEDULED")]


# --- terminate / remove ---------------------------------------------------------------------------------


def test_terminate_cancels_tasks_and_ignores_the_late_result(client: Client) -> None:
    cleanup = register([simple(unique("ctl_cleanup"), "c1")])
    name, _ = linear(failureWorkflow=cleanup)
    workflow_id = workflow_start(name=name, input={"p": 1})
    finish(workflow_id, "t1", output={"v": 42})
    t2 = task_of(workflow_id, "t2")
    assert task_claim(task_id=t2.id, worker_id="w") is not None

    assert_empty_ok(call(client, "delete", f"/api/workflow/{workflow_id}?reason=operator%20said%20so"))
    ended = workflow(workflow_id)
    assert (ended.status, ended.reason_for_incompletion) == ("TERMINATED", "operator said so")
    assert ended.output == {"o1": 42}  # output recomputed
    assert ended.end_time > 0
    assert statuses(workflow_id) == [("t1", "COMPLETED"), ("t2", "CANCELED")]
    assert "conductor.failure_workflow" not in ended.output  # a manual terminate starts no failure workflow
    assert not Workflow.objects.filter(name=cleanup).exists()
    assert history(workflow_id)[-1] == ("RUNNING", "TERMINATED", "api", "terminated: operator said so")

    late = task_update(task_id=t2.id, workflow_id=workflow_id, status="COMPLETED", output={"late": True})
    assert not late.applied
    assert task_of(workflow_id, "t2").status == "CANCELED"

    assert_empty_ok(call(client, "delete", f"/api/workflow/{workflow_id}?reason=again"))  # no-op
    assert workflow(workflow_id).reason_for_incompletion == "operator said so"


def test_terminate_completed_is_409_and_failed_becomes_terminated(client: Client) -> None:
    name, _ = linear(count=1)
    done = workflow_start(name=name, input={})
    finish(done, "t1")
    assert_error(call(client, "delete", f"/api/workflow/{done}"), 409, "Cannot terminate a COMPLETED workflow.")
    failed = workflow_start(name=name, input={})
    finish(failed, "t1", "FAILED")
    assert workflow(failed).status == "FAILED"
    assert_empty_ok(call(client, "delete", f"/api/workflow/{failed}"))
    assert workflow(failed).status == "TERMINATED" and workflow(failed).reason_for_incompletion is None


def test_remove_deletes_the_execution_and_keeps_its_history(client: Client) -> None:
    name, _ = linear()
    workflow_id = workflow_start(name=name, input={})
    task = task_of(workflow_id, "t1")
    task_claim(task_id=task.id, worker_id="w")
    task_update(task_id=task.id, workflow_id=workflow_id, status="IN_PROGRESS", logs=["working"], callback_after_seconds=60)
    assert TaskLog.objects.filter(task_id=task.id).exists()

    assert_empty_ok(call(client, "delete", f"/api/workflow/{workflow_id}/remove?archiveWorkflow=false"))
    assert not Workflow.objects.filter(pk=workflow_id).exists()
    assert not Task.objects.filter(workflow_id=workflow_id).exists()
    assert not TaskLog.objects.filter(task_id=task.id).exists()
    assert_error(client.get(f"/api/workflow/{workflow_id}"), 404, f"No such workflow found by id: {workflow_id}")
    last = History.objects.filter(workflow_id=workflow_id).order_by("id").last()
    assert (last.from_status, last.to_status, last.actor) == ("RUNNING", "REMOVED", "api")
    # A worker's message for the removed task finds nothing to claim.
    assert task_claim(task_id=task.id, worker_id="w") is None


def test_terminate_remove(client: Client) -> None:
    name, _ = linear(count=1)
    running = workflow_start(name=name, input={})
    assert_empty_ok(call(client, "delete", f"/api/workflow/{running}/terminate-remove?reason=bye"))
    assert not Workflow.objects.filter(pk=running).exists()
    assert list(History.objects.filter(workflow_id=running).order_by("id").values_list("to_status", flat=True))[-2:] == [
        "TERMINATED", "REMOVED",
    ]
    done = workflow_start(name=name, input={})
    finish(done, "t1")
    assert_error(call(client, "delete", f"/api/workflow/{done}/terminate-remove"), 409, "Cannot terminate a COMPLETED")
    assert Workflow.objects.filter(pk=done).exists()  # nothing removed when the terminate fails


# --- restart ------------------------------------------------------------------------------------------------


def test_restart_runs_a_failed_workflow_again_with_the_same_id(client: Client, clock: Clock) -> None:
    """SimpleWorkflowSpec "restart without using the latest definition"."""
    name, _ = linear()
    workflow_id = workflow_start(name=name, input={"p": 1})
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/restart"), 409,
                 f"Workflow: {name}.1/{workflow_id}.RUNNING is not in terminal state, unable to restart.")
    old = finish(workflow_id, "t1", "FAILED")
    created = workflow(workflow_id).create_time
    clock.advance(1)

    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/restart"))
    restarted = workflow(workflow_id)
    assert restarted.status == "RUNNING" and restarted.create_time > created
    assert (restarted.reason_for_incompletion, restarted.end_time, restarted.output) == (None, 0, {})
    assert statuses(workflow_id) == [("t1", "SCHEDULED")]
    assert not Task.objects.filter(pk=old.id).exists()
    finish(workflow_id, "t1", output={"v": 1})
    finish(workflow_id, "t2")
    assert workflow(workflow_id).status == "COMPLETED"
    assert ("FAILED", "RUNNING", "api", "restarted") in history(workflow_id)


def test_restart_with_the_latest_definition(client: Client) -> None:
    """SimpleWorkflowSpec "restart with the latest definition": the new task runs too."""
    name, types = linear()
    workflow_id = workflow_start(name=name, input={})
    finish(workflow_id, "t1", "FAILED")
    added = unique("ctl_added")
    tasks = [simple(types[0], "t1"), simple(types[1], "t2"), simple(added, "task_added")]
    register(tasks, name=name, version=2)

    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/restart?useLatestDefinitions=true"))
    assert workflow(workflow_id).version == 2
    for ref in ("t1", "t2", "task_added"):
        finish(workflow_id, ref)
    assert workflow(workflow_id).status == "COMPLETED"
    assert [ref for ref, _ in statuses(workflow_id)] == ["t1", "t2", "task_added"]
    assert client.get(f"/api/workflow/{workflow_id}").json()["workflowVersion"] == 2


def test_completed_non_restartable_workflow_is_404(client: Client) -> None:
    """SimpleWorkflowSpec "Test non restartable simple workflow"."""
    name, _ = linear(count=1, restartable=False)
    workflow_id = workflow_start(name=name, input={})
    finish(workflow_id, "t1", "FAILED")
    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/restart"))  # FAILED: allowed
    finish(workflow_id, "t1")
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/restart"), 404,
                 f"Workflow: {name}.1/{workflow_id}.COMPLETED is non-restartable")


# --- retry -------------------------------------------------------------------------------------------------


def test_retry_at_workflow_level(client: Client) -> None:
    """SimpleWorkflowSpec "Test simple workflow with retry at workflow level"."""
    types = [unique("ctl_r1"), unique("ctl_r2")]
    name = register(
        [simple(types[0], "t1", inputParameters={"p3": "${CPEWF_TASK_ID}"}), simple(types[1], "t2")], retry_count=1
    )
    workflow_id = workflow_start(name=name, input={})
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/retry"), 404,
                 "Workflow is still running.  status=RUNNING")
    finish(workflow_id, "t1", "FAILED")
    assert statuses(workflow_id) == [("t1", "FAILED"), ("t1", "SCHEDULED")]
    finish(workflow_id, "t1", "FAILED")
    assert workflow(workflow_id).status == "FAILED"

    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/retry"))
    assert workflow(workflow_id).status == "RUNNING" and workflow(workflow_id).last_retried_time > 0
    assert workflow(workflow_id).reason_for_incompletion is None
    assert statuses(workflow_id) == [("t1", "FAILED"), ("t1", "FAILED"), ("t1", "SCHEDULED")]
    tasks = list(Task.objects.filter(workflow_id=workflow_id).order_by("seq"))
    assert tasks[2].input["p3"] == tasks[2].id and tasks[2].retry_count == 2 and tasks[2].retried_task_id == tasks[1].id
    assert tasks[1].retried and tasks[1].executed

    finish(workflow_id, "t1")
    assert statuses(workflow_id)[-1] == ("t2", "SCHEDULED")
    finish(workflow_id, "t2")
    done = workflow(workflow_id)
    assert done.status == "COMPLETED"
    assert done.failed_reference_task_names == ["t1"] and done.failed_task_names == [types[0]]
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/retry"), 409,
                 "There are no retryable tasks! Use restart if you want to attempt entire workflow execution again.")


def test_retry_of_a_failed_fork(client: Client) -> None:
    a, b, c = unique("ctl_fa"), unique("ctl_fb"), unique("ctl_fc")
    name = register([
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [[simple(a, "a")], [simple(b, "b")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a", "b"]},
        simple(c, "c"),
    ])
    workflow_id = workflow_start(name=name, input={})
    join = task_of(workflow_id, "join")
    finish(workflow_id, "a", "FAILED")
    assert workflow(workflow_id).status == "FAILED"
    assert statuses(workflow_id) == [("fork", "COMPLETED"), ("a", "FAILED"), ("b", "CANCELED"), ("join", "CANCELED")]

    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/retry"))
    assert statuses(workflow_id) == [
        ("fork", "COMPLETED"), ("a", "FAILED"), ("b", "CANCELED"), ("join", "IN_PROGRESS"),
        ("a", "SCHEDULED"), ("b", "SCHEDULED"),
    ]
    assert task_of(workflow_id, "join").id == join.id
    finish(workflow_id, "a")
    finish(workflow_id, "b")
    assert task_of(workflow_id, "join").status == "COMPLETED"
    finish(workflow_id, "c")
    assert workflow(workflow_id).status == "COMPLETED"
    assert_task_histories(workflow_id)


def test_retry_after_workflow_timeout(client: Client, clock: Clock) -> None:
    """WorkflowAndTaskConfigurationSpec "Test retrying a timed out workflow due to workflow timeout"."""
    name, _ = linear(timeoutSeconds=5, timeoutPolicy="TIME_OUT_WF")
    workflow_id = workflow_start(name=name, input={})
    assert task_claim(task_id=task_of(workflow_id, "t1").id, worker_id="w") is not None
    clock.advance(6)
    workflow_decide(workflow_id=workflow_id, actor="sweeper")
    timed_out = workflow(workflow_id)
    assert (timed_out.status, timed_out.last_retried_time) == ("TIMED_OUT", 0)
    assert statuses(workflow_id) == [("t1", "CANCELED")]

    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/retry"))
    assert workflow(workflow_id).status == "RUNNING" and workflow(workflow_id).last_retried_time > 0
    assert statuses(workflow_id) == [("t1", "CANCELED"), ("t1", "SCHEDULED")]


# --- rerun ---------------------------------------------------------------------------------------------------


def test_rerun_from_a_task_and_from_the_start(client: Client) -> None:
    """WorkflowAndTaskConfigurationSpec "Test re-running the simple workflow multiple times"."""
    name, _ = linear()
    workflow_id = workflow_start(name=name, input={"p": "p1"}, correlation_id="c1")
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/rerun", {}), 409, "is not in terminal state, unable to rerun.")
    finish(workflow_id, "t1", output={"v": "task1.done"})
    t2 = finish(workflow_id, "t2")
    assert workflow(workflow_id).status == "COMPLETED"

    response = call(client, "post", f"/api/workflow/{workflow_id}/rerun", {"reRunFromTaskId": t2.id, "taskInput": {"new": 1}})
    assert response.status_code == 200 and response.content.decode() == workflow_id
    assert response["Content-Type"].startswith("text/plain")
    assert statuses(workflow_id) == [("t1", "COMPLETED"), ("t2", "SCHEDULED")]
    rerun_t2 = task_of(workflow_id, "t2")
    assert rerun_t2.id == t2.id and rerun_t2.input == {"new": 1} and rerun_t2.output == {}
    assert workflow(workflow_id).status == "RUNNING"
    finish(workflow_id, "t2")
    assert workflow(workflow_id).status == "COMPLETED" and workflow(workflow_id).output == {"o1": "task1.done"}

    body = {"workflowInput": {"p": "p2"}, "correlationId": "c2"}
    assert call(client, "post", f"/api/workflow/{workflow_id}/rerun", body).content.decode() == workflow_id
    again = workflow(workflow_id)
    assert (again.status, again.input, again.correlation_id) == ("RUNNING", {"p": "p2"}, "c2")
    assert statuses(workflow_id) == [("t1", "SCHEDULED")]
    assert task_of(workflow_id, "t1").input == {"p": "p2"}
    finish(workflow_id, "t1")
    finish(workflow_id, "t2")
    assert workflow(workflow_id).status == "COMPLETED"

    assert_task_histories(workflow_id)
    missing = str(uuid.uuid4())
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/rerun", {"reRunFromTaskId": missing}), 400,
                 f"Task {missing} not found")
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/rerun", {"taskInput": []}), 400, "taskInput")


def test_rerun_from_a_failed_fork_branch_completes(client: Client) -> None:
    a, b = unique("ctl_ra"), unique("ctl_rb")
    name = register([
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [[simple(a, "a")], [simple(b, "b")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a", "b"]},
    ])
    workflow_id = workflow_start(name=name, input={})
    finish(workflow_id, "b", output={"b": 1})
    failed = finish(workflow_id, "a", "FAILED")
    assert workflow(workflow_id).status == "FAILED"
    call(client, "post", f"/api/workflow/{workflow_id}/rerun", {"reRunFromTaskId": failed.id})
    assert sorted(statuses(workflow_id)) == [("a", "SCHEDULED"), ("b", "SCHEDULED"), ("fork", "COMPLETED"), ("join", "IN_PROGRESS")]
    finish(workflow_id, "a")
    finish(workflow_id, "b")
    assert workflow(workflow_id).status == "COMPLETED"
    assert_task_histories(workflow_id)


# --- skip / reset callbacks -------------------------------------------------------------------------------------


def test_skip_task(client: Client) -> None:
    """WorkflowAndTaskConfigurationSpec "Test task skipping in simple workflows"."""
    name, types = linear(count=3)
    workflow_id = workflow_start(name=name, input={})
    path = f"/api/workflow/{workflow_id}/skiptask/t2?taskOutput%5Bwhy%5D=skipped"
    assert_empty_ok(call(client, "put", path, {"taskInput": {"in": 1}}))
    assert statuses(workflow_id) == [("t2", "SKIPPED"), ("t1", "SCHEDULED")]
    skipped = task_of(workflow_id, "t2")
    assert (skipped.task_type, skipped.input, skipped.output) == (types[1], {"in": 1}, {"why": "skipped"})
    assert_error(call(client, "put", f"/api/workflow/{workflow_id}/skiptask/t2"), 409,
                 "The task referenced t2 has already been processed, cannot be skipped")
    assert_error(call(client, "put", f"/api/workflow/{workflow_id}/skiptask/nope"), 400,
                 f"The task referenced by nope does not exist in the WorkflowDefinition {name}")

    finish(workflow_id, "t1")
    assert statuses(workflow_id) == [("t2", "SKIPPED"), ("t1", "COMPLETED"), ("t3", "SCHEDULED")]
    finish(workflow_id, "t3")
    assert workflow(workflow_id).status == "COMPLETED"
    assert_error(call(client, "put", f"/api/workflow/{workflow_id}/skiptask/t3"), 409,
                 f"The workflow {workflow_id} is not running so the task referenced by t3 cannot be skipped")


def test_reset_callbacks_makes_a_waiting_task_pollable(client: Client) -> None:
    """SimpleWorkflowSpec "the task's call back after seconds are reset"."""
    name, types = linear()
    workflow_id = workflow_start(name=name, input={})
    t1 = task_of(workflow_id, "t1")
    assert task_claim(task_id=t1.id, worker_id="w") is not None
    task_update(task_id=t1.id, workflow_id=workflow_id, status="IN_PROGRESS", callback_after_seconds=3600, output={"op": 1})
    assert task_claim(task_id=t1.id, worker_id="w") is None  # waiting out its callback
    assert client.get(f"/api/tasks/poll/{types[0]}?workerid=w").status_code == 204

    assert_no_content(call(client, "post", f"/api/workflow/{workflow_id}/resetcallbacks"))
    assert task_of(workflow_id, "t1").callback_after_seconds == 0
    polled = client.get(f"/api/tasks/poll/{types[0]}?workerid=w")
    assert polled.status_code == 200 and polled.json()["taskId"] == t1.id
    finish(workflow_id, "t1")
    finish(workflow_id, "t2")
    assert_error(call(client, "post", f"/api/workflow/{workflow_id}/resetcallbacks"), 409,
                 "Workflow is in terminal state. Status = COMPLETED")


# --- reads -------------------------------------------------------------------------------------------------------


def test_status_and_tasks_reads(client: Client) -> None:
    name = register([simple(unique("ctl_s"), "t1")], variables={"v": 1})
    workflow_id = workflow_start(name=name, input={}, correlation_id="corr")
    finish(workflow_id, "t1", output={"x": 1})
    assert client.get(f"/api/workflow/{workflow_id}/status").json() == {
        "workflowId": workflow_id, "correlationId": "corr", "status": "COMPLETED",
    }
    full = client.get(f"/api/workflow/{workflow_id}/status?includeOutput=true&includeVariables=true").json()
    assert (full["output"], full["variables"]) == ({"x": 1}, {"v": 1})

    name3, _ = linear(count=3)
    workflow_id = workflow_start(name=name3, input={})
    finish(workflow_id, "t1")
    finish(workflow_id, "t2", "FAILED")
    page = client.get(f"/api/workflow/{workflow_id}/tasks").json()
    assert page["totalHits"] == 2 and [t["referenceTaskName"] for t in page["results"]] == ["t1", "t2"]
    page = client.get(f"/api/workflow/{workflow_id}/tasks?start=1&count=5").json()
    assert page["totalHits"] == 2 and [t["referenceTaskName"] for t in page["results"]] == ["t2"]
    page = client.get(f"/api/workflow/{workflow_id}/tasks?status=failed&status=canceled").json()
    assert page["totalHits"] == 1 and page["results"][0]["status"] == "FAILED"
    assert client.get(f"/api/workflow/{workflow_id}/tasks?status=COMPLETED,FAILED").json()["totalHits"] == 2


# --- bulk ------------------------------------------------------------------------------------------------------------


def test_bulk_operations_report_per_id_errors(client: Client) -> None:
    name, _ = linear(count=1)
    first, second = (workflow_start(name=name, input={}) for _ in range(2))
    missing = str(uuid.uuid4())
    response = call(client, "put", "/api/workflow/bulk/pause", [first, second, missing])
    assert response.status_code == 200
    assert response.json() == {
        "bulkErrorResults": {missing: f"No such workflow found by id: {missing}"},
        "bulkSuccessfulResults": [first, second],
    }
    assert workflow(first).status == workflow(second).status == "PAUSED"
    assert call(client, "put", "/api/workflow/bulk/resume", [first]).json()["bulkSuccessfulResults"] == [first]
    resumed = call(client, "put", "/api/workflow/bulk/resume", [first, second]).json()
    assert resumed["bulkSuccessfulResults"] == [second]
    assert "is not PAUSED" in resumed["bulkErrorResults"][first]

    finish(first, "t1")
    terminated = call(client, "post", "/api/workflow/bulk/terminate?reason=bulk", [first, second]).json()
    assert terminated["bulkErrorResults"] == {first: "Cannot terminate a COMPLETED workflow."}
    assert terminated["bulkSuccessfulResults"] == [second]
    assert workflow(second).reason_for_incompletion == "bulk"

    retried = call(client, "post", "/api/workflow/bulk/retry", [first, second]).json()
    assert retried["bulkSuccessfulResults"] == [second] and first in retried["bulkErrorResults"]
    restarted = call(client, "post", "/api/workflow/bulk/restart", [first]).json()
    assert restarted == {"bulkErrorResults": {}, "bulkSuccessfulResults": [first]}

    found = call(client, "post", "/api/workflow/bulk/search?includeTasks=false", [first, missing]).json()
    assert [w["workflowId"] for w in found["bulkSuccessfulResults"]] == [first]
    assert found["bulkSuccessfulResults"][0]["tasks"] == []
    assert list(found["bulkErrorResults"]) == [missing]

    # terminate-remove: a COMPLETED workflow cannot be terminated but is still removed (Conductor).
    finish(first, "t1")
    removed = call(client, "delete", "/api/workflow/bulk/terminate-remove", [first, second]).json()
    assert removed["bulkErrorResults"] == {first: "Cannot terminate a COMPLETED workflow."}
    assert removed["bulkSuccessfulResults"] == [first, second]
    assert not Workflow.objects.filter(pk__in=[first, second]).exists()
    assert call(client, "delete", "/api/workflow/bulk/remove", [first]).json()["bulkErrorResults"] == {
        first: f"No such workflow found by id: {first}"
    }


def test_bulk_limits(client: Client) -> None:
    assert_error(call(client, "put", "/api/workflow/bulk/pause", [str(i) for i in range(1001)]), 400,
                 "Cannot process more than 1000 workflows. Please use multiple requests.")
    assert_error(call(client, "post", "/api/workflow/bulk/retry", []), 400, "WorkflowIds list cannot be null.")
    assert_error(call(client, "post", "/api/workflow/bulk/retry", {"ids": []}), 400, "JSON array")
    ok = call(client, "put", "/api/workflow/bulk/pause", [str(i) for i in range(1000)])
    assert ok.status_code == 200 and len(ok.json()["bulkErrorResults"]) == 1000


# --- synchronous execute -------------------------------------------------------------------------------------------


@pytest.fixture
def execute_looks(monkeypatch: pytest.MonkeyPatch) -> Iterator[ExecuteLooks]:
    looks = ExecuteLooks(monkeypatch)
    yield looks
    looks.close()


def _worker_thread(looks: ExecuteLooks, refs: list[str]) -> tuple[threading.Thread, list[str]]:
    """Completes the given tasks of the executed workflow one by one, each only after the execute
    has looked at the workflow since the previous step (so it is waiting, not yet answered).
    Returns the thread and the refs it completed."""
    done: list[str] = []

    def work() -> None:
        try:
            seen = 0
            for ref in refs:
                if not looks.wait_beyond(seen):
                    return
                wf = looks.workflow_id
                assert wf is not None and task_of(wf, ref).status == "SCHEDULED"
                finish(wf, ref, output={"ref": ref})
                done.append(ref)
                seen = looks.count
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, done


def test_execute_waits_for_the_workflow_to_complete(client: Client, execute_looks: ExecuteLooks) -> None:
    name, _ = linear()
    worker, done = _worker_thread(execute_looks, ["t1", "t2"])
    response = call(client, "post", f"/api/workflow/execute/{name}/1?requestId=r1&waitForSeconds=20", {"input": {"p": 1}})
    execute_looks.close()
    worker.join(30)
    assert done == ["t1", "t2"]  # both completed while the request waited
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == body["targetWorkflowStatus"] == "COMPLETED"
    assert (body["responseType"], body["requestId"], body["signalTimeout"]) == ("TARGET_WORKFLOW", "r1", False)
    assert body["workflowId"] == body["targetWorkflowId"]
    assert [t["referenceTaskName"] for t in body["tasks"]] == ["t1", "t2"]
    assert body["input"] == {"p": 1} and body["output"] == {"o1": None}


def test_execute_returns_at_a_wanted_task_or_at_the_deadline(client: Client, execute_looks: ExecuteLooks) -> None:
    name, _ = linear()
    worker, done = _worker_thread(execute_looks, ["t1"])
    response = call(client, "post", f"/api/workflow/execute/{name}/0?waitUntilTaskRef=t1&returnStrategy=BLOCKING_TASK", {})
    worker.join(30)
    assert done == ["t1"]
    body = response.json()
    assert (body["referenceTaskName"], body["status"], body["targetWorkflowStatus"]) == ("t1", "COMPLETED", "RUNNING")
    assert body["output"] == {"ref": "t1"} and body["responseType"] == "BLOCKING_TASK"

    # Nobody works this one: the request keeps looking until its (short) deadline, then answers
    # the current state with signalTimeout.
    looked = execute_looks.count
    timed_out = call(client, "post", f"/api/workflow/execute/{name}/1?waitForSeconds=1", {}).json()
    assert execute_looks.count - looked > 1  # it waited for the deadline rather than answering at once
    assert timed_out["signalTimeout"] is True and timed_out["status"] == "RUNNING"
    assert_error(call(client, "post", f"/api/workflow/execute/{name}/1?returnStrategy=NOPE", {}), 400, "returnStrategy")
    assert_error(call(client, "post", f"/api/workflow/execute/{unique('nope')}/1", {}), 404, "No such workflow defined")


# --- failureWorkflow --------------------------------------------------------------------------------------------------


def test_task_failure_starts_the_failure_workflow_with_the_failed_workflow() -> None:
    """FailureWorkflowSpec: the failure workflow gets the input, the reason and the failed workflow."""
    cleanup_type = unique("ctl_cleanup")
    cleanup = register([simple(cleanup_type, "c1", inputParameters={"failed": "${workflow.input.workflowId}"})])
    name, types = linear(failureWorkflow=cleanup)
    workflow_id = workflow_start(name=name, input={"a": 1}, correlation_id="corr-1", task_to_domain={"*": "blue"})
    failed_task = finish(workflow_id, "t1", "FAILED")

    failed = workflow(workflow_id)
    assert failed.status == "FAILED"
    failure_id = failed.output["conductor.failure_workflow"]
    started = workflow(failure_id)
    assert (started.name, started.correlation_id, started.task_to_domain) == (cleanup, "corr-1", {"*": "blue"})
    given = started.input
    assert given["a"] == 1 and given["workflowId"] == workflow_id
    assert given["reason"] == failed.reason_for_incompletion
    assert given["reason"] == f"Task {failed_task.id} failed with status: FAILED and reason: 't1 went FAILED'"
    assert (given["failureStatus"], given["failureTaskId"]) == ("FAILED", failed_task.id)
    assert given["failedWorkflow"]["workflowId"] == workflow_id
    assert given["failedWorkflow"]["status"] == "FAILED"
    assert [t["referenceTaskName"] for t in given["failedWorkflow"]["tasks"]] == ["t1"]
    assert statuses(failure_id) == [("c1", "SCHEDULED")]
    assert task_of(failure_id, "c1").input == {"failed": workflow_id}
    # Deciding the failed workflow again starts no second one.
    workflow_decide(workflow_id=workflow_id)
    assert Workflow.objects.filter(name=cleanup).count() == 1


def test_failure_workflow_named_by_input_and_missing_failure_workflow() -> None:
    cleanup = register([simple(unique("ctl_cleanup"), "c1")])
    name, _ = linear(count=1, failureWorkflow="$workflow.input.onFailure")
    by_input = workflow_start(name=name, input={"onFailure": cleanup})
    finish(by_input, "t1", "FAILED")
    assert workflow(workflow(by_input).output["conductor.failure_workflow"]).name == cleanup

    missing = unique("ctl_missing")
    name2, _ = linear(count=1, failureWorkflow=missing)
    broken = workflow_start(name=name2, input={})
    finish(broken, "t1", "FAILED")
    ended = workflow(broken)
    assert ended.status == "FAILED"
    assert ended.output["conductor.failure_workflow"] == (
        f"Error workflow {missing} failed to start.  reason: No such workflow defined. name={missing}, version=null"
    )


def test_workflow_timeout_starts_the_failure_workflow(clock: Clock) -> None:
    cleanup = register([simple(unique("ctl_cleanup"), "c1")])
    name, _ = linear(count=1, failureWorkflow=cleanup, timeoutSeconds=2, timeoutPolicy="TIME_OUT_WF")
    workflow_id = workflow_start(name=name, input={})
    clock.advance(3)
    workflow_decide(workflow_id=workflow_id, actor="sweeper")
    ended = workflow(workflow_id)
    assert ended.status == "TIMED_OUT"
    given = workflow(ended.output["conductor.failure_workflow"]).input
    assert given["failureStatus"] == "TIMED_OUT" and "failureTaskId" not in given


# --- races -------------------------------------------------------------------------------------------------------------


def run_at_once(calls: list[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def runner(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[i] = fn()
        except BaseException as error:
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, fn), daemon=True) for i, fn in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads)
    return results


def _assert_consistent_after_terminate(workflow_id: str, task_id: str, applied: bool) -> None:
    assert workflow(workflow_id).status == "TERMINATED"
    task = Task.objects.get(pk=task_id)
    terminal_rows = History.objects.filter(task_id=task_id, to_status__in=TERMINAL).values_list("to_status", flat=True)
    assert list(terminal_rows) == [task.status], "the attempt reached a terminal status more than once"
    assert task.status == ("COMPLETED" if applied else "CANCELED")
    # Whatever won, nothing is left open and nothing was scheduled after the terminate.
    assert not Task.objects.filter(workflow_id=workflow_id, status__in=("SCHEDULED", "IN_PROGRESS")).exists()
    assert not DecideRequest.objects.filter(workflow_id=workflow_id).exists() or workflow_decide(workflow_id=workflow_id)
    assert not Task.objects.filter(workflow_id=workflow_id, status__in=("SCHEDULED", "IN_PROGRESS")).exists()


def test_race_terminate_while_task_completes() -> None:
    name, _ = linear()
    for _ in range(3):
        workflow_id = workflow_start(name=name, input={})
        task = task_of(workflow_id, "t1")
        assert task_claim(task_id=task.id, worker_id="w") is not None
        results = run_at_once([
            lambda wid=workflow_id: control_services.workflow_terminate(workflow_id=wid, reason="race"),
            lambda wid=workflow_id, tid=task.id: task_update(task_id=tid, workflow_id=wid, status="COMPLETED", output={"v": 1}),
        ])
        assert not isinstance(results[0], BaseException), results[0]
        assert not isinstance(results[1], BaseException), results[1]
        _assert_consistent_after_terminate(workflow_id, task.id, results[1].applied)


def test_race_worker_result_lands_inside_the_terminate_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Terminate loads t1 IN_PROGRESS; before it writes CANCELED, the worker's COMPLETED commits
    (finding the workflow's lock taken, it writes the result alone and leaves the decide to a
    decide request). The compare-and-set catches it and the terminate runs again
    on fresh rows: t1 stays COMPLETED, nothing new is scheduled. PostgreSQL only: SQLite
    serializes writers, so the worker could not commit inside the terminate's transaction."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks: on sqlite writers are serialized")
    name, _ = linear()
    workflow_id = workflow_start(name=name, input={})
    task = task_of(workflow_id, "t1")
    assert task_claim(task_id=task.id, worker_id="w") is not None
    worker: list[Any] = []
    real_save = store.save_workflow

    def save_after_worker(wf: Any, *, new_tasks: list[Any], changed_tasks: list[Any], **kwargs: Any) -> None:
        if not worker and any(t.task_id == task.id and t.status == "CANCELED" for t in changed_tasks):
            worker.extend(run_at_once([
                lambda: task_update(task_id=task.id, workflow_id=workflow_id, status="COMPLETED", output={"v": 1})
            ]))
        real_save(wf, new_tasks=new_tasks, changed_tasks=changed_tasks, **kwargs)

    monkeypatch.setattr(store, "save_workflow", save_after_worker)
    control_services.workflow_terminate(workflow_id=workflow_id, reason="race")
    assert len(worker) == 1 and worker[0].applied
    _assert_consistent_after_terminate(workflow_id, task.id, applied=True)
    assert statuses(workflow_id) == [("t1", "COMPLETED")]


def test_a_failure_workflow_naming_itself_stops_after_a_few_links() -> None:
    """A fork with no join fails at once (in the start's own decide), so a workflow that is its
    own failureWorkflow would start itself forever inside one call."""
    name = unique("ctl_selfish")
    register(
        [{"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [[simple(unique("ctl_x"), "x")]]}],
        name=name, failureWorkflow=name,
    )
    first = workflow_start(name=name, input={})
    chain = [first]
    while True:
        link = workflow(chain[-1]).output["conductor.failure_workflow"]
        if link.startswith("Error workflow"):
            break
        chain.append(link)
    assert len(chain) == follow_ups.MAX_FAILURE_CHAIN + 1
    assert "more than 5 times in a row" in link
    assert all(workflow(w).status == "FAILED" for w in chain)


# --- parents and children ---------------------------------------------------------------------------------------------
# No SUB_WORKFLOW operator is needed: the parent/child links are the columns and the
# ``subWorkflowId`` a sub-workflow task carries, set here as that operator would.


def _parent_and_child() -> tuple[str, str, Task]:
    child_name, _ = linear(count=1)
    parent_name = register([
        {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": child_name}},
        simple(unique("ctl_after"), "after"),
    ])
    parent = workflow_start(name=parent_name, input={})
    holder = task_of(parent, "sub")
    child = workflow_start(name=child_name, input={}, parent_workflow_id=parent, parent_workflow_task_id=holder.id)
    Task.objects.filter(pk=holder.id).update(extra={"subWorkflowId": child})
    return parent, child, holder


def test_terminating_a_parent_terminates_the_child_of_its_open_sub_workflow_task(client: Client) -> None:
    parent, child, holder = _parent_and_child()
    assert_empty_ok(call(client, "delete", f"/api/workflow/{parent}?reason=stop"))
    assert task_of(parent, "sub").status == "CANCELED"
    ended = workflow(child)
    assert ended.status == "TERMINATED"
    assert ended.reason_for_incompletion == "Parent workflow has been terminated with reason: stop"
    assert statuses(child) == [("t1", "CANCELED")]


def test_retrying_a_sub_workflow_revives_its_parent(client: Client) -> None:
    parent, child, holder = _parent_and_child()
    finish(child, "t1", "FAILED")
    assert workflow(child).status == "FAILED"
    # What the sub-workflow task does when its child fails: it fails, and so does the parent.
    finish(parent, "sub", "FAILED")
    assert workflow(parent).status == "FAILED"

    assert_no_content(call(client, "post", f"/api/workflow/{child}/retry"))
    assert workflow(child).status == "RUNNING"
    assert statuses(child) == [("t1", "FAILED"), ("t1", "SCHEDULED")]
    revived = workflow(parent)
    assert (revived.status, revived.reason_for_incompletion, revived.last_retried_time > 0) == ("RUNNING", None, True)
    sub = task_of(parent, "sub")
    assert (sub.id, sub.status, sub.executed) == (holder.id, "IN_PROGRESS", False)
    assert ("FAILED", "RUNNING", "api", f"sub workflow {child} retried") in history(parent)


def test_rerun_from_a_task_of_a_sub_workflow(client: Client) -> None:
    parent, child, holder = _parent_and_child()
    failed = finish(child, "t1", "FAILED")
    finish(parent, "sub", "FAILED")
    response = call(client, "post", f"/api/workflow/{parent}/rerun", {"reRunFromTaskId": failed.id})
    assert response.status_code == 200 and response.content.decode() == parent
    assert workflow(child).status == "RUNNING" and statuses(child) == [("t1", "SCHEDULED")]
    assert workflow(parent).status == "RUNNING"
    assert task_of(parent, "sub").status == "IN_PROGRESS"


def test_out_of_range_query_integers_are_400(client: Client) -> None:
    name, _ = linear(count=1)
    workflow_id = workflow_start(name=name, input={})
    for query in ("start=-1", "count=-1", "start=100000000000000000000", "count=2147483648"):
        assert_error(client.get(f"/api/workflow/{workflow_id}/tasks?{query}"), 400, "Invalid value for query parameter")
    assert client.get(f"/api/workflow/{workflow_id}/tasks?start=2147483647").json() == {"totalHits": 1, "results": []}
    assert_error(call(client, "post", f"/api/workflow/execute/{name}/1?waitForSeconds=-5", {}), 400, "waitForSeconds")
