"""The Django admin: every page renders, definitions change only through the services (so
validation applies), executions are read-only except "Decide now", list pages are N+1-free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orchestration.clock import now_ms
from orchestration.models import (
    DecideRequest,
    DefinitionSnapshot,
    History,
    PollData,
    Task,
    TaskDef,
    TaskLog,
    Workflow,
    WorkflowDef,
)
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.tasks import record_poll, task_claim, task_update
from orchestration.services.workflows import request_decide, workflow_start
from orchestration.testing import finish_without_decide

pytestmark = pytest.mark.django_db

WF_NAME = "admin_wf"
TASK_NAME = "admin_task"


def task_def(name: str = TASK_NAME, **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "retryCount": 2, "timeoutSeconds": 300, "responseTimeoutSeconds": 60,
        "ownerEmail": "ops@example.com", **extra,
    }


def workflow_def(name: str = WF_NAME, version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "schemaVersion": 2,
        "ownerEmail": "ops@example.com",
        "timeoutSeconds": 600,
        "tasks": [
            {"name": TASK_NAME, "taskReferenceName": "step_one", "type": "SIMPLE",
             "inputParameters": {"x": "${workflow.input.x}"}},
        ],
        **extra,
    }


def admin_url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:orchestration_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def su_client(client: Client, superuser: Any) -> Client:
    client.force_login(superuser)
    return client


@pytest.fixture
def definitions() -> None:
    task_defs_register(defs=[task_def()])
    workflow_def_register(data=workflow_def())


def start(correlation_id: str | None = None, **input: Any) -> str:
    return workflow_start(name=WF_NAME, input={"x": 1, **input}, correlation_id=correlation_id)


def only_task(workflow_id: str) -> Task:
    return Task.objects.get(workflow_id=workflow_id)


@dataclass
class Executions:
    done: str  # COMPLETED, with a claimed and completed task, a log line and poll data
    running: str  # RUNNING with a SCHEDULED task


@pytest.fixture
def executions(definitions: None) -> Executions:
    done = start(correlation_id="corr-done", marker="input-marker")
    task = only_task(done)
    record_poll(task_type=TASK_NAME, domain=None, worker_id="worker-7", queue_name=task.queue_name)
    assert task_claim(task_id=task.id, worker_id="worker-7") is not None
    task_update(
        task_id=task.id, workflow_id=done, status="COMPLETED", output={"answer": "output-marker"},
        worker_id="worker-7", logs=["log-line-marker"],
    )
    assert Workflow.objects.get(pk=done).status == "COMPLETED"
    running = start(correlation_id="corr-running")
    request_decide(running)  # a DecideRequest row (its broker message goes out on commit only)
    return Executions(done=done, running=running)


# --- every page renders ---------------------------------------------------------------------------


def _one_pk(model: type) -> Any:
    return model.objects.order_by("pk").values_list("pk", flat=True).first()


@pytest.mark.parametrize(
    "model", [TaskDef, WorkflowDef, DefinitionSnapshot, Workflow, Task, TaskLog, History, DecideRequest, PollData]
)
def test_changelist_and_change_page_render(su_client: Client, executions: Executions, model: type) -> None:
    pk = _one_pk(model)
    assert pk is not None, f"fixture created no {model.__name__}"
    listing = su_client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    assert str(pk) in listing.content.decode()
    detail = su_client.get(admin_url(model, "change", pk))
    assert detail.status_code == 200
    assert str(pk) in detail.content.decode() or str(model.objects.get(pk=pk)) in detail.content.decode()


def test_index_lists_every_model(su_client: Client) -> None:
    page = su_client.get(reverse("admin:index")).content.decode()
    for model in (TaskDef, WorkflowDef, DefinitionSnapshot, Workflow, Task, TaskLog, History, DecideRequest, PollData):
        assert admin_url(model, "changelist") in page


def test_definition_lists_show_settings_and_readable_times(su_client: Client, definitions: None) -> None:
    page = su_client.get(admin_url(TaskDef, "changelist")).content.decode()
    assert TASK_NAME in page and "ops@example.com" in page and ">300<" in page
    assert " UTC" in page  # create time as a UTC datetime, not epoch ms
    page = su_client.get(admin_url(WorkflowDef, "changelist")).content.decode()
    assert WF_NAME in page and ">600<" in page
    # Sorting by a column pulled out of the JSON works (it is a database annotation).
    assert su_client.get(admin_url(TaskDef, "changelist") + "?o=2").status_code == 200
    assert su_client.get(admin_url(TaskDef, "changelist") + "?q=admin_t").status_code == 200


def test_definition_detail_shows_pretty_json(su_client: Client, definitions: None) -> None:
    pk = WorkflowDef.objects.get(name=WF_NAME).pk
    page = su_client.get(admin_url(WorkflowDef, "change", pk)).content.decode()
    assert "<pre" in page
    assert "&quot;taskReferenceName&quot;: &quot;step_one&quot;" in page  # indented JSON, escaped
    assert 'name="definition"' in page  # the edit textarea for a user who may change


def test_add_pages_offer_a_json_skeleton(su_client: Client) -> None:
    for model in (TaskDef, WorkflowDef):
        page = su_client.get(admin_url(model, "add")).content.decode()
        assert 'name="definition"' in page and "&quot;ownerEmail&quot;" in page


def test_workflow_detail_shows_fields_json_tasks_and_history(su_client: Client, executions: Executions) -> None:
    task = only_task(executions.done)
    page = su_client.get(admin_url(Workflow, "change", executions.done)).content.decode()
    assert "corr-done" in page
    assert "input-marker" in page and "output-marker" in page  # input and output JSON
    assert "step_one" in page and "worker-7" in page  # the tasks inline
    assert admin_url(Task, "change", task.id) in page
    assert "IN_PROGRESS" in page and "COMPLETED" in page  # history of status changes
    assert "Decide now" in page


def test_task_detail_links_workflow_and_shows_logs(su_client: Client, executions: Executions) -> None:
    task = only_task(executions.done)
    page = su_client.get(admin_url(Task, "change", task.id)).content.decode()
    assert admin_url(Workflow, "change", executions.done) in page
    assert "log-line-marker" in page and "output-marker" in page


def test_task_list_links_workflows_and_filters(su_client: Client, executions: Executions) -> None:
    url = admin_url(Task, "changelist")
    page = su_client.get(url).content.decode()
    assert admin_url(Workflow, "change", executions.running) in page
    page = su_client.get(url, {"status": "SCHEDULED"}).content.decode()
    assert executions.running in page and executions.done not in page
    page = su_client.get(url, {"task_type": TASK_NAME}).content.decode()
    assert executions.running in page and executions.done in page
    page = su_client.get(url, {"q": executions.running}).content.decode()
    assert executions.running in page and executions.done not in page
    # The "open in the task list" link of a workflow page.
    page = su_client.get(url, {"workflow": executions.done}).content.decode()
    assert executions.done in page and executions.running not in page


def test_history_list_filters_by_workflow(su_client: Client, executions: Executions) -> None:
    url = admin_url(History, "changelist")
    page = su_client.get(url, {"workflow_id": executions.running}).content.decode()
    assert executions.running in page and executions.done not in page
    page = su_client.get(url, {"to_status": "COMPLETED"}).content.decode()
    assert executions.done in page and executions.running not in page


# --- workflow list filters and search -------------------------------------------------------------


def test_workflow_list_filters_and_search(su_client: Client, executions: Executions) -> None:
    url = admin_url(Workflow, "changelist")
    page = su_client.get(url).content.decode()
    assert "RUNNING" in page and "COMPLETED" in page and "corr-done" in page
    page = su_client.get(url, {"status__exact": "RUNNING"}).content.decode()
    assert executions.running in page and executions.done not in page
    page = su_client.get(url, {"name": WF_NAME}).content.decode()
    assert executions.running in page and executions.done in page
    page = su_client.get(url, {"name": "other"}).content.decode()
    assert executions.running not in page
    page = su_client.get(url, {"q": "corr-running"}).content.decode()
    assert executions.running in page and executions.done not in page
    page = su_client.get(url, {"q": executions.done}).content.decode()
    assert executions.done in page and executions.running not in page


def test_started_within_filter(su_client: Client, executions: Executions) -> None:
    # Test setup only: age one run by two days (the admin itself never writes executions).
    Workflow.objects.filter(pk=executions.done).update(create_time=now_ms() - 2 * 86_400_000)
    url = admin_url(Workflow, "changelist")
    page = su_client.get(url, {"started_within": "1h"}).content.decode()
    assert executions.running in page and executions.done not in page
    page = su_client.get(url, {"started_within": "1d"}).content.decode()
    assert executions.done not in page
    page = su_client.get(url, {"started_within": "7d"}).content.decode()
    assert executions.running in page and executions.done in page


# --- definitions go through the services ----------------------------------------------------------


def post_definition(client: Client, model: type, data: Any, pk: Any = None) -> Any:
    url = admin_url(model, "add") if pk is None else admin_url(model, "change", pk)
    text = data if isinstance(data, str) else json.dumps(data)
    return client.post(url, {"definition": text, "_save": "Save"})


def test_add_invalid_workflow_def_shows_field_errors_and_stores_nothing(su_client: Client) -> None:
    response = post_definition(su_client, WorkflowDef, {"name": "bad_wf", "tasks": []})
    assert response.status_code == 200
    assert "workflowDef.tasks: WorkflowTask list cannot be empty" in response.content.decode()
    assert "errorlist" in response.content.decode()
    assert not WorkflowDef.objects.exists()


def test_add_workflow_def_with_bad_task_shows_path(su_client: Client) -> None:
    data = workflow_def(name="bad_wf")
    data["tasks"][0]["taskReferenceName"] = ""
    response = post_definition(su_client, WorkflowDef, data)
    assert response.status_code == 200
    assert "workflowDef.tasks[0].taskReferenceName" in response.content.decode()
    assert not WorkflowDef.objects.exists()


def test_add_invalid_json_is_a_form_error(su_client: Client) -> None:
    response = post_definition(su_client, WorkflowDef, '{"name": "x", ')
    assert response.status_code == 200
    assert "Not valid JSON" in response.content.decode()
    response = post_definition(su_client, WorkflowDef, "[1, 2]")
    assert "must be a JSON object" in response.content.decode()
    assert not WorkflowDef.objects.exists()


def test_add_valid_workflow_def_stores_it_through_the_service(su_client: Client) -> None:
    response = post_definition(su_client, WorkflowDef, workflow_def(name="good_wf", version=3))
    assert response.status_code == 302
    row = WorkflowDef.objects.get(name="good_wf")
    assert row.version == 3
    assert response.url == admin_url(WorkflowDef, "changelist")
    # Bookkeeping only the service adds.
    assert row.data["createdBy"] == "admin:root"
    assert row.data["createTime"] == row.create_time > 0


def test_add_existing_workflow_def_is_refused(su_client: Client, definitions: None) -> None:
    response = post_definition(su_client, WorkflowDef, workflow_def(description="changed"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert "description" not in WorkflowDef.objects.get(name=WF_NAME).data


def test_edit_workflow_def_goes_through_the_service(su_client: Client, definitions: None) -> None:
    row = WorkflowDef.objects.get(name=WF_NAME)
    response = post_definition(su_client, WorkflowDef, workflow_def(description="edited"), pk=row.pk)
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.data["description"] == "edited"
    assert row.data["updatedBy"] == "admin:root" and row.update_time > 0

    invalid = workflow_def(tasks=[])
    response = post_definition(su_client, WorkflowDef, invalid, pk=row.pk)
    assert "WorkflowTask list cannot be empty" in response.content.decode()
    response = post_definition(su_client, WorkflowDef, workflow_def(version=2), pk=row.pk)
    assert "cannot be changed here" in response.content.decode()
    row.refresh_from_db()
    assert row.data["description"] == "edited" and WorkflowDef.objects.count() == 1


def test_task_def_add_edit_through_the_service(su_client: Client) -> None:
    # responseTimeoutSeconds above timeoutSeconds: Conductor's TaskTimeoutConstraint.
    response = post_definition(su_client, TaskDef, task_def(name="td", responseTimeoutSeconds=900))
    assert response.status_code == 200
    assert "taskDefs[0].responseTimeoutSeconds" in response.content.decode()
    assert not TaskDef.objects.exists()

    assert post_definition(su_client, TaskDef, task_def(name="td")).status_code == 302
    row = TaskDef.objects.get(name="td")
    assert row.data["createdBy"] == "admin:root"
    response = post_definition(su_client, TaskDef, task_def(name="td"))
    assert "already exists" in response.content.decode()

    response = post_definition(su_client, TaskDef, task_def(name="td", retryCount=5), pk=row.pk)
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.data["retryCount"] == 5 and row.data["updatedBy"] == "admin:root"
    response = post_definition(su_client, TaskDef, task_def(name="td", retryCount=-1), pk=row.pk)
    assert response.status_code == 200 and "retryCount" in response.content.decode()
    response = post_definition(su_client, TaskDef, task_def(name="renamed"), pk=row.pk)
    assert "cannot be changed here" in response.content.decode()
    row.refresh_from_db()
    assert row.data["retryCount"] == 5 and TaskDef.objects.count() == 1


def test_definitions_can_be_deleted(su_client: Client, definitions: None) -> None:
    wf_pk = WorkflowDef.objects.get(name=WF_NAME).pk
    response = su_client.post(admin_url(WorkflowDef, "delete", wf_pk), {"post": "yes"})
    assert response.status_code == 302
    assert not WorkflowDef.objects.exists()
    td_pk = TaskDef.objects.get(name=TASK_NAME).pk
    response = su_client.post(
        admin_url(TaskDef, "changelist"), {"action": "delete_selected", "_selected_action": [td_pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not TaskDef.objects.exists()


# --- executions are read-only ---------------------------------------------------------------------

EXECUTION_MODELS = [Workflow, Task, TaskLog, History, DecideRequest, PollData, DefinitionSnapshot]


@pytest.mark.parametrize("model", EXECUTION_MODELS)
def test_executions_cannot_be_added_changed_or_deleted(su_client: Client, executions: Executions, model: type) -> None:
    pk = _one_pk(model)
    count = model.objects.count()
    assert su_client.get(admin_url(model, "add")).status_code == 403
    assert su_client.post(admin_url(model, "add"), {}).status_code == 403
    assert su_client.post(admin_url(model, "change", pk), {"_save": "Save"}).status_code == 403
    assert su_client.get(admin_url(model, "delete", pk)).status_code == 403
    assert su_client.post(admin_url(model, "delete", pk), {"post": "yes"}).status_code == 403
    response = su_client.post(
        admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
    )
    assert model.objects.count() == count, response.status_code

    listing = su_client.get(admin_url(model, "changelist")).content.decode()
    assert admin_url(model, "add") not in listing
    assert "delete_selected" not in listing
    detail = su_client.get(admin_url(model, "change", pk)).content.decode()
    assert 'name="_save"' not in detail and 'name="_continue"' not in detail
    assert admin_url(model, "delete", pk) not in detail


# --- Decide now -----------------------------------------------------------------------------------


@pytest.fixture
def undecided(definitions: None) -> str:
    """A RUNNING workflow whose only task finished without a decide (as after a crash between
    the task update and its decide): deciding completes it."""
    workflow_id = start()
    task = only_task(workflow_id)
    task_claim(task_id=task.id, worker_id="w")
    finish_without_decide(task.id)
    assert Workflow.objects.get(pk=workflow_id).status == "RUNNING"
    return workflow_id


def test_decide_now_action(su_client: Client, undecided: str) -> None:
    response = su_client.post(
        admin_url(Workflow, "changelist"), {"action": "decide_now", "_selected_action": [undecided]}, follow=True
    )
    assert response.status_code == 200
    assert "Decided 1 workflow(s)." in response.content.decode()
    assert Workflow.objects.get(pk=undecided).status == "COMPLETED"
    assert History.objects.filter(workflow_id=undecided, to_status="COMPLETED", actor="admin:root", task_id=None).exists()


def test_decide_now_button_on_the_detail_page(su_client: Client, undecided: str) -> None:
    url = admin_url(Workflow, "decide", undecided)
    assert url in su_client.get(admin_url(Workflow, "change", undecided)).content.decode()
    assert su_client.get(url).status_code == 405
    response = su_client.post(url)
    assert response.status_code == 302 and response.url == admin_url(Workflow, "change", undecided)
    assert Workflow.objects.get(pk=undecided).status == "COMPLETED"
    assert su_client.post(admin_url(Workflow, "decide", "no-such-id")).status_code == 302


def test_decide_needs_change_permission(client: Client, django_user_model: Any, undecided: str) -> None:
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_workflow", "view_task"]))
    client.force_login(viewer)
    assert client.get(admin_url(Workflow, "changelist")).status_code == 200
    page = client.get(admin_url(Workflow, "change", undecided)).content.decode()
    assert "Decide now" not in page
    assert client.post(admin_url(Workflow, "decide", undecided)).status_code == 403
    client.post(admin_url(Workflow, "changelist"), {"action": "decide_now", "_selected_action": [undecided]})
    assert Workflow.objects.get(pk=undecided).status == "RUNNING"


def test_view_only_user_sees_definitions_without_edit_box(client: Client, django_user_model: Any, definitions: None) -> None:
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_workflowdef"))
    client.force_login(viewer)
    pk = WorkflowDef.objects.get(name=WF_NAME).pk
    page = client.get(admin_url(WorkflowDef, "change", pk)).content.decode()
    assert "step_one" in page and 'name="definition"' not in page
    assert post_definition(client, WorkflowDef, workflow_def(description="x"), pk=pk).status_code == 403


# --- query efficiency -----------------------------------------------------------------------------


def _page_queries(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def test_workflow_changelist_queries_are_bounded(
    su_client: Client, definitions: None, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        start(correlation_id=f"c{i}")
    url = admin_url(Workflow, "changelist")
    few = _page_queries(su_client, url)
    for i in range(5, 50):
        start(correlation_id=f"c{i}")
    with django_assert_max_num_queries(6):
        response = su_client.get(url)
    assert ">c49<" in response.content.decode() and ">c0<" in response.content.decode()
    many = _page_queries(su_client, url)
    assert len(many) == len(few), "query count grows with the number of rows (N+1)"
    # The big JSON columns stay in the database on the list page.
    rows = response.context["cl"].result_list
    assert len(rows) == 50
    assert {"input", "output", "variables", "extra"} <= rows[0].get_deferred_fields()


@pytest.mark.parametrize("model", [Task, History, TaskLog, TaskDef, WorkflowDef])
def test_other_changelists_have_no_n_plus_one(su_client: Client, definitions: None, model: type) -> None:
    url = admin_url(model, "changelist")

    def make(n: int) -> None:
        for i in range(n):
            workflow_id = start()
            task = only_task(workflow_id)
            task_claim(task_id=task.id, worker_id="w")
            task_update(task_id=task.id, workflow_id=workflow_id, status="COMPLETED", logs=[f"l{i}"])
            task_defs_register(defs=[task_def(name=f"{TASK_NAME}_{TaskDef.objects.count()}")])
            workflow_def_register(data=workflow_def(version=WorkflowDef.objects.count() + 1))

    make(2)
    few = _page_queries(su_client, url)
    make(8)
    many = _page_queries(su_client, url)
    assert len(many) == len(few)
    if model in (TaskDef, WorkflowDef):
        response = su_client.get(url)
        assert "data" in response.context["cl"].result_list[0].get_deferred_fields()
