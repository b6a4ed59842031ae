"""The worker runtime: binds a Python function to a Conductor task type as a Celery task.

For each message (a task id) on the type's queue the runtime claims the task (a guarded
SCHEDULED -> IN_PROGRESS write; a stale or duplicate message stops here), calls the function
with the task input, records the result with ``task_update`` and decides the workflow in the
same process, so a transition costs no extra broker hop.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from orchestration import worker_registry
from orchestration.dispatch import worker_task_name
from orchestration.services.tasks import task_claim, task_update

log = logging.getLogger(__name__)


class TerminalError(Exception):
    """Raise to fail the task with FAILED_WITH_TERMINAL_ERROR: no retry."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """Return to say "not done yet": the task is handed out again after the delay."""

    callback_after_seconds: int = 0
    output: dict[str, Any] | None = None


@dataclass(slots=True)
class TaskContext:
    task_id: str
    workflow_id: str
    task_type: str
    ref: str
    retry_count: int
    poll_count: int
    input: dict[str, Any]
    worker_id: str
    logs: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        """Attach a log line to the task (Conductor's task execution log)."""
        self.logs.append(str(line))


def current_worker_id() -> str:
    """How this process signs the tasks it claims: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_task(task_type: str, *, domain: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``function`` as the worker for ``task_type``.

    The function takes the task input (a dict) and, if it declares a second parameter, a
    ``TaskContext``. It returns the output dict (or None, or any JSON value, kept under
    ``result``), or ``InProgress(...)``. An exception fails the task with its message (retried per
    the TaskDef); ``TerminalError`` fails it for good.
    """

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        params = [p for p in inspect.signature(function).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        wants_context = len(params) >= 2

        def run(task_id: str) -> None:
            execute(task_id, function, wants_context=wants_context)

        run.__name__ = f"run_{task_type}"
        run.__qualname__ = run.__name__
        # shared_task: registered with the Celery app when it is (or was) finalized, so this
        # module does not import the app, whose configuration imports the worker modules.
        shared_task(name=worker_task_name(task_type), ignore_result=True)(run)
        worker_registry.register(worker_registry.Registration(task_type, function, domain))
        return function

    return register


def execute(task_id: str, function: Callable[..., Any], *, wants_context: bool) -> str | None:
    """Claim, run and report one task; returns the status reported (None if not claimed)."""
    worker_id = current_worker_id()
    try:
        claimed = task_claim(task_id=task_id, worker_id=worker_id)
    except (OperationalError, InterfaceError):
        # The first statement of a task: a kept connection the database dropped (a restart)
        # is found out here. Once more on a fresh one; a second failure is a real outage.
        connection.close()
        claimed = task_claim(task_id=task_id, worker_id=worker_id)
    if claimed is None:
        return None
    ctx = TaskContext(
        task_id=task_id, workflow_id=claimed["workflow_id"], task_type=claimed["task_type"], ref=claimed["ref"],
        retry_count=claimed["retry_count"], poll_count=claimed["poll_count"], input=claimed["input"] or {},
        worker_id=worker_id,
    )
    status, output, reason, callback = "COMPLETED", {}, None, 0
    try:
        result = function(ctx.input, ctx) if wants_context else function(ctx.input)
    except TerminalError as error:
        status, reason = "FAILED_WITH_TERMINAL_ERROR", str(error) or type(error).__name__
    except Exception as error:
        status, reason = "FAILED", str(error) or type(error).__name__
        ctx.log(traceback.format_exc(limit=20))
    else:
        if isinstance(result, InProgress):
            status, callback, output = "IN_PROGRESS", result.callback_after_seconds, dict(result.output or {})
        elif result is None:
            output = {}
        elif isinstance(result, dict):
            output = result
        else:
            output = {"result": result}
    task_update(
        task_id=task_id, workflow_id=ctx.workflow_id, status=status, output=output, reason=reason,
        worker_id=worker_id, callback_after_seconds=callback, logs=ctx.logs or None,
    )
    return status
