"""Per-type rules for one WorkflowTask, as Conductor's WorkflowTaskTypeConstraint applies them.

Pure functions over the submitted JSON (no Django). Each rule returns ``(field, message)`` pairs;
``validation.py`` turns them into ``FieldError`` objects with a full path, which keeps this module
free of an import cycle. Message texts are Conductor's, byte for byte (typos such as "atleast" and
"cam be used" included), because clients and compatibility tests compare them.

Deliberately not done: Conductor syntax-checks JavaScript in SWITCH ``expression`` (evaluatorType
``javascript``) and DECISION ``caseExpression`` with GraalJS. Baton has no JS parser at
registration time, so such scripts are accepted and fail at run time instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from orchestration.conductor.java_text import java_string

# Looks up a registered TaskDef (as JSON) by name; HTTP, KAFKA_PUBLISH and JSON_JQ_TRANSFORM accept
# a required input that is supplied by the registered definition's inputTemplate.
TaskDefLookup = Callable[[str], Mapping[str, Any] | None]

RuleError = tuple[str, str]

_REQUIRED = "{field} field is required for taskType: {type} taskName: {name}"
_AT_LEAST_ONE = "{field} should have atleast one task for taskType: {type} taskName: {name}"

# Conductor's Terminate.validateInputStatus accepts exactly these (the message only names two).
TERMINATION_STATUSES = frozenset({"COMPLETED", "FAILED", "TERMINATED"})

# DateTimeUtils.DURATION_PATTERN: every unit optional, so "" and "  " match (zero seconds).
_DURATION = re.compile(
    r"\s*(?:(\d+)\s*(?:days?|d))?"
    r"\s*(?:(\d+)\s*(?:hours?|hrs?|h))?"
    r"\s*(?:(\d+)\s*(?:minutes?|mins?|m))?"
    r"\s*(?:(\d+)\s*(?:seconds?|secs?|s))?\s*",
    re.IGNORECASE,
)
# DateUtils.parseDate with "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm z", "yyyy-MM-dd", which is lenient
# (month 13 rolls over) and takes any zone name for "z"; so only the shape is checked here.
_UNTIL = re.compile(r"\d+-\d+-\d+(?:\s+\d+:\d+(?:\s+\S+)?)?")
_JAVA_INT_MAX = 2**31 - 1


def parse_duration_seconds(text: str) -> int | None:
    """Seconds for a WAIT ``duration`` literal, or None when Conductor would reject it."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    parts = [int(g) if g is not None else 0 for g in match.groups()]
    # Conductor parses each number with Integer.parseInt, which rejects values past 2^31-1.
    if any(p > _JAVA_INT_MAX for p in parts):
        return None
    days, hours, mins, secs = parts
    return days * 86400 + hours * 3600 + mins * 60 + secs


def is_valid_until(text: str) -> bool:
    return _UNTIL.fullmatch(text) is not None


def _inputs(task: Mapping[str, Any]) -> Mapping[str, Any]:
    params = task.get("inputParameters")
    return params if isinstance(params, Mapping) else {}


def _template_has(task: Mapping[str, Any], key: str, lookup: TaskDefLookup | None) -> bool:
    # Conductor prefers the inline taskDefinition and only falls back to the registry without one.
    task_def = task.get("taskDefinition")
    if task_def is None and lookup is not None and isinstance(task.get("name"), str):
        task_def = lookup(task["name"])
    if not isinstance(task_def, Mapping):
        return False
    template = task_def.get("inputTemplate")
    return isinstance(template, Mapping) and key in template


def _required(field: str, type_: str, task: Mapping[str, Any]) -> RuleError:
    return field, _REQUIRED.format(field=field, type=type_, name=java_string(task.get("name")))


def _cases(task: Mapping[str, Any], type_: str) -> list[RuleError]:
    # Absent decisionCases means Conductor's default empty map ("atleast one"); an explicit null
    # reaches the validator as null ("field is required").
    if "decisionCases" in task and task["decisionCases"] is None:
        return [_required("decisionCases", type_, task)]
    if not task.get("decisionCases"):
        message = _AT_LEAST_ONE.format(field="decisionCases", type=type_, name=java_string(task.get("name")))
        return [("decisionCases", message)]
    return []


