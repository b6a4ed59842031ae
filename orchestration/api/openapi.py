"""The OpenAPI registry: what each API route takes and answers, keyed by the route's ``name=``.

Views stay undecorated. ``orchestration.api.openapi_generator`` walks the URL conf, finds each
route's entry here and turns it into OpenAPI operations (served at ``/api/schema``, browsable at
``/api/docs``); the models the entries point at live in ``orchestration.api.openapi_models``.

Adding a route: add an entry under its name to ``ROUTES`` (or to ``EXCLUDED`` with a reason).
Until then the route is still documented, generically (any JSON in, any answer out), and
``tests/integration/test_openapi.py`` names it as missing.

Added to every operation by the generator, so entries list only what is particular:

* path parameters: one non-empty segment each (``path`` overrides the type or adds a
  description); parameter names are shown in Conductor's spelling (``PATH_NAMES``);
* 400 (bad input) wherever the operation takes any input, and 401/403 unless it is public;
* the note that Baton answers 400 where Conductor answers 500 for a caller's mistake: malformed
  JSON, a wrong JSON type, a parameter that is not a number, boolean or known enum name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.api import openapi_models as m

Schema = dict[str, Any]
JSON = "application/json"
TEXT = "text/plain"

# Path variable (the regex group name in the URL conf) -> name shown in the schema.
PATH_NAMES = {
    "tasktype": "taskType", "task_type": "taskType", "task_id": "taskId", "workflow_id": "workflowId",
    "correlation_id": "correlationId", "ref": "taskRefName",
}


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Body:
    schema: Schema
    description: str = ""
    media: tuple[str, ...] = (JSON,)
    required: bool = True


@dataclass(frozen=True)
class Reply:
    description: str
    schema: Schema | None = None  # None: no body
    media: str = JSON


@dataclass(frozen=True)
class Op:
    operation_id: str
    summary: str
    responses: dict[int, Reply]
    body: Body | None = None
    query: tuple[Param, ...] = ()
    description: str = ""
    # Where Baton knowingly answers differently from Conductor (beyond the common 400-for-500).
    deviations: tuple[str, ...] = ()
    public: bool = False
    deprecated: bool = False


@dataclass(frozen=True)
class Route:
    tag: str
    ops: dict[str, Op]  # lower-case HTTP method -> operation
    path: dict[str, Param | str] = field(default_factory=dict)  # by shown name: a Param or a description
    # Methods the view serves only to mirror Spring's routing (e.g. POST /workflow/search starts
    # the workflow *named* "search"): the operation is documented under its template path.
    shadowed: frozenset[str] = frozenset()


# --- building blocks ---------------------------------------------------------------------------


def ok(schema: Schema, description: str = "OK") -> Reply:
    return Reply(description, schema)


def text(description: str) -> Reply:
    return Reply(description, m.string(), TEXT)


def error(description: str) -> Reply:
    return Reply(description, m.ref("ErrorResponse"))


def q_str(name: str, description: str = "", required: bool = False) -> Param:
    return Param(name, m.string(), description, required)


def q_int(name: str, description: str = "", **bounds: int) -> Param:
    return Param(name, m.int32(**bounds), description)


def q_long(name: str, description: str = "") -> Param:
    return Param(name, m.int64(), description)


def q_bool(name: str, description: str = "") -> Param:
    return Param(name, m.boolean(), description)


def json_body(schema: Schema, description: str = "") -> Body:
    return Body(schema, description)


EMPTY = Reply("Done (empty body)")
NO_CONTENT = Reply("Nothing to return (no body)")
NOT_FOUND = error("Not found")
CONFLICT = error("Conflicts with the current state")
WORKER = (q_str("workerid", "Id of the polling worker (workerId is accepted too)"), q_str("domain", "Task domain"))
OUTPUT_MAP = json_body(m.free_map(), "The task output (a JSON object)")
WORKFLOW_ID = "Workflow (execution) id"
TASK_ID = "Task (attempt) id"
VERSION = Param("version", m.int32(), "Definition version")
RESULT_STATUS = Param("status", m.enum(m.RESULT_STATUSES), "The task's new status")


def _search_route(operation_id: str, item: str, summary: str, workflows: bool = True) -> Route:
    query = (
        q_int("start", "Offset of the first result (default 0)", minimum=0),
        q_int("size", "Page size (default 100, at most 5000)", minimum=0, maximum=5000),
        q_str("sort", "field:ASC|DESC, several keys joined with |"),
        q_str("freeText", "Full-text filter (default *: everything)"),
        q_str("query", "Conditions such as status = 'RUNNING' AND workflowType IN (a,b)"),
    )
    deviations = (
        "A malformed query, an unknown field or sort key, or a mistyped value answers 400 naming the problem; "
        "Conductor answers 500 or ignores the condition.",
    )
    if workflows:
        query += (q_bool("topLevelOnly", "Only workflows without a parent"),)
    else:
        deviations += ("size above 5000 answers 400 here too (Conductor checks it on workflow searches only).",)
    op = Op(operation_id, summary, {200: ok(m.ref(f"SearchResult{item}"))}, query=query, deviations=deviations)
    # The workflow searches' literal paths also take POST: Spring's POST /workflow/{name}.
    return Route("workflow" if workflows else "task", {"get": op}, shadowed=frozenset({"post"}) if workflows else frozenset())


def _control(method: str, operation_id: str, summary: str, success: Reply, **extra: Any) -> Route:
    """A control operation on one workflow: 404 unknown, 409 wrong state."""
    op = Op(operation_id, summary, {200 if success is not NO_CONTENT else 204: success, 404: NOT_FOUND, 409: CONFLICT}, **extra)
    return Route("workflow", {method: op}, path={"workflowId": WORKFLOW_ID})


def _bulk(method: str, operation_id: str, summary: str, query: tuple[Param, ...]) -> Route:
    op = Op(operation_id, summary, {200: ok(m.ref("BulkResponse"))}, body=json_body(m.STRINGS, "Workflow ids (at most 1000)"),
            query=query, description="Each id succeeds or fails on its own (bulkErrorResults); the request itself "
            "fails only for a bad list (empty, over 1000 ids, not strings).")
    return Route("bulk", {method: op})


# --- metadata ----------------------------------------------------------------------------------

_WORKFLOW_DEFS = Route("metadata", {
    "get": Op("getAll", "All workflow definitions (every version)", {200: ok(m.array(m.ref("WorkflowDef")))},
              query=(q_str("classifier", "Only definitions of this classifier (e.g. WORKFLOW)"),)),
    "post": Op("create", "Register a workflow definition", {200: EMPTY, 409: error("name+version exists")},
               body=json_body(m.ref("WorkflowDef")),
               query=(q_bool("overwrite", "Replace an existing name+version instead of answering 409"),)),
    "put": Op("update", "Create or replace workflow definitions", {200: ok(m.ref("BulkResponse"))},
              body=json_body(m.array(m.ref("WorkflowDef"))),
              description="One invalid definition rejects the whole list (400) and stores nothing."),
})

ROUTES: dict[str, Route] = {
    "health": Route("health", {"get": Op("doCheck", "Health check", {200: ok(m.ref("HealthCheckStatus"))}, public=True)}),
    "api-health": Route("health", {
        "get": Op("doCheckApi", "Health check", {200: ok(m.ref("HealthCheckStatus"))}, public=True),
    }),
    "taskdefs": Route("metadata", {
        "get": Op("getTaskDefs", "All task definitions", {200: ok(m.array(m.ref("TaskDef")))}),
        "post": Op("registerTaskDef", "Register task definitions (upsert)", {200: EMPTY},
                   body=json_body(m.array(m.ref("TaskDef"))),
                   description="Existing names are overwritten; an empty list is refused."),
        "put": Op("updateTaskDef", "Update one task definition", {200: EMPTY, 404: NOT_FOUND},
                  body=json_body(m.ref("TaskDef"))),
    }),
    "taskdef": Route("metadata", {
        "get": Op("getTaskDef", "One task definition", {200: ok(m.ref("TaskDef")), 404: NOT_FOUND}),
        "delete": Op("unregisterTaskDef", "Remove a task definition", {200: EMPTY, 404: NOT_FOUND}),
    }, path={"taskType": "Task definition name"}),
    "workflowdefs": _WORKFLOW_DEFS,
    "workflowdefs-classifier": _WORKFLOW_DEFS,
    "workflowdef-version": Route("metadata", {
        "delete": Op("unregisterWorkflowDef", "Remove one version of a workflow definition",
                     {200: EMPTY, 404: NOT_FOUND}, description="Running executions are not affected."),
    }, path={"name": "Workflow name", "version": VERSION}),
    "workflowdef": Route("metadata", {
        "get": Op("get", "A workflow definition", {200: ok(m.ref("WorkflowDef")), 404: NOT_FOUND},
                  query=(q_int("version", "Absent: the latest version"),)),
    }, path={"name": "Workflow name"}),
    "workflowdef-validate": Route("metadata", {
        "post": Op("validate", "Validate a workflow definition without storing it", {200: EMPTY},
                   body=json_body(m.ref("WorkflowDef"))),
    }),
    "workflowdef-names-and-versions": Route("metadata", {
        "get": Op("getWorkflowNamesAndVersions", "Every definition's versions, by name",
                  {200: ok(m.map_of(m.array(m.ref("WorkflowDefSummary"))))}),
    }),
    "workflowdef-names": Route("metadata", {
        "get": Op("getWorkflowNames", "The names of all workflow definitions", {200: ok(m.STRINGS)}),
    }),
    "workflowdef-latest-versions": Route("metadata", {
        "get": Op("getAllWorkflowsWithLatestVersions", "The latest version of each workflow definition",
                  {200: ok(m.array(m.ref("WorkflowDef")))}),
    }),
    "workflowdef-versions": Route("metadata", {
        "get": Op("getWorkflowVersions", "The versions of one workflow definition ([] if unknown)",
                  {200: ok(m.array(m.ref("WorkflowDefSummary")))}),
    }, path={"name": "Workflow name"}),
    # --- workflows -----------------------------------------------------------------------------
    "workflow-start": Route("workflow", {
        "post": Op("startWorkflow", "Start a workflow", {200: text("The new workflow's id"), 404: NOT_FOUND},
                   body=json_body(m.ref("StartWorkflowRequest"))),
    }),
    "workflow": Route("workflow", {
        "get": Op("getExecutionStatus", "A workflow execution ({key} is its id)",
                  {200: ok(m.ref("Workflow")), 404: NOT_FOUND},
                  query=(q_bool("includeTasks", "Include the task list (default true)"),)),
        "delete": Op("terminate", "Terminate a workflow ({key} is its id)",
                     {200: EMPTY, 404: NOT_FOUND, 409: error("The workflow is COMPLETED")},
                     query=(q_str("reason"),), description="Terminating a TERMINATED workflow changes nothing."),
        "post": Op("startWorkflowByName", "Start the workflow named {key}",
                   {200: text("The new workflow's id"), 404: NOT_FOUND},
                   body=Body(m.free_map(), "The workflow input", required=False),
                   query=(q_int("version", "Absent: the latest version"), q_str("correlationId"),
                          q_int("priority", "0-99 (default 0)", minimum=0, maximum=99))),
    }, path={"key": "GET: the workflow id; POST: the workflow name"}),
    "workflow-status": Route("workflow", {
        "get": Op("getWorkflowStatusSummary", "A workflow's status", {200: ok(m.ref("WorkflowStatus")), 404: NOT_FOUND},
                  query=(q_bool("includeOutput", "Default false"), q_bool("includeVariables", "Default false"))),
    }, path={"workflowId": WORKFLOW_ID}),
    "workflow-tasks": Route("workflow", {
        "get": Op("getExecutionStatusTaskList", "A page of a workflow's tasks",
                  {200: ok(m.ref("SearchResultTask")), 404: NOT_FOUND},
                  query=(q_int("start", "Default 0", minimum=0), q_int("count", "Default 15", minimum=0),
                         Param("status", m.array(m.enum(m.TASK_STATUSES)), "Only these statuses (repeat or join with commas)"))),
    }, path={"workflowId": WORKFLOW_ID}),
    "workflow-remove": Route("workflow", {
        "delete": Op("delete", "Remove a workflow and its tasks", {200: EMPTY, 404: NOT_FOUND},
                     query=(q_bool("archiveWorkflow", "Default true"),)),
    }, path={"workflowId": WORKFLOW_ID}),
    "workflow-terminate-remove": Route("workflow", {
        "delete": Op("terminateRemove", "Terminate, then remove a workflow", {200: EMPTY, 404: NOT_FOUND, 409: CONFLICT},
                     query=(q_str("reason"), q_bool("archiveWorkflow", "Default true"))),
    }, path={"workflowId": WORKFLOW_ID}),
    "workflow-pause": _control("put", "pauseWorkflow", "Pause a workflow", EMPTY),
    "workflow-resume": _control("put", "resumeWorkflow", "Resume a paused workflow", EMPTY, deviations=(
        "A workflow that is not PAUSED answers 409; Conductor answers 500.",)),
    "workflow-decide": _control("put", "decide", "Run the decider on a workflow now", EMPTY),
    "workflow-restart": _control(
        "post", "restart", "Restart a terminal workflow from the beginning", NO_CONTENT,
        query=(q_bool("useLatestDefinitions", "Default false"),),
        description="404 also when a COMPLETED workflow is not restartable (as Conductor)."),
    "workflow-retry": _control(
        "post", "retry", "Retry the last failed task of a terminal workflow", NO_CONTENT,
        query=(q_bool("resumeSubworkflowTasks", "Default false"),),
        description="404 also when the workflow is still running (as Conductor)."),
    "workflow-reset-callbacks": _control(
        "post", "resetWorkflow", "Make the workflow's waiting worker tasks pollable now", NO_CONTENT),
    "workflow-rerun": _control(
        "post", "rerun", "Rerun a terminal workflow in place", text("The same workflow id"),
        body=json_body(m.ref("RerunWorkflowRequest"))),
    "workflow-skip-task": Route("workflow", {
        "put": Op("skipTaskFromWorkflow", "Skip a task of a running workflow", {200: EMPTY, 404: NOT_FOUND, 409: CONFLICT},
                  body=Body(m.ref("SkipTaskRequest"), "Optional; wins over the query form", required=False),
                  query=(q_str("taskInput", "A JSON object (or taskInput.<key>=value)"),
                         q_str("taskOutput", "A JSON object (or taskOutput.<key>=value)")),
                  deviations=("A workflow that is not RUNNING or a task already scheduled answers 409, a reference "
                              "the definition does not have 400; Conductor answers 500.",
                              "A JSON body is read too (Conductor ignores it).")),
    }, path={"workflowId": WORKFLOW_ID, "taskRefName": "Task reference name"}),
    "workflow-execute": Route("workflow", {
        "post": Op("executeWorkflow", "Start a workflow and wait until it ends or blocks",
                   {200: ok(m.ref("SignalResponse")), 404: NOT_FOUND},
                   body=Body(m.ref("StartWorkflowRequest"), "name and version come from the path", required=False),
                   query=(q_str("requestId"), q_str("waitUntilTaskRef", "Reference names, comma-separated"),
                          q_int("waitForSeconds", "Default 10", minimum=0),
                          Param("returnStrategy", m.enum(("TARGET_WORKFLOW", "BLOCKING_WORKFLOW", "BLOCKING_TASK",
                                                          "BLOCKING_TASK_INPUT"))))),
    }, path={"name": "Workflow name", "version": Param("version", m.int32(), "0: the latest version")}),
    **{f"workflow-bulk-{name}": _bulk(method, op_id, summary, query) for name, (method, op_id, summary, query) in {
        "pause": ("put", "pauseWorkflowBulk", "Pause workflows", ()),
        "resume": ("put", "resumeWorkflowBulk", "Resume workflows", ()),
        "restart": ("post", "restartBulk", "Restart workflows", (q_bool("useLatestDefinitions"),)),
        "retry": ("post", "retryBulk", "Retry workflows", ()),
        "terminate": ("post", "terminateBulk", "Terminate workflows", (q_str("reason"),)),
        "remove": ("delete", "deleteWorkflowBulk", "Remove workflows", (q_bool("archiveWorkflow"),)),
        "terminate-remove": ("delete", "terminateRemoveBulk", "Terminate and remove workflows",
                             (q_str("reason"), q_bool("archiveWorkflow"))),
        "search": ("post", "searchWorkflowBulk", "Read workflows by id (results are Workflow documents)",
                   (q_bool("includeTasks", "Default true"),)),
    }.items()},
    "workflow-search": _search_route("search", "WorkflowSummary", "Search workflow executions"),
    "workflow-search-v2": _search_route("searchV2", "Workflow", "Search workflow executions (full documents)"),
    "workflow-search-by-tasks": _search_route(
        "searchWorkflowsByTasks", "WorkflowSummary", "Search workflows by their tasks' fields"
    ),
    "workflow-search-by-tasks-v2": _search_route(
        "searchWorkflowsByTasksV2", "Workflow", "Search workflows by their tasks' fields (full documents)"
    ),
    "workflow-running": Route("workflow", {
        "get": Op("getRunningWorkflow", "Ids of the running workflows of a name", {200: ok(m.STRINGS)},
                  query=(q_int("version", "Default 1; only used with startTime and endTime"),
                         q_long("startTime", "Epoch ms; with endTime: filter by start time instead"),
                         q_long("endTime", "Epoch ms"))),
    }, path={"name": "Workflow name"}),
    "workflow-correlated": Route("workflow", {
        "get": Op("getWorkflows", "Workflows of a name with one correlation id", {200: ok(m.array(m.ref("Workflow")))},
                  query=(q_bool("includeClosed", "Also terminal ones (default false)"),
                         q_bool("includeTasks", "Include task lists (default false)"))),
    }, path={"name": "Workflow name", "correlationId": "Correlation id"}),
    "workflow-correlated-batch": Route("workflow", {
        "post": Op("getWorkflowsBatch", "Workflows of a name for each of several correlation ids",
                   {200: ok(m.map_of(m.array(m.ref("Workflow"))), "Correlation id -> its workflows")},
                   body=json_body(m.STRINGS, "Correlation ids"),
                   query=(q_bool("includeClosed"), q_bool("includeTasks"))),
    }, path={"name": "Workflow name"}),
    # --- tasks ---------------------------------------------------------------------------------
    "task-update": Route("task", {
        "post": Op("updateTask", "Report a task result", {200: text("The task id"), 404: NOT_FOUND},
                   body=json_body(m.ref("TaskResult")),
                   description="A result for a task that is already terminal changes nothing and answers 200."),
    }),
    "task-update-v2": Route("task", {
        "post": Op("updateTaskV2", "Report a task result and take the next task of the same type",
                   {200: ok(m.ref("Task"), "The next task"), 204: NO_CONTENT, 404: NOT_FOUND},
                   body=json_body(m.ref("TaskResult")),
                   description="204 when the task is still open after the update or no task is waiting."),
    }),
    "task-poll-batch": Route("task", {
        "get": Op("batchPoll", "Poll for up to count tasks", {200: ok(m.array(m.ref("Task")), "[] when none")},
                  query=(*WORKER, q_int("count", "Most tasks to take (default 1)"),
                         q_int("timeout", "Long-poll milliseconds (default 100, at most 5000)", maximum=5000))),
    }, path={"taskType": "Task type"}),
    "task-poll": Route("task", {
        "get": Op("poll", "Poll for one task", {200: ok(m.ref("Task")), 204: NO_CONTENT}, query=WORKER),
    }, path={"taskType": "Task type"}),
    "task-ack": Route("task", {
        "post": Op("ack", "Acknowledge a polled task (no-op)", {200: text("Always true")}, deprecated=True,
                   description="Netflix 2.x clients call it; Conductor 3+ acknowledges at poll time."),
    }, path={"taskId": TASK_ID}),
    "task": Route("task", {
        "get": Op("getTask", "A task attempt", {200: ok(m.ref("Task")), 404: NOT_FOUND}),
    }, path={"taskId": TASK_ID}),
    "task-log": Route("task", {
        "get": Op("getTaskLogs", "A task's log lines", {200: ok(m.array(m.ref("TaskExecLog"))), 204: NO_CONTENT}),
        "post": Op("log", "Append a log line to a task", {200: EMPTY, 404: NOT_FOUND},
                   body=Body(m.string(), "The line, stored verbatim (a JSON string keeps its quotes)", (TEXT, JSON))),
    }, path={"taskId": TASK_ID}),
    "task-update-by-ref": Route("task", {
        "post": Op("updateTaskByRefName", "Update a workflow's open task by reference name",
                   {200: text("The task id; empty when no open task has that reference name"), 404: NOT_FOUND},
                   body=OUTPUT_MAP, query=WORKER[:1],
                   description="The body is merged into the task's output."),
    }, path={"workflowId": WORKFLOW_ID, "taskRefName": "Task reference name", "status": RESULT_STATUS}),
    "task-update-by-ref-sync": Route("task", {
        "post": Op("updateTaskSync", "Update a task by reference name and return the workflow",
                   {200: ok(m.ref("Workflow")), 404: NOT_FOUND}, body=OUTPUT_MAP, query=WORKER[:1]),
    }, path={"workflowId": WORKFLOW_ID, "taskRefName": "Task reference name", "status": RESULT_STATUS}),
    "task-signal": Route("task", {
        "post": Op("signalWorkflowTaskAsync", "Complete (or fail) the workflow's blocked WAIT/HUMAN task",
                   {200: EMPTY, 404: NOT_FOUND}, body=OUTPUT_MAP),
    }, path={"workflowId": WORKFLOW_ID, "status": RESULT_STATUS}),
    "task-signal-sync": Route("task", {
        "post": Op("signalWorkflowTaskSync", "Signal the blocked task and wait for the workflow to settle",
                   {200: ok(m.ref("SignalResponse")), 404: NOT_FOUND}, body=OUTPUT_MAP,
                   query=(Param("returnStrategy", m.enum(("TARGET_WORKFLOW", "BLOCKING_WORKFLOW", "BLOCKING_TASK",
                                                          "BLOCKING_TASK_INPUT"))),
                          q_int("timeoutMillis", "Longest wait (default 5000, capped at 30000)")),
                   deviations=("The wait is capped at 30 s (Conductor: unbounded).",)),
    }, path={"workflowId": WORKFLOW_ID, "status": RESULT_STATUS}),
    "task-queue-sizes": Route("task", {
        "get": Op("size", "Queue sizes of task types", {200: ok(m.map_of(m.int32()))}, deprecated=True,
                  query=(Param("taskType", m.STRINGS, "Repeat, or join with commas"),)),
    }),
    "task-queue-size": Route("task", {
        "get": Op("taskDepth", "Size of one task queue", {200: ok(m.int32())},
                  query=(q_str("taskType", required=True), q_str("domain"), q_str("isolationGroupId"),
                         q_str("executionNamespace"))),
    }),
    "task-queue-all": Route("task", {
        "get": Op("all", "Size of every task queue", {200: ok(m.map_of(m.int64()))}),
    }),
    "task-queue-all-verbose": Route("task", {
        "get": Op("allVerbose", "Size of every task queue, by shard",
                  {200: ok(m.map_of(m.map_of(m.map_of(m.int64()))), "queue -> shard -> {size, uacked}")}),
    }),
    "task-polldata": Route("task", {
        "get": Op("getPollData", "Latest polls of a task type", {200: ok(m.array(m.ref("PollData")))},
                  query=(q_str("taskType", required=True),)),
    }),
    "task-polldata-all": Route("task", {
        "get": Op("getAllPollData", "Latest polls of every task type", {200: ok(m.array(m.ref("PollData")))}),
    }),
    "task-requeue": Route("task", {
        "post": Op("requeuePendingTask", "Queue a type's pending tasks again", {200: text("How many were queued")}),
    }, path={"taskType": "Task type"}),
    "task-search": _search_route("searchTasks", "TaskSummary", "Search task attempts", workflows=False),
    "task-search-v2": _search_route("searchTasksV2", "Task", "Search task attempts (full documents)", workflows=False),
    "task-external-storage": Route("task", {
        "get": Op("getTaskExternalStorageLocation", "External payload storage location",
                  {400: error("Always: Baton has no external payload storage")},
                  query=(q_str("path"), q_str("operation", "READ or WRITE"),
                         q_str("payloadType", "WORKFLOW_INPUT, WORKFLOW_OUTPUT, TASK_INPUT or TASK_OUTPUT")),
                  deviations=("Always 400: Baton keeps every payload in its database (Conductor: 200 {uri, path}).",)),
    }),
    "external-storage-location": Route("workflow", {
        "get": Op("getExternalStorageLocation", "External payload storage location",
                  {400: error("Always: Baton has no external payload storage")},
                  query=(q_str("path"), q_str("operation"), q_str("payloadType")),
                  deviations=("Always 400: Baton keeps every payload in its database (Conductor: 200 {uri, path}).",)),
    }),
    # --- event handlers ------------------------------------------------------------------------
    "event-handlers": Route("event", {
        "get": Op("getEventHandlers", "All event handlers", {200: ok(m.array(m.ref("EventHandler")))}),
        "post": Op("addEventHandler", "Add an event handler", {200: EMPTY, 409: error("The name exists")},
                   body=json_body(m.ref("EventHandler"))),
        "put": Op("updateEventHandler", "Update an event handler", {200: EMPTY, 404: NOT_FOUND},
                  body=json_body(m.ref("EventHandler"))),
    }),
    "event-handler": Route("event", {
        "get": Op("getEventHandlersForEvent", "The handlers of one event ({key} is the event)",
                  {200: ok(m.array(m.ref("EventHandler")))},
                  query=(q_bool("activeOnly", "Default true"),)),
        "delete": Op("removeEventHandlerStatus", "Remove an event handler ({key} is its name)",
                     {200: EMPTY, 404: NOT_FOUND}),
    }, path={"key": "GET: an event (<provider>:<queue>); DELETE: a handler name"}),
    # --- misc ----------------------------------------------------------------------------------
    "version": Route("admin", {"get": Op("getVersion", "The server's version", {200: text("Version")})}),
    "admin-config": Route("admin", {
        "get": Op("getAllConfig", "Server configuration", {200: ok(m.free_map())},
                  deviations=("An allow-list of settings, not the JVM's system properties.",)),
    }),
    "admin-pending-tasks": Route("admin", {
        "get": Op("view", "Open tasks of a type", {200: ok(m.array(m.ref("Task")))},
                  query=(q_int("start", "Default 0", minimum=0), q_int("count", "Default 100", minimum=0))),
    }, path={"taskType": "Task definition name"}),
    "admin-requeue": Route("admin", {
        "post": Op("requeueSweep", "Queue a workflow for the sweeper", {200: text("<pushed>.<workflowId>"), 404: NOT_FOUND}),
    }, path={"workflowId": WORKFLOW_ID}),
    "admin-verify-and-repair": Route("admin", {
        "post": Op("verifyAndRepairWorkflowConsistency", "Check and repair a workflow's queue state",
                   {200: text("true or false"), 404: NOT_FOUND}),
    }, path={"workflowId": WORKFLOW_ID}),
    "admin-queues": Route("admin", {
        "get": Op("getEventQueues", "Event queues the server listens on", {200: ok(m.free_map())},
                  query=(q_bool("verbose"),),
                  deviations=("{} (no listeners yet); Conductor answers 500 when event processing is off.",)),
    }),
    "queue-size": Route("queue", {"get": Op("queueSize", "Sizes of the internal event queues", {200: ok(m.free_map())})}),
    "queue-names": Route("queue", {"get": Op("queueNames", "Names of the internal event queues", {200: ok(m.free_map())})}),
    # --- authentication ------------------------------------------------------------------------
    "token": Route("auth", {
        "post": Op("generateToken", "Exchange an application key for a token",
                   {200: ok(m.ref("TokenResponse")), 401: error("Unknown key, wrong secret or revoked key"),
                    404: NOT_FOUND},
                   body=json_body(m.ref("GenerateTokenRequest")), public=True,
                   description="Send the token in X-Authorization. 404 when authentication is disabled "
                   "(as Conductor OSS, which has no /api/token)."),
    }),
    "token-userinfo": Route("auth", {
        "get": Op("getUserInfo", "Who the caller is", {200: ok(m.ref("ConductorUser")), 404: NOT_FOUND},
                  description="404 when authentication is disabled."),
    }),
}

# Routes that are not operations of the API, with why.
EXCLUDED: dict[str, str] = {
    "api-not-found": "catch-all: Conductor's JSON 404 for unknown /api paths",
    "openapi-schema": "this schema",
    "openapi-docs": "the interactive documentation page",
    "openapi-assets": "static files of the documentation page",
}

TAGS = {
    "metadata": "Task and workflow definitions",
    "workflow": "Workflow executions: start, read, search, control",
    "bulk": "Workflow control over lists of ids",
    "task": "Polling, task results, task queues",
    "event": "Event handler definitions",
    "admin": "Administration and server information",
    "queue": "Conductor's internal event queues",
    "auth": "Tokens (X-Authorization)",
    "health": "Health check",
}
