"""Admin for definitions: TaskDef and WorkflowDef (editable through the services) and the
frozen DefinitionSnapshot runs use (read-only).

Adding or editing a definition is a JSON textarea whose content goes to the definition
services, never to ``Model.save()``: the services own validation and the bookkeeping fields
(createTime, updatedBy...), and the admin must not become a second, laxer way in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestration.admin_common import (
    EMPTY,
    DeferredListMixin,
    ReadOnlyAdminMixin,
    changelist_url,
    ms_column,
    pretty_json,
    truncate,
)
from orchestration.errors import DefinitionError, NotFound, ServiceError
from orchestration.models import TaskDef, Workflow, WorkflowDef
from orchestration.services.definitions import (
    task_def_delete,
    task_def_update,
    task_defs_register,
    workflow_def_delete,
    workflow_def_register,
)

TEXTAREA_ATTRS = {"rows": 30, "cols": 110, "spellcheck": "false", "style": "font-family:monospace;font-size:12px"}

NEW_TASK_DEF: dict[str, Any] = {
    "name": "",
    "description": "",
    "retryCount": 3,
    "retryLogic": "FIXED",
    "retryDelaySeconds": 60,
    "timeoutSeconds": 3600,
    "timeoutPolicy": "TIME_OUT_WF",
    "responseTimeoutSeconds": 600,
    "ownerEmail": "",
    "inputKeys": [],
    "outputKeys": [],
}
NEW_WORKFLOW_DEF: dict[str, Any] = {
    "name": "",
    "description": "",
    "version": 1,
    "schemaVersion": 2,
    "ownerEmail": "",
    "timeoutPolicy": "ALERT_ONLY",
    "timeoutSeconds": 0,
    "inputParameters": [],
    "outputParameters": {},
    "tasks": [],
}


def field_error_text(error: Any) -> str:
    """One FieldError(path, message, invalid_value) as a form error line."""
    text = f"{error.path}: {error.message}"
    if error.invalid_value is not None:
        shown = json.dumps(error.invalid_value, ensure_ascii=False, default=str)
        text += f" (invalid value: {truncate(shown, 200)})"
    return text


class DefinitionForm(forms.ModelForm):
    """The whole definition as JSON. ``clean()`` hands it to the service, which validates and
    writes in one go; its errors become form errors and nothing is stored.

    Writing from ``clean()`` is safe because the admin runs the whole add/change view in one
    transaction, and it is the only way to turn a service's refusal into a form error
    (``save_model`` runs after validation has been reported as passed).
    """

    definition = forms.CharField(
        label="Definition JSON",
        widget=forms.Textarea(attrs=TEXTAREA_ATTRS),
        strip=False,
        help_text="Validated by Baton's definition service with Conductor's rules before anything is stored.",
    )
    # "admin:<username>", set per request by DefinitionAdmin.get_form.
    actor: ClassVar[str] = "admin"
    new_template: ClassVar[dict[str, Any]] = {}

    class Meta:
        # No model field is written by the form: the service writes the row.
        fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored_lookup: dict[str, Any] = {}
        if "definition" in self.fields:
            current = self.instance.data if self.instance.pk is not None else self.new_template
            self.fields["definition"].initial = json.dumps(current, indent=2, ensure_ascii=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = cleaned.get("definition")
        if text is None:
            return cleaned
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.add_error("definition", f"Not valid JSON: {exc}")
            return cleaned
        if not isinstance(data, dict):
            self.add_error("definition", "A definition must be a JSON object.")
            return cleaned
        problem = self.identity_problem(data)
        if problem:
            self.add_error("definition", problem)
            return cleaned
        try:
            self.stored_lookup = self.submit(data)
        except DefinitionError as exc:
            for error in exc.errors:
                self.add_error("definition", field_error_text(error))
            if not exc.errors:
                self.add_error("definition", str(exc))
        except ServiceError as exc:
            self.add_error("definition", exc.message)
        return cleaned

    def identity_problem(self, data: dict[str, Any]) -> str | None:
        """Why ``data`` may not be saved from this page (it names another definition), if so."""
        raise NotImplementedError

    def submit(self, data: dict[str, Any]) -> dict[str, Any]:
        """Call the service; return the lookup of the row it wrote."""
        raise NotImplementedError


class TaskDefForm(DefinitionForm):
    new_template = NEW_TASK_DEF

    class Meta(DefinitionForm.Meta):
        model = TaskDef

    def identity_problem(self, data: dict[str, Any]) -> str | None:
        name = data.get("name")
        if self.instance.pk is None:
            # The service upserts (Conductor's POST /metadata/taskdefs); from an "Add" page,
            # silently replacing an existing definition would be a surprise.
            if isinstance(name, str) and TaskDef.objects.filter(name=name).exists():
                return f"A task definition named {name!r} already exists: edit that one instead."
            return None
        if name != self.instance.name:
            return f"The name identifies the definition and cannot be changed here (it is {self.instance.name!r})."
        return None

    def submit(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.instance.pk is None:
            task_defs_register(defs=[data], actor=self.actor)
        else:
            task_def_update(data=data, actor=self.actor)
        return {"name": data["name"]}


class WorkflowDefForm(DefinitionForm):
    new_template = NEW_WORKFLOW_DEF

    class Meta(DefinitionForm.Meta):
        model = WorkflowDef

    def identity_problem(self, data: dict[str, Any]) -> str | None:
        if self.instance.pk is None:
            return None  # the service refuses an existing name+version (overwrite=False)
        # Same default as the service applies when "version" is absent.
        version = data.get("version") or 1
        if data.get("name") != self.instance.name or version != self.instance.version:
            return (
                f"Name and version identify the definition and cannot be changed here (they are "
                f"{self.instance.name!r} version {self.instance.version}); add a new definition instead."
            )
        return None

    def submit(self, data: dict[str, Any]) -> dict[str, Any]:
        stored = workflow_def_register(data=data, overwrite=self.instance.pk is not None, actor=self.actor)
        return {"name": stored["name"], "version": stored["version"]}


def data_column(alias: str, description: str) -> Callable[[Any], Any]:
    """A list column for a value the queryset annotated from ``data`` (see DefinitionAdmin)."""

    @admin.display(description=description, ordering=alias)
    def show(obj: Any) -> Any:
        value = getattr(obj, alias, None)
        return EMPTY if value in (None, "") else value

    show.__name__ = alias
    return show


class DefinitionAdmin(DeferredListMixin, admin.ModelAdmin):
    form: type[DefinitionForm]
    # The list shows settings from inside ``data`` without loading it: each is annotated as a
    # JSON key lookup computed by the database (KeyTransform sorts numbers numerically on both
    # PostgreSQL and SQLite), and ``data`` itself is deferred.
    list_defer = ("data",)
    data_columns: ClassVar[dict[str, str]] = {}  # annotation alias -> key in data
    info_fields: tuple[str, ...] = ()
    search_fields = ("name",)
    list_per_page = 100

    created_text = staticmethod(ms_column("create_time", "created (UTC)", precise=True))
    updated_text = staticmethod(ms_column("update_time", "updated (UTC)", precise=True))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        annotations = {alias: KeyTransform(key, "data") for alias, key in self.data_columns.items()}
        return super().get_queryset(request).annotate(**annotations)

    @admin.display(description="definition")
    def data_json(self, obj: Model) -> SafeString:
        return pretty_json(obj.data)  # type: ignore[attr-defined]

    @admin.display(description="created by")
    def created_by(self, obj: Model) -> str:
        return obj.data.get("createdBy") or EMPTY  # type: ignore[attr-defined]

    @admin.display(description="updated by")
    def updated_by(self, obj: Model) -> str:
        return obj.data.get("updatedBy") or EMPTY  # type: ignore[attr-defined]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*self.info_fields, "data_json")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[str | None, dict[str, Any]]]:
        if obj is None:
            return [(None, {"fields": ("definition",)})]
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": self.info_fields}),
            ("Definition", {"fields": ("data_json",)}),
        ]
        if self.has_change_permission(request, obj):
            fieldsets.append(("Edit", {"fields": ("definition",), "classes": ("collapse",)}))
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": f"admin:{request.user.get_username()}"})

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        # The service has already written the row in form.clean(); only make ``obj`` that row,
        # because the admin logs and redirects with it. obj.save() would bypass the service.
        stored = self.model.objects.get(**form.stored_lookup)
        for field in self.model._meta.concrete_fields:
            setattr(obj, field.attname, getattr(stored, field.attname))
        obj._state.adding = False
        obj._state.db = stored._state.db

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        # Deleted meanwhile: that is the outcome the user asked for.
        with contextlib.suppress(NotFound):
            self.delete_definition(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def delete_definition(self, obj: Any) -> None:
        raise NotImplementedError


class TaskDefAdmin(DefinitionAdmin):
    form = TaskDefForm
    data_columns: ClassVar[dict[str, str]] = {
        "d_retry_count": "retryCount",
        "d_retry_logic": "retryLogic",
        "d_timeout_seconds": "timeoutSeconds",
        "d_response_timeout_seconds": "responseTimeoutSeconds",
        "d_timeout_policy": "timeoutPolicy",
        "d_concurrent_exec_limit": "concurrentExecLimit",
        "d_owner_email": "ownerEmail",
    }
    list_display = (
        "name",
        data_column("d_retry_count", "retries"),
        data_column("d_retry_logic", "retry logic"),
        data_column("d_timeout_seconds", "timeout s"),
        data_column("d_response_timeout_seconds", "response timeout s"),
        data_column("d_timeout_policy", "timeout policy"),
        data_column("d_concurrent_exec_limit", "concurrency limit"),
        data_column("d_owner_email", "owner"),
        "created_text",
        "updated_text",
    )
    info_fields = ("name", "created_text", "updated_text", "created_by", "updated_by")

    def delete_definition(self, obj: Any) -> None:
        task_def_delete(obj.name)


class WorkflowDefAdmin(DefinitionAdmin):
    form = WorkflowDefForm
    data_columns: ClassVar[dict[str, str]] = {
        "d_description": "description",
        "d_timeout_seconds": "timeoutSeconds",
        "d_timeout_policy": "timeoutPolicy",
        "d_restartable": "restartable",
        "d_owner_email": "ownerEmail",
    }
    list_display = (
        "name",
        "version",
        "description_text",
        data_column("d_timeout_seconds", "timeout s"),
        data_column("d_timeout_policy", "timeout policy"),
        data_column("d_restartable", "restartable"),
        data_column("d_owner_email", "owner"),
        "created_text",
        "updated_text",
    )
    list_display_links = ("name", "version")
    info_fields = ("name", "version", "description_text", "runs", "created_text", "updated_text", "created_by", "updated_by")

    @admin.display(description="description", ordering="d_description")
    def description_text(self, obj: Any) -> str:
        value = getattr(obj, "d_description", None)
        if value is None and "data" in obj.__dict__:
            value = obj.data.get("description")
        return truncate(value if isinstance(value, str) else None, 80)

    @admin.display(description="runs")
    def runs(self, obj: Any) -> SafeString:
        # A link, not a count: counting a large workflow table on every page view is not free.
        url = changelist_url(Workflow, name=obj.name, version=obj.version)
        return format_html('<a href="{}">workflows of {} v{}</a>', url, obj.name, obj.version)

    def delete_definition(self, obj: Any) -> None:
        workflow_def_delete(obj.name, obj.version)


class DefinitionSnapshotAdmin(ReadOnlyAdminMixin, DeferredListMixin, admin.ModelAdmin):
    """The definitions as frozen for runs: content-addressed and immutable by design."""

    list_display = ("key", "snapshot_name", "snapshot_version", "created_text")
    list_defer = ("data",)
    search_fields = ("=key",)
    fields = ("key", "created_text", "data_json")
    readonly_fields = fields
    ordering = ("-create_time",)

    created_text = staticmethod(ms_column("create_time", "created (UTC)", precise=True))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(
            s_name=KeyTransform("name", "data"), s_version=KeyTransform("version", "data")
        )

    @admin.display(description="workflow", ordering="s_name")
    def snapshot_name(self, obj: Any) -> str:
        return obj.s_name or EMPTY

    @admin.display(description="version", ordering="s_version")
    def snapshot_version(self, obj: Any) -> Any:
        return EMPTY if obj.s_version is None else obj.s_version

    @admin.display(description="definition")
    def data_json(self, obj: Any) -> SafeString:
        return pretty_json(obj.data)
