"""The frozen definition a new run executes: its WorkflowDef with a TaskDef attached to every
task (registered, inline, or Conductor's ad-hoc default), stored once per distinct content as
a DefinitionSnapshot. Later edits of either definition never reach a running workflow.

Starting a workflow by name is the common case and it runs once per workflow, so the work of
freezing (parse, attach, hash) is remembered per process, keyed by the exact stored text of
the WorkflowDef and of the TaskDefs it names: a hit costs one round trip that reads those
texts, and any edit to either misses. The snapshot row itself is always written (insert or
nothing) in the start's own transaction, so a cached entry can never point at a snapshot that
a rolled-back transaction failed to store.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection

from orchestration import snapshots
from orchestration.bounded_cache import BoundedCache
from orchestration.conductor.java_text import java_string
from orchestration.definitions.model import WorkflowDefinition
from orchestration.errors import NotFound
from orchestration.models import DefinitionSnapshot, TaskDef, WorkflowDef
from orchestration.services import statements

_CACHE_SIZE = 128


@dataclass(frozen=True, slots=True)
class Frozen:
    key: str  # the DefinitionSnapshot's primary key (content hash)
    definition: WorkflowDefinition
    data_text: str  # the frozen JSON, as the snapshot row stores it


# (WorkflowDef text, task names it needs, ((task name, TaskDef text), ...)) -> Frozen
_by_text: BoundedCache[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], Frozen] = BoundedCache(_CACHE_SIZE)
# workflow name -> the task names its latest-seen definition refers to (a guess, checked on use)
_names_by_workflow: dict[str, tuple[str, ...]] = {}


def store_snapshot(frozen: Frozen, now: int) -> None:
    """The snapshot row, unless it exists (for callers that do not start a workflow)."""
    DefinitionSnapshot.objects.bulk_create(
        [DefinitionSnapshot(key=frozen.key, data=json.loads(frozen.data_text), create_time=now)], ignore_conflicts=True
    )


def freeze(definition: dict[str, Any]) -> Frozen:
    """Attach TaskDefs to a definition given as JSON (not cached: inline definitions, reruns)."""
    parsed = WorkflowDefinition.from_json(definition)
    names = sorted({node.name for node in parsed.walk() if node.task_def is None})
    registered = dict(TaskDef.objects.filter(name__in=names).values_list("name", "data"))
    return _freeze(definition, registered)


def _freeze(definition: dict[str, Any], registered: dict[str, Any]) -> Frozen:
    def attach(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for task in tasks:
            task = dict(task)
            if not isinstance(task.get("taskDefinition"), dict) and task.get("name") in registered:
                task["taskDefinition"] = registered[task["name"]]
            for key in ("loopOver", "defaultCase"):
                if isinstance(task.get(key), list):
                    task[key] = attach(task[key])
            if isinstance(task.get("forkTasks"), list):
                task["forkTasks"] = [attach(branch) for branch in task["forkTasks"] if isinstance(branch, list)]
            if isinstance(task.get("decisionCases"), dict):
                task["decisionCases"] = {k: attach(v) for k, v in task["decisionCases"].items() if isinstance(v, list)}
            out.append(task)
        return out

    frozen = dict(definition)
    frozen["tasks"] = attach(list(definition.get("tasks") or []))
    key = snapshots.snapshot_key(frozen)
    parsed = WorkflowDefinition.from_json(frozen)
    snapshots.remember_definition(key, parsed)
    return Frozen(key, parsed, json.dumps(frozen))


@functools.cache
def _lookup_sql(vendor: str, with_version: bool, task_names: int) -> tuple[str, str]:
    as_text = "data::text" if vendor == "postgresql" else "data"
    wd, td = WorkflowDef._meta.db_table, TaskDef._meta.db_table
    workflow_sql = (
        f"SELECT {as_text} FROM {wd} WHERE name = %s AND version = %s" if with_version
        else f"SELECT {as_text} FROM {wd} WHERE name = %s ORDER BY version DESC LIMIT 1"
    )
    tasks_sql = f"SELECT name, {as_text} FROM {td} WHERE name IN ({', '.join(['%s'] * task_names)})"
    return workflow_sql, tasks_sql


def _texts(name: str, version: int | None, task_names: tuple[str, ...]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The stored text of the WorkflowDef and of the named TaskDefs, in one round trip."""
    workflow_sql, tasks_sql = _lookup_sql(connection.vendor, bool(version), len(task_names))
    batch: list[tuple[str, Any]] = [(workflow_sql, [name, version] if version else [name])]
    if task_names:
        batch.append((tasks_sql, list(task_names)))
    results = statements.run(batch, fetch=True)
    text = results[0][0][0] if results[0] else None
    return text, tuple(sorted((n, t) for n, t in results[1])) if task_names else ()


def _task_texts(task_names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if not task_names:
        return ()
    _, tasks_sql = _lookup_sql(connection.vendor, False, len(task_names))
    rows = statements.run([(tasks_sql, list(task_names))], fetch=True)[0]
    return tuple(sorted((n, t) for n, t in rows))


def frozen_for(name: str, version: int | None) -> Frozen:
    """The frozen definition for starting ``name`` (latest version when ``version`` is None)."""
    names = _names_by_workflow.get(name, ())
    text, tasks = _texts(name, version, names)
    if text is None:
        raise NotFound(f"No such workflow defined. name={name}, version={java_string(version)}")
    # The names are in the key: a hit means the guess was exactly the names this text needs, so
    # the TaskDef texts read with it are all that matter, and current.
    hit = _by_text.get((text, names, tasks))
    if hit is not None:
        snapshots.remember_definition(hit.key, hit.definition)
        return hit
    definition = json.loads(text)
    needed = tuple(sorted({node.name for node in WorkflowDefinition.from_json(definition).walk() if node.task_def is None}))
    if needed != names:
        # The definition names other tasks than guessed (first start, or an edit): read theirs.
        names = needed
        tasks = _task_texts(names)
    result = _freeze(definition, {n: json.loads(t) for n, t in tasks})
    _names_by_workflow[name] = names  # a single assignment: a racing reader sees one guess or the other
    _by_text.put((text, names, tasks), result)
    return result
