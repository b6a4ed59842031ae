"""Conductor's REST routes.

Django resolves in list order, Spring by specificity: within each resource, literal segments
come before variables (``/poll/batch/{type}`` before ``/poll/{type}``, future
``/workflow/names`` before ``/workflow/{name}``...). A trailing slash is accepted but never
required. The catch-all at the end must stay last: every unknown /api/ path answers
Conductor's JSON 404 instead of an HTML page (and without a CSRF check).
"""

from __future__ import annotations

from django.urls import re_path

from orchestration.api import urls_auth, urls_control, urls_docs, urls_events, urls_search, urls_tasks
from orchestration.api import views_admin as admin
from orchestration.api import views_metadata as metadata
from orchestration.api import views_tasks as tasks
from orchestration.api import views_workflow as workflow
from orchestration.api.errors import api_not_found
from orchestration.api.routing import SEGMENT, route

# Area modules first: their literal segments (``/api/workflow/search``, ``/api/tasks/queue/...``)
# must win over the core's ``/api/workflow/{id}`` and ``/api/tasks/{taskId}``.
AREAS = [*urls_docs.urlpatterns, *urls_auth.urlpatterns, *urls_search.urlpatterns, *urls_control.urlpatterns, *urls_tasks.urlpatterns, *urls_events.urlpatterns]

urlpatterns = [
    route("health", admin.HealthView.as_view(), "health"),
    route("api/health", admin.HealthView.as_view(), "api-health"),
    *AREAS,
    # --- /api/metadata -------------------------------------------------------------------------
    route("api/metadata/taskdefs", metadata.TaskDefsView.as_view(), "taskdefs"),
    route(f"api/metadata/taskdefs/(?P<tasktype>{SEGMENT})", metadata.TaskDefView.as_view(), "taskdef"),
    route("api/metadata/workflow", metadata.WorkflowDefsView.as_view(), "workflowdefs"),
    route(
        f"api/metadata/workflow/(?P<name>{SEGMENT})/(?P<version>{SEGMENT})",
        metadata.WorkflowDefVersionView.as_view(),
        "workflowdef-version",
    ),
    route(f"api/metadata/workflow/(?P<name>{SEGMENT})", metadata.WorkflowDefView.as_view(), "workflowdef"),
    # --- /api/workflow -------------------------------------------------------------------------
    route("api/workflow", workflow.StartWorkflowView.as_view(), "workflow-start"),
    route(f"api/workflow/(?P<key>{SEGMENT})", workflow.WorkflowView.as_view(), "workflow"),
    # --- /api/tasks ----------------------------------------------------------------------------
    route("api/tasks", tasks.TaskUpdateView.as_view(), "task-update"),
    route(f"api/tasks/poll/batch/(?P<tasktype>{SEGMENT})", tasks.BatchPollView.as_view(), "task-poll-batch"),
    route(f"api/tasks/poll/(?P<tasktype>{SEGMENT})", tasks.PollView.as_view(), "task-poll"),
    route(f"api/tasks/(?P<task_id>{SEGMENT})/ack", tasks.AckView.as_view(), "task-ack"),
    route(f"api/tasks/(?P<task_id>{SEGMENT})", tasks.TaskView.as_view(), "task"),
    # --- keep last -----------------------------------------------------------------------------
    re_path(r"^api(?:/.*)?$", api_not_found, name="api-not-found"),
]
