"""Read-only admin for tasks, task logs, history and poll data.

As for workflows (see ``admin_workflows``): nothing here writes; list pages defer the big
columns, build links to related rows from the key alone (no join, no per-row query) and take
filter choices from constants or small tables instead of SELECT DISTINCT over executions.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestration.admin_common import (
    EMBEDDED_ROWS,
    EMPTY,
    DeferredListMixin,
    ExactSearchMixin,
    ReadOnlyAdminMixin,
    admin_link,
    changelist_url,
    html_table,
    ms_column,
    ms_text,
    pretty_json,
    status_badge,
    truncate,
)
from orchestration.definitions.model import SYSTEM_TASK_TYPES
from orchestration.models import (
    History,
    Task,
    TaskDef,
    TaskLog,
    TaskStatus,
    Workflow,
    WorkflowStatus,
)


class TaskTypeFilter(admin.SimpleListFilter):
    """Task types as the engine names them: system types, plus registered TaskDef names (a
    SIMPLE task's taskType is its name). Any other type still filters with ``?task_type=``."""

    title = "task type"
    parameter_name = "task_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # FORK_JOIN and FORK_JOIN_DYNAMIC nodes make tasks of type FORK.
        system = SYSTEM_TASK_TYPES - {"FORK_JOIN", "FORK_JOIN_DYNAMIC"}
        names = set(TaskDef.objects.values_list("name", flat=True))
        return [(t, t) for t in sorted(system | names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(task_type=value) if value else queryset


class ToStatusFilter(admin.SimpleListFilter):
    title = "to status"
    parameter_name = "to_status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        statuses = dict.fromkeys([*WorkflowStatus.values, *TaskStatus.values])
        return [(s, s) for s in statuses]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(to_status=value) if value else queryset


class TaskAdmin(ReadOnlyAdminMixin, ExactSearchMixin, DeferredListMixin, admin.ModelAdmin):
    list_display = (
        "id", "workflow_link", "ref", "task_type", "status_col", "retry_count", "worker_id",
        "scheduled_text", "started_text", "ended_text",
    )
    list_filter = ("status", TaskTypeFilter)
    # ref is only indexed together with the workflow: a ref search scans, ids do not.
    search_fields = ("id", "workflow_id", "ref")
    search_help_text = "Exact task id, workflow id or reference name."
    list_defer = ("input", "output", "extra", "reason_for_incompletion")
    list_per_page = 100
    show_full_result_count = False
    ordering = ("-scheduled_time",)

    scheduled_text = staticmethod(ms_column("scheduled_time", "scheduled (UTC)"))
    started_text = staticmethod(ms_column("start_time", "started (UTC)"))
    ended_text = staticmethod(ms_column("end_time", "ended (UTC)"))

    fieldsets = [
        (None, {"fields": (
            "id", "workflow_link", "ref", "task_type", "task_def_name", "status_col", "seq", "iteration",
            "retry_count", "retried", "executed", "retried_task_link", "worker_id", "domain", "queue_name",
            "poll_count", "workflow_priority",
        )}),
        ("Times", {"fields": (
            "scheduled_precise", "first_scheduled_precise", "started_precise", "ended_precise", "updated_precise",
            "dispatch_precise", "timeout_precise", "callback_after_seconds", "start_delay_seconds",
            "response_timeout_seconds", "timeout_seconds",
        )}),
        ("Failure", {"fields": ("reason_for_incompletion",)}),
        ("Data", {"fields": ("input_json", "output_json", "extra_json")}),
        ("Logs and history", {"fields": ("logs_table", "history_link")}),
    ]
    readonly_fields = [f for _, options in fieldsets for f in options["fields"]]

    scheduled_precise = staticmethod(ms_column("scheduled_time", "scheduled (UTC)", precise=True))
    first_scheduled_precise = staticmethod(ms_column("first_scheduled_time", "first scheduled (UTC)", precise=True))
    started_precise = staticmethod(ms_column("start_time", "started (UTC)", precise=True))
    ended_precise = staticmethod(ms_column("end_time", "ended (UTC)", precise=True))
    updated_precise = staticmethod(ms_column("update_time", "updated (UTC)", precise=True))
    dispatch_precise = staticmethod(ms_column("dispatch_at", "next dispatch (UTC)", precise=True))
    timeout_precise = staticmethod(ms_column("timeout_at", "earliest timeout (UTC)", precise=True))

    @admin.display(description="workflow", ordering="workflow")
    def workflow_link(self, obj: Task) -> SafeString | str:
        return admin_link(Workflow, obj.workflow_id)

    @admin.display(description="status", ordering="status")
    def status_col(self, obj: Task) -> SafeString | str:
        return status_badge(obj.status)

    @admin.display(description="retried task")
    def retried_task_link(self, obj: Task) -> SafeString | str:
        return admin_link(Task, obj.retried_task_id)

    @admin.display(description="input")
    def input_json(self, obj: Task) -> SafeString:
        return pretty_json(obj.input)

    @admin.display(description="output")
    def output_json(self, obj: Task) -> SafeString:
        return pretty_json(obj.output)

    @admin.display(description="other fields")
    def extra_json(self, obj: Task) -> SafeString:
        return pretty_json(obj.extra)

    @admin.display(description="logs")
    def logs_table(self, obj: Task) -> SafeString:
        rows = list(TaskLog.objects.filter(task_id=obj.pk).order_by("-id")[:EMBEDDED_ROWS])[::-1]
        table = html_table(["at (UTC)", "log"], ([ms_text(r.created_time, precise=True), r.log] for r in rows))
        link = format_html('<p><a href="{}">open in the task log list</a></p>', changelist_url(TaskLog, task_id=obj.pk))
        return format_html("{}{}", table, link)

    @admin.display(description="history")
    def history_link(self, obj: Task) -> SafeString:
        url = changelist_url(History, workflow_id=obj.workflow_id, task_id=obj.pk)
        return format_html('<a href="{}">status changes of this task</a>', url)


class TaskLogAdmin(ReadOnlyAdminMixin, ExactSearchMixin, admin.ModelAdmin):
    list_display = ("id", "task_link", "created_text", "log_text")
    search_fields = ("task_id",)
    search_help_text = "Exact task id."
    ordering = ("-id",)
    show_full_result_count = False
    fields = ("id", "task_link", "created_precise", "log")
    readonly_fields = fields

    created_text = staticmethod(ms_column("created_time", "at (UTC)"))
    created_precise = staticmethod(ms_column("created_time", "at (UTC)", precise=True))

    @admin.display(description="task", ordering="task_id")
    def task_link(self, obj: TaskLog) -> SafeString | str:
        return admin_link(Task, obj.task_id)

    @admin.display(description="log")
    def log_text(self, obj: TaskLog) -> str:
        return truncate(obj.log, 200)


class HistoryAdmin(ReadOnlyAdminMixin, ExactSearchMixin, admin.ModelAdmin):
    list_display = ("id", "at_text", "workflow_link", "task_link", "from_col", "to_col", "actor", "reason_text")
    list_filter = (ToStatusFilter,)
    # task_id has no index of its own; a workflow id search uses (workflow_id, id).
    search_fields = ("workflow_id", "task_id")
    search_help_text = "Exact workflow id or task id."
    ordering = ("-id",)
    show_full_result_count = False
    fields = ("id", "at_precise", "workflow_link", "task_link", "ref", "from_col", "to_col", "actor", "reason")
    readonly_fields = fields

    at_text = staticmethod(ms_column("at", "at (UTC)"))
    at_precise = staticmethod(ms_column("at", "at (UTC)", precise=True))

    @admin.display(description="workflow", ordering="workflow_id")
    def workflow_link(self, obj: History) -> SafeString | str:
        return admin_link(Workflow, obj.workflow_id)

    @admin.display(description="task")
    def task_link(self, obj: History) -> SafeString | str:
        return admin_link(Task, obj.task_id, obj.ref or obj.task_id) if obj.task_id else EMPTY

    @admin.display(description="from")
    def from_col(self, obj: History) -> SafeString | str:
        return status_badge(obj.from_status)

    @admin.display(description="to", ordering="to_status")
    def to_col(self, obj: History) -> SafeString | str:
        return status_badge(obj.to_status)

    @admin.display(description="reason")
    def reason_text(self, obj: History) -> str:
        return truncate(obj.reason)


class PollDataAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("task_type", "queue_name", "domain", "worker_id", "last_poll_text")
    search_fields = ("task_type", "worker_id")
    ordering = ("-last_poll_time",)
    fields = ("task_type", "queue_name", "domain", "worker_id", "last_poll_text")
    readonly_fields = fields

    last_poll_text = staticmethod(ms_column("last_poll_time", "last poll (UTC)", precise=True))
