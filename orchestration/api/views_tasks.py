"""``/api/tasks``: polling, task results (by id, with the next poll, by reference name), reading
a task, a task's log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.execution_documents import task_documents, workflow_document
from orchestration.api.renderers import ConductorView, empty, no_content, text
from orchestration.conductor.json_types import fits_java_type, java_type_error
from orchestration.definitions.model import SYSTEM_TASK_TYPES
from orchestration.definitions.validation import FieldError
from orchestration.documents import executions
from orchestration.engine.results import RESULT_STATUSES as UPDATE_STATUSES
from orchestration.errors import BadRequest, DefinitionError, NotFound
from orchestration.selectors import open_tasks
from orchestration.selectors import tasks as task_selectors
from orchestration.services import tasks as task_services
from orchestration.services.polling import task_poll

# Conductor's single poll is a batch poll of one with a 100 ms long-poll (ExecutionService).
SINGLE_POLL_TIMEOUT_MS = 100

# TaskResult fields Baton reads, with their JSON types; unknown fields are ignored.
_TASK_RESULT_TYPES: dict[str, str] = {
    "workflowInstanceId": "str", "taskId": "str", "reasonForIncompletion": "str", "callbackAfterSeconds": "long",
    "workerId": "str", "status": "str", "outputData": "dict", "logs": "list", "extendLease": "bool",
}
_STATUS_NAMES = ", ".join(sorted(UPDATE_STATUSES))


def task_result_errors(body: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for field, java_type in _TASK_RESULT_TYPES.items():
        value = body.get(field)
        if value is not None and not fits_java_type(value, java_type):
            errors.append(FieldError(f"taskResult.{field}", java_type_error(field, java_type), value))
    # TaskResult's bean constraints, with Conductor's messages.
    if not body.get("workflowInstanceId"):
        errors.append(FieldError("taskResult.workflowInstanceId", "Workflow Id cannot be null or empty"))
    if not body.get("taskId"):
        errors.append(FieldError("taskResult.taskId", "Task ID cannot be null or empty"))
    status = body.get("status")
    if not body.get("extendLease") and isinstance(status, str | type(None)) and status not in UPDATE_STATUSES:
        errors.append(FieldError("taskResult.status", f"status must be one of {_STATUS_NAMES}", status))
    return errors


def log_lines(logs: list[Any] | None) -> list[str]:
    """TaskExecLog entries (``{log, taskId, createdTime}``) as the lines to append; plain
    strings are accepted too."""
    lines = []
    for entry in logs or ():
        line = entry.get("log") if isinstance(entry, Mapping) else entry
        if line is not None:
            lines.append(line if isinstance(line, str) else str(line))
    return lines


class TaskUpdateView(ConductorView):
    """POST /api/tasks with a TaskResult; answers the task id as text/plain. A result for a
    task that is already terminal changes nothing and still answers 200."""

    def post(self, request: Request) -> HttpResponse:
        body, _ = apply_task_result(request)
        return text(body["taskId"])


def apply_task_result(request: Request) -> tuple[dict[str, Any], task_services.UpdateResult]:
    """Parse a TaskResult body, check it, and apply it; the body and what the update did."""
    body = wire.read_json_object(request, "a TaskResult")
    errors = task_result_errors(body)
    if errors:
        raise DefinitionError(errors)
    result = task_services.task_update(
        task_id=body["taskId"],
        workflow_id=body["workflowInstanceId"],
        # A lease extension only refreshes updateTime; its status is irrelevant.
        status=body.get("status") or "IN_PROGRESS",
        # TaskResult.outputData defaults to {} and replaces the task's output.
        output=body.get("outputData") or {},
        reason=body.get("reasonForIncompletion"),
        worker_id=body.get("workerId"),
        callback_after_seconds=int(body.get("callbackAfterSeconds") or 0),
        logs=log_lines(body.get("logs")),
        extend_lease=bool(body.get("extendLease")),
    )
    return body, result


def request_worker_id(request: Request) -> str | None:
    return wire.query_str(request, "workerid") or wire.query_str(request, "workerId")


class PollView(ConductorView):
    """GET /api/tasks/poll/{tasktype}: one task, or 204 when none is available."""

    def get(self, request: Request, tasktype: str) -> HttpResponse:
        rows = task_poll(
            task_type=tasktype,
            worker_id=request_worker_id(request),
            domain=wire.query_str(request, "domain"),
            count=1,
            timeout_ms=SINGLE_POLL_TIMEOUT_MS,
        )
        docs = task_documents(rows)
        if not docs:
            return no_content()
        return Response(docs[0])


class BatchPollView(ConductorView):
    """GET /api/tasks/poll/batch/{tasktype}: a list, ``[]`` when empty (never 204)."""

    def get(self, request: Request, tasktype: str) -> Response:
        rows = task_poll(
            task_type=tasktype,
            worker_id=request_worker_id(request),
            domain=wire.query_str(request, "domain"),
            count=wire.query_int(request, "count", 1) or 0,
            timeout_ms=wire.query_int(request, "timeout", SINGLE_POLL_TIMEOUT_MS) or 0,
        )
        return Response(task_documents(rows))


class TaskView(ConductorView):
    def get(self, request: Request, task_id: str) -> Response:
        found = task_selectors.task_with_workflow(task_id=task_id)
        return Response(executions.task_json(found.task, found.workflow))


class AckView(ConductorView):
    """POST /api/tasks/{taskId}/ack: Netflix 2.x clients ack every polled task; Conductor 3+
    acks at poll time and removed the endpoint. A no-op that says ``true``."""

    def post(self, request: Request, task_id: str) -> HttpResponse:
        return text("true")


# --- a result and the next task -----------------------------------------------------------------


class UpdateV2View(ConductorView):
    """POST /api/tasks/update-v2: apply a TaskResult, then hand the same worker the next task of
    the same type and domain. 204 when the task is not terminal after the update (IN_PROGRESS,
    lease extension) or when nothing is waiting. A result for a task that was already terminal
    changes nothing and still polls, as Conductor's does."""

    def post(self, request: Request) -> HttpResponse:
        body, result = apply_task_result(request)
        if body.get("extendLease") or (result.applied and not result.terminal):
            return no_content()
        found = result.queue or task_selectors.task_queue(task_id=result.task_id)
        # Never hand a system task's queue to a REST worker, whatever it reported on.
        if found is None or found[0] in SYSTEM_TASK_TYPES:
            return no_content()
        rows = task_poll(
            task_type=found[0], worker_id=body.get("workerId"), domain=found[1], count=1,
            timeout_ms=SINGLE_POLL_TIMEOUT_MS,
        )
        docs = task_documents(rows)
        return Response(docs[0]) if docs else no_content()


