"""Conductor's requests, in: JSON bodies and query and path parameters, checked and turned
into plain values, with Conductor's (Spring's) answer to a malformed one (400). The documents
going out are ``orchestration.documents``'.

Bodies are read from the raw request, not through DRF's parsers, because DRF treats a body
without Content-Length as empty, and some SDKs send chunked bodies.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.request import Request

from orchestration.conductor.json_types import json_kind
from orchestration.errors import BadRequest

# --- requests ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; JSON does not, and they could not be rendered back.
    raise ValueError(f"{name} is not a valid JSON value")


def read_json(request: Request, *, required: bool = True) -> Any:
    """The request body as JSON. Missing body -> None (or 400 when required); malformed -> 400."""
    raw = request.body  # Django reads the whole body under ASGI, chunked or not
    if not raw or not raw.strip():
        if required:
            raise BadRequest("Required request body is missing")
        return None
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON request body: {exc}") from None
    except RecursionError:
        raise BadRequest("Malformed JSON request body: nested too deeply") from None
    # PostgreSQL can store no NUL character, in text or jsonb: refuse it up front, on every
    # database alike, rather than fail half-way. The byte scan keeps the common case free.
    if b"\\u0000" in raw and _has_nul(body):
        raise BadRequest("JSON strings must not contain the NUL character (\\u0000)")
    return body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def read_json_object(request: Request, what: str) -> dict[str, Any]:
    body = read_json(request)
    if not isinstance(body, dict):
        raise BadRequest(f"Request body must be a JSON object ({what}), got {json_kind(body)}")
    return body


def read_json_array(request: Request, what: str) -> list[Any]:
    body = read_json(request)
    if not isinstance(body, list):
        raise BadRequest(f"Request body must be a JSON array ({what}), got {json_kind(body)}")
    return body


def query_str(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def query_required(request: Request, name: str) -> str:
    """A string parameter Conductor declares required: Spring's 400 when it is missing."""
    value = query_str(request, name)
    if value is None:
        raise BadRequest(f"Required request parameter '{name}' for method parameter type String is not present")
    return value


JAVA_LONG_MIN, JAVA_LONG_MAX = -(2**63), 2**63 - 1


def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    value = query_str(request, name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise BadRequest(f"Invalid value for query parameter '{name}': '{value}' is not an integer") from None
    # Conductor binds these to Java ints and longs: a value beyond a long is a caller's mistake
    # (and would overflow the database's integer columns), not a server error.
    if not JAVA_LONG_MIN <= number <= JAVA_LONG_MAX:
        raise BadRequest(f"Invalid value for query parameter '{name}': '{value}' is out of range")
    return number


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def query_bool(request: Request, name: str, default: bool) -> bool:
    value = query_str(request, name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid value for query parameter '{name}': '{value}' is not a boolean")


def path_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid value for path variable '{name}': '{value}' is not an integer") from None
    if not JAVA_LONG_MIN <= number <= JAVA_LONG_MAX:
        raise BadRequest(f"Invalid value for path variable '{name}': '{value}' is out of range")
    return number
