"""``/api/tasks`` beyond poll and update, end to end on the real database and broker:
update-v2, results by reference name, signals, task logs, queue sizes, poll data, requeue,
external storage, routing next to the poll routes, and task domains."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from orchestration import dispatch
from orchestration.models import PollData, Task, TaskLog, Workflow

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"


def unique(prefix: str) -> str:
    # Task types are broker queues, which outlive each test's database: never share one.
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def post(client: Client, path: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type=JSON)


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert body["status"] == status
    text = body.get("message", "") + " " + " ".join(e["message"] for e in body.get("validationErrors", []))
    for fragment in fragments:
        assert fragment in text, text
    return body


def simple(name: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref, "type": "SIMPLE", **extra}


def register(client: Client, tasks: list[dict[str, Any]], *, task_defs: list[dict[str, Any]] | None = None) -> str:
    name = unique("wf")
    if task_defs:
        assert post(client, "/api/metadata/taskdefs", task_defs).status_code == 200
    definition = {"name": name, "version": 1, "ownerEmail": "a@b.c", "schemaVersion": 2, "tasks": tasks}
    response = post(client, "/api/metadata/workflow", definition)
    assert response.status_code == 200, response.content
    return name


def start(client: Client, name: str, **request: Any) -> str:
    response = post(client, "/api/workflow", {"name": name, "input": {}, **request})
    assert response.status_code == 200, response.content
    return response.content.decode()


@pytest.fixture
def one_task(client: Client) -> tuple[str, str]:
    """(workflow name, task type) of a workflow of one SIMPLE task."""
    task_type = unique("t")
    return register(client, [simple(task_type, "a")]), task_type


def poll(client: Client, task_type: str, **params: str) -> dict[str, Any] | None:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(f"/api/tasks/poll/{task_type}?{query}")
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.content
    return response.json()


def result(task: dict[str, Any], status: str = "COMPLETED", **extra: Any) -> dict[str, Any]:
    return {"workflowInstanceId": task["workflowInstanceId"], "taskId": task["taskId"], "status": status, **extra}


# --- update-v2 ---------------------------------------------------------------------------------


def test_update_v2_completes_and_hands_out_the_next_task(client: Client, one_task: tuple[str, str]) -> None:
    name, task_type = one_task
    first_wf, second_wf = start(client, name), start(client, name)
    first = poll(client, task_type, workerid="w1")
    assert first is not None

    response = post(client, "/api/tasks/update-v2", result(first, outputData={"x": 1}, workerId="w1"))
    assert response.status_code == 200 and response["Content-Type"].startswith(JSON)
    nxt = response.json()
    assert nxt["status"] == "IN_PROGRESS" and nxt["workerId"] == "w1" and nxt["taskType"] == task_type
    assert {first["workflowInstanceId"], nxt["workflowInstanceId"]} == {first_wf, second_wf}
    assert Task.objects.get(pk=first["taskId"]).output == {"x": 1}
    assert Workflow.objects.get(pk=first["workflowInstanceId"]).status == "COMPLETED"

    # Nothing left to hand out: 204, the update still applied.
    done = post(client, "/api/tasks/update-v2", result(nxt, workerId="w1"))
    assert done.status_code == 204 and done.content == b""
    assert Workflow.objects.get(pk=nxt["workflowInstanceId"]).status == "COMPLETED"


def test_update_v2_answers_204_when_the_task_stays_open(client: Client, one_task: tuple[str, str]) -> None:
    name, task_type = one_task
    start(client, name)
    start(client, name)
    task = poll(client, task_type, workerid="w1")
    assert task is not None
    response = post(client, "/api/tasks/update-v2", result(task, "IN_PROGRESS", callbackAfterSeconds=30))
    assert response.status_code == 204
    # An IN_PROGRESS update with a callback hands a worker task back to its queue.
    assert Task.objects.get(pk=task["taskId"]).status == "SCHEDULED"
    lease = post(client, "/api/tasks/update-v2", {**result(task), "extendLease": True})
    assert lease.status_code == 204
    # The other workflow's task was not handed out by either call.
    assert Task.objects.filter(workflow__name=name, status="IN_PROGRESS").count() == 0


def test_update_v2_on_a_terminal_task_still_polls(client: Client, one_task: tuple[str, str]) -> None:
    name, task_type = one_task
    start(client, name)
    task = poll(client, task_type)
    assert task is not None
    assert post(client, "/api/tasks", result(task)).status_code == 200
    waiting = start(client, name)
    late = post(client, "/api/tasks/update-v2", result(task, "FAILED", workerId="w9"))
    assert late.status_code == 200 and late.json()["workflowInstanceId"] == waiting
    assert Task.objects.get(pk=task["taskId"]).status == "COMPLETED"  # the late result changed nothing


def test_update_v2_polls_the_same_domain(client: Client, one_task: tuple[str, str]) -> None:
    name, task_type = one_task
    start(client, name, taskToDomain={task_type: "blue"})
    start(client, name, taskToDomain={task_type: "blue"})
    plain = start(client, name)
    task = poll(client, task_type, domain="blue")
    assert task is not None and task["domain"] == "blue"
    nxt = post(client, "/api/tasks/update-v2", result(task)).json()
    assert nxt["domain"] == "blue" and nxt["workflowInstanceId"] != plain
    assert post(client, "/api/tasks/update-v2", result(nxt)).status_code == 204  # the plain queue is not polled


def test_update_v2_validates_like_update(client: Client, one_task: tuple[str, str]) -> None:
    assert_error(post(client, "/api/tasks/update-v2", {"taskId": "x"}), 400, "Workflow Id cannot be null or empty")
    assert_error(post(client, "/api/tasks/update-v2", {"workflowInstanceId": "w", "taskId": "nope", "status": "COMPLETED"}),
                 404, "No such task found by id: nope")


# --- results by reference name -----------------------------------------------------------------


def test_update_by_ref_merges_output(client: Client) -> None:
    a_type, b_type = unique("a"), unique("b")
    name = register(client, [simple(a_type, "a"), simple(b_type, "b")])
    workflow_id = start(client, name)
    task = poll(client, a_type, workerid="w1")
    assert task is not None
    progress = result(task, "IN_PROGRESS", outputData={"kept": 1, "replaced": 1}, workerId="w1")
    assert post(client, "/api/tasks", progress).status_code == 200

    response = post(client, f"/api/tasks/{workflow_id}/a/COMPLETED?workerid=w2", {"replaced": 2, "added": 3})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == task["taskId"]
    stored = Task.objects.get(pk=task["taskId"])
    assert stored.status == "COMPLETED" and stored.worker_id == "w2"
    assert stored.output == {"kept": 1, "replaced": 2, "added": 3}
    # The workflow moved on to b; a is no longer pending.
    assert Task.objects.filter(workflow_id=workflow_id, ref="b", status="SCHEDULED").exists()
    none = post(client, f"/api/tasks/{workflow_id}/a/COMPLETED", {})
    assert none.status_code == 200 and none.content == b""
    assert post(client, "/api/tasks/no-such-workflow/a/COMPLETED", {}).content == b""  # as Conductor: no error


def test_update_by_ref_errors(client: Client, one_task: tuple[str, str]) -> None:
    name, _ = one_task
    workflow_id = start(client, name)
    assert_error(post(client, f"/api/tasks/{workflow_id}/a/DONE", {}), 400, "Invalid task status 'DONE'")
    assert_error(post(client, f"/api/tasks/{workflow_id}/a/COMPLETED", [1]), 400, "must be a JSON object")
    assert_error(post(client, f"/api/tasks/{workflow_id}/a/COMPLETED", ""), 400, "Required request body is missing")
    assert Task.objects.get(workflow_id=workflow_id).status == "SCHEDULED"


def test_update_by_ref_finds_the_latest_loop_iteration(client: Client, one_task: tuple[str, str]) -> None:
    name, _ = one_task
    workflow_id = start(client, name)
    # Stand in for DO_WHILE iterations: the task becomes ``a__3``, with an older open ``a__2``.
    third = Task.objects.get(workflow_id=workflow_id)
    Task.objects.filter(pk=third.pk).update(ref="a__3", iteration=3)
    second = Task.objects.get(pk=third.pk)
    second.pk, second.ref, second.iteration, second.seq = str(uuid.uuid4()), "a__2", 2, 7
    second.save(force_insert=True)
    response = post(client, f"/api/tasks/{workflow_id}/a/COMPLETED", {"n": 3})
    assert response.content.decode() == third.pk
    assert Task.objects.get(pk=third.pk).output == {"n": 3}
    assert Task.objects.get(pk=second.pk).status == "SCHEDULED"


def test_update_by_ref_sync_answers_the_workflow(client: Client, one_task: tuple[str, str]) -> None:
    name, _ = one_task
    workflow_id = start(client, name)
    response = post(client, f"/api/tasks/{workflow_id}/a/COMPLETED/sync", {"ok": True})
    assert response.status_code == 200 and response["Content-Type"].startswith(JSON)
    doc = response.json()
    assert doc["workflowId"] == workflow_id and doc["status"] == "COMPLETED"
    assert doc["tasks"][0]["outputData"] == {"ok": True}
    assert_error(post(client, f"/api/tasks/{workflow_id}/a/COMPLETED/sync", {}), 404,
                 f"Found no running task a of workflow {workflow_id} to update")


# --- signals -----------------------------------------------------------------------------------


def waiting_workflow(client: Client) -> tuple[str, str]:
    """A workflow: WAIT ``w1``, then HUMAN ``h1``, then SIMPLE ``s``; (name, simple type)."""
    task_type = unique("after")
    tasks = [
        {"name": "wait", "taskReferenceName": "w1", "type": "WAIT"},
        {"name": "human", "taskReferenceName": "h1", "type": "HUMAN"},
        simple(task_type, "s"),
    ]
    return register(client, tasks), task_type


def test_signal_completes_the_blocked_task(client: Client) -> None:
    name, task_type = waiting_workflow(client)
    workflow_id = start(client, name)
    response = post(client, f"/api/tasks/{workflow_id}/COMPLETED/signal", {"approved": True})
    assert response.status_code == 200 and response.content == b""
    wait = Task.objects.get(workflow_id=workflow_id, ref="w1")
    assert wait.status == "COMPLETED" and wait.output == {"approved": True}

    sync = post(client, f"/api/tasks/{workflow_id}/COMPLETED/signal/sync?returnStrategy=BLOCKING_TASK&timeoutMillis=200", {"by": "ann"})
    assert sync.status_code == 200, sync.content
    run = sync.json()
    # h1 is done; the answer is the next blocked task... there is none (s is a worker task),
    # so the target workflow comes back once the wait times out.
    assert Task.objects.get(workflow_id=workflow_id, ref="h1").output == {"by": "ann"}
    assert run["targetWorkflowId"] == workflow_id and run["responseType"] == "BLOCKING_TASK"
    assert run["workflowId"] == workflow_id and run["status"] == "RUNNING" and "requestId" in run
    assert run["signalTimeout"] is True

    # Nothing blocked any more: the async form is a no-op, the sync form a 404.
    assert post(client, f"/api/tasks/{workflow_id}/COMPLETED/signal", {}).status_code == 200
    assert_error(post(client, f"/api/tasks/{workflow_id}/COMPLETED/signal/sync?timeoutMillis=0", {}), 404,
                 f"Found no blocked task in workflow {workflow_id} to signal")
    assert_error(post(client, "/api/tasks/nope/COMPLETED/signal", {}), 404, "No such workflow found by id: nope")


def test_signal_sync_answers_per_return_strategy(client: Client) -> None:
    name, _ = waiting_workflow(client)
    workflow_id = start(client, name)
    run = post(client, f"/api/tasks/{workflow_id}/COMPLETED/signal/sync?returnStrategy=BLOCKING_TASK", {"a": 1}).json()
    # The WAIT is done; the workflow is blocked again, on the HUMAN task.
    assert run["referenceTaskName"] == "h1" and run["taskType"] == "HUMAN"
    assert run["targetWorkflowStatus"] == "RUNNING" and run["signalTimeout"] is False
    assert run["workflowId"] == workflow_id and run["status"] in ("SCHEDULED", "IN_PROGRESS")

    run = post(client, f"/api/tasks/{workflow_id}/FAILED/signal/sync", {}).json()  # TARGET_WORKFLOW
    assert run["responseType"] == "TARGET_WORKFLOW" and run["workflowId"] == workflow_id
    assert run["status"] == "FAILED" and [t["referenceTaskName"] for t in run["tasks"]] == ["w1", "h1"]
    assert_error(post(client, f"/api/tasks/{workflow_id}/COMPLETED/signal/sync?returnStrategy=ALL", {}), 400,
                 "returnStrategy")


# --- task logs ---------------------------------------------------------------------------------


def test_task_log_round_trip(client: Client, one_task: tuple[str, str]) -> None:
    name, _ = one_task
    task_id = Task.objects.get(workflow_id=start(client, name)).pk
    empty = client.get(f"/api/tasks/{task_id}/log")
    assert empty.status_code == 204 and empty.content == b""

    assert client.post(f"/api/tasks/{task_id}/log", data="plain line", content_type="text/plain").status_code == 200
    assert post(client, f"/api/tasks/{task_id}/log", '"quoted"').status_code == 200
    logs = client.get(f"/api/tasks/{task_id}/log").json()
    assert [entry["log"] for entry in logs] == ["plain line", '"quoted"']  # verbatim, quotes kept
    assert all(entry["taskId"] == task_id and entry["createdTime"] > 0 for entry in logs)
    assert_error(client.post(f"/api/tasks/{task_id}/log", data="", content_type="text/plain"), 400, "body")
    assert TaskLog.objects.filter(task_id=task_id).count() == 2


# --- queues ------------------------------------------------------------------------------------


def test_queue_sizes_count_scheduled_tasks_in_the_database(client: Client, one_task: tuple[str, str], redis_client: Any) -> None:
    name, task_type = one_task
    for _ in range(3):
        start(client, name)
    start(client, name, taskToDomain={task_type: "blue"})
    redis_client.delete(dispatch.broker_queue(task_type))  # the broker's length is not the answer
    other = unique("other")

    assert client.get(f"/api/tasks/queue/sizes?taskType={task_type}&taskType={other}").json() == {task_type: 3, other: 0}
    assert client.get(f"/api/tasks/queue/sizes?taskType={task_type},{other}").json() == {task_type: 3, other: 0}
    assert client.get(f"/api/tasks/queue/size?taskType={task_type}").json() == 3
    assert client.get(f"/api/tasks/queue/size?taskType={task_type}&domain=blue").json() == 1
    assert client.get(f"/api/tasks/queue/size?taskType={task_type}&executionNamespace=ns").json() == 0
    assert_error(client.get("/api/tasks/queue/size"), 400, "taskType")

    task = poll(client, task_type)
    assert task is not None
    # A task handed back with a callback is still in the queue (delayed), as Conductor counts it.
    assert post(client, "/api/tasks", result(task, "IN_PROGRESS", callbackAfterSeconds=60)).status_code == 200
    assert client.get(f"/api/tasks/queue/size?taskType={task_type}").json() == 3

    everything = client.get("/api/tasks/queue/all").json()
    assert everything[task_type] == 3 and everything[f"blue:{task_type}"] == 1
    assert list(everything) == sorted(everything)
    verbose = client.get("/api/tasks/queue/all/verbose").json()
    assert verbose[task_type] == {"a": {"size": 3, "uacked": 0}}


def test_poll_data(client: Client, one_task: tuple[str, str]) -> None:
    _, task_type = one_task
    poll(client, task_type, workerid="w1")
    poll(client, task_type, workerid="w2")
    poll(client, task_type, workerid="w3", domain="blue")
    PollData.objects.filter(worker_id="w1").update(last_poll_time=1)  # w2 is the latest plain poller
    data = client.get(f"/api/tasks/queue/polldata?taskType={task_type}").json()
    by_domain = {entry.get("domain"): entry for entry in data}
    assert set(by_domain) == {None, "blue"}
    assert by_domain[None]["workerId"] == "w2" and by_domain[None]["queueName"] == task_type
    assert by_domain["blue"]["workerId"] == "w3" and by_domain["blue"]["lastPollTime"] > 0
    everything = client.get("/api/tasks/queue/polldata/all").json()
    assert [e for e in everything if e["queueName"] == task_type] == data
    assert_error(client.get("/api/tasks/queue/polldata"), 400, "taskType")
    # The polled queues are known queues, even empty.
    assert client.get("/api/tasks/queue/all").json()[f"blue:{task_type}"] == 0


def test_poll_time_is_written_once_per_interval(client: Client, one_task: tuple[str, str], settings: Any) -> None:
    _, task_type = one_task
    settings.BATON = {**settings.BATON, "POLL_DATA_INTERVAL_MS": 60_000}
    poll(client, task_type, workerid="steady")
    row = PollData.objects.get(queue_name=task_type, worker_id="steady")
    PollData.objects.filter(pk=row.pk).update(last_poll_time=1)
    poll(client, task_type, workerid="steady")  # within the interval: not written again
    assert PollData.objects.get(pk=row.pk).last_poll_time == 1
    poll(client, task_type, workerid="other")  # a new worker is recorded at once
    assert PollData.objects.filter(queue_name=task_type, worker_id="other").exists()
    settings.BATON = {**settings.BATON, "POLL_DATA_INTERVAL_MS": 0}
    poll(client, task_type, workerid="steady")
    assert PollData.objects.get(pk=row.pk).last_poll_time > 1


def test_requeue_publishes_lost_messages(client: Client, one_task: tuple[str, str], redis_client: Any) -> None:
    name, task_type = one_task
    ids = {start(client, name) for _ in range(2)}
    broker_queue = dispatch.broker_queue(task_type)
    redis_client.delete(broker_queue)
    response = client.post(f"/api/tasks/queue/requeue/{task_type}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content == b"2"
    assert redis_client.llen(broker_queue) == 2
    assert client.post("/api/tasks/queue/requeue/HTTP").content == b"0"
    redis_client.delete(broker_queue)
    polled = {poll(client, task_type)["workflowInstanceId"] for _ in range(2)}  # type: ignore[index]
    assert polled == ids


def test_external_storage_location_is_not_supported(client: Client) -> None:
    base = "/api/tasks/externalstoragelocation?path=p"
    assert_error(client.get(f"{base}&operation=JUMP&payloadType=TASK_OUTPUT"), 400,
                 "Invalid input - Operation: JUMP, PayloadType: TASK_OUTPUT")
    assert_error(client.get(f"{base}&operation=write&payloadType=TASK_OUTPUT"), 400, "not supported")
    assert_error(client.get("/api/tasks/external-storage-location?path=p&operation=READ"), 400, "payloadType")


# --- routing next to the core routes ----------------------------------------------------------------


def test_poll_routes_still_win(client: Client) -> None:
    # Task types named like the literal segments of these routes still poll.
    assert client.get("/api/tasks/poll/log").status_code == 204
    assert client.get("/api/tasks/poll/batch/signal?timeout=0").json() == []
    assert client.get("/api/tasks/poll/batch/COMPLETED?timeout=0").json() == []
    assert client.post("/api/tasks/some-id/ack").content == b"true"
    assert_error(client.get("/api/tasks/no-such-task"), 404, "Task not found for taskId: no-such-task")
    assert_error(client.get("/api/tasks/wf/ref/COMPLETED"), 405, "GET")


# --- domains (taskToDomain and the workers that polled recently) -----------------------------------


def test_task_goes_to_the_first_domain_with_an_active_worker(client: Client, one_task: tuple[str, str]) -> None:
    name, task_type = one_task
    assert poll(client, task_type, domain="d2", workerid="w-d2") is None  # a d2 worker is polling
    workflow_id = start(client, name, taskToDomain={"*": "d1,d2"})
    task = Task.objects.get(workflow_id=workflow_id)
    assert task.domain == "d2" and task.queue_name == f"d2:{task_type}"
    assert poll(client, task_type) is None  # a worker without a domain polls the plain queue only
    assert poll(client, task_type, domain="d1") is None
    got = poll(client, task_type, domain="d2")
    assert got is not None and got["workflowInstanceId"] == workflow_id and got["domain"] == "d2"


def test_domain_fallbacks(client: Client, one_task: tuple[str, str]) -> None:
    name, task_type = one_task
    # Nobody polls: the last domain, unless it is NO_DOMAIN.
    last = Task.objects.get(workflow_id=start(client, name, taskToDomain={"*": "d1,d2"}))
    assert last.domain == "d2"
    none = Task.objects.get(workflow_id=start(client, name, taskToDomain={"*": "d1,NO_DOMAIN"}))
    assert none.domain is None and none.queue_name == task_type
    # NO_DOMAIN in any case; a worker polling with that "domain" does not make it one.
    assert poll(client, task_type, domain="no_domain") is None
    lower = Task.objects.get(workflow_id=start(client, name, taskToDomain={"*": "no_domain,nobody"}))
    assert lower.domain == "nobody"
    assert Task.objects.get(workflow_id=start(client, name, taskToDomain={"*": "d1,no_domain"})).domain is None
    # A mapping for the task type overrides "*".
    own = Task.objects.get(workflow_id=start(client, name, taskToDomain={"*": "d1", task_type: "mine"}))
    assert own.domain == "mine"
    got = poll(client, task_type)
    assert got is not None and got["workflowInstanceId"] == none.workflow_id
