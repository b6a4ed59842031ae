"""SET_VARIABLE: writes each top-level input key into the workflow's variables, replacing the
value that was there."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from orchestration.engine.operators.base import Kind, Operator, register

if TYPE_CHECKING:
    from orchestration.definitions.model import WorkflowTaskNode
    from orchestration.engine.context import DecideContext
    from orchestration.engine.state import TaskState

# Conductor's maxWorkflowVariablesPayloadSizeThreshold default.
MAX_VARIABLES_BYTES = 256 * 1024


class SetVariableOperator(Operator):
    type_name = "SET_VARIABLE"
    kind = Kind.SYNC

    def execute(self, ctx: DecideContext, task: TaskState, node: WorkflowTaskNode) -> bool:
        merged = {**ctx.workflow.variables, **task.input}
        size = len(json.dumps(merged, separators=(",", ":")).encode())
        if size > MAX_VARIABLES_BYTES:
            # The change is not applied: the variables stay as they were.
            task.set_status(
                "FAILED_WITH_TERMINAL_ERROR",
                now=ctx.now,
                reason=f"The variables payload size: {size} of workflow: {ctx.workflow.workflow_id} "
                f"is greater than the permissible limit: {MAX_VARIABLES_BYTES} bytes",
            )
            return True
        ctx.workflow.variables = merged
        task.set_status("COMPLETED", now=ctx.now)
        return True


register(SetVariableOperator())
