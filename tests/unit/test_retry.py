"""Table-driven tests for orchestration.engine.retry: who may retry, and the delay of each policy."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from orchestration.definitions.model import TaskDefinition, WorkflowTaskNode
from orchestration.engine import retry
from orchestration.engine.retry import INT_MAX
from orchestration.engine.state import TaskState

T0 = 1_700_000_000_000


class ScriptedRandom:
    """A RandomSource that returns a fixed value and records every call."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.calls: list[tuple[int, int]] = []

    def randint(self, a: int, b: int) -> int:
        self.calls.append((a, b))
        return self.value


def tdef(**kw: Any) -> TaskDefinition:
    return TaskDefinition(name="work", **kw)


def node(retry_count: int | None) -> WorkflowTaskNode:
    data: dict[str, Any] = {"name": "work", "taskReferenceName": "w", "type": "SIMPLE"}
    if retry_count is not None:
        data["retryCount"] = retry_count
    return WorkflowTaskNode.from_json(data)


def task(**kw: Any) -> TaskState:
    base: dict[str, Any] = {
        "task_id": "t1", "ref": "w", "task_type": "work", "task_def_name": "work", "status": "FAILED", "seq": 1,
    }
    base.update(kw)
    return TaskState(**base)


# --- delay in seconds ---

DELAY_CASES = [
    # (id, task def fields, retry_count, expected seconds)
    ("fixed", {"retry_delay_seconds": 60}, 0, 60),
    ("fixed ignores retry count", {"retry_delay_seconds": 60}, 7, 60),
    ("fixed zero", {"retry_delay_seconds": 0}, 2, 0),
    ("fixed capped", {"retry_delay_seconds": 60, "max_retry_delay_seconds": 30}, 0, 30),
    ("fixed cap above delay", {"retry_delay_seconds": 60, "max_retry_delay_seconds": 90}, 0, 60),
    ("fixed cap equal", {"retry_delay_seconds": 60, "max_retry_delay_seconds": 60}, 0, 60),
    ("unknown logic is fixed", {"retry_logic": "BOGUS", "retry_delay_seconds": 7}, 3, 7),
    ("linear first", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 10, "backoff_scale_factor": 2}, 0, 20),
    ("linear third", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 10, "backoff_scale_factor": 2}, 2, 60),
    ("linear scale 1", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 5}, 4, 25),
    (
        "linear capped",
        {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 10, "backoff_scale_factor": 3, "max_retry_delay_seconds": 45},
        2,
        45,
    ),
    ("linear overflow clamps", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 2**30, "backoff_scale_factor": 2}, 0, INT_MAX),
    ("linear exactly int max", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": INT_MAX}, 0, INT_MAX),
    (
        "linear overflow then capped",
        {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 2**30, "backoff_scale_factor": 4, "max_retry_delay_seconds": 600},
        5,
        600,
    ),
    ("exponential first", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 10}, 0, 10),
    ("exponential second", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 10}, 1, 20),
    ("exponential fourth", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 10}, 3, 80),
    ("exponential ignores scale", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 10, "backoff_scale_factor": 5}, 2, 40),
    ("exponential capped", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 10, "max_retry_delay_seconds": 50}, 3, 50),
    ("exponential just below overflow", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 1}, 30, 2**30),
    # Conductor's 32-bit product wraps to exactly 0 here; Baton clamps the true value instead.
    ("exponential overflow clamps", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 60}, 30, INT_MAX),
    ("exponential 2**31 clamps", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 1}, 31, INT_MAX),
    ("exponential huge retry count", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 1}, 10_000, INT_MAX),
    ("exponential zero base", {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 0}, 500, 0),
    (
        "exponential overflow then capped",
        {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 60, "max_retry_delay_seconds": 3600},
        40,
        3600,
    ),
    ("negative base means no wait", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": -5}, 1, 0),
]


@pytest.mark.parametrize(("fields", "retry_count", "expected"), [c[1:] for c in DELAY_CASES], ids=[c[0] for c in DELAY_CASES])
def test_retry_delay_seconds(fields: dict[str, Any], retry_count: int, expected: int) -> None:
    assert retry.retry_delay_seconds(tdef(**fields), retry_count) == expected


# --- delay in ms, with jitter ---

