"""The SQL cost of a transition does not grow with the workflow.

A workflow of 300 sequential SIMPLE tasks is driven in-process with ``workers.runtime.execute``
(claim + run + update + decide: one full transition). The statements of a transition are
counted at several points through Django's own hooks (``orchestration.testing.count_queries``):
transaction control is left out of the statement count, and commits are counted apart (a
write run in autocommit counts as a commit too). The budget: at most 10 statements
and 3 commits per transition, the same at task 3 as at task 300; a workflow start is bounded
and does not depend on how many workflows exist. ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.db import connection

from orchestration import dispatch
from orchestration.models import Task, Workflow
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import workflow_start
from orchestration.testing import count_queries
from workers.runtime import execute

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = 300
SAMPLES = (1, 2, 3, 50, 150, 299, 300)
MAX_STATEMENTS = 10
MAX_COMMITS = 3


@dataclass(frozen=True)
class Cost:
    statements: int
    commits: int
    verbs: tuple[str, ...]
    seconds: float

    def __str__(self) -> str:
        return f"{self.statements} statements, {self.commits} commits, {self.seconds * 1000:.1f} ms  [{' '.join(self.verbs)}]"


def measured(call: Any) -> tuple[Any, Cost]:
    with count_queries() as counted:
        started = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - started
    return result, Cost(counted.statements, counted.commits, tuple(counted.verbs), elapsed)


@pytest.fixture
def long_workflow(redis_client: redis.Redis) -> Iterator[tuple[str, str]]:
    """A registered workflow of TASKS sequential SIMPLE tasks of one (unique) type; its broker
    queue is removed afterwards."""
    task_type = f"budget_{uuid.uuid4().hex[:8]}"
    name = f"budget_wf_{uuid.uuid4().hex[:8]}"
    task_defs_register(defs=[{"name": task_type, "retryCount": 0, "responseTimeoutSeconds": 600,
                              "ownerEmail": "budget@baton.local"}])
    tasks = [{"name": task_type, "taskReferenceName": f"t{i}", "type": "SIMPLE",
              "inputParameters": {"n": i, "x": "${workflow.input.x}"}} for i in range(1, TASKS + 1)]
    workflow_def_register(data={"name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "budget@baton.local",
                                "tasks": tasks, "outputParameters": {"last": f"${{t{TASKS}.output.n}}"}})
    try:
        yield name, task_type
    finally:
        redis_client.delete(dispatch.broker_queue(task_type))


def work(task_input: dict[str, Any]) -> dict[str, Any]:
    return {"n": task_input["n"]}


def test_transition_cost_is_flat_and_within_budget(long_workflow: tuple[str, str]) -> None:
    name, _ = long_workflow
    workflow_id = workflow_start(name=name, input={"x": 1})
    costs: dict[int, Cost] = {}
    for i in range(1, TASKS + 1):
        task_id = Task.objects.values_list("id", flat=True).get(workflow_id=workflow_id, ref=f"t{i}", status="SCHEDULED")
        if i in SAMPLES:
            status, costs[i] = measured(lambda task_id=task_id: execute(task_id, work, wants_context=False))
        else:
            status = execute(task_id, work, wants_context=False)
        assert status == "COMPLETED", f"task t{i}"
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.status == "COMPLETED" and workflow.output == {"last": TASKS}
    assert Task.objects.filter(workflow_id=workflow_id, status="COMPLETED").count() == TASKS

    print(f"\n[{connection.vendor}] one transition (claim + run + update + decide) of a {TASKS}-task workflow:")
    for i, cost in costs.items():
        print(f"  task {i:>3}: {cost}")
    # Task 1 and 2 see the same statements too, but 3 is the first with two finished tasks behind it.
    assert costs[3].statements == costs[TASKS].statements, (costs[3], costs[TASKS])
    assert costs[3].commits == costs[TASKS].commits
    middle = [costs[i] for i in SAMPLES if 3 <= i < TASKS]
    assert {c.verbs for c in middle} == {costs[3].verbs}, "a mid-workflow transition ran different statements"
    for i, cost in costs.items():
        assert cost.statements <= MAX_STATEMENTS, f"task {i}: {cost}"
        assert cost.commits <= MAX_COMMITS, f"task {i}: {cost}"


def test_workflow_start_cost_is_bounded_and_independent_of_history(long_workflow: tuple[str, str]) -> None:
    name, _ = long_workflow
    _, first = measured(lambda: workflow_start(name=name, input={"x": 1}))
    for _ in range(20):
        workflow_start(name=name, input={"x": 2})
    _, later = measured(lambda: workflow_start(name=name, input={"x": 3}))
    # A different definition in between changes nothing either.
    workflow_def_register(data={"name": f"{name}_other", "version": 1, "schemaVersion": 2,
                                "ownerEmail": "budget@baton.local",
                                "tasks": [{"name": "other", "taskReferenceName": "o", "type": "SIMPLE"}]})
    workflow_start(name=f"{name}_other", input={})
    _, after_other = measured(lambda: workflow_start(name=name, input={"x": 4}))

    print(f"\n[{connection.vendor}] workflow start ({TASKS}-task definition, first task scheduled):")
    print(f"  1st start:                {first}")
    print(f"  22nd start:               {later}")
    print(f"  after another definition: {after_other}")
    assert Workflow.objects.filter(name=name).count() == 23
    assert first.statements == later.statements == after_other.statements
    assert first.commits == later.commits == after_other.commits
    for cost in (first, later, after_other):
        assert cost.statements <= MAX_STATEMENTS
        assert cost.commits <= 1  # one transaction: the workflow, its first task and their history