# --- results by reference name ------------------------------------------------------------------


class UpdateByRefView(ConductorView):
    """POST /api/tasks/{workflowId}/{taskRefName}/{status}: the body (an output map) is merged
    into the task's output. Answers the task id as text, or an empty 200 when the workflow has
    no open task with that reference name."""

    def post(self, request: Request, workflow_id: str, ref: str, status: str) -> HttpResponse:
        output = wire.read_json_object(request, "the task output")
        task_id = task_services.task_update_by_ref(
            workflow_id=workflow_id, ref=ref, status=status, output=output, worker_id=request_worker_id(request)
        )
        return text(task_id) if task_id else empty()


class UpdateByRefSyncView(ConductorView):
    """POST /api/tasks/{workflowId}/{taskRefName}/{status}/sync: the same, answering the
    workflow as it is after the update (and the decide it triggers)."""

    def post(self, request: Request, workflow_id: str, ref: str, status: str) -> Response:
        output = wire.read_json_object(request, "the task output")
        task_id = task_services.task_update_by_ref(
            workflow_id=workflow_id, ref=ref, status=status, output=output, worker_id=request_worker_id(request)
        )
        if task_id is None:
            raise NotFound(f"Found no running task {ref} of workflow {workflow_id} to update")
        return Response(workflow_document(workflow_id))


# --- task logs ----------------------------------------------------------------------------------


class TaskLogView(ConductorView):
    """POST /api/tasks/{taskId}/log stores the raw body as one line (a JSON string keeps its
    quotes, as in Conductor); GET lists them, 204 when there are none (Conductor OSS)."""

    def post(self, request: Request, task_id: str) -> HttpResponse:
        raw = request.body
        if not raw:
            raise BadRequest("Required request body is missing")
        line = raw.decode("utf-8", errors="replace")
        if "\x00" in line:  # PostgreSQL text cannot hold it; refuse it on every database alike
            raise BadRequest("A log line must not contain the NUL character")
        task_services.task_log_append(task_id=task_id, line=line)
        return empty()

    def get(self, request: Request, task_id: str) -> HttpResponse:
        logs = open_tasks.task_logs(task_id=task_id)
        return Response(logs) if logs else no_content()
