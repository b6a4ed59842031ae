"""Reads of a workflow's open tasks that results addressed by reference name and signals act on:
the pending task with a reference name, the task a signal completes, and a task's log."""

from __future__ import annotations

from typing import Any

from orchestration.conductor.loop_refs import base_ref
from orchestration.engine.state import OPEN_TASK
from orchestration.models import TASK_FIELDS, Task, TaskLog

# Task types a signal completes. Conductor signals WAIT only; HUMAN tasks are the other kind of
# task that waits on the outside world, and nothing but an API call ever completes them.
SIGNAL_TASK_TYPES = ("WAIT", "HUMAN")
# How deep a signal looks into running sub-workflows (a guard against a malformed cycle).
MAX_SIGNAL_DEPTH = 32


def _open_tasks(workflow_id: str) -> list[dict[str, Any]]:
    rows = Task.objects.filter(workflow_id=workflow_id, status__in=OPEN_TASK).values("id", "workflow_id", *TASK_FIELDS)
    return sorted(rows, key=lambda r: r["seq"])


def pending_task_by_ref(*, workflow_id: str, ref: str) -> dict[str, Any] | None:
    """The open (non-terminal) task with reference name ``ref``; failing that, the open loop
    iteration ``ref__N`` with the highest N (Conductor's getPendingTaskForWorkflow)."""
    rows = _open_tasks(workflow_id)
    for row in rows:
        if row["ref"] == ref:
            return row
    iterations = [r for r in rows if base_ref(r["ref"], r["iteration"]) == ref]
    return max(iterations, key=lambda r: (r["iteration"], r["seq"])) if iterations else None


def _sub_workflow_id(row: dict[str, Any]) -> str | None:
    for source in (row.get("extra"), row.get("output"), row.get("input")):
        value = source.get("subWorkflowId") if isinstance(source, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def blocked_task(*, workflow_id: str, depth: int = 0) -> dict[str, Any] | None:
    """The first open WAIT/HUMAN task of the workflow, else of its running sub-workflows (in
    task order, depth first), as Conductor's signal looks for it."""
    rows = _open_tasks(workflow_id)
    for row in rows:
        if row["task_type"] in SIGNAL_TASK_TYPES:
            return row
    if depth >= MAX_SIGNAL_DEPTH:
        return None
    for row in rows:
        child = _sub_workflow_id(row) if row["task_type"] == "SUB_WORKFLOW" else None
        found = blocked_task(workflow_id=child, depth=depth + 1) if child else None
        if found is not None:
            return found
    return None


def task_logs(*, task_id: str) -> list[dict[str, Any]]:
    """The task's log as Conductor's TaskExecLog list, oldest first."""
    rows = TaskLog.objects.filter(task_id=task_id).order_by("id").values_list("log", "created_time")
    return [{"log": line, "taskId": task_id, "createdTime": created} for line, created in rows]
