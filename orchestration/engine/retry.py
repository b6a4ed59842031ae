"""Retry policy for failed task attempts, as pure functions.

Behaviour follows Conductor's ``DeciderService.retry``: which attempts may be retried, how long
the next attempt waits, and the all-attempts ``totalTimeoutSeconds`` guard. Nothing here reads
the clock or a global random generator: ``now`` (epoch ms) and the random source are parameters,
so the decider stays deterministic under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestration.conductor.java_text import java_string
from orchestration.definitions.model import TaskDefinition, WorkflowTaskNode
from orchestration.engine.state import RETRIABLE_TASK, TaskState

# Conductor computes delays in Java ``int`` seconds and resets an overflow to Integer.MAX_VALUE.
INT_MAX = 2**31 - 1

# Task types Conductor never retries (TaskType.isBuiltIn). Conductor's own set is DECISION, SWITCH,
# FORK, JOIN, EXCLUSIVE_JOIN, DO_WHILE; FORK_JOIN / FORK_JOIN_DYNAMIC never occur as a *task*
# type (both map to FORK) and are listed only so a caller passing a node type gets the same answer.
BUILT_IN_TYPES = frozenset(
    {"DECISION", "SWITCH", "FORK", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "EXCLUSIVE_JOIN", "DO_WHILE"}
)

# Beyond this exponent 2**n times any positive base overflows an int anyway; capping it keeps a
# corrupt retry_count from building a huge Python integer.
_MAX_EXPONENT = 62


class RandomSource(Protocol):
    """The one method of ``random.Random`` the engine uses; inclusive on both ends."""

    def randint(self, a: int, b: int) -> int: ...


def _clamp(delay: int) -> int:
    # Conductor multiplies in 32-bit ints and only resets *negative* results, so a product that
    # wraps to a positive number (e.g. 60s * 2**30 wraps to exactly 0) slips through there. Baton
    # clamps the true product instead: identical whenever Conductor's guard works, sane otherwise.
    # Negative inputs (retryDelaySeconds is not validated) mean "no wait", as a negative queue
    # delay does in Conductor.
    return max(0, min(delay, INT_MAX))


def retry_delay_seconds(task_def: TaskDefinition, retry_count: int) -> int:
    """Whole seconds the next attempt waits; ``retry_count`` is that of the attempt that failed.

    FIXED: ``retryDelaySeconds``; LINEAR_BACKOFF: ``retryDelaySeconds * backoffScaleFactor *
    (retry_count + 1)``; EXPONENTIAL_BACKOFF: ``retryDelaySeconds * 2**retry_count``. The result is
    clamped to the int range, then capped by ``maxRetryDelaySeconds`` when that is positive.
    An unknown logic behaves as FIXED (Conductor's enum cannot hold one).
    """
    base = task_def.retry_delay_seconds
    attempt = max(0, retry_count)
    if task_def.retry_logic == "LINEAR_BACKOFF":
        delay = _clamp(base * task_def.backoff_scale_factor * (attempt + 1))
    elif task_def.retry_logic == "EXPONENTIAL_BACKOFF":
        delay = _clamp(base * (1 << min(attempt, _MAX_EXPONENT)))
    else:
        delay = _clamp(base)
    cap = task_def.max_retry_delay_seconds
    return cap if 0 < cap < delay else delay


def retry_delay_ms(task_def: TaskDefinition, retry_count: int, rng: RandomSource) -> int:
    """The queue delay in ms: the seconds delay plus jitter drawn uniformly from
    ``[0, backoffJitterMs]``. The jitter is added *after* the cap, so a capped delay can exceed
    ``maxRetryDelaySeconds`` by up to the jitter, as in Conductor. The task's
    ``startDelayInSeconds`` / ``callbackAfterSeconds`` take only the seconds part."""
    jitter_max = task_def.backoff_jitter_ms
    # No draw without jitter so a scripted RandomSource only sees the calls that matter.
    jitter = rng.randint(0, jitter_max) if jitter_max > 0 else 0
    return retry_delay_seconds(task_def, retry_count) * 1000 + jitter


def allowed_retries(node: WorkflowTaskNode | None, task_def: TaskDefinition | None) -> int:
    """Retries allowed after the first attempt: the node's ``retryCount`` override when set,
    else the TaskDef's. Without any TaskDef the answer is 0 even if the node sets an override:
    Conductor only consults the override once it has a definition (system tasks normally carry
    an ad-hoc one with retryCount 0, see ``TaskDefinition.adhoc``)."""
    if task_def is None:
        return 0
    if node is not None and node.retry_count is not None:
        return node.retry_count
    return task_def.retry_count


def workflow_status_for_failed_task(task_status: str) -> str:
    """The workflow status a non-retried, non-optional failure ends the workflow with."""
    return {"CANCELED": "TERMINATED", "TIMED_OUT": "TIMED_OUT"}.get(task_status, "FAILED")


@dataclass(frozen=True, slots=True)
class RetryRefusal:
    """Why a terminal, unsuccessful attempt will not be retried.

    ``kind``: ``not_retriable`` (CANCELED, FAILED_WITH_TERMINAL_ERROR, SKIPPED), ``built_in``,
    ``exhausted`` (retry_count reached the allowed count) or ``total_timeout`` (the
    ``totalTimeoutSeconds`` budget is spent while retries remain).
    ``workflow_status`` / ``reason``: what the workflow ends with if the failure is not absorbed.
    """

    kind: str
    workflow_status: str
    reason: str

    @property
    def honours_optional(self) -> bool:
        # Conductor tests optional/permissive only for the first three kinds; the total-budget
        # guard comes after that test and terminates the workflow even for optional tasks.
        return self.kind != "total_timeout"


def _total_elapsed_seconds(task: TaskState, task_def: TaskDefinition, now: int) -> int | None:
    """Seconds since the first attempt was scheduled, or None when no budget applies
    (unset budget, or a task that predates first_scheduled_time)."""
    if task_def.total_timeout_seconds <= 0 or task.first_scheduled_time <= 0:
        return None
    return (now - task.first_scheduled_time) // 1000


def retry_refusal(
    *, task: TaskState, node: WorkflowTaskNode | None, task_def: TaskDefinition | None, now: int
) -> RetryRefusal | None:
    """None when ``task`` (a terminal, unsuccessful attempt) gets another attempt, else why not."""
    if task.status not in RETRIABLE_TASK:
        kind = "not_retriable"
    elif task.task_type in BUILT_IN_TYPES:
        kind = "built_in"
    elif allowed_retries(node, task_def) <= task.retry_count:
        kind = "exhausted"
    else:
        kind = ""
    if kind:
        status = workflow_status_for_failed_task(task.status)
        # Java formats a null reason as the text "null"; keep the wire text identical.
        cause = java_string(task.reason_for_incompletion)
        reason = f"Task {task.task_id} failed with status: {status} and reason: '{cause}'"
        return RetryRefusal(kind, status, reason)
    assert task_def is not None  # allowed_retries() is 0 without a definition
    elapsed = _total_elapsed_seconds(task, task_def, now)
    # Only time already spent counts: the next retry delay is not added, so a retry may be
    # scheduled whose wait outlasts the budget; the total check then times out that attempt.
    if elapsed is not None and elapsed >= task_def.total_timeout_seconds:
        status = "TIMED_OUT" if task.status == "TIMED_OUT" else "FAILED"
        # Conductor's text puts taskId before the def name here (the timeout check does the reverse).
        reason = (
            f"Task {task.task_id}/{task.task_def_name} exceeded total timeout of "
            f"{task_def.total_timeout_seconds} seconds (elapsed {elapsed} seconds across all attempts). "
            "No further retries will be attempted."
        )
        return RetryRefusal("total_timeout", status, reason)
    return None


def can_retry(
    *, task: TaskState, node: WorkflowTaskNode | None, task_def: TaskDefinition | None, now: int
) -> bool:
    """True when the failed attempt ``task`` should be followed by a new attempt.

    Use ``retry_refusal`` to learn why not: a ``total_timeout`` refusal ends the workflow even
    for optional/permissive tasks, unlike the others.
    """
    return retry_refusal(task=task, node=node, task_def=task_def, now=now) is None
