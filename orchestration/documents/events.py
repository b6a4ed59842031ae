"""Event handlers as Conductor prints them (EventHandler and its Action beans)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestration.documents.definitions import with_defaults

# Defaults Conductor's beans print for fields a client left out; the user maps (input, output,
# variables, taskToDomain, context) are printed as stored.
_ACTION_DEFAULTS: dict[str, Any] = {"expandInlineJSON": False}
_PARAM_DEFAULTS: dict[str, dict[str, Any]] = {
    "start_workflow": {"input": {}},
    "complete_task": {"output": {}},
    "fail_task": {"output": {}},
    "terminate_workflow": {},
    "update_workflow_variables": {},
    "start_agent": {},
}


def _action_json(action: Any) -> Any:
    if not isinstance(action, Mapping):
        return action
    out = with_defaults(action, _ACTION_DEFAULTS)
    for key, defaults in _PARAM_DEFAULTS.items():
        if isinstance(out.get(key), Mapping):
            out[key] = with_defaults(out[key], defaults)
    return out


def event_handler_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """An EventHandler as Conductor prints it: nulls omitted, ``active`` always present."""
    out = with_defaults(data, {"active": False})
    if isinstance(out.get("actions"), list):
        out["actions"] = [_action_json(a) for a in out["actions"]]
    return out
