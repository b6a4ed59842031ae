"""Event handler definitions (``/api/event``): validate, store, remove (the reads are
``orchestration.selectors.events``).

Only the definitions live here; nothing consumes event queues or runs actions yet.

The handler JSON is stored whole, unknown fields kept (clients of other Conductor flavours send
extra fields such as ``tags``). Validation follows Conductor's EventHandler bean: ``name``,
``event`` and a non-empty ``actions`` list are required, with its messages. Conductor checks
nothing inside an action (``Action`` carries no constraints), so neither does Baton, beyond what
Jackson would refuse to read: wrong JSON types and an unknown ``action`` name (Conductor answers
500 for those; Baton 400 with the field named). Event names are free text: Conductor accepts
``"my_event"`` as well as ``"sqs:queue"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from orchestration.clock import now_ms
from orchestration.conductor.json_types import fits_java_type, java_type_error
from orchestration.definitions.validation import FieldError
from orchestration.errors import Conflict, DefinitionError, NotFound
from orchestration.models import EventHandler

ACTION_TYPES = (
    "start_workflow", "complete_task", "fail_task", "terminate_workflow", "update_workflow_variables", "start_agent",
)

# Java field types of EventHandler and its nested beans; a tuple is an enum's allowed names.
_HANDLER_FIELDS: dict[str, Any] = {
    "name": "str", "event": "str", "condition": "str", "evaluatorType": "str", "active": "bool", "actions": "list",
}
_ACTION_FIELDS: dict[str, Any] = {
    "action": ACTION_TYPES, "start_workflow": "dict", "complete_task": "dict", "fail_task": "dict",
    "expandInlineJSON": "bool", "terminate_workflow": "dict", "update_workflow_variables": "dict",
    "start_agent": "dict",
}
_TASK_DETAILS_FIELDS: dict[str, Any] = {
    "workflowId": "str", "taskRefName": "str", "output": "dict", "taskId": "str", "reasonForIncompletion": "str",
}
# The nested bean of each action key.
_ACTION_PARAM_FIELDS: dict[str, dict[str, Any]] = {
    "start_workflow": {"name": "str", "version": "int", "correlationId": "str", "input": "dict", "taskToDomain": "dict"},
    "complete_task": _TASK_DETAILS_FIELDS,
    "fail_task": _TASK_DETAILS_FIELDS,
    "terminate_workflow": {"workflowId": "str", "terminationReason": "str"},
    "update_workflow_variables": {"workflowId": "str", "variables": "dict", "appendArray": "bool"},
    "start_agent": {
        "name": "str", "version": "int", "prompt": "str", "sessionId": "str", "media": "list", "context": "dict",
        "idempotencyKey": "str",
    },
}
_MAX_LENGTH = {
    "name": EventHandler._meta.get_field("name").max_length,
    "event": EventHandler._meta.get_field("event").max_length,
}


def _check_types(data: Mapping[str, Any], spec: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
    for field, kind in spec.items():
        value = data.get(field)
        if value is not None and not fits_java_type(value, kind):
            errors.append(FieldError(f"{path}.{field}", java_type_error(field, kind), value))


def validate_event_handler(data: Any, *, path: str = "eventHandler") -> list[FieldError]:
    """Conductor's EventHandler constraints (messages verbatim) plus JSON type checks."""
    if not isinstance(data, Mapping):
        return [FieldError(path, "EventHandler must be a JSON object", data)]
    errors: list[FieldError] = []
    _check_types(data, _HANDLER_FIELDS, path, errors)
    for field, message in (("name", "Missing event handler name"), ("event", "Missing event location")):
        value = data.get(field)
        if value is None or value == "":  # a value of the wrong type was reported above
            errors.append(FieldError(f"{path}.{field}", message))
        elif isinstance(value, str) and len(value) > _MAX_LENGTH[field]:
            # The column's size: refused the same way on every database (SQLite would store it).
            message = f"{field} must be at most {_MAX_LENGTH[field]} characters"
            errors.append(FieldError(f"{path}.{field}", message, value))
    actions = data.get("actions")
    if actions is None or actions == []:
        errors.append(FieldError(f"{path}.actions", "No actions specified. Please specify at-least one action"))
    elif isinstance(actions, list):
        for i, action in enumerate(actions):
            action_path = f"{path}.actions[{i}]"
            if not isinstance(action, Mapping):
                errors.append(FieldError(action_path, "Action must be a JSON object", action))
                continue
            _check_types(action, _ACTION_FIELDS, action_path, errors)
            for key, spec in _ACTION_PARAM_FIELDS.items():
                params = action.get(key)
                if isinstance(params, Mapping):
                    _check_types(params, spec, f"{action_path}.{key}", errors)
    return errors


def _validated(data: Any) -> dict[str, Any]:
    errors = validate_event_handler(data)
    if errors:
        raise DefinitionError(errors)
    return dict(data)


def event_handler_add(*, data: Any) -> None:
    """Register a new handler; 409 when the name is taken."""
    handler = _validated(data)
    name = handler["name"]
    now = now_ms()
    try:
        # The savepoint keeps an outer transaction usable after the unique violation.
        with transaction.atomic():
            if EventHandler.objects.filter(name=name).exists():
                raise Conflict(f"EventHandler with name {name} already exists!")
            EventHandler.objects.create(
                name=name, event=handler["event"], active=bool(handler.get("active")), data=handler,
                create_time=now, update_time=now,
            )
    except IntegrityError:  # a concurrent add of the same name won the race
        raise Conflict(f"EventHandler with name {name} already exists!") from None


def event_handler_update(*, data: Any) -> None:
    """Replace an existing handler whole (Conductor keeps nothing of the old one); 404 when the
    name is unknown."""
    handler = _validated(data)
    name = handler["name"]
    with transaction.atomic():
        row = EventHandler.objects.select_for_update().filter(name=name).first()
        if row is None:
            raise NotFound(f"EventHandler with name {name} not found!")
        row.event = handler["event"]
        row.active = bool(handler.get("active"))
        row.data = handler
        row.update_time = now_ms()
        row.save(update_fields=["event", "active", "data", "update_time"])


def event_handler_remove(*, name: str) -> None:
    deleted, _ = EventHandler.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"EventHandler with name {name} not found!")
