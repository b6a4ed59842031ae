"""Routes of execution search and lookups (``orchestration.api.views_search``), included by
orchestration.api.urls before the core routes: ``/api/workflow/search`` must win over
``/api/workflow/{workflowId}``, ``/api/tasks/search`` over ``/api/tasks/{taskId}``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from orchestration.api import views_search as search
from orchestration.api.routing import SEGMENT, route

urlpatterns: list[URLPattern | URLResolver] = [
    route("api/workflow/search", search.WorkflowSearchView.as_view(), "workflow-search"),
    route("api/workflow/search-v2", search.WorkflowSearchV2View.as_view(), "workflow-search-v2"),
    route("api/workflow/search-by-tasks", search.WorkflowSearchByTasksView.as_view(), "workflow-search-by-tasks"),
    route(
        "api/workflow/search-by-tasks-v2", search.WorkflowSearchByTasksV2View.as_view(), "workflow-search-by-tasks-v2"
    ),
    route(f"api/workflow/running/(?P<name>{SEGMENT})", search.RunningWorkflowsView.as_view(), "workflow-running"),
    route(
        f"api/workflow/(?P<name>{SEGMENT})/correlated/(?P<correlation_id>{SEGMENT})",
        search.CorrelatedView.as_view(),
        "workflow-correlated",
    ),
    route(f"api/workflow/(?P<name>{SEGMENT})/correlated", search.CorrelatedBatchView.as_view(), "workflow-correlated-batch"),
    route("api/tasks/search", search.TaskSearchView.as_view(), "task-search"),
    route("api/tasks/search-v2", search.TaskSearchV2View.as_view(), "task-search-v2"),
]
