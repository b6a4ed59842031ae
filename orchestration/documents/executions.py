"""The Task and Workflow documents, from the rows selectors read: a task row (``id``,
``workflow_id`` and ``models.TASK_FIELDS``), its workflow's info (``id``, ``name``,
``correlation_id``, ``snapshot_id``), a workflow row (``id``, ``snapshot_id`` and
``models.WORKFLOW_FIELDS``). The definition parts come from the workflow's frozen snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestration.clock import now_ms
from orchestration.conductor.loop_refs import base_ref
from orchestration.conductor.queues import queue_wait_time
from orchestration.definitions.model import SYSTEM_TASK_TYPES
from orchestration.documents.definitions import snapshot_view, workflow_task_json


def _workflow_task_for(row: Mapping[str, Any], nodes: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    extra = row.get("extra") or {}
    if isinstance(extra.get("workflowTask"), dict):  # runtime-made tasks (dynamic forks) carry their own
        return workflow_task_json(extra["workflowTask"])
    node = nodes.get(base_ref(row["ref"], row["iteration"]))
    if node is not None:
        return node
    task_type = row["task_type"]
    return workflow_task_json(
        {
            "name": row["task_def_name"] or task_type,
            "taskReferenceName": row["ref"],
            "type": task_type if task_type in SYSTEM_TASK_TYPES else "SIMPLE",
        }
    )


def task_json(row: Mapping[str, Any], workflow: Mapping[str, Any], *, now: int | None = None) -> dict[str, Any]:
    """A Task document from a task row and its workflow's info (or whole row)."""
    view = snapshot_view(workflow["snapshot_id"])
    workflow_task = _workflow_task_for(row, view.nodes)
    task_def = workflow_task.get("taskDefinition")
    task_type = row["task_type"]
    worker = task_type not in SYSTEM_TASK_TYPES
    output = row["output"]
    # Conductor copies rate limits from the TaskDef onto worker tasks only (SimpleTaskMapper).
    limits = task_def if worker and task_def is not None else {}
    rate_per_frequency = limits.get("rateLimitPerFrequency") or 0
    rate_frequency = (limits.get("rateLimitFrequencyInSeconds") or 1) if worker else 0
    doc: dict[str, Any] = {
        "taskType": task_type,
        "status": row["status"],
        "inputData": row["input"],
        "referenceTaskName": row["ref"],
        "retryCount": row["retry_count"],
        "seq": row["seq"],
        "correlationId": workflow.get("correlation_id"),
        "pollCount": row["poll_count"],
        "taskDefName": row["task_def_name"] or task_type,
        "scheduledTime": row["scheduled_time"],
        "startTime": row["start_time"],
        "endTime": row["end_time"],
        "updateTime": row["update_time"],
        "startDelayInSeconds": row["start_delay_seconds"],
        "retriedTaskId": row["retried_task_id"],
        "retried": row["retried"],
        "executed": row["executed"],
        "callbackFromWorker": True,
        "responseTimeoutSeconds": row["response_timeout_seconds"],
        "workflowInstanceId": row["workflow_id"],
        "workflowType": workflow.get("name"),
        "taskId": row["id"],
        "reasonForIncompletion": row["reason_for_incompletion"],
        "callbackAfterSeconds": row["callback_after_seconds"],
        "workerId": row["worker_id"],
        "outputData": output,
        "workflowTask": workflow_task,
        "domain": row["domain"],
        "rateLimitPerFrequency": rate_per_frequency,
        "rateLimitFrequencyInSeconds": rate_frequency,
        "workflowPriority": row["workflow_priority"],
        "iteration": row["iteration"],
        "subworkflowChanged": False,
        "firstStartTime": 0,  # declared by Conductor's Task, never set by its server
        "queueWaitTime": queue_wait_time(
            start_time=row["start_time"], scheduled_time=row["scheduled_time"], update_time=row["update_time"],
            callback_after_seconds=row["callback_after_seconds"], now=now if now is not None else now_ms(),
        ),
        "loopOverTask": row["iteration"] > 0,
    }
    if task_def is not None:
        doc["taskDefinition"] = task_def
        if worker:
            doc["executionNameSpace"] = task_def.get("executionNameSpace")
            doc["isolationGroupId"] = task_def.get("isolationGroupId")
    extra = row.get("extra") or {}
    for key, value in extra.items():
        # Conductor fields Baton does not model as columns (subWorkflowId, parentTaskId,
        # externalOutputPayloadStoragePath, ...); underscored keys are Baton's own bookkeeping.
        if key not in doc and key != "workflowTask" and not key.startswith("_"):
            doc[key] = value
    if doc.get("subWorkflowId") is None:
        # Task.getSubWorkflowId() falls back to the output, then the input.
        sub = (output or {}).get("subWorkflowId") or (row["input"] or {}).get("subWorkflowId")
        if sub is not None:
            doc["subWorkflowId"] = sub
    return {k: v for k, v in doc.items() if v is not None}


def tasks_json(rows: Iterable[Mapping[str, Any]], workflows: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Task documents for rows of any workflows, given each workflow's info by id; a row whose
    workflow is not given (removed meanwhile) is left out."""
    now = now_ms()
    return [task_json(r, workflows[r["workflow_id"]], now=now) for r in rows if r["workflow_id"] in workflows]


def workflow_json(workflow: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A Workflow document from a workflow row and its task rows (every attempt, retried ones
    included; none for a document without tasks)."""
    row = workflow
    view = snapshot_view(row["snapshot_id"])
    extra = row.get("extra") or {}
    now = now_ms()
    task_docs = [task_json(t, row, now=now) for t in sorted(tasks, key=lambda t: t["seq"])]
    definition = view.definition
    doc: dict[str, Any] = {
        "ownerApp": extra.get("ownerApp"),
        "createTime": row["create_time"],
        "updateTime": row["update_time"],
        "createdBy": extra.get("createdBy"),
        "updatedBy": extra.get("updatedBy"),
        "status": row["status"],
        "endTime": row["end_time"],
        "workflowId": row["id"],
        "parentWorkflowId": row["parent_workflow_id"],
        "parentWorkflowTaskId": row["parent_workflow_task_id"],
        "tasks": task_docs,
        "input": row["input"],
        "output": row["output"],
        "correlationId": row["correlation_id"],
        "reRunFromWorkflowId": extra.get("reRunFromWorkflowId"),
        "reasonForIncompletion": row["reason_for_incompletion"],
        "event": extra.get("event"),
        "taskToDomain": row["task_to_domain"],
        "failedReferenceTaskNames": row["failed_reference_task_names"],
        "workflowDefinition": definition,
        "externalInputPayloadStoragePath": extra.get("externalInputPayloadStoragePath"),
        "externalOutputPayloadStoragePath": extra.get("externalOutputPayloadStoragePath"),
        "priority": row["priority"],
        "variables": row["variables"],
        "lastRetriedTime": row["last_retried_time"],
        "failedTaskNames": row["failed_task_names"],
        "history": [],
        "idempotencyKey": extra.get("idempotencyKey"),
        "rateLimitKey": extra.get("rateLimitKey"),
        "rateLimited": bool(extra.get("rateLimited", False)),
        "startTime": row["create_time"],  # Conductor's alias getter of createTime
        "workflowName": definition.get("name", row["name"]),
        "workflowVersion": definition.get("version", row["version"]),
    }
    for key, value in extra.items():
        if key not in doc and not key.startswith("_"):
            doc[key] = value
    return {k: v for k, v in doc.items() if v is not None}
