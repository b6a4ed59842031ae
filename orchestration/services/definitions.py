"""Definition services: register, update, validate and delete TaskDefs and WorkflowDefs (the
reads are ``orchestration.selectors.definitions``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from orchestration.clock import now_ms
from orchestration.definitions.validation import DefinitionError, validate_task_def, validate_workflow_def
from orchestration.errors import BadRequest, Conflict, NotFound
from orchestration.models import TaskDef, WorkflowDef


def _owner_email_mandatory() -> bool:
    return bool(settings.BATON["OWNER_EMAIL_MANDATORY"])


def registered_task_def(name: str) -> dict[str, Any] | None:
    """A registered TaskDef's JSON: some task types may take required input from its inputTemplate."""
    return TaskDef.objects.filter(name=name).values_list("data", flat=True).first()


def task_defs_register(*, defs: list[Any], actor: str = "api") -> list[str]:
    """Upsert a list of TaskDefs (Conductor's POST /metadata/taskdefs): all or nothing."""
    if not isinstance(defs, list) or not defs:
        raise BadRequest("TaskDefList is empty")
    errors = []
    for i, data in enumerate(defs):
        errors.extend(validate_task_def(data, owner_email_mandatory=_owner_email_mandatory(), path=f"taskDefs[{i}]"))
    if errors:
        raise DefinitionError(errors)
    now = now_ms()
    with transaction.atomic():
        for data in defs:
            stored = {**data, "createTime": now, "createdBy": data.get("createdBy") or actor}
            stored.pop("updateTime", None)
            stored.pop("updatedBy", None)
            TaskDef.objects.update_or_create(name=data["name"], defaults={"data": stored, "create_time": now, "update_time": 0})
    return [d["name"] for d in defs]


def task_def_update(*, data: Any, actor: str = "api") -> None:
    errors = validate_task_def(data, owner_email_mandatory=_owner_email_mandatory())
    if errors:
        raise DefinitionError(errors)
    now = now_ms()
    with transaction.atomic():
        row = TaskDef.objects.select_for_update().filter(name=data["name"]).first()
        if row is None:
            raise NotFound(f"No such task by name {data['name']}")
        stored = {**data, "createTime": row.data.get("createTime", row.create_time), "updateTime": now, "updatedBy": actor}
        if row.data.get("createdBy"):
            stored["createdBy"] = row.data["createdBy"]
        row.data = stored
        row.update_time = now
        row.save(update_fields=["data", "update_time"])


def task_def_delete(name: str) -> None:
    deleted, _ = TaskDef.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"No such taskType found by name: {name}")


def workflow_def_validate(*, data: Any) -> None:
    """The registration rules without registering (``POST /metadata/workflow/validate``)."""
    errors = validate_workflow_def(data, owner_email_mandatory=_owner_email_mandatory(), task_def_lookup=registered_task_def)
    if errors:
        raise DefinitionError(errors)


def workflow_def_register(*, data: Any, overwrite: bool = False, actor: str = "api") -> dict[str, Any]:
    errors = validate_workflow_def(data, owner_email_mandatory=_owner_email_mandatory(), task_def_lookup=registered_task_def)
    if errors:
        raise DefinitionError(errors)
    version = int(data.get("version") or 1)
    now = now_ms()
    stored = {**data, "version": version}
    stored.setdefault("schemaVersion", 2)
    with transaction.atomic():
        row = WorkflowDef.objects.select_for_update().filter(name=data["name"], version=version).first()
        if row is not None and not overwrite:
            raise Conflict(f"Workflow with {data['name']}.{version} already exists!")
        if row is None:
            stored["createTime"] = now
            stored.setdefault("createdBy", actor)
            WorkflowDef.objects.create(name=data["name"], version=version, data=stored, create_time=now)
        else:
            stored["createTime"] = row.data.get("createTime", row.create_time)
            stored["updateTime"] = now
            stored["updatedBy"] = actor
            row.data = stored
            row.update_time = now
            row.save(update_fields=["data", "update_time"])
    return stored


def workflow_def_delete(name: str, version: int) -> None:
    deleted, _ = WorkflowDef.objects.filter(name=name, version=version).delete()
    if not deleted:
        raise NotFound(f"No such workflow found by name: {name}, version: {version}")
