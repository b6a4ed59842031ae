"""Table-driven tests for orchestration.engine.timeouts: each deadline just before and at its
instant, with startDelay and callbackAfterSeconds."""

from __future__ import annotations

import random
from typing import Any

import pytest

from orchestration.definitions.model import TaskDefinition, WorkflowDefinition
from orchestration.engine import timeouts
from orchestration.engine.state import TaskState, WorkflowState
from orchestration.engine.timeouts import TimeoutVerdict

T0 = 1_700_000_000_000
POLICIES = ("RETRY", "TIME_OUT_WF", "ALERT_ONLY")


def tdef(**kw: Any) -> TaskDefinition:
    # A quiet baseline: every check off unless a case switches it on.
    fields: dict[str, Any] = {"response_timeout_seconds": 0, "timeout_policy": "RETRY"}
    fields.update(kw)
    return TaskDefinition(name="work", **fields)


def task(**kw: Any) -> TaskState:
    fields: dict[str, Any] = {
        "task_id": "t1", "ref": "w", "task_type": "work", "task_def_name": "work", "status": "SCHEDULED", "seq": 1,
        "scheduled_time": T0, "first_scheduled_time": T0, "update_time": T0,
    }
    fields.update(kw)
    return TaskState(**fields)


def total_reason(elapsed: int, policy: str = "RETRY") -> str:
    return (
        f"Task work/t1 exceeded total timeout of 100 seconds (elapsed {elapsed} seconds across all attempts "
        f"including retry delays). Timeout policy: {policy}"
    )


def task_reason(elapsed: int, policy: str = "RETRY") -> str:
    return f"Task timed out after {elapsed} seconds. Timeout configured as 10 seconds. Timeout policy configured to {policy}"


def poll_reason(elapsed: int, policy: str = "RETRY") -> str:
    return f"Task poll timed out after {elapsed} seconds. Poll timeout configured as 10 seconds. Timeout policy configured to {policy}"


RESPONSE_REASON = "responseTimeout: 30 exceeded for the taskId: t1 with Task Definition: work"

TOTAL = {"total_timeout_seconds": 100}
TASK = {"timeout_seconds": 10}
POLL = {"poll_timeout_seconds": 10}
RESPONSE = {"response_timeout_seconds": 30}

