"""Example workers, used by the example workflows in ``definitions/``."""

from __future__ import annotations

from typing import Any

from workers.runtime import TaskContext, TerminalError, worker_task


@worker_task("greet")
def greet(input: dict[str, Any]) -> dict[str, Any]:
    name = input.get("name") or "world"
    return {"greeting": f"Hello, {name}!"}


@worker_task("shout")
def shout(input: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    text = str(input.get("text") or "")
    ctx.log(f"shouting {len(text)} characters")
    return {"text": text.upper(), "length": len(text)}


@worker_task("validate_order")
def validate_order(input: dict[str, Any]) -> dict[str, Any]:
    quantity = input.get("quantity")
    if not isinstance(quantity, int) or quantity <= 0:
        raise TerminalError(f"quantity must be a positive integer, got {quantity!r}")
    return {"valid": True, "quantity": quantity}


@worker_task("noop")
def noop(input: dict[str, Any]) -> dict[str, Any]:
    return {}
