"""Definitions as Conductor prints them: TaskDef, WorkflowDef and WorkflowTask with the
defaults its beans fill in for fields a client left out. Definitions are stored as submitted
and rendered here, the way Conductor would return them.

A workflow's frozen snapshot is rendered once per snapshot and process (``snapshot_view``) and
then shared, read-only, by every document that shows it (``workflowDefinition`` and each
task's ``workflowTask``): these documents are on the poll hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestration import snapshots
from orchestration.bounded_cache import BoundedCache


def drop_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# Copied per use: the mutable defaults must never be shared between documents.
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


def with_defaults(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without its nulls, plus a fresh copy of each default it lacks."""
    out = drop_nulls(data)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value.copy() if isinstance(value, dict | list) else value
    return out


def task_def_json(data: Mapping[str, Any]) -> dict[str, Any]:
    return with_defaults(data, _TASK_DEF_DEFAULTS)


def _task_list(value: Any) -> Any:
    return [workflow_task_json(t) for t in value] if isinstance(value, list) else value


def workflow_task_json(task: Any) -> Any:
    """A WorkflowTask as Conductor prints it: bean fields without nulls (defaults filled), user
    maps (inputParameters...) untouched."""
    if not isinstance(task, Mapping):
        return task
    out = with_defaults(task, _WORKFLOW_TASK_DEFAULTS)
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
        sub = drop_nulls(sub)
        if isinstance(sub.get("workflowDefinition"), Mapping):
            sub["workflowDefinition"] = workflow_def_json(sub["workflowDefinition"])
        out["subWorkflowParam"] = sub
    return out


def workflow_def_json(data: Mapping[str, Any]) -> dict[str, Any]:
    out = with_defaults(data, _WORKFLOW_DEF_DEFAULTS)
    if "tasks" in out:
        out["tasks"] = _task_list(out["tasks"])
    return out


class SnapshotView:
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


_views: BoundedCache[str, SnapshotView] = BoundedCache(256)


def snapshot_view(key: str) -> SnapshotView:
    """Snapshots never change, so their rendering is cached per key (bounded LRU)."""
    view = _views.get(key)
    if view is not None:
        return view
    # orchestration.snapshots parses and caches the snapshot itself; its ``raw`` is the frozen JSON.
    view = SnapshotView(snapshots.definition_for(key).raw)
    _views.put(key, view)
    return view
