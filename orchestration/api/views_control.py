"""``/api/workflow``: control operations, their bulk forms, per-workflow reads and the
synchronous start.

Answers as Conductor's resource does: ``void`` operations 200 with an empty body (typed), the
three its resource forces to 204 (restart, retry, resetcallbacks) 204, rerun the workflow id as
text/plain. Bulk operations answer 200 with a BulkResponse whatever happens to each id.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.execution_documents import task_document, workflow_document
from orchestration.api.renderers import ConductorView, empty, no_content, text
from orchestration.definitions.validation import FieldError, validate_start_request
from orchestration.documents import executions
from orchestration.errors import BadRequest, DefinitionError, ServiceError
from orchestration.selectors import blocking, tasks, workflows
from orchestration.services import control
from orchestration.services.workflows import workflow_start

log = logging.getLogger(__name__)

MAX_BULK_IDS = 1000
# Conductor's query integers are Java ints: larger values are refused, not passed to the database.
JAVA_INT_MAX = 2**31 - 1
RETURN_STRATEGIES = ("TARGET_WORKFLOW", "BLOCKING_WORKFLOW", "BLOCKING_TASK", "BLOCKING_TASK_INPUT")


def _int_query(request: Request, name: str, default: int) -> int:
    value = wire.query_int(request, name, default)
    value = default if value is None else value
    if not 0 <= value <= JAVA_INT_MAX:
        raise BadRequest(f"Invalid value for query parameter '{name}': {value} is not between 0 and {JAVA_INT_MAX}")
    return value


def actor_of(request: Request) -> str:
    """Who asks, for the history: ``api:<key or user name>`` for an authenticated caller (the
    security middleware's principal), plain ``api`` when authentication is off."""
    principal = getattr(request, "baton_principal", None)
    if getattr(principal, "kind", None) in ("key", "session") and getattr(principal, "name", None):
        return f"api:{principal.name}"
    return "api"


# --- single workflow ------------------------------------------------------------------------------


def terminate(request: Request, workflow_id: str) -> HttpResponse:
    """``DELETE /api/workflow/{id}?reason=``. Served by the core ``/api/workflow/{x}`` view (its
    GET reads, its POST starts): Django routes on the path alone, so that view owns the path."""
    control.workflow_terminate(workflow_id=workflow_id, reason=wire.query_str(request, "reason"), actor=actor_of(request))
    return empty()


class WorkflowStatusView(ConductorView):
    def get(self, request: Request, workflow_id: str) -> Response:
        include_output = wire.query_bool(request, "includeOutput", False)
        include_variables = wire.query_bool(request, "includeVariables", False)
        found = workflows.workflow_status(workflow_id=workflow_id)
        body: dict[str, Any] = {"workflowId": workflow_id}
        if found.correlation_id is not None:
            body["correlationId"] = found.correlation_id
        if include_output:
            body["output"] = found.output
        if include_variables:
            body["variables"] = found.variables
        body["status"] = found.status
        return Response(body)


def _status_filter(request: Request) -> list[str]:
    # Spring binds ``status=A&status=B`` and ``status=A,B`` alike; Conductor compares upper-cased.
    values = [part.strip().upper() for value in request.query_params.getlist("status") for part in value.split(",")]
    return [v for v in values if v]


class WorkflowTasksView(ConductorView):
    """The workflow's tasks (every attempt, in seq order) as a page: ``SearchResult<Task>``."""

    def get(self, request: Request, workflow_id: str) -> Response:
        start = _int_query(request, "start", 0)
        count = _int_query(request, "count", 15)
        page = tasks.workflow_tasks_page(
            workflow_id=workflow_id, statuses=_status_filter(request), start=start, count=count
        )
        results = [executions.task_json(row, page.workflow) for row in page.rows]
        return Response({"totalHits": page.total, "results": results})


class RemoveView(ConductorView):
    def delete(self, request: Request, workflow_id: str) -> HttpResponse:
        archive = wire.query_bool(request, "archiveWorkflow", True)
        control.workflow_remove(workflow_id=workflow_id, archive=archive, actor=actor_of(request))
        return empty()


class TerminateRemoveView(ConductorView):
    def delete(self, request: Request, workflow_id: str) -> HttpResponse:
        control.workflow_terminate_remove(
            workflow_id=workflow_id,
            reason=wire.query_str(request, "reason"),
            archive=wire.query_bool(request, "archiveWorkflow", True),
            actor=actor_of(request),
        )
        return empty()


class PauseView(ConductorView):
    def put(self, request: Request, workflow_id: str) -> HttpResponse:
        control.workflow_pause(workflow_id=workflow_id, actor=actor_of(request))
        return empty()


class ResumeView(ConductorView):
    def put(self, request: Request, workflow_id: str) -> HttpResponse:
        control.workflow_resume(workflow_id=workflow_id, actor=actor_of(request))
        return empty()


class DecideView(ConductorView):
    def put(self, request: Request, workflow_id: str) -> HttpResponse:
        control.workflow_decide_now(workflow_id=workflow_id, actor=actor_of(request))
        return empty()


class RestartView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        latest = wire.query_bool(request, "useLatestDefinitions", False)
        control.workflow_restart(workflow_id=workflow_id, use_latest_definitions=latest, actor=actor_of(request))
        return no_content()


class RetryView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        resume = wire.query_bool(request, "resumeSubworkflowTasks", False)
        control.workflow_retry(workflow_id=workflow_id, resume_subworkflow_tasks=resume, actor=actor_of(request))
        return no_content()


class ResetCallbacksView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        control.workflow_reset_callbacks(workflow_id=workflow_id, actor=actor_of(request))
        return no_content()


def _optional_object(body: dict[str, Any], key: str, what: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"{key} must be a JSON object ({what}), got {wire.json_kind(value)}")
    return value


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key} must be a string, got {wire.json_kind(value)}")
    return value


