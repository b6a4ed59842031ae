"""WorkflowSummary and TaskSummary documents (what Conductor's search endpoints return), built
from ``.values()`` rows.

Two things set summaries apart from the execution documents:

* times are strings, ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` in UTC. A WorkflowSummary leaves
  ``endTime`` out until the workflow ends; a TaskSummary formats every time, unset ones (0) as
  ``1970-01-01T00:00:00.000Z``, exactly as Conductor's constructors do;
* ``input`` and ``output`` are *strings*: by default Java's ``Map.toString()``
  (``{orderId=42, items=[a, b]}``), or compact JSON when Conductor's
  ``conductor.app.summary-input-output-json-serialization.enabled`` is on. Baton's switch is
  ``settings.BATON["SUMMARY_INPUT_OUTPUT_JSON"]`` (default False, Conductor's default).

Fields are emitted in the order of Conductor's classes; null fields are left out (Jackson
``NON_NULL``). WorkflowSummary also has the getter-only ``inputSize`` / ``outputSize``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from orchestration.conductor.java_text import java_string
from orchestration.conductor.queues import queue_wait_time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The row fields each summary reads.
WORKFLOW_SUMMARY_FIELDS: tuple[str, ...] = (
    "id", "snapshot_id", "name", "version", "status", "correlation_id", "priority", "input", "output",
    "reason_for_incompletion", "failed_reference_task_names", "failed_task_names", "parent_workflow_id",
    "task_to_domain", "extra", "create_time", "update_time", "end_time",
)
TASK_SUMMARY_FIELDS: tuple[str, ...] = (
    "id", "workflow_id", "task_type", "task_def_name", "status", "input", "output", "reason_for_incompletion",
    "domain", "workflow_priority", "extra", "scheduled_time", "start_time", "end_time", "update_time",
    "callback_after_seconds", "workflow__name", "workflow__correlation_id",
)


def utc_string(millis: int) -> str:
    """Epoch milliseconds as Conductor's summaries print them (SimpleDateFormat in GMT)."""
    seconds, ms = divmod(int(millis), 1000)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms:03d}Z"


# --- input and output ------------------------------------------------------------------------


def serialize_input_output(value: Any) -> str:
    """Conductor's ``SummaryUtil.serializeInputOutput``."""
    if settings.BATON.get("SUMMARY_INPUT_OUTPUT_JSON", False):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return java_string(value)


# --- documents ---------------------------------------------------------------------------------


def _non_blank(value: Any) -> Any:
    return value if isinstance(value, str) and value.strip() else None


def workflow_summaries(rows: Iterable[Mapping[str, Any]], classifiers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Summaries of workflow rows, given the classifier of each row's snapshot (by key)."""
    return [workflow_summary(row, classifier=classifiers.get(row["snapshot_id"], "workflow")) for row in rows]


def workflow_summary(row: Mapping[str, Any], *, classifier: str = "workflow") -> dict[str, Any]:
    extra = row.get("extra") or {}
    ended = row["end_time"] > 0
    input_text = serialize_input_output(row["input"]) if row["input"] is not None else None
    output_text = serialize_input_output(row["output"]) if row["output"] is not None else None
    doc: dict[str, Any] = {
        "workflowType": row["name"],
        "version": row["version"],
        "workflowId": row["id"],
        "correlationId": row["correlation_id"],
        "startTime": utc_string(row["create_time"]),
        "updateTime": utc_string(row["update_time"]),
        "endTime": utc_string(row["end_time"]) if ended else None,
        "status": row["status"],
        "input": input_text,
        "output": output_text,
        "reasonForIncompletion": row["reason_for_incompletion"],
        "executionTime": row["end_time"] - row["create_time"] if ended else 0,
        "event": extra.get("event"),
        "failedReferenceTaskNames": ",".join(row["failed_reference_task_names"] or ()),
        "externalInputPayloadStoragePath": _non_blank(extra.get("externalInputPayloadStoragePath")),
        "externalOutputPayloadStoragePath": _non_blank(extra.get("externalOutputPayloadStoragePath")),
        "priority": row["priority"],
        "failedTaskNames": list(row["failed_task_names"] or ()),
        "createdBy": extra.get("createdBy"),
        "taskToDomain": row["task_to_domain"] or {},
        "idempotencyKey": extra.get("idempotencyKey"),
        "parentWorkflowId": row["parent_workflow_id"] or "",
        "classifier": classifier,
        "inputSize": len(input_text) if input_text is not None else 0,
        "outputSize": len(output_text) if output_text is not None else 0,
    }
    return {k: v for k, v in doc.items() if v is not None}


def task_summary(row: Mapping[str, Any], *, now: int) -> dict[str, Any]:
    extra = row.get("extra") or {}
    task_type = row["task_type"]
    doc: dict[str, Any] = {
        "workflowId": row["workflow_id"],
        "workflowType": row["workflow__name"],
        "correlationId": row["workflow__correlation_id"],
        "scheduledTime": utc_string(row["scheduled_time"]),
        "startTime": utc_string(row["start_time"]),
        "updateTime": utc_string(row["update_time"]),
        "endTime": utc_string(row["end_time"]),
        "status": row["status"],
        "reasonForIncompletion": row["reason_for_incompletion"],
        "executionTime": row["end_time"] - row["start_time"] if row["end_time"] > 0 else 0,
        "queueWaitTime": queue_wait_time(
            start_time=row["start_time"], scheduled_time=row["scheduled_time"], update_time=row["update_time"],
            callback_after_seconds=row["callback_after_seconds"], now=now,
        ),
        "taskDefName": row["task_def_name"] or task_type,  # Task.getTaskDefName() falls back
        "taskType": task_type,
        "input": serialize_input_output(row["input"]) if row["input"] is not None else None,
        "output": serialize_input_output(row["output"]) if row["output"] is not None else None,
        "taskId": row["id"],
        "externalInputPayloadStoragePath": _non_blank(extra.get("externalInputPayloadStoragePath")),
        "externalOutputPayloadStoragePath": _non_blank(extra.get("externalOutputPayloadStoragePath")),
        "workflowPriority": row["workflow_priority"],
        "domain": row["domain"],
    }
    return {k: v for k, v in doc.items() if v is not None}