def _event(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    return [_required("sink", "EVENT", task)] if task.get("sink") is None else []


def _decision(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    errors: list[RuleError] = []
    if task.get("caseValueParam") is None and task.get("caseExpression") is None:
        errors.append(_required("caseValueParam or caseExpression", "DECISION", task))
    return errors + _cases(task, "DECISION")


def _switch(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    errors: list[RuleError] = []
    # Conductor reports a missing expression only once evaluatorType is present.
    if task.get("evaluatorType") is None:
        errors.append(_required("evaluatorType", "SWITCH", task))
    elif task.get("expression") is None:
        errors.append(_required("expression", "SWITCH", task))
    return errors + _cases(task, "SWITCH")


def _dynamic(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    if task.get("dynamicTaskNameParam") is None:
        return [_required("dynamicTaskNameParam", "DYNAMIC", task)]
    return []


def _fork_join_dynamic(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    # Three accepted forms: inputParameters.forkTaskInputs alone; the legacy
    # dynamicForkJoinTasksParam; or dynamicForkTasksParam + dynamicForkTasksInputParamName.
    if "forkTaskInputs" in _inputs(task):
        return []
    legacy = task.get("dynamicForkJoinTasksParam")
    tasks_param = task.get("dynamicForkTasksParam")
    input_param = task.get("dynamicForkTasksInputParamName")
    if legacy is not None and (tasks_param is not None or input_param is not None):
        message = (
            "dynamicForkJoinTasksParam or combination of dynamicForkTasksInputParamName and "
            "dynamicForkTasksParam cam be used for taskType: FORK_JOIN_DYNAMIC taskName: "
            + java_string(task.get("name"))
        )
        return [("dynamicForkJoinTasksParam", message)]
    if legacy is not None:
        return []
    errors: list[RuleError] = []
    if tasks_param is None:
        errors.append(_required("dynamicForkTasksParam", "FORK_JOIN_DYNAMIC", task))
    if input_param is None:
        errors.append(_required("dynamicForkTasksInputParamName", "FORK_JOIN_DYNAMIC", task))
    return errors


def _http(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    params = _inputs(task)
    if "http_request" in params or "uri" in params or "method" in params:
        return []
    if _template_has(task, "http_request", lookup):
        return []
    return [_required("inputParameters.http_request or inputParameters.uri", "HTTP", task)]


def _fork_join(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    # Absent and [] are both Conductor's empty default; null crashes Conductor's tree walk, so it is
    # rejected here the same way.
    if not task.get("forkTasks"):
        message = _AT_LEAST_ONE.format(field="forkTasks", type="FORK_JOIN", name=java_string(task.get("name")))
        return [("forkTasks", message)]
    return []


def _terminate(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    errors: list[RuleError] = []
    name = java_string(task.get("name"))
    if task.get("optional") is True:
        errors.append(("optional", f"terminate task cannot be optional, taskName: {name}"))
    status = _inputs(task).get("terminationStatus")
    # Checked literally: an expression such as "${workflow.input.status}" is rejected by Conductor.
    if status is None or java_string(status) not in TERMINATION_STATUSES:
        message = (
            "terminate task must have an terminationStatus parameter and must be set to "
            f"COMPLETED or FAILED, taskName: {name}"
        )
        errors.append(("inputParameters.terminationStatus", message))
    return errors


def _kafka_publish(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    if "kafka_request" in _inputs(task) or _template_has(task, "kafka_request", lookup):
        return []
    return [_required("inputParameters.kafka_request", "KAFKA_PUBLISH", task)]


def _do_while(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    errors: list[RuleError] = []
    # Required even when ``items`` drives the loop: the docs call it optional, the validator does not.
    if task.get("loopCondition") is None:
        errors.append(_required("loopCondition", "DO_WHILE", task))
    if not task.get("loopOver"):
        errors.append(_required("loopOver", "DO_WHILE", task))
    return errors


def _sub_workflow(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    if task.get("subWorkflowParam") is None:
        return [_required("subWorkflowParam", "SUB_WORKFLOW", task)]
    return []


def _json_jq(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    if "queryExpression" in _inputs(task) or _template_has(task, "queryExpression", lookup):
        return []
    return [_required("inputParameters.queryExpression", "JSON_JQ_TRANSFORM", task)]


def _blank(value: Any) -> str:
    # Conductor stringifies the input (null -> "") and then asks StringUtils.isNotBlank.
    return "" if value is None else java_string(value)


def _wait(task: Mapping[str, Any], lookup: TaskDefLookup | None) -> list[RuleError]:
    params = _inputs(task)
    duration = _blank(params.get("duration"))
    until = _blank(params.get("until"))
    errors: list[RuleError] = []
    if duration.strip() and until.strip():
        errors.append(("inputParameters", "Both 'duration' and 'until' specified. Please provide only one input"))
    # Expressions are resolved at run time, so only literals are parsed. Note the else-if: when the
    # duration is an expression, Conductor goes on to parse ``until``. Trailing spaces in the
    # messages are Conductor's.
    if duration.strip() and not duration.startswith("${"):
        if parse_duration_seconds(duration) is None:
            errors.append(("inputParameters.duration", "Either date or duration is passed as null "))
    elif until.strip() and not until.startswith("${") and not is_valid_until(until):
        errors.append(("inputParameters.until", "Unable to parse date "))
    return errors


_RULES: dict[str, Callable[[Mapping[str, Any], TaskDefLookup | None], list[RuleError]]] = {
    "EVENT": _event,
    "DECISION": _decision,
    "SWITCH": _switch,
    "DYNAMIC": _dynamic,
    "FORK_JOIN_DYNAMIC": _fork_join_dynamic,
    "HTTP": _http,
    "FORK_JOIN": _fork_join,
    "TERMINATE": _terminate,
    "KAFKA_PUBLISH": _kafka_publish,
    "DO_WHILE": _do_while,
    "SUB_WORKFLOW": _sub_workflow,
    "JSON_JQ_TRANSFORM": _json_jq,
    "WAIT": _wait,
}


def type_rule_errors(task: Mapping[str, Any], lookup: TaskDefLookup | None = None) -> list[RuleError]:
    """Errors of the per-type rules; unknown types (worker tasks) have none."""
    type_ = task.get("type", "SIMPLE")
    rule = _RULES.get(type_) if isinstance(type_, str) else None
    return rule(task, lookup) if rule is not None else []
