"""Authentication and role checks for every API path, in one place.

Views set ``authentication_classes = []`` and ``AllowAny``: DRF does no security of its own.
This middleware runs after URL resolution (``process_view``) on every path under /api/ and on
/health, so it covers each current and future endpoint whatever its view does:

1. With ``BATON["AUTH_ENABLED"]`` off (a trusted network), everyone is an ADMIN.
2. ``permissions.required_role`` says who may call the path; PUBLIC paths pass untouched.
3. The caller is identified by, in order:
   - a token in ``X-Authorization`` (what Conductor SDKs send; ``Authorization: Bearer`` is
     accepted too, for curl users). A header that is present but wrong is a 401: there is no
     falling back to another identity;
   - a Django session (someone logged into the admin, using the browsable API): superusers are
     ADMIN, other users get the highest role among their groups named ``baton:<ROLE>``, staff
     without such a group READ_ONLY. As with DRF's SessionAuthentication, unsafe methods need
     the CSRF token; token requests do not (a browser cannot add the header cross-site).
4. No identity -> 401; a role below the path's -> 403.

401 bodies carry ``error: INVALID_TOKEN`` or ``EXPIRED_TOKEN``: those two codes are what make
Conductor's SDKs fetch a new token and retry once. 403s and the token endpoint's own 401 must
never carry them, or the SDK would retry (or, at /api/token, recurse) pointlessly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.authentication import CSRFCheck

from orchestration.error_body import error_body
from orchestration.models import Role
from orchestration.security import keys, permissions, tokens

# The last route under /api/ (orchestration.api.urls): it only answers Conductor's JSON 404,
# so any authenticated caller may reach it; an anonymous one still gets a 401 and so cannot
# probe which routes exist.
NOT_FOUND_ROUTE = "api-not-found"
GROUP_PREFIX = "baton:"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclass(frozen=True)
class Principal:
    """Who is calling, as views may read it from ``request.baton_principal``."""

    kind: str  # "key", "session", "trusted" (auth disabled) or "anonymous" (public path)
    name: str
    role: str | None
    key_id: str | None = None


TRUSTED = Principal(kind="trusted", name="trusted network (authentication disabled)", role=Role.ADMIN)
ANONYMOUS = Principal(kind="anonymous", name="anonymous", role=None)


class AuthFailure(Exception):
    def __init__(self, status: int, message: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def auth_enabled() -> bool:
    return bool(settings.BATON.get("AUTH_ENABLED", True))


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path in ("/health", "/health/")


def error_response(status: int, message: str, code: str | None = None) -> JsonResponse:
    body = error_body(status, message)
    if code is not None:
        # ``error`` is the field the SDKs read; ``code`` is Conductor's ErrorResponse field.
        body["error"] = code
        body["code"] = code
    response = JsonResponse(body, status=status, json_dumps_params={"separators": (",", ":")})
    if status == 401:
        response["WWW-Authenticate"] = 'X-Authorization realm="baton"'
    return response


def _token_from_headers(request: HttpRequest) -> str | None:
    raw = request.headers.get("X-Authorization")
    if raw is None:
        authorization = request.headers.get("Authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        raw = value
    raw = raw.strip()
    # Some clients prefix the value with the scheme even in X-Authorization.
    if raw[:7].lower() == "bearer ":
        raw = raw[7:].strip()
    return raw


def _principal_from_token(token: str) -> Principal:
    try:
        claims = tokens.decode(token)
    except tokens.TokenError as exc:
        raise AuthFailure(401, exc.message, exc.code) from None
    state = keys.key_state(claims.key_id)
    if state is None or not state.active:
        raise AuthFailure(401, "Application key is revoked or deleted", tokens.INVALID_TOKEN)
    if state.fingerprint != claims.key_fingerprint or state.role != claims.role:
        # The key's secret was rotated or its role changed since the token was issued: the
        # client must fetch a new token (the SDK does so on INVALID_TOKEN), which carries the
        # key's current role.
        raise AuthFailure(401, "Token no longer matches its application key", tokens.INVALID_TOKEN)
    return Principal(kind="key", name=state.name, role=state.role, key_id=state.key_id)


def session_role(user: Any) -> str | None:
    """A logged-in Django user's Baton role (None: the user has none)."""
    if not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = set(user.groups.filter(name__startswith=GROUP_PREFIX).values_list("name", flat=True))
    granted = [role for role in permissions.RANK if f"{GROUP_PREFIX}{role}" in names]
    if granted:
        return max(granted, key=permissions.RANK.__getitem__)
    return Role.READ_ONLY if user.is_staff else None


def _csrf_failure(request: HttpRequest) -> str | None:
    # DRF's SessionAuthentication.enforce_csrf: Django's CSRF check, reason returned, not raised.
    def no_response(_request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
        return HttpResponse()

    check = CSRFCheck(no_response)
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    return str(reason) if reason else None


def identify(request: HttpRequest) -> Principal | None:
    """The caller (None: anonymous). AuthFailure when credentials are present but unusable."""
    token = _token_from_headers(request)
    if token is not None:
        if not token:
            raise AuthFailure(401, "Empty authorization token", tokens.INVALID_TOKEN)
        return _principal_from_token(token)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if request.method not in SAFE_METHODS:
        reason = _csrf_failure(request)
        if reason:
            raise AuthFailure(403, f"CSRF Failed: {reason}", None)
    return Principal(kind="session", name=user.get_username(), role=session_role(user))


class ApiAuthMiddleware:
    """Must come after AuthenticationMiddleware (it reads ``request.user`` for sessions)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        path = request.path_info
        if not is_api_path(path):
            return None
        if not auth_enabled():
            request.baton_principal = TRUSTED  # type: ignore[attr-defined]
            return None
        need = permissions.required_role(request.method or "GET", path)
        if need == permissions.PUBLIC:
            request.baton_principal = ANONYMOUS  # type: ignore[attr-defined]
            return None
        try:
            principal = identify(request)
        except AuthFailure as failure:
            return error_response(failure.status, failure.message, failure.code)
        if principal is None:
            # INVALID_TOKEN here too: an SDK whose first token request failed (server still
            # starting) sends no header at all, and only this code makes it fetch one again.
            return error_response(401, "Authentication required: send a token in X-Authorization", tokens.INVALID_TOKEN)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == NOT_FOUND_ROUTE and principal.role is not None:
            need = Role.READ_ONLY
        if principal.role is None:
            return error_response(403, f"User '{principal.name}' has no Baton role", "ACCESS_DENIED")
        if not permissions.allows(principal.role, need):
            return error_response(
                403,
                f"Access denied: {request.method} {path} needs role {need}; "
                f"{principal.kind} '{principal.name}' has {principal.role}",
                "ACCESS_DENIED",
            )
        request.baton_principal = principal  # type: ignore[attr-defined]
        return None
