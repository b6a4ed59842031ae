"""The Workflow and Task documents several endpoints answer: what a selector reads, rendered by
``orchestration.documents.executions``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestration.documents import executions
from orchestration.selectors import tasks, workflows


def workflow_document(workflow_id: str, *, include_tasks: bool = True) -> dict[str, Any]:
    """One workflow as ``GET /api/workflow/{id}`` answers it; 404 when there is none."""
    execution = workflows.workflow_execution(workflow_id=workflow_id, include_tasks=include_tasks)
    return executions.workflow_json(execution.workflow, execution.tasks)


def task_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task row as a Task document; 404 when its workflow is gone."""
    return executions.task_json(row, tasks.workflow_info(workflow_id=row["workflow_id"]))


def task_documents(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Task rows of any workflows as Task documents (those whose workflow is gone left out)."""
    if not rows:
        return []
    return executions.tasks_json(rows, tasks.workflow_infos(rows=rows))
