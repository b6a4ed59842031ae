"""Definitions and executions.

Times are epoch milliseconds in BigIntegerFields: that is what Conductor puts on the wire,
it needs no conversion on the hot path, and the arithmetic (``now - start_time``) is the same
SQL on PostgreSQL and SQLite.

The submitted definition JSON is kept whole in ``data`` so that nothing a client sends is
lost; the indexed columns beside it are what queries need.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class WorkflowStatus(models.TextChoices):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    TERMINATED = "TERMINATED"


class TaskStatus(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    FAILED_WITH_TERMINAL_ERROR = "FAILED_WITH_TERMINAL_ERROR"
    TIMED_OUT = "TIMED_OUT"
    CANCELED = "CANCELED"


class TaskDef(models.Model):
    name = models.CharField(max_length=255, unique=True)
    data = models.JSONField(help_text="The TaskDef JSON as submitted, with defaults filled in.")
    create_time = models.BigIntegerField(default=0)
    update_time = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "task definition"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkflowDef(models.Model):
    name = models.CharField(max_length=255)
    version = models.IntegerField(default=1)
    data = models.JSONField(help_text="The WorkflowDef JSON as submitted (unknown fields kept).")
    create_time = models.BigIntegerField(default=0)
    update_time = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "workflow definition"
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="uniq_workflowdef_name_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class DefinitionSnapshot(models.Model):
    """A workflow definition as frozen for its runs, TaskDefs attached.

    Keyed by a hash of its content so that thousands of runs of one definition share one row,
    and so that a process can cache the parsed form by key.
    """

    key = models.CharField(max_length=64, primary_key=True)
    data = models.JSONField()
    create_time = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.key[:12]


class Workflow(models.Model):
    id = models.CharField(max_length=36, primary_key=True)
    name = models.CharField(max_length=255)
    version = models.IntegerField()
    status = models.CharField(max_length=16, choices=WorkflowStatus.choices, default=WorkflowStatus.RUNNING)
    snapshot = models.ForeignKey(DefinitionSnapshot, on_delete=models.PROTECT, related_name="+")
    correlation_id = models.CharField(max_length=255, null=True, blank=True)
    priority = models.IntegerField(default=0)
    input = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    variables = models.JSONField(default=dict)
    task_to_domain = models.JSONField(default=dict)
    reason_for_incompletion = models.TextField(null=True, blank=True)
    failed_reference_task_names = models.JSONField(default=list)
    failed_task_names = models.JSONField(default=list)
    parent_workflow_id = models.CharField(max_length=36, null=True, blank=True)
    parent_workflow_task_id = models.CharField(max_length=36, null=True, blank=True)
    # Everything else Conductor carries on a Workflow (event, externalInputPayloadStoragePath,
    # idempotencyKey, createdBy, ...), kept verbatim.
    extra = models.JSONField(default=dict)
    create_time = models.BigIntegerField()
    update_time = models.BigIntegerField()
    end_time = models.BigIntegerField(default=0)
    last_retried_time = models.BigIntegerField(default=0)
    # When the sweeper must decide this workflow again at the latest (soonest deadline of its
    # tasks and of the workflow timeout). Null: nothing time-driven is pending.
    next_check_at = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-create_time"]
        indexes = [
            models.Index(fields=["next_check_at"], name="wf_next_check", condition=Q(status="RUNNING")),
            models.Index(fields=["name", "status", "create_time"], name="wf_name_status"),
            models.Index(fields=["correlation_id"], name="wf_correlation"),
            models.Index(fields=["create_time"], name="wf_create_time"),
            models.Index(fields=["status", "create_time"], name="wf_status_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id}"


class Task(models.Model):
    id = models.CharField(max_length=36, primary_key=True)
    # No index of its own: task_wf_seq and uniq_task_attempt both lead with workflow_id, and
    # every index is written on every status change of a task.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    ref = models.CharField("reference name", max_length=255)
    task_type = models.CharField(max_length=255)
    task_def_name = models.CharField(max_length=255)
    status = models.CharField(max_length=32, choices=TaskStatus.choices)
    seq = models.IntegerField()
    retry_count = models.IntegerField(default=0)
    retried = models.BooleanField(default=False)
    # The decider has computed this terminal task's successors (Conductor's "executed").
    executed = models.BooleanField(default=False)
    iteration = models.IntegerField(default=0)
    input = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    reason_for_incompletion = models.TextField(null=True, blank=True)
    worker_id = models.CharField(max_length=255, null=True, blank=True)
    domain = models.CharField(max_length=255, null=True, blank=True)
    queue_name = models.CharField(max_length=511, default="", blank=True)
    poll_count = models.IntegerField(default=0)
    callback_after_seconds = models.BigIntegerField(default=0)
    start_delay_seconds = models.IntegerField(default=0)
    response_timeout_seconds = models.BigIntegerField(default=0)
    timeout_seconds = models.BigIntegerField(default=0)
    retried_task_id = models.CharField(max_length=36, null=True, blank=True)
    workflow_priority = models.IntegerField(default=0)
    # seq of the WorkflowTask node in the frozen definition (index into the snapshot's flattened tree)
    extra = models.JSONField(default=dict)
    scheduled_time = models.BigIntegerField(default=0)
    first_scheduled_time = models.BigIntegerField(default=0)
    start_time = models.BigIntegerField(default=0)
    end_time = models.BigIntegerField(default=0)
    update_time = models.BigIntegerField(default=0)
    # Next time the sweeper should publish this SCHEDULED task's message (its due time when
    # delayed, else a grace period after the last publish, in case that message was lost).
    dispatch_at = models.BigIntegerField(null=True, blank=True)
    # Earliest time one of this task's timeouts can fire (hint for the sweeper's index; the
    # decider makes the real check).
    timeout_at = models.BigIntegerField(null=True, blank=True)
    # While SCHEDULED: what the claim makes of timeout_at, without reading anything (the earliest
    # of this fixed time and the claim's time plus this lease; engine.timeouts.ClaimDeadline).
    claim_deadline_at = models.BigIntegerField(null=True, blank=True)
    claim_lease_ms = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            # Two deciders can never create the same attempt twice.
            models.UniqueConstraint(fields=["workflow", "ref", "retry_count"], name="uniq_task_attempt"),
        ]
        indexes = [
            models.Index(fields=["workflow", "seq"], name="task_wf_seq"),
            models.Index(fields=["dispatch_at"], name="task_dispatch", condition=Q(status="SCHEDULED")),
            models.Index(
                fields=["timeout_at"], name="task_timeout", condition=Q(status__in=["SCHEDULED", "IN_PROGRESS"])
            ),
            # Pollers and queue sizes only ever look for SCHEDULED tasks of a queue.
            models.Index(fields=["queue_name", "scheduled_time"], name="task_queue_sched", condition=Q(status="SCHEDULED")),
            models.Index(fields=["task_type", "status"], name="task_type_status"),
            # Terminal tasks the decider has not processed yet: normally seconds old; older ones
            # mean a process died between a task update and its decide, and the sweeper repairs.
            models.Index(
                fields=["update_time"],
                name="task_unprocessed",
                condition=Q(executed=False, retried=False) & ~Q(status__in=["SCHEDULED", "IN_PROGRESS", "SKIPPED"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} ({self.task_type}) {self.status}"


# The columns the services read and write a task's engine state from, in TaskState's vocabulary
# (TaskState.task_id <-> Task.id); listed here, beside the model, so a new column is added to both.
TASK_FIELDS: tuple[str, ...] = (
    "ref", "task_type", "task_def_name", "status", "seq", "retry_count", "retried", "executed", "iteration",
    "input", "output", "reason_for_incompletion", "worker_id", "domain", "queue_name", "poll_count",
    "callback_after_seconds", "start_delay_seconds", "response_timeout_seconds", "timeout_seconds",
    "retried_task_id", "workflow_priority", "extra", "scheduled_time", "first_scheduled_time", "start_time",
    "end_time", "update_time", "dispatch_at", "timeout_at", "claim_deadline_at", "claim_lease_ms",
)
# The columns a claim returns, in order.
CLAIM_COLUMNS: tuple[str, ...] = ("id", "workflow_id", *TASK_FIELDS)
# The same for a workflow (WorkflowState), besides its id and snapshot.
WORKFLOW_FIELDS: tuple[str, ...] = (
    "name", "version", "status", "correlation_id", "priority", "input", "output", "variables", "task_to_domain",
    "reason_for_incompletion", "failed_reference_task_names", "failed_task_names", "parent_workflow_id",
    "parent_workflow_task_id", "extra", "create_time", "update_time", "end_time", "last_retried_time",
    "next_check_at",
)
# What a Task document needs of its workflow, read with the claim (a poll answers with it).
WORKFLOW_INFO: tuple[str, ...] = ("id", "name", "correlation_id", "snapshot_id")


class TaskLog(models.Model):
    task_id = models.CharField(max_length=36, db_index=True)
    log = models.TextField()
    created_time = models.BigIntegerField()

    class Meta:
        ordering = ["id"]


class History(models.Model):
    """Append-only record of every status change: who or what changed what, and when."""

    workflow_id = models.CharField(max_length=36)
    task_id = models.CharField(max_length=36, null=True, blank=True)
    ref = models.CharField(max_length=255, null=True, blank=True)
    from_status = models.CharField(max_length=32, null=True, blank=True)
    to_status = models.CharField(max_length=32)
    actor = models.CharField(max_length=255, help_text="decider, sweeper, worker:<id>, api:<user>, ...")
    reason = models.TextField(null=True, blank=True)
    at = models.BigIntegerField()

    class Meta:
        verbose_name_plural = "history"
        ordering = ["id"]
        indexes = [models.Index(fields=["workflow_id", "id"], name="history_wf")]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} by {self.actor}"


class DecideRequest(models.Model):
    """A pending request to decide a workflow whose row lock was busy.

    At most one row per workflow: requests made while one is pending coalesce into it, so a
    fork of 1,000 branches finishing at once queues a handful of decides, not 1,000.
    """

    workflow_id = models.CharField(max_length=36, primary_key=True)
    requested_at = models.BigIntegerField()


class PollData(models.Model):
    queue_name = models.CharField(max_length=511)
    task_type = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, null=True, blank=True)
    worker_id = models.CharField(max_length=255)
    last_poll_time = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue_name", "worker_id"], name="uniq_polldata")]
        indexes = [models.Index(fields=["task_type", "last_poll_time"], name="polldata_type")]


class EventHandler(models.Model):
    """A Conductor event handler definition (event, condition, actions), kept whole in ``data``."""

    name = models.CharField(max_length=255, unique=True)
    event = models.CharField(max_length=511, db_index=True)
    active = models.BooleanField(default=False)
    data = models.JSONField()
    create_time = models.BigIntegerField(default=0)
    update_time = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.event})"


class Role(models.TextChoices):
    READ_ONLY = "READ_ONLY", "read-only: reads definitions and executions"
    WORKER = "WORKER", "worker: polls and updates tasks, reads"
    OPERATOR = "OPERATOR", "operator: starts and controls workflows, reads"
    ADMIN = "ADMIN", "admin: everything, including definitions"


class ApplicationKey(models.Model):
    """A key id + secret that Conductor SDKs exchange for a token at POST /api/token.

    Only a hash of the secret is stored; the secret is shown once, when the key is made.
    """

    key_id = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=255)
    name = models.CharField(max_length=255, help_text="What this key is for (an application, a worker fleet).")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.WORKER)
    active = models.BooleanField(default=True)
    create_time = models.BigIntegerField(default=0)
    last_used_time = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id}, {self.role})"
