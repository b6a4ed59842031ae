"""The pure decider, driven step by step with an injected clock, ids and random source."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from orchestration.definitions.model import WorkflowDefinition
from orchestration.engine.context import DecideContext
from orchestration.engine.decider import decide
from orchestration.engine.state import TaskState, WorkflowState

T0 = 1_700_000_000_000


class FakeRandom:
    def __init__(self, value: int = 0) -> None:
        self.value = value
        self.calls: list[tuple[int, int]] = []

    def randint(self, a: int, b: int) -> int:
        self.calls.append((a, b))
        return min(max(self.value, a), b)


def simple(name: str, ref: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref or name, "type": "SIMPLE", **extra}


def taskdef(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "retryCount": 0, "retryDelaySeconds": 0, "responseTimeoutSeconds": 3600, **fields}


class Run:
    """A workflow under test: state plus helpers that act like workers and the clock."""

    def __init__(self, definition: dict[str, Any], input: dict[str, Any] | None = None, rng: FakeRandom | None = None) -> None:
        definition = {"name": "wf", "version": 1, **definition}
        self.definition = WorkflowDefinition.from_json(definition)
        self.now = T0
        self.rng = rng or FakeRandom()
        self._ids = (f"t{i}" for i in itertools.count(1))
        self.wf = WorkflowState(
            workflow_id="wf1", name="wf", version=1, status="RUNNING", definition=self.definition, snapshot_key="k",
            input=dict(input or {}), variables=dict(self.definition.variables), create_time=T0, update_time=T0,
            is_new=True,
        )
        self.last = self.decide()

    def decide(self):
        ctx = DecideContext(workflow=self.wf, now=self.now, rng=self.rng, new_id=lambda: next(self._ids))
        self.last = decide(ctx)
        return self.last

    def task(self, ref: str, *, attempt: int = -1) -> TaskState:
        return [t for t in self.wf.tasks if t.ref == ref][attempt]

    def statuses(self) -> list[tuple[str, str]]:
        return [(t.ref, t.status) for t in self.wf.tasks]

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)

    def poll(self, ref: str) -> TaskState:
        task = self.task(ref)
        assert task.status == "SCHEDULED"
        task.status = "IN_PROGRESS"
        task.start_time = task.start_time or self.now
        task.update_time = self.now
        task.poll_count += 1
        return task

    def finish(self, ref: str, status: str = "COMPLETED", output: dict[str, Any] | None = None, reason: str | None = None):
        task = self.task(ref)
        if task.status == "SCHEDULED":
            self.poll(ref)
        task.set_status(status, now=self.now, reason=reason)
        task.output = output or {}
        return self.decide()


THREE = {"tasks": [simple("a"), simple("b", inputParameters={"x": "${a.output.v}"}), simple("c")]}


def test_sequence_runs_in_order_and_completes_with_output_parameters() -> None:
    run = Run({**THREE, "outputParameters": {"first": "${a.output.v}", "who": "${workflow.input.who}"}}, {"who": "ada"})
    assert run.statuses() == [("a", "SCHEDULED")]
    assert [t.ref for t in run.last.to_dispatch] == ["a"]
    run.finish("a", output={"v": 7})
    assert run.statuses() == [("a", "COMPLETED"), ("b", "SCHEDULED")]
    assert run.task("b").input == {"x": 7}
    run.finish("b")
    run.finish("c", output={"z": 1})
    assert run.wf.status == "COMPLETED"
    assert run.wf.output == {"first": 7, "who": "ada"}
    assert [t.seq for t in run.wf.tasks] == [1, 2, 3]


def test_default_output_is_the_last_tasks_output() -> None:
    run = Run(THREE)
    run.finish("a")
    run.finish("b")
    run.finish("c", output={"last": True})
    assert run.wf.output == {"last": True}


def test_deciding_again_changes_nothing() -> None:
    run = Run(THREE)
    run.finish("a")
    again = run.decide()
    assert again.new_tasks == [] and again.to_dispatch == []
    assert run.statuses() == [("a", "COMPLETED"), ("b", "SCHEDULED")]


def test_processed_tasks_are_flagged_executed_so_later_decides_skip_them() -> None:
    run = Run(THREE)
    run.finish("a")
    assert run.task("a").executed is True
    assert run.task("b").executed is False


def test_sync_system_task_runs_inside_the_decide_loop() -> None:
    run = Run({"tasks": [
        {"name": "set", "taskReferenceName": "set", "type": "SET_VARIABLE", "inputParameters": {"k": "${workflow.input.v}"}},
        {"name": "nop", "taskReferenceName": "nop", "type": "NOOP"},
        simple("a", inputParameters={"k": "${workflow.variables.k}"}),
    ]}, {"v": "hello"})
    assert run.statuses() == [("set", "COMPLETED"), ("nop", "COMPLETED"), ("a", "SCHEDULED")]
    assert run.wf.variables == {"k": "hello"}
    assert run.task("a").input == {"k": "hello"}
    assert [t.ref for t in run.last.to_dispatch] == ["a"]


def test_workflow_of_only_sync_tasks_completes_in_its_first_decide() -> None:
    run = Run({"tasks": [{"name": "n", "taskReferenceName": "n", "type": "NOOP"}], "outputParameters": {"ok": True}})
    assert run.wf.status == "COMPLETED" and run.wf.output == {"ok": True}


@pytest.mark.parametrize(
    ("logic", "fields", "expected_delays"),
    [
        ("FIXED", {"retryDelaySeconds": 5}, [5, 5, 5]),
        ("LINEAR_BACKOFF", {"retryDelaySeconds": 2, "backoffScaleFactor": 3}, [6, 12, 18]),
        ("EXPONENTIAL_BACKOFF", {"retryDelaySeconds": 2}, [2, 4, 8]),
        ("EXPONENTIAL_BACKOFF", {"retryDelaySeconds": 2, "maxRetryDelaySeconds": 5}, [2, 4, 5]),
    ],
)
def test_retries_follow_the_retry_logic(logic: str, fields: dict[str, Any], expected_delays: list[int]) -> None:
    td = taskdef("a", retryCount=3, retryLogic=logic, **fields)
    run = Run({"tasks": [simple("a", taskDefinition=td)]})
    delays = []
    for attempt in range(3):
        run.finish("a", status="FAILED", reason=f"boom {attempt}")
        new = run.task("a")
        assert new.retry_count == attempt + 1 and new.status == "SCHEDULED"
        assert run.task("a", attempt=-2).retried is True
        assert new.retried_task_id == run.task("a", attempt=-2).task_id
        delays.append((new.dispatch_at - run.now) // 1000)
        assert new.start_delay_seconds == delays[-1]
        assert new not in run.last.to_dispatch  # delayed: the sweeper publishes it when due
    assert delays == expected_delays
    run.finish("a", status="FAILED", reason="last")
    assert run.wf.status == "FAILED"
    assert run.wf.reason_for_incompletion == f"Task {run.task('a').task_id} failed with status: FAILED and reason: 'last'"
    assert run.wf.failed_reference_task_names == ["a"]


def test_jitter_comes_from_the_injected_random_source() -> None:
    rng = FakeRandom(value=250)
    td = taskdef("a", retryCount=1, retryDelaySeconds=1, backoffJitterMs=400)
    run = Run({"tasks": [simple("a", taskDefinition=td)]}, rng=rng)
    run.finish("a", status="FAILED")
    assert rng.calls == [(0, 400)]
    assert run.task("a").dispatch_at == run.now + 1250


def test_retry_without_delay_is_dispatched_at_once_and_re_resolves_input() -> None:
    td = taskdef("a", retryCount=1)
    run = Run({"tasks": [simple("a", taskDefinition=td, inputParameters={"v": "${workflow.variables.n}"})],
               "variables": {"n": 1}})
    run.wf.variables = {"n": 2}
    run.finish("a", status="FAILED")
    assert run.last.to_dispatch == [run.task("a")]
    assert run.task("a").input == {"v": 2}


def test_terminal_error_is_never_retried() -> None:
    run = Run({"tasks": [simple("a", taskDefinition=taskdef("a", retryCount=5))]})
    run.finish("a", status="FAILED_WITH_TERMINAL_ERROR", reason="bad input")
    assert run.wf.status == "FAILED"
    assert len(run.wf.tasks) == 1
    assert "bad input" in run.wf.reason_for_incompletion


def test_a_task_without_taskdef_gets_conductors_adhoc_defaults() -> None:
    run = Run({"tasks": [simple("a")]})
    assert run.task("a").response_timeout_seconds == 3600
    run.finish("a", status="FAILED")
    assert run.task("a").retry_count == 1
    assert run.task("a").dispatch_at - run.now == 60_000


def test_optional_task_completes_with_errors_and_the_workflow_goes_on() -> None:
    run = Run({"tasks": [simple("a", optional=True, taskDefinition=taskdef("a", retryCount=1)), simple("b")]})
    run.finish("a", status="FAILED")
    run.finish("a", status="FAILED", reason="again")
    assert run.task("a").status == "COMPLETED_WITH_ERRORS"
    assert run.task("b").status == "SCHEDULED"
    run.finish("b")
    assert run.wf.status == "COMPLETED"


def test_permissive_failure_lets_the_workflow_run_then_fails_it() -> None:
    run = Run({"tasks": [simple("a", permissive=True, taskDefinition=taskdef("a")), simple("b")]})
    run.finish("a", status="FAILED", reason="soft")
    assert run.task("b").status == "SCHEDULED" and run.wf.status == "RUNNING"
    run.finish("b")
    assert run.wf.status == "FAILED"
    assert "soft" in run.wf.reason_for_incompletion


def test_response_timeout_times_the_task_out_and_retries_it() -> None:
    td = taskdef("a", retryCount=1, responseTimeoutSeconds=10, timeoutPolicy="TIME_OUT_WF")
    run = Run({"tasks": [simple("a", taskDefinition=td)]})
    run.poll("a")
    run.advance(9)
    run.decide()
    assert run.task("a").status == "IN_PROGRESS"
    run.advance(2)
    run.decide()
    assert run.task("a", attempt=0).status == "TIMED_OUT"
    assert run.task("a").status == "SCHEDULED" and run.task("a").retry_count == 1
    assert run.wf.status == "RUNNING"


def test_response_timeout_with_no_retries_left_times_the_workflow_out() -> None:
    run = Run({"tasks": [simple("a", taskDefinition=taskdef("a", responseTimeoutSeconds=5))]})
    run.poll("a")
    run.advance(6)
    run.decide()
    assert run.wf.status == "TIMED_OUT"


def test_task_timeout_with_time_out_wf_ends_the_workflow_with_the_timeout_text() -> None:
    td = taskdef("a", retryCount=3, timeoutSeconds=20, responseTimeoutSeconds=20, timeoutPolicy="TIME_OUT_WF")
    run = Run({"tasks": [simple("a", taskDefinition=td)]})
    run.poll("a")
    run.advance(21)
    run.decide()
    assert run.wf.status == "TIMED_OUT"
    assert run.wf.reason_for_incompletion.startswith("Task timed out after")
    assert len(run.wf.tasks) == 1


def test_task_timeout_with_retry_policy_retries() -> None:
    td = taskdef("a", retryCount=1, timeoutSeconds=20, responseTimeoutSeconds=20, timeoutPolicy="RETRY")
    run = Run({"tasks": [simple("a", taskDefinition=td)]})
    run.poll("a")
    run.advance(21)
    run.decide()
    assert [t.status for t in run.wf.tasks] == ["TIMED_OUT", "SCHEDULED"]


def test_poll_timeout_fires_on_an_unpolled_task() -> None:
    td = taskdef("a", pollTimeoutSeconds=30, timeoutPolicy="TIME_OUT_WF")
    run = Run({"tasks": [simple("a", taskDefinition=td)]})
    assert run.task("a").timeout_at == T0 + 30_000
    run.advance(31)
    run.decide()
    assert run.task("a").status == "TIMED_OUT"
    assert run.wf.status == "TIMED_OUT"


def test_alert_only_timeout_changes_nothing() -> None:
    td = taskdef("a", timeoutSeconds=10, responseTimeoutSeconds=10, timeoutPolicy="ALERT_ONLY")
    run = Run({"tasks": [simple("a", taskDefinition=td)]})
    run.poll("a")
    run.task("a").update_time = run.now + 100_000  # keep the response timeout away
    run.advance(11)
    run.decide()
    assert run.task("a").status == "IN_PROGRESS"


@pytest.mark.parametrize(("policy", "expected"), [("TIME_OUT_WF", "TIMED_OUT"), ("ALERT_ONLY", "RUNNING")])
def test_workflow_timeout(policy: str, expected: str) -> None:
    run = Run({"tasks": [simple("a")], "timeoutSeconds": 60, "timeoutPolicy": policy})
    assert run.wf.next_check_at == (T0 + 60_000 if policy == "TIME_OUT_WF" else None)
    run.advance(61)
    run.decide()
    assert run.wf.status == expected
    if expected == "TIMED_OUT":
        assert run.task("a").status == "CANCELED"
        assert run.wf.reason_for_incompletion.startswith("Workflow timed out after")


def test_paused_workflow_schedules_nothing_new() -> None:
    run = Run(THREE)
    run.wf.status = "PAUSED"
    run.finish("a")
    assert run.statuses() == [("a", "COMPLETED")]
    run.wf.status = "RUNNING"
    run.decide()
    assert run.statuses() == [("a", "COMPLETED"), ("b", "SCHEDULED")]


def test_skipped_placeholder_is_jumped_over() -> None:
    run = Run(THREE)
    run.wf.tasks.append(TaskState(task_id="skip", ref="b", task_type="b", task_def_name="b", status="SKIPPED", seq=2))
    run.decide()
    assert run.statuses() == [("a", "SCHEDULED"), ("b", "SKIPPED")]
    run.finish("a")
    assert run.statuses() == [("a", "COMPLETED"), ("b", "SKIPPED"), ("c", "SCHEDULED")]
    run.finish("c")
    assert run.wf.status == "COMPLETED"


def test_taskdef_input_template_fills_absent_and_null_keys() -> None:
    td = taskdef("a", inputTemplate={"x": 1, "y": 2, "z": 3})
    run = Run({"tasks": [simple("a", taskDefinition=td, inputParameters={"x": 9, "y": "${workflow.input.missing}"})]})
    assert run.task("a").input == {"x": 9, "y": 2, "z": 3}


def test_start_delay_holds_the_first_dispatch() -> None:
    run = Run({"tasks": [simple("a", startDelay=5)]})
    assert run.last.to_dispatch == []
    assert run.task("a").dispatch_at == T0 + 5000
    assert run.task("a").callback_after_seconds == 5


def test_terminal_failed_workflow_cancels_leftover_tasks_on_decide() -> None:
    run = Run(THREE)
    run.wf.status = "TERMINATED"
    run.decide()
    assert run.task("a").status == "CANCELED"


FORK = {"tasks": [
    {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
     "forkTasks": [[simple("a1"), simple("a2")], [simple("b1")]]},
    {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a2", "b1"]},
    simple("after", inputParameters={"joined": "${join.output}"}),
]}


def test_fork_schedules_every_branch_and_join_waits_for_all() -> None:
    run = Run(FORK)
    assert run.statuses() == [("fork", "COMPLETED"), ("a1", "SCHEDULED"), ("b1", "SCHEDULED"), ("join", "IN_PROGRESS")]
    assert run.wf.tasks[0].task_type == "FORK"
    assert {t.ref for t in run.last.to_dispatch} == {"a1", "b1"}
    run.finish("b1", output={"b": 1})
    assert run.task("join").status == "IN_PROGRESS"
    run.finish("a1")
    run.finish("a2", output={"a": 2})
    assert run.task("join").status == "COMPLETED"
    assert run.task("join").output == {"a2": {"a": 2}, "b1": {"b": 1}}
    assert run.task("after").input == {"joined": {"a2": {"a": 2}, "b1": {"b": 1}}}
    run.finish("after")
    assert run.wf.status == "COMPLETED"


def test_failed_branch_fails_the_workflow_and_cancels_the_rest() -> None:
    run = Run({"tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[simple("a1", taskDefinition=taskdef("a1"))], [simple("b1")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a1", "b1"]},
    ]})
    run.finish("a1", status="FAILED", reason="x")
    assert run.wf.status == "FAILED"
    assert run.task("b1").status == "CANCELED" and run.task("join").status == "CANCELED"


def test_fork_not_followed_by_join_fails_the_workflow() -> None:
    run = Run({"tasks": [{"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [[simple("a")]]}]})
    assert run.wf.status == "FAILED"
    assert "not followed by a join" in run.wf.reason_for_incompletion


def test_absurd_timeouts_keep_every_deadline_inside_64_bits() -> None:
    huge = 9223372036854775806  # schemathesis found this overflowing the deadline arithmetic
    td = taskdef("a", timeoutSeconds=huge, responseTimeoutSeconds=huge, pollTimeoutSeconds=huge, totalTimeoutSeconds=huge)
    run = Run({"tasks": [simple("a", taskDefinition=td, startDelay=huge)], "timeoutSeconds": huge, "timeoutPolicy": "TIME_OUT_WF"})
    task = run.task("a")
    for value in (run.wf.next_check_at, task.timeout_at, task.dispatch_at):
        assert value is not None and value < 2**62
    assert task.response_timeout_seconds < 2**31 and task.timeout_seconds < 2**31


def test_a_ref_that_looks_like_an_iteration_is_a_plain_node_outside_loops() -> None:
    # "step__1" outside any loop names its own node: the workflow goes on to "next" rather than
    # losing the node and ending early.
    run = Run({"tasks": [simple("a", "step__1"), simple("b", "next")]})
    run.finish("step__1")
    assert run.statuses() == [("step__1", "COMPLETED"), ("next", "SCHEDULED")]
    assert run.wf.status == "RUNNING"
