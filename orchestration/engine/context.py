"""What one decision can see and do: the workflow, the clock, and how to make tasks.

Everything with a side effect in the real world (time, randomness, ids, which domains have
live workers) is injected, so the decider stays a pure function of its arguments.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestration.conductor.loop_refs import base_ref
from orchestration.conductor.queues import queue_name
from orchestration.definitions.model import TaskDefinition, WorkflowTaskNode
from orchestration.engine import expressions, timeouts
from orchestration.engine.retry import RandomSource
from orchestration.engine.state import TaskState, WorkflowState


def _new_id() -> str:
    return str(uuid.uuid4())


def _no_active_domains(task_type: str) -> frozenset[str]:
    return frozenset()


# Where a task carries its TaskDef's concurrentExecLimit and rate limit: copied at
# creation so that handing the task out (services.limits) needs no read of the definition, and
# only tasks that have limits carry the key (the unlimited claim pays nothing).
LIMITS_KEY = "_limits"


def task_limits(task_def: TaskDefinition | None) -> dict[str, Any]:
    """The ``extra`` entry for ``task_def``'s limits, or {} when it has none."""
    if task_def is None:
        return {}
    spec: dict[str, int] = {}
    if task_def.concurrent_exec_limit > 0:
        spec["concurrentExecLimit"] = task_def.concurrent_exec_limit
    if task_def.rate_limit_per_frequency > 0 and task_def.rate_limit_frequency_in_seconds > 0:
        spec["rateLimitPerFrequency"] = task_def.rate_limit_per_frequency
        spec["rateLimitFrequencyInSeconds"] = task_def.rate_limit_frequency_in_seconds
    return {LIMITS_KEY: spec} if spec else {}


@dataclass(frozen=True, slots=True)
class StartFailureWorkflow:
    """Follow-up: start the definition's ``failureWorkflow`` for this (just failed) workflow
    (Conductor starts it when the engine, not an API terminate, ends a workflow unsuccessfully).
    The decider only says so; the service starts it in the same transaction,
    because starting a workflow is I/O (definition lookup, rows) the pure decider must not do."""

    name: str
    version: int | None
    failed_task_id: str | None


# Work a decision asks the service to do after its rows are written, in the same transaction.
# A union so that further kinds (e.g. terminating a child workflow) can join without changing
# how the service runs them.
FollowUp = StartFailureWorkflow


