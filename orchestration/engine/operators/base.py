"""The operator seam: one small object per task type.

The decide loop knows nothing about SWITCH, FORK or DO_WHILE. It asks the operator of a node
to *create* the task(s) that node schedules, to *execute* a sync system task, and what happens
when one of the node's nested branches runs out of tasks. A new task type is one module in
this package that registers an ``Operator``; the decide loop does not change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from orchestration.conductor.loop_refs import loop_ref

if TYPE_CHECKING:
    from orchestration.definitions.model import WorkflowTaskNode
    from orchestration.engine.context import DecideContext
    from orchestration.engine.state import TaskState


class Kind(StrEnum):
    WORKER = "worker"  # queued for a user worker (Celery task or REST poller)
    SYNC = "sync"  # executed inside the decide loop
    ASYNC = "async"  # queued for Baton's own system-task workers


class BranchEnd(StrEnum):
    CONTINUE_AFTER_PARENT = "continue"  # e.g. the end of a SWITCH branch: go on after the SWITCH
    WAIT_FOR_PARENT = "wait"  # e.g. a FORK branch (the JOIN decides) or a loop body (the loop decides)


class Operator:
    type_name: ClassVar[str] = ""
    kind: ClassVar[Kind] = Kind.WORKER

    def create(self, ctx: DecideContext, node: WorkflowTaskNode, *, ref: str, iteration: int) -> list[TaskState]:
        """Make the task(s) scheduling ``node`` produces. The default makes one task."""
        status = "SCHEDULED" if self.kind is not Kind.SYNC else "IN_PROGRESS"
        return [ctx.new_task(node, ref=ref, iteration=iteration, status=status)]

    def execute(self, ctx: DecideContext, task: TaskState, node: WorkflowTaskNode) -> bool:
        """Advance a non-terminal sync task; return True if anything changed."""
        return False

    def branch_end(self, node: WorkflowTaskNode, branch: str) -> BranchEnd:
        return BranchEnd.CONTINUE_AFTER_PARENT


_REGISTRY: dict[str, Operator] = {}


def register(operator: Operator) -> Operator:
    _REGISTRY[operator.type_name] = operator
    return operator


class WorkerOperator(Operator):
    """SIMPLE and every task type Baton does not know: a user worker runs it."""

    type_name = "SIMPLE"
    kind = Kind.WORKER


_WORKER = WorkerOperator()


def operator_for(task_type: str) -> Operator:
    return _REGISTRY.get(task_type, _WORKER)


def create_tasks(ctx: DecideContext, node: WorkflowTaskNode, *, iteration: int) -> list[TaskState]:
    """The task(s) scheduling ``node`` makes, via its operator (composite operators such as
    FORK call this for the first node of each branch). It lives here rather than on the
    context so that the context, which operators are handed, needs no operator."""
    ref = loop_ref(node.ref, iteration)
    return operator_for(node.type).create(ctx, node, ref=ref, iteration=iteration)
