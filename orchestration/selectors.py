"""Reads. Views and the API call these instead of building querysets themselves."""

from __future__ import annotations

from typing import Any

from orchestration.models import Workflow, WorkflowDef


def recent_workflows(*, limit: int = 25) -> list[dict[str, Any]]:
    return list(
        Workflow.objects.order_by("-create_time").values(
            "id", "name", "version", "status", "correlation_id", "create_time", "end_time", "reason_for_incompletion"
        )[:limit]
    )


def workflow_definitions_summary() -> list[dict[str, Any]]:
    return list(WorkflowDef.objects.order_by("name", "-version").values("name", "version", "create_time"))