# (id, task def fields, task fields, now, expected verdict or None)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], int, TimeoutVerdict | None]] = [
    # total budget: first_scheduled_time + 100 s, any non-terminal status
    ("total before", TOTAL, {}, T0 + 99_999, None),
    ("total at", TOTAL, {}, T0 + 100_000, TimeoutVerdict("total", total_reason(100), "RETRY")),
    ("total after", TOTAL, {"status": "IN_PROGRESS"}, T0 + 250_500, TimeoutVerdict("total", total_reason(250), "RETRY")),
    ("total on a retried attempt", TOTAL, {"scheduled_time": T0 + 90_000, "retry_count": 2}, T0 + 100_000,
     TimeoutVerdict("total", total_reason(100), "RETRY")),
    ("total skips terminal", TOTAL, {"status": "FAILED"}, T0 + 10**9, None),
    ("total needs first_scheduled_time", TOTAL, {"first_scheduled_time": 0}, T0 + 10**9, None),
    ("total TIME_OUT_WF", {**TOTAL, "timeout_policy": "TIME_OUT_WF"}, {}, T0 + 100_000,
     TimeoutVerdict("total", total_reason(100, "TIME_OUT_WF"), "TIME_OUT_WF")),
    ("total ALERT_ONLY", {**TOTAL, "timeout_policy": "ALERT_ONLY"}, {}, T0 + 100_000,
     TimeoutVerdict("total", total_reason(100, "ALERT_ONLY"), "ALERT_ONLY")),
    # per-attempt timeoutSeconds: startTime + startDelay + 10 s, only once polled
    ("task before", TASK, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 9_999, None),
    ("task at", TASK, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 10_000, TimeoutVerdict("task", task_reason(10), "RETRY")),
    ("task after", TASK, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 42_900, TimeoutVerdict("task", task_reason(42), "RETRY")),
    ("task start delay before", TASK, {"status": "IN_PROGRESS", "start_time": T0, "start_delay_seconds": 5}, T0 + 14_999, None),
    ("task start delay at", TASK, {"status": "IN_PROGRESS", "start_time": T0, "start_delay_seconds": 5}, T0 + 15_000,
     TimeoutVerdict("task", task_reason(10), "RETRY")),
    ("task not polled", TASK, {"start_time": 0}, T0 + 10**9, None),
    ("task re-polled after callback keeps counting", TASK, {"start_time": T0, "callback_after_seconds": 60}, T0 + 10_000,
     TimeoutVerdict("task", task_reason(10), "RETRY")),
    ("task skips terminal", TASK, {"status": "COMPLETED", "start_time": T0}, T0 + 10**9, None),
    ("task TIME_OUT_WF", {**TASK, "timeout_policy": "TIME_OUT_WF"}, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 10_000,
     TimeoutVerdict("task", task_reason(10, "TIME_OUT_WF"), "TIME_OUT_WF")),
    ("task ALERT_ONLY", {**TASK, "timeout_policy": "ALERT_ONLY"}, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 10_000,
     TimeoutVerdict("task", task_reason(10, "ALERT_ONLY"), "ALERT_ONLY")),
    # poll: SCHEDULED only, scheduledTime + startDelay + (10 + callbackAfterSeconds) s
    ("poll before", POLL, {}, T0 + 9_999, None),
    ("poll at", POLL, {}, T0 + 10_000, TimeoutVerdict("poll", poll_reason(10), "RETRY")),
    ("poll start delay before", POLL, {"start_delay_seconds": 5}, T0 + 14_999, None),
    ("poll start delay at", POLL, {"start_delay_seconds": 5}, T0 + 15_000, TimeoutVerdict("poll", poll_reason(10), "RETRY")),
    ("poll callback extends before", POLL, {"callback_after_seconds": 20}, T0 + 29_999, None),
    # the reported elapsed time includes the callback extension, the configured figure does not
    ("poll callback extends at", POLL, {"callback_after_seconds": 20}, T0 + 30_000, TimeoutVerdict("poll", poll_reason(30), "RETRY")),
    ("poll retried attempt counts delay twice", POLL, {"start_delay_seconds": 20, "callback_after_seconds": 20}, T0 + 49_999, None),
    ("poll retried attempt at", POLL, {"start_delay_seconds": 20, "callback_after_seconds": 20}, T0 + 50_000,
     TimeoutVerdict("poll", poll_reason(30), "RETRY")),
    ("poll not while in progress", POLL, {"status": "IN_PROGRESS"}, T0 + 10**9, None),
    ("poll TIME_OUT_WF", {**POLL, "timeout_policy": "TIME_OUT_WF"}, {}, T0 + 10_000,
     TimeoutVerdict("poll", poll_reason(10, "TIME_OUT_WF"), "TIME_OUT_WF")),
    ("poll ALERT_ONLY", {**POLL, "timeout_policy": "ALERT_ONLY"}, {}, T0 + 10_000,
     TimeoutVerdict("poll", poll_reason(10, "ALERT_ONLY"), "ALERT_ONLY")),
    # response: IN_PROGRESS only, updateTime + (30 + callbackAfterSeconds) s, always RETRY-like
    ("response before", RESPONSE, {"status": "IN_PROGRESS"}, T0 + 29_999, None),
    ("response at", RESPONSE, {"status": "IN_PROGRESS"}, T0 + 30_000, TimeoutVerdict("response", RESPONSE_REASON, "RETRY")),
    ("response counts from last update", RESPONSE, {"status": "IN_PROGRESS", "update_time": T0 + 5_000}, T0 + 34_999, None),
    ("response callback extends before", RESPONSE, {"status": "IN_PROGRESS", "callback_after_seconds": 10}, T0 + 39_999, None),
    ("response callback extends at", RESPONSE, {"status": "IN_PROGRESS", "callback_after_seconds": 10}, T0 + 40_000,
     TimeoutVerdict("response", RESPONSE_REASON, "RETRY")),
    ("response ignores policy TIME_OUT_WF", {**RESPONSE, "timeout_policy": "TIME_OUT_WF"}, {"status": "IN_PROGRESS"}, T0 + 30_000,
     TimeoutVerdict("response", RESPONSE_REASON, "RETRY")),
    ("response ignores policy ALERT_ONLY", {**RESPONSE, "timeout_policy": "ALERT_ONLY"}, {"status": "IN_PROGRESS"}, T0 + 30_000,
     TimeoutVerdict("response", RESPONSE_REASON, "RETRY")),
    ("response not while scheduled", RESPONSE, {}, T0 + 10**9, None),
    ("response zero disables", {"response_timeout_seconds": 0}, {"status": "IN_PROGRESS"}, T0 + 10**9, None),
    # order: total, task, poll, response; the first actionable one wins
    ("total beats task", {**TOTAL, **TASK}, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 100_000,
     TimeoutVerdict("total", total_reason(100), "RETRY")),
    ("task beats poll", {**TASK, **POLL}, {"start_time": T0}, T0 + 10_000, TimeoutVerdict("task", task_reason(10), "RETRY")),
    ("task beats response", {**TASK, **RESPONSE}, {"status": "IN_PROGRESS", "start_time": T0}, T0 + 30_000,
     TimeoutVerdict("task", task_reason(30), "RETRY")),
    ("earlier deadline still loses to order", {**TOTAL, **RESPONSE}, {"status": "IN_PROGRESS"}, T0 + 100_000,
     TimeoutVerdict("total", total_reason(100), "RETRY")),
    # ALERT_ONLY changes nothing, so a response timeout behind it still fires
    ("alert then response", {**TOTAL, **RESPONSE, "timeout_policy": "ALERT_ONLY"}, {"status": "IN_PROGRESS"}, T0 + 100_000,
     TimeoutVerdict("response", RESPONSE_REASON, "RETRY")),
    ("first alert reported", {**TOTAL, **POLL, "timeout_policy": "ALERT_ONLY"}, {}, T0 + 100_000,
     TimeoutVerdict("total", total_reason(100, "ALERT_ONLY"), "ALERT_ONLY")),
]


