"""``/api/event``: event handler definitions (reference §1.4, §2.8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, empty
from orchestration.services import events

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


def _with_defaults(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if v is not None}  # Jackson NON_NULL
    for key, value in defaults.items():
        if key not in out:
            out[key] = value.copy() if isinstance(value, dict) else value
    return out


def _action_json(action: Any) -> Any:
    if not isinstance(action, Mapping):
        return action
    out = _with_defaults(action, _ACTION_DEFAULTS)
    for key, defaults in _PARAM_DEFAULTS.items():
        if isinstance(out.get(key), Mapping):
            out[key] = _with_defaults(out[key], defaults)
    return out


def event_handler_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """An EventHandler as Conductor prints it: nulls omitted, ``active`` always present."""
    out = _with_defaults(data, {"active": False})
    if isinstance(out.get("actions"), list):
        out["actions"] = [_action_json(a) for a in out["actions"]]
    return out


class EventHandlersView(ConductorView):
    """GET every handler, POST a new one (409 if the name exists), PUT an existing one (404)."""

    def get(self, request: Request) -> Response:
        return Response([event_handler_json(h) for h in events.event_handlers()])

    def post(self, request: Request) -> HttpResponse:
        events.event_handler_add(data=wire.read_json_object(request, "an EventHandler"))
        return empty()

    def put(self, request: Request) -> HttpResponse:
        events.event_handler_update(data=wire.read_json_object(request, "an EventHandler"))
        return empty()


class EventHandlerView(ConductorView):
    """``/api/event/{x}``: GET lists the handlers of *event* x, DELETE removes the handler
    *named* x (Conductor's two routes share the path shape)."""

    def get(self, request: Request, key: str) -> Response:
        active_only = wire.query_bool(request, "activeOnly", True)
        handlers = events.event_handlers_for_event(event=key, active_only=active_only)
        return Response([event_handler_json(h) for h in handlers])

    def delete(self, request: Request, key: str) -> HttpResponse:
        events.event_handler_remove(name=key)
        return empty()
