"""``/api/tasks``: polling, task results, reading a task (reference §1.3, §2.7, §4.9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, no_content, text
from orchestration.conductor.json_types import fits_java_type, java_type_error
from orchestration.definitions.validation import FieldError
from orchestration.services.errors import DefinitionError
from orchestration.services.polling import task_poll
from orchestration.services.tasks import UPDATE_STATUSES, task_update

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
    task that is already terminal changes nothing and still answers 200 (reference §1.3)."""

    def post(self, request: Request) -> HttpResponse:
        body = wire.read_json_object(request, "a TaskResult")
        errors = task_result_errors(body)
        if errors:
            raise DefinitionError(errors)
        extend_lease = bool(body.get("extendLease"))
        task_update(
            task_id=body["taskId"],
            workflow_id=body["workflowInstanceId"],
            # A lease extension only refreshes updateTime; its status is irrelevant.
            status=body.get("status") or "IN_PROGRESS",
            # TaskResult.outputData defaults to {} and replaces the task's output (§2.7).
            output=body.get("outputData") or {},
            reason=body.get("reasonForIncompletion"),
            worker_id=body.get("workerId"),
            callback_after_seconds=int(body.get("callbackAfterSeconds") or 0),
            logs=log_lines(body.get("logs")),
            extend_lease=extend_lease,
        )
        return text(body["taskId"])


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
        docs = wire.tasks_json(rows)
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
        return Response(wire.tasks_json(rows))


class TaskView(ConductorView):
    def get(self, request: Request, task_id: str) -> Response:
        return Response(wire.task_document(task_id))


class AckView(ConductorView):
    """POST /api/tasks/{taskId}/ack: Netflix 2.x clients ack every polled task; Conductor 3+
    acks at poll time and removed the endpoint. A no-op that says ``true``."""

    def post(self, request: Request, task_id: str) -> HttpResponse:
        return text("true")
