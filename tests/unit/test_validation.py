"""Table-driven tests for orchestration.definitions.validation: task and workflow definitions,
start requests, and the error body that lists what is wrong.

Messages are Conductor's exact texts (WorkflowTaskTypeConstraintTest, WorkflowDefConstraintTest,
WorkflowDefValidatorTest, TaskDefTest, MetadataServiceTest), so they are asserted verbatim.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from orchestration.definitions.task_rules import parse_duration_seconds
from orchestration.definitions.validation import (
    VALIDATION_FAILED_MESSAGE,
    DefinitionError,
    FieldError,
    validate_start_request,
    validate_task_def,
    validate_workflow_def,
)


def task(name: str = "t1", ref: str | None = None, type_: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "taskReferenceName": ref or name}
    if type_ is not None:
        body["type"] = type_
    body.update(fields)
    return body


def wf(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "wf", "version": 1, "schemaVersion": 2, "tasks": list(tasks) or [task()]}
    body.update(fields)
    return body


def messages(errors: list[FieldError]) -> list[str]:
    return [e.message for e in errors]


def find(errors: list[FieldError], message: str) -> FieldError:
    matches = [e for e in errors if e.message == message]
    assert matches, f"{message!r} not in {messages(errors)}"
    return matches[0]


# --- TaskDef ------------------------------------------------------------------------------------

VALID_TASK_DEFS = [
    pytest.param({"name": "t"}, id="minimal"),
    pytest.param(
        {
            "name": "t", "retryCount": 2, "timeoutSeconds": 20, "responseTimeoutSeconds": 2,
            "timeoutPolicy": "RETRY", "retryLogic": "EXPONENTIAL_BACKOFF", "retryDelaySeconds": 1,
            "concurrentExecLimit": 0, "inputTemplate": {}, "rateLimitPerFrequency": 0,
            "rateLimitFrequencyInSeconds": 1, "pollTimeoutSeconds": 3600, "backoffScaleFactor": 1,
            "ownerEmail": "a@b.c", "inputKeys": [], "outputKeys": [], "totalTimeoutSeconds": 20,
        },
        id="full",
    ),
    pytest.param({"name": "t", "retryCount": 0}, id="retryCount-zero"),
    pytest.param({"name": "t", "retryCount": 3.0}, id="integral-float"),
    pytest.param({"name": "t", "timeoutSeconds": 0, "responseTimeoutSeconds": 99999}, id="no-timeout-no-bound"),
    pytest.param({"name": "t", "timeoutSeconds": 60, "responseTimeoutSeconds": 60}, id="response-equals-timeout"),
    pytest.param({"name": "t", "timeoutSeconds": 60, "responseTimeoutSeconds": 10, "totalTimeoutSeconds": 0}, id="total-zero"),
    pytest.param({"name": "t", "retryLogic": "LINEAR_BACKOFF", "timeoutPolicy": "ALERT_ONLY"}, id="enums"),
    pytest.param({"name": "t", "somethingNew": {"x": 1}}, id="unknown-field"),
    pytest.param({"name": "t", "retryCount": None, "responseTimeoutSeconds": None}, id="nulls-are-absent"),
]


@pytest.mark.parametrize("data", VALID_TASK_DEFS)
def test_valid_task_defs(data: dict[str, Any]) -> None:
    assert validate_task_def(data) == []


INVALID_TASK_DEFS = [
    # (data, path, message)
    ({}, "taskDef.name", "TaskDef name cannot be null or empty"),
    ({"name": ""}, "taskDef.name", "TaskDef name cannot be null or empty"),
    ({"name": "t", "retryCount": -1}, "taskDef.retryCount", "TaskDef retryCount: 0 must be >= 0"),
    ({"name": "t", "retryCount": "3"}, "taskDef.retryCount", "retryCount must be an integer"),
    ({"name": "t", "retryCount": 2.5}, "taskDef.retryCount", "retryCount must be an integer"),
    ({"name": "t", "retryCount": True}, "taskDef.retryCount", "retryCount must be an integer"),
    ({"name": "t", "retryCount": 2**31}, "taskDef.retryCount", "retryCount must be an integer"),
    ({"name": "t", "timeoutSeconds": "10"}, "taskDef.timeoutSeconds", "timeoutSeconds must be an integer"),
    (
        {"name": "t", "responseTimeoutSeconds": 0},
        "taskDef.responseTimeoutSeconds",
        "TaskDef responseTimeoutSeconds: 0 should be minimum 1 second",
    ),
    (
        {"name": "t", "timeoutSeconds": 10, "responseTimeoutSeconds": 20},
        "taskDef.responseTimeoutSeconds",
        "TaskDef: t responseTimeoutSeconds: 20 must be less than timeoutSeconds: 10",
    ),
    (
        # responseTimeoutSeconds defaults to 3600 and is compared as such.
        {"name": "t", "timeoutSeconds": 100},
        "taskDef.responseTimeoutSeconds",
        "TaskDef: t responseTimeoutSeconds: 3600 must be less than timeoutSeconds: 100",
    ),
    (
        {"name": "test-task", "timeoutSeconds": 1000, "responseTimeoutSeconds": 1, "totalTimeoutSeconds": 900},
        "taskDef.timeoutSeconds",
        "TaskDef: test-task timeoutSeconds: 1000 must be less than or equal to totalTimeoutSeconds: 900",
    ),
    ({"name": "t", "timeoutPolicy": "BOGUS"}, "taskDef.timeoutPolicy", "timeoutPolicy must be one of RETRY, TIME_OUT_WF, ALERT_ONLY"),
    (
        {"name": "t", "retryLogic": "RANDOM"},
        "taskDef.retryLogic",
        "retryLogic must be one of FIXED, EXPONENTIAL_BACKOFF, LINEAR_BACKOFF",
    ),
    ({"name": "t", "backoffScaleFactor": 0}, "taskDef.backoffScaleFactor", "Backoff scale factor. Applicable for LINEAR_BACKOFF"),
    ({"name": "t", "pollTimeoutSeconds": -1}, "taskDef.pollTimeoutSeconds", "TaskDef pollTimeoutSeconds: 0 must be >= 0"),
    ({"name": "t", "maxRetryDelaySeconds": -1}, "taskDef.maxRetryDelaySeconds", "TaskDef maxRetryDelaySeconds: 0 must be >= 0"),
    ({"name": "t", "backoffJitterMs": -5}, "taskDef.backoffJitterMs", "TaskDef backoffJitterMs: 0 must be >= 0"),
    ({"name": "t", "totalTimeoutSeconds": -1}, "taskDef.totalTimeoutSeconds", "TaskDef totalTimeoutSeconds: 0 must be >= 0"),
    ({"name": "t", "inputTemplate": []}, "taskDef.inputTemplate", "inputTemplate must be an object"),
    ({"name": 5}, "taskDef.name", "name must be a string"),
    # Nested beans and list elements are typed too.
    ({"name": "t", "inputKeys": ["a", 3]}, "taskDef.inputKeys[1]", "inputKeys must be a string"),
    ({"name": "t", "outputKeys": "a"}, "taskDef.outputKeys", "outputKeys must be a list"),
    ({"name": "t", "runtimeMetadata": [None]}, "taskDef.runtimeMetadata[0]", "runtimeMetadata cannot hold null elements"),
    ({"name": "t", "inputSchema": "s"}, "taskDef.inputSchema", "inputSchema must be an object"),
    ({"name": "t", "inputSchema": {"name": "s", "version": "1"}}, "taskDef.inputSchema.version", "version must be an integer"),
    ({"name": "t", "outputSchema": {"type": "XML"}}, "taskDef.outputSchema.type", "type must be one of JSON, AVRO, PROTOBUF"),
]


@pytest.mark.parametrize(("data", "path", "message"), INVALID_TASK_DEFS)
def test_invalid_task_defs(data: dict[str, Any], path: str, message: str) -> None:
    error = find(validate_task_def(data), message)
    assert error.path == path


@pytest.mark.parametrize("data", [None, [], "t", 3])
def test_task_def_not_an_object(data: Any) -> None:
    errors = validate_task_def(data)
    assert len(errors) == 1 and errors[0].path == "taskDef"


def test_task_def_owner_email() -> None:
    assert validate_task_def({"name": "t"}) == []
    errors = validate_task_def({"name": "t"}, owner_email_mandatory=True)
    assert [(e.path, e.message) for e in errors] == [("taskDef.ownerEmail", "ownerEmail cannot be empty")]
    assert messages(validate_task_def({"name": "t", "ownerEmail": ""}, owner_email_mandatory=True)) == [
        "ownerEmail cannot be empty"
    ]
    assert validate_task_def({"name": "t", "ownerEmail": "a@b.c"}, owner_email_mandatory=True) == []


def test_task_def_reports_every_error_and_custom_path() -> None:
    errors = validate_task_def({"retryCount": -1, "responseTimeoutSeconds": 0}, path="taskDefs[2]")
    assert {e.path for e in errors} == {"taskDefs[2].name", "taskDefs[2].retryCount", "taskDefs[2].responseTimeoutSeconds"}
    assert find(errors, "TaskDef responseTimeoutSeconds: 0 should be minimum 1 second").invalid_value == 0


# --- WorkflowDef: top level ---------------------------------------------------------------------


def test_minimal_workflow_def_is_valid() -> None:
    assert validate_workflow_def(wf()) == []
    assert validate_workflow_def({"name": "wf", "tasks": [task()]}) == []


INVALID_WORKFLOW_DEFS = [
    ({"tasks": [task()]}, "workflowDef.name", "WorkflowDef name cannot be null or empty"),
    (wf(name=""), "workflowDef.name", "WorkflowDef name cannot be null or empty"),
    ({"name": "wf"}, "workflowDef.tasks", "WorkflowTask list cannot be empty"),
    (wf(tasks=[]), "workflowDef.tasks", "WorkflowTask list cannot be empty"),
    (wf(tasks={"a": 1}), "workflowDef.tasks", "tasks must be a list"),
    (wf(schemaVersion=1), "workflowDef.schemaVersion", "workflowDef schemaVersion: 2 is only supported"),
    (wf(schemaVersion=3), "workflowDef.schemaVersion", "workflowDef schemaVersion: 2 is only supported"),
    (wf(version="1"), "workflowDef.version", "version must be an integer"),
    (wf(timeoutPolicy="RETRY"), "workflowDef.timeoutPolicy", "timeoutPolicy must be one of TIME_OUT_WF, ALERT_ONLY"),
    (wf(timeoutSeconds="x"), "workflowDef.timeoutSeconds", "timeoutSeconds must be an integer"),
    (wf(outputParameters=[]), "workflowDef.outputParameters", "outputParameters must be an object"),
    (wf(restartable="yes"), "workflowDef.restartable", "restartable must be a boolean"),
    (wf(rateLimitConfig={"policy": "DROP"}), "workflowDef.rateLimitConfig.policy", "policy must be one of QUEUE, REJECT"),
    (wf(tasks=["t1"]), "workflowDef.tasks[0]", "WorkflowTask must be a JSON object"),
    (wf(rateLimitConfig={"concurrentExecLimit": "2"}), "workflowDef.rateLimitConfig.concurrentExecLimit",
     "concurrentExecLimit must be an integer"),
    (wf(cacheConfig={"key": 1}), "workflowDef.cacheConfig.key", "key must be a string"),
    (wf(cacheConfig={"ttlInSecond": 1.5}), "workflowDef.cacheConfig.ttlInSecond", "ttlInSecond must be an integer"),
    (wf(inputParameters=["a", {"b": 1}]), "workflowDef.inputParameters[1]", "inputParameters must be a string"),
    (wf(maskedFields=[None]), "workflowDef.maskedFields[0]", "maskedFields cannot hold null elements"),
    (wf(inputSchema={"data": []}), "workflowDef.inputSchema.data", "data must be an object"),
]


@pytest.mark.parametrize(("data", "path", "message"), INVALID_WORKFLOW_DEFS)
def test_invalid_workflow_defs(data: dict[str, Any], path: str, message: str) -> None:
    error = find(validate_workflow_def(data), message)
    assert error.path == path


def test_workflow_def_not_an_object() -> None:
    assert [e.path for e in validate_workflow_def([wf()])] == ["workflowDef"]


def test_workflow_def_accepts_versions_and_unknown_fields() -> None:
    # Conductor puts no bound on version.
    assert validate_workflow_def(wf(version=0)) == []
    assert validate_workflow_def(wf(version=7, somethingNew=[1], timeoutPolicy="TIME_OUT_WF")) == []


def test_empty_workflow_def_has_conductors_three_errors() -> None:
    errors = validate_workflow_def({}, owner_email_mandatory=True)
    assert sorted(messages(errors)) == sorted(
        ["WorkflowDef name cannot be null or empty", "WorkflowTask list cannot be empty", "ownerEmail cannot be empty"]
    )


def test_workflow_owner_email() -> None:
    errors = validate_workflow_def(wf(), owner_email_mandatory=True)
    assert [(e.path, e.message) for e in errors] == [("workflowDef.ownerEmail", "ownerEmail cannot be empty")]
    assert validate_workflow_def(wf(ownerEmail="a@b.c"), owner_email_mandatory=True) == []


# --- WorkflowTask: name, reference, nesting, uniqueness -----------------------------------------

NAME = "WorkflowTask name cannot be empty or null"
REF = "WorkflowTask taskReferenceName name cannot be empty or null"

NESTED = [
    # (definition, path of the offending task)
    (wf({"taskReferenceName": "a"}), "workflowDef.tasks[0]"),
    (
        wf(task("sw", type_="SWITCH", evaluatorType="value-param", expression="x", decisionCases={"A": [task("x"), {"taskReferenceName": "y"}]})),
        "workflowDef.tasks[0].decisionCases[A][1]",
    ),
    (
        wf(task("sw", type_="SWITCH", evaluatorType="value-param", expression="x", decisionCases={"A": [task("x")]}, defaultCase=[{"taskReferenceName": "y"}])),
        "workflowDef.tasks[0].defaultCase[0]",
    ),
    (
        wf(task("f", type_="FORK_JOIN", forkTasks=[[task("a")], [task("b"), {"taskReferenceName": "c"}]])),
        "workflowDef.tasks[0].forkTasks[1][1]",
    ),
    (
        wf(task("l", type_="DO_WHILE", loopCondition="false", loopOver=[{"taskReferenceName": "c"}])),
        "workflowDef.tasks[0].loopOver[0]",
    ),
]


@pytest.mark.parametrize(("data", "task_path"), NESTED)
def test_task_name_required_at_any_depth(data: dict[str, Any], task_path: str) -> None:
    assert find(validate_workflow_def(data), NAME).path == f"{task_path}.name"


@pytest.mark.parametrize(("data", "task_path"), NESTED)
def test_task_reference_required_at_any_depth(data: dict[str, Any], task_path: str) -> None:
    broken = copy.deepcopy(data)
    node: Any = broken
    for part in task_path.removeprefix("workflowDef.").replace("]", "").replace("[", ".").split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    node["name"] = "named"
    del node["taskReferenceName"]
    assert find(validate_workflow_def(broken), REF).path == f"{task_path}.taskReferenceName"


def test_task_reference_empty_string() -> None:
    assert find(validate_workflow_def(wf(task(ref="x") | {"taskReferenceName": ""})), REF).invalid_value == ""


def test_reference_names_unique_across_the_tree() -> None:
    dup = "taskReferenceName: a should be unique across tasks for a given workflowDefinition: wf"
    errors = validate_workflow_def(wf(task("a"), task("b", ref="a")))
    assert find(errors, dup).path == "workflowDef.tasks[1].taskReferenceName"
    nested = wf(task("a"), task("f", type_="FORK_JOIN", forkTasks=[[task("x", ref="a")]]))
    assert find(validate_workflow_def(nested), dup).path == "workflowDef.tasks[1].forkTasks[0][0].taskReferenceName"
    loop = wf(task("l", type_="DO_WHILE", loopCondition="false", loopOver=[task("a"), task("b", ref="a")]))
    assert find(validate_workflow_def(loop), dup).path == "workflowDef.tasks[0].loopOver[1].taskReferenceName"


def test_conductors_reference_name_uniqueness_example() -> None:
    # WorkflowDefConstraintTest.testWorkflowTaskReferenceNameNotUnique: three messages.
    params = {"fileLocation": "${task_2.input.fileLocation}"}
    data = {"name": "sampleWorkflow", "tasks": [task("task_1", inputParameters=params), task("task_2", ref="task_1", inputParameters=params)]}
    assert sorted(messages(validate_workflow_def(data))) == sorted(
        [
            "taskReferenceName: task_2 for given task: task_1 input value: fileLocation of input parameter: "
            "${task_2.input.fileLocation} is not defined in workflow definition.",
            "taskReferenceName: task_2 for given task: task_2 input value: fileLocation of input parameter: "
            "${task_2.input.fileLocation} is not defined in workflow definition.",
            "taskReferenceName: task_1 should be unique across tasks for a given workflowDefinition: sampleWorkflow",
        ]
    )


INVALID_TASK_FIELDS = [
    (task(startDelay=-1), "startDelay", "must be greater than or equal to 0"),
    (task(retryCount=-1), "retryCount", "WorkflowTask retryCount: -1 must be >= 0"),
    (task(retryCount="2"), "retryCount", "retryCount must be an integer"),
    (task(joinMode="LATER"), "joinMode", "joinMode must be one of SYNC, ASYNC"),
    (task(type=None), "type", "WorkTask type cannot be null or empty"),
    (task(optional="true"), "optional", "optional must be a boolean"),
    (task(inputParameters=[1]), "inputParameters", "inputParameters must be an object"),
    (task(taskDefinition={"name": "t1", "retryCount": "x"}), "taskDefinition.retryCount", "retryCount must be an integer"),
    (task(taskDefinition={"retryLogic": "NEVER"}), "taskDefinition.retryLogic", "retryLogic must be one of FIXED, EXPONENTIAL_BACKOFF, LINEAR_BACKOFF"),
    (task(taskDefinition="t1"), "taskDefinition", "taskDefinition must be an object"),
    (task(cacheConfig={"key": ["k"]}), "cacheConfig.key", "key must be a string"),
    (task(onStateChange={"onStart": [{"type": 1}]}), "onStateChange.onStart[0].type", "type must be a string"),
    (task(onStateChange={"onStart": {"type": "x"}}), "onStateChange.onStart", "onStateChange must be a list"),
    (task(onStateChange=[]), "onStateChange", "onStateChange must be an object"),
]


@pytest.mark.parametrize(("data", "field", "message"), INVALID_TASK_FIELDS)
def test_invalid_task_fields(data: dict[str, Any], field: str, message: str) -> None:
    assert find(validate_workflow_def(wf(data)), message).path == f"workflowDef.tasks[0].{field}"


def test_inline_task_definition_is_only_type_checked() -> None:
    # WorkflowTask.taskDefinition has no @Valid in Conductor: its bean rules do not apply, and
    # Conductor's own test-harness relies on that (timeoutSeconds 120 < default response 3600).
    inline = {"timeoutSeconds": 120, "retryCount": -1, "responseTimeoutSeconds": 0}
    data = wf(task(taskDefinition=inline), ownerEmail="a@b.c")
    assert validate_workflow_def(data, owner_email_mandatory=True) == []


def test_workflow_task_retry_count_zero_and_unknown_type_are_fine() -> None:
    assert validate_workflow_def(wf(task(retryCount=0, startDelay=0), task("w", type_="MY_WORKER_TYPE"))) == []


# --- WorkflowTask: per-type rules (WorkflowTaskTypeConstraint) -----------------------------------


def req(field: str, type_: str, name: str = "encode") -> str:
    return f"{field} field is required for taskType: {type_} taskName: {name}"


FJD_BOTH = (
    "dynamicForkJoinTasksParam or combination of dynamicForkTasksInputParamName and dynamicForkTasksParam "
    "cam be used for taskType: FORK_JOIN_DYNAMIC taskName: encode"
)
TERMINATE_STATUS = (
    "terminate task must have an terminationStatus parameter and must be set to COMPLETED or FAILED, taskName: encode"
)
SWITCH_OK = {"evaluatorType": "value-param", "expression": "x", "decisionCases": {"a": [task("c1")]}}

TYPE_ERRORS = [
    # (task fields, expected messages (exactly), path suffix of the first)
    pytest.param({"type": "EVENT"}, [req("sink", "EVENT")], "sink", id="event"),
    pytest.param(
        {"type": "DECISION"},
        [req("caseValueParam or caseExpression", "DECISION"), "decisionCases should have atleast one task for taskType: DECISION taskName: encode"],
        "caseValueParam or caseExpression",
        id="decision",
    ),
    pytest.param(
        {"type": "DECISION", "caseExpression": "$.x == null ? 'true': 'false'"},
        ["decisionCases should have atleast one task for taskType: DECISION taskName: encode"],
        "decisionCases",
        id="decision-no-cases",
    ),
    pytest.param(
        {"type": "DECISION", "caseValueParam": "p", "decisionCases": None},
        [req("decisionCases", "DECISION")],
        "decisionCases",
        id="decision-null-cases",
    ),
    pytest.param(
        {"type": "SWITCH", "decisionCases": {"a": [task("c1")]}},
        [req("evaluatorType", "SWITCH")],
        "evaluatorType",
        id="switch-evaluator",
    ),
    pytest.param(
        {"type": "SWITCH", "evaluatorType": "javascript", "decisionCases": {"a": [task("c1")]}},
        [req("expression", "SWITCH")],
        "expression",
        id="switch-expression",
    ),
    pytest.param(
        {"type": "SWITCH", "evaluatorType": "value-param", "expression": "x", "decisionCases": {}},
        ["decisionCases should have atleast one task for taskType: SWITCH taskName: encode"],
        "decisionCases",
        id="switch-empty-cases",
    ),
    pytest.param({"type": "DYNAMIC"}, [req("dynamicTaskNameParam", "DYNAMIC")], "dynamicTaskNameParam", id="dynamic"),
    pytest.param(
        {"type": "FORK_JOIN_DYNAMIC"},
        [req("dynamicForkTasksParam", "FORK_JOIN_DYNAMIC"), req("dynamicForkTasksInputParamName", "FORK_JOIN_DYNAMIC")],
        "dynamicForkTasksParam",
        id="fork-join-dynamic",
    ),
    pytest.param(
        {"type": "FORK_JOIN_DYNAMIC", "dynamicForkJoinTasksParam": "a", "dynamicForkTasksParam": "b"},
        [FJD_BOTH],
        "dynamicForkJoinTasksParam",
        id="fork-join-dynamic-both-forms",
    ),
    pytest.param(
        {"type": "FORK_JOIN_DYNAMIC", "dynamicForkJoinTasksParam": "a", "dynamicForkTasksInputParamName": "b"},
        [FJD_BOTH],
        "dynamicForkJoinTasksParam",
        id="fork-join-dynamic-both-forms-2",
    ),
    pytest.param(
        {"type": "HTTP"},
        [req("inputParameters.http_request or inputParameters.uri", "HTTP")],
        "inputParameters.http_request or inputParameters.uri",
        id="http",
    ),
    pytest.param(
        {"type": "HTTP", "taskDefinition": {"name": "encode", "inputTemplate": {"other": 1}}},
        [req("inputParameters.http_request or inputParameters.uri", "HTTP")],
        "inputParameters.http_request or inputParameters.uri",
        id="http-inline-template-without-request",
    ),
    pytest.param(
        {"type": "FORK_JOIN"},
        ["forkTasks should have atleast one task for taskType: FORK_JOIN taskName: encode"],
        "forkTasks",
        id="fork-join-absent",
    ),
    pytest.param(
        {"type": "FORK_JOIN", "forkTasks": []},
        ["forkTasks should have atleast one task for taskType: FORK_JOIN taskName: encode"],
        "forkTasks",
        id="fork-join-empty",
    ),
    pytest.param({"type": "TERMINATE"}, [TERMINATE_STATUS], "inputParameters.terminationStatus", id="terminate-missing"),
    pytest.param(
        {"type": "TERMINATE", "inputParameters": {"terminationStatus": "SUCCESS"}},
        [TERMINATE_STATUS],
        "inputParameters.terminationStatus",
        id="terminate-invalid",
    ),
    pytest.param(
        {"type": "TERMINATE", "inputParameters": {"terminationStatus": "${workflow.input.s}"}},
        [TERMINATE_STATUS],
        "inputParameters.terminationStatus",
        id="terminate-expression",
    ),
    pytest.param(
        {"type": "TERMINATE", "optional": True, "inputParameters": {"terminationStatus": "COMPLETED"}},
        ["terminate task cannot be optional, taskName: encode"],
        "optional",
        id="terminate-optional",
    ),
    pytest.param(
        {"type": "KAFKA_PUBLISH"},
        [req("inputParameters.kafka_request", "KAFKA_PUBLISH")],
        "inputParameters.kafka_request",
        id="kafka",
    ),
    pytest.param(
        {"type": "DO_WHILE"},
        [req("loopCondition", "DO_WHILE"), req("loopOver", "DO_WHILE")],
        "loopCondition",
        id="do-while",
    ),
    pytest.param(
        {"type": "DO_WHILE", "items": "${workflow.input.list}", "loopOver": [task("c1")]},
        [req("loopCondition", "DO_WHILE")],
        "loopCondition",
        id="do-while-items-still-needs-condition",
    ),
    pytest.param({"type": "SUB_WORKFLOW"}, [req("subWorkflowParam", "SUB_WORKFLOW")], "subWorkflowParam", id="sub-workflow"),
    pytest.param(
        {"type": "SUB_WORKFLOW", "subWorkflowParam": {"workflowDefinition": "not-dsl"}},
        ["workflowDefinition is a string, but not a valid DSL string"],
        "subWorkflowParam.workflowDefinition",
        id="sub-workflow-bad-dsl",
    ),
    pytest.param(
        {"type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "x", "workflowDefinition": 5}},
        ["workflowDefinition must be either null, or WorkflowDef, or a valid DSL string"],
        "subWorkflowParam.workflowDefinition",
        id="sub-workflow-bad-definition",
    ),
    pytest.param(
        {"type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "x", "version": "latest"}},
        ["version must be an integer"],
        "subWorkflowParam.version",
        id="sub-workflow-version",
    ),
    pytest.param(
        {"type": "JSON_JQ_TRANSFORM"},
        [req("inputParameters.queryExpression", "JSON_JQ_TRANSFORM")],
        "inputParameters.queryExpression",
        id="json-jq",
    ),
    pytest.param(
        {"type": "WAIT", "inputParameters": {"duration": "1s", "until": "2024-01-01"}},
        ["Both 'duration' and 'until' specified. Please provide only one input"],
        "inputParameters",
        id="wait-both",
    ),
    pytest.param(
        {"type": "WAIT", "inputParameters": {"duration": "ten minutes"}},
        ["Either date or duration is passed as null "],
        "inputParameters.duration",
        id="wait-bad-duration",
    ),
    pytest.param(
        {"type": "WAIT", "inputParameters": {"duration": 30}},
        ["Either date or duration is passed as null "],
        "inputParameters.duration",
        id="wait-unitless-duration",
    ),
    pytest.param(
        {"type": "WAIT", "inputParameters": {"until": "tomorrow"}},
        ["Unable to parse date "],
        "inputParameters.until",
        id="wait-bad-until",
    ),
    pytest.param(
        {"type": "WAIT", "inputParameters": {"duration": "${workflow.input.d}", "until": "soon"}},
        ["Both 'duration' and 'until' specified. Please provide only one input", "Unable to parse date "],
        "inputParameters",
        id="wait-expression-duration-then-until-parsed",
    ),
]


@pytest.mark.parametrize(("fields", "expected", "field"), TYPE_ERRORS)
def test_type_rules(fields: dict[str, Any], expected: list[str], field: str) -> None:
    errors = validate_workflow_def(wf(task("encode", **fields)))
    assert messages(errors) == expected
    assert errors[0].path == f"workflowDef.tasks[0].{field}"


TYPE_VALID = [
    pytest.param({"type": "EVENT", "sink": "conductor"}, id="event"),
    pytest.param({"type": "DECISION", "caseValueParam": "p", "decisionCases": {"a": [task("c1")]}}, id="decision"),
    pytest.param({"type": "SWITCH", **SWITCH_OK}, id="switch"),
    pytest.param(
        # Conductor only syntax-checks scripts; runtime-bound names must not be rejected.
        {"type": "SWITCH", "evaluatorType": "javascript", "expression": "$.items.length > 0 ? 'a' : 'b'", "decisionCases": {"a": [task("c1")]}},
        id="switch-javascript",
    ),
    pytest.param({"type": "DYNAMIC", "dynamicTaskNameParam": "taskToExecute"}, id="dynamic"),
    pytest.param({"type": "FORK_JOIN_DYNAMIC", "dynamicForkJoinTasksParam": "dynamicTasks"}, id="fjd-legacy"),
    pytest.param({"type": "FORK_JOIN_DYNAMIC", "dynamicForkTasksParam": "a", "dynamicForkTasksInputParamName": "b"}, id="fjd-pair"),
    pytest.param({"type": "FORK_JOIN_DYNAMIC", "inputParameters": {"forkTaskInputs": [], "forkTaskName": "x"}, "dynamicForkJoinTasksParam": "a", "dynamicForkTasksParam": "b"}, id="fjd-inputs-wins"),
    pytest.param({"type": "HTTP", "inputParameters": {"http_request": {"uri": "http://x", "method": "GET"}}}, id="http-request"),
    pytest.param({"type": "HTTP", "inputParameters": {"uri": "http://x"}}, id="http-uri"),
    pytest.param({"type": "HTTP", "inputParameters": {"method": "GET"}}, id="http-method"),
    pytest.param({"type": "HTTP", "taskDefinition": {"name": "encode", "inputTemplate": {"http_request": {}}}}, id="http-inline-template"),
    pytest.param({"type": "FORK_JOIN", "forkTasks": [[task("a")], []]}, id="fork-join"),
    pytest.param({"type": "TERMINATE", "inputParameters": {"terminationStatus": "COMPLETED"}}, id="terminate-completed"),
    pytest.param({"type": "TERMINATE", "inputParameters": {"terminationStatus": "FAILED"}}, id="terminate-failed"),
    pytest.param({"type": "TERMINATE", "inputParameters": {"terminationStatus": "TERMINATED"}}, id="terminate-terminated"),
    pytest.param({"type": "KAFKA_PUBLISH", "inputParameters": {"kafka_request": {}}}, id="kafka"),
    pytest.param({"type": "KAFKA_PUBLISH", "taskDefinition": {"name": "encode", "inputTemplate": {"kafka_request": {}}}}, id="kafka-inline"),
    pytest.param({"type": "DO_WHILE", "loopCondition": "false", "loopOver": [task("c1")]}, id="do-while"),
    pytest.param({"type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "child", "version": 1}}, id="sub-workflow"),
    pytest.param({"type": "SUB_WORKFLOW", "subWorkflowParam": {"workflowDefinition": "${workflow.input.def}"}}, id="sub-workflow-dsl"),
    pytest.param({"type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "c", "workflowDefinition": {"name": "c", "tasks": []}}}, id="sub-workflow-inline-not-validated"),
    pytest.param({"type": "JSON_JQ_TRANSFORM", "inputParameters": {"queryExpression": "."}}, id="json-jq"),
    pytest.param({"type": "WAIT"}, id="wait-forever"),
    pytest.param({"type": "WAIT", "inputParameters": {"duration": "1 days 2 hours 3 mins 4 secs"}}, id="wait-duration"),
    pytest.param({"type": "WAIT", "inputParameters": {"duration": "30m"}}, id="wait-duration-short"),
    pytest.param({"type": "WAIT", "inputParameters": {"duration": "${workflow.input.d}"}}, id="wait-duration-expression"),
    pytest.param({"type": "WAIT", "inputParameters": {"until": "2030-01-31 10:30"}}, id="wait-until"),
    pytest.param({"type": "WAIT", "inputParameters": {"until": "2030-01-31 10:30 UTC"}}, id="wait-until-zone"),
    pytest.param({"type": "WAIT", "inputParameters": {"until": "2030-01-31"}}, id="wait-until-date"),
    pytest.param({"type": "WAIT", "inputParameters": {"duration": "", "until": "2030-01-31"}}, id="wait-blank-duration"),
    pytest.param({"type": "SIMPLE"}, id="simple"),
    pytest.param({"type": "INLINE", "inputParameters": {"evaluatorType": "javascript", "expression": "1"}}, id="inline"),
]


@pytest.mark.parametrize("fields", TYPE_VALID)
def test_type_rules_accept(fields: dict[str, Any]) -> None:
    assert validate_workflow_def(wf(task("encode", **fields))) == []


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"type": "DO_WHILE", "loopCondition": "x", "loopOver": {"a": 1}}, "loopOver", "loopOver must be a list"),
        ({"type": "SWITCH", **SWITCH_OK, "defaultCase": "t"}, "defaultCase", "defaultCase must be a list"),
        ({"type": "FORK_JOIN", "forkTasks": [[task("a")], "b"]}, "forkTasks[1]", "must be a list of WorkflowTask objects"),
        ({"type": "FORK_JOIN", "forkTasks": [[task("a"), 7]]}, "forkTasks[0][1]", "WorkflowTask must be a JSON object"),
        ({"type": "SWITCH", **SWITCH_OK, "decisionCases": {"a": "t"}}, "decisionCases[a]", "must be a list of WorkflowTask objects"),
        ({"type": "SWITCH", **SWITCH_OK, "decisionCases": [task("a")]}, "decisionCases", "decisionCases must be an object"),
    ],
)
def test_malformed_containers_are_reported_once(fields: dict[str, Any], path: str, message: str) -> None:
    errors = [e for e in validate_workflow_def(wf(task("x", **fields))) if "atleast" not in e.message]
    assert [(e.path, e.message) for e in errors] == [(f"workflowDef.tasks[0].{path}", message)]


@pytest.mark.parametrize("type_", ["HTTP", "KAFKA_PUBLISH", "JSON_JQ_TRANSFORM"])
def test_registered_task_def_template_satisfies_required_input(type_: str) -> None:
    key = {"HTTP": "http_request", "KAFKA_PUBLISH": "kafka_request", "JSON_JQ_TRANSFORM": "queryExpression"}[type_]
    registry = {"encode": {"name": "encode", "inputTemplate": {key: "x"}}}
    data = wf(task("encode", type_=type_))
    assert validate_workflow_def(data) != []
    assert validate_workflow_def(data, task_def_lookup=registry.get) == []
    # An inline definition wins over the registry, as in Conductor.
    inline = wf(task("encode", type_=type_, taskDefinition={"name": "encode"}))
    assert validate_workflow_def(inline, task_def_lookup=registry.get) != []


def test_nested_tasks_get_type_rules() -> None:
    data = wf(task("sw", type_="SWITCH", **(SWITCH_OK | {"decisionCases": {"a": [task("encode", type_="EVENT")]}})))
    assert find(validate_workflow_def(data), req("sink", "EVENT")).path == "workflowDef.tasks[0].decisionCases[a][0].sink"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("", 0), ("  ", 0), ("5s", 5), ("1d", 86400), ("2 hours 1 min", 7260), ("1D 1H 1M 1S", 90061), ("10 secs", 10)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 weeks", "1s 1d", "-1s", "99999999999s"])
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration_seconds(text) is None


# --- ${...} references in top-level inputParameters ---------------------------------------------


def undefined(ref: str, task_name: str, key: str, value: str) -> str:
    return (
        f"taskReferenceName: {ref} for given task: {task_name} input value: {key} of input parameter: "
        f"{value} is not defined in workflow definition."
    )


VALID_EXPRESSIONS = [
    pytest.param({"a": "${workflow.input.x}"}, id="workflow"),
    pytest.param({"a": "${t0.output.result}"}, id="earlier-task"),
    pytest.param({"a": "${t2.output}"}, id="later-task"),
    pytest.param({"a": "${c1.output.x}"}, id="nested-task"),
    pytest.param({"a": "${CPEWF_TASK_ID}", "b": "${NETFLIX_ENV} ${NETFLIX_STACK}"}, id="system-parameters"),
    pytest.param({"a": "literal", "b": 5, "c": None, "d": [1, True]}, id="no-expressions"),
    pytest.param({"a": "$${nothing.here}"}, id="escaped"),
    pytest.param({"a": "${workflow.input.${workflow.input.key}}"}, id="nested-expression"),
    pytest.param({"a": "${workflow.env.HOST}", "b": "${workflow.secrets.token}"}, id="env-and-secrets"),
    pytest.param({"a": "id-${workflow.workflowId}-${t0.taskId}"}, id="interpolation"),
    pytest.param({"a": "${t0.output.list[0].x}", "b": "${workflow.input.items[?(@.x > 1)]}"}, id="jsonpath"),
]


def expression_wf(params: dict[str, Any]) -> dict[str, Any]:
    loop = task("loop", type_="DO_WHILE", loopCondition="false", loopOver=[task("c1")])
    return wf(task("t0"), task("t1", inputParameters=params), loop, task("t2"))


@pytest.mark.parametrize("params", VALID_EXPRESSIONS)
def test_valid_references(params: dict[str, Any]) -> None:
    assert validate_workflow_def(expression_wf(params)) == []


INVALID_EXPRESSIONS = [
    pytest.param(
        {"fileLocation": "${work.input.fileLocation}"},
        undefined("work", "t1", "fileLocation", "${work.input.fileLocation}"),
        "inputParameters.fileLocation",
        id="unknown-ref",
    ),
    pytest.param(
        {"env": {"packageId": "x ${nope.output}"}},
        undefined("nope", "t1", "packageId", "x ${nope.output}"),
        "inputParameters.env.packageId",
        id="nested-map-uses-inner-key",
    ),
    pytest.param(
        {"ids": ["ok", "${nope.output}"]},
        undefined("nope", "t1", "ids", "${nope.output}"),
        "inputParameters.ids[1]",
        id="list-uses-enclosing-key",
    ),
    pytest.param(
        {"blabla": "${workflow.input.Space Value}"},
        "key: blabla input parameter value: workflow.input.Space Value is not valid",
        "inputParameters.blabla",
        id="not-compilable",
    ),
    pytest.param(
        {"e": "${}"},
        "key: e input parameter value:  is not valid",
        "inputParameters.e",
        id="empty-expression",
    ),
    pytest.param(
        {"a": "${NETFLIX_ENVIRONMENT_SURELY_UNSET_4711}"},
        undefined("NETFLIX_ENVIRONMENT_SURELY_UNSET_4711", "t1", "a", "${NETFLIX_ENVIRONMENT_SURELY_UNSET_4711}"),
        "inputParameters.a",
        id="unset-env-name",
    ),
    pytest.param(
        {"a": "${t0['output']}"},
        undefined("t0['output']", "t1", "a", "${t0['output']}"),
        "inputParameters.a",
        id="first-segment-is-split-on-dots-only",
    ),
]


@pytest.mark.parametrize(("params", "message", "field"), INVALID_EXPRESSIONS)
def test_invalid_references(params: dict[str, Any], message: str, field: str) -> None:
    errors = validate_workflow_def(expression_wf(params))
    assert messages(errors) == [message]
    assert errors[0].path == f"workflowDef.tasks[1].{field}"


def test_server_environment_variable_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    # ConstraintParamUtil accepts a whole-path name that the server has as an environment variable.
    monkeypatch.setenv("BATON_TEST_ENV_4711", "x")
    assert validate_workflow_def(expression_wf({"a": "${BATON_TEST_ENV_4711}"})) == []


def test_only_top_level_inputs_are_checked() -> None:
    loop = task("loop", type_="DO_WHILE", loopCondition="false", loopOver=[task("c1", inputParameters={"a": "${nope.output}"})])
    assert validate_workflow_def(wf(loop)) == []


# --- StartWorkflowRequest -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"name": "wf"},
        {"name": "wf", "version": 2, "correlationId": "c", "input": {"a": 1}, "taskToDomain": {"*": "d"}, "priority": 0},
        {"name": "wf", "priority": 99, "idempotencyStrategy": "RETURN_EXISTING"},
        {"name": "", "workflowDef": wf()},
        {"name": "wf", "priority": None, "input": None},
    ],
)
def test_valid_start_requests(data: dict[str, Any]) -> None:
    assert validate_start_request(data) == []


INVALID_START_REQUESTS = [
    ({}, "startWorkflowRequest.name", "Workflow name cannot be null or empty"),
    ({"name": "wf", "priority": -1}, "startWorkflowRequest.priority", "priority: -1 should be minimum 0"),
    ({"name": "wf", "priority": 100}, "startWorkflowRequest.priority", "priority: 100 should be maximum 99"),
    ({"name": "wf", "priority": "5"}, "startWorkflowRequest.priority", "priority must be an integer"),
    ({"name": "wf", "input": [1]}, "startWorkflowRequest.input", "input must be an object"),
    ({"name": "wf", "taskToDomain": ["a"]}, "startWorkflowRequest.taskToDomain", "taskToDomain must be an object"),
    ({"name": "wf", "taskToDomain": {"t": 1}}, "startWorkflowRequest.taskToDomain[t]", "taskToDomain values must be strings"),
    ({"name": "wf", "version": "1"}, "startWorkflowRequest.version", "version must be an integer"),
    ({"name": "wf", "idempotencyStrategy": "NOPE"}, "startWorkflowRequest.idempotencyStrategy", "idempotencyStrategy must be one of FAIL, RETURN_EXISTING, FAIL_ON_RUNNING"),
    ({"name": "wf", "workflowDef": {"name": "wf"}}, "startWorkflowRequest.workflowDef.tasks", "WorkflowTask list cannot be empty"),
    ({"name": "wf", "workflowDef": "wf"}, "startWorkflowRequest.workflowDef", "workflowDef must be an object"),
]


@pytest.mark.parametrize(("data", "path", "message"), INVALID_START_REQUESTS)
def test_invalid_start_requests(data: dict[str, Any], path: str, message: str) -> None:
    assert find(validate_start_request(data), message).path == path


def test_start_request_not_an_object_and_owner_email() -> None:
    assert [e.path for e in validate_start_request("wf")] == ["startWorkflowRequest"]
    errors = validate_start_request({"name": "wf", "workflowDef": wf()}, owner_email_mandatory=True)
    assert [(e.path, e.message) for e in errors] == [("startWorkflowRequest.workflowDef.ownerEmail", "ownerEmail cannot be empty")]


# --- DefinitionError ----------------------------------------------------------------------------


def test_definition_error_response_shape() -> None:
    errors = [FieldError("workflowDef.name", "WorkflowDef name cannot be null or empty"), FieldError("workflowDef.tasks", "x", [])]
    exc = DefinitionError(errors)
    assert exc.status == 400
    assert exc.to_response() == {
        "status": 400,
        "message": VALIDATION_FAILED_MESSAGE,
        "retryable": False,
        "validationErrors": [
            {"path": "workflowDef.name", "message": "WorkflowDef name cannot be null or empty"},
            {"path": "workflowDef.tasks", "message": "x", "invalidValue": []},
        ],
    }
    assert "workflowDef.name" in str(exc) and "workflowDef.tasks" in str(exc)
    assert DefinitionError([], status=409).to_response()["status"] == 409


def test_definition_error_pickles_with_its_errors() -> None:
    exc = pickle.loads(pickle.dumps(DefinitionError([FieldError("p", "m", 1)], status=409)))
    assert exc.errors == [FieldError("p", "m", 1)] and exc.status == 409 and "p: m" in str(exc)


def test_definition_error_round_trip_from_validator() -> None:
    with pytest.raises(DefinitionError) as info:
        errors = validate_task_def({"name": "t", "retryCount": "3"})
        raise DefinitionError(errors)
    assert "retryCount" in str(info.value)
    assert info.value.to_response()["validationErrors"] == [
        {"path": "taskDef.retryCount", "message": "retryCount must be an integer", "invalidValue": "3"}
    ]
