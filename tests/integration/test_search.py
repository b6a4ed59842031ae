"""Execution search and lookups through the REST API (orchestration.api.views_search):
/api/workflow/search(-v2), /search-by-tasks(-v2), /api/tasks/search(-v2), /running/{name},
/{name}/correlated. Executions are started through the services, then their times and
statuses are set on the rows, so that time ranges and orders are exact."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from orchestration.models import Task, Workflow
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import workflow_start

pytestmark = pytest.mark.django_db

UTC_STRING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z
MINUTE = 60_000


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def get(client: Client, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def search(client: Client, path: str = "/api/workflow/search", **params: Any) -> dict[str, Any]:
    return get(client, path, **params)


def ids(result: dict[str, Any], key: str = "workflowId") -> list[str]:
    return [item[key] for item in result["results"]]


class Defs:
    """Two task types and two workflows: ``flow`` runs ``first`` then ``second``; ``other``
    runs ``first`` only."""

    def __init__(self) -> None:
        self.first, self.second = unique("first"), unique("second")
        self.flow, self.other = unique("flow"), unique("other")
        task_defs_register(defs=[{"name": self.first}, {"name": self.second}])
        for name, tasks in ((self.flow, [self.first, self.second]), (self.other, [self.first])):
            workflow_def_register(
                data={
                    "name": name,
                    "ownerEmail": "a@b.c",
                    "tasks": [
                        {"name": t, "taskReferenceName": f"{t}_ref", "type": "SIMPLE", "inputParameters": {"x": "${workflow.input.x}"}}
                        for t in tasks
                    ],
                }
            )

    def start(self, name: str | None = None, *, created: int | None = None, status: str | None = None,
              end: int = 0, **kwargs: Any) -> str:
        """Start a workflow, then pin its times (and status) on the row."""
        kwargs.setdefault("input", {"x": "plain"})
        workflow_id = workflow_start(name=name or self.flow, **kwargs)
        changes: dict[str, Any] = {}
        if created is not None:
            changes.update(create_time=created, update_time=created + 1)
        if status is not None:
            changes.update(status=status, end_time=end)
        if changes:
            Workflow.objects.filter(pk=workflow_id).update(**changes)
        return workflow_id


@pytest.fixture(autouse=True)
def no_auth(settings: Any) -> None:
    # Who may search is the security area's (tests/integration/test_auth.py); here, the search.
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}


@pytest.fixture
def defs() -> Defs:
    return Defs()


# --- /api/workflow/search ------------------------------------------------------------------------


def test_search_by_type_returns_summaries_in_conductor_format(client: Client, defs: Defs) -> None:
    # Keys in jsonb's own order (shorter first), so that PostgreSQL gives them back as sent.
    a1 = defs.start(input={"n": 1.5, "tags": ["x", "y"], "customer": "Ada"}, correlation_id="c-1", created=T0)
    defs.start(created=T0 + 1)
    defs.start(defs.other, created=T0 + 2)
    result = search(client, query=f"workflowType IN ({defs.flow})")
    assert result["totalHits"] == 2
    summary = next(s for s in result["results"] if s["workflowId"] == a1)
    assert summary["workflowType"] == defs.flow
    assert summary["version"] == 1
    assert summary["correlationId"] == "c-1"
    assert summary["startTime"] == "2023-11-14T22:13:20.000Z"
    assert UTC_STRING.match(summary["updateTime"])
    assert "endTime" not in summary  # not ended: Conductor leaves it out
    assert summary["status"] == "RUNNING"
    # input/output are strings: Java's Map.toString() by default.
    assert summary["input"] == "{n=1.5, tags=[x, y], customer=Ada}"
    assert summary["output"] == "{}"
    assert summary["inputSize"] == len(summary["input"])
    assert summary["executionTime"] == 0
    assert summary["failedReferenceTaskNames"] == ""
    assert summary["failedTaskNames"] == []
    assert summary["parentWorkflowId"] == ""
    assert summary["priority"] == 0
    assert summary["taskToDomain"] == {}
    assert summary["classifier"] == "workflow"
    assert "reasonForIncompletion" not in summary and "event" not in summary


def test_ended_workflow_summary(client: Client, defs: Defs) -> None:
    wf = defs.start(created=T0, status="FAILED", end=T0 + 1234)
    Workflow.objects.filter(pk=wf).update(
        reason_for_incompletion="boom", failed_reference_task_names=["a_ref", "b_ref"], failed_task_names=["a"]
    )
    [summary] = search(client, query=f"workflowId = '{wf}'")["results"]
    assert summary["endTime"] == "2023-11-14T22:13:21.234Z"
    assert summary["executionTime"] == 1234
    assert summary["reasonForIncompletion"] == "boom"
    assert summary["failedReferenceTaskNames"] == "a_ref,b_ref"
    assert summary["failedTaskNames"] == ["a"]


def test_summary_classifier_comes_from_definition_metadata(client: Client, defs: Defs) -> None:
    name = unique("agentish")
    workflow_def_register(
        data={"name": name, "ownerEmail": "a@b.c", "metadata": {"agent_sdk": "x"},
              "tasks": [{"name": defs.first, "taskReferenceName": "r", "type": "SIMPLE"}]}
    )  # fmt: skip
    defs.start(name)
    [summary] = search(client, query=f"workflowType = {name}")["results"]
    assert summary["classifier"] == "agent"


def test_summary_input_as_json_when_configured(client: Client, defs: Defs, settings: Any) -> None:
    settings.BATON = {**settings.BATON, "SUMMARY_INPUT_OUTPUT_JSON": True}
    wf = defs.start(input={"a": {"b": [1, None]}})
    [summary] = search(client, query=f"workflowId='{wf}'")["results"]
    assert summary["input"] == '{"a":{"b":[1,null]}}'  # compact, as Jackson writes it


@pytest.mark.parametrize("form", ["workflowId='{id}'", 'workflowId="{id}"', "workflowId={id}", "workflowId IN ({id})"])
def test_quoting_forms_clients_send(client: Client, defs: Defs, form: str) -> None:
    wf = defs.start()
    defs.start()
    assert ids(search(client, query=form.format(id=wf))) == [wf]


def test_correlation_and_type_together(client: Client, defs: Defs) -> None:
    wf = defs.start(correlation_id="corr-x")
    defs.start(defs.other, correlation_id="corr-x")
    defs.start(correlation_id="corr-y")
    assert ids(search(client, query=f"correlationId='corr-x' AND workflowType='{defs.flow}'")) == [wf]
    assert len(ids(search(client, query="correlationId = 'corr-*'"))) == 3  # '*': LIKE


def test_pagination_and_sort(client: Client, defs: Defs) -> None:
    made = [defs.start(created=T0 + i * MINUTE) for i in range(5)]
    query = f"workflowType='{defs.flow}'"
    page1 = search(client, query=query, start=0, size=2, sort="startTime:ASC")
    page2 = search(client, query=query, start=2, size=2, sort="startTime:ASC")
    page3 = search(client, query=query, start=4, size=2, sort="startTime:ASC")
    assert [p["totalHits"] for p in (page1, page2, page3)] == [5, 5, 5]
    assert ids(page1) + ids(page2) + ids(page3) == made
    # Default order: newest first.
    assert ids(search(client, query=query)) == made[::-1]
    assert ids(search(client, query=query, sort="startTime:DESC", size=1)) == [made[-1]]
    # Beyond the end: no rows, the total still counted.
    assert search(client, query=query, start=10) == {"totalHits": 5, "results": []}
    assert search(client, query=query, size=0) == {"totalHits": 5, "results": []}


def test_total_hits_count_is_bounded(client: Client, defs: Defs, settings: Any) -> None:
    settings.BATON = {**settings.BATON, "SEARCH_COUNT_LIMIT": 2}
    for i in range(5):
        defs.start(created=T0 + i)
    query = f"workflowType='{defs.flow}'"
    assert search(client, query=query, size=1)["totalHits"] == 2  # at least the limit
    assert search(client, query=query, start=3, size=1)["totalHits"] == 4  # at least the page's end
    assert search(client, query=query, size=10)["totalHits"] == 5  # a short page ends the result: exact


def test_multi_key_sort(client: Client, defs: Defs) -> None:
    a = defs.start(created=T0, status="COMPLETED", end=T0 + 5)
    b = defs.start(created=T0 + 1)
    c = defs.start(created=T0 + 2, status="COMPLETED", end=T0 + 9)
    result = search(client, query=f"workflowType='{defs.flow}'", sort="status:ASC|startTime:DESC")
    assert ids(result) == [c, a, b]  # COMPLETED < RUNNING, then newest first
    assert ids(search(client, query=f"workflowType='{defs.flow}'", sort="executionTime:DESC")) == [c, a, b]


def test_time_ranges(client: Client, defs: Defs) -> None:
    made = [defs.start(created=T0 + i * MINUTE) for i in range(5)]
    flow = f"workflowType='{defs.flow}'"
    between = search(client, query=f"{flow} AND startTime > {T0 + MINUTE} AND startTime < {T0 + 4 * MINUTE}")
    assert set(ids(between)) == set(made[2:4])
    inclusive = search(client, query=f"{flow} AND startTime BETWEEN {T0 + MINUTE} AND {T0 + 2 * MINUTE}")
    assert set(ids(inclusive)) == set(made[1:3])
    iso = search(client, query=f"{flow} AND startTime >= 2023-11-14T22:16:20Z")
    assert set(ids(iso)) == set(made[3:])


def test_end_time_and_status(client: Client, defs: Defs) -> None:
    done = defs.start(created=T0, status="COMPLETED", end=T0 + 10 * MINUTE)
    defs.start(created=T0, status="COMPLETED", end=T0 + MINUTE)
    running = defs.start(created=T0)
    flow = f"workflowType='{defs.flow}'"
    assert ids(search(client, query=f"{flow} AND endTime > {T0 + 5 * MINUTE}")) == [done]
    assert ids(search(client, query=f"{flow} AND endTime IS NULL")) == [running]
    assert len(ids(search(client, query=f"{flow} AND status IN (COMPLETED, FAILED)"))) == 2
    assert ids(search(client, query=f"{flow} AND status != COMPLETED")) == [running]


def test_or_and_parentheses(client: Client, defs: Defs) -> None:
    a = defs.start(correlation_id="a")
    b = defs.start(defs.other, correlation_id="b")
    defs.start(correlation_id="c")
    query = f"(correlationId = a OR correlationId = b) AND workflowType IN ({defs.flow},{defs.other})"
    assert set(ids(search(client, query=query))) == {a, b}


def test_top_level_only(client: Client, defs: Defs) -> None:
    parent = defs.start()
    child = defs.start(parent_workflow_id=parent)
    flow = f"workflowType='{defs.flow}'"
    assert set(ids(search(client, query=flow))) == {parent, child}
    assert ids(search(client, query=flow, topLevelOnly="true")) == [parent]
    assert ids(search(client, query=f"{flow} AND parentWorkflowId = '{parent}'")) == [child]
    assert ids(search(client, query=f'{flow} AND parentWorkflowId=""')) == [parent]


# --- freeText ------------------------------------------------------------------------------------


def test_free_text_matches_ids_and_input(client: Client, defs: Defs) -> None:
    hit = defs.start(input={"customer": {"email": "Ada.Lovelace@example.com"}}, correlation_id="order-77")
    finished = defs.start(input={"note": "ship to Lovelace street"}, status="COMPLETED", end=T0)
    other = defs.start(input={"customer": {"email": "grace@example.com"}})
    scope = f"workflowType='{defs.flow}'"
    assert ids(search(client, query=scope, freeText=hit)) == [hit]
    assert ids(search(client, query=scope, freeText="order-77")) == [hit]
    # Text inside the input, case-insensitively, in flight or finished.
    assert set(ids(search(client, query=scope, freeText="lovelace"))) == {hit, finished}
    assert ids(search(client, query=scope, freeText="grace@")) == [other]
    assert ids(search(client, query=scope, freeText="Ada*example")) == [hit]  # '*' is a wildcard
    assert search(client, query=scope, freeText="50%")["totalHits"] == 0  # '%' is literal
    assert search(client, query=scope, freeText="*")["totalHits"] == 3
    assert search(client, query=scope)["totalHits"] == 3
    assert ids(search(client, query=f"{scope} AND status = COMPLETED", freeText="lovelace")) == [finished]


# --- errors --------------------------------------------------------------------------------------


def assert_bad_request(response: Any, *fragments: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body = response.json()
    text = body.get("message", "") + " ".join(e["message"] for e in body.get("validationErrors", []))
    for fragment in fragments:
        assert fragment in text, text
    return body


@pytest.mark.parametrize(
    "path",
    ["/api/workflow/search", "/api/workflow/search-v2", "/api/workflow/search-by-tasks", "/api/tasks/search",
     "/api/tasks/search-v2"],
)  # fmt: skip
def test_size_limit(client: Client, path: str) -> None:
    body = assert_bad_request(client.get(path, {"size": 5001}), "Cannot return more than 5000")
    assert body["message"] == "Validation failed, check below errors for detail."
    assert body["validationErrors"][0]["invalidValue"] == "5001"
    assert client.get(path, {"size": 5000}).status_code == 200


def test_workflow_search_size_message_is_conductors(client: Client) -> None:
    body = assert_bad_request(client.get("/api/workflow/search", {"size": 6000}))
    assert body["validationErrors"][0] == {
        "path": "searchWorkflows.size",
        "message": "Cannot return more than 5000 workflows. Please use pagination.",
        "invalidValue": "6000",
    }


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"query": "workflowTyp = x"}, "Unknown workflow query field 'workflowTyp'"),
        ({"query": "status = 'RUNNING"}, "unterminated string"),
        ({"query": "status RUNNING"}, "expected an operator"),
        ({"query": "status = NOPE"}, "'NOPE'"),
        ({"query": "startTime > yesterday"}, "neither epoch milliseconds"),
        ({"sort": "nope:DESC"}, "Unknown workflow sort field 'nope'"),
        ({"sort": "startTime:UP"}, "Invalid sort order"),
        ({"start": "-1"}, "must not be negative"),
        ({"size": "ten"}, "'ten' is not an integer"),
    ],
)
def test_bad_parameters_answer_400(client: Client, params: dict[str, str], fragment: str) -> None:
    assert_bad_request(client.get("/api/workflow/search", params), fragment)


def test_task_search_names_task_fields(client: Client) -> None:
    assert_bad_request(client.get("/api/tasks/search", {"query": "version = 1"}), "Unknown task query field 'version'")
    assert_bad_request(client.get("/api/workflow/search-by-tasks", {"sort": "taskType"}), "Unknown workflow sort field")


# --- search-v2 -----------------------------------------------------------------------------------


def test_search_v2_returns_workflows_without_tasks(client: Client, defs: Defs) -> None:
    wf = defs.start(created=T0, correlation_id="v2")
    result = search(client, "/api/workflow/search-v2", query=f"workflowId='{wf}'")
    assert result["totalHits"] == 1
    [doc] = result["results"]
    assert doc["workflowId"] == wf
    assert doc["createTime"] == T0 and doc["startTime"] == T0  # numbers, unlike summaries
    assert doc["input"] == {"x": "plain"}
    assert doc["tasks"] == []  # Conductor reads them without tasks
    assert doc["workflowName"] == defs.flow and doc["correlationId"] == "v2"


# --- search-by-tasks -----------------------------------------------------------------------------


def test_search_by_tasks(client: Client, defs: Defs) -> None:
    a = defs.start(created=T0)
    b = defs.start(defs.other, created=T0 + 1)
    defs.start(created=T0 + 2)
    Task.objects.filter(workflow_id=a).update(status="FAILED", update_time=T0)
    Task.objects.filter(workflow_id=b).update(status="FAILED", update_time=T0)
    result = search(client, "/api/workflow/search-by-tasks", query=f"taskType = '{defs.first}' AND status = FAILED")
    assert result["totalHits"] == 2  # workflows, not tasks
    assert ids(result) == [b, a]  # sorted as workflows: newest first
    assert result["results"][0]["workflowType"] == defs.other
    v2 = search(client, "/api/workflow/search-by-tasks-v2", query=f"taskType = '{defs.first}' AND status = FAILED",
                sort="startTime:ASC")  # fmt: skip
    assert ids(v2) == [a, b] and v2["results"][0]["tasks"] == []
    by_workflow_type = search(client, "/api/workflow/search-by-tasks", query=f"workflowType = '{defs.other}'")
    assert ids(by_workflow_type) == [b]
    assert search(client, "/api/workflow/search-by-tasks")["totalHits"] == 3  # no condition: every workflow


def test_search_by_tasks_free_text_reads_task_input(client: Client, defs: Defs) -> None:
    wf = defs.start(input={"x": "needle-42"})
    defs.start(input={"x": "hay"})
    result = search(client, "/api/workflow/search-by-tasks", query=f"workflowType='{defs.flow}'", freeText="needle-42")
    assert ids(result) == [wf]


# --- /api/tasks/search ---------------------------------------------------------------------------


def test_task_search_summaries(client: Client, defs: Defs) -> None:
    wf = defs.start(correlation_id="tc", input={"x": "val"})
    [task] = Task.objects.filter(workflow_id=wf).values("id", "scheduled_time")
    result = search(client, "/api/tasks/search", query=f"taskType = '{defs.first}' AND status IN (SCHEDULED)")
    assert result["totalHits"] == 1
    [summary] = result["results"]
    assert summary["taskId"] == task["id"]
    assert summary["workflowId"] == wf
    assert summary["workflowType"] == defs.flow
    assert summary["correlationId"] == "tc"
    assert summary["taskType"] == summary["taskDefName"] == defs.first
    assert summary["status"] == "SCHEDULED"
    assert UTC_STRING.match(summary["scheduledTime"])
    assert summary["startTime"] == summary["endTime"] == "1970-01-01T00:00:00.000Z"  # unset: the epoch
    assert summary["input"] == "{x=val}"
    assert summary["executionTime"] == 0 and summary["queueWaitTime"] == 0
    assert summary["workflowPriority"] == 0


def test_task_search_by_workflow_fields_sort_and_page(client: Client, defs: Defs) -> None:
    made = [defs.start(created=T0 + i) for i in range(3)]
    for i, wf in enumerate(made):
        Task.objects.filter(workflow_id=wf).update(update_time=T0 + i * MINUTE)
    query = f"workflowType = {defs.flow} AND taskType = {defs.first}"
    result = search(client, "/api/tasks/search", query=query, size=2)
    assert result["totalHits"] == 3
    assert [s["workflowId"] for s in result["results"]] == [made[2], made[1]]  # updateTime DESC
    ascending = search(client, "/api/tasks/search", query=query, sort="updateTime:ASC")
    assert [s["workflowId"] for s in ascending["results"]] == made
    ranged = search(client, "/api/tasks/search", query=f"{query} AND updateTime > {T0}")
    assert ranged["totalHits"] == 2
    by_id = search(client, "/api/tasks/search", query=f"workflowId = '{made[0]}'")
    assert [s["workflowId"] for s in by_id["results"]] == [made[0]]


def test_task_search_v2_returns_tasks(client: Client, defs: Defs) -> None:
    wf = defs.start(input={"x": "needle"})
    result = search(client, "/api/tasks/search-v2", query=f"workflowId = '{wf}'")
    [task] = result["results"]
    assert task["workflowInstanceId"] == wf
    assert task["inputData"] == {"x": "needle"}
    assert task["scheduledTime"] > 0  # a number, as in every Task document
    free = search(client, "/api/tasks/search", query=f"taskType={defs.first}", freeText="needle")
    assert [s["workflowId"] for s in free["results"]] == [wf]


# --- running, correlated -------------------------------------------------------------------------


def test_running_ids(client: Client, defs: Defs) -> None:
    running = defs.start(created=T0)
    paused = defs.start(created=T0 + 1, status="PAUSED")
    defs.start(created=T0 + 2, status="COMPLETED", end=T0 + 3)
    defs.start(defs.other)
    # Without a time range: every not-yet-terminal workflow of the name (Conductor ignores version here).
    assert get(client, f"/api/workflow/running/{defs.flow}") == [running, paused]
    assert get(client, f"/api/workflow/running/{defs.flow}", version=7) == [running, paused]
    # With both times: any status, that version, started in the range (inclusive).
    in_range = get(client, f"/api/workflow/running/{defs.flow}", startTime=T0 + 1, endTime=T0 + 2)
    assert len(in_range) == 2 and running not in in_range
    assert get(client, f"/api/workflow/running/{defs.flow}", startTime=T0, endTime=T0 + 5, version=2) == []
    assert get(client, "/api/workflow/running/nothing_by_that_name") == []


def test_correlated(client: Client, defs: Defs) -> None:
    running = defs.start(correlation_id="k", created=T0)
    defs.start(correlation_id="k", created=T0 + 1, status="PAUSED")
    done = defs.start(correlation_id="k", created=T0 + 2, status="COMPLETED", end=T0 + 3)
    defs.start(defs.other, correlation_id="k")
    open_only = get(client, f"/api/workflow/{defs.flow}/correlated/k")
    assert [w["workflowId"] for w in open_only] == [running]  # RUNNING only, PAUSED excluded
    assert open_only[0]["tasks"] == []
    everything = get(client, f"/api/workflow/{defs.flow}/correlated/k", includeClosed="true", includeTasks="true")
    assert len(everything) == 3 and everything[2]["workflowId"] == done
    assert everything[0]["tasks"][0]["taskType"] == defs.first
    assert get(client, f"/api/workflow/{defs.flow}/correlated/none") == []


def test_correlated_batch(client: Client, defs: Defs) -> None:
    a = defs.start(correlation_id="a")
    b = defs.start(correlation_id="b", status="COMPLETED", end=T0)
    response = client.post(f"/api/workflow/{defs.flow}/correlated?includeClosed=true", data=json.dumps(["a", "b", "z"]),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert {k: [w["workflowId"] for w in v] for k, v in body.items()} == {"a": [a], "b": [b], "z": []}
    bad = client.post(f"/api/workflow/{defs.flow}/correlated", data="[1]", content_type="application/json")
    assert_bad_request(bad, "array of strings")
    assert_bad_request(client.post(f"/api/workflow/{defs.flow}/correlated", data="{}", content_type="application/json"))


# --- routing -------------------------------------------------------------------------------------


def test_literal_routes_win_and_post_still_starts_by_name(client: Client) -> None:
    # GET /api/workflow/search is the search, not the workflow whose id is "search".
    assert search(client)["totalHits"] >= 0
    # POST /api/workflow/search starts the workflow *named* "search", as Spring routes it.
    task = unique("t")
    task_defs_register(defs=[{"name": task}])
    workflow_def_register(
        data={"name": "search", "ownerEmail": "a@b.c", "tasks": [{"name": task, "taskReferenceName": "r", "type": "SIMPLE"}]},
        overwrite=True,
    )
    response = client.post("/api/workflow/search", data="{}", content_type="application/json")
    assert response.status_code == 200, response.content
    assert Workflow.objects.filter(pk=response.content.decode(), name="search").exists()


# --- PostgreSQL: the trigram indexes serve freeText ----------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL-only")
def test_free_text_uses_the_trigram_indexes(defs: Defs) -> None:
    from orchestration.selectors import search

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ["search\\_%\\_trgm"])
        if len(cursor.fetchall()) < 2:
            pytest.skip("pg_trgm is not available to this database")
        # Tiny tables favour sequential scans; what matters is that the indexes *can* serve.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for by_tasks in (False, True):
            qs = search.matching_workflows(query=None, free_text="needle", by_tasks=by_tasks).order_by().values("id")
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert "search_wf_input_trgm" in plans[0], plans[0]
    assert "search_task_input_trgm" in plans[1], plans[1]
