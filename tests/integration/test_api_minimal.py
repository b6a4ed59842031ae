"""The minimal Conductor REST surface, end to end on the real database and broker:
definitions, both start forms, polling (single, batch, long poll), task results, and every kind
of bad input answering 4xx with Conductor's error body and storing nothing."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import kombu
import pytest
from django.db import connection
from django.test import Client

from orchestration import dispatch
from orchestration.models import PollData, TaskDef, TaskLog, Workflow, WorkflowDef
from orchestration.testing import Clock

from .seams import BrokerWaits, PollingTime

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"


# --- helpers -----------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    # Task types are broker queues, which outlive each test's database: never share one.
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def post(client: Client, path: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type=JSON)


def put(client: Client, path: str, body: Any) -> Any:
    return client.put(path, data=json.dumps(body), content_type=JSON)


def hello_def(name: str, task_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "ownerEmail": "a@b.c",
        "schemaVersion": 2,
        "tasks": [
            {
                "name": task_type,
                "taskReferenceName": "g1",
                "type": "SIMPLE",
                "inputParameters": {"who": "${workflow.input.name}"},
            }
        ],
        "outputParameters": {"msg": "${g1.output.text}"},
        **extra,
    }


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert body["status"] == status
    assert body["retryable"] is False
    assert "instance" in body
    text = body.get("message", "") + " " + " ".join(e["message"] for e in body.get("validationErrors", []))
    for fragment in fragments:
        assert fragment in text, text
    return body


@pytest.fixture
def registered(client: Client) -> tuple[str, str]:
    """A registered task type and a workflow using it: (workflow name, task type)."""
    task_type = unique("greet")
    name = unique("hello")
    defs = [{"name": task_type, "retryCount": 1, "retryDelaySeconds": 5, "responseTimeoutSeconds": 30, "ownerEmail": "a@b.c"}]
    assert post(client, "/api/metadata/taskdefs", defs).status_code == 200
    assert post(client, "/api/metadata/workflow", hello_def(name, task_type)).status_code == 200
    return name, task_type


def start(client: Client, name: str, payload: dict[str, Any] | None = None) -> str:
    response = post(client, f"/api/workflow/{name}", payload or {"name": "Ada"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


# --- health, routing, error shape ---------------------------------------------------------------


def test_health(client: Client) -> None:
    for path in ("/health", "/api/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["healthy"] is True


def test_unknown_route_and_method_answer_json(client: Client) -> None:
    assert_error(client.get("/api/no/such/thing"), 404, "No static resource")
    assert_error(post(client, "/api/nowhere", {}), 404)  # no CSRF page for SDK posts
    assert_error(client.patch("/api/workflow", data="{}", content_type=JSON), 405, "PATCH")


def test_posts_need_no_csrf_token() -> None:
    strict = Client(enforce_csrf_checks=True)  # SDK clients never send a CSRF token
    assert post(strict, "/api/metadata/taskdefs", [{"name": unique("csrf")}]).status_code == 200
    assert post(strict, "/api/tasks/x/ack", {}).status_code == 200


def test_trailing_slash_is_optional(client: Client) -> None:
    assert client.get("/api/metadata/taskdefs/").status_code == 200
    assert client.get("/api/metadata/taskdefs").status_code == 200


# --- metadata ----------------------------------------------------------------------------------


def test_task_def_lifecycle(client: Client) -> None:
    name = unique("td")
    response = post(client, "/api/metadata/taskdefs", [{"name": name, "retryCount": 2, "description": None, "bogus": 1}])
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Type"].startswith("text/plain")

    got = client.get(f"/api/metadata/taskdefs/{name}").json()
    assert got["name"] == name and got["retryCount"] == 2
    assert "description" not in got  # nulls are omitted
    assert name in [d["name"] for d in client.get("/api/metadata/taskdefs").json()]

    assert put(client, "/api/metadata/taskdefs", {"name": name, "retryCount": 5}).status_code == 200
    assert client.get(f"/api/metadata/taskdefs/{name}").json()["retryCount"] == 5
    assert_error(put(client, "/api/metadata/taskdefs", {"name": unique("nope")}), 404, "No such task by name")

    assert client.delete(f"/api/metadata/taskdefs/{name}").status_code == 200
    assert_error(client.get(f"/api/metadata/taskdefs/{name}"), 404, f"No such taskType found by name: {name}")
    assert_error(client.delete(f"/api/metadata/taskdefs/{name}"), 404)


def test_workflow_def_lifecycle(client: Client) -> None:
    name, task_type = unique("wf"), unique("t")
    definition = hello_def(name, task_type)
    assert post(client, "/api/metadata/workflow", definition).status_code == 200
    assert_error(post(client, "/api/metadata/workflow", definition), 409, f"Workflow with {name}.1 already exists!")
    definition["description"] = "second"
    assert post(client, "/api/metadata/workflow?overwrite=true", definition).status_code == 200
    assert client.get(f"/api/metadata/workflow/{name}").json()["description"] == "second"

    bulk = put(client, "/api/metadata/workflow", [{**definition, "version": 2}, {**definition, "version": 3}])
    assert bulk.status_code == 200
    assert bulk.json() == {"bulkErrorResults": {}, "bulkSuccessfulResults": [name, name]}
    assert client.get(f"/api/metadata/workflow/{name}").json()["version"] == 3  # latest
    assert client.get(f"/api/metadata/workflow/{name}?version=2").json()["version"] == 2
    versions = [d["version"] for d in client.get("/api/metadata/workflow").json() if d["name"] == name]
    assert versions == [1, 2, 3]

    assert client.delete(f"/api/metadata/workflow/{name}/3").status_code == 200
    assert client.get(f"/api/metadata/workflow/{name}").json()["version"] == 2
    assert_error(client.delete(f"/api/metadata/workflow/{name}/3"), 404, f"No such workflow found by name: {name}, version: 3")
    assert_error(client.get(f"/api/metadata/workflow/{name}?version=9"), 404, "version: 9")
    assert_error(client.delete(f"/api/metadata/workflow/{name}/x"), 400, "version")


def test_bulk_update_rejects_all_when_one_is_invalid(client: Client) -> None:
    good = hello_def(unique("wf"), unique("t"))
    response = put(client, "/api/metadata/workflow", [good, {"tasks": []}])
    assert_error(response, 400, "WorkflowDef name cannot be null or empty")
    assert not WorkflowDef.objects.exists()


# --- bad definitions: 400 with the reason, nothing stored -----------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"name": "x", "tasks": [', "Malformed JSON"),
        ("", "Required request body is missing"),
        ("[]", "must be a JSON object"),
        ('{"name": NaN}', "Malformed JSON"),
        (json.dumps({"version": 1, "tasks": [{"name": "a", "taskReferenceName": "a"}]}), "WorkflowDef name cannot be null or empty"),
        (json.dumps({"name": "w", "tasks": []}), "WorkflowTask list cannot be empty"),
        (
            json.dumps({"name": "w", "tasks": [{"name": "a", "taskReferenceName": "a"}, {"name": "b", "taskReferenceName": "a"}]}),
            "taskReferenceName: a should be unique",
        ),
        (
            json.dumps({"name": "w", "tasks": [{"name": "a", "taskReferenceName": "a", "inputParameters": {"x": "${ghost.output.y}"}}]}),
            "is not defined in workflow definition",
        ),
        (json.dumps({"name": "w", "version": "one", "tasks": [{"name": "a", "taskReferenceName": "a"}]}), "version must be an integer"),
        (json.dumps({"name": "w", "tasks": {"name": "a"}}), "tasks must be a list"),
    ],
)
def test_bad_workflow_def_is_rejected(client: Client, body: str, fragment: str) -> None:
    response = client.post("/api/metadata/workflow", data=body, content_type=JSON)
    assert_error(response, 400, fragment)
    assert not WorkflowDef.objects.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([{"name": "t", "retryCount": -1}], "retryCount"),
        ([{"name": "t", "retryCount": "x"}], "retryCount must be an integer"),
        ([{"retryCount": 1}], "TaskDef name cannot be null or empty"),
        ({"name": "t"}, "must be a JSON array"),
        ([], "TaskDefList is empty"),
        ([{"name": "ok"}, {"name": "bad", "responseTimeoutSeconds": 0}], "responseTimeoutSeconds"),
    ],
)
def test_bad_task_defs_are_rejected(client: Client, body: Any, fragment: str) -> None:
    assert_error(post(client, "/api/metadata/taskdefs", body), 400, fragment)
    assert not TaskDef.objects.exists()


# --- starting and reading workflows ------------------------------------------------------------


def test_start_both_forms_and_read(client: Client, registered: tuple[str, str]) -> None:
    name, task_type = registered
    wf1 = start(client, name)
    response = post(client, "/api/workflow", {"name": name, "input": {"name": "Bo"}, "correlationId": "c-1", "priority": 7, "junk": True})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    wf2 = response.content.decode()
    assert wf1 != wf2 and Workflow.objects.count() == 2

    doc = client.get(f"/api/workflow/{wf2}").json()
    assert doc["workflowId"] == wf2 and doc["status"] == "RUNNING"
    assert doc["workflowName"] == name and doc["workflowVersion"] == 1
    assert doc["startTime"] == doc["createTime"] > 0
    assert doc["correlationId"] == "c-1" and doc["priority"] == 7
    assert doc["input"] == {"name": "Bo"}
    assert doc["workflowDefinition"]["name"] == name
    assert "reasonForIncompletion" not in doc  # nulls omitted
    [task] = doc["tasks"]
    assert task["taskType"] == task_type and task["status"] == "SCHEDULED"
    assert task["referenceTaskName"] == "g1" and task["seq"] == 1
    assert task["inputData"] == {"who": "Bo"}
    assert task["workflowInstanceId"] == wf2 and task["workflowType"] == name
    assert task["correlationId"] == "c-1" and task["workflowPriority"] == 7
    assert task["workflowTask"]["name"] == task_type and task["workflowTask"]["taskReferenceName"] == "g1"
    assert task["endTime"] == 0 and task["retryCount"] == 0 and task["outputData"] == {}
    assert task["callbackFromWorker"] is True

    assert client.get(f"/api/workflow/{wf2}?includeTasks=false").json()["tasks"] == []
    assert client.get(f"/api/tasks/{task['taskId']}").json()["taskId"] == task["taskId"]


def test_start_errors(client: Client, registered: tuple[str, str]) -> None:
    name, _ = registered
    ghost = unique("ghost")
    assert_error(post(client, f"/api/workflow/{ghost}", {}), 404, f"No such workflow found by name: {ghost}, version: ")
    assert_error(post(client, "/api/workflow", {"name": ghost}), 404, f"No such workflow defined. name={ghost}")
    assert_error(post(client, "/api/workflow", {"input": {}}), 400, "Workflow name cannot be null or empty")
    assert_error(post(client, "/api/workflow", {"name": name, "priority": 100}), 400, "priority")
    assert_error(post(client, "/api/workflow", {"name": name, "input": "x"}), 400, "input must be an object")
    assert_error(post(client, "/api/workflow", [name]), 400, "must be a JSON object")
    assert_error(post(client, f"/api/workflow/{name}", [1]), 400, "must be a JSON object")
    assert_error(post(client, f"/api/workflow/{name}?priority=abc", {}), 400, "priority")
    assert_error(post(client, f"/api/workflow/{name}", "{oops"), 400, "Malformed JSON")
    assert not Workflow.objects.exists()
    assert_error(client.get("/api/workflow/no-such-id"), 404, "No such workflow found by id: no-such-id")


# --- polling and results -----------------------------------------------------------------------


def test_poll_update_complete(client: Client, registered: tuple[str, str]) -> None:
    name, task_type = registered
    assert client.get(f"/api/tasks/poll/{task_type}?workerid=w1").status_code == 204
    workflow_id = start(client, name)

    response = client.get(f"/api/tasks/poll/{task_type}?workerid=w1")
    assert response.status_code == 200 and response["Content-Type"].startswith(JSON)
    task = response.json()
    assert task["status"] == "IN_PROGRESS" and task["pollCount"] == 1 and task["workerId"] == "w1"
    assert task["inputData"] == {"who": "Ada"} and task["workflowInstanceId"] == workflow_id
    assert task["responseTimeoutSeconds"] == 30 and task["startTime"] > 0
    assert task["workflowTask"]["taskDefinition"]["name"] == task_type
    no_task = client.get(f"/api/tasks/poll/{task_type}?workerid=w1")
    assert no_task.status_code == 204 and no_task.content == b""
    assert PollData.objects.filter(queue_name=task_type, worker_id="w1").exists()

    result = {
        "workflowInstanceId": workflow_id, "taskId": task["taskId"], "status": "COMPLETED",
        "outputData": {"text": "hi Ada"}, "workerId": "w1", "unknownField": 1,
        "logs": [{"log": "step 1", "createdTime": 1}, {"log": "step 2", "createdTime": 2}],
    }
    response = post(client, "/api/tasks", result)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == task["taskId"]
    assert list(TaskLog.objects.filter(task_id=task["taskId"]).values_list("log", flat=True)) == ["step 1", "step 2"]

    doc = client.get(f"/api/workflow/{workflow_id}").json()
    assert doc["status"] == "COMPLETED" and doc["output"] == {"msg": "hi Ada"} and doc["endTime"] > 0
    assert doc["tasks"][0]["status"] == "COMPLETED" and doc["tasks"][0]["outputData"] == {"text": "hi Ada"}

    # A duplicate (or late) result changes nothing and still answers 200 with the id.
    again = post(client, "/api/tasks", {**result, "status": "FAILED", "outputData": {"text": "late"}})
    assert again.status_code == 200 and again.content.decode() == task["taskId"]
    stored = client.get(f"/api/tasks/{task['taskId']}").json()
    assert stored["status"] == "COMPLETED" and stored["outputData"] == {"text": "hi Ada"}
    assert client.get(f"/api/workflow/{workflow_id}").json()["status"] == "COMPLETED"


def test_batch_poll(client: Client, registered: tuple[str, str]) -> None:
    name, task_type = registered
    response = client.get(f"/api/tasks/poll/batch/{task_type}?count=5&timeout=0")
    assert response.status_code == 200 and response.json() == []
    ids = {start(client, name) for _ in range(3)}
    polled = client.get(f"/api/tasks/poll/batch/{task_type}?count=2&timeout=10&workerid=b").json()
    assert len(polled) == 2 and all(t["status"] == "IN_PROGRESS" for t in polled)
    rest = client.get(f"/api/tasks/poll/batch/{task_type}?count=5&timeout=10").json()
    assert len(rest) == 1
    assert {t["workflowInstanceId"] for t in polled + rest} == ids
    assert_error(client.get(f"/api/tasks/poll/batch/{task_type}?timeout=5001"), 400, "Long Poll Timeout value cannot be more than 5 seconds")
    assert_error(client.get(f"/api/tasks/poll/batch/{task_type}?count=x"), 400, "count")


def test_poll_with_domain(client: Client, registered: tuple[str, str]) -> None:
    name, task_type = registered
    workflow_id = post(client, "/api/workflow", {"name": name, "input": {}, "taskToDomain": {task_type: "blue"}}).content.decode()
    assert client.get(f"/api/tasks/poll/{task_type}").status_code == 204
    task = client.get(f"/api/tasks/poll/{task_type}?domain=blue").json()
    assert task["workflowInstanceId"] == workflow_id and task["domain"] == "blue"


def test_poll_survives_lost_messages(client: Client, registered: tuple[str, str], redis_client: Any) -> None:
    name, task_type = registered
    workflow_id = start(client, name)
    redis_client.delete(dispatch.broker_queue(task_type))  # the broker lost the message
    task = client.get(f"/api/tasks/poll/{task_type}").json()
    assert task["workflowInstanceId"] == workflow_id


def test_poll_works_with_the_broker_down(
    client: Client, registered: tuple[str, str], monkeypatch: Any, broker_waits: BrokerWaits
) -> None:
    name, task_type = registered

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("broker down (test)")

    monkeypatch.setattr(kombu.Connection, "ensure_connection", refuse)
    workflow_id = start(client, name)  # its message cannot be published
    task = client.get(f"/api/tasks/poll/{task_type}").json()
    assert task["workflowInstanceId"] == workflow_id
    polling_time = PollingTime(monkeypatch)
    assert client.get(f"/api/tasks/poll/batch/{task_type}?timeout=300").json() == []
    assert broker_waits.results == [None]  # it tried to wait on the broker, which was unreachable
    # ... and then still waited out its timeout, rather than sending the worker straight back
    assert polling_time.slept == pytest.approx([0.3])


def test_in_progress_with_callback_is_requeued_until_due(client: Client, registered: tuple[str, str], clock: Clock) -> None:
    name, task_type = registered
    workflow_id = start(client, name)
    task = client.get(f"/api/tasks/poll/{task_type}?workerid=w1").json()
    result = {
        "workflowInstanceId": workflow_id, "taskId": task["taskId"], "status": "IN_PROGRESS",
        "callbackAfterSeconds": 60, "outputData": {"progress": 50},
    }
    assert post(client, "/api/tasks", result).status_code == 200
    stored = client.get(f"/api/tasks/{task['taskId']}").json()
    assert stored["status"] == "SCHEDULED" and stored["callbackAfterSeconds"] == 60
    assert stored["outputData"] == {"progress": 50}
    assert client.get(f"/api/tasks/poll/{task_type}").status_code == 204  # not due yet

    # A stale message for the task (a duplicate, or one left behind when the task was claimed
    # from the database) must not cut the delay short.
    dispatch.publish_tasks([(task["taskId"], task_type, task_type)])
    assert client.get(f"/api/tasks/poll/{task_type}").status_code == 204

    clock.advance(61)  # a minute passes
    again = client.get(f"/api/tasks/poll/{task_type}?workerid=w2").json()
    assert again["taskId"] == task["taskId"] and again["pollCount"] == 2 and again["workerId"] == "w2"
    assert again["startTime"] == task["startTime"]


def test_long_poll_wakes_on_new_task(client: Client, registered: tuple[str, str], broker_waits: BrokerWaits) -> None:
    name, task_type = registered
    started: list[str] = []

    def start_once_the_poll_waits() -> None:
        try:
            assert broker_waits.waiting.wait(30)
            started.append(start(Client(), name))
        finally:
            connection.close()

    starter = threading.Thread(target=start_once_the_poll_waits)
    starter.start()
    tasks = client.get(f"/api/tasks/poll/batch/{task_type}?timeout=4000").json()
    starter.join(30)
    assert [t["workflowInstanceId"] for t in tasks] == started
    # Woken by the new task's message: had the wait run out its timeout ([]), the poll would
    # still have found the task in the database afterwards.
    assert broker_waits.results == [[tasks[0]["taskId"]]]


def test_task_result_errors(client: Client, registered: tuple[str, str]) -> None:
    name, task_type = registered
    workflow_id = start(client, name)
    task = client.get(f"/api/tasks/poll/{task_type}").json()
    base = {"workflowInstanceId": workflow_id, "taskId": task["taskId"], "status": "COMPLETED"}
    assert_error(post(client, "/api/tasks", {**base, "workflowInstanceId": None}), 400, "Workflow Id cannot be null or empty")
    assert_error(post(client, "/api/tasks", {**base, "taskId": ""}), 400, "Task ID cannot be null or empty")
    assert_error(post(client, "/api/tasks", {**base, "status": "DONE"}), 400, "status must be one of")
    assert_error(post(client, "/api/tasks", {**base, "callbackAfterSeconds": "x"}), 400, "callbackAfterSeconds must be an integer")
    assert_error(post(client, "/api/tasks", {**base, "outputData": [1]}), 400, "outputData must be an object")
    assert_error(post(client, "/api/tasks", [base]), 400, "must be a JSON object")
    assert_error(post(client, "/api/tasks", "{bad json"), 400, "Malformed JSON")
    assert_error(post(client, "/api/tasks", {**base, "callbackAfterSeconds": 1e30}), 400, "callbackAfterSeconds")
    assert_error(post(client, "/api/tasks", {**base, "outputData": {"x": "a\u0000b"}}), 400, "NUL")
    assert_error(post(client, "/api/tasks", {**base, "taskId": "no-such-task"}), 404, "No such task found by id: no-such-task")
    assert client.get(f"/api/tasks/{task['taskId']}").json()["status"] == "IN_PROGRESS"  # nothing applied
    assert_error(client.get("/api/tasks/no-such-task"), 404, "Task not found for taskId: no-such-task")


def test_odd_input_never_answers_500(client: Client) -> None:
    # Whether a 300-character name fits depends on the database (SQLite does not enforce
    # lengths); either way the answer is not a server error.
    response = post(client, "/api/metadata/workflow", hello_def("n" * 300, unique("t")))
    assert response.status_code in (200, 400), response.content
    assert client.get("/api/tasks/%00").status_code in (400, 404)
    assert client.get("/api/workflow/%00").status_code in (400, 404)
    assert_error(post(client, "/api/metadata/taskdefs", [{"name": "x\u0000"}]), 400, "NUL")


def test_ack_is_a_legacy_no_op(client: Client) -> None:
    response = client.post("/api/tasks/any-id/ack?workerid=w")
    assert response.status_code == 200 and response.content == b"true"
    assert response["Content-Type"].startswith("text/plain")
