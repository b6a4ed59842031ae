"""Reads of tasks: task rows with what a Task document needs of their workflows, a workflow's
tasks page by page, the pending tasks of a type, where a task is queued."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestration.errors import BadRequest, NotFound
from orchestration.models import TASK_FIELDS, WORKFLOW_INFO, Task, Workflow

# A task row as orchestration.documents renders it.
TASK_ROW_FIELDS: tuple[str, ...] = ("id", "workflow_id", *TASK_FIELDS)
# What a Task document needs of its workflow; a claim from a poll carries the same.
WORKFLOW_INFO_FIELDS: tuple[str, ...] = WORKFLOW_INFO
PENDING_STATUSES = ("SCHEDULED", "IN_PROGRESS")


def _workflow_missing(workflow_id: str) -> NotFound:
    return NotFound(f"No such workflow found by id: {workflow_id}")


def workflow_info(*, workflow_id: str) -> dict[str, Any]:
    """The info of one workflow (``WORKFLOW_INFO_FIELDS``)."""
    info = Workflow.objects.filter(pk=workflow_id).values(*WORKFLOW_INFO_FIELDS).first()
    if info is None:
        raise _workflow_missing(workflow_id)
    return info


def workflow_infos(*, rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workflow id -> info, for the workflows of these task rows, each read once. A claim from a
    poll already carries its workflow's info (``services.store.claim``); workflows removed
    meanwhile are missing from the answer."""
    rows = list(rows)
    infos = {r["workflow_id"]: r["workflow_info"] for r in rows if "workflow_info" in r}
    missing = {r["workflow_id"] for r in rows} - infos.keys()
    if missing:
        infos.update((w["id"], w) for w in Workflow.objects.filter(pk__in=missing).values(*WORKFLOW_INFO_FIELDS))
    return infos


@dataclass(frozen=True, slots=True)
class TaskWithWorkflow:
    task: dict[str, Any]
    workflow: dict[str, Any]


def task_with_workflow(*, task_id: str) -> TaskWithWorkflow:
    row = Task.objects.filter(pk=task_id).values(*TASK_ROW_FIELDS).first()
    if row is None:
        raise NotFound(f"Task not found for taskId: {task_id}")
    return TaskWithWorkflow(row, workflow_info(workflow_id=row["workflow_id"]))


@dataclass(frozen=True, slots=True)
class WorkflowTasksPage:
    """One page of a workflow's tasks (by seq), how many match in all, and the workflow's info."""

    total: int
    rows: list[dict[str, Any]]
    workflow: dict[str, Any]


def workflow_tasks_page(*, workflow_id: str, statuses: Sequence[str], start: int, count: int) -> WorkflowTasksPage:
    """Every attempt counts as a task; ``statuses`` (empty: any) filters them."""
    info = workflow_info(workflow_id=workflow_id)
    rows = Task.objects.filter(workflow_id=workflow_id)
    if statuses:
        rows = rows.filter(status__in=statuses)
    total = rows.count()
    page = list(rows.order_by("seq").values(*TASK_ROW_FIELDS)[start : start + count])
    return WorkflowTasksPage(total, page, info)


def task_queue(*, task_id: str) -> tuple[str, str | None] | None:
    """The (task type, domain) a task was queued under; None for an unknown task."""
    return Task.objects.filter(pk=task_id).values_list("task_type", "domain").first()


def pending_tasks(*, task_type: str, start: int = 0, count: int = 100) -> list[dict[str, Any]]:
    """Task rows of the open (SCHEDULED or IN_PROGRESS) tasks whose taskDefName is ``task_type``:
    Conductor's "pending tasks of a type" reads its in-progress index, which is keyed by
    taskDefName. Oldest first."""
    if start < 0:
        raise BadRequest(f"start must be >= 0, got {start}")
    if count < 0:
        raise BadRequest(f"count must be >= 0, got {count}")
    rows = (
        Task.objects.filter(task_def_name=task_type, status__in=PENDING_STATUSES)
        .order_by("scheduled_time", "id")
        .values(*TASK_ROW_FIELDS)
    )
    return list(rows[start : start + count])
