"""The rest of the metadata API (validate, names, versions, latest versions, classifier) and the
small endpoints outside metadata (version, admin, queue info, external storage location), end to end
through the routes, including how they share paths with the core's ``/workflow/{name}``."""

from __future__ import annotations

import json
import os
import uuid
from importlib import metadata as package_metadata
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from orchestration.models import DecideRequest, Task, Workflow, WorkflowDef

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"


@pytest.fixture(autouse=True)
def no_auth(settings: Any) -> None:
    # These tests are about the endpoints, not about who may call them (the security tests are).
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}


def unique(prefix: str) -> str:
    # Task types are broker queues, which outlive each test's database: never share one.
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def post(client: Client, path: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type=JSON)


def workflow_def(name: str, task_type: str = "t", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "ownerEmail": "a@b.c",
        "tasks": [{"name": task_type, "taskReferenceName": "t1", "type": "SIMPLE"}],
        **extra,
    }


def register(client: Client, definition: dict[str, Any], *, overwrite: bool = False) -> None:
    path = "/api/metadata/workflow" + ("?overwrite=true" if overwrite else "")
    response = post(client, path, definition)
    assert response.status_code == 200, response.content


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert body["status"] == status and "instance" in body
    text = body.get("message", "") + " " + " ".join(e["message"] for e in body.get("validationErrors", []))
    for fragment in fragments:
        assert fragment in text, text
    return body


def assert_text(response: Any, expected: str) -> None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == expected


# --- validate ----------------------------------------------------------------------------------


def test_validate_accepts_a_valid_definition_and_stores_nothing(client: Client) -> None:
    response = post(client, "/api/metadata/workflow/validate", workflow_def(unique("wf")))
    assert_text(response, "")
    assert not WorkflowDef.objects.exists()


def test_validate_answers_conductors_validation_body(client: Client) -> None:
    body = assert_error(
        post(client, "/api/metadata/workflow/validate", {"version": 1, "tasks": []}),
        400,
        "WorkflowDef name cannot be null or empty",
        "WorkflowTask list cannot be empty",
    )
    assert body["message"] == "Validation failed, check below errors for detail."
    assert all({"path", "message"} <= item.keys() for item in body["validationErrors"])
    assert_error(post(client, "/api/metadata/workflow/validate", "[]"), 400, "must be a JSON object")
    assert_error(post(client, "/api/metadata/workflow/validate", "{"), 400, "Malformed JSON")
    assert_error(post(client, "/api/metadata/workflow/validate", ""), 400, "Required request body is missing")
    assert not WorkflowDef.objects.exists()


def test_validate_uses_registered_task_defs_like_register(client: Client) -> None:
    # An existing workflow with the same name and version is no obstacle: validate only validates.
    definition = workflow_def(unique("wf"))
    register(client, definition)
    assert_text(post(client, "/api/metadata/workflow/validate", definition), "")


def test_get_of_validate_is_the_workflow_named_validate(client: Client) -> None:
    # Conductor: "/workflow/validate" is POST-only; a GET there is GET /workflow/{name}.
    assert_error(client.get("/api/metadata/workflow/validate"), 404, "No such workflow found by name: validate, version: null")
    register(client, workflow_def("validate"))
    assert client.get("/api/metadata/workflow/validate").json()["name"] == "validate"


# --- names, versions, latest -------------------------------------------------------------------


@pytest.fixture
def two_workflows(client: Client) -> tuple[str, str]:
    """Workflow a (versions 1, 2, 3; version 2 overwritten once) and workflow b (version 1)."""
    a, b = "a_" + unique("wf"), "b_" + unique("wf")
    for version in (1, 2, 3):
        register(client, workflow_def(a, version=version))
    register(client, workflow_def(a, version=2, description="again"), overwrite=True)
    register(client, workflow_def(b))
    return a, b


