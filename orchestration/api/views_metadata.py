"""``/api/metadata``: task and workflow definitions (reference §1.1), and the health check (§1.5).

Views only translate HTTP to service calls and back; validation, messages and storage rules live
in ``services.definitions`` and ``definitions.validation``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, empty
from orchestration.definitions.validation import validate_workflow_def
from orchestration.models import TaskDef, WorkflowDef
from orchestration.services import definitions
from orchestration.services.errors import BadRequest, DefinitionError, ServiceError


class HealthView(ConductorView):
    def get(self, request: Request) -> Response:
        # The shape of Conductor's HealthCheckStatus.
        return Response({"healthResults": [], "suppressedHealthResults": [], "healthy": True})


class TaskDefsView(ConductorView):
    """GET all TaskDefs, POST a list (upsert), PUT one (update of an existing name)."""

    def get(self, request: Request) -> Response:
        rows = TaskDef.objects.order_by("name").values_list("data", flat=True)
        return Response([wire.task_def_json(data) for data in rows])

    def post(self, request: Request) -> HttpResponse:
        defs = wire.read_json_array(request, "a list of TaskDef")
        definitions.task_defs_register(defs=defs)
        return empty()

    def put(self, request: Request) -> HttpResponse:
        data = wire.read_json_object(request, "a TaskDef")
        definitions.task_def_update(data=data)
        return empty()


class TaskDefView(ConductorView):
    def get(self, request: Request, tasktype: str) -> Response:
        return Response(wire.task_def_json(definitions.task_def_get(tasktype)))

    def delete(self, request: Request, tasktype: str) -> HttpResponse:
        definitions.task_def_delete(tasktype)
        return empty()


class WorkflowDefsView(ConductorView):
    """GET every WorkflowDef (all versions), POST one (409 unless ``overwrite``), PUT a list."""

    def get(self, request: Request) -> Response:
        rows = WorkflowDef.objects.order_by("name", "version").values_list("data", flat=True)
        return Response([wire.workflow_def_json(data) for data in rows])

    def post(self, request: Request) -> HttpResponse:
        overwrite = wire.query_bool(request, "overwrite", False)
        data = wire.read_json_object(request, "a WorkflowDef")
        definitions.workflow_def_register(data=data, overwrite=overwrite)
        return empty()

    def put(self, request: Request) -> Response:
        defs = wire.read_json_array(request, "a list of WorkflowDef")
        if not defs:
            raise BadRequest("WorkflowDefList is empty")
        # Conductor validates the whole list first (@Valid on each element): one invalid
        # definition rejects the request and nothing is stored.
        mandatory = bool(settings.BATON["OWNER_EMAIL_MANDATORY"])
        errors = []
        for i, data in enumerate(defs):
            errors.extend(validate_workflow_def(data, owner_email_mandatory=mandatory, path=f"workflowDefs[{i}]"))
        if errors:
            raise DefinitionError(errors)
        failed: dict[str, str] = {}
        succeeded: list[str] = []
        for data in defs:
            try:
                definitions.workflow_def_register(data=data, overwrite=True)
            except ServiceError as exc:
                failed[data["name"]] = exc.message
            except DefinitionError as exc:  # validated above; only a concurrent change gets here
                failed[data["name"]] = str(exc)
            else:
                succeeded.append(data["name"])
        body: dict[str, Any] = {"bulkErrorResults": failed, "bulkSuccessfulResults": succeeded}
        return Response(body)


class WorkflowDefView(ConductorView):
    def get(self, request: Request, name: str) -> Response:
        version = wire.query_int(request, "version")
        return Response(wire.workflow_def_json(definitions.workflow_def_get(name, version)))


class WorkflowDefVersionView(ConductorView):
    def delete(self, request: Request, name: str, version: str) -> HttpResponse:
        definitions.workflow_def_delete(name, wire.path_int(version, "version"))
        return empty()