@pytest.mark.parametrize(("def_fields", "task_fields", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_task_timeouts(def_fields: dict[str, Any], task_fields: dict[str, Any], now: int, expected: TimeoutVerdict | None) -> None:
    assert timeouts.check_task_timeouts(task=task(**task_fields), task_def=tdef(**def_fields), now=now) == expected


def test_async_complete_tasks_never_get_a_response_timeout() -> None:
    running = task(status="IN_PROGRESS")
    definition = tdef(**RESPONSE)
    assert timeouts.check_task_timeouts(task=running, task_def=definition, now=T0 + 10**9, async_complete=True) is None
    assert timeouts.task_deadline(task=running, task_def=definition, async_complete=True) is None


def test_no_task_def_means_no_checks() -> None:
    assert timeouts.check_task_timeouts(task=task(status="IN_PROGRESS", update_time=0), task_def=None, now=T0) is None
    assert timeouts.task_deadline(task=task(), task_def=None) is None


@pytest.mark.parametrize(
    ("policy", "actionable", "times_out_workflow"),
    [("RETRY", True, False), ("TIME_OUT_WF", True, True), ("ALERT_ONLY", False, False)],
)
def test_verdict_flags(policy: str, actionable: bool, times_out_workflow: bool) -> None:
    verdict = TimeoutVerdict("task", "r", policy)
    assert (verdict.actionable, verdict.times_out_workflow) == (actionable, times_out_workflow)


# --- task_deadline ---

DEADLINE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], int | None]] = [
    ("nothing configured", {}, {"status": "IN_PROGRESS", "start_time": T0}, None),
    ("total", TOTAL, {}, T0 + 100_000),
    ("task", TASK, {"status": "IN_PROGRESS", "start_time": T0 + 1_000, "start_delay_seconds": 2}, T0 + 13_000),
    ("poll", POLL, {"start_delay_seconds": 1, "callback_after_seconds": 2}, T0 + 13_000),
    ("response", RESPONSE, {"status": "IN_PROGRESS", "update_time": T0 + 500, "callback_after_seconds": 1}, T0 + 31_500),
    ("earliest wins", {**TOTAL, **TASK, **RESPONSE}, {"status": "IN_PROGRESS", "start_time": T0 + 50_000}, T0 + 30_000),
    ("ALERT_ONLY leaves only response", {**TOTAL, **TASK, **RESPONSE, "timeout_policy": "ALERT_ONLY"},
     {"status": "IN_PROGRESS", "start_time": T0}, T0 + 30_000),
    ("ALERT_ONLY without response", {**TOTAL, **POLL, "timeout_policy": "ALERT_ONLY"}, {}, None),
    ("terminal", {**TOTAL, **TASK, **POLL, **RESPONSE}, {"status": "TIMED_OUT", "start_time": T0}, None),
]


@pytest.mark.parametrize(("def_fields", "task_fields", "expected"), [c[1:] for c in DEADLINE_CASES], ids=[c[0] for c in DEADLINE_CASES])
def test_task_deadline(def_fields: dict[str, Any], task_fields: dict[str, Any], expected: int | None) -> None:
    assert timeouts.task_deadline(task=task(**task_fields), task_def=tdef(**def_fields)) == expected


