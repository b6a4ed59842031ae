"""``/api/tasks`` beyond poll, update and get (reference §1.3): update-and-poll, results by
reference name, signals, task logs, queue sizes, poll data, requeue, external storage."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, empty, no_content, text
from orchestration.api.views_tasks import (
    SINGLE_POLL_TIMEOUT_MS,
    log_lines,
    request_worker_id,
    task_result_errors,
)
from orchestration.conductor import queues
from orchestration.definitions.model import SYSTEM_TASK_TYPES
from orchestration.engine.state import TERMINAL_WORKFLOW
from orchestration.models import Task, Workflow
from orchestration.services import polling
from orchestration.services import tasks as task_services
from orchestration.services.errors import BadRequest, DefinitionError, NotFound

# --- update-v2 ---------------------------------------------------------------------------------


class UpdateV2View(ConductorView):
    """POST /api/tasks/update-v2: apply a TaskResult, then hand the same worker the next task of
    the same type and domain. 204 when the task is not terminal after the update (IN_PROGRESS,
    lease extension) or when nothing is waiting. A result for a task that was already terminal
    changes nothing and still polls, as Conductor's does."""

    def post(self, request: Request) -> HttpResponse:
        body = wire.read_json_object(request, "a TaskResult")
        errors = task_result_errors(body)
        if errors:
            raise DefinitionError(errors)
        extend_lease = bool(body.get("extendLease"))
        result = task_services.task_update(
            task_id=body["taskId"],
            workflow_id=body["workflowInstanceId"],
            status=body.get("status") or "IN_PROGRESS",
            output=body.get("outputData") or {},
            reason=body.get("reasonForIncompletion"),
            worker_id=body.get("workerId"),
            callback_after_seconds=int(body.get("callbackAfterSeconds") or 0),
            logs=log_lines(body.get("logs")),
            extend_lease=extend_lease,
        )
        if extend_lease or (result.applied and not result.terminal):
            return no_content()
        found = result.queue or Task.objects.filter(pk=result.task_id).values_list("task_type", "domain").first()
        # Never hand a system task's queue to a REST worker, whatever it reported on.
        if found is None or found[0] in SYSTEM_TASK_TYPES:
            return no_content()
        rows = polling.task_poll(
            task_type=found[0], worker_id=body.get("workerId"), domain=found[1], count=1,
            timeout_ms=SINGLE_POLL_TIMEOUT_MS,
        )
        docs = wire.tasks_json(rows)
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
        return Response(wire.workflow_document(workflow_id))


# --- signals ------------------------------------------------------------------------------------


class SignalView(ConductorView):
    """POST /api/tasks/{workflowId}/{status}/signal: update the workflow's blocked WAIT/HUMAN
    task (or one in a running sub-workflow). 200 and no body, whether or not one was found."""

    def post(self, request: Request, workflow_id: str, status: str) -> HttpResponse:
        output = wire.read_json_object(request, "the task output")
        task_services.task_signal(workflow_id=workflow_id, status=status, output=output)
        return empty()


RETURN_STRATEGIES = ("TARGET_WORKFLOW", "BLOCKING_WORKFLOW", "BLOCKING_TASK", "BLOCKING_TASK_INPUT")
DEFAULT_SIGNAL_WAIT_MS = 5000
# Conductor sets no upper bound; one request holding a server thread for minutes helps nobody.
MAX_SIGNAL_WAIT_MS = 30_000
SIGNAL_CHECK_INTERVAL_S = 0.1


class SignalSyncView(ConductorView):
    """POST /api/tasks/{workflowId}/{status}/signal/sync: signal, then wait (``timeoutMillis``)
    until the workflow is terminal or blocked again, and answer a SignalResponse shaped by
    ``returnStrategy`` (WorkflowRun or TaskRun). 404 when nothing was blocked."""

    def post(self, request: Request, workflow_id: str, status: str) -> Response:
        strategy = wire.query_str(request, "returnStrategy") or "TARGET_WORKFLOW"
        if strategy not in RETURN_STRATEGIES:
            raise BadRequest(f"Invalid returnStrategy '{strategy}': must be one of {', '.join(RETURN_STRATEGIES)}")
        timeout_ms = wire.query_int(request, "timeoutMillis", DEFAULT_SIGNAL_WAIT_MS) or 0
        output = wire.read_json_object(request, "the task output")
        if task_services.task_signal(workflow_id=workflow_id, status=status, output=output) is None:
            raise NotFound(f"Found no blocked task in workflow {workflow_id} to signal")
        blocked, timed_out = _await_settled(workflow_id, min(max(timeout_ms, 0), MAX_SIGNAL_WAIT_MS))
        return Response(_signal_response(workflow_id, blocked, strategy, timed_out))


