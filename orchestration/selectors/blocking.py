"""What blocks a workflow started synchronously (``POST /api/workflow/execute/...``), and the
wait for it.

Conductor's WorkflowSignalResponder: after the start, the request waits until the workflow is
terminal or *blocked*: a WAIT task without a deadline is open (it waits for a signal), or one of
the ``waitUntilTaskRef`` tasks has ended, in the workflow or any running sub-workflow. Past the
wait, the current state is answered with ``signalTimeout``.

The wait reads the database (the truth) every ``POLL_INTERVAL_SECONDS`` until a monotonic
deadline, with no transaction open, so it holds no lock and sees every commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from orchestration.engine.state import OPEN_TASK, TERMINAL_TASK, TERMINAL_WORKFLOW
from orchestration.errors import NotFound
from orchestration.models import TASK_FIELDS, Task, Workflow

POLL_INTERVAL_SECONDS = 0.02
MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class SignalWait:
    """How the wait ended: ``blocking_tasks`` are task rows (``id``, ``workflow_id`` and the
    ``models.TASK_FIELDS``); ``blocking_workflow_id`` is the workflow of the first of them."""

    timed_out: bool
    status: str
    blocking_tasks: list[dict[str, Any]] = field(default_factory=list)
    blocking_workflow_id: str | None = None


def _has_deadline(row: Mapping[str, Any]) -> bool:
    # A WAIT with a duration or an until time ends by itself: it does not block (Conductor's
    # waitTimeout != 0).
    task_input = row.get("input") or {}
    return bool(task_input.get("duration") or task_input.get("until"))


def _child_id(row: Mapping[str, Any]) -> str | None:
    for source in (row.get("extra"), row.get("output"), row.get("input")):
        value = (source or {}).get("subWorkflowId")
        if isinstance(value, str) and value:
            return value
    return None


def blocking_tasks(workflow_id: str, refs: Iterable[str], depth: int = 0) -> tuple[list[dict[str, Any]], str | None]:
    """Tasks that block ``workflow_id`` (in seq order, sub-workflows searched where their task
    sits) and the workflow of the first one."""
    refs = [r for r in refs if r]
    wanted = Q(task_type__in=("WAIT", "SUB_WORKFLOW"), status__in=OPEN_TASK)
    if refs:
        wanted |= Q(ref__in=refs, status__in=TERMINAL_TASK)
    rows = Task.objects.filter(workflow_id=workflow_id).filter(wanted).order_by("seq")
    found: list[dict[str, Any]] = []
    where: str | None = None
    for row in rows.values("id", "workflow_id", *TASK_FIELDS):
        is_open = row["status"] in OPEN_TASK
        if (row["task_type"] == "WAIT" and is_open and not _has_deadline(row)) or (row["ref"] in refs and not is_open):
            found.append(row)
            where = where or workflow_id
        child = _child_id(row) if row["task_type"] == "SUB_WORKFLOW" and is_open else None
        if child and depth < MAX_DEPTH:
            nested, nested_where = blocking_tasks(child, refs, depth + 1)
            if nested:
                found.extend(nested)
                where = where or nested_where
    return found, where


def wait_for_signal(*, workflow_id: str, task_refs: list[str], timeout_seconds: float) -> SignalWait:
    """Wait until the workflow is terminal or blocked, or ``timeout_seconds`` have passed."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = Workflow.objects.filter(pk=workflow_id).values_list("status", flat=True).first()
        if status is None:
            raise NotFound(f"No such workflow found by id: {workflow_id}")
        found, where = blocking_tasks(workflow_id, task_refs)
        if status in TERMINAL_WORKFLOW or found:
            return SignalWait(False, status, found, where)
        if time.monotonic() >= deadline:
            return SignalWait(True, status)
        time.sleep(POLL_INTERVAL_SECONDS)
