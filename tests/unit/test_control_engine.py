"""The pure control operations (engine.control) and the decider's failureWorkflow follow-up,
driven on plain values with an injected clock and ids. Expected states follow Conductor's
test-harness specs (SimpleWorkflowSpec, WorkflowAndTaskConfigurationSpec, FailureWorkflowSpec)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from orchestration.definitions.model import WorkflowDefinition
from orchestration.engine import control, rerun
from orchestration.engine.context import DecideContext, StartFailureWorkflow
from orchestration.engine.control import ControlRefused, Refusal
from orchestration.engine.decider import decide, failure_workflow_target
from orchestration.engine.state import TaskState, WorkflowState

T0 = 1_700_000_000_000


class FixedRandom:
    def randint(self, a: int, b: int) -> int:
        return a


def simple(name: str, ref: str | None = None, **extra: Any) -> dict[str, Any]:
    task_def = {"name": name, "retryCount": 0, "retryDelaySeconds": 0, "responseTimeoutSeconds": 3600}
    return {"name": name, "taskReferenceName": ref or name, "type": "SIMPLE", "taskDefinition": task_def, **extra}


def fork(*branches: str) -> list[dict[str, Any]]:
    return [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [[simple(b)] for b in branches]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": list(branches)},
    ]


class Run:
    """A workflow's state, moved by a fake worker and the decider as the services would, with
    every write "committed" (tracking restarted) after each step."""

    def __init__(self, tasks: list[dict[str, Any]], **definition: Any) -> None:
        self.definition = WorkflowDefinition.from_json({"name": "wf", "version": 1, "tasks": tasks, **definition})
        self.now = T0
        self._ids = (f"t{i}" for i in itertools.count(1))
        self.wf = WorkflowState(
            workflow_id="wf1", name="wf", version=1, status="RUNNING", definition=self.definition, snapshot_key="k",
            input={"in": 1}, create_time=T0, update_time=T0, is_new=True,
        )
        self.decision = self.decide()

    def ctx(self) -> DecideContext:
        return DecideContext(workflow=self.wf, now=self.now, rng=FixedRandom(), new_id=lambda: next(self._ids))

    def commit(self) -> None:
        self.wf.is_new = False
        self.wf.start_tracking()
        # Superseded attempts are not loaded by the service; the decider never sees them.
        for task in self.wf.tasks:
            task.is_new = False
            task.start_tracking()

    def decide(self) -> Any:
        decision = decide(self.ctx())
        self.commit()
        return decision

    def task(self, ref: str, attempt: int = -1) -> TaskState:
        return [t for t in self.wf.tasks if t.ref == ref][attempt]

    def live(self) -> list[tuple[str, str]]:
        return [(t.ref, t.status) for t in sorted(self.wf.tasks, key=lambda t: t.seq) if not t.retried]

    def finish(self, ref: str, status: str = "COMPLETED", output: dict[str, Any] | None = None) -> Any:
        task = self.task(ref)
        task.set_status(status, now=self.now, reason=None if status == "COMPLETED" else f"{ref} {status}")
        task.output = output or {}
        return self.decide()


def refused(kind: Refusal, message: str) -> Any:
    return pytest.raises(ControlRefused, match=f"^{message}$")


# --- pause / resume / terminate -----------------------------------------------------------------------


def test_pause_is_idempotent_and_refused_when_terminal() -> None:
    run = Run([simple("a")])
    assert control.pause(run.wf, now=T0 + 1) is True
    assert run.wf.status == "PAUSED"
    assert control.pause(run.wf, now=T0 + 2) is False
    run.wf.status = "COMPLETED"
    with pytest.raises(ControlRefused) as refusal:
        control.pause(run.wf, now=T0)
    assert refusal.value.kind is Refusal.CONFLICT
    assert refusal.value.message == "Workflow wf.1/wf1 has ended, status cannot be updated."


def test_resume_needs_paused_and_restarts_the_timeout_clock() -> None:
    run = Run([simple("a")])
    with pytest.raises(ControlRefused) as refusal:
        control.resume(run.wf, now=T0)
    assert refusal.value.kind is Refusal.CONFLICT
    assert refusal.value.message == "The workflow wf1 is not PAUSED so cannot resume. Current status is RUNNING"
    control.pause(run.wf, now=T0)
    control.resume(run.wf, now=T0 + 5000)
    assert (run.wf.status, run.wf.last_retried_time) == ("RUNNING", T0 + 5000)


def test_paused_workflow_schedules_nothing_until_resumed() -> None:
    run = Run([simple("a"), simple("b")])
    control.pause(run.wf, now=T0)
    run.commit()
    run.finish("a")
    assert run.live() == [("a", "COMPLETED")]
    control.resume(run.wf, now=T0)
    run.decide()
    assert run.live() == [("a", "COMPLETED"), ("b", "SCHEDULED")]


def test_terminate_cancels_open_tasks_recomputes_output_and_keeps_terminated() -> None:
    run = Run([simple("a"), simple("b")], outputParameters={"a": "${a.output.v}", "why": "${workflow.reasonForIncompletion}"})
    run.finish("a", output={"v": 7})
    ctx = run.ctx()
    canceled = control.terminate(ctx, reason="enough")
    assert [t.ref for t in canceled] == ["b"]
    assert run.live() == [("a", "COMPLETED"), ("b", "CANCELED")]
    assert (run.wf.status, run.wf.reason_for_incompletion, run.wf.end_time) == ("TERMINATED", "enough", T0)
    # Output is computed before the reason is set, as in Conductor.
    assert run.wf.output == {"a": 7, "why": None}
    assert control.terminate(run.ctx(), reason="again") is None
    assert run.wf.reason_for_incompletion == "enough"


def test_terminate_refuses_completed_and_turns_failed_into_terminated() -> None:
    run = Run([simple("a")])
    run.finish("a")
    assert run.wf.status == "COMPLETED"
    with refused(Refusal.CONFLICT, "Cannot terminate a COMPLETED workflow."):
        control.terminate(run.ctx(), reason=None)
    failed = Run([simple("a")])
    failed.finish("a", "FAILED")
    assert failed.wf.status == "FAILED"
    control.terminate(failed.ctx(), reason=None)
    assert failed.wf.status == "TERMINATED" and failed.wf.reason_for_incompletion is None
    assert failed.wf.failed_reference_task_names == ["a"]


# --- restart -----------------------------------------------------------------------------------------------


def test_restart_needs_terminal_and_honours_restartable_only_for_completed() -> None:
    run = Run([simple("a")], restartable=False)
    with refused(Refusal.CONFLICT, "Workflow: wf.1/wf1.RUNNING is not in terminal state, unable to restart."):
        control.restart(run.wf, now=T0, restartable=False)
    run.finish("a", "FAILED")
    control.restart(run.wf, now=T0 + 9, restartable=False)  # FAILED: restartable does not matter
    assert (run.wf.status, run.wf.create_time, run.wf.tasks, run.wf.output) == ("RUNNING", T0 + 9, [], {})
    assert run.wf.reason_for_incompletion is None and run.wf.end_time == 0
    run.decide()
    run.finish("a")
    assert run.wf.status == "COMPLETED"
    with pytest.raises(ControlRefused) as refusal:
        control.restart(run.wf, now=T0, restartable=False)
    assert refusal.value.kind is Refusal.NOT_FOUND
    assert refusal.value.message == "Workflow: wf.1/wf1.COMPLETED is non-restartable"


# --- retry -------------------------------------------------------------------------------------------------


def test_retry_makes_a_new_attempt_of_the_failed_task_with_fresh_input() -> None:
    run = Run([simple("a", inputParameters={"me": "${CPEWF_TASK_ID}", "in": "${workflow.input.in}"}), simple("b")])
    run.finish("a", "FAILED")
    assert run.wf.status == "FAILED"
    old = run.task("a")
    ctx = run.ctx()
    run.now += 1000
    ctx.now = run.now
    retried = control.retry(ctx)
    assert retried == [old]
    new = run.task("a")
    assert (old.retried, old.executed, new.status, new.retry_count, new.retried_task_id) == (True, True, "SCHEDULED", 1, old.task_id)
    assert new.input == {"me": new.task_id, "in": 1}
    assert new.reason_for_incompletion is None and new.first_scheduled_time == run.now
    assert ctx.to_dispatch == [new]
    assert (run.wf.status, run.wf.last_retried_time, run.wf.reason_for_incompletion) == ("RUNNING", run.now, None)
    run.commit()
    run.finish("a")
    run.finish("b")
    assert run.wf.status == "COMPLETED"
    # Conductor keeps listing the failure a retry superseded.
    assert run.wf.failed_reference_task_names == ["a"]


def test_retry_refusals() -> None:
    run = Run([simple("a")])
    with pytest.raises(ControlRefused) as refusal:
        control.retry(run.ctx())
    assert refusal.value.kind is Refusal.NOT_FOUND
    assert refusal.value.message == "Workflow is still running.  status=RUNNING"
    run.finish("a")
    with refused(
        Refusal.CONFLICT,
        "There are no retryable tasks! Use restart if you want to attempt entire workflow execution again.",
    ):
        control.retry(run.ctx())


def test_retry_of_a_failed_fork_retries_branches_and_reopens_the_join() -> None:
    run = Run([*fork("a", "b"), simple("c")])
    join = run.task("join")
    run.finish("a", "FAILED")
    assert run.wf.status == "FAILED"
    assert run.live() == [("fork", "COMPLETED"), ("a", "FAILED"), ("b", "CANCELED"), ("join", "CANCELED")]
    control.retry(run.ctx())
    run.commit()
    assert run.live() == [("fork", "COMPLETED"), ("join", "IN_PROGRESS"), ("a", "SCHEDULED"), ("b", "SCHEDULED")]
    assert run.task("join") is join and join.retry_count == 0  # a CANCELED join reopens, no new attempt
    run.decide()
    run.finish("a")
    run.finish("b")
    assert run.task("join").status == "COMPLETED"
    run.finish("c")
    assert run.wf.status == "COMPLETED"


def test_retry_of_a_workflow_timed_out_without_failed_tasks_just_runs_on() -> None:
    run = Run([simple("a"), simple("b")], timeoutSeconds=5, timeoutPolicy="TIME_OUT_WF")
    run.task("a").set_status("COMPLETED", now=run.now)
    run.now += 6000
    run.decide()
    assert run.wf.status == "TIMED_OUT" and run.live() == [("a", "COMPLETED")]
    assert control.retry(run.ctx()) == []
    run.commit()
    run.decide()
    assert run.wf.status == "RUNNING" and run.live() == [("a", "COMPLETED"), ("b", "SCHEDULED")]


# --- rerun -------------------------------------------------------------------------------------------------


def test_rerun_from_a_task_deletes_later_tasks_and_reschedules_it_in_place() -> None:
    run = Run([simple("a"), simple("b"), simple("c")])
    run.finish("a", output={"v": 1})
    b = run.task("b")
    run.finish("b")
    run.finish("c")
    assert run.wf.status == "COMPLETED"
    ctx = run.ctx()
    plan = rerun.rerun_from_task(ctx, b, task_input={"new": True}, workflow_input=None, correlation_id="c2")
    assert [t.ref for t in plan.deleted] == ["c"]
    assert run.live() == [("a", "COMPLETED"), ("b", "SCHEDULED")]
    assert run.task("b") is b and b.input == {"new": True} and b.output == {} and not b.executed
    assert ctx.to_dispatch == [b]
    assert (run.wf.status, run.wf.correlation_id, run.wf.end_time) == ("RUNNING", "c2", 0)
    run.commit()
    run.finish("b")
    run.finish("c")
    assert run.wf.status == "COMPLETED"


def test_rerun_from_the_start_replaces_input_and_deletes_every_task() -> None:
    run = Run([simple("a")])
    run.finish("a", "FAILED")
    plan = rerun.rerun_from_start(run.ctx(), workflow_input={"x": 2}, correlation_id=None)
    assert [t.ref for t in plan.deleted] == ["a"]
    assert (run.wf.tasks, run.wf.input, run.wf.status, run.wf.failed_reference_task_names) == ([], {"x": 2}, "RUNNING", [])
    run.commit()
    run.decide()
    assert run.live() == [("a", "SCHEDULED")]


def test_rerun_refused_while_running() -> None:
    run = Run([simple("a")])
    with refused(Refusal.CONFLICT, "Workflow: wf.1/wf1.RUNNING is not in terminal state, unable to rerun."):
        rerun.rerun_from_start(run.ctx(), workflow_input=None, correlation_id=None)


def test_rerun_from_one_fork_branch_brings_back_what_the_seq_cut_deleted() -> None:
    run = Run([*fork("a", "b"), simple("c")])
    a = run.task("a")
    run.finish("b")
    run.finish("a", "FAILED")
    assert run.wf.status == "FAILED"
    plan = rerun.rerun_from_task(run.ctx(), a, task_input=None, workflow_input=None, correlation_id=None)
    # seq order was fork, a, b, join: rerun from a deletes b and join, which must come back.
    assert {t.ref for t in plan.deleted} == {"b", "join"}
    run.commit()
    run.decide()
    assert sorted(run.live()) == [("a", "SCHEDULED"), ("b", "SCHEDULED"), ("fork", "COMPLETED"), ("join", "IN_PROGRESS")]
    run.finish("a")
    run.finish("b")
    run.finish("c")
    assert run.wf.status == "COMPLETED"


def test_rerun_from_a_fork_schedules_the_fork_anew() -> None:
    run = Run([*fork("a", "b"), simple("c")])
    fork_task = run.task("fork")
    run.finish("a")
    run.finish("b")
    run.finish("c")
    plan = rerun.rerun_from_task(run.ctx(), fork_task, task_input=None, workflow_input=None, correlation_id=None)
    assert fork_task in plan.deleted
    run.commit()
    assert sorted(run.live()) == [("a", "SCHEDULED"), ("b", "SCHEDULED"), ("fork", "COMPLETED"), ("join", "IN_PROGRESS")]


def test_rerun_from_a_superseded_attempt_makes_it_the_live_one() -> None:
    run = Run([{**simple("a"), "taskDefinition": {"name": "a", "retryCount": 1, "retryDelaySeconds": 0}}, simple("b")])
    first = run.task("a")
    run.finish("a", "FAILED")
    assert first.retried and run.task("a").retry_count == 1
    run.finish("a")
    run.finish("b")
    plan = rerun.rerun_from_task(run.ctx(), first, task_input=None, workflow_input=None, correlation_id=None)
    assert {t.ref for t in plan.deleted} == {"a", "b"}
    assert first.status == "SCHEDULED" and not first.retried


# --- skip / reset callbacks --------------------------------------------------------------------------------------


def test_skip_makes_a_skipped_placeholder_the_decider_jumps_over() -> None:
    run = Run([simple("a"), simple("b"), simple("c")])
    ctx = run.ctx()
    skipped = control.skip(ctx, ref="b", task_input={"i": 1}, task_output={"o": 2})
    assert (skipped.status, skipped.seq, skipped.task_type, skipped.input, skipped.output) == ("SKIPPED", 0, "b", {"i": 1}, {"o": 2})
    assert ctx.new_tasks == [skipped]
    run.commit()
    run.finish("a")
    assert run.live() == [("b", "SKIPPED"), ("a", "COMPLETED"), ("c", "SCHEDULED")]
    run.finish("c")
    assert run.wf.status == "COMPLETED"


def test_skip_refusals() -> None:
    run = Run([simple("a"), simple("b")])
    with pytest.raises(ControlRefused) as refusal:
        control.skip(run.ctx(), ref="zzz", task_input=None, task_output=None)
    assert refusal.value.kind is Refusal.BAD_REQUEST
    assert refusal.value.message == "The task referenced by zzz does not exist in the WorkflowDefinition wf"
    with refused(Refusal.CONFLICT, "The task referenced a has already been processed, cannot be skipped"):
        control.skip(run.ctx(), ref="a", task_input=None, task_output=None)
    control.pause(run.wf, now=T0)
    with refused(Refusal.CONFLICT, "The workflow wf1 is not running so the task referenced by b cannot be skipped"):
        control.skip(run.ctx(), ref="b", task_input=None, task_output=None)


def test_callbacks_to_reset_are_scheduled_worker_tasks_with_a_callback() -> None:
    run = Run([*fork("a", "b")])
    run.task("a").callback_after_seconds = 60
    assert [t.ref for t in control.callbacks_to_reset(run.wf)] == ["a"]
    run.wf.status = "FAILED"
    with refused(Refusal.CONFLICT, "Workflow is in terminal state. Status = FAILED"):
        control.callbacks_to_reset(run.wf)


# --- failureWorkflow ----------------------------------------------------------------------------------------


def test_engine_failure_asks_for_the_failure_workflow_once() -> None:
    run = Run([simple("a"), simple("b")], failureWorkflow="cleanup", failureWorkflowVersion=3)
    a = run.task("a")
    decision = run.finish("a", "FAILED")
    assert run.wf.status == "FAILED"
    assert decision.follow_ups == [StartFailureWorkflow(name="cleanup", version=3, failed_task_id=a.task_id)]
    assert run.decide().follow_ups == []  # deciding the failed workflow again starts nothing


def test_workflow_timeout_asks_for_the_failure_workflow_without_a_task() -> None:
    run = Run([simple("a")], failureWorkflow="cleanup", timeoutSeconds=1, timeoutPolicy="TIME_OUT_WF")
    run.now += 2000
    decision = run.decide()
    assert run.wf.status == "TIMED_OUT"
    assert decision.follow_ups == [StartFailureWorkflow(name="cleanup", version=None, failed_task_id=None)]


def test_completion_and_no_failure_workflow_ask_for_nothing() -> None:
    run = Run([simple("a")], failureWorkflow="cleanup")
    assert run.finish("a").follow_ups == []
    plain = Run([simple("a")])
    assert plain.finish("a", "FAILED").follow_ups == []


@pytest.mark.parametrize(
    ("name", "workflow_input", "expected"),
    [
        ("cleanup", {}, ("cleanup", None)),
        ("$workflow.input.handler", {"handler": "h1"}, ("h1", None)),
        ("${workflow.input.handler}", {"handler": "h1"}, ("h1", None)),
        ("$workflow.input.handler", {}, None),
        ("  ", {}, None),
    ],
)
def test_failure_workflow_target(name: str, workflow_input: dict[str, Any], expected: Any) -> None:
    definition = WorkflowDefinition.from_json({"name": "wf", "tasks": [], "failureWorkflow": name})
    assert failure_workflow_target(definition, workflow_input) == expected


# --- parents -----------------------------------------------------------------------------------------------------


def test_revive_parent_reopens_the_sub_workflow_task_and_canceled_siblings() -> None:
    run = Run([*fork("sub", "other")])
    sub, other, join = run.task("sub"), run.task("other"), run.task("join")
    run.finish("sub", "FAILED")
    assert (other.status, join.status, run.wf.status) == ("CANCELED", "CANCELED", "FAILED")
    ctx = run.ctx()
    assert rerun.revive_parent(ctx, parent_task_id=sub.task_id)
    assert (sub.status, sub.executed, join.status, other.status, other.retry_count) == (
        "IN_PROGRESS", False, "IN_PROGRESS", "SCHEDULED", 1
    )
    assert run.wf.status == "RUNNING" and run.wf.last_retried_time == run.now
    assert not rerun.revive_parent(run.ctx(), parent_task_id="gone")
