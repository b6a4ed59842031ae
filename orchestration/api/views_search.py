"""Search and lookups over executions:

    GET  /api/workflow/search               SearchResult<WorkflowSummary>
    GET  /api/workflow/search-v2            SearchResult<Workflow>   (without tasks, as Conductor)
    GET  /api/workflow/search-by-tasks      workflows owning a matching task, as summaries
    GET  /api/workflow/search-by-tasks-v2   the same as Workflow documents
    GET  /api/tasks/search                  SearchResult<TaskSummary>
    GET  /api/tasks/search-v2               SearchResult<Task>
    GET  /api/workflow/running/{name}       JSON array of workflow ids
    GET  /api/workflow/{name}/correlated/{correlationId}    array of Workflow
    POST /api/workflow/{name}/correlated    body: array of correlation ids -> id: array of Workflow

Search parameters: ``start`` (0), ``size`` (100), ``sort``, ``freeText`` (``*``), ``query``; the
workflow searches also take ``topLevelOnly`` (Conductor OSS: only workflows without a parent).
The language is described in ``orchestration.search.query``, the fields in
``orchestration.search.fields``; the reads are ``orchestration.selectors.search``.

Errors: ``size`` over 5,000 answers Conductor's bean-validation 400 ("Cannot return more than
5000 workflows. Please use pagination."); Conductor checks it on the workflow searches only,
Baton on every search. A malformed query, an unknown field or sort key, a mistyped value answer
400 naming the problem; Conductor answers those with 500 (unmapped parser exceptions) or, on its
SQL backend, silently ignores the condition.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import views_workflow, wire
from orchestration.api.execution_documents import task_documents
from orchestration.api.renderers import ConductorView
from orchestration.clock import now_ms
from orchestration.documents import executions, summaries
from orchestration.errors import BadRequest, DefinitionError, FieldError
from orchestration.search.query import QueryError
from orchestration.selectors import definitions, search
from orchestration.selectors.tasks import TASK_ROW_FIELDS
from orchestration.selectors.workflows import WORKFLOW_ROW_FIELDS

MAX_SEARCH_SIZE = 5_000


def _search_params(request: Request, *, method: str, noun: str) -> dict[str, Any]:
    start = wire.query_int(request, "start", 0) or 0
    size = wire.query_int(request, "size", 100)
    size = 100 if size is None else size
    if size > MAX_SEARCH_SIZE:
        raise DefinitionError(
            [FieldError(f"{method}.size", f"Cannot return more than {MAX_SEARCH_SIZE} {noun}. Please use pagination.", str(size))]
        )
    if start < 0 or size < 0:
        raise BadRequest("Query parameters 'start' and 'size' must not be negative")
    return {
        "start": start,
        "size": size,
        "sort": request.query_params.get("sort"),
        # A missing freeText is Conductor's default "*"; an empty one means the same here.
        "free_text": request.query_params.get("freeText", "*"),
        "query": request.query_params.get("query"),
    }


def _search_result(total: int, results: list[dict[str, Any]]) -> Response:
    return Response({"totalHits": total, "results": results})


class _StartsWorkflowOnPost(ConductorView):
    """``POST /api/workflow/search`` (and the other literal paths here) is, for Conductor, a
    start of the workflow *named* "search" (``POST /api/workflow/{name}``): Spring picks the
    route by method and path together. Django routes by path alone, so these views hand POST on."""

    literal = ""

    def post(self, request: Request) -> HttpResponse:
        return views_workflow.WorkflowView().post(request, self.literal)


class WorkflowSearchView(_StartsWorkflowOnPost):
    literal = "search"
    by_tasks = False
    full = False  # -v2: Workflow documents instead of summaries

    def get(self, request: Request) -> Response:
        method = ("searchWorkflowsByTasks" if self.by_tasks else "searchWorkflows") + ("V2" if self.full else "")
        params = _search_params(request, method=method, noun="workflows")
        top_level_only = wire.query_bool(request, "topLevelOnly", False)
        fields = WORKFLOW_ROW_FIELDS if self.full else summaries.WORKFLOW_SUMMARY_FIELDS
        try:
            page = search.search_workflows(
                **params, fields=fields, by_tasks=self.by_tasks, top_level_only=top_level_only
            )
        except QueryError as exc:
            raise BadRequest(exc.message) from None
        if self.full:
            results = [executions.workflow_json(row) for row in page.rows]
        else:
            classifiers = definitions.snapshot_classifiers(snapshot_keys=(row["snapshot_id"] for row in page.rows))
            results = summaries.workflow_summaries(page.rows, classifiers)
        return _search_result(page.total, results)


class WorkflowSearchV2View(WorkflowSearchView):
    literal = "search-v2"
    full = True


class WorkflowSearchByTasksView(WorkflowSearchView):
    literal = "search-by-tasks"
    by_tasks = True


class WorkflowSearchByTasksV2View(WorkflowSearchView):
    literal = "search-by-tasks-v2"
    by_tasks = True
    full = True


class TaskSearchView(ConductorView):
    full = False

    def get(self, request: Request) -> Response:
        params = _search_params(request, method="search" + ("V2" if self.full else ""), noun="tasks")
        fields = TASK_ROW_FIELDS if self.full else summaries.TASK_SUMMARY_FIELDS
        try:
            page = search.search_tasks(**params, fields=fields)
        except QueryError as exc:
            raise BadRequest(exc.message) from None
        if self.full:
            results = task_documents(page.rows)
        else:
            now = now_ms()
            results = [summaries.task_summary(row, now=now) for row in page.rows]
        return _search_result(page.total, results)


class TaskSearchV2View(TaskSearchView):
    full = True


class RunningWorkflowsView(ConductorView):
    """``GET /api/workflow/running/{name}``; see ``search.running_workflow_ids`` for
    Conductor's two readings (version is ignored without a time range, as in Conductor)."""

    def get(self, request: Request, name: str) -> Response:
        version = wire.query_int(request, "version", 1)
        ids = search.running_workflow_ids(
            name=name,
            version=1 if version is None else version,
            start_time=wire.query_int(request, "startTime"),
            end_time=wire.query_int(request, "endTime"),
        )
        return Response(ids)


def _correlated_documents(
    request: Request, name: str, correlation_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    include_tasks = wire.query_bool(request, "includeTasks", False)
    found = search.correlated_workflows(
        name=name,
        correlation_ids=correlation_ids,
        include_closed=wire.query_bool(request, "includeClosed", False),
        include_tasks=include_tasks,
    )
    return {
        cid: [executions.workflow_json(row, tasks) for row, tasks in pairs] for cid, pairs in found.items()
    }


class CorrelatedView(ConductorView):
    """``GET /api/workflow/{name}/correlated/{correlationId}``: the workflows of ``name`` with
    that correlation id; only RUNNING ones unless ``includeClosed``, tasks only when
    ``includeTasks`` (both default false)."""

    def get(self, request: Request, name: str, correlation_id: str) -> Response:
        return Response(_correlated_documents(request, name, [correlation_id])[correlation_id])


class CorrelatedBatchView(ConductorView):
    """``POST /api/workflow/{name}/correlated`` with a JSON array of correlation ids: an object
    mapping each id to its workflows (an empty array when none)."""

    def post(self, request: Request, name: str) -> Response:
        body = wire.read_json_array(request, "a list of correlation ids")
        if not all(isinstance(item, str) for item in body):
            raise BadRequest("Request body must be a JSON array of strings (correlation ids)")
        return Response(_correlated_documents(request, name, body))