def _await_settled(workflow_id: str, timeout_ms: int) -> tuple[dict[str, Any] | None, bool]:
    """Wait until the workflow is terminal or has a blocked task: (that task or None, timed out)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        status = Workflow.objects.filter(pk=workflow_id).values_list("status", flat=True).first()
        blocked = task_services.blocked_task(workflow_id)
        if status is None or status in TERMINAL_WORKFLOW or blocked is not None:
            return blocked, False
        if time.monotonic() >= deadline:
            return None, True
        time.sleep(SIGNAL_CHECK_INTERVAL_S)


def _signal_response(
    workflow_id: str, blocked: dict[str, Any] | None, strategy: str, timed_out: bool
) -> dict[str, Any]:
    target = wire.workflow_document(workflow_id)
    common = {
        "responseType": strategy,
        "targetWorkflowId": target["workflowId"],
        "targetWorkflowStatus": target["status"],
        "requestId": str(uuid.uuid4()),
        "signalTimeout": timed_out,
    }
    if blocked is not None and strategy in ("BLOCKING_TASK", "BLOCKING_TASK_INPUT"):
        task = wire.task_json(blocked)
        run = {
            **common, "workflowId": task["workflowInstanceId"], "correlationId": task.get("correlationId"),
            "input": task["inputData"], "output": task["outputData"], "taskType": task["taskType"],
            "taskId": task["taskId"], "referenceTaskName": task["referenceTaskName"], "retryCount": task["retryCount"],
            "taskDefName": task["taskDefName"], "retriedTaskId": task.get("retriedTaskId"),
            "workflowType": task.get("workflowType"), "reasonForIncompletion": task.get("reasonForIncompletion"),
            "priority": task["workflowPriority"], "createdBy": task.get("workerId"), "createTime": task["startTime"],
            "updateTime": task["updateTime"], "status": task["status"],
        }
        return {k: v for k, v in run.items() if v is not None}
    # A task strategy with nothing blocked (terminal, or timed out) answers the target workflow;
    # Conductor fails there.
    doc = target
    if blocked is not None and strategy == "BLOCKING_WORKFLOW" and blocked["workflow_id"] != workflow_id:
        doc = wire.workflow_document(blocked["workflow_id"])
    run = {
        **common, "workflowId": doc["workflowId"], "correlationId": doc.get("correlationId"), "input": doc["input"],
        "output": doc["output"], "priority": doc["priority"], "variables": doc["variables"], "tasks": doc["tasks"],
        "createdBy": doc.get("createdBy"), "createTime": doc["createTime"], "status": doc["status"],
        "updateTime": doc["updateTime"],
    }
    return {k: v for k, v in run.items() if v is not None}


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
        logs = task_services.task_logs(task_id=task_id)
        return Response(logs) if logs else no_content()


# --- queues -------------------------------------------------------------------------------------


def _required(request: Request, name: str) -> str:
    value = wire.query_str(request, name)
    if value is None:
        raise BadRequest(f"Required request parameter '{name}' for method parameter type String is not present")
    return value


class QueueSizesView(ConductorView):
    """GET /api/tasks/queue/sizes?taskType=a&taskType=b (deprecated in Conductor): task type ->
    number of tasks waiting in its plain (domain-less) queue."""

    def get(self, request: Request) -> Response:
        names: list[str] = []
        for value in request.query_params.getlist("taskType"):
            # Spring binds ``taskType=a,b`` to a list of two, like repeated parameters.
            names.extend(part.strip() for part in value.split(",") if part.strip())
        return Response(polling.queue_sizes(names))


class QueueSizeView(ConductorView):
    """GET /api/tasks/queue/size?taskType=&domain=&isolationGroupId=&executionNamespace= -> int."""

    def get(self, request: Request) -> Response:
        queue_name = queues.full_queue_name(
            _required(request, "taskType"),
            domain=wire.query_str(request, "domain"),
            isolation_group_id=wire.query_str(request, "isolationGroupId"),
            execution_namespace=wire.query_str(request, "executionNamespace"),
        )
        return Response(polling.queue_size(queue_name))


class QueueAllView(ConductorView):
    """GET /api/tasks/queue/all: queue name -> size, sorted by name."""

    def get(self, request: Request) -> Response:
        return Response(polling.all_queue_sizes())


class QueueAllVerboseView(ConductorView):
    """GET /api/tasks/queue/all/verbose: queue -> shard -> {size, uacked}. One shard ("a", as
    Conductor's SQL backends answer); Baton never holds a worker task's message unacked."""

    def get(self, request: Request) -> Response:
        sizes = polling.all_queue_sizes()
        return Response({name: {"a": {"size": size, "uacked": 0}} for name, size in sizes.items()})


class PollDataView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(polling.poll_data(_required(request, "taskType")))


class PollDataAllView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(polling.poll_data())


class RequeueView(ConductorView):
    """POST /api/tasks/queue/requeue/{taskType}: text count of the tasks queued again."""

    def post(self, request: Request, task_type: str) -> HttpResponse:
        return text(str(polling.requeue_pending(task_type)))


# --- external payload storage --------------------------------------------------------------------

_OPERATIONS = ("READ", "WRITE")
_PAYLOAD_TYPES = ("WORKFLOW_INPUT", "WORKFLOW_OUTPUT", "TASK_INPUT", "TASK_OUTPUT")


class ExternalStorageLocationView(ConductorView):
    """GET /api/tasks/externalstoragelocation: Baton keeps every payload in its database and has
    no external payload storage to point at. Conductor's bad-argument answer (400) for invalid
    input, and a 400 that says so for valid input: a client that got a location would upload
    its payload somewhere Baton never reads it."""

    def get(self, request: Request) -> Response:
        _required(request, "path")
        operation = _required(request, "operation")
        payload_type = _required(request, "payloadType")
        if operation.upper() not in _OPERATIONS or payload_type.upper() not in _PAYLOAD_TYPES:
            raise BadRequest(f"Invalid input - Operation: {operation}, PayloadType: {payload_type}")
        raise BadRequest(
            "External payload storage is not supported: Baton stores every payload in its database. "
            "Raise the client's payload size thresholds instead."
        )
