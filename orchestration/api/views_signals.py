"""``/api/tasks/{workflowId}/{status}/signal[/sync]``: complete (or fail) what a workflow is
blocked on, a WAIT or HUMAN task, there or in a running sub-workflow."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.execution_documents import task_document, workflow_document
from orchestration.api.renderers import ConductorView, empty
from orchestration.engine.state import TERMINAL_WORKFLOW
from orchestration.errors import BadRequest, NotFound
from orchestration.selectors import open_tasks, workflows
from orchestration.services import tasks as task_services


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
        status = workflows.current_status(workflow_id=workflow_id)
        blocked = open_tasks.blocked_task(workflow_id=workflow_id)
        if status is None or status in TERMINAL_WORKFLOW or blocked is not None:
            return blocked, False
        if time.monotonic() >= deadline:
            return None, True
        time.sleep(SIGNAL_CHECK_INTERVAL_S)


def _signal_response(
    workflow_id: str, blocked: dict[str, Any] | None, strategy: str, timed_out: bool
) -> dict[str, Any]:
    target = workflow_document(workflow_id)
    common = {
        "responseType": strategy,
        "targetWorkflowId": target["workflowId"],
        "targetWorkflowStatus": target["status"],
        "requestId": str(uuid.uuid4()),
        "signalTimeout": timed_out,
    }
    if blocked is not None and strategy in ("BLOCKING_TASK", "BLOCKING_TASK_INPUT"):
        task = task_document(blocked)
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
        doc = workflow_document(blocked["workflow_id"])
    run = {
        **common, "workflowId": doc["workflowId"], "correlationId": doc.get("correlationId"), "input": doc["input"],
        "output": doc["output"], "priority": doc["priority"], "variables": doc["variables"], "tasks": doc["tasks"],
        "createdBy": doc.get("createdBy"), "createTime": doc["createTime"], "status": doc["status"],
        "updateTime": doc["updateTime"],
    }
    return {k: v for k, v in run.items() if v is not None}
