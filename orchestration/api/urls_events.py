"""Routes of one area of Conductor's API, included by orchestration.api.urls before the core
routes (so literal segments here win over the core's variables): event handlers, the rest of
the metadata API, version, admin, the internal event queue info, external storage location.

Spring routes on method and path together, Django on the path alone. Several paths here are
also values of a core route's variable: ``/metadata/workflow/validate`` is POST-only in
Conductor, and a GET of it reads the workflow *named* "validate" through ``/workflow/{name}``;
``/workflow/x/versions`` is GET-only, and a DELETE of it is ``/workflow/{name}/{version}``.
``by_method`` sends the methods this module serves to its views and every other method to the
core view, so each request ends where Spring would send it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from django.views.decorators.csrf import csrf_exempt

from orchestration.api import views_admin as admin
from orchestration.api import views_events as events
from orchestration.api import views_external_storage as storage
from orchestration.api import views_metadata as metadata
from orchestration.api.routing import SEGMENT, route

View = Callable[..., HttpResponse]


def by_method(views: dict[str, View], otherwise: View, **otherwise_kwargs: str) -> View:
    """One route, two views: ``views[method]`` when the method is listed (GET also serves HEAD),
    else ``otherwise`` with ``otherwise_kwargs`` added (the path variables it expects, since the
    literal path captured none)."""
    if "GET" in views:
        views = {"HEAD": views["GET"], **views}

    @csrf_exempt  # SDK clients send no CSRF token; DRF views are exempt, this wrapper must be too
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        view = views.get(request.method or "")
        if view is not None:
            return view(request, *args, **kwargs)
        return otherwise(request, *args, **{**kwargs, **otherwise_kwargs})

    return dispatch


_workflow_def = metadata.WorkflowDefView.as_view()


def _get_or_core_def(view: View, name: str) -> View:
    """GET -> ``view``; other methods -> core ``/metadata/workflow/{name}`` (which answers 405)."""
    return by_method({"GET": view}, _workflow_def, name=name)


urlpatterns: list[URLPattern | URLResolver] = [
    # --- /api/event ----------------------------------------------------------------------------
    route("api/event", events.EventHandlersView.as_view(), "event-handlers"),
    # An event name is "<provider>:<queue>", colons raw or %3A-encoded (Django decodes the path
    # before matching). One segment, as in Conductor: an event holding a slash cannot be looked
    # up this way (Tomcat refuses %2F too), and /api/event/queue/config/... (Orkes' queue
    # configuration, not in OSS) stays a 404 instead of an empty list of handlers.
    route(f"api/event/(?P<key>{SEGMENT})", events.EventHandlerView.as_view(), "event-handler"),
    # --- /api/metadata/workflow (before the core's /workflow/{name}) --------------------------
    route(
        "api/metadata/workflow",
        by_method({"GET": metadata.WorkflowDefsFilteredView.as_view()}, metadata.WorkflowDefsView.as_view()),
        "workflowdefs-classifier",
    ),
    route(
        "api/metadata/workflow/validate",
        # A GET of ".../validate" is Conductor's GET of the workflow named "validate".
        by_method({"POST": metadata.ValidateWorkflowDefView.as_view()}, _workflow_def, name="validate"),
        "workflowdef-validate",
    ),
    route(
        "api/metadata/workflow/names-and-versions",
        _get_or_core_def(metadata.WorkflowNamesAndVersionsView.as_view(), "names-and-versions"),
        "workflowdef-names-and-versions",
    ),
    route("api/metadata/workflow/names", _get_or_core_def(metadata.WorkflowNamesView.as_view(), "names"), "workflowdef-names"),
    route(
        "api/metadata/workflow/latest-versions",
        _get_or_core_def(metadata.LatestWorkflowDefsView.as_view(), "latest-versions"),
        "workflowdef-latest-versions",
    ),
    route(
        f"api/metadata/workflow/(?P<name>{SEGMENT})/versions",
        by_method(
            {"GET": metadata.WorkflowVersionsView.as_view()}, metadata.WorkflowDefVersionView.as_view(), version="versions"
        ),
        "workflowdef-versions",
    ),
    # --- misc ----------------------------------------------------------------------------------
    route("api/version", admin.VersionView.as_view(), "version"),
    route("api/admin/config", admin.AdminConfigView.as_view(), "admin-config"),
    route(f"api/admin/task/(?P<tasktype>{SEGMENT})", admin.AdminPendingTasksView.as_view(), "admin-pending-tasks"),
    route(f"api/admin/sweep/requeue/(?P<workflow_id>{SEGMENT})", admin.AdminRequeueSweepView.as_view(), "admin-requeue"),
    route(
        f"api/admin/consistency/verifyAndRepair/(?P<workflow_id>{SEGMENT})",
        admin.AdminVerifyAndRepairView.as_view(),
        "admin-verify-and-repair",
    ),
    route("api/admin/queues", events.AdminEventQueuesView.as_view(), "admin-queues"),
    route("api/queue/size", events.EventQueueInfoView.as_view(), "queue-size"),
    route("api/queue", events.EventQueueInfoView.as_view(), "queue-names"),
    route(
        "api/(?:workflow|tasks)/(?:externalstoragelocation|external-storage-location)",
        storage.ExternalStorageLocationView.as_view(),
        "external-storage-location",
    ),
]
