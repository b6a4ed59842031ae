"""``/api/{tasks,workflow}/externalstoragelocation``: where a client should upload a payload
too large to send inline. Baton keeps every payload in its database and has no external storage
to point at, so both answer 400 saying so; a client that got a location would upload its payload
somewhere Baton never reads it."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView
from orchestration.errors import BadRequest

_OPERATIONS = ("READ", "WRITE")
_PAYLOAD_TYPES = ("WORKFLOW_INPUT", "WORKFLOW_OUTPUT", "TASK_INPUT", "TASK_OUTPUT")


class TaskExternalStorageLocationView(ConductorView):
    """GET /api/tasks/externalstoragelocation: Conductor's bad-argument answer (400) for invalid
    input, and a 400 that says there is no external storage for valid input."""

    def get(self, request: Request) -> Response:
        wire.query_required(request, "path")
        operation = wire.query_required(request, "operation")
        payload_type = wire.query_required(request, "payloadType")
        if operation.upper() not in _OPERATIONS or payload_type.upper() not in _PAYLOAD_TYPES:
            raise BadRequest(f"Invalid input - Operation: {operation}, PayloadType: {payload_type}")
        raise BadRequest(
            "External payload storage is not supported: Baton stores every payload in its database. "
            "Raise the client's payload size thresholds instead."
        )


# Clients call this only for payloads above their configured threshold (the Java client; the
# Python SDK never does on its own). Conductor's default "dummy" storage answers a path without a
# URI, after which the client fails on a null URL; a 400 naming the real cause is clearer.
NO_EXTERNAL_STORAGE = (
    "External payload storage is not supported by this server: send the payload inline "
    "(raise the client's external payload threshold) or make it smaller"
)


class ExternalStorageLocationView(ConductorView):
    """GET /workflow/externalstoragelocation (and /tasks/..., both spellings, where the tasks
    route above does not answer first)."""

    def get(self, request: Request) -> HttpResponse:
        raise BadRequest(NO_EXTERNAL_STORAGE)
