"""Conductor's JSON, both ways: request bodies and query parameters in, Task / Workflow /
definition documents out (reference §0, §2.5, §2.6).

Out: Jackson ``NON_NULL`` rules, i.e. null fields are omitted while 0, false, {} and [] are
kept; null *values inside user maps* (input, output, inputParameters) are kept, as Jackson keeps
them. Documents are built from ``.values()`` rows, never model instances: these functions serve
the poll hot path. The definition parts (``workflowTask``, ``workflowDefinition``) come from the
workflow's frozen snapshot, rendered once per snapshot and process and then shared (read-only)
by every document that needs them.

In: bodies are read from the raw request, not through DRF's parsers, because DRF treats a body
without Content-Length as empty, and some SDKs send chunked bodies (DESIGN "Known traps").
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Model
from rest_framework.request import Request

from orchestration.clock import now_ms
from orchestration.conductor.json_types import json_kind
from orchestration.conductor.loop_refs import base_ref
from orchestration.conductor.queues import queue_wait_time
from orchestration.definitions.model import SYSTEM_TASK_TYPES
from orchestration.models import TASK_FIELDS, WORKFLOW_FIELDS, Task, Workflow
from orchestration.services import store
from orchestration.services.errors import BadRequest, NotFound

# --- requests ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; JSON does not, and they could not be rendered back.
    raise ValueError(f"{name} is not a valid JSON value")


def read_json(request: Request, *, required: bool = True) -> Any:
    """The request body as JSON. Missing body -> None (or 400 when required); malformed -> 400."""
    raw = request.body  # Django reads the whole body under ASGI, chunked or not
    if not raw or not raw.strip():
        if required:
            raise BadRequest("Required request body is missing")
        return None
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON request body: {exc}") from None
    except RecursionError:
        raise BadRequest("Malformed JSON request body: nested too deeply") from None
    # PostgreSQL can store no NUL character, in text or jsonb: refuse it up front, on every
    # database alike, rather than fail half-way. The byte scan keeps the common case free.
    if b"\\u0000" in raw and _has_nul(body):
        raise BadRequest("JSON strings must not contain the NUL character (\\u0000)")
    return body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def read_json_object(request: Request, what: str) -> dict[str, Any]:
    body = read_json(request)
    if not isinstance(body, dict):
        raise BadRequest(f"Request body must be a JSON object ({what}), got {json_kind(body)}")
    return body


def read_json_array(request: Request, what: str) -> list[Any]:
    body = read_json(request)
    if not isinstance(body, list):
        raise BadRequest(f"Request body must be a JSON array ({what}), got {json_kind(body)}")
    return body


def query_str(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


JAVA_LONG_MIN, JAVA_LONG_MAX = -(2**63), 2**63 - 1


def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    value = query_str(request, name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise BadRequest(f"Invalid value for query parameter '{name}': '{value}' is not an integer") from None
    # Conductor binds these to Java ints and longs: a value beyond a long is a caller's mistake
    # (and would overflow the database's integer columns), not a server error.
    if not JAVA_LONG_MIN <= number <= JAVA_LONG_MAX:
        raise BadRequest(f"Invalid value for query parameter '{name}': '{value}' is out of range")
    return number


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def query_bool(request: Request, name: str, default: bool) -> bool:
    value = query_str(request, name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid value for query parameter '{name}': '{value}' is not a boolean")


def path_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid value for path variable '{name}': '{value}' is not an integer") from None
    if not JAVA_LONG_MIN <= number <= JAVA_LONG_MAX:
        raise BadRequest(f"Invalid value for path variable '{name}': '{value}' is out of range")
    return number


# --- definitions -------------------------------------------------------------------------------


def _drop_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# What Conductor's beans print for fields a client left out (reference §2.1-2.3): definitions
# are stored as submitted, and rendered the way Conductor would return them. Copied per use:
# the mutable defaults must never be shared between documents.
_TASK_DEF_DEFAULTS: dict[str, Any] = {
    "retryCount": 3, "timeoutSeconds": 0, "inputKeys": [], "outputKeys": [], "timeoutPolicy": "TIME_OUT_WF",
    "retryLogic": "FIXED", "retryDelaySeconds": 60, "responseTimeoutSeconds": 3600, "concurrentExecLimit": 0,
    "inputTemplate": {}, "rateLimitPerFrequency": 0, "rateLimitFrequencyInSeconds": 1, "backoffScaleFactor": 1,
    "maxRetryDelaySeconds": 0, "backoffJitterMs": 0, "totalTimeoutSeconds": 0, "taskStatusListenerEnabled": True,
    "runtimeMetadata": [], "enforceSchema": False,
}
_WORKFLOW_DEF_DEFAULTS: dict[str, Any] = {
    "version": 1, "inputParameters": [], "outputParameters": {}, "schemaVersion": 2, "restartable": True,
    "workflowStatusListenerEnabled": False, "timeoutPolicy": "ALERT_ONLY", "timeoutSeconds": 0, "variables": {},
    "inputTemplate": {}, "enforceSchema": True, "metadata": {}, "maskedFields": [],
}
_WORKFLOW_TASK_DEFAULTS: dict[str, Any] = {
    "inputParameters": {}, "type": "SIMPLE", "decisionCases": {}, "defaultCase": [], "forkTasks": [],
    "startDelay": 0, "joinOn": [], "optional": False, "defaultExclusiveJoinTask": [], "asyncComplete": False,
    "loopOver": [], "onStateChange": {}, "permissive": False, "metadata": {},
}


def _with_defaults(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out = _drop_nulls(data)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value.copy() if isinstance(value, dict | list) else value
    return out


def task_def_json(data: Mapping[str, Any]) -> dict[str, Any]:
    return _with_defaults(data, _TASK_DEF_DEFAULTS)


def _task_list(value: Any) -> Any:
    return [workflow_task_json(t) for t in value] if isinstance(value, list) else value


def workflow_task_json(task: Any) -> Any:
    """A WorkflowTask as Conductor prints it: bean fields without nulls (defaults filled), user
    maps (inputParameters...) untouched."""
    if not isinstance(task, Mapping):
        return task
    out = _with_defaults(task, _WORKFLOW_TASK_DEFAULTS)
    for key in ("defaultCase", "loopOver"):
        out[key] = _task_list(out[key])
    if isinstance(out["forkTasks"], list):
        out["forkTasks"] = [_task_list(branch) for branch in out["forkTasks"]]
    if isinstance(out["decisionCases"], Mapping):
        out["decisionCases"] = {case: _task_list(tasks) for case, tasks in out["decisionCases"].items()}
    if isinstance(out.get("taskDefinition"), Mapping):
        out["taskDefinition"] = task_def_json(out["taskDefinition"])
    sub = out.get("subWorkflowParam")
    if isinstance(sub, Mapping):
        sub = _drop_nulls(sub)
        if isinstance(sub.get("workflowDefinition"), Mapping):
            sub["workflowDefinition"] = workflow_def_json(sub["workflowDefinition"])
        out["subWorkflowParam"] = sub
    return out


def workflow_def_json(data: Mapping[str, Any]) -> dict[str, Any]:
    out = _with_defaults(data, _WORKFLOW_DEF_DEFAULTS)
    if "tasks" in out:
        out["tasks"] = _task_list(out["tasks"])
    return out


class _SnapshotView:
    """A frozen definition rendered for the wire, and its WorkflowTask nodes by reference name."""

    __slots__ = ("definition", "nodes")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.definition = workflow_def_json(data)
        self.nodes: dict[str, dict[str, Any]] = {}
        self._index(self.definition.get("tasks"))

    def _index(self, tasks: Any) -> None:
        if not isinstance(tasks, list):
            return
        for task in tasks:
            if not isinstance(task, dict):
                continue
            ref = task.get("taskReferenceName")
            if isinstance(ref, str):
                self.nodes.setdefault(ref, task)  # first occurrence wins, as in the decider
            for key in ("defaultCase", "loopOver"):
                self._index(task.get(key))
            for branch in task.get("forkTasks") or ():
                self._index(branch)
            cases = task.get("decisionCases")
            if isinstance(cases, Mapping):
                for branch in cases.values():
                    self._index(branch)


_VIEW_CACHE_SIZE = 256
_views: OrderedDict[str, _SnapshotView] = OrderedDict()
_views_lock = threading.Lock()


def snapshot_view(key: str) -> _SnapshotView:
    """Snapshots never change, so their rendering is cached per key (bounded LRU)."""
    with _views_lock:
        view = _views.get(key)
        if view is not None:
            _views.move_to_end(key)
            return view
    # store parses and caches the snapshot itself; its ``raw`` is the frozen JSON.
    view = _SnapshotView(store.definition_for(key).raw)
    with _views_lock:
        _views[key] = view
        while len(_views) > _VIEW_CACHE_SIZE:
            _views.popitem(last=False)
    return view


# --- executions --------------------------------------------------------------------------------

# What a task document needs from its workflow.
WORKFLOW_INFO_FIELDS = store.WORKFLOW_INFO


def _row(row_or_model: Mapping[str, Any] | Model) -> Mapping[str, Any]:
    if isinstance(row_or_model, Model):
        fields = ("id", "workflow_id", *TASK_FIELDS)
        return {f: getattr(row_or_model, f) for f in fields}
    return row_or_model


def _workflow_task_for(row: Mapping[str, Any], nodes: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    extra = row.get("extra") or {}
    if isinstance(extra.get("workflowTask"), dict):  # runtime-made tasks (dynamic forks) carry their own
        return workflow_task_json(extra["workflowTask"])
    node = nodes.get(base_ref(row["ref"], row["iteration"]))
    if node is not None:
        return node
    task_type = row["task_type"]
    return workflow_task_json(
        {
            "name": row["task_def_name"] or task_type,
            "taskReferenceName": row["ref"],
            "type": task_type if task_type in SYSTEM_TASK_TYPES else "SIMPLE",
        }
    )


def task_json(
    row_or_dict: Mapping[str, Any] | Model,
    workflow: Mapping[str, Any] | None = None,
    *,
    now: int | None = None,
) -> dict[str, Any]:
    """A Task document (§2.5) from a task row and its workflow's (name, correlation_id,
    snapshot_id) row; the workflow is read when not given."""
    row = _row(row_or_dict)
    if workflow is None:
        workflow = Workflow.objects.filter(pk=row["workflow_id"]).values(*WORKFLOW_INFO_FIELDS).first()
        if workflow is None:
            raise NotFound(f"No such workflow found by id: {row['workflow_id']}")
    view = snapshot_view(workflow["snapshot_id"])
    workflow_task = _workflow_task_for(row, view.nodes)
    task_def = workflow_task.get("taskDefinition")
    task_type = row["task_type"]
    worker = task_type not in SYSTEM_TASK_TYPES
    output = row["output"]
    # Conductor copies rate limits from the TaskDef onto worker tasks only (SimpleTaskMapper).
    limits = task_def if worker and task_def is not None else {}
    rate_per_frequency = limits.get("rateLimitPerFrequency") or 0
    rate_frequency = (limits.get("rateLimitFrequencyInSeconds") or 1) if worker else 0
    doc: dict[str, Any] = {
        "taskType": task_type,
        "status": row["status"],
        "inputData": row["input"],
        "referenceTaskName": row["ref"],
        "retryCount": row["retry_count"],
        "seq": row["seq"],
        "correlationId": workflow.get("correlation_id"),
        "pollCount": row["poll_count"],
        "taskDefName": row["task_def_name"] or task_type,
        "scheduledTime": row["scheduled_time"],
        "startTime": row["start_time"],
        "endTime": row["end_time"],
        "updateTime": row["update_time"],
        "startDelayInSeconds": row["start_delay_seconds"],
        "retriedTaskId": row["retried_task_id"],
        "retried": row["retried"],
        "executed": row["executed"],
        "callbackFromWorker": True,
        "responseTimeoutSeconds": row["response_timeout_seconds"],
        "workflowInstanceId": row["workflow_id"],
        "workflowType": workflow.get("name"),
        "taskId": row["id"],
        "reasonForIncompletion": row["reason_for_incompletion"],
        "callbackAfterSeconds": row["callback_after_seconds"],
        "workerId": row["worker_id"],
        "outputData": output,
        "workflowTask": workflow_task,
        "domain": row["domain"],
        "rateLimitPerFrequency": rate_per_frequency,
        "rateLimitFrequencyInSeconds": rate_frequency,
        "workflowPriority": row["workflow_priority"],
        "iteration": row["iteration"],
        "subworkflowChanged": False,
        "firstStartTime": 0,  # declared by Conductor's Task, never set by its server
        "queueWaitTime": queue_wait_time(
            start_time=row["start_time"], scheduled_time=row["scheduled_time"], update_time=row["update_time"],
            callback_after_seconds=row["callback_after_seconds"], now=now if now is not None else now_ms(),
        ),
        "loopOverTask": row["iteration"] > 0,
    }
    if task_def is not None:
        doc["taskDefinition"] = task_def
        if worker:
            doc["executionNameSpace"] = task_def.get("executionNameSpace")
            doc["isolationGroupId"] = task_def.get("isolationGroupId")
    extra = row.get("extra") or {}
    for key, value in extra.items():
        # Conductor fields Baton does not model as columns (subWorkflowId, parentTaskId,
        # externalOutputPayloadStoragePath, ...); underscored keys are Baton's own bookkeeping.
        if key not in doc and key != "workflowTask" and not key.startswith("_"):
            doc[key] = value
    if doc.get("subWorkflowId") is None:
        # Task.getSubWorkflowId() falls back to the output, then the input.
        sub = (output or {}).get("subWorkflowId") or (row["input"] or {}).get("subWorkflowId")
        if sub is not None:
            doc["subWorkflowId"] = sub
    return {k: v for k, v in doc.items() if v is not None}


def tasks_json(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Task documents for rows of any workflows, reading each workflow's info once."""
    rows = list(rows)
    if not rows:
        return []
    # A claim from a poll already carries its workflow's info (services.store.claim).
    infos = {r["workflow_id"]: r["workflow_info"] for r in rows if "workflow_info" in r}
    missing = {r["workflow_id"] for r in rows} - infos.keys()
    if missing:
        infos.update((w["id"], w) for w in Workflow.objects.filter(pk__in=missing).values(*WORKFLOW_INFO_FIELDS))
    now = now_ms()
    return [task_json(r, infos[r["workflow_id"]], now=now) for r in rows if r["workflow_id"] in infos]


