"""FORK_JOIN and JOIN: run branches side by side, then wait for them.

Scheduling a FORK_JOIN creates, in one decide, a FORK task (already COMPLETED), the first
task of every branch, and the JOIN that follows it. The JOIN is evaluated in the decide loop
on every decide (Conductor polls it as an async task; evaluating it where the branch results
land is both simpler and faster), and completes once every task it joins on is terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.conductor.loop_refs import loop_ref
from orchestration.engine.operators.base import BranchEnd, Kind, Operator, create_tasks, register

if TYPE_CHECKING:
    from orchestration.definitions.model import WorkflowTaskNode
    from orchestration.engine.context import DecideContext
    from orchestration.engine.state import TaskState

NOT_FOLLOWED_BY_JOIN = "Fork task definition is not followed by a join task.  Check the blueprint"


class ForkJoinOperator(Operator):
    type_name = "FORK_JOIN"
    kind = Kind.SYNC

    def create(self, ctx: DecideContext, node: WorkflowTaskNode, *, ref: str, iteration: int) -> list[TaskState]:
        fork = ctx.new_task(node, ref=ref, iteration=iteration, status="COMPLETED")
        fork.end_time = ctx.now
        tasks = [fork]
        for key in sorted((k for k in node.branches if k.startswith("forkTasks:")), key=lambda k: int(k.split(":")[1])):
            branch = node.branches[key]
            if branch:
                tasks.extend(create_tasks(ctx, branch[0], iteration=iteration))
        join = _following_join(ctx, node)
        if join is None:
            fork.status = "FAILED"
            fork.reason_for_incompletion = NOT_FOLLOWED_BY_JOIN
            return [fork]
        tasks.extend(create_tasks(ctx, join, iteration=iteration))
        return tasks

    def branch_end(self, node: WorkflowTaskNode, branch: str) -> BranchEnd:
        return BranchEnd.WAIT_FOR_PARENT


def _following_join(ctx: DecideContext, node: WorkflowTaskNode) -> WorkflowTaskNode | None:
    location = ctx.workflow.definition.locations.get(node.ref)
    if location is None or location.index + 1 >= len(location.siblings):
        return None
    nxt = location.siblings[location.index + 1]
    return nxt if nxt.type == "JOIN" else None


class JoinOperator(Operator):
    type_name = "JOIN"
    kind = Kind.SYNC

    def create(self, ctx: DecideContext, node: WorkflowTaskNode, *, ref: str, iteration: int) -> list[TaskState]:
        join = ctx.new_task(node, ref=ref, iteration=iteration, status="IN_PROGRESS")
        join.input = {**join.input, "joinOn": list(node.raw.get("joinOn") or [])}
        return [join]

    def execute(self, ctx: DecideContext, task: TaskState, node: WorkflowTaskNode) -> bool:
        output: dict = {}
        failures: list[TaskState] = []
        with_errors: list[str] = []
        for ref in node.raw.get("joinOn") or []:
            joined = ctx.latest(loop_ref(ref, task.iteration))
            if joined is None or not joined.terminal:
                return False
            if joined.output:
                output[ref] = joined.output
            if joined.status == "COMPLETED_WITH_ERRORS":
                with_errors.append(ref)
            elif joined.status not in ("COMPLETED", "SKIPPED"):
                failures.append(joined)
        task.output = output
        if failures:
            reasons = " ".join(f"{t.ref}: {t.reason_for_incompletion}" for t in failures)
            status = "CANCELED" if all(t.status == "CANCELED" for t in failures) else "FAILED"
            task.set_status(status, now=ctx.now, reason=reasons)
        elif with_errors:
            task.set_status("COMPLETED_WITH_ERRORS", now=ctx.now, reason=f"Optional tasks failed: {', '.join(with_errors)}")
        else:
            task.set_status("COMPLETED", now=ctx.now)
        return True


register(ForkJoinOperator())
register(JoinOperator())