def test_names(client: Client, two_workflows: tuple[str, str]) -> None:
    a, b = two_workflows
    response = client.get("/api/metadata/workflow/names")
    assert response.status_code == 200 and response["Content-Type"].startswith(JSON)
    assert response.json() == [a, b]
    assert client.head("/api/metadata/workflow/names").status_code == 200  # HEAD follows GET


def test_names_and_versions(client: Client, two_workflows: tuple[str, str]) -> None:
    a, b = two_workflows
    body = client.get("/api/metadata/workflow/names-and-versions").json()
    assert set(body) == {a, b}
    assert [s["version"] for s in body[a]] == [1, 2, 3]
    assert all(set(s) <= {"name", "version", "createTime", "updateTime"} for s in body[a] + body[b])
    assert all(s["name"] == a and s["createTime"] > 0 for s in body[a])
    # updateTime only where the definition was updated (null is omitted, as Jackson does).
    assert [("updateTime" in s) for s in body[a]] == [False, True, False]
    stored = client.get(f"/api/metadata/workflow/{a}?version=2").json()
    assert body[a][1]["createTime"] == stored["createTime"] and body[a][1]["updateTime"] == stored["updateTime"]
    assert body[b] == [{"name": b, "version": 1, "createTime": body[b][0]["createTime"]}]


def test_versions_of_one_workflow(client: Client, two_workflows: tuple[str, str]) -> None:
    a, _ = two_workflows
    body = client.get(f"/api/metadata/workflow/{a}/versions").json()
    assert [(s["name"], s["version"]) for s in body] == [(a, 1), (a, 2), (a, 3)]
    assert client.get(f"/api/metadata/workflow/{unique('nope')}/versions").json() == []


def test_versions_route_does_not_shadow_delete_of_a_version(client: Client, two_workflows: tuple[str, str]) -> None:
    a, _ = two_workflows
    # DELETE of ".../versions" is DELETE /workflow/{name}/{version} with a non-integer version.
    assert_error(client.delete(f"/api/metadata/workflow/{a}/versions"), 400, "version")
    assert client.delete(f"/api/metadata/workflow/{a}/3").status_code == 200
    assert [s["version"] for s in client.get(f"/api/metadata/workflow/{a}/versions").json()] == [1, 2]
    assert_error(client.post(f"/api/metadata/workflow/{a}/versions", data="{}", content_type=JSON), 405)


def test_latest_versions(client: Client, two_workflows: tuple[str, str]) -> None:
    a, b = two_workflows
    body = client.get("/api/metadata/workflow/latest-versions").json()
    assert [(d["name"], d["version"]) for d in body] == [(a, 3), (b, 1)]
    # Whole definitions, rendered like GET /workflow/{name}.
    assert body[0] == client.get(f"/api/metadata/workflow/{a}").json()
    assert client.delete(f"/api/metadata/workflow/{a}/3").status_code == 200
    body = client.get("/api/metadata/workflow/latest-versions").json()
    assert [(d["name"], d["version"]) for d in body] == [(a, 2), (b, 1)]
    assert body[0]["description"] == "again"


def test_listings_when_nothing_is_registered(client: Client) -> None:
    assert client.get("/api/metadata/workflow/names").json() == []
    assert client.get("/api/metadata/workflow/names-and-versions").json() == {}
    assert client.get("/api/metadata/workflow/latest-versions").json() == []


def test_literal_paths_answer_405_for_other_methods(client: Client) -> None:
    for path in ("names", "names-and-versions", "latest-versions"):
        assert_error(client.delete(f"/api/metadata/workflow/{path}"), 405, "DELETE")
    assert_error(client.put("/api/metadata/workflow/validate", data="{}", content_type=JSON), 405, "PUT")


def test_trailing_slash_is_optional(client: Client, two_workflows: tuple[str, str]) -> None:
    a, _ = two_workflows
    assert client.get("/api/metadata/workflow/names/").status_code == 200
    assert len(client.get(f"/api/metadata/workflow/{a}/versions/").json()) == 3


# --- classifier ------------------------------------------------------------------------------


