"""Validation of task definitions, workflow definitions and start requests, with Conductor's rules
and messages (including ownerEmail, when required, and schemaVersion 2 only).

Pure Python over the JSON a client sent: every function takes ``Any`` and returns a list of
``FieldError`` (empty means valid), so the REST layer can answer Conductor's 400 body without a
stack of try/except. The judge is Conductor's bean validation (``TaskDef``, ``WorkflowDef``,
``WorkflowTask``, ``StartWorkflowRequest`` annotations, ``TaskTimeoutConstraint``,
``TaskReferenceNameUniqueConstraint``/``ConstraintParamUtil`` and ``WorkflowTaskTypeConstraint``;
the per-type part lives in ``task_rules``).

Where Baton is knowingly stricter than Conductor (Conductor's Jackson would coerce or crash):
- JSON types must match: ``"retryCount": "3"`` is an error here; Jackson would coerce it.
- ``loopOver`` children get the same checks as other nested tasks; Conductor's bean validation
  does not cascade into them (no ``@Valid``) but its engine would fail on them at run time.
- ``WorkflowTask.retryCount`` must be >= 0 (Conductor has no bound; negative acts as 0).
An inline ``taskDefinition`` is only type-checked, like Conductor (which does not validate it).
And more lenient: ``null`` for a primitive field means "absent" (Jackson would store 0).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.conductor.java_text import java_string
from orchestration.conductor.json_types import fits_java_type, java_type_error
from orchestration.definitions.expressions import compile_path, iter_expressions
from orchestration.definitions.task_rules import TaskDefLookup, type_rule_errors

VALIDATION_FAILED_MESSAGE = "Validation failed, check below errors for detail."

TASK_TIMEOUT_POLICIES = ("RETRY", "TIME_OUT_WF", "ALERT_ONLY")
RETRY_LOGICS = ("FIXED", "EXPONENTIAL_BACKOFF", "LINEAR_BACKOFF")
WORKFLOW_TIMEOUT_POLICIES = ("TIME_OUT_WF", "ALERT_ONLY")
IDEMPOTENCY_STRATEGIES = ("FAIL", "RETURN_EXISTING", "FAIL_ON_RUNNING")
JOIN_MODES = ("SYNC", "ASYNC")
RATE_LIMIT_POLICIES = ("QUEUE", "REJECT")

# Names ConstraintParamUtil accepts as a whole ``${...}`` without a task reference
# (EnvUtils.SystemParameters).
SYSTEM_PARAMETERS = frozenset({"CPEWF_TASK_ID", "NETFLIX_ENV", "NETFLIX_STACK"})


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str
    invalid_value: Any = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.invalid_value is not None:
            body["invalidValue"] = self.invalid_value
        return body


class DefinitionError(Exception):
    """Raised by services when validation fails; maps to Conductor's bean-validation 400."""

    def __init__(self, errors: list[FieldError], status: int = 400) -> None:
        self.errors = list(errors)
        self.status = status
        super().__init__(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the errors when pickled (e.g. across a Celery result); Exception would pass str(self).
        return (type(self), (self.errors, self.status))

    def __str__(self) -> str:
        details = "; ".join(f"{e.path}: {e.message}" for e in self.errors)
        return f"Validation failed: {details}" if details else VALIDATION_FAILED_MESSAGE

    def to_response(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": VALIDATION_FAILED_MESSAGE,
            "retryable": False,
            "validationErrors": [e.to_json() for e in self.errors],
        }


# --- JSON type checks -------------------------------------------------------------------------
# A field's kind is a Java type as conductor.json_types names it ("int", "str", an enum's
# names...), or one of the containers below.

@dataclass(frozen=True, slots=True)
class ListOf:
    """A JSON list whose every element has ``kind`` (Java's ``List<...>``)."""

    kind: Any


@dataclass(frozen=True, slots=True)
class MapOf:
    """A JSON object whose every value has ``kind`` (Java's ``Map<String, ...>``)."""

    kind: Any


@dataclass(frozen=True, slots=True)
class Nested:
    """A JSON object with typed fields of its own (a nested Java bean); unknown ones accepted."""

    spec: Mapping[str, Any]


_AUDIT_FIELDS: dict[str, Any] = {
    "ownerApp": "str", "createTime": "long", "updateTime": "long", "createdBy": "str", "updatedBy": "str",
}
_SCHEMA_DEF = Nested({
    **_AUDIT_FIELDS, "name": "str", "version": "int", "type": ("JSON", "AVRO", "PROTOBUF"), "data": "dict",
    "externalRef": "str",
})
_CACHE_CONFIG = Nested({"key": "str", "ttlInSecond": "int"})
_RATE_LIMIT_CONFIG = Nested({"rateLimitKey": "str", "concurrentExecLimit": "int", "policy": RATE_LIMIT_POLICIES})
_STATE_CHANGE_EVENTS = MapOf(ListOf(Nested({"type": "str", "payload": "dict"})))
_STRINGS = ListOf("str")

_TASK_DEF_FIELDS: dict[str, Any] = {
    **_AUDIT_FIELDS,
    "name": "str", "description": "str", "retryCount": "int", "timeoutSeconds": "long",
    "inputKeys": _STRINGS, "outputKeys": _STRINGS, "runtimeMetadata": _STRINGS,
    "timeoutPolicy": TASK_TIMEOUT_POLICIES, "retryLogic": RETRY_LOGICS, "retryDelaySeconds": "int",
    "responseTimeoutSeconds": "long", "concurrentExecLimit": "int", "inputTemplate": "dict",
    "rateLimitPerFrequency": "int", "rateLimitFrequencyInSeconds": "int", "isolationGroupId": "str",
    "executionNameSpace": "str", "ownerEmail": "str", "pollTimeoutSeconds": "int",
    "backoffScaleFactor": "int", "maxRetryDelaySeconds": "int", "backoffJitterMs": "int",
    "baseType": "str", "totalTimeoutSeconds": "long", "taskStatusListenerEnabled": "bool",
    "inputSchema": _SCHEMA_DEF, "outputSchema": _SCHEMA_DEF, "enforceSchema": "bool",
}
_WORKFLOW_DEF_FIELDS: dict[str, Any] = {
    **_AUDIT_FIELDS,
    "name": "str", "description": "str", "version": "int", "tasks": "list", "inputParameters": _STRINGS,
    "outputParameters": "dict", "failureWorkflow": "str", "schemaVersion": "int", "restartable": "bool",
    "workflowStatusListenerEnabled": "bool", "ownerEmail": "str", "timeoutPolicy": WORKFLOW_TIMEOUT_POLICIES,
    "timeoutSeconds": "long", "variables": "dict", "inputTemplate": "dict", "failureWorkflowVersion": "int",
    "workflowStatusListenerSink": "str", "rateLimitConfig": _RATE_LIMIT_CONFIG, "inputSchema": _SCHEMA_DEF,
    "outputSchema": _SCHEMA_DEF, "enforceSchema": "bool", "metadata": "dict", "cacheConfig": _CACHE_CONFIG,
    "maskedFields": _STRINGS,
}
_WORKFLOW_TASK_FIELDS: dict[str, Any] = {
    "name": "str", "taskReferenceName": "str", "description": "str", "inputParameters": "dict",
    "type": "str", "dynamicTaskNameParam": "str", "caseValueParam": "str", "caseExpression": "str",
    "scriptExpression": "str", "decisionCases": "dict", "dynamicForkJoinTasksParam": "str",
    "dynamicForkTasksParam": "str", "dynamicForkTasksInputParamName": "str", "defaultCase": "list",
    "forkTasks": "list", "startDelay": "int", "subWorkflowParam": "dict", "joinOn": _STRINGS, "sink": "str",
    "optional": "bool", "taskDefinition": "dict", "rateLimited": "bool", "defaultExclusiveJoinTask": _STRINGS,
    "asyncComplete": "bool", "loopCondition": "str", "loopOver": "list", "items": "str", "retryCount": "int",
    "evaluatorType": "str", "expression": "str", "onStateChange": _STATE_CHANGE_EVENTS, "joinStatus": "str",
    "cacheConfig": _CACHE_CONFIG, "permissive": "bool", "joinMode": JOIN_MODES, "metadata": "dict",
}
_SUB_WORKFLOW_FIELDS: dict[str, Any] = {
    "name": "str", "version": "int", "taskToDomain": "dict", "idempotencyKey": "str",
    "idempotencyStrategy": IDEMPOTENCY_STRATEGIES,
}
_START_REQUEST_FIELDS: dict[str, Any] = {
    "name": "str", "version": "int", "correlationId": "str", "input": "dict", "taskToDomain": "dict",
    "workflowDef": "dict", "externalInputPayloadStoragePath": "str", "priority": "int", "createdBy": "str",
    "idempotencyKey": "str", "idempotencyStrategy": IDEMPOTENCY_STRATEGIES,
}


def _join(path: str, field: str) -> str:
    if not path:
        return field
    return f"{path}{field}" if field.startswith("[") else f"{path}.{field}"


def _check_types(data: Mapping[str, Any], spec: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
    """Type-check known fields, nested beans and list/map elements included; unknown fields
    are accepted (Conductor ignores them). A missing or null field is not checked here."""
    for field, kind in spec.items():
        value = data.get(field)
        if value is not None:
            _check_value(value, kind, _join(path, field), field, errors)


def _check_value(value: Any, kind: Any, path: str, label: str, errors: list[FieldError]) -> None:
    if isinstance(kind, Nested):
        if not isinstance(value, Mapping):
            errors.append(FieldError(path, f"{label} must be an object", value))
        else:
            _check_types(value, kind.spec, path, errors)
    elif isinstance(kind, ListOf | MapOf):
        container = list if isinstance(kind, ListOf) else Mapping
        if not isinstance(value, container):
            errors.append(FieldError(path, java_type_error(label, "list" if container is list else "dict"), value))
            return
        items = enumerate(value) if isinstance(value, list) else value.items()
        for key, item in items:
            item_path = f"{path}[{key}]" if isinstance(key, int) else _join(path, key)
            if item is None and isinstance(kind, ListOf):
                # Jackson would keep the null; nothing reads one, and echoing it breaks typed clients.
                errors.append(FieldError(item_path, f"{label} cannot hold null elements", None))
            elif item is not None:
                _check_value(item, kind.kind, item_path, label, errors)
    elif not fits_java_type(value, kind):
        errors.append(FieldError(path, java_type_error(label, kind), value))


def _number(data: Mapping[str, Any], field: str, spec: Mapping[str, Any]) -> int | None:
    """The field's value when present and of the right type (else None: already reported)."""
    value = data.get(field)
    if value is None or not fits_java_type(value, spec[field]):
        return None
    return int(value)


def _not_empty(value: Any) -> bool:
    return isinstance(value, str) and value != ""


# --- TaskDef ------------------------------------------------------------------------------------
# (field, minimum, message) for TaskDef's @Min rules. HV fills "{value}" with the annotation's
# bound, not the submitted number, so Conductor really says "retryCount: 0 must be >= 0".
_TASK_DEF_MINIMUMS = (
    ("retryCount", 0, "TaskDef retryCount: 0 must be >= 0"),
    ("pollTimeoutSeconds", 0, "TaskDef pollTimeoutSeconds: 0 must be >= 0"),
    ("backoffScaleFactor", 1, "Backoff scale factor. Applicable for LINEAR_BACKOFF"),
    ("maxRetryDelaySeconds", 0, "TaskDef maxRetryDelaySeconds: 0 must be >= 0"),
    ("backoffJitterMs", 0, "TaskDef backoffJitterMs: 0 must be >= 0"),
    ("totalTimeoutSeconds", 0, "TaskDef totalTimeoutSeconds: 0 must be >= 0"),
)


def validate_task_def(data: Any, *, owner_email_mandatory: bool = False, path: str = "taskDef") -> list[FieldError]:
    if not isinstance(data, Mapping):
        return [FieldError(path, "TaskDef must be a JSON object", data)]
    errors: list[FieldError] = []
    _check_types(data, _TASK_DEF_FIELDS, path, errors)
    spec = _TASK_DEF_FIELDS
    if not _not_empty(data.get("name")):
        errors.append(FieldError(_join(path, "name"), "TaskDef name cannot be null or empty", data.get("name")))
    for field, minimum, message in _TASK_DEF_MINIMUMS:
        value = _number(data, field, spec)
        if value is not None and value < minimum:
            errors.append(FieldError(_join(path, field), message, data[field]))
    response = _number(data, "responseTimeoutSeconds", spec)
    if response is not None and response < 1:
        message = f"TaskDef responseTimeoutSeconds: {response} should be minimum 1 second"
        errors.append(FieldError(_join(path, "responseTimeoutSeconds"), message, response))
    # TaskTimeoutConstraint compares against the defaults when a field is absent: a def with only
    # timeoutSeconds=60 fails, because responseTimeoutSeconds defaults to 3600.
    timeout = _number(data, "timeoutSeconds", spec) or 0
    total = _number(data, "totalTimeoutSeconds", spec) or 0
    if data.get("responseTimeoutSeconds") is None:
        response = 3600
    name = java_string(data.get("name"))
    if timeout > 0 and response is not None and response > timeout:
        message = f"TaskDef: {name} responseTimeoutSeconds: {response} must be less than timeoutSeconds: {timeout}"
        errors.append(FieldError(_join(path, "responseTimeoutSeconds"), message, response))
    if timeout > 0 and total > 0 and timeout > total:
        message = (
            f"TaskDef: {name} timeoutSeconds: {timeout} must be less than or equal to "
            f"totalTimeoutSeconds: {total}"
        )
        errors.append(FieldError(_join(path, "timeoutSeconds"), message, timeout))
    if owner_email_mandatory and not _not_empty(data.get("ownerEmail")):
        errors.append(FieldError(_join(path, "ownerEmail"), "ownerEmail cannot be empty", data.get("ownerEmail")))
    return errors


# --- WorkflowDef --------------------------------------------------------------------------------


def _task_list(value: Any, path: str, errors: list[FieldError]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, task) for each object in a list of WorkflowTasks; anything else is reported."""
    if not isinstance(value, list):
        if value is not None:
            errors.append(FieldError(path, "must be a list of WorkflowTask objects", value))
        return
    for i, task in enumerate(value):
        task_path = f"{path}[{i}]"
        if isinstance(task, Mapping):
            yield task_path, task
        else:
            errors.append(FieldError(task_path, "WorkflowTask must be a JSON object", task))


def _children(task: Mapping[str, Any], path: str, errors: list[FieldError]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Nested tasks of every container, whatever the type: Baton's model parses all of them, so a
    malformed one must not get past validation even where Conductor's engine would ignore it."""
    cases = task.get("decisionCases")
    if isinstance(cases, Mapping):
        for case, tasks in cases.items():
            yield from _task_list(tasks, _join(path, f"decisionCases[{case}]"), errors)
    forks = task.get("forkTasks")
    if isinstance(forks, list):
        for i, fork in enumerate(forks):
            yield from _task_list(fork, _join(path, f"forkTasks[{i}]"), errors)
    # A non-list defaultCase/loopOver was already reported by the type check.
    for field in ("defaultCase", "loopOver"):
        if isinstance(task.get(field), list):
            yield from _task_list(task[field], _join(path, field), errors)


def _walk(tasks: Any, path: str, errors: list[FieldError]) -> list[tuple[str, Mapping[str, Any], bool]]:
    """Every WorkflowTask of the tree, depth first, as (path, task, is_top_level)."""
    found: list[tuple[str, Mapping[str, Any], bool]] = []

    def rec(items: Iterator[tuple[str, Mapping[str, Any]]], top: bool) -> None:
        for task_path, task in items:
            found.append((task_path, task, top))
            rec(_children(task, task_path, errors), False)

    rec(_task_list(tasks, path, errors), True)
    return found


def _validate_sub_workflow_param(param: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
    _check_types(param, _SUB_WORKFLOW_FIELDS, path, errors)
    inline = param.get("workflowDefinition")
    # SubWorkflowParams.setWorkflowDefinition: a string must be a whole ${...} expression. An inline
    # object is not bean-validated by Conductor at registration, so neither is it here.
    if isinstance(inline, str):
        if not (inline.startswith("${") and inline.endswith("}")):
            message = "workflowDefinition is a string, but not a valid DSL string"
            errors.append(FieldError(_join(path, "workflowDefinition"), message, inline))
    elif inline is not None and not isinstance(inline, Mapping):
        message = "workflowDefinition must be either null, or WorkflowDef, or a valid DSL string"
        errors.append(FieldError(_join(path, "workflowDefinition"), message, inline))


def _validate_task(task: Mapping[str, Any], path: str, lookup: TaskDefLookup | None, errors: list[FieldError]) -> None:
    _check_types(task, _WORKFLOW_TASK_FIELDS, path, errors)
    if not _not_empty(task.get("name")):
        errors.append(FieldError(_join(path, "name"), "WorkflowTask name cannot be empty or null", task.get("name")))
    if not _not_empty(task.get("taskReferenceName")):
        message = "WorkflowTask taskReferenceName name cannot be empty or null"
        errors.append(FieldError(_join(path, "taskReferenceName"), message, task.get("taskReferenceName")))
    if "type" in task and task["type"] is None:
        # Absent means SIMPLE; an explicit null makes Conductor's validator throw.
        errors.append(FieldError(_join(path, "type"), "WorkTask type cannot be null or empty"))
    start_delay = _number(task, "startDelay", _WORKFLOW_TASK_FIELDS)
    if start_delay is not None and start_delay < 0:
        errors.append(FieldError(_join(path, "startDelay"), "must be greater than or equal to 0", start_delay))
    retry_count = _number(task, "retryCount", _WORKFLOW_TASK_FIELDS)
    if retry_count is not None and retry_count < 0:
        message = f"WorkflowTask retryCount: {retry_count} must be >= 0"
        errors.append(FieldError(_join(path, "retryCount"), message, retry_count))
    inline_def = task.get("taskDefinition")
    if isinstance(inline_def, Mapping):
        # Only what Jackson would refuse (types, enum names): WorkflowTask.taskDefinition has no
        # @Valid, and Conductor's own test-harness definitions carry inline defs that break
        # TaskDef's rules (e.g. timeoutSeconds 120 with the default responseTimeoutSeconds 3600).
        _check_types(inline_def, _TASK_DEF_FIELDS, _join(path, "taskDefinition"), errors)
    param = task.get("subWorkflowParam")
    if isinstance(param, Mapping):
        _validate_sub_workflow_param(param, _join(path, "subWorkflowParam"), errors)
    type_ = task.get("type", "SIMPLE")
    if isinstance(type_, str):
        for field, message in type_rule_errors(task, lookup):
            errors.append(FieldError(_join(path, field), message))


def _string_inputs(value: Any, key: str, path: str) -> Iterator[tuple[str, str, str]]:
    """(key, string, path) for every string in an input map, keyed as ConstraintParamUtil keys
    them: a nested map's own keys, a list's enclosing key."""
    if isinstance(value, str):
        yield key, value, path
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _string_inputs(v, str(k), _join(path, str(k)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_inputs(item, key, f"{path}[{i}]")


def _innermost(text: str) -> Iterator[str]:
    # Conductor splits the string at each "${" and after each "}" and checks only pieces shaped
    # "${...}", so with nesting ("${a.${b}}") only the innermost expressions are checked.
    for expr in iter_expressions(text):
        if "${" in expr:
            yield from _innermost(expr)
        else:
            yield expr


def _is_compilable(expr: str) -> bool:
    # JsonPath.compile rejects "" and blank paths ("$." + "  " ends in a dot).
    if not expr.strip():
        return False
    try:
        compile_path(expr)
    except ValueError:
        return False
    return True


def _check_expressions(task: Mapping[str, Any], path: str, refs: set[str], errors: list[FieldError]) -> None:
    params = task.get("inputParameters")
    if not isinstance(params, Mapping):
        return
    task_name = java_string(task.get("name"))
    for key, text, value_path in _string_inputs(params, "", _join(path, "inputParameters")):
        for expr in _innermost(text):
            if not _is_compilable(expr):
                message = f"key: {key} input parameter value: {expr} is not valid"
                errors.append(FieldError(value_path, message, text))
                continue
            # EnvUtils: a whole-path system parameter or server environment variable is accepted.
            if expr in SYSTEM_PARAMETERS or expr in os.environ:
                continue
            first = expr.split(".")[0]
            if first != "workflow" and first not in refs:
                message = (
                    f"taskReferenceName: {first} for given task: {task_name} input value: {key} "
                    f"of input parameter: {text} is not defined in workflow definition."
                )
                errors.append(FieldError(value_path, message, text))


def validate_workflow_def(
    data: Any,
    *,
    owner_email_mandatory: bool = False,
    path: str = "workflowDef",
    task_def_lookup: TaskDefLookup | None = None,
) -> list[FieldError]:
    """Validate a WorkflowDef. ``task_def_lookup(name)`` returns a registered TaskDef as JSON (or
    None); without it, HTTP/KAFKA_PUBLISH/JSON_JQ_TRANSFORM inputs can only come from the task's
    inputParameters or inline taskDefinition."""
    if not isinstance(data, Mapping):
        return [FieldError(path, "WorkflowDef must be a JSON object", data)]
    errors: list[FieldError] = []
    _check_types(data, _WORKFLOW_DEF_FIELDS, path, errors)
    name = data.get("name")
    if not _not_empty(name):
        errors.append(FieldError(_join(path, "name"), "WorkflowDef name cannot be null or empty", name))
    schema_version = _number(data, "schemaVersion", _WORKFLOW_DEF_FIELDS)
    if schema_version is not None and schema_version != 2:
        # "{value}" is the @Min/@Max bound, hence the constant 2 in Conductor's text.
        message = "workflowDef schemaVersion: 2 is only supported"
        errors.append(FieldError(_join(path, "schemaVersion"), message, schema_version))
    if owner_email_mandatory and not _not_empty(data.get("ownerEmail")):
        errors.append(FieldError(_join(path, "ownerEmail"), "ownerEmail cannot be empty", data.get("ownerEmail")))

    tasks = data.get("tasks")
    tasks_path = _join(path, "tasks")
    if not isinstance(tasks, list) or not tasks:
        if tasks is None or isinstance(tasks, list):
            errors.append(FieldError(tasks_path, "WorkflowTask list cannot be empty", tasks))
        return errors
    nodes = _walk(tasks, tasks_path, errors)

    # TaskReferenceNameUniqueConstraint: one error per repeat, pointing at the repeat.
    refs: set[str] = set()
    for task_path, task, _top in nodes:
        _validate_task(task, task_path, task_def_lookup, errors)
        ref = task.get("taskReferenceName")
        if not _not_empty(ref):
            continue
        if ref in refs:
            message = (
                f"taskReferenceName: {ref} should be unique across tasks for a given "
                f"workflowDefinition: {java_string(name)}"
            )
            errors.append(FieldError(_join(task_path, "taskReferenceName"), message, ref))
        refs.add(ref)

    # Only top-level tasks' inputParameters are checked; a reference may point anywhere in the tree.
    for task_path, task, top in nodes:
        if top:
            _check_expressions(task, task_path, refs, errors)
    return errors


# --- StartWorkflowRequest -----------------------------------------------------------------------


def validate_start_request(
    data: Any,
    *,
    owner_email_mandatory: bool = False,
    path: str = "startWorkflowRequest",
    task_def_lookup: TaskDefLookup | None = None,
) -> list[FieldError]:
    if not isinstance(data, Mapping):
        return [FieldError(path, "StartWorkflowRequest must be a JSON object", data)]
    errors: list[FieldError] = []
    _check_types(data, _START_REQUEST_FIELDS, path, errors)
    if data.get("name") is None:
        # @NotNull only: "" passes here and fails later as an unknown workflow (404), as in Conductor.
        errors.append(FieldError(_join(path, "name"), "Workflow name cannot be null or empty"))
    priority = _number(data, "priority", _START_REQUEST_FIELDS)
    if priority is not None and priority < 0:
        errors.append(FieldError(_join(path, "priority"), f"priority: {priority} should be minimum 0", priority))
    if priority is not None and priority > 99:
        errors.append(FieldError(_join(path, "priority"), f"priority: {priority} should be maximum 99", priority))
    task_to_domain = data.get("taskToDomain")
    if isinstance(task_to_domain, Mapping):
        for task_name, domain in task_to_domain.items():
            if domain is not None and not isinstance(domain, str):
                field = _join(path, f"taskToDomain[{task_name}]")
                errors.append(FieldError(field, "taskToDomain values must be strings", domain))
    inline = data.get("workflowDef")
    if isinstance(inline, Mapping):
        errors.extend(
            validate_workflow_def(
                inline,
                owner_email_mandatory=owner_email_mandatory,
                path=_join(path, "workflowDef"),
                task_def_lookup=task_def_lookup,
            )
        )
    return errors
