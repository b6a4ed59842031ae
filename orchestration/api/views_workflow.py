"""``/api/workflow``: start workflows and read them.

Both start forms answer the new workflow id as text/plain.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import views_control, wire
from orchestration.api.execution_documents import workflow_document
from orchestration.api.renderers import ConductorView, text
from orchestration.definitions.validation import validate_start_request
from orchestration.errors import BadRequest, DefinitionError
from orchestration.selectors import definitions
from orchestration.services.workflows import workflow_start

# StartWorkflowRequest fields a Workflow carries verbatim (Workflow.extra).
_CARRIED_FIELDS = ("externalInputPayloadStoragePath", "createdBy", "idempotencyKey")


def _int_or_none(value: Any) -> int | None:
    # validate_start_request accepted it as an integer (3.0 included, as Jackson does).
    return None if value is None else int(value)


class StartWorkflowView(ConductorView):
    """POST /api/workflow with a StartWorkflowRequest."""

    def post(self, request: Request) -> HttpResponse:
        body = wire.read_json_object(request, "a StartWorkflowRequest")
        errors = validate_start_request(body, owner_email_mandatory=bool(settings.BATON["OWNER_EMAIL_MANDATORY"]))
        if errors:
            raise DefinitionError(errors)
        # Absent input means {}; an explicit null is Conductor's "NULL input" error (raised by
        # the service).
        workflow_input = body.get("input", {})
        workflow_id = workflow_start(
            name=body["name"],
            version=_int_or_none(body.get("version")),
            input=workflow_input,
            correlation_id=body.get("correlationId"),
            priority=_int_or_none(body.get("priority")) or 0,
            task_to_domain=body.get("taskToDomain") or {},
            workflow_def=body.get("workflowDef"),
            extra={k: body[k] for k in _CARRIED_FIELDS if body.get(k) is not None},
        )
        return text(workflow_id)


class WorkflowView(ConductorView):
    """``/api/workflow/{x}``: POST starts the workflow *named* x, GET reads the workflow whose
    *id* is x, DELETE terminates it (Conductor routes on method and path shape alike)."""

    def delete(self, request: Request, key: str) -> HttpResponse:
        return views_control.terminate(request, key)

    def get(self, request: Request, key: str) -> Response:
        include_tasks = wire.query_bool(request, "includeTasks", True)
        return Response(workflow_document(key, include_tasks=include_tasks))

    def post(self, request: Request, key: str) -> HttpResponse:
        version = wire.query_int(request, "version")
        correlation_id = wire.query_str(request, "correlationId")
        priority = wire.query_int(request, "priority", 0)
        body = wire.read_json(request)
        if body is not None and not isinstance(body, dict):
            raise BadRequest(f"Request body must be a JSON object (the workflow input), got {wire.json_kind(body)}")
        # This form answers "No such workflow found by name" (the metadata lookup's 404), not the
        # StartWorkflowRequest form's "No such workflow defined".
        definition = definitions.workflow_def(name=key, version=version)
        workflow_id = workflow_start(
            name=key,
            version=int(definition.get("version") or 1),
            input=body,
            correlation_id=correlation_id,
            priority=priority if priority is not None else 0,
        )
        return text(workflow_id)
