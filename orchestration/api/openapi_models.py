"""Conductor's wire models as OpenAPI 3.0 component schemas (``#/components/schemas/...``).

The field lists follow Conductor's Java models and its ``schemas/*.json`` (conductor-oss
``common/`` and ``schemas/``), restated here; the enum values come from Baton's own validation
code, so the documentation cannot drift from what the server accepts.

Rules shared by every model, as the server applies them:

* unknown fields are ignored on input and may appear on output (no ``additionalProperties:
  false`` anywhere);
* null fields are omitted on output, so no output field is ``nullable`` and few are required;
* user maps (``input``, ``output``, ``inputParameters``...) are free-form JSON objects, whose
  values may be null;
* times are epoch milliseconds (int64), except in search summaries, where they are UTC strings.

Constraints (``minimum``, ``enum``...) describe what the server accepts; a request that breaks
one is answered 400 with Conductor's error body.
"""

from __future__ import annotations

from typing import Any

from orchestration.definitions.validation import (
    IDEMPOTENCY_STRATEGIES,
    JOIN_MODES,
    RATE_LIMIT_POLICIES,
    RETRY_LOGICS,
    TASK_TIMEOUT_POLICIES,
    WORKFLOW_TIMEOUT_POLICIES,
)
from orchestration.engine.results import RESULT_STATUSES as UPDATE_STATUSES
from orchestration.services.events import ACTION_TYPES

Schema = dict[str, Any]

WORKFLOW_STATUSES = ("RUNNING", "COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED", "PAUSED")
TASK_STATUSES = (
    "IN_PROGRESS", "CANCELED", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "COMPLETED", "COMPLETED_WITH_ERRORS",
    "SCHEDULED", "TIMED_OUT", "SKIPPED",
)
RESULT_STATUSES = tuple(sorted(UPDATE_STATUSES))


# --- building blocks ---------------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "string", **extra}, description)


def enum(values: tuple[str, ...] | list[str], description: str = "") -> Schema:
    return string(description, enum=list(values))


def int32(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "integer", "format": "int32", **extra}, description)


def int64(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "integer", "format": "int64", **extra}, description)


def boolean(description: str = "") -> Schema:
    return _described({"type": "boolean"}, description)


def array(items: Schema, description: str = "", **extra: Any) -> Schema:
    return _described({"type": "array", "items": items, **extra}, description)


def free_map(description: str = "") -> Schema:
    """A JSON object of anything (user data)."""
    return _described({"type": "object", "additionalProperties": {}}, description)


def map_of(values: Schema, description: str = "") -> Schema:
    return _described({"type": "object", "additionalProperties": values}, description)


