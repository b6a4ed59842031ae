"""Tokens, secret hashing and the role table, without a database or a server."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from orchestration.models import Role
from orchestration.security import keys, permissions, tokens

R, W, OP, A, P = Role.READ_ONLY, Role.WORKER, Role.OPERATOR, Role.ADMIN, permissions.PUBLIC

# Every route of Conductor's REST API with the least role it needs. Routes Baton does not
# serve yet are listed too: the table must be right before they arrive.
EXPECTED = [
    ("GET", "/health", P),
    ("GET", "/api/health", P),
    ("POST", "/api/token", P),
    ("GET", "/api/token", A),  # only POST is public
    ("GET", "/api/token/userInfo", R),
    ("GET", "/api/version", R),
    ("GET", "/api/schema", R),
    ("GET", "/api/docs", R),
    ("GET", "/api/docs/assets/swagger-ui-dist/swagger-ui.css", R),
    ("POST", "/api/schema", A),
    # metadata
    ("GET", "/api/metadata/taskdefs", R),
    ("GET", "/api/metadata/taskdefs/t", R),
    ("POST", "/api/metadata/taskdefs", A),
    ("PUT", "/api/metadata/taskdefs", A),
    ("DELETE", "/api/metadata/taskdefs/t", A),
    ("GET", "/api/metadata/workflow", R),
    ("GET", "/api/metadata/workflow/names-and-versions", R),
    ("GET", "/api/metadata/workflow/w/versions", R),
    ("POST", "/api/metadata/workflow", A),
    ("PUT", "/api/metadata/workflow", A),
    ("DELETE", "/api/metadata/workflow/w/1", A),
    ("POST", "/api/metadata/workflow/validate", R),
    # workflow reads
    ("GET", "/api/workflow/abc", R),
    ("GET", "/api/workflow/abc/status", R),
    ("GET", "/api/workflow/abc/tasks", R),
    ("GET", "/api/workflow/running/w", R),
    ("GET", "/api/workflow/w/correlated/c", R),
    ("POST", "/api/workflow/w/correlated", R),
    ("GET", "/api/workflow/search", R),
    ("GET", "/api/workflow/search-by-tasks-v2", R),
    ("GET", "/api/workflow/externalstoragelocation", R),
    ("POST", "/api/workflow/bulk/search", R),
    # workflow control
    ("POST", "/api/workflow", OP),
    ("POST", "/api/workflow/w", OP),
    ("POST", "/api/workflow/search", OP),  # Conductor: starts the workflow named "search"
    ("POST", "/api/workflow/execute/w/1", OP),
    ("POST", "/api/workflow/test", OP),
    ("DELETE", "/api/workflow/abc", OP),
    ("DELETE", "/api/workflow/abc/remove", OP),
    ("DELETE", "/api/workflow/abc/terminate-remove", OP),
    ("PUT", "/api/workflow/abc/pause", OP),
    ("PUT", "/api/workflow/abc/resume", OP),
    ("PUT", "/api/workflow/abc/skiptask/ref", OP),
    ("POST", "/api/workflow/abc/rerun", OP),
    ("POST", "/api/workflow/abc/restart", OP),
    ("POST", "/api/workflow/abc/retry", OP),
    ("POST", "/api/workflow/abc/resetcallbacks", OP),
    ("PUT", "/api/workflow/decide/abc", OP),
    ("PUT", "/api/workflow/bulk/pause", OP),
    ("PUT", "/api/workflow/bulk/resume", OP),
    ("POST", "/api/workflow/bulk/restart", OP),
    ("POST", "/api/workflow/bulk/retry", OP),
    ("POST", "/api/workflow/bulk/terminate", OP),
    ("DELETE", "/api/workflow/bulk/remove", OP),
    ("DELETE", "/api/workflow/bulk/terminate-remove", OP),
    # tasks
    ("GET", "/api/tasks/poll/t", W),
    ("GET", "/api/tasks/poll/batch/t", W),
    ("POST", "/api/tasks", W),
    ("POST", "/api/tasks/", W),
    ("POST", "/api/tasks/update-v2", W),
    ("POST", "/api/tasks/abc/ack", W),
    ("POST", "/api/tasks/abc/log", W),
    ("GET", "/api/tasks/abc/log", R),
    ("POST", "/api/tasks/wf/ref/COMPLETED", W),
    ("POST", "/api/tasks/wf/ref/COMPLETED/sync", W),
    ("POST", "/api/tasks/wf/COMPLETED/signal", W),
    ("POST", "/api/tasks/wf/COMPLETED/signal/sync", W),
    ("GET", "/api/tasks/abc", R),
    ("GET", "/api/tasks/search", R),
    ("GET", "/api/tasks/queue/all/verbose", R),
    ("GET", "/api/tasks/queue/polldata", R),
    ("POST", "/api/tasks/queue/requeue/t", OP),
    # event handlers
    ("GET", "/api/event", R),
    ("GET", "/api/event/sqs:q", R),
    ("POST", "/api/event", A),
    ("PUT", "/api/event", A),
    ("DELETE", "/api/event/h", A),
    # internal event queue
    ("GET", "/api/queue/size", R),
    ("POST", "/api/queue/update/wf/ref/COMPLETED", W),
    ("POST", "/api/queue/update/wf/task/tid/COMPLETED", W),
    # admin, and what no rule names
    ("GET", "/api/admin/config", A),
    ("GET", "/api/admin/task/t", A),
    ("POST", "/api/admin/sweep/requeue/wf", A),
    ("POST", "/api/admin/consistency/verifyAndRepair/wf", A),
    ("GET", "/api/scheduler/schedules", A),
    ("POST", "/api/something/new", A),
    ("PATCH", "/api/tasks", A),
    ("PROPFIND", "/api/workflow/abc", A),
]


@pytest.mark.parametrize(("method", "path", "role"), EXPECTED)
def test_role_table(method: str, path: str, role: str) -> None:
    assert permissions.required_role(method, path) == role


def test_head_and_options_are_reads() -> None:
    assert permissions.required_role("HEAD", "/api/metadata/taskdefs") == R
    assert permissions.required_role("options", "/api/workflow") == R


def test_roles_are_ordered() -> None:
    assert permissions.allows(A, W) and permissions.allows(W, W) and not permissions.allows(W, OP)
    assert permissions.allows(R, P)
    assert not permissions.allows("NOBODY", R)
    assert permissions.roles_below(OP) == [R, W]


# --- tokens --------------------------------------------------------------------------------------


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_token_round_trip() -> None:
    token = tokens.issue("k1", "WORKER", "fp", ttl=60, now=1_000_000)
    claims = tokens.decode(token, now=1_000_030)
    assert claims == tokens.TokenClaims("k1", "WORKER", "fp", 1_000_000, 1_000_060)
    # It looks like (and is) a JWT: three base64url parts.
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_expired_token() -> None:
    token = tokens.issue("k1", "WORKER", "fp", ttl=60, now=1_000_000)
    with pytest.raises(tokens.TokenError) as error:
        tokens.decode(token, now=1_000_060)
    assert error.value.code == tokens.EXPIRED_TOKEN


def test_forged_tokens_are_invalid_never_expired() -> None:
    token = tokens.issue("k1", "WORKER", "fp", ttl=60, now=1_000_000)
    header, payload, signature = token.split(".")
    admin_payload = _segment({"sub": "k1", "role": "ADMIN", "kfp": "fp", "iat": 0, "exp": 1, "iss": "baton"})
    none_header = _segment({"alg": "none", "typ": "JWT"})
    forged = [
        f"{header}.{admin_payload}.{signature}",  # changed claims
        f"{none_header}.{payload}.",  # alg none
        f"{none_header}.{payload}.{signature}",  # other header, same signature
        f"{header}.{payload}",
        token + ".x",
        "x" * (tokens.MAX_TOKEN_LENGTH + 1),
        "",
    ]
    for bad in forged:
        with pytest.raises(tokens.TokenError) as error:
            tokens.decode(bad, now=1_000_000_000)  # long after expiry: still INVALID, not EXPIRED
        assert error.value.code == tokens.INVALID_TOKEN, bad


def test_tokens_depend_on_the_secret_key(settings: Any) -> None:
    token = tokens.issue("k1", "WORKER", "fp", ttl=60)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-for-this-test"
    with pytest.raises(tokens.TokenError):
        tokens.decode(token)
    # A rotated SECRET_KEY keeps the old one among the fallbacks: tokens survive the rotation.
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert tokens.decode(token).key_id == "k1"


def test_token_ttl_setting(settings: Any) -> None:
    settings.BATON = {**settings.BATON, "AUTH_TOKEN_TTL_SECONDS": 120}
    now = 1_700_000_000.0  # any instant: the token is issued and read at the same one
    claims = tokens.decode(tokens.issue("k", "ADMIN", "fp", now=now), now=now)
    assert claims.expires_at - claims.issued_at == 120


# --- secrets -------------------------------------------------------------------------------------


def test_secret_hashing() -> None:
    secret = keys.generate_secret()
    assert len(secret) == 48
    stored = keys.hash_secret(secret)
    assert stored.startswith("sha256$") and secret not in stored
    assert keys.verify_secret(secret, stored)
    assert not keys.verify_secret(secret + "x", stored)
    # Any format this module did not write is refused, even a matching plain value.
    assert not keys.verify_secret(secret, secret)
    assert not keys.verify_secret(secret, "pbkdf2_sha256$1$salt$hash")


def test_fingerprint_follows_the_hash() -> None:
    first, second = keys.hash_secret("a"), keys.hash_secret("b")
    assert keys.fingerprint(first) == keys.fingerprint(first)
    assert keys.fingerprint(first) != keys.fingerprint(second)
    assert first.removeprefix("sha256$")[:16] != keys.fingerprint(first)  # not the hash itself
