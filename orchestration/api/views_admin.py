"""The server's own endpoints: health, version, ``/api/admin`` (configuration, the pending tasks
of a type, repairs of one workflow)."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.execution_documents import task_documents
from orchestration.api.renderers import ConductorView, text
from orchestration.selectors import server, tasks
from orchestration.services import repair


class HealthView(ConductorView):
    def get(self, request: Request) -> Response:
        # The shape of Conductor's HealthCheckStatus.
        return Response({"healthResults": [], "suppressedHealthResults": [], "healthy": True})


class VersionView(ConductorView):
    def get(self, request: Request) -> HttpResponse:
        return text(server.server_version())


class AdminConfigView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(server.server_config())


class AdminPendingTasksView(ConductorView):
    """GET /admin/task/{tasktype}?start=0&count=100: open tasks of a type, as Task documents."""

    def get(self, request: Request, tasktype: str) -> Response:
        start = wire.query_int(request, "start", 0) or 0
        count = wire.query_int(request, "count", 100) or 0
        rows = tasks.pending_tasks(task_type=tasktype, start=start, count=count)
        return Response(task_documents(rows))


class AdminRequeueSweepView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        pushed = repair.requeue_sweep(workflow_id=workflow_id)
        # Conductor answers "<pushed>.<workflowId>", e.g. "true.3f2a...".
        return text(f"{'true' if pushed else 'false'}.{workflow_id}")


class AdminVerifyAndRepairView(ConductorView):
    def post(self, request: Request, workflow_id: str) -> HttpResponse:
        repaired = repair.verify_and_repair(workflow_id=workflow_id)
        return text("true" if repaired else "false")