def model(description: str, properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    out: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def _described(schema: Schema, description: str) -> Schema:
    if description:
        schema["description"] = description
    return schema


STRINGS = array(string())
# A definition's list of names: Conductor keeps (and prints) null elements of such lists.
NAMES = array(string(nullable=True))
MILLIS = int64("Epoch milliseconds; 0 when not set")
AUDIT: dict[str, Schema] = {
    "ownerApp": string(),
    "createTime": int64("Epoch milliseconds"),
    "updateTime": int64("Epoch milliseconds"),
    "createdBy": string(),
    "updatedBy": string(),
}


# --- definitions -------------------------------------------------------------------------------

SCHEMA_DEF = model(
    "A JSON/Avro/Protobuf schema attached to a definition (stored, not enforced).",
    {
        "name": string(), "version": int32(), "type": enum(("JSON", "AVRO", "PROTOBUF")), "data": free_map(),
        "externalRef": string(), **AUDIT,
    },
)

TASK_DEF = model(
    "A task type: retry, timeout and rate-limit policy shared by every use of the task.",
    {
        "name": string("Task type name; for worker tasks also the queue name", minLength=1),
        "description": string(), "retryCount": int32("Retries after the first attempt (default 3)", minimum=0),
        "timeoutSeconds": int64("Longest one attempt may take from its first poll; 0 = no limit"),
        "inputKeys": NAMES, "outputKeys": NAMES,
        "timeoutPolicy": enum(TASK_TIMEOUT_POLICIES, "What a timed-out attempt does (default TIME_OUT_WF)"),
        "retryLogic": enum(RETRY_LOGICS, "How the retry delay grows (default FIXED)"),
        "retryDelaySeconds": int32("Base delay before a retry (default 60)"),
        "responseTimeoutSeconds": int64("Longest silence of an IN_PROGRESS attempt (default 3600)", minimum=1),
        "concurrentExecLimit": int32("Most IN_PROGRESS tasks of this type at once; 0 = unlimited"),
        "inputTemplate": free_map("Default input, merged under the task's inputParameters"),
        "rateLimitPerFrequency": int32("Most starts per window; 0 = unlimited"),
        "rateLimitFrequencyInSeconds": int32("Rate-limit window"),
        "isolationGroupId": string(), "executionNameSpace": string(), "ownerEmail": string(),
        "pollTimeoutSeconds": int32("Longest wait in SCHEDULED for a poll", minimum=0),
        "backoffScaleFactor": int32("Multiplier of LINEAR_BACKOFF", minimum=1),
        "maxRetryDelaySeconds": int32("Cap of the computed retry delay; 0 = none", minimum=0),
        "backoffJitterMs": int32("Random extra retry delay, 0..N ms", minimum=0),
        "baseType": string(), "totalTimeoutSeconds": int64("Budget over all attempts; 0 = none", minimum=0),
        "taskStatusListenerEnabled": boolean(), "runtimeMetadata": NAMES, "inputSchema": ref("SchemaDef"),
        "outputSchema": ref("SchemaDef"), "enforceSchema": boolean(), **AUDIT,
    },
    required=("name",),
)

SUB_WORKFLOW_PARAMS = model(
    "The child workflow of a SUB_WORKFLOW task.",
    {
        "name": string(), "version": int32("Null or 0: the latest version"), "taskToDomain": map_of(string()),
        "workflowDefinition": {
            "description": "Inline WorkflowDef, or a string that is one whole ${...} expression",
            "oneOf": [ref("InlineWorkflowDef"), string()],
        },
        "idempotencyKey": string(), "idempotencyStrategy": enum(IDEMPOTENCY_STRATEGIES),
        "priority": {"description": "A number or an expression", "oneOf": [int32(), string()]},
    },
)

STATE_CHANGE_EVENT = model("An event published when a task changes state.", {"type": string(), "payload": free_map()})
CACHE_CONFIG = model("Output caching (stored, not used).", {"key": string(), "ttlInSecond": int32()})
RATE_LIMIT_CONFIG = model(
    "Workflow-level rate limit (stored, not enforced).",
    {"rateLimitKey": string(), "concurrentExecLimit": int32(), "policy": enum(RATE_LIMIT_POLICIES)},
)

TASKS = array(ref("WorkflowTask"))
WORKFLOW_TASK = model(
    "One node of a workflow definition; control-flow nodes hold further nodes.",
    {
        "name": string("TaskDef name or system task name", minLength=1),
        "taskReferenceName": string("Unique within the whole definition", minLength=1),
        "description": string(), "inputParameters": free_map("Input; string values may hold ${...} expressions"),
        "type": string("SIMPLE (default), a system task type, or a user-defined worker type"),
        "dynamicTaskNameParam": string(), "caseValueParam": string(), "caseExpression": string(),
        "scriptExpression": string(),
        "decisionCases": map_of(TASKS, "SWITCH/DECISION branches by case value"),
        "dynamicForkJoinTasksParam": string(), "dynamicForkTasksParam": string(),
        "dynamicForkTasksInputParamName": string(), "defaultCase": TASKS,
        "forkTasks": array(TASKS, "FORK_JOIN branches"),
        "startDelay": int32("Seconds before the task may be polled", minimum=0),
        "subWorkflowParam": ref("SubWorkflowParams"),
        "joinOn": NAMES, "sink": string(), "optional": boolean("A failure does not fail the workflow"),
        "taskDefinition": ref("TaskDef"), "rateLimited": boolean(), "defaultExclusiveJoinTask": NAMES,
        "asyncComplete": boolean(), "loopCondition": string(), "loopOver": TASKS,
        "items": string("DO_WHILE: expression of the list to iterate"),
        "retryCount": int32("Overrides the TaskDef's retryCount", minimum=0),
        "evaluatorType": string(), "expression": string(), "onStateChange": map_of(array(ref("StateChangeEvent"))),
        "joinStatus": string(), "cacheConfig": ref("CacheConfig"), "permissive": boolean(),
        "joinMode": enum(JOIN_MODES), "metadata": free_map(),
    },
    required=("name", "taskReferenceName"),
)

WORKFLOW_DEF = model(
    "A workflow blueprint, identified by name and version.",
    {
        "name": string(minLength=1), "description": string(),
        "version": int32("Default 1; never incremented by the server"),
        "tasks": array(ref("WorkflowTask"), "The top-level sequence", minItems=1),
        "inputParameters": NAMES, "outputParameters": free_map("Evaluated at the end into the workflow output"),
        "failureWorkflow": string(), "failureWorkflowVersion": int32(),
        "schemaVersion": int32("Only 2 is accepted", minimum=2, maximum=2),
        "restartable": boolean(), "workflowStatusListenerEnabled": boolean(), "workflowStatusListenerSink": string(),
        "ownerEmail": string(), "timeoutPolicy": enum(WORKFLOW_TIMEOUT_POLICIES),
        "timeoutSeconds": int64("0 = no timeout"), "variables": free_map(), "inputTemplate": free_map(),
        "rateLimitConfig": ref("RateLimitConfig"), "inputSchema": ref("SchemaDef"), "outputSchema": ref("SchemaDef"),
        "enforceSchema": boolean(), "metadata": free_map(), "cacheConfig": ref("CacheConfig"),
        "maskedFields": NAMES, **AUDIT,
    },
    required=("name", "tasks"),
)

# A sub-workflow's inline definition: typed as a WorkflowDef, but nothing is required of it before
# the sub-workflow starts (Conductor validates it only then).
INLINE_WORKFLOW_DEF = {k: v for k, v in WORKFLOW_DEF.items() if k != "required"}
INLINE_WORKFLOW_DEF["description"] = "A WorkflowDef given inline; checked when the sub-workflow starts."

WORKFLOW_DEF_SUMMARY = model(
    "A definition's identity, without its body.",
    {"name": string(), "version": int32(), "createTime": int64(), "updateTime": int64()},
    required=("name", "version"),
)

EVENT_HANDLER = model(
    "Actions to run when a message arrives on an event queue.",
    {
        "name": string(minLength=1),
        "event": string("<provider>:<queue>", minLength=1),
        "condition": string("Expression; absent = always"),
        "evaluatorType": string(),
        "active": boolean("Default false"),
        "actions": array(ref("EventHandlerAction"), minItems=1),
    },
    required=("name", "event", "actions"),
)
_TASK_DETAILS = model(
    "The task an action completes or fails.",
    {
        "workflowId": string(), "taskRefName": string(), "output": free_map(), "taskId": string(),
        "reasonForIncompletion": string(),
    },
)
EVENT_HANDLER_ACTION = model(
    "One action of an event handler; the key named by ``action`` holds its parameters.",
    {
        "action": enum(ACTION_TYPES),
        "start_workflow": model(
            "Start a workflow.",
            {"name": string(), "version": int32(), "correlationId": string(), "input": free_map(),
             "taskToDomain": map_of(string())},
        ),
        "complete_task": _TASK_DETAILS,
        "fail_task": _TASK_DETAILS,
        "terminate_workflow": model("Terminate a workflow.", {"workflowId": string(), "terminationReason": string()}),
        "update_workflow_variables": model(
            "Set workflow variables.", {"workflowId": string(), "variables": free_map(), "appendArray": boolean()}
        ),
        "start_agent": free_map("Start an agent (Orkes)."),
        "expandInlineJSON": boolean(),
    },
)


# --- executions --------------------------------------------------------------------------------

START_WORKFLOW_REQUEST = model(
    "What to start: a registered definition by name (and version), or an inline one.",
    {
        "name": string("Workflow name"), "version": int32("Absent: the latest version"), "correlationId": string(),
        "input": free_map("Default {}; an explicit null is refused"),
        "taskToDomain": map_of(string(), "Task type (or *) -> domain"),
        "workflowDef": ref("WorkflowDef"), "externalInputPayloadStoragePath": string(),
        "priority": int32(minimum=0, maximum=99), "createdBy": string(), "idempotencyKey": string(),
        "idempotencyStrategy": enum(IDEMPOTENCY_STRATEGIES),
    },
    required=("name",),
)

TASK = model(
    "One attempt of one task of a workflow execution.",
    {
        "taskType": string(), "status": enum(TASK_STATUSES), "inputData": free_map(),
        "referenceTaskName": string("Loop iterations carry a __N suffix"), "retryCount": int32(), "seq": int32(),
        "correlationId": string(), "pollCount": int32(), "taskDefName": string(),
        "scheduledTime": MILLIS, "startTime": MILLIS, "endTime": MILLIS, "updateTime": MILLIS,
        "startDelayInSeconds": int32(), "retriedTaskId": string(), "retried": boolean(), "executed": boolean(),
        "callbackFromWorker": boolean(), "responseTimeoutSeconds": int64(), "workflowInstanceId": string(),
        "workflowType": string(), "taskId": string(), "reasonForIncompletion": string(),
        "callbackAfterSeconds": int64(), "workerId": string(), "outputData": free_map(),
        "workflowTask": ref("WorkflowTask"), "domain": string(), "rateLimitPerFrequency": int32(),
        "rateLimitFrequencyInSeconds": int32(), "externalInputPayloadStoragePath": string(),
        "externalOutputPayloadStoragePath": string(), "workflowPriority": int32(),
        "executionNameSpace": string(), "isolationGroupId": string(), "iteration": int32(),
        "subWorkflowId": string(), "subworkflowChanged": boolean(), "firstStartTime": int64(),
        "parentTaskId": string(), "runtimeMetadata": map_of(string()), "executionMetadata": free_map(),
        "queueWaitTime": int64(), "loopOverTask": boolean(), "taskDefinition": ref("TaskDef"),
    },
)

WORKFLOW = model(
    "A workflow execution, with its tasks (every attempt, in seq order) unless left out.",
    {
        "workflowId": string(), "status": enum(WORKFLOW_STATUSES), "createTime": MILLIS,
        "startTime": int64("Same as createTime"), "updateTime": MILLIS, "endTime": MILLIS,
        "parentWorkflowId": string(), "parentWorkflowTaskId": string(), "tasks": array(ref("Task")),
        "input": free_map(), "output": free_map(), "correlationId": string(), "reRunFromWorkflowId": string(),
        "reasonForIncompletion": string(), "event": string(), "taskToDomain": map_of(string()),
        "failedReferenceTaskNames": STRINGS, "failedTaskNames": STRINGS,
        "workflowDefinition": ref("WorkflowDef"), "workflowName": string(), "workflowVersion": int32(),
        "externalInputPayloadStoragePath": string(), "externalOutputPayloadStoragePath": string(),
        "priority": int32(), "variables": free_map(), "lastRetriedTime": int64(),
        "history": array(ref("Workflow")), "idempotencyKey": string(), "rateLimitKey": string(),
        "rateLimited": boolean(), **AUDIT,
    },
)

TASK_RESULT = model(
    "A worker's report on a task attempt.",
    {
        "workflowInstanceId": string(minLength=1), "taskId": string(minLength=1),
        "reasonForIncompletion": string(), "callbackAfterSeconds": int64("IN_PROGRESS: poll again after this"),
        "workerId": string(), "status": enum(RESULT_STATUSES),
        "outputData": free_map("Replaces the task's output"), "logs": array(ref("TaskExecLog")),
        "externalOutputPayloadStoragePath": string(), "subWorkflowId": string(), "executionMetadata": free_map(),
        "extendLease": boolean("Only refresh the attempt's updateTime (heartbeat)"),
        "supportsCancellation": boolean(),
    },
    required=("workflowInstanceId", "taskId"),
)

TASK_EXEC_LOG = model("One log line of a task.", {"log": string(), "taskId": string(), "createdTime": int64()})
POLL_DATA = model(
    "The latest poll of a task queue.",
    {"queueName": string(), "domain": string(), "workerId": string(), "lastPollTime": int64()},
)

_UTC = string("UTC time, yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
WORKFLOW_SUMMARY = model(
    "A workflow execution as search lists it.",
    {
        "workflowType": string(), "version": int32(), "workflowId": string(), "correlationId": string(),
        "startTime": _UTC, "updateTime": _UTC, "endTime": _UTC, "status": enum(WORKFLOW_STATUSES),
        "input": string("The input, serialized"), "output": string("The output, serialized"),
        "reasonForIncompletion": string(), "executionTime": int64(), "event": string(),
        "failedReferenceTaskNames": string("Comma-separated"), "failedTaskNames": STRINGS,
        "externalInputPayloadStoragePath": string(), "externalOutputPayloadStoragePath": string(),
        "priority": int32(), "createdBy": string(), "taskToDomain": map_of(string()), "idempotencyKey": string(),
        "parentWorkflowId": string('"" for a top-level workflow'), "classifier": string(),
        "inputSize": int64(), "outputSize": int64(),
    },
)
TASK_SUMMARY = model(
    "A task attempt as search lists it.",
    {
        "workflowId": string(), "workflowType": string(), "correlationId": string(), "scheduledTime": _UTC,
        "startTime": _UTC, "updateTime": _UTC, "endTime": _UTC, "status": enum(TASK_STATUSES),
        "reasonForIncompletion": string(), "executionTime": int64(), "queueWaitTime": int64(),
        "taskDefName": string(), "taskType": string(), "input": string(), "output": string(), "taskId": string(),
        "externalInputPayloadStoragePath": string(), "externalOutputPayloadStoragePath": string(),
        "workflowPriority": int32(), "domain": string(),
    },
)


def search_result(item: str) -> Schema:
    return model(
        f"One page of {item} matches.",
        {"totalHits": int64("Matches in all pages"), "results": array(ref(item))},
        required=("totalHits", "results"),
    )


BULK_RESPONSE = model(
    "Per-item outcome of a bulk request; failures never fail the request.",
    {
        "bulkErrorResults": map_of(string(), "Item -> why it failed"),
        "bulkSuccessfulResults": array({}, "The items that succeeded"),
    },
    required=("bulkErrorResults", "bulkSuccessfulResults"),
)

SIGNAL_RESPONSE = model(
    "Answer of a synchronous signal or execution; returnStrategy decides whether it describes "
    "a workflow (WorkflowRun) or a task (TaskRun).",
    {
        "responseType": enum(("TARGET_WORKFLOW", "BLOCKING_WORKFLOW", "BLOCKING_TASK", "BLOCKING_TASK_INPUT")),
        "targetWorkflowId": string(), "targetWorkflowStatus": enum(WORKFLOW_STATUSES), "requestId": string(),
        "signalTimeout": boolean(), "workflowId": string(), "correlationId": string(), "input": free_map(),
        "output": free_map(), "priority": int32(), "variables": free_map(), "tasks": array(ref("Task")),
        "createdBy": string(), "createTime": int64(), "updateTime": int64(), "status": string(),
        "taskType": string(), "taskId": string(), "referenceTaskName": string(), "retryCount": int32(),
        "taskDefName": string(), "retriedTaskId": string(), "workflowType": string(),
        "reasonForIncompletion": string(),
    },
)

RERUN_REQUEST = model(
    "Where and how to rerun a terminal workflow in place.",
    {
        "reRunFromWorkflowId": string(), "workflowInput": free_map(), "reRunFromTaskId": string(),
        "taskInput": free_map(), "correlationId": string(),
    },
)
SKIP_TASK_REQUEST = model("Input and output of the skipped task.", {"taskInput": free_map(), "taskOutput": free_map()})
WORKFLOW_STATUS = model(
    "A workflow's status, optionally with output and variables.",
    {"workflowId": string(), "correlationId": string(), "output": free_map(), "variables": free_map(),
     "status": enum(WORKFLOW_STATUSES)},
)


# --- misc --------------------------------------------------------------------------------------

ERROR_RESPONSE = model(
    "Every error answer.",
    {
        "status": int32("The HTTP status"),
        "code": string("A machine-readable code (authentication errors)"),
        "error": string("Same as code; the field the SDKs read"),
        "message": string(),
        "instance": string("The server that answered"),
        "retryable": boolean("True only for transient (database) errors"),
        "validationErrors": array(ref("ValidationError")),
        "metadata": free_map(),
    },
    required=("status", "retryable"),
)
VALIDATION_ERROR = model(
    "One rejected field.",
    {"path": string("e.g. registerWorkflowDef.workflowDef.name"), "message": string(), "invalidValue": string()},
    required=("message",),
)
HEALTH = model(
    "Conductor's HealthCheckStatus.",
    {"healthResults": array(free_map()), "suppressedHealthResults": array(free_map()), "healthy": boolean()},
    required=("healthy",),
)
TOKEN_REQUEST = model(
    "An application key's credentials.",
    {"keyId": string(minLength=1), "keySecret": string(minLength=1)},
    required=("keyId", "keySecret"),
)
TOKEN_RESPONSE = model("A token for X-Authorization.", {"token": string()}, required=("token",))
CONDUCTOR_USER = model(
    "Who a token (or admin session) belongs to.",
    {
        "id": string(), "name": string(),
        "roles": array(model("A role.", {"name": string(), "permissions": array({})})),
        "groups": array({}), "applicationUser": boolean(), "uuid": string(),
    },
)

COMPONENTS: dict[str, Schema] = {
    "ErrorResponse": ERROR_RESPONSE,
    "ValidationError": VALIDATION_ERROR,
    "SchemaDef": SCHEMA_DEF,
    "TaskDef": TASK_DEF,
    "SubWorkflowParams": SUB_WORKFLOW_PARAMS,
    "StateChangeEvent": STATE_CHANGE_EVENT,
    "CacheConfig": CACHE_CONFIG,
    "RateLimitConfig": RATE_LIMIT_CONFIG,
    "WorkflowTask": WORKFLOW_TASK,
    "WorkflowDef": WORKFLOW_DEF,
    "InlineWorkflowDef": INLINE_WORKFLOW_DEF,
    "WorkflowDefSummary": WORKFLOW_DEF_SUMMARY,
    "EventHandler": EVENT_HANDLER,
    "EventHandlerAction": EVENT_HANDLER_ACTION,
    "StartWorkflowRequest": START_WORKFLOW_REQUEST,
    "Task": TASK,
    "Workflow": WORKFLOW,
    "TaskResult": TASK_RESULT,
    "TaskExecLog": TASK_EXEC_LOG,
    "PollData": POLL_DATA,
    "WorkflowSummary": WORKFLOW_SUMMARY,
    "TaskSummary": TASK_SUMMARY,
    "SearchResultWorkflowSummary": search_result("WorkflowSummary"),
    "SearchResultWorkflow": search_result("Workflow"),
    "SearchResultTaskSummary": search_result("TaskSummary"),
    "SearchResultTask": search_result("Task"),
    "BulkResponse": BULK_RESPONSE,
    "SignalResponse": SIGNAL_RESPONSE,
    "RerunWorkflowRequest": RERUN_REQUEST,
    "SkipTaskRequest": SKIP_TASK_REQUEST,
    "WorkflowStatus": WORKFLOW_STATUS,
    "HealthCheckStatus": HEALTH,
    "GenerateTokenRequest": TOKEN_REQUEST,
    "TokenResponse": TOKEN_RESPONSE,
    "ConductorUser": CONDUCTOR_USER,
}
