"""Typed, frozen value objects for Conductor definitions.

``WorkflowDefinition.from_json`` and ``TaskDefinition.from_json`` read Conductor JSON that has
already passed validation (``definitions.validation``); they fill Conductor's defaults and keep
the submitted dict in ``raw`` so that fields Baton does not interpret survive a round trip.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# Task types that run inside the decide loop or on Baton's system queue, never on a user worker.
# Anything else (SIMPLE, or an unknown type string) is a worker task.
SYSTEM_TASK_TYPES = frozenset(
    {
        "DECISION", "SWITCH", "FORK", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "EXCLUSIVE_JOIN",
        "DO_WHILE", "SUB_WORKFLOW", "START_WORKFLOW", "WAIT", "HUMAN", "TERMINATE", "SET_VARIABLE",
        "INLINE", "LAMBDA", "JSON_JQ_TRANSFORM", "HTTP", "EVENT", "KAFKA_PUBLISH", "NOOP", "DYNAMIC",
    }
)

# Containers of nested WorkflowTask lists, by the JSON field that holds them.
_NESTED_LIST_FIELDS = ("defaultCase", "loopOver")


# Durations beyond ~68 years mean "no practical limit". Clamping them here keeps every deadline
# (now + seconds * 1000) inside a 64-bit integer, in Python and in the database's SQL alike;
# the submitted JSON (``raw``) keeps the value as sent.
MAX_SECONDS = 2**31 - 1


def _as_seconds(value: Any, default: int) -> int:
    return min(_as_int(value, default), MAX_SECONDS)


def _as_int(value: Any, default: int) -> int:
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    name: str
    retry_count: int = 3
    retry_logic: str = "FIXED"
    retry_delay_seconds: int = 60
    backoff_scale_factor: int = 1
    max_retry_delay_seconds: int = 0
    backoff_jitter_ms: int = 0
    timeout_seconds: int = 0
    total_timeout_seconds: int = 0
    response_timeout_seconds: int = 3600
    poll_timeout_seconds: int = 0
    timeout_policy: str = "TIME_OUT_WF"
    input_template: Mapping[str, Any] = field(default_factory=dict)
    concurrent_exec_limit: int = 0
    rate_limit_per_frequency: int = 0
    rate_limit_frequency_in_seconds: int = 1
    isolation_group_id: str | None = None
    execution_name_space: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskDefinition:
        return cls(
            name=str(data.get("name") or ""),
            retry_count=_as_int(data.get("retryCount"), 3),
            retry_logic=str(data.get("retryLogic") or "FIXED"),
            retry_delay_seconds=_as_seconds(data.get("retryDelaySeconds"), 60),
            backoff_scale_factor=max(1, _as_int(data.get("backoffScaleFactor"), 1)),
            max_retry_delay_seconds=_as_seconds(data.get("maxRetryDelaySeconds"), 0),
            backoff_jitter_ms=_as_int(data.get("backoffJitterMs"), 0),
            timeout_seconds=_as_seconds(data.get("timeoutSeconds"), 0),
            total_timeout_seconds=_as_seconds(data.get("totalTimeoutSeconds"), 0),
            response_timeout_seconds=_as_seconds(data.get("responseTimeoutSeconds"), 3600),
            poll_timeout_seconds=_as_seconds(data.get("pollTimeoutSeconds"), 0),
            timeout_policy=str(data.get("timeoutPolicy") or "TIME_OUT_WF"),
            input_template=dict(data.get("inputTemplate") or {}),
            concurrent_exec_limit=_as_int(data.get("concurrentExecLimit"), 0),
            rate_limit_per_frequency=_as_int(data.get("rateLimitPerFrequency"), 0),
            rate_limit_frequency_in_seconds=_as_seconds(data.get("rateLimitFrequencyInSeconds"), 1) or 1,
            isolation_group_id=data.get("isolationGroupId"),
            execution_name_space=data.get("executionNameSpace"),
            raw=dict(data),
        )

    @classmethod
    def adhoc(cls, name: str, *, worker: bool) -> TaskDefinition:
        """The definition Conductor attaches when none is registered: worker tasks get 3 retries
        and a one-hour response timeout, system tasks no retries."""
        if worker:
            raw = {
                "name": name, "retryCount": 3, "retryDelaySeconds": 60, "retryLogic": "FIXED",
                "responseTimeoutSeconds": 3600, "timeoutSeconds": 0, "timeoutPolicy": "TIME_OUT_WF",
            }
        else:
            raw = {
                "name": name, "retryCount": 0, "retryDelaySeconds": 60, "retryLogic": "FIXED",
                "responseTimeoutSeconds": 0, "timeoutSeconds": 0, "timeoutPolicy": "TIME_OUT_WF",
            }
        return cls.from_json(raw)


@dataclass(frozen=True, slots=True, eq=False)
class WorkflowTaskNode:
    """One WorkflowTask of a definition tree."""

    name: str
    ref: str
    type: str
    input_parameters: Mapping[str, Any]
    optional: bool
    permissive: bool
    start_delay: int
    retry_count: int | None
    async_complete: bool
    task_def: TaskDefinition | None
    # Nested task lists keyed by where they sit: "decisionCases:<case>", "defaultCase",
    # "forkTasks:<i>", "loopOver". Operators decide what each means.
    branches: Mapping[str, tuple[WorkflowTaskNode, ...]]
    raw: Mapping[str, Any]

    @property
    def is_worker_task(self) -> bool:
        return self.type not in SYSTEM_TASK_TYPES

    @property
    def task_type(self) -> str:
        """The ``taskType`` of tasks made from this node, as Conductor names it: a SIMPLE task's
        name, FORK for both kinds of fork, else the node's own type."""
        if self.type == "SIMPLE":
            return self.name
        if self.type in ("FORK_JOIN", "FORK_JOIN_DYNAMIC"):
            return "FORK"
        return self.type

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowTaskNode:
        branches: dict[str, tuple[WorkflowTaskNode, ...]] = {}
        for case, tasks in (data.get("decisionCases") or {}).items():
            branches[f"decisionCases:{case}"] = tuple(cls.from_json(t) for t in tasks or ())
        for i, fork in enumerate(data.get("forkTasks") or ()):
            branches[f"forkTasks:{i}"] = tuple(cls.from_json(t) for t in fork or ())
        for key in _NESTED_LIST_FIELDS:
            if data.get(key):
                branches[key] = tuple(cls.from_json(t) for t in data[key])
        inline_def = data.get("taskDefinition")
        retry = data.get("retryCount")
        return cls(
            name=str(data.get("name") or ""),
            ref=str(data.get("taskReferenceName") or ""),
            type=str(data.get("type") or "SIMPLE"),
            input_parameters=dict(data.get("inputParameters") or {}),
            optional=bool(data.get("optional") or False),
            permissive=bool(data.get("permissive") or False),
            start_delay=_as_seconds(data.get("startDelay"), 0),
            retry_count=None if retry is None else _as_int(retry, 0),
            async_complete=bool(data.get("asyncComplete") or False),
            task_def=TaskDefinition.from_json(inline_def) if isinstance(inline_def, Mapping) else None,
            branches=branches,
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class NodeLocation:
    """Where a node sits: in ``siblings`` at ``index``, under ``parent`` (None at top level)."""

    parent: WorkflowTaskNode | None
    branch: str | None
    siblings: tuple[WorkflowTaskNode, ...]
    index: int


@dataclass(frozen=True, slots=True, eq=False)
class WorkflowDefinition:
    name: str
    version: int
    tasks: tuple[WorkflowTaskNode, ...]
    output_parameters: Mapping[str, Any]
    input_template: Mapping[str, Any]
    variables: Mapping[str, Any]
    timeout_seconds: int
    timeout_policy: str
    failure_workflow: str | None
    restartable: bool
    raw: Mapping[str, Any]
    by_ref: Mapping[str, WorkflowTaskNode]
    locations: Mapping[str, NodeLocation]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowDefinition:
        tasks = tuple(WorkflowTaskNode.from_json(t) for t in data.get("tasks") or ())
        by_ref: dict[str, WorkflowTaskNode] = {}
        locations: dict[str, NodeLocation] = {}

        def index(siblings: tuple[WorkflowTaskNode, ...], parent: WorkflowTaskNode | None, branch: str | None) -> None:
            for i, node in enumerate(siblings):
                by_ref.setdefault(node.ref, node)
                locations.setdefault(node.ref, NodeLocation(parent, branch, siblings, i))
                for key, children in node.branches.items():
                    index(children, node, key)

        index(tasks, None, None)
        return cls(
            name=str(data.get("name") or ""),
            version=_as_int(data.get("version"), 1),
            tasks=tasks,
            output_parameters=dict(data.get("outputParameters") or {}),
            input_template=dict(data.get("inputTemplate") or {}),
            variables=dict(data.get("variables") or {}),
            timeout_seconds=_as_seconds(data.get("timeoutSeconds"), 0),
            timeout_policy=str(data.get("timeoutPolicy") or "ALERT_ONLY"),
            failure_workflow=data.get("failureWorkflow") or None,
            restartable=data.get("restartable", True) is not False,
            raw=dict(data),
            by_ref=by_ref,
            locations=locations,
        )

    def walk(self) -> Iterator[WorkflowTaskNode]:
        """Every node of the tree, depth first."""

        def rec(nodes: tuple[WorkflowTaskNode, ...]) -> Iterator[WorkflowTaskNode]:
            for node in nodes:
                yield node
                for children in node.branches.values():
                    yield from rec(children)

        return rec(self.tasks)
