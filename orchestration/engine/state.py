"""Execution state as plain values: what the decider reads and changes.

The service layer loads rows into these objects, hands them to the pure decider, and writes
back what the decider marked as new or changed. No ORM object ever reaches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.definitions.model import WorkflowDefinition

TERMINAL_TASK = frozenset(
    {"COMPLETED", "COMPLETED_WITH_ERRORS", "SKIPPED", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED"}
)
SUCCESSFUL_TASK = frozenset({"SCHEDULED", "IN_PROGRESS", "COMPLETED", "COMPLETED_WITH_ERRORS", "SKIPPED"})
RETRIABLE_TASK = frozenset({"SCHEDULED", "IN_PROGRESS", "COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "TIMED_OUT"})
# A task still waiting for a worker, or being worked on.
OPEN_TASK = frozenset({"SCHEDULED", "IN_PROGRESS"})
TERMINAL_WORKFLOW = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"})


def is_terminal_unsuccessful(status: str) -> bool:
    return status in TERMINAL_TASK and status not in SUCCESSFUL_TASK


class _Tracked:
    """Records which persisted attributes were assigned after loading (``dirty``), so the
    service writes only those columns and never re-serializes untouched JSON.

    Rule for engine code: replace dicts (``task.output = {...}``), never mutate them in place.
    """

    __slots__ = ()
    _UNTRACKED: frozenset[str] = frozenset({"dirty", "is_new", "loaded_status", "tasks", "definition"})

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name not in self._UNTRACKED:
            dirty = getattr(self, "dirty", None)
            if dirty is not None:
                dirty.add(name)

    def start_tracking(self) -> None:
        object.__setattr__(self, "dirty", set())
        object.__setattr__(self, "loaded_status", self.status)  # type: ignore[attr-defined]

    @property
    def changed(self) -> bool:
        return bool(getattr(self, "dirty", None)) or bool(getattr(self, "is_new", False))


@dataclass(slots=True, eq=False)
class TaskState(_Tracked):
    task_id: str
    ref: str
    task_type: str
    task_def_name: str
    status: str
    seq: int
    retry_count: int = 0
    retried: bool = False
    executed: bool = False
    iteration: int = 0
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    reason_for_incompletion: str | None = None
    worker_id: str | None = None
    domain: str | None = None
    queue_name: str = ""
    poll_count: int = 0
    callback_after_seconds: int = 0
    start_delay_seconds: int = 0
    response_timeout_seconds: int = 0
    timeout_seconds: int = 0
    retried_task_id: str | None = None
    workflow_priority: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    scheduled_time: int = 0
    first_scheduled_time: int = 0
    start_time: int = 0
    end_time: int = 0
    update_time: int = 0
    dispatch_at: int | None = None
    timeout_at: int | None = None
    # What the claim makes of timeout_at (engine.timeouts.ClaimDeadline), kept while SCHEDULED.
    claim_deadline_at: int | None = None
    claim_lease_ms: int | None = None
    # Bookkeeping for the service layer, never persisted: see _Tracked.
    is_new: bool = False
    dirty: set[str] | None = None
    # Status when loaded (None for new tasks): the service writes history from it.
    loaded_status: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_TASK

    def set_status(self, status: str, *, now: int, reason: str | None = None) -> None:
        self.status = status
        self.update_time = now
        if status in TERMINAL_TASK and not self.end_time:
            self.end_time = now
        if reason is not None:
            self.reason_for_incompletion = reason


@dataclass(slots=True, eq=False)
class WorkflowState(_Tracked):
    workflow_id: str
    name: str
    version: int
    status: str
    definition: WorkflowDefinition
    snapshot_key: str
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    task_to_domain: dict[str, str] = field(default_factory=dict)
    correlation_id: str | None = None
    priority: int = 0
    reason_for_incompletion: str | None = None
    failed_reference_task_names: list[str] = field(default_factory=list)
    failed_task_names: list[str] = field(default_factory=list)
    parent_workflow_id: str | None = None
    parent_workflow_task_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    create_time: int = 0
    update_time: int = 0
    end_time: int = 0
    last_retried_time: int = 0
    next_check_at: int | None = None
    tasks: list[TaskState] = field(default_factory=list)
    is_new: bool = False
    dirty: set[str] | None = None
    loaded_status: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_WORKFLOW

    def latest_by_ref(self) -> dict[str, TaskState]:
        """The newest attempt of each reference name (highest seq wins)."""
        latest: dict[str, TaskState] = {}
        for task in self.tasks:
            current = latest.get(task.ref)
            if current is None or task.seq > current.seq:
                latest[task.ref] = task
        return latest
