"""The per-process cache of frozen definitions (services.frozen) never serves a stale one.

A start by name reuses the parsed, TaskDef-attached definition of an earlier start when the
stored WorkflowDef and TaskDef texts are unchanged; any edit to either must be seen by the very
next start, and the snapshot row must exist whatever happened to earlier transactions.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction

from orchestration.models import DefinitionSnapshot, Task, Workflow
from orchestration.services import frozen
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import workflow_start

pytestmark = pytest.mark.django_db(transaction=True)


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"frozen_wf_{tag}", f"frozen_task_{tag}"


def _workflow(name: str, task_names: list[str], version: int = 1, **extra: Any) -> dict[str, Any]:
    tasks = [{"name": t, "taskReferenceName": f"r{i}", "type": "SIMPLE"} for i, t in enumerate(task_names)]
    return {"name": name, "version": version, "schemaVersion": 2, "ownerEmail": "f@baton.local", "tasks": tasks, **extra}


def _task_def(name: str, retry_count: int) -> dict[str, Any]:
    return {"name": name, "retryCount": retry_count, "ownerEmail": "f@baton.local", "responseTimeoutSeconds": 60}


def _frozen_task_def(workflow_id: str) -> dict[str, Any] | None:
    """The TaskDef attached to the run's first task (None: no TaskDef was registered)."""
    key = Workflow.objects.values_list("snapshot_id", flat=True).get(pk=workflow_id)
    return DefinitionSnapshot.objects.get(pk=key).data["tasks"][0].get("taskDefinition")


def _first_task(workflow_id: str) -> Task:
    return Task.objects.filter(workflow_id=workflow_id).order_by("seq").first()


def test_a_taskdef_edit_reaches_the_next_start() -> None:
    name, task = _names()
    task_defs_register(defs=[_task_def(task, 1)])
    workflow_def_register(data=_workflow(name, [task]))
    first = workflow_start(name=name, input={})
    again = workflow_start(name=name, input={})
    assert Workflow.objects.get(pk=first).snapshot_id == Workflow.objects.get(pk=again).snapshot_id
    task_defs_register(defs=[_task_def(task, 4)])
    edited = workflow_start(name=name, input={})
    assert _frozen_task_def(first)["retryCount"] == 1
    assert _frozen_task_def(edited)["retryCount"] == 4


def test_a_workflowdef_overwrite_reaches_the_next_start() -> None:
    name, task = _names()
    workflow_def_register(data=_workflow(name, [task], description="before"))
    before = workflow_start(name=name, input={})
    workflow_def_register(data=_workflow(name, [task], description="after"), overwrite=True)
    after = workflow_start(name=name, input={})
    keys = Workflow.objects.filter(id__in=[before, after]).values_list("snapshot_id", flat=True)
    assert {s.data["description"] for s in DefinitionSnapshot.objects.filter(pk__in=keys)} == {"before", "after"}


def test_a_taskdef_registered_later_reaches_a_version_that_names_it() -> None:
    # Version 1 names a task nobody registered yet; version 2 names another one. Starting
    # version 2 in between makes the per-name guess of task names wrong for version 1.
    name, task = _names()
    other = f"{task}_v2"
    workflow_def_register(data=_workflow(name, [task], version=1))
    workflow_def_register(data=_workflow(name, [other], version=2))
    v1 = workflow_start(name=name, version=1, input={})
    assert _frozen_task_def(v1) is None  # unregistered: Conductor's defaults apply
    assert _first_task(v1).task_def_name == task
    workflow_start(name=name, version=2, input={})
    task_defs_register(defs=[_task_def(task, 0)])
    v1_again = workflow_start(name=name, version=1, input={})
    assert (_frozen_task_def(v1_again) or {}).get("retryCount") == 0
    # ... and the task runs by it: its response timeout is the registered one.
    assert _first_task(v1).response_timeout_seconds != 60
    assert _first_task(v1_again).response_timeout_seconds == 60


def test_the_snapshot_exists_even_when_the_start_that_first_froze_it_rolled_back() -> None:
    name, task = _names()
    workflow_def_register(data=_workflow(name, [task]))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        workflow_start(name=name, input={})
        raise Abort
    assert not DefinitionSnapshot.objects.filter(data__name=name).exists()
    # The frozen definition is cached in this process now; the next start still stores it.
    workflow_id = workflow_start(name=name, input={})
    key = Workflow.objects.values_list("snapshot_id", flat=True).get(pk=workflow_id)
    assert DefinitionSnapshot.objects.filter(pk=key).exists()


def test_an_unknown_workflow_or_version_is_not_found() -> None:
    name, task = _names()
    workflow_def_register(data=_workflow(name, [task]))
    with pytest.raises(frozen.NotFound, match=f"name={name}_missing, version=null"):
        workflow_start(name=f"{name}_missing", input={})
    with pytest.raises(frozen.NotFound, match=f"name={name}, version=7"):
        workflow_start(name=name, version=7, input={})
