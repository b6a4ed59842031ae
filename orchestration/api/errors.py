"""Every error the API answers, in the JSON body Conductor answers errors with:

    {"status": 404, "message": "...", "instance": "<host>", "retryable": false,
     "validationErrors": [{"path", "message", "invalidValue"}]}   # the last only for validation

Conductor answers 500 for malformed JSON, wrong JSON types and unknown enum names (its catch-all
handler wins over Spring's defaults); Baton answers 400 with a message naming the problem, which
no client treats differently (any non-2xx is an error) and which tells the user what to fix.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from orchestration.conductor.java_text import java_string
from orchestration.error_body import error_body, instance_id
from orchestration.errors import DefinitionError, ServiceError

log = logging.getLogger(__name__)

# Paths that belong to the Conductor API: unknown ones answer JSON, never an HTML page.
API_PREFIXES = ("/api/", "/health")


def _validation_body(exc: DefinitionError) -> dict[str, Any]:
    body = exc.to_response()
    body["instance"] = instance_id()
    for item in body.get("validationErrors", ()):
        # Conductor prints the offending value with toString() and only for scalars; a JSON list
        # or object there would only confuse clients that expect a string.
        value = item.get("invalidValue")
        if isinstance(value, dict | list):
            del item["invalidValue"]
        elif value is not None:
            item["invalidValue"] = java_string(value)
    return body


def _drf_message(exc: drf.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return _flatten(detail)


def _flatten(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def exception_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, Conductor error body) for any exception."""
    if isinstance(exc, DefinitionError):
        return exc.status, _validation_body(exc)
    if isinstance(exc, ServiceError):
        return exc.status, error_body(exc.status, exc.message)
    if isinstance(exc, RequestDataTooBig):
        return 413, error_body(413, "Request body is larger than the server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)")
    if isinstance(exc, Http404):
        return 404, error_body(404, str(exc) or "Not found")
    if isinstance(exc, PermissionDenied):
        return 403, error_body(403, str(exc) or "Access forbidden")
    if isinstance(exc, drf.MethodNotAllowed):
        method = exc.args[0] if exc.args else "?"
        # Spring's wording, which Conductor passes through.
        return 405, error_body(405, f"Request method '{method}' is not supported")
    if isinstance(exc, drf.ParseError):
        return 400, error_body(400, f"Malformed JSON request body: {_drf_message(exc)}")
    if isinstance(exc, drf.APIException):
        return exc.status_code, error_body(exc.status_code, _drf_message(exc))
    if isinstance(exc, DataError):
        # A value the column cannot hold (too long, out of range): the client's input.
        return 400, error_body(400, f"Invalid value: {exc}".strip())
    if isinstance(exc, ValueError) and "NUL" in str(exc):
        # psycopg refuses NUL characters (e.g. %00 in a path) before PostgreSQL sees them.
        return 400, error_body(400, "Strings must not contain the NUL (0x00) character")
    if isinstance(exc, OperationalError | InterfaceError):
        # Lock timeouts, lost connections: the client may retry (Conductor's TransientException).
        return 500, error_body(500, f"Database unavailable: {exc}", retryable=True)
    if isinstance(exc, DatabaseError):
        return 500, error_body(500, f"Database error: {exc}")
    return 500, error_body(500, str(exc) or exc.__class__.__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception becomes Conductor's JSON error body."""
    status, body = exception_body(exc)
    if status >= 500:
        view = context.get("view")
        log.error("unhandled error in %s", view.__class__.__name__ if view else "?", exc_info=exc)
    headers = {}
    if isinstance(exc, drf.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    # Roll back a request-wide atomic block, as DRF's own handler does.
    set_rollback()
    return Response(body, status=status, headers=headers)


def _json_not_found(request: HttpRequest) -> JsonResponse:
    # Spring's NoResourceFoundException text, which is what Conductor answers for unknown routes.
    body = error_body(404, f"No static resource {request.path.lstrip('/')}.")
    return JsonResponse(body, status=404, json_dumps_params={"separators": (",", ":")})


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: unknown API routes answer Conductor's JSON 404; other paths (admin, UI)
    keep Django's page. Only used with DEBUG off; ``api_not_found`` covers /api/ always."""
    if request.path.startswith(API_PREFIXES):
        return _json_not_found(request)
    return page_not_found(request, exception)


@csrf_exempt  # an SDK POSTing to a wrong path must get the JSON 404, not a CSRF page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The last route under /api/: whatever matched nothing before it."""
    return _json_not_found(request)