def test_classifier_filter(client: Client) -> None:
    plain = unique("plain")
    tagged = unique("tagged")
    agent = unique("agent")
    explicit_agent = unique("explicit")
    register(client, workflow_def(plain))
    register(client, workflow_def(plain, version=2, metadata={"owner": "x"}))  # untagged metadata
    register(client, workflow_def(tagged, metadata={"classifier": "Report"}))
    register(client, workflow_def(agent, metadata={"agent_sdk": "python"}))
    register(client, workflow_def(explicit_agent, metadata={"agentDef": {}, "classifier": "custom"}))

    def names(query: str) -> list[tuple[str, int]]:
        response = client.get(f"/api/metadata/workflow{query}")
        assert response.status_code == 200, response.content
        return sorted((d["name"], d["version"]) for d in response.json())

    everything = names("")
    assert len(everything) == 5
    assert names("?classifier=") == everything == names("?classifier=%20")
    assert names("?classifier=workflow") == [(plain, 1), (plain, 2)]
    assert names("?classifier=AGENT") == [(agent, 1)]  # case-insensitive
    assert names("?classifier=report") == [(tagged, 1)]
    assert names("?classifier=custom") == [(explicit_agent, 1)]  # an explicit classifier wins
    assert names("?classifier=nothing") == []


def test_the_collection_route_still_registers_and_updates(client: Client) -> None:
    name = unique("wf")
    register(client, workflow_def(name))
    response = client.put("/api/metadata/workflow", data=json.dumps([workflow_def(name, version=2)]), content_type=JSON)
    assert response.status_code == 200 and response.json()["bulkSuccessfulResults"] == [name]
    assert_error(client.delete("/api/metadata/workflow"), 405)


# --- version, admin, queue ---------------------------------------------------------------------


def test_version_is_text(client: Client) -> None:
    assert_text(client.get("/api/version"), package_metadata.version("baton"))


def test_admin_config_is_safe(client: Client) -> None:
    response = client.get("/api/admin/config")
    assert response.status_code == 200 and response["Content-Type"].startswith(JSON)
    config = response.json()
    assert config["version"] == package_metadata.version("baton")
    assert config["ownerEmailMandatory"] is bool(settings.BATON["OWNER_EMAIL_MANDATORY"])
    assert config["externalPayloadStorage"] is False
    # An allow-list: exactly these keys, so nothing added to settings later can leak here.
    assert set(config) == {
        "version", "python.version", "django.version", "database.vendor", "broker.transport", "broker.embedded",
        "instanceId", "ownerEmailMandatory", "sweepIntervalSeconds", "redispatchAfterSeconds", "workerModules",
        "externalPayloadStorage", "eventQueues",
    }
    flat = json.dumps(config)
    assert settings.SECRET_KEY not in flat
    assert str(settings.CELERY_BROKER_URL) not in flat
    assert os.environ.get("DATABASE_URL", "no database url") not in flat
    password = settings.DATABASES["default"].get("PASSWORD")
    assert not password or password not in flat


def test_admin_and_queue_info_are_empty_maps(client: Client) -> None:
    for path in ("/api/admin/queues", "/api/admin/queues?verbose=true", "/api/queue/size", "/api/queue/", "/api/queue"):
        response = client.get(path)
        assert response.status_code == 200 and response.json() == {}, path
    assert_error(client.get("/api/admin/queues?verbose=maybe"), 400, "verbose")


@pytest.mark.parametrize(
    "path",
    [
        "/api/workflow/externalstoragelocation",
        "/api/workflow/external-storage-location",
        "/api/tasks/externalstoragelocation",
        "/api/tasks/external-storage-location",
    ],
)
def test_external_storage_location_is_refused_clearly(client: Client, path: str) -> None:
    response = client.get(f"{path}?path=x&operation=WRITE&payloadType=WORKFLOW_INPUT")
    assert_error(response, 400, "External payload storage is not supported")


# --- admin over executions ---------------------------------------------------------------------


