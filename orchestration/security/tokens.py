"""The tokens ``POST /api/token`` issues and ``X-Authorization`` carries back.

A token is a compact JWT (HS256): Orkes hands out JWTs too, so a tool that peeks at ``exp`` to
know when to refresh keeps working, yet nothing here needs a JWT library. Only Baton verifies
these tokens, so the format is fixed: the header must be exactly ours (no ``alg`` negotiation,
hence no "alg: none" downgrade), and the signature is Django's ``salted_hmac`` over the
signing input, keyed by ``SECRET_KEY`` (and, for verification, ``SECRET_KEY_FALLBACKS``, so a
key rotation does not log every client out at once).

Claims:
    sub   application key id
    role  the key's role when the token was issued
    kfp   fingerprint of the key's secret hash: rotating the secret invalidates older tokens
    iat   issued at (epoch seconds)
    exp   expires at (epoch seconds)
    iss   "baton"

Tokens are stateless: checking one costs an HMAC, never a database query. Revocation is
handled by the caller (``keys.key_state``), which re-reads the key through a brief cache.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from orchestration import clock

# Distinct from every other salted_hmac use of SECRET_KEY in Django (sessions, signing...).
_SALT = "baton.security.tokens.api-token"
_HEADER = {"alg": "HS256", "typ": "JWT"}
_ISSUER = "baton"
# A real token is ~300 characters; refuse absurd headers before decoding anything.
MAX_TOKEN_LENGTH = 4096
DEFAULT_TTL_SECONDS = 3600

# The error codes Conductor's SDKs look for in a 401 body (field ``error``) to decide to fetch a
# new token and retry the request once (conductor-python ``AuthorizationException``).
INVALID_TOKEN = "INVALID_TOKEN"
EXPIRED_TOKEN = "EXPIRED_TOKEN"


class TokenError(Exception):
    """The token cannot be used; ``code`` is INVALID_TOKEN or EXPIRED_TOKEN."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenClaims:
    key_id: str
    role: str
    key_fingerprint: str
    issued_at: int
    expires_at: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_segment(value: dict[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


_HEADER_SEGMENT = _json_segment(_HEADER)


def _signature(signing_input: str, secret: str | bytes) -> str:
    return _b64encode(salted_hmac(_SALT, signing_input, secret=secret, algorithm="sha256").digest())


def ttl_seconds() -> int:
    return int(settings.BATON.get("AUTH_TOKEN_TTL_SECONDS", DEFAULT_TTL_SECONDS))


def issue(key_id: str, role: str, key_fingerprint: str, *, ttl: int | None = None, now: float | None = None) -> str:
    """A signed token for an application key, valid ``ttl`` seconds (default: the setting)."""
    issued_at = int(clock.now_seconds() if now is None else now)
    lifetime = ttl_seconds() if ttl is None else ttl
    payload = {
        "sub": key_id,
        "role": role,
        "kfp": key_fingerprint,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "iss": _ISSUER,
    }
    signing_input = f"{_HEADER_SEGMENT}.{_json_segment(payload)}"
    return f"{signing_input}.{_signature(signing_input, settings.SECRET_KEY)}"


def decode(token: str, *, now: float | None = None) -> TokenClaims:
    """The claims of a token this server issued and that has not expired; TokenError otherwise.

    The signature is checked before anything in the payload is believed, so a forged token is
    always INVALID_TOKEN, never EXPIRED_TOKEN (which would only send the client to refresh).
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(INVALID_TOKEN, "Invalid token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _HEADER_SEGMENT:
        raise TokenError(INVALID_TOKEN, "Invalid token")
    signing_input = f"{parts[0]}.{parts[1]}"
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(parts[2], _signature(signing_input, secret)) for secret in secrets):
        raise TokenError(INVALID_TOKEN, "Invalid token")
    try:
        payload = json.loads(_b64decode(parts[1]))
        claims = TokenClaims(
            key_id=str(payload["sub"]),
            role=str(payload["role"]),
            key_fingerprint=str(payload["kfp"]),
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        # Signed by us but not in our shape: only possible across incompatible versions.
        raise TokenError(INVALID_TOKEN, "Invalid token") from None
    current = clock.now_seconds() if now is None else now
    if current >= claims.expires_at:
        raise TokenError(EXPIRED_TOKEN, "Token expired")
    return claims
