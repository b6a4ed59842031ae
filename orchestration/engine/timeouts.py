"""Task and workflow timeouts, and how startDelay and callbackAfterSeconds move their clocks, as
pure functions of state and ``now``.

Mirrors the checks Conductor's ``DeciderService`` runs for every pending task: total budget,
per-attempt ``timeoutSeconds``, ``pollTimeoutSeconds``, then ``responseTimeoutSeconds``, in that
order, plus the workflow ``timeoutSeconds`` check. Each check has a deadline function and the
``check_*`` functions fire exactly when ``now >= deadline``; ``task_deadline`` is built from the
same functions, so the sweeper's index can never disagree with the decider.

The thresholds come from the TaskDef, not from the copies on ``TaskState`` (Conductor reads the
definition too, so editing a TaskDef affects running tasks).

ALERT_ONLY: Conductor only logs such a timeout and leaves the task alone. Here it is a verdict
with ``policy == "ALERT_ONLY"`` (``actionable`` False) so the decider can log it; it is never
part of ``task_deadline`` because nothing changes when it fires (indexing it would make the
sweeper re-decide the task forever).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from orchestration.definitions.model import TaskDefinition
from orchestration.engine.state import TaskState, WorkflowState

ALERT_ONLY = "ALERT_ONLY"
TIME_OUT_WF = "TIME_OUT_WF"
RETRY = "RETRY"
# A response timeout sets the task TIMED_OUT whatever the TaskDef policy says, and the normal
# retry logic then decides (retries exhausted → workflow TIMED_OUT). That is the RETRY policy.
RESPONSE_TIMEOUT_POLICY = RETRY


@dataclass(frozen=True, slots=True)
class TimeoutVerdict:
    """A timeout that fired. ``kind`` is ``total``, ``task``, ``poll`` or ``response``.

    ``policy`` is the TaskDef ``timeoutPolicy`` for total/task/poll and always ``RETRY`` for
    response. The decider acts on it like Conductor's timeoutTaskWithTimeoutPolicy:
    ALERT_ONLY → log only; RETRY → task TIMED_OUT with ``reason``, then normal retry logic;
    TIME_OUT_WF → task TIMED_OUT and the workflow TIMED_OUT with ``reason`` as its own reason.
    """

    kind: str
    reason: str
    policy: str

    @property
    def actionable(self) -> bool:
        """False for ALERT_ONLY: the task must stay as it is."""
        return self.policy != ALERT_ONLY

    @property
    def times_out_workflow(self) -> bool:
        return self.policy == TIME_OUT_WF


# --- per-check deadlines: the first epoch-ms instant the check fires, None if it cannot ---


def _total_deadline(task: TaskState, task_def: TaskDefinition) -> int | None:
    # Counted from the first attempt's scheduling, across every retry and retry delay. Tasks
    # without first_scheduled_time (older rows) are exempt, as in Conductor.
    if task.terminal or task_def.total_timeout_seconds <= 0 or task.first_scheduled_time <= 0:
        return None
    return task.first_scheduled_time + task_def.total_timeout_seconds * 1000


def _task_deadline(task: TaskState, task_def: TaskDefinition) -> int | None:
    # Only once polled (start_time set). start_time survives an IN_PROGRESS+callbackAfterSeconds
    # update that returns the task to SCHEDULED, so the clock keeps running across re-polls.
    if task.terminal or task_def.timeout_seconds <= 0 or task.start_time <= 0:
        return None
    return task.start_time + task.start_delay_seconds * 1000 + task_def.timeout_seconds * 1000


def _poll_deadline(task: TaskState, task_def: TaskDefinition) -> int | None:
    # The queue hides the task for startDelay, so the clock starts after it; callbackAfterSeconds
    # hides it again and extends the budget. A retried attempt carries its retry delay in *both*
    # fields, so its budget is effectively extended twice; Conductor does the same.
    if task.status != "SCHEDULED" or task_def.poll_timeout_seconds <= 0:
        return None
    budget_ms = (task_def.poll_timeout_seconds + task.callback_after_seconds) * 1000
    return task.scheduled_time + task.start_delay_seconds * 1000 + budget_ms


def _response_deadline(task: TaskState, task_def: TaskDefinition, async_complete: bool) -> int | None:
    # Async-complete system tasks (e.g. SUB_WORKFLOW) are finished by someone else, so silence
    # is expected. Validation keeps responseTimeoutSeconds >= 1 for registered defs; 0 (ad-hoc
    # system-task defs) disables the check. Negative values are treated as disabled too.
    if task.status != "IN_PROGRESS" or async_complete or task_def.response_timeout_seconds <= 0:
        return None
    budget_ms = (task_def.response_timeout_seconds + task.callback_after_seconds) * 1000
    return task.update_time + budget_ms


# --- reason texts (wire-compatible with Conductor) ---


def _total_reason(task: TaskState, task_def: TaskDefinition, now: int) -> str:
    elapsed = (now - task.first_scheduled_time) // 1000
    # Def name before taskId here; retry.py's budget refusal has them the other way round.
    return (
        f"Task {task.task_def_name}/{task.task_id} exceeded total timeout of "
        f"{task_def.total_timeout_seconds} seconds (elapsed {elapsed} seconds across all attempts "
        f"including retry delays). Timeout policy: {task_def.timeout_policy}"
    )


def _task_reason(task: TaskState, task_def: TaskDefinition, now: int) -> str:
    elapsed = (now - task.start_time - task.start_delay_seconds * 1000) // 1000
    return (
        f"Task timed out after {elapsed} seconds. Timeout configured as {task_def.timeout_seconds} "
        f"seconds. Timeout policy configured to {task_def.timeout_policy}"
    )


def _poll_reason(task: TaskState, task_def: TaskDefinition, now: int) -> str:
    # The elapsed time excludes startDelay; the configured figure excludes callbackAfterSeconds.
    elapsed = (now - task.scheduled_time - task.start_delay_seconds * 1000) // 1000
    return (
        f"Task poll timed out after {elapsed} seconds. Poll timeout configured as "
        f"{task_def.poll_timeout_seconds} seconds. Timeout policy configured to {task_def.timeout_policy}"
    )


def _response_reason(task: TaskState, task_def: TaskDefinition) -> str:
    return (
        f"responseTimeout: {task_def.response_timeout_seconds} exceeded for the taskId: "
        f"{task.task_id} with Task Definition: {task.task_def_name}"
    )


_Deadline = Callable[[TaskState, TaskDefinition], int | None]
_Reason = Callable[[TaskState, TaskDefinition, int], str]

# Conductor's order: total first (if the whole budget is gone the per-attempt checks are moot),
# then task, then poll. All three share the TaskDef policy.
_POLICY_CHECKS: tuple[tuple[str, _Deadline, _Reason], ...] = (
    ("total", _total_deadline, _total_reason),
    ("task", _task_deadline, _task_reason),
    ("poll", _poll_deadline, _poll_reason),
)


def check_task_timeouts(
    *, task: TaskState, task_def: TaskDefinition | None, now: int, async_complete: bool = False
) -> TimeoutVerdict | None:
    """The timeout that fires for ``task`` at ``now``, or None.

    Conductor applies the checks one after another to a mutable task: the first non-ALERT_ONLY
    one makes the task terminal and silences the rest. ALERT_ONLY ones change nothing, so the
    response check still runs after them and wins if it fires; otherwise the first ALERT_ONLY
    verdict is returned for logging. Without a TaskDef, Conductor checks nothing.
    """
    if task_def is None:
        return None
    alert: TimeoutVerdict | None = None
    for kind, deadline_of, reason_of in _POLICY_CHECKS:
        deadline = deadline_of(task, task_def)
        if deadline is None or now < deadline:
            continue
        verdict = TimeoutVerdict(kind, reason_of(task, task_def, now), task_def.timeout_policy)
        if verdict.actionable:
            return verdict
        alert = alert or verdict
    deadline = _response_deadline(task, task_def, async_complete)
    if deadline is not None and now >= deadline:
        return TimeoutVerdict("response", _response_reason(task, task_def), RESPONSE_TIMEOUT_POLICY)
    return alert


def _actionable_deadlines(task: TaskState, task_def: TaskDefinition, async_complete: bool) -> dict[str, int]:
    """The deadline of each check that can act on the task, by kind. This is the rule for which
    checks count: ALERT_ONLY thresholds are left out (see module doc), the response check always
    counts."""
    found: dict[str, int] = {}
    response = _response_deadline(task, task_def, async_complete)
    if response is not None:
        found["response"] = response
    if task_def.timeout_policy != ALERT_ONLY:
        for kind, deadline_of, _ in _POLICY_CHECKS:
            deadline = deadline_of(task, task_def)
            if deadline is not None:
                found[kind] = deadline
    return found


def task_deadline(
    *, task: TaskState, task_def: TaskDefinition | None, async_complete: bool = False
) -> int | None:
    """The earliest epoch ms at which ``check_task_timeouts`` returns an *actionable* verdict for
    the task in its current state; None if it never will.

    For ``now < deadline`` the check returns None or an ALERT_ONLY verdict; for ``now >= deadline``
    it returns an actionable one. ALERT_ONLY thresholds are left out on purpose (see module doc).
    """
    if task_def is None:
        return None
    found = _actionable_deadlines(task, task_def, async_complete)
    return min(found.values()) if found else None


@dataclass(frozen=True, slots=True)
class ClaimDeadline:
    """What ``task_deadline`` of a SCHEDULED task becomes once a worker claims it, in a form the
    claim statement can finish without reading anything: the earliest of a fixed time (``at``)
    and the claim's own time plus ``after_claim_ms``. None where no check counts that way."""

    at: int | None = None
    after_claim_ms: int | None = None


