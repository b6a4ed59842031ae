"""Application keys: a key id and a secret that SDKs exchange for a token at ``POST /api/token``.

Secrets are generated here (288 random bits), shown once, and stored only as a SHA-256 hash.
Why not Django's password hashers: PBKDF2 at Django 5.2's 1,000,000 iterations costs ~0.26 s of
CPU per check (measured on the development machine), which would let any anonymous caller of
``/api/token`` pin a core with a few requests a second. Key stretching exists to protect
*guessable* passwords; a random 288-bit secret cannot be guessed from its hash whatever the
hash costs, and SHA-256 checks it in under a microsecond. The hash is only ever computed at
``/api/token``; authenticated requests check a token's HMAC instead.

Every token-authenticated request asks ``key_state`` whether its key still exists, is active and
still has the same role and secret. The answer is cached in-process for
``BATON["AUTH_KEY_CACHE_SECONDS"]`` (5 s by default), so the request path costs no query; a
revocation takes effect at once in the process that saved it (signals clear the cache) and
within that many seconds in every other process.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare

from orchestration import clock
from orchestration.clock import now_ms
from orchestration.models import ApplicationKey, Role

HASH_PREFIX = "sha256$"
SECRET_BYTES = 36  # 288 bits, 48 URL-safe characters
DEFAULT_CACHE_SECONDS = 5.0
DEV_KEY_NAME = "development key (make run)"

# Compared against when the key id is unknown, so an unknown id and a wrong secret take the
# same time (the work is tiny either way; this only removes the difference).
_DUMMY_HASH = HASH_PREFIX + hashlib.sha256(b"baton-no-such-key").hexdigest()


def generate_key_id() -> str:
    # Orkes key ids are UUIDs; SDK configuration examples look the same.
    return str(uuid.uuid4())


def generate_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return HASH_PREFIX + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def verify_secret(secret: str, stored_hash: str) -> bool:
    # Fail closed on any other format: a hash this module did not write is never accepted.
    if not stored_hash.startswith(HASH_PREFIX):
        return False
    return constant_time_compare(hash_secret(secret), stored_hash)


def fingerprint(secret_hash: str) -> str:
    """A short, non-reversible tag of the stored hash, carried in tokens: when the secret is
    rotated the fingerprint changes and tokens minted with the old secret stop working."""
    return hashlib.sha256(f"baton-kfp:{secret_hash}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class NewKey:
    """A key just made; ``secret`` exists only here and is never stored."""

    key: ApplicationKey
    secret: str


def create_key(name: str, role: str, *, key_id: str | None = None, secret: str | None = None) -> NewKey:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(Role.values)}")
    plain = secret or generate_secret()
    key = ApplicationKey.objects.create(
        key_id=key_id or generate_key_id(),
        secret_hash=hash_secret(plain),
        name=name,
        role=role,
        active=True,
        create_time=now_ms(),
    )
    return NewKey(key=key, secret=plain)


def rotate_secret(key: ApplicationKey) -> str:
    """Give ``key`` a new secret (returned, not stored); its outstanding tokens stop working."""
    plain = generate_secret()
    key.secret_hash = hash_secret(plain)
    key.save(update_fields=["secret_hash"])
    return plain


def authenticate(key_id: str, secret: str) -> ApplicationKey | None:
    """The active key with this id and secret, or None. Records the use (``last_used_time``)."""
    key = ApplicationKey.objects.filter(key_id=key_id).first()
    matches = verify_secret(secret, key.secret_hash if key is not None else _DUMMY_HASH)
    if key is None or not matches or not key.active:
        return None
    # One UPDATE per token, not per request: SDKs fetch a token every ~45 minutes.
    key.last_used_time = now_ms()
    ApplicationKey.objects.filter(pk=key.pk).update(last_used_time=key.last_used_time)
    return key


# --- the per-request check, cached -----------------------------------------------------------


@dataclass(frozen=True)
class KeyState:
    key_id: str
    name: str
    role: str
    active: bool
    fingerprint: str


_cache: dict[str, tuple[float, KeyState | None]] = {}
_cache_lock = threading.Lock()


def _cache_seconds() -> float:
    return float(settings.BATON.get("AUTH_KEY_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))


def key_state(key_id: str) -> KeyState | None:
    """The key's current state (None when it does not exist), at most the cache period old."""
    ttl = _cache_seconds()
    # Baton's clock, so a test can let an entry expire; an entry whose expiry lies further
    # ahead than one period (the wall clock was set back) counts as stale, or a revocation
    # could go unseen for as long as the clock jumped.
    now = clock.now_seconds()
    if ttl > 0:
        with _cache_lock:
            hit = _cache.get(key_id)
        if hit is not None and now < hit[0] <= now + ttl:
            return hit[1]
    row = ApplicationKey.objects.filter(key_id=key_id).values("name", "role", "active", "secret_hash").first()
    state = (
        None
        if row is None
        else KeyState(
            key_id=key_id,
            name=row["name"],
            role=row["role"],
            active=row["active"],
            fingerprint=fingerprint(row["secret_hash"]),
        )
    )
    if ttl > 0:
        with _cache_lock:
            # Unknown ids are cached too: a flood of tokens naming a deleted key must not
            # become a flood of queries.
            _cache[key_id] = (now + ttl, state)
            if len(_cache) > 10_000:  # keys are few; this only bounds pathological growth
                _cache.clear()
    return state


def invalidate(key_id: str | None = None) -> None:
    """Forget cached key state (one key, or all): the next request re-reads the database."""
    with _cache_lock:
        if key_id is None:
            _cache.clear()
        else:
            _cache.pop(key_id, None)


@receiver(post_save, sender=ApplicationKey, dispatch_uid="baton-key-cache-save")
@receiver(post_delete, sender=ApplicationKey, dispatch_uid="baton-key-cache-delete")
def _key_changed(sender: type[ApplicationKey], instance: ApplicationKey, **kwargs: Any) -> None:
    invalidate(instance.key_id)


# --- the development key of ``make run`` -----------------------------------------------------


@dataclass(frozen=True)
class DevKey:
    key_id: str
    secret: str
    role: str
    status: str  # "created", "reused" or "restored"


def _write_private(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start (never world-readable, not even briefly), then forced to 0600
    # in case an older file had wider permissions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.chmod(path, 0o600)


def _read_dev_file(path: Path) -> tuple[str, str] | None:
    try:
        data = json.loads(path.read_text())
        key_id, secret = data["keyId"], data["keySecret"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
        return None
    return key_id, secret


def ensure_dev_key(path: Path, *, name: str = DEV_KEY_NAME) -> DevKey:
    """The development ADMIN key, stable across runs: its id and secret live in ``path`` (0600).

    - file and matching active key: reused;
    - file but no such key (a fresh database, another DATABASE_URL): the same credentials are
      stored again, so SDK settings copied from an earlier run keep working;
    - no file, or the key was revoked or its secret rotated: a new key, and the file rewritten
      (a revoked key is never brought back to life).
    """
    stored = _read_dev_file(path)
    if stored is not None:
        key_id, secret = stored
        key = ApplicationKey.objects.filter(key_id=key_id).first()
        if key is None:
            new = create_key(name, Role.ADMIN, key_id=key_id, secret=secret)
            return DevKey(new.key.key_id, secret, new.key.role, "restored")
        if key.active and verify_secret(secret, key.secret_hash):
            return DevKey(key.key_id, secret, key.role, "reused")
    new = create_key(name, Role.ADMIN)
    _write_private(path, {"keyId": new.key.key_id, "keySecret": new.secret})
    return DevKey(new.key.key_id, new.secret, new.key.role, "created")