def workflow_json(
    workflow_row: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]], include_tasks: bool = True
) -> dict[str, Any]:
    """A Workflow document (§2.6) from a workflow row (``id``, ``snapshot_id`` and
    ``models.WORKFLOW_FIELDS``) and its task rows (every attempt, retried ones included)."""
    row = workflow_row
    view = snapshot_view(row["snapshot_id"])
    extra = row.get("extra") or {}
    task_docs: list[dict[str, Any]] = []
    if include_tasks:
        now = now_ms()
        task_docs = [task_json(t, row, now=now) for t in sorted(tasks, key=lambda t: t["seq"])]
    definition = view.definition
    doc: dict[str, Any] = {
        "ownerApp": extra.get("ownerApp"),
        "createTime": row["create_time"],
        "updateTime": row["update_time"],
        "createdBy": extra.get("createdBy"),
        "updatedBy": extra.get("updatedBy"),
        "status": row["status"],
        "endTime": row["end_time"],
        "workflowId": row["id"],
        "parentWorkflowId": row["parent_workflow_id"],
        "parentWorkflowTaskId": row["parent_workflow_task_id"],
        "tasks": task_docs,
        "input": row["input"],
        "output": row["output"],
        "correlationId": row["correlation_id"],
        "reRunFromWorkflowId": extra.get("reRunFromWorkflowId"),
        "reasonForIncompletion": row["reason_for_incompletion"],
        "event": extra.get("event"),
        "taskToDomain": row["task_to_domain"],
        "failedReferenceTaskNames": row["failed_reference_task_names"],
        "workflowDefinition": definition,
        "externalInputPayloadStoragePath": extra.get("externalInputPayloadStoragePath"),
        "externalOutputPayloadStoragePath": extra.get("externalOutputPayloadStoragePath"),
        "priority": row["priority"],
        "variables": row["variables"],
        "lastRetriedTime": row["last_retried_time"],
        "failedTaskNames": row["failed_task_names"],
        "history": [],
        "idempotencyKey": extra.get("idempotencyKey"),
        "rateLimitKey": extra.get("rateLimitKey"),
        "rateLimited": bool(extra.get("rateLimited", False)),
        "startTime": row["create_time"],  # Conductor's alias getter of createTime
        "workflowName": definition.get("name", row["name"]),
        "workflowVersion": definition.get("version", row["version"]),
    }
    for key, value in extra.items():
        if key not in doc and not key.startswith("_"):
            doc[key] = value
    return {k: v for k, v in doc.items() if v is not None}


# --- reads -------------------------------------------------------------------------------------


def workflow_document(workflow_id: str, *, include_tasks: bool = True) -> dict[str, Any]:
    row = Workflow.objects.filter(pk=workflow_id).values("id", "snapshot_id", *WORKFLOW_FIELDS).first()
    if row is None:
        raise NotFound(f"No such workflow found by id: {workflow_id}")
    tasks: Iterable[Mapping[str, Any]] = ()
    if include_tasks:
        tasks = Task.objects.filter(workflow_id=workflow_id).order_by("seq").values("id", "workflow_id", *TASK_FIELDS)
    return workflow_json(row, tasks, include_tasks)


def task_document(task_id: str) -> dict[str, Any]:
    row = Task.objects.filter(pk=task_id).values("id", "workflow_id", *TASK_FIELDS).first()
    if row is None:
        raise NotFound(f"Task not found for taskId: {task_id}")
    return task_json(row)
