"""Reads of workflows: one workflow with its tasks (what a Workflow document shows), its status,
the most recent ones for the web pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.errors import NotFound
from orchestration.models import WORKFLOW_FIELDS, Task, Workflow
from orchestration.selectors.tasks import TASK_ROW_FIELDS

# A workflow row as orchestration.documents renders it.
WORKFLOW_ROW_FIELDS: tuple[str, ...] = ("id", "snapshot_id", *WORKFLOW_FIELDS)


def not_found(workflow_id: str) -> NotFound:
    return NotFound(f"No such workflow found by id: {workflow_id}")


@dataclass(frozen=True, slots=True)
class WorkflowExecution:
    """A workflow row and its task rows (every attempt, by seq; none when not asked for)."""

    workflow: dict[str, Any]
    tasks: list[dict[str, Any]]


def workflow_execution(*, workflow_id: str, include_tasks: bool = True) -> WorkflowExecution:
    row = Workflow.objects.filter(pk=workflow_id).values(*WORKFLOW_ROW_FIELDS).first()
    if row is None:
        raise not_found(workflow_id)
    tasks: list[dict[str, Any]] = []
    if include_tasks:
        tasks = list(Task.objects.filter(workflow_id=workflow_id).order_by("seq").values(*TASK_ROW_FIELDS))
    return WorkflowExecution(row, tasks)


@dataclass(frozen=True, slots=True)
class WorkflowStatus:
    workflow_id: str
    status: str
    correlation_id: str | None
    output: dict[str, Any]
    variables: dict[str, Any]


def workflow_status(*, workflow_id: str) -> WorkflowStatus:
    row = Workflow.objects.filter(pk=workflow_id).values("correlation_id", "output", "variables", "status").first()
    if row is None:
        raise not_found(workflow_id)
    return WorkflowStatus(workflow_id=workflow_id, **row)


def current_status(*, workflow_id: str) -> str | None:
    """The workflow's status now; None when there is no such workflow."""
    return Workflow.objects.filter(pk=workflow_id).values_list("status", flat=True).first()


def recent_workflows(*, limit: int = 25) -> list[dict[str, Any]]:
    return list(
        Workflow.objects.order_by("-create_time").values(
            "id", "name", "version", "status", "correlation_id", "create_time", "end_time", "reason_for_incompletion"
        )[:limit]
    )