@pytest.fixture
def running(client: Client) -> tuple[str, str]:
    """Three running workflows of one task type: (task type, first workflow id)."""
    task_type, name = unique("adm"), unique("wf")
    task_def = {"name": task_type, "retryCount": 0, "responseTimeoutSeconds": 30, "ownerEmail": "a@b.c"}
    assert post(client, "/api/metadata/taskdefs", [task_def]).status_code == 200
    register(client, workflow_def(name, task_type))
    ids = []
    for i in range(3):
        response = post(client, f"/api/workflow/{name}", {"n": i})
        assert response.status_code == 200, response.content
        ids.append(response.content.decode())
    return task_type, ids[0]


def test_pending_tasks_of_a_type(client: Client, running: tuple[str, str]) -> None:
    task_type, first = running
    # One task claimed by a worker: IN_PROGRESS tasks are pending too.
    assert client.get(f"/api/tasks/poll/{task_type}?workerid=w1").status_code == 200
    body = client.get(f"/api/admin/task/{task_type}").json()
    assert len(body) == 3
    assert {t["status"] for t in body} == {"SCHEDULED", "IN_PROGRESS"}
    assert all(t["taskDefName"] == task_type and t["taskType"] == task_type for t in body)
    assert body[0]["workflowInstanceId"] == first  # oldest first
    assert [t["taskId"] for t in client.get(f"/api/admin/task/{task_type}?start=1&count=1").json()] == [body[1]["taskId"]]
    assert client.get(f"/api/admin/task/{task_type}?start=10").json() == []
    assert client.get(f"/api/admin/task/{task_type}?count=0").json() == []
    assert client.get(f"/api/admin/task/{unique('nope')}").json() == []
    assert_error(client.get(f"/api/admin/task/{task_type}?start=-1"), 400, "start")
    assert_error(client.get(f"/api/admin/task/{task_type}?count=x"), 400, "count")

    # Finished tasks are not pending.
    Task.objects.filter(workflow_id=first).update(status="COMPLETED")
    assert len(client.get(f"/api/admin/task/{task_type}").json()) == 2


def test_requeue_sweep(client: Client, running: tuple[str, str]) -> None:
    _, workflow_id = running
    DecideRequest.objects.filter(workflow_id=workflow_id).delete()
    assert_text(post(client, f"/api/admin/sweep/requeue/{workflow_id}", ""), f"true.{workflow_id}")
    assert DecideRequest.objects.filter(workflow_id=workflow_id).exists()
    # Already queued (no worker consumed it in this test): nothing pushed, as pushIfNotExists.
    assert_text(post(client, f"/api/admin/sweep/requeue/{workflow_id}", ""), f"false.{workflow_id}")
    missing = str(uuid.uuid4())
    assert_error(post(client, f"/api/admin/sweep/requeue/{missing}", ""), 404, f"No such workflow found by id: {missing}")
    assert_error(client.get(f"/api/admin/sweep/requeue/{workflow_id}"), 405)


def test_verify_and_repair(client: Client, running: tuple[str, str]) -> None:
    _, workflow_id = running
    task = Task.objects.get(workflow_id=workflow_id)
    # As if the task's message had been lost long ago: the repair publishes it again now.
    Task.objects.filter(pk=task.pk).update(dispatch_at=1)
    assert_text(post(client, f"/api/admin/consistency/verifyAndRepair/{workflow_id}", ""), "true")
    task.refresh_from_db()
    assert task.status == "SCHEDULED" and task.dispatch_at > 1
    assert Task.objects.filter(workflow_id=workflow_id).count() == 1  # the decide changed nothing

    Workflow.objects.filter(pk=workflow_id).update(status="TERMINATED")
    assert_text(post(client, f"/api/admin/consistency/verifyAndRepair/{workflow_id}", ""), "false")
    missing = str(uuid.uuid4())
    assert_error(post(client, f"/api/admin/consistency/verifyAndRepair/{missing}", ""), 404, missing)