def _random_case(rng: random.Random) -> tuple[TaskState, TaskDefinition, bool]:
    def maybe(limit: int) -> int:
        return rng.randint(1, limit) if rng.random() < 0.6 else 0

    definition = tdef(
        timeout_policy=rng.choice(POLICIES),
        total_timeout_seconds=maybe(400),
        timeout_seconds=maybe(200),
        poll_timeout_seconds=maybe(100),
        response_timeout_seconds=maybe(100),
    )
    scheduled = T0 + rng.randint(0, 50_000)
    started = scheduled + rng.randint(0, 30_000) if rng.random() < 0.6 else 0
    attempt = task(
        status=rng.choice(("SCHEDULED", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED", "FAILED", "TIMED_OUT")),
        first_scheduled_time=T0 if rng.random() < 0.9 else 0,
        scheduled_time=scheduled,
        start_time=started,
        update_time=max(scheduled, started) + rng.randint(0, 20_000),
        start_delay_seconds=rng.choice((0, 0, rng.randint(1, 60))),
        callback_after_seconds=rng.choice((0, 0, rng.randint(1, 60))),
    )
    return attempt, definition, rng.random() < 0.2


def _actionable(attempt: TaskState, definition: TaskDefinition, now: int, async_complete: bool) -> bool:
    verdict = timeouts.check_task_timeouts(task=attempt, task_def=definition, now=now, async_complete=async_complete)
    return verdict is not None and verdict.actionable


def test_deadline_is_consistent_with_check_over_random_tasks() -> None:
    """now < deadline → no actionable verdict; now >= deadline → an actionable one."""
    rng = random.Random(20240611)
    fired = never = 0
    for _ in range(3000):
        attempt, definition, async_complete = _random_case(rng)
        deadline = timeouts.task_deadline(task=attempt, task_def=definition, async_complete=async_complete)
        if deadline is None:
            never += 1
            for now in (T0, T0 + rng.randint(0, 10**6), T0 + 10**9):
                assert not _actionable(attempt, definition, now, async_complete)
            continue
        fired += 1
        for now in (deadline - 1, deadline - rng.randint(1, 10**5)):
            assert not _actionable(attempt, definition, now, async_complete), (attempt, definition, now)
        for now in (deadline, deadline + 1, deadline + rng.randint(0, 10**6)):
            assert _actionable(attempt, definition, now, async_complete), (attempt, definition, now)
    assert fired > 500 and never > 500  # the generator exercises both branches


# --- workflow timeout ---


def workflow(*, policy: str = "TIME_OUT_WF", timeout: int = 10, **kw: Any) -> WorkflowState:
    definition = WorkflowDefinition.from_json({"name": "wf", "timeoutSeconds": timeout, "timeoutPolicy": policy, "tasks": []})
    fields: dict[str, Any] = {
        "workflow_id": "w1", "name": "wf", "version": 1, "status": "RUNNING", "definition": definition,
        "snapshot_key": "k", "create_time": T0,
    }
    fields.update(kw)
    return WorkflowState(**fields)


def wf_reason(elapsed: int) -> str:
    return f"Workflow timed out after {elapsed} seconds. Timeout configured as 10 seconds. Timeout policy configured to TIME_OUT_WF"


WORKFLOW_CASES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("before", {}, T0 + 9_999, None),
    ("at", {}, T0 + 10_000, wf_reason(10)),
    ("after", {}, T0 + 75_600, wf_reason(75)),
    ("paused still times out", {"status": "PAUSED"}, T0 + 10_000, wf_reason(10)),
    ("retried clock before", {"last_retried_time": T0 + 60_000}, T0 + 69_999, None),
    ("retried clock at", {"last_retried_time": T0 + 60_000}, T0 + 70_000, wf_reason(10)),
    ("ALERT_ONLY only logs", {"policy": "ALERT_ONLY"}, T0 + 10**9, None),
    ("no timeout", {"timeout": 0}, T0 + 10**9, None),
    ("terminal", {"status": "COMPLETED"}, T0 + 10**9, None),
    ("already timed out", {"status": "TIMED_OUT"}, T0 + 10**9, None),
]


@pytest.mark.parametrize(("fields", "now", "expected"), [c[1:] for c in WORKFLOW_CASES], ids=[c[0] for c in WORKFLOW_CASES])
def test_check_workflow_timeout(fields: dict[str, Any], now: int, expected: str | None) -> None:
    assert timeouts.check_workflow_timeout(workflow=workflow(**fields), now=now) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, T0 + 10_000),
        ({"status": "PAUSED"}, T0 + 10_000),
        ({"last_retried_time": T0 + 60_000}, T0 + 70_000),
        ({"policy": "ALERT_ONLY"}, None),
        ({"timeout": 0}, None),
        ({"status": "FAILED"}, None),
    ],
)
def test_workflow_deadline(fields: dict[str, Any], expected: int | None) -> None:
    wf = workflow(**fields)
    assert timeouts.workflow_deadline(wf) == expected
    if expected is not None:
        assert timeouts.check_workflow_timeout(workflow=wf, now=expected - 1) is None
        assert timeouts.check_workflow_timeout(workflow=wf, now=expected) is not None