def claim_deadline(*, task: TaskState, task_def: TaskDefinition | None, async_complete: bool = False) -> ClaimDeadline:
    """The task's deadline once claimed (see ``ClaimDeadline``), by the same checks as
    ``task_deadline``: it evaluates them on the task as a claim leaves it at two instants, and a
    check whose deadline moves with the instant counts from the claim, one that does not is
    fixed (a total timeout, or the task timeout of a task started before)."""
    if task_def is None or task.status != "SCHEDULED":
        return ClaimDeadline()
    first, second = 1, 2  # any two instants: only the difference between them matters
    claimed = _as_claimed(task, first)
    at_first = _actionable_deadlines(claimed, task_def, async_complete)
    _claim_at(claimed, task, second)
    at_second = _actionable_deadlines(claimed, task_def, async_complete)
    fixed = [d for kind, d in at_first.items() if at_second.get(kind) == d]
    moving = [d - first for kind, d in at_first.items() if at_second.get(kind) == d + (second - first)]
    return ClaimDeadline(at=min(fixed) if fixed else None, after_claim_ms=min(moving) if moving else None)


_TASK_FIELDS = tuple(f.name for f in fields(TaskState))
_set_field = object.__setattr__


def _as_claimed(task: TaskState, now: int) -> TaskState:
    """A copy of the task as the claim statement leaves it at ``now`` (see store's claim).
    Copied field by field, untracked: this runs for every open task on every decide, and the
    dataclass' own copy would send each field through the change tracker."""
    claimed = object.__new__(TaskState)
    for name in _TASK_FIELDS:
        _set_field(claimed, name, getattr(task, name))
    _set_field(claimed, "status", "IN_PROGRESS")
    _set_field(claimed, "callback_after_seconds", 0)
    _set_field(claimed, "dirty", None)
    _claim_at(claimed, task, now)
    return claimed