JITTER_CASES = [
    # (id, task def fields, retry_count, scripted draw, expected ms, expected rng calls)
    ("no jitter, no draw", {"retry_delay_seconds": 60}, 0, 999, 60_000, []),
    ("jitter low end", {"retry_delay_seconds": 60, "backoff_jitter_ms": 500}, 0, 0, 60_000, [(0, 500)]),
    ("jitter high end", {"retry_delay_seconds": 60, "backoff_jitter_ms": 500}, 0, 500, 60_500, [(0, 500)]),
    ("jitter middle", {"retry_delay_seconds": 60, "backoff_jitter_ms": 500}, 0, 123, 60_123, [(0, 500)]),
    (
        "jitter added after cap",
        {"retry_logic": "EXPONENTIAL_BACKOFF", "retry_delay_seconds": 10, "max_retry_delay_seconds": 15, "backoff_jitter_ms": 250},
        3,
        250,
        15_250,
        [(0, 250)],
    ),
    ("zero delay, jitter only", {"retry_delay_seconds": 0, "backoff_jitter_ms": 40}, 0, 17, 17, [(0, 40)]),
    ("linear with jitter", {"retry_logic": "LINEAR_BACKOFF", "retry_delay_seconds": 3, "backoff_jitter_ms": 1}, 1, 1, 6_001, [(0, 1)]),
]


@pytest.mark.parametrize(
    ("fields", "retry_count", "draw", "expected", "calls"), [c[1:] for c in JITTER_CASES], ids=[c[0] for c in JITTER_CASES]
)
def test_retry_delay_ms(fields: dict[str, Any], retry_count: int, draw: int, expected: int, calls: list[tuple[int, int]]) -> None:
    rng = ScriptedRandom(draw)
    assert retry.retry_delay_ms(tdef(**fields), retry_count, rng) == expected
    assert rng.calls == calls


def test_real_random_jitter_stays_within_bounds_and_reaches_both_ends() -> None:
    definition = tdef(retry_delay_seconds=2, backoff_jitter_ms=3)
    rng = random.Random(7)
    seen = {retry.retry_delay_ms(definition, 0, rng) for _ in range(500)}
    assert seen == {2000, 2001, 2002, 2003}


# --- allowed retries ---

ALLOWED_CASES = [
    ("task def value", None, tdef(retry_count=3), 3),
    ("node without override", node(None), tdef(retry_count=4), 4),
    ("node override wins", node(7), tdef(retry_count=3), 7),
    ("node override zero wins", node(0), tdef(retry_count=3), 0),
    ("no task def", node(None), None, 0),
    # Conductor ignores the node override when it has no definition at all.
    ("no task def ignores override", node(5), None, 0),
    ("nothing", None, None, 0),
]


@pytest.mark.parametrize(("wf_node", "definition", "expected"), [c[1:] for c in ALLOWED_CASES], ids=[c[0] for c in ALLOWED_CASES])
def test_allowed_retries(wf_node: WorkflowTaskNode | None, definition: TaskDefinition | None, expected: int) -> None:
    assert retry.allowed_retries(wf_node, definition) == expected


def test_built_in_types_match_conductor() -> None:
    conductor = {"DECISION", "SWITCH", "FORK", "JOIN", "EXCLUSIVE_JOIN", "DO_WHILE"}
    assert conductor <= retry.BUILT_IN_TYPES
    assert retry.BUILT_IN_TYPES - conductor == {"FORK_JOIN", "FORK_JOIN_DYNAMIC"}


# --- can_retry / retry_refusal ---

BUDGET_DEF = tdef(retry_count=3, total_timeout_seconds=100)

CAN_RETRY_CASES: list[tuple[str, dict[str, Any], WorkflowTaskNode | None, TaskDefinition | None, int, str | None]] = [
    # (id, task fields, node, task def, now, expected refusal kind or None for "retry")
    ("failed first attempt", {}, None, tdef(retry_count=3), T0, None),
    ("timed out retries", {"status": "TIMED_OUT"}, None, tdef(retry_count=3), T0, None),
    ("last allowed retry", {"retry_count": 2}, None, tdef(retry_count=3), T0, None),
    ("retries used up", {"retry_count": 3}, None, tdef(retry_count=3), T0, "exhausted"),
    ("retry count beyond allowed", {"retry_count": 9}, None, tdef(retry_count=3), T0, "exhausted"),
    ("zero retries", {}, None, tdef(retry_count=0), T0, "exhausted"),
    ("override raises limit", {"retry_count": 3}, node(5), tdef(retry_count=3), T0, None),
    ("override lowers limit", {"retry_count": 1}, node(1), tdef(retry_count=3), T0, "exhausted"),
    ("override zero", {}, node(0), tdef(retry_count=3), T0, "exhausted"),
    ("no task def", {}, node(3), None, T0, "exhausted"),
    ("canceled", {"status": "CANCELED"}, None, tdef(retry_count=3), T0, "not_retriable"),
    ("terminal error", {"status": "FAILED_WITH_TERMINAL_ERROR"}, None, tdef(retry_count=3), T0, "not_retriable"),
    ("skipped", {"status": "SKIPPED"}, None, tdef(retry_count=3), T0, "not_retriable"),
    ("status checked before exhaustion", {"status": "CANCELED", "retry_count": 5}, None, tdef(retry_count=3), T0, "not_retriable"),
    # total budget, measured from the first attempt's scheduling
    ("budget left", {"first_scheduled_time": T0}, None, BUDGET_DEF, T0 + 99_999, None),
    ("budget spent at boundary", {"first_scheduled_time": T0}, None, BUDGET_DEF, T0 + 100_000, "total_timeout"),
    ("budget spent after", {"first_scheduled_time": T0}, None, BUDGET_DEF, T0 + 500_000, "total_timeout"),
    # the next retry delay (60s) is not added: 99s spent of 100 still retries
    (
        "next delay not counted",
        {"first_scheduled_time": T0, "retry_count": 1},
        None,
        replace(BUDGET_DEF, retry_logic="EXPONENTIAL_BACKOFF"),
        T0 + 99_000,
        None,
    ),
    ("no first scheduled time, no budget", {"first_scheduled_time": 0}, None, BUDGET_DEF, T0 + 500_000, None),
    ("budget disabled", {"first_scheduled_time": T0}, None, tdef(retry_count=3), T0 + 10**9, None),
    ("exhaustion before budget", {"first_scheduled_time": T0, "retry_count": 3}, None, BUDGET_DEF, T0 + 500_000, "exhausted"),
]
CAN_RETRY_CASES += [
    (f"built-in {kind}", {"task_type": kind}, None, tdef(retry_count=3), T0, "built_in") for kind in sorted(retry.BUILT_IN_TYPES)
]
CAN_RETRY_CASES += [
    (f"system task {kind} retries", {"task_type": kind}, None, tdef(retry_count=1), T0, None)
    for kind in ("HTTP", "SUB_WORKFLOW", "INLINE", "WAIT")
]