# --- what a claim makes of the deadline (ClaimDeadline) -----------------------------------------


def as_claimed_deadline(t: TaskState, d: TaskDefinition, claimed_at: int, async_complete: bool = False) -> int | None:
    """The claim statement's arithmetic: the earliest of the fixed time and claim time + lease."""
    terms = timeouts.claim_deadline(task=t, task_def=d, async_complete=async_complete)
    candidates = [terms.at, None if terms.after_claim_ms is None else claimed_at + terms.after_claim_ms]
    found = [c for c in candidates if c is not None]
    return min(found) if found else None


def claimed(t: TaskState, at: int) -> TaskState:
    return TaskState(**{**{f: getattr(t, f) for f in t.__dataclass_fields__ if f not in ("is_new", "dirty", "loaded_status")},
                        "status": "IN_PROGRESS", "start_time": t.start_time or at, "update_time": at,
                        "callback_after_seconds": 0})


CLAIM_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("nothing set", {}, {}),
    ("response only", RESPONSE, {}),
    ("task timeout shorter than response", {"timeout_seconds": 10, "response_timeout_seconds": 30}, {}),
    ("response shorter than task timeout", {"timeout_seconds": 60, "response_timeout_seconds": 30}, {}),
    ("start delay counts into the task timeout", {"timeout_seconds": 10, **RESPONSE}, {"start_delay_seconds": 25}),
    ("already started: the task timeout is fixed", {"timeout_seconds": 60, **RESPONSE}, {"start_time": T0 - 50_000}),
    ("total timeout is fixed", {**TOTAL, **RESPONSE}, {"first_scheduled_time": T0 - 90_000}),
    ("ALERT_ONLY leaves out task and total timeouts", {"timeout_seconds": 10, **TOTAL, **RESPONSE, "timeout_policy": "ALERT_ONLY"}, {}),
    ("ALERT_ONLY without a response timeout: none", {"timeout_seconds": 10, "timeout_policy": "ALERT_ONLY"}, {}),
    ("TIME_OUT_WF counts like RETRY", {"timeout_seconds": 10, **RESPONSE, "timeout_policy": "TIME_OUT_WF"}, {}),
    ("a callback delay does not carry into the claim", RESPONSE, {"callback_after_seconds": 40}),
]


@pytest.mark.parametrize(("def_fields", "task_fields"), [c[1:] for c in CLAIM_CASES], ids=[c[0] for c in CLAIM_CASES])
@pytest.mark.parametrize("claimed_after_ms", [0, 1_000, 45_000])
def test_claim_deadline_is_the_task_deadline_once_claimed(
    def_fields: dict[str, Any], task_fields: dict[str, Any], claimed_after_ms: int
) -> None:
    d, t = tdef(**def_fields), task(**task_fields)
    at = T0 + claimed_after_ms
    assert as_claimed_deadline(t, d, at) == timeouts.task_deadline(task=claimed(t, at), task_def=d)


def test_claim_deadline_of_an_alert_only_task_is_its_response_timeout() -> None:
    d = tdef(timeout_seconds=10, total_timeout_seconds=20, response_timeout_seconds=30, timeout_policy="ALERT_ONLY")
    assert timeouts.claim_deadline(task=task(), task_def=d) == timeouts.ClaimDeadline(at=None, after_claim_ms=30_000)


def test_claim_deadline_of_an_async_complete_task_leaves_out_the_response_timeout() -> None:
    d = tdef(timeout_seconds=10, response_timeout_seconds=30)
    assert timeouts.claim_deadline(task=task(), task_def=d, async_complete=True) == timeouts.ClaimDeadline(None, 10_000)


def test_claim_deadline_is_empty_for_an_open_task_or_no_task_def() -> None:
    assert timeouts.claim_deadline(task=task(status="IN_PROGRESS"), task_def=tdef(**RESPONSE)) == timeouts.ClaimDeadline()
    assert timeouts.claim_deadline(task=task(), task_def=None) == timeouts.ClaimDeadline()


def test_set_deadlines_assigns_only_what_changed() -> None:
    d = tdef(**RESPONSE)
    t = task()
    timeouts.set_deadlines(t, task_def=d)
    t.start_tracking()
    timeouts.set_deadlines(t, task_def=d)
    assert not t.dirty
    assert (t.claim_deadline_at, t.claim_lease_ms) == (None, 30_000)