class RerunView(ConductorView):
    """Body: RerunWorkflowRequest ``{reRunFromTaskId, taskInput, workflowInput, correlationId}``
    (``reRunFromWorkflowId`` is the path's, as in Conductor). Answers the same id, text/plain."""

    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        body = wire.read_json_object(request, "a RerunWorkflowRequest")
        rerun_id = control.workflow_rerun(
            workflow_id=workflow_id,
            rerun_from_task_id=_optional_string(body, "reRunFromTaskId"),
            task_input=_optional_object(body, "taskInput", "the task's new input"),
            workflow_input=_optional_object(body, "workflowInput", "the workflow's new input"),
            correlation_id=_optional_string(body, "correlationId"),
            actor=actor_of(request),
        )
        return text(rerun_id)


def _skip_part(request: Request, name: str) -> dict[str, Any] | None:
    """``taskInput`` / ``taskOutput`` from the query string, as Spring binds a SkipTaskRequest:
    a JSON object (``taskInput={...}``) or one entry per parameter (``taskInput[k]=v`` or
    ``taskInput.k=v``; values are strings)."""
    found: dict[str, Any] | None = None
    raw = wire.query_str(request, name)
    if raw is not None:
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise BadRequest(f"Query parameter '{name}' must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise BadRequest(f"Query parameter '{name}' must be a JSON object")
        found = dict(parsed)
    for key, value in request.query_params.items():
        entry = None
        if key.startswith(f"{name}[") and key.endswith("]"):
            entry = key[len(name) + 1 : -1]
        elif key.startswith(f"{name}."):
            entry = key[len(name) + 1 :]
        if entry:
            found = {**(found or {}), entry: value}
    return found


class SkipTaskView(ConductorView):
    """Conductor binds the SkipTaskRequest from the query/form (its JSON body is ignored);
    Baton reads both, the optional JSON body ``{taskInput, taskOutput}`` winning."""

    def put(self, request: Request, workflow_id: str, ref: str) -> HttpResponse:
        task_input = _skip_part(request, "taskInput")
        task_output = _skip_part(request, "taskOutput")
        body = wire.read_json(request, required=False)
        if body is not None:
            if not isinstance(body, dict):
                raise BadRequest(f"Request body must be a JSON object (a SkipTaskRequest), got {wire.json_kind(body)}")
            task_input = _optional_object(body, "taskInput", "the skipped task's input") or task_input
            task_output = _optional_object(body, "taskOutput", "the skipped task's output") or task_output
        control.task_skip(
            workflow_id=workflow_id, task_reference_name=ref, task_input=task_input, task_output=task_output,
            actor=actor_of(request),
        )
        return empty()


# --- bulk -----------------------------------------------------------------------------------------------


def read_workflow_ids(request: Request, operation: str) -> list[str]:
    body = wire.read_json_array(request, "a list of workflow ids")
    path = f"{operation}.workflowIds"
    if not body:
        raise DefinitionError([FieldError(path, "WorkflowIds list cannot be null.")])
    if len(body) > MAX_BULK_IDS:
        raise DefinitionError([FieldError(path, "Cannot process more than 1000 workflows. Please use multiple requests.")])
    ids = []
    for value in body:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequest(f"Workflow ids must be strings, got {wire.json_kind(value)}")
        ids.append(str(value))  # Jackson reads a number in a List<String> as its text
    return ids


def _error_message(error: Exception) -> str:
    if isinstance(error, ServiceError):
        return error.message
    if isinstance(error, DefinitionError):
        return str(error)
    log.exception("bulk operation failed for one workflow", exc_info=error)
    return str(error) or error.__class__.__name__


class BulkView(ConductorView):
    """One control operation over a list of ids; each id is its own transaction, and its error
    (if any) is reported in ``bulkErrorResults`` instead of failing the request."""

    operation: ClassVar[str] = ""
    steps: ClassVar[tuple[Callable[[Request, str], Any], ...]] = ()

    def handle(self, request: Request) -> Response:
        ids = read_workflow_ids(request, self.operation)
        errors: dict[str, str] = {}
        successes: list[Any] = []
        for workflow_id in ids:
            # Each step on its own, as Conductor's bulk terminate-remove: a workflow that cannot be
            # terminated (COMPLETED) is still removed, and reported under both outcomes.
            succeeded, outcome = False, None
            for step in self.steps:
                try:
                    outcome = step(request, workflow_id)
                except Exception as error:  # per id, never for the whole request
                    errors[workflow_id] = _error_message(error)
                else:
                    succeeded = True
            if succeeded:
                successes.append(outcome if outcome is not None else workflow_id)
        return Response({"bulkErrorResults": errors, "bulkSuccessfulResults": successes})


def _step(call: Callable[..., Any], **from_query: tuple[str, Any]) -> Callable[[Request, str], Any]:
    """A bulk step calling a service with the id and the named query parameters."""

    def run(request: Request, workflow_id: str) -> None:
        kwargs: dict[str, Any] = {}
        for keyword, (param, default) in from_query.items():
            if isinstance(default, bool):
                kwargs[keyword] = wire.query_bool(request, param, default)
            else:
                kwargs[keyword] = wire.query_str(request, param)
        call(workflow_id=workflow_id, actor=actor_of(request), **kwargs)

    return run


def _search_step(request: Request, workflow_id: str) -> dict[str, Any]:
    return workflow_document(workflow_id, include_tasks=wire.query_bool(request, "includeTasks", True))


def bulk_view(operation: str, method: str, *steps: Callable[[Request, str], Any]) -> Callable[..., Any]:
    def dispatch_method(self: BulkView, request: Request) -> Response:
        return self.handle(request)

    attrs = {"operation": operation, "steps": steps, method: dispatch_method}
    return type(f"Bulk_{operation}", (BulkView,), attrs).as_view()


BULK_VIEWS: dict[str, Callable[..., Any]] = {
    "pause": bulk_view("pauseWorkflow", "put", _step(control.workflow_pause)),
    "resume": bulk_view("resumeWorkflow", "put", _step(control.workflow_resume)),
    "restart": bulk_view(
        "restart", "post", _step(control.workflow_restart, use_latest_definitions=("useLatestDefinitions", False))
    ),
    "retry": bulk_view("retry", "post", _step(control.workflow_retry)),
    "terminate": bulk_view("terminate", "post", _step(control.workflow_terminate, reason=("reason", None))),
    "remove": bulk_view("deleteWorkflow", "delete", _step(control.workflow_remove, archive=("archiveWorkflow", True))),
    "terminate-remove": bulk_view(
        "terminateRemove",
        "delete",
        _step(control.workflow_terminate, reason=("reason", None)),
        _step(control.workflow_remove, archive=("archiveWorkflow", True)),
    ),
    "search": bulk_view("searchWorkflow", "post", _search_step),
}


# --- synchronous start ----------------------------------------------------------------------------------


class ExecuteView(ConductorView):
    """``POST /api/workflow/execute/{name}/{version}``: start, wait (``waitForSeconds``, default
    10) until the workflow ends or blocks, answer a SignalResponse (WorkflowRun or TaskRun)."""

    def post(self, request: Request, name: str, version: str) -> Response:
        number = wire.path_int(version, "version")
        request_id = wire.query_str(request, "requestId") or str(uuid.uuid4())
        refs = [r.strip() for r in (wire.query_str(request, "waitUntilTaskRef") or "").split(",") if r.strip()]
        wait = _int_query(request, "waitForSeconds", 10) or 10  # Conductor: 0 means the default
        strategy = (wire.query_str(request, "returnStrategy") or "TARGET_WORKFLOW").upper()
        if strategy not in RETURN_STRATEGIES:
            raise BadRequest(f"returnStrategy must be one of {', '.join(RETURN_STRATEGIES)}")
        body = wire.read_json(request, required=False)
        if body is not None and not isinstance(body, dict):
            raise BadRequest(f"Request body must be a JSON object (a StartWorkflowRequest), got {wire.json_kind(body)}")
        body = {**(body or {}), "name": name}
        body.pop("version", None)
        errors = validate_start_request(body, owner_email_mandatory=bool(settings.BATON["OWNER_EMAIL_MANDATORY"]))
        if errors:
            raise DefinitionError(errors)
        workflow_id = workflow_start(
            name=name,
            version=number or None,  # 0: the latest version
            input=body.get("input", {}),
            correlation_id=body.get("correlationId"),
            priority=int(body.get("priority") or 0),
            task_to_domain=body.get("taskToDomain") or {},
            workflow_def=body.get("workflowDef"),
            extra={k: body[k] for k in ("externalInputPayloadStoragePath", "createdBy", "idempotencyKey") if body.get(k) is not None},
        )
        outcome = blocking.wait_for_signal(workflow_id=workflow_id, task_refs=refs, timeout_seconds=wait)
        target = workflow_document(workflow_id)
        common = {
            "responseType": strategy, "targetWorkflowId": workflow_id, "targetWorkflowStatus": target["status"],
            "requestId": request_id,
        }
        if strategy in ("BLOCKING_TASK", "BLOCKING_TASK_INPUT") and outcome.blocking_tasks:
            return Response(_task_run(task_document(outcome.blocking_tasks[0]), common, outcome.timed_out))
        shown = target
        if strategy == "BLOCKING_WORKFLOW" and outcome.blocking_workflow_id not in (None, workflow_id):
            shown = workflow_document(outcome.blocking_workflow_id)
        return Response(_workflow_run(shown, common, outcome.timed_out))


def _workflow_run(doc: dict[str, Any], common: dict[str, Any], timed_out: bool) -> dict[str, Any]:
    run = {
        **common, "workflowId": doc["workflowId"], "correlationId": doc.get("correlationId"), "input": doc["input"],
        "output": doc["output"], "signalTimeout": timed_out, "priority": doc["priority"], "variables": doc["variables"],
        "tasks": doc["tasks"], "createdBy": doc.get("createdBy"), "createTime": doc["createTime"],
        "status": doc["status"], "updateTime": doc["updateTime"],
    }
    return {k: v for k, v in run.items() if v is not None}


def _task_run(task: dict[str, Any], common: dict[str, Any], timed_out: bool) -> dict[str, Any]:
    run = {
        **common, "workflowId": task["workflowInstanceId"], "correlationId": task.get("correlationId"),
        "input": task["inputData"], "output": task["outputData"], "signalTimeout": timed_out,
        "taskType": task["taskType"], "taskId": task["taskId"], "referenceTaskName": task["referenceTaskName"],
        "retryCount": task["retryCount"], "taskDefName": task["taskDefName"], "retriedTaskId": task.get("retriedTaskId"),
        "workflowType": task.get("workflowType"), "reasonForIncompletion": task.get("reasonForIncompletion"),
        "priority": task["workflowPriority"], "createdBy": task.get("workerId"), "createTime": task["startTime"],
        "updateTime": task["updateTime"], "status": task["status"],
    }
    return {k: v for k, v in run.items() if v is not None}
