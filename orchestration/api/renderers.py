"""How the API answers: always JSON (or text/plain ids), whatever the client's Accept header.

Conductor's SDKs are strict about Content-Type (a text/plain id parsed as JSON fails) and some
send ``Accept`` values DRF would answer with 406, so content negotiation is switched off: JSON
endpoints always render JSON, id endpoints always return text/plain, and 204s carry no body.

``ConductorView`` is the base of every API view: no authentication yet (a later issue), CSRF
exempt (DRF's ``as_view`` does that; SDK clients never send CSRF tokens), no DRF parsers (bodies
are read by ``wire.read_json``, which also works for chunked bodies without Content-Length).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

TEXT_PLAIN = "text/plain; charset=utf-8"


class FirstRenderer(BaseContentNegotiation):
    """Ignore Accept: the view's first renderer, always."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type


class ConductorView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    parser_classes: list[type] = []
    content_negotiation_class = FirstRenderer


def text(value: str) -> HttpResponse:
    """A text/plain answer (workflow and task ids, ``true``)."""
    return HttpResponse(value, content_type=TEXT_PLAIN)


def empty() -> HttpResponse:
    """Java ``void``: 200 and no body (typed, so strict clients do not guess)."""
    return HttpResponse(b"", content_type=TEXT_PLAIN)


def no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    # A 204 has no body, so nothing to type; Django would otherwise claim text/html.
    del response["Content-Type"]
    return response
