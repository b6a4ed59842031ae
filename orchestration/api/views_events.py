"""``/api/event``: event handler definitions; ``/api/admin/queues`` and ``/api/queue``: the
event queues this server listens on (none yet)."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, empty
from orchestration.documents.events import event_handler_json
from orchestration.selectors import events as selectors
from orchestration.services import events


class EventHandlersView(ConductorView):
    """GET every handler, POST a new one (409 if the name exists), PUT an existing one (404)."""

    def get(self, request: Request) -> Response:
        return Response([event_handler_json(h) for h in selectors.event_handlers()])

    def post(self, request: Request) -> HttpResponse:
        events.event_handler_add(data=wire.read_json_object(request, "an EventHandler"))
        return empty()

    def put(self, request: Request) -> HttpResponse:
        events.event_handler_update(data=wire.read_json_object(request, "an EventHandler"))
        return empty()


class EventHandlerView(ConductorView):
    """``/api/event/{x}``: GET lists the handlers of *event* x, DELETE removes the handler
    *named* x (Conductor's two routes share the path shape)."""

    def get(self, request: Request, key: str) -> Response:
        active_only = wire.query_bool(request, "activeOnly", True)
        handlers = selectors.event_handlers_for_event(event=key, active_only=active_only)
        return Response([event_handler_json(h) for h in handlers])

    def delete(self, request: Request, key: str) -> HttpResponse:
        events.event_handler_remove(name=key)
        return empty()


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
