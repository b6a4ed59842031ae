"""Task-type operators. Importing this package registers every built-in operator."""

from orchestration.engine.operators import fork_join, noop, set_variable  # noqa: F401
from orchestration.engine.operators.base import (
    BranchEnd,
    Kind,
    Operator,
    create_tasks,
    operator_for,
    register,
)

__all__ = ["BranchEnd", "Kind", "Operator", "create_tasks", "operator_for", "register"]
