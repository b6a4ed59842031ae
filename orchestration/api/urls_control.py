"""Routes of one area of Conductor's API, included by orchestration.api.urls before the core
routes (so literal segments here win over the core's variables).

This area: workflow control (pause, resume, terminate, remove, restart, retry, rerun, skip,
resetcallbacks, decide), the bulk forms, ``/{id}/status``, ``/{id}/tasks`` and the synchronous
``/execute/{name}/{version}``. Terminate (``DELETE /api/workflow/{id}``) is
served by the core ``/api/workflow/{x}`` view, which delegates to ``views_control.terminate``:
Django routes on the path alone, and that path is the core's.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from orchestration.api import views_control as views
from orchestration.api.routing import SEGMENT, route

W = "api/workflow"
ID = f"(?P<workflow_id>{SEGMENT})"

urlpatterns: list[URLPattern | URLResolver] = [
    *(route(f"{W}/bulk/{operation}", view, f"workflow-bulk-{operation}") for operation, view in views.BULK_VIEWS.items()),
    route(f"{W}/decide/{ID}", views.DecideView.as_view(), "workflow-decide"),
    route(f"{W}/execute/(?P<name>{SEGMENT})/(?P<version>{SEGMENT})", views.ExecuteView.as_view(), "workflow-execute"),
    route(f"{W}/{ID}/status", views.WorkflowStatusView.as_view(), "workflow-status"),
    route(f"{W}/{ID}/tasks", views.WorkflowTasksView.as_view(), "workflow-tasks"),
    route(f"{W}/{ID}/remove", views.RemoveView.as_view(), "workflow-remove"),
    route(f"{W}/{ID}/terminate-remove", views.TerminateRemoveView.as_view(), "workflow-terminate-remove"),
    route(f"{W}/{ID}/pause", views.PauseView.as_view(), "workflow-pause"),
    route(f"{W}/{ID}/resume", views.ResumeView.as_view(), "workflow-resume"),
    route(f"{W}/{ID}/skiptask/(?P<ref>{SEGMENT})", views.SkipTaskView.as_view(), "workflow-skip-task"),
    route(f"{W}/{ID}/rerun", views.RerunView.as_view(), "workflow-rerun"),
    route(f"{W}/{ID}/restart", views.RestartView.as_view(), "workflow-restart"),
    route(f"{W}/{ID}/retry", views.RetryView.as_view(), "workflow-retry"),
    route(f"{W}/{ID}/resetcallbacks", views.ResetCallbacksView.as_view(), "workflow-reset-callbacks"),
]