def _claim_at(claimed: TaskState, task: TaskState, now: int) -> None:
    """Move the claimed copy's claim to ``now``: the fields a claim sets from its own time."""
    _set_field(claimed, "start_time", task.start_time if task.start_time > 0 else now)
    _set_field(claimed, "update_time", now)


def set_deadlines(task: TaskState, *, task_def: TaskDefinition | None, async_complete: bool = False) -> None:
    """Keep the task's sweeper hint (``timeout_at``) and, while it is SCHEDULED, what its claim
    will make of it (``claim_deadline_at``, ``claim_lease_ms``) in step with its state. Only
    changed values are assigned, so an unchanged task is not written back."""
    deadline = task_deadline(task=task, task_def=task_def, async_complete=async_complete)
    claimed = claim_deadline(task=task, task_def=task_def, async_complete=async_complete)
    if task.timeout_at != deadline:
        task.timeout_at = deadline
    if task.claim_deadline_at != claimed.at:
        task.claim_deadline_at = claimed.at
    if task.claim_lease_ms != claimed.after_claim_ms:
        task.claim_lease_ms = claimed.after_claim_ms


# --- workflow ---


def workflow_deadline(workflow: WorkflowState) -> int | None:
    """When ``check_workflow_timeout`` starts firing; None when it never will (terminal workflow,
    no timeout, or ALERT_ONLY, which Conductor only logs). PAUSED workflows still time out:
    Conductor checks the timeout before it looks at the pause."""
    definition = workflow.definition
    if workflow.terminal or definition.timeout_seconds <= 0 or definition.timeout_policy != TIME_OUT_WF:
        return None
    return _workflow_clock_start(workflow) + definition.timeout_seconds * 1000


def _workflow_clock_start(workflow: WorkflowState) -> int:
    # A retry of the workflow restarts its clock; otherwise it runs from creation.
    return workflow.last_retried_time if workflow.last_retried_time > 0 else workflow.create_time


def check_workflow_timeout(*, workflow: WorkflowState, now: int) -> str | None:
    """The reason to end the workflow TIMED_OUT at ``now`` (its tasks get CANCELED), or None."""
    deadline = workflow_deadline(workflow)
    if deadline is None or now < deadline:
        return None
    elapsed = (now - _workflow_clock_start(workflow)) // 1000
    return (
        f"Workflow timed out after {elapsed} seconds. Timeout configured as "
        f"{workflow.definition.timeout_seconds} seconds. Timeout policy configured to {TIME_OUT_WF}"
    )
