"""The rest of ``/api/metadata`` (validate, names, versions, latest versions, classifier filter;
reference §1.1) and the small endpoints of §1.5: version, ``/api/admin``, ``/api/queue``, and
the external payload storage location."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, empty, text
from orchestration.services import metadata_extra
from orchestration.services.errors import BadRequest

# --- /api/metadata/workflow ---------------------------------------------------------------------


class WorkflowDefsFilteredView(ConductorView):
    """GET /metadata/workflow[?classifier=x]: every version of every definition."""

    def get(self, request: Request) -> Response:
        defs = metadata_extra.workflow_defs(classifier=wire.query_str(request, "classifier"))
        return Response([wire.workflow_def_json(data) for data in defs])


class ValidateWorkflowDefView(ConductorView):
    def post(self, request: Request) -> HttpResponse:
        metadata_extra.workflow_def_validate(data=wire.read_json_object(request, "a WorkflowDef"))
        return empty()


class WorkflowNamesView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(metadata_extra.workflow_names())


class WorkflowNamesAndVersionsView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(metadata_extra.workflow_names_and_versions())


class WorkflowVersionsView(ConductorView):
    def get(self, request: Request, name: str) -> Response:
        return Response(metadata_extra.workflow_versions(name=name))


class LatestWorkflowDefsView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response([wire.workflow_def_json(data) for data in metadata_extra.workflow_defs_latest()])


# --- misc ----------------------------------------------------------------------------------------


class VersionView(ConductorView):
    def get(self, request: Request) -> HttpResponse:
        return text(metadata_extra.server_version())


class AdminConfigView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(metadata_extra.server_config())


class AdminPendingTasksView(ConductorView):
    """GET /admin/task/{tasktype}?start=0&count=100: open tasks of a type, as Task documents."""

    def get(self, request: Request, tasktype: str) -> Response:
        start = wire.query_int(request, "start", 0) or 0
        count = wire.query_int(request, "count", 100) or 0
        rows = metadata_extra.pending_tasks(task_type=tasktype, start=start, count=count)
        return Response(wire.tasks_json(rows))


class AdminRequeueSweepView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        pushed = metadata_extra.requeue_sweep(workflow_id=workflow_id)
        # Conductor answers "<pushed>.<workflowId>", e.g. "true.3f2a...".
        return text(f"{'true' if pushed else 'false'}.{workflow_id}")


class AdminVerifyAndRepairView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        repaired = metadata_extra.verify_and_repair(workflow_id=workflow_id)
        return text("true" if repaired else "false")


class AdminEventQueuesView(ConductorView):
    """GET /admin/queues?verbose=: the event queues this server listens on. Baton runs no event
    queue listeners yet, so the map is empty (Conductor answers 500 "Event processing is
    DISABLED" in that case; an empty map tells a client the same without an error)."""

    def get(self, request: Request) -> Response:
        wire.query_bool(request, "verbose", False)  # still refuse a malformed value
        return Response({})


class EventQueueInfoView(ConductorView):
    """GET /queue/size and /queue/: Conductor's internal "conductor" event queues (one per
    WAIT-completion status). Baton has none, so both maps are empty."""

    def get(self, request: Request) -> Response:
        return Response({})


# Clients call this only for payloads above their configured threshold (the Java client; the
# Python SDK never does on its own). Conductor's default "dummy" storage answers a path without a
# URI, after which the client fails on a null URL; a 400 naming the real cause is clearer.
NO_EXTERNAL_STORAGE = (
    "External payload storage is not supported by this server: send the payload inline "
    "(raise the client's external payload threshold) or make it smaller"
)


class ExternalStorageLocationView(ConductorView):
    """GET /workflow/externalstoragelocation (and /tasks/..., both spellings)."""

    def get(self, request: Request) -> HttpResponse:
        raise BadRequest(NO_EXTERNAL_STORAGE)