@dataclass(slots=True)
class DecideContext:
    workflow: WorkflowState
    now: int
    rng: RandomSource = field(default_factory=random.Random)
    new_id: Callable[[], str] = _new_id
    # task type -> domains with a worker that polled recently (where taskToDomain may send a task)
    active_domains: Callable[[str], frozenset[str]] = _no_active_domains
    new_tasks: list[TaskState] = field(default_factory=list)
    # Tasks that must be published to their queue once the transaction commits.
    to_dispatch: list[TaskState] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    # The task whose failure ended the workflow in this decision (Conductor's failedTaskId),
    # passed on to the failure workflow as ``failureTaskId``.
    failed_task_id: str | None = None
    _next_seq: int = 0

    def __post_init__(self) -> None:
        self._next_seq = max((t.seq for t in self.workflow.tasks), default=0)

    def next_seq(self) -> int:
        """The ``seq`` of the next task made in this decision: the context numbers every task."""
        self._next_seq += 1
        return self._next_seq

    # -- definitions -----------------------------------------------------------------------
    def node_for(self, task: TaskState) -> WorkflowTaskNode | None:
        return self.workflow.definition.by_ref.get(base_ref(task.ref, task.iteration))

    def task_def_for(self, node: WorkflowTaskNode | None) -> TaskDefinition | None:
        if node is None:
            return None
        if node.task_def is not None:
            return node.task_def
        # Frozen snapshots carry TaskDefs inline; an ad-hoc default covers anything else.
        return TaskDefinition.adhoc(node.name, worker=node.is_worker_task)

    # -- expressions -------------------------------------------------------------------------
    def resolve(self, value: Any, *, task_id: str | None = None) -> Any:
        return expressions.resolve(value, expressions.ExpressionContext(self.workflow, current_task_id=task_id))

    def task_input(self, node: WorkflowTaskNode, task_id: str) -> dict[str, Any]:
        resolved = expressions.resolve_input(
            node.input_parameters, expressions.ExpressionContext(self.workflow, current_task_id=task_id)
        )
        task_def = self.task_def_for(node)
        if task_def is not None and task_def.input_template:
            for key, value in task_def.input_template.items():
                if resolved.get(key) is None:
                    resolved[key] = value
        return resolved

    # -- domains -------------------------------------------------------------------------------
    def domain_for(self, task_type: str) -> str | None:
        mapping = self.workflow.task_to_domain
        if not mapping:
            return None
        spec = mapping.get(task_type) or mapping.get("*")
        if not spec:
            return None
        candidates = [c.strip() for c in str(spec).split(",") if c.strip()]
        if not candidates:
            return None
        # NO_DOMAIN (any case, as Conductor compares it) is never an active domain: a worker
        # polling ``?domain=NO_DOMAIN`` must not turn it into a real queue name.
        if len(candidates) > 1:
            active = self.active_domains(task_type)
            for candidate in candidates:
                if candidate in active and candidate.upper() != "NO_DOMAIN":
                    return candidate
        last = candidates[-1]
        return None if last.upper() == "NO_DOMAIN" else last

    # -- task creation ---------------------------------------------------------------------------
    def new_task(
        self,
        node: WorkflowTaskNode,
        *,
        ref: str,
        iteration: int,
        status: str,
        retry_of: TaskState | None = None,
        delay_seconds: int = 0,
    ) -> TaskState:
        """Build a task for ``node`` with its input resolved now; the caller adds it."""
        task_id = self.new_id()
        task_def = self.task_def_for(node)
        task_type = node.task_type
        domain = self.domain_for(task_type) if node.is_worker_task else None
        queue = queue_name(task_type, domain)
        seq = self.next_seq()
        start_delay = delay_seconds if retry_of is not None else node.start_delay
        task = TaskState(
            task_id=task_id,
            ref=ref,
            task_type=task_type,
            task_def_name=node.name or task_type,
            status=status,
            seq=seq,
            retry_count=retry_of.retry_count + 1 if retry_of else 0,
            iteration=iteration,
            input=self.task_input(node, task_id),
            domain=domain,
            queue_name=queue,
            callback_after_seconds=start_delay,
            start_delay_seconds=start_delay,
            response_timeout_seconds=task_def.response_timeout_seconds if task_def else 0,
            timeout_seconds=task_def.timeout_seconds if task_def else 0,
            retried_task_id=retry_of.task_id if retry_of else None,
            reason_for_incompletion=retry_of.reason_for_incompletion if retry_of else None,
            workflow_priority=self.workflow.priority,
            extra=task_limits(task_def),
            scheduled_time=self.now,
            first_scheduled_time=retry_of.first_scheduled_time if retry_of else self.now,
            update_time=self.now,
            is_new=True,
        )
        if status == "SCHEDULED":
            task.dispatch_at = self.now + start_delay * 1000
            if task_def is not None:
                timeouts.set_deadlines(task, task_def=task_def, async_complete=node.async_complete)
        return task

    def latest(self, ref: str) -> TaskState | None:
        """The newest attempt of ``ref`` (highest seq), or None."""
        found = None
        for task in self.workflow.tasks:
            if task.ref == ref and (found is None or task.seq > found.seq):
                found = task
        return found

    def add_task(self, task: TaskState) -> None:
        self.workflow.tasks.append(task)
        self.new_tasks.append(task)
        if task.status == "SCHEDULED" and task.start_delay_seconds <= 0:
            self.to_dispatch.append(task)