@pytest.mark.parametrize(
    ("fields", "wf_node", "definition", "now", "refusal"), [c[1:] for c in CAN_RETRY_CASES], ids=[c[0] for c in CAN_RETRY_CASES]
)
def test_can_retry(
    fields: dict[str, Any], wf_node: WorkflowTaskNode | None, definition: TaskDefinition | None, now: int, refusal: str | None
) -> None:
    attempt = task(**fields)
    verdict = retry.retry_refusal(task=attempt, node=wf_node, task_def=definition, now=now)
    assert (verdict.kind if verdict else None) == refusal
    assert retry.can_retry(task=attempt, node=wf_node, task_def=definition, now=now) is (refusal is None)


REFUSAL_TEXT_CASES = [
    # (id, task fields, task def, now, workflow status, reason, honours optional)
    ("failed", {"reason_for_incompletion": "boom"}, tdef(retry_count=0), T0, "FAILED", "Task t1 failed with status: FAILED and reason: 'boom'", True),
    ("canceled", {"status": "CANCELED"}, tdef(), T0, "TERMINATED", "Task t1 failed with status: TERMINATED and reason: 'null'", True),
    ("timed out", {"status": "TIMED_OUT", "retry_count": 3, "reason_for_incompletion": "slow"}, tdef(), T0, "TIMED_OUT",
     "Task t1 failed with status: TIMED_OUT and reason: 'slow'", True),
    ("terminal error", {"status": "FAILED_WITH_TERMINAL_ERROR", "reason_for_incompletion": "x"}, tdef(), T0, "FAILED",
     "Task t1 failed with status: FAILED and reason: 'x'", True),
    ("budget, failed attempt", {"first_scheduled_time": T0}, BUDGET_DEF, T0 + 123_456, "FAILED",
     "Task t1/work exceeded total timeout of 100 seconds (elapsed 123 seconds across all attempts). "
     "No further retries will be attempted.", False),
    ("budget, timed out attempt", {"status": "TIMED_OUT", "first_scheduled_time": T0}, BUDGET_DEF, T0 + 100_000, "TIMED_OUT",
     "Task t1/work exceeded total timeout of 100 seconds (elapsed 100 seconds across all attempts). "
     "No further retries will be attempted.", False),
]


@pytest.mark.parametrize(
    ("fields", "definition", "now", "status", "reason", "honours_optional"),
    [c[1:] for c in REFUSAL_TEXT_CASES],
    ids=[c[0] for c in REFUSAL_TEXT_CASES],
)
def test_refusal_status_and_reason(
    fields: dict[str, Any], definition: TaskDefinition, now: int, status: str, reason: str, honours_optional: bool
) -> None:
    verdict = retry.retry_refusal(task=task(**fields), node=None, task_def=definition, now=now)
    assert verdict is not None
    assert (verdict.workflow_status, verdict.reason, verdict.honours_optional) == (status, reason, honours_optional)


def test_workflow_status_for_failed_task() -> None:
    assert [retry.workflow_status_for_failed_task(s) for s in ("CANCELED", "TIMED_OUT", "FAILED", "FAILED_WITH_TERMINAL_ERROR")] == [
        "TERMINATED", "TIMED_OUT", "FAILED", "FAILED",
    ]
