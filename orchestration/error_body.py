"""Conductor's JSON error body, the shape of every error Baton answers over HTTP:

    {"status": 404, "message": "...", "instance": "<host>", "retryable": false}

Both the API's exception handler and the authentication middleware, which answers before any
view runs, build it here, so the middleware does not depend on the API it guards.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def instance_id() -> str:
    return str(settings.BATON.get("INSTANCE_ID") or "baton")


def error_body(status: int, message: str | None, *, retryable: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "instance": instance_id(), "retryable": retryable}
    if message is not None:  # Jackson omits a null message
        body["message"] = message
    return body
