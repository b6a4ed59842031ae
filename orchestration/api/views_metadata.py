"""``/api/metadata``: task and workflow definitions; for workflows also validation, names,
versions, the latest versions and the classifier filter.

Views only translate HTTP to calls and back; validation, messages and storage rules live in
``services.definitions`` and ``definitions.validation``, the reads in ``selectors.definitions``.
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
from orchestration.documents.definitions import task_def_json, workflow_def_json
from orchestration.errors import BadRequest, DefinitionError, ServiceError
from orchestration.selectors import definitions as selectors
from orchestration.services import definitions

# --- task definitions ---------------------------------------------------------------------------


class TaskDefsView(ConductorView):
    """GET all TaskDefs, POST a list (upsert), PUT one (update of an existing name)."""

    def get(self, request: Request) -> Response:
        return Response([task_def_json(data) for data in selectors.task_defs()])

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
        return Response(task_def_json(selectors.task_def(name=tasktype)))

    def delete(self, request: Request, tasktype: str) -> HttpResponse:
        definitions.task_def_delete(tasktype)
        return empty()


# --- workflow definitions -----------------------------------------------------------------------


class WorkflowDefsView(ConductorView):
    """GET every WorkflowDef (all versions), POST one (409 unless ``overwrite``), PUT a list."""

    def get(self, request: Request) -> Response:
        return Response([workflow_def_json(data) for data in selectors.workflow_defs()])

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


class WorkflowDefsFilteredView(ConductorView):
    """GET /metadata/workflow[?classifier=x]: every version of every definition."""

    def get(self, request: Request) -> Response:
        defs = selectors.workflow_defs(classifier=wire.query_str(request, "classifier"))
        return Response([workflow_def_json(data) for data in defs])


class WorkflowDefView(ConductorView):
    def get(self, request: Request, name: str) -> Response:
        version = wire.query_int(request, "version")
        return Response(workflow_def_json(selectors.workflow_def(name=name, version=version)))


class WorkflowDefVersionView(ConductorView):
    def delete(self, request: Request, name: str, version: str) -> HttpResponse:
        definitions.workflow_def_delete(name, wire.path_int(version, "version"))
        return empty()


class ValidateWorkflowDefView(ConductorView):
    def post(self, request: Request) -> HttpResponse:
        definitions.workflow_def_validate(data=wire.read_json_object(request, "a WorkflowDef"))
        return empty()


class WorkflowNamesView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(selectors.workflow_names())


class WorkflowNamesAndVersionsView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(selectors.workflow_names_and_versions())


class WorkflowVersionsView(ConductorView):
    def get(self, request: Request, name: str) -> Response:
        return Response(selectors.workflow_versions(name=name))


class LatestWorkflowDefsView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response([workflow_def_json(data) for data in selectors.latest_workflow_defs()])
