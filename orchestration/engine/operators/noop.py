"""NOOP: a sync system task that completes at once with no output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.engine.operators.base import Kind, Operator, register

if TYPE_CHECKING:
    from orchestration.definitions.model import WorkflowTaskNode
    from orchestration.engine.context import DecideContext
    from orchestration.engine.state import TaskState


class NoopOperator(Operator):
    type_name = "NOOP"
    kind = Kind.SYNC

    def execute(self, ctx: DecideContext, task: TaskState, node: WorkflowTaskNode) -> bool:
        task.set_status("COMPLETED", now=ctx.now)
        return True


register(NoopOperator())
