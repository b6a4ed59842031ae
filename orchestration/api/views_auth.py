"""``/api/token``: Conductor's (Orkes') token endpoint, which SDKs call before anything else.

``POST /api/token`` with ``{"keyId": ..., "keySecret": ...}`` answers ``{"token": ...}``; the
SDK then sends the token in ``X-Authorization`` and asks for a new one before it expires
(conductor-python: every 45 minutes, and whenever a 401 carries INVALID_TOKEN/EXPIRED_TOKEN).

With authentication disabled the whole area answers Conductor's JSON 404, exactly like
Conductor OSS (which has no /api/token): the SDKs take that 404 as "this server is open" and
stop sending credentials, so the same client configuration works against either mode.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.errors import api_not_found
from orchestration.api.renderers import ConductorView
from orchestration.errors import BadRequest
from orchestration.security import keys, tokens
from orchestration.security.middleware import ANONYMOUS, auth_enabled, error_response

# Deliberately not INVALID_TOKEN/EXPIRED_TOKEN: on those the SDK fetches a token and retries,
# and at the token endpoint itself that would recurse.
BAD_CREDENTIALS = "INVALID_CREDENTIALS"


class TokenView(ConductorView):
    def post(self, request: Request) -> HttpResponse:
        if not auth_enabled():
            return api_not_found(request._request)
        body = wire.read_json_object(request, "a GenerateTokenRequest")
        key_id, secret = body.get("keyId"), body.get("keySecret")
        if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
            raise BadRequest("keyId and keySecret are required (strings)")
        key = keys.authenticate(key_id, secret)
        if key is None:
            # One message for an unknown id, a wrong secret and a revoked key alike: the answer
            # must not tell a guesser which key ids exist.
            return error_response(401, "Invalid keyId or keySecret", BAD_CREDENTIALS)
        token = tokens.issue(key.key_id, key.role, keys.fingerprint(key.secret_hash))
        return Response({"token": token})


class UserInfoView(ConductorView):
    """``GET /api/token/userInfo``: who the token (or session) belongs to, in the shape of
    Orkes' ConductorUser (the SDKs' ``get_user_info``)."""

    def get(self, request: Request) -> HttpResponse:
        if not auth_enabled():
            return api_not_found(request._request)
        principal = getattr(request._request, "baton_principal", ANONYMOUS)
        body: dict[str, Any] = {
            "id": principal.key_id or principal.name,
            "name": principal.name,
            "roles": [{"name": principal.role, "permissions": []}] if principal.role else [],
            "groups": [],
            "applicationUser": principal.kind == "key",
            "uuid": principal.key_id or principal.name,
        }
        return Response(body)
