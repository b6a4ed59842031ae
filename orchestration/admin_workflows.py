"""Read-only admin for workflows (with their tasks inline and their history) and for pending
decide requests.

Execution rows change only through the services, where the engine's invariants (row locks,
history, dispatch on commit) live; the one write offered here is "Decide now", which calls
``services.workflows.workflow_decide`` as the sweeper does.

The list stays cheap on a large table: the big JSON/text columns are deferred, the name filter
takes its choices from the definitions table instead of SELECT DISTINCT over runs, search is
exact on indexed columns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestration.admin_common import (
    EMBEDDED_ROWS,
    EMPTY,
    DeferredListMixin,
    ExactSearchMixin,
    ReadOnlyAdminMixin,
    StartedWithinFilter,
    admin_link,
    change_url,
    changelist_url,
    duration_text,
    html_table,
    ms_column,
    ms_text,
    now_ms,
    pretty_json,
    status_badge,
    truncate,
)
from orchestration.models import (
    DefinitionSnapshot,
    History,
    Task,
    Workflow,
    WorkflowDef,
    WorkflowStatus,
)
from orchestration.services.workflows import workflow_decide

log = logging.getLogger(__name__)


class WorkflowNameFilter(admin.SimpleListFilter):
    """Workflow names from the (small) definitions table, not SELECT DISTINCT over runs.
    Runs of inline definitions never registered are reachable with ``?name=`` all the same."""

    title = "name"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = WorkflowDef.objects.order_by("name").values_list("name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(name=value) if value else queryset


def history_rows(rows: Iterable[History]) -> SafeString:
    body = [
        [
            ms_text(row.at, precise=True),
            admin_link(Task, row.task_id, row.ref or row.task_id) if row.task_id else "workflow",
            status_badge(row.from_status),
            status_badge(row.to_status),
            row.actor,
            truncate(row.reason, 200),
        ]
        for row in rows
    ]
    return html_table(["at (UTC)", "task", "from", "to", "actor", "reason"], body)


class TaskInline(admin.TabularInline):
    model = Task
    fk_name = "workflow"
    fields = (
        "seq", "ref", "task_type", "status_col", "retry_count", "iteration", "worker_id",
        "scheduled_text", "started_text", "ended_text", "reason",
    )
    readonly_fields = fields
    ordering = ("seq",)
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "tasks (all attempts)"

    scheduled_text = staticmethod(ms_column("scheduled_time", "scheduled", precise=True))
    started_text = staticmethod(ms_column("start_time", "started", precise=True))
    ended_text = staticmethod(ms_column("end_time", "ended", precise=True))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Task input/output can be large; the table shows neither.
        return super().get_queryset(request).defer("input", "output", "extra")

    @admin.display(description="status")
    def status_col(self, obj: Task) -> SafeString | str:
        return status_badge(obj.status)

    @admin.display(description="reason")
    def reason(self, obj: Task) -> str:
        return truncate(obj.reason_for_incompletion, 200)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WorkflowAdmin(ReadOnlyAdminMixin, ExactSearchMixin, DeferredListMixin, admin.ModelAdmin):
    list_display = (
        "id", "name", "version", "status_col", "correlation_id", "created_text", "ended_text", "duration",
    )
    list_filter = ("status", WorkflowNameFilter, StartedWithinFilter)
    search_fields = ("id", "correlation_id")
    search_help_text = "Exact workflow id or correlation id."
    list_defer = (
        "input", "output", "variables", "task_to_domain", "extra", "reason_for_incompletion",
        "failed_reference_task_names", "failed_task_names",
    )
    list_per_page = 50
    # The unfiltered total would be a second COUNT(*) over the whole table on every page view.
    show_full_result_count = False
    actions = ["decide_now"]
    inlines = [TaskInline]

    created_text = staticmethod(ms_column("create_time", "created (UTC)"))
    ended_text = staticmethod(ms_column("end_time", "ended (UTC)"))
    created_precise = staticmethod(ms_column("create_time", "created (UTC)", precise=True))
    updated_precise = staticmethod(ms_column("update_time", "updated (UTC)", precise=True))
    ended_precise = staticmethod(ms_column("end_time", "ended (UTC)", precise=True))
    last_retried_precise = staticmethod(ms_column("last_retried_time", "last retried (UTC)", precise=True))
    next_check_precise = staticmethod(ms_column("next_check_at", "next sweeper check (UTC)", precise=True))

    detail_fieldsets: list[tuple[str | None, dict[str, Any]]] = [
        (None, {"fields": (
            "id", "definition_link", "status_col", "correlation_id", "priority", "parent_link",
            "parent_task_link", "snapshot_link", "tasks_link",
        )}),
        ("Times", {"fields": (
            "created_precise", "updated_precise", "ended_precise", "duration", "last_retried_precise",
            "next_check_precise",
        )}),
        ("Failure", {"fields": ("reason_for_incompletion", "failed_reference_task_names", "failed_task_names")}),
        ("Data", {"fields": ("input_json", "output_json", "variables_json", "task_to_domain_json", "extra_json")}),
        ("History", {"fields": ("history_table",)}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[str | None, dict[str, Any]]]:
        fieldsets = list(self.detail_fieldsets)
        if obj is not None and self.has_decide_permission(request):
            first = fieldsets[0][1]["fields"]
            fieldsets[0] = (None, {"fields": (*first[:3], "decide_button", *first[3:])})
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f for _, options in self.get_fieldsets(request, obj) for f in options["fields"]]

    # -- columns ---------------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_col(self, obj: Workflow) -> SafeString | str:
        return status_badge(obj.status)

    @admin.display(description="duration")
    def duration(self, obj: Workflow) -> str:
        if obj.end_time:
            return duration_text(obj.end_time - obj.create_time)
        if obj.status in (WorkflowStatus.RUNNING, WorkflowStatus.PAUSED):
            return f"{duration_text(now_ms() - obj.create_time)} (so far)"
        return EMPTY

    @admin.display(description="definition")
    def definition_link(self, obj: Workflow) -> SafeString | str:
        pk = WorkflowDef.objects.filter(name=obj.name, version=obj.version).values_list("pk", flat=True).first()
        label = f"{obj.name} v{obj.version}"
        # Started from an inline definition, or the definition was deleted since: the frozen
        # snapshot (linked below) is what the run uses anyway.
        return admin_link(WorkflowDef, pk, label) if pk is not None else f"{label} (not registered)"

    @admin.display(description="parent workflow")
    def parent_link(self, obj: Workflow) -> SafeString | str:
        return admin_link(Workflow, obj.parent_workflow_id)

    @admin.display(description="parent task")
    def parent_task_link(self, obj: Workflow) -> SafeString | str:
        return admin_link(Task, obj.parent_workflow_task_id)

    @admin.display(description="frozen definition")
    def snapshot_link(self, obj: Workflow) -> SafeString | str:
        return admin_link(DefinitionSnapshot, obj.snapshot_id, obj.snapshot_id[:12])

    @admin.display(description="tasks")
    def tasks_link(self, obj: Workflow) -> SafeString:
        return format_html('<a href="{}">open in the task list</a>', changelist_url(Task, workflow=obj.pk))

    @admin.display(description="input")
    def input_json(self, obj: Workflow) -> SafeString:
        return pretty_json(obj.input)

    @admin.display(description="output")
    def output_json(self, obj: Workflow) -> SafeString:
        return pretty_json(obj.output)

    @admin.display(description="variables")
    def variables_json(self, obj: Workflow) -> SafeString:
        return pretty_json(obj.variables)

    @admin.display(description="task to domain")
    def task_to_domain_json(self, obj: Workflow) -> SafeString:
        return pretty_json(obj.task_to_domain)

    @admin.display(description="other fields")
    def extra_json(self, obj: Workflow) -> SafeString:
        return pretty_json(obj.extra)

    @admin.display(description="status changes")
    def history_table(self, obj: Workflow) -> SafeString:
        # Newest EMBEDDED_ROWS, shown oldest first; uses the (workflow_id, id) index.
        rows = list(History.objects.filter(workflow_id=obj.pk).order_by("-id")[:EMBEDDED_ROWS])[::-1]
        link = format_html('<p><a href="{}">open in the history list</a></p>', changelist_url(History, workflow_id=obj.pk))
        return format_html("{}{}", history_rows(rows), link)

    @admin.display(description="decide")
    def decide_button(self, obj: Workflow) -> SafeString:
        # The change page is one <form> even when read-only; formaction sends that form (and
        # its CSRF token) to the decide view instead of nesting a second form.
        url = reverse("admin:orchestration_workflow_decide", args=[obj.pk])
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post">Decide now</button>', url
        )

    # -- decide ----------------------------------------------------------------------------------

    def has_decide_permission(self, request: HttpRequest) -> bool:
        # Deciding changes state only as the engine would (it is what the sweeper does), so it
        # is open to whoever holds the model's change permission, although this admin itself
        # edits nothing.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Decide now", permissions=["decide"])
    def decide_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.decide(request, list(queryset.values_list("pk", flat=True)))

    def decide(self, request: HttpRequest, workflow_ids: list[str]) -> None:
        actor = f"admin:{request.user.get_username()}"
        decided = queued = 0
        failed: list[str] = []
        for workflow_id in workflow_ids:
            try:
                # wait=False: a workflow whose row lock is held (a decide in progress) gets a
                # coalesced decide request instead of stalling this request behind the lock.
                if workflow_decide(workflow_id=workflow_id, actor=actor, wait=False):
                    decided += 1
                else:
                    queued += 1
            except Exception:
                # One broken workflow must not keep the others from being decided.
                log.exception("admin decide of workflow %s failed", workflow_id)
                failed.append(workflow_id)
        if decided:
            self.message_user(request, f"Decided {decided} workflow(s).", messages.SUCCESS)
        if queued:
            self.message_user(
                request, f"{queued} workflow(s) were busy or gone: a decide was queued for the busy ones.", messages.INFO
            )
        if failed:
            self.message_user(request, f"Decide failed (see server log) for: {', '.join(failed)}", messages.ERROR)

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name=f"{opts.app_label}_{opts.model_name}_decide",
        )
        # Before the defaults, whose "<path:object_id>/" would swallow it.
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_decide_permission(request):
            raise PermissionDenied
        workflow_id = unquote(object_id)
        if not Workflow.objects.filter(pk=workflow_id).exists():
            return self._get_obj_does_not_exist_redirect(request, self.opts, workflow_id)
        self.decide(request, [workflow_id])
        return HttpResponseRedirect(change_url(Workflow, workflow_id))


class DecideRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Pending decides (normally empty within seconds: a worker takes each request)."""

    list_display = ("workflow_id", "workflow_link", "requested_text")
    fields = ("workflow_link", "requested_text")
    readonly_fields = fields
    ordering = ("requested_at",)

    requested_text = staticmethod(ms_column("requested_at", "requested (UTC)", precise=True))

    @admin.display(description="workflow")
    def workflow_link(self, obj: Any) -> SafeString | str:
        return admin_link(Workflow, obj.workflow_id)
