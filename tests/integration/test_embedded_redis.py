"""The zero-setup broker: start, answer, stop, and no second server on a live socket."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from conductor_project import embedded_redis


@pytest.fixture
def sock_path() -> Iterator[Path]:
    # A short directory of its own: pytest's tmp_path can exceed the 107-byte sun_path limit.
    directory = Path(tempfile.mkdtemp(prefix="baton-redis-"))
    try:
        yield directory / "redis.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_start_ping_stop(sock_path: Path) -> None:
    proc = embedded_redis.ensure_running(sock_path)
    try:
        assert proc is not None
        assert embedded_redis.ping(sock_path)
        client = redis.Redis(unix_socket_path=str(sock_path))
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        embedded_redis.stop(proc)
    assert proc.poll() is not None
    assert not embedded_redis.ping(sock_path)
    assert not sock_path.exists()  # a clean shutdown removes the socket
    embedded_redis.stop(proc)  # stopping twice is harmless


def test_ensure_running_is_idempotent(sock_path: Path) -> None:
    first = embedded_redis.ensure_running(sock_path)
    try:
        assert first is not None
        # Someone else's live server on the path is reused, never replaced.
        assert embedded_redis.ensure_running(sock_path) is None
        assert first.poll() is None
    finally:
        embedded_redis.stop(first)
    embedded_redis.stop(None)


def test_stale_socket_file_is_replaced(sock_path: Path) -> None:
    # What a killed server leaves behind: a bound unix socket nobody listens on.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()
    assert sock_path.exists()

    proc = embedded_redis.ensure_running(sock_path)
    try:
        assert proc is not None
        assert embedded_redis.ping(sock_path)
    finally:
        embedded_redis.stop(proc)


def test_restart_after_kill(sock_path: Path) -> None:
    proc = embedded_redis.ensure_running(sock_path)
    assert proc is not None
    proc.kill()
    proc.wait()
    again = embedded_redis.ensure_running(sock_path)
    try:
        assert again is not None
        assert embedded_redis.ping(sock_path)
    finally:
        embedded_redis.stop(again)


def test_too_long_socket_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="BATON_STATE_DIR"):
        embedded_redis.ensure_running(tmp_path / ("x" * 120) / "redis.sock")


def test_session_broker_answers(redis_client: redis.Redis) -> None:
    # Whatever this session runs on (embedded or CELERY_BROKER_URL), the root conftest made it reachable.
    assert redis_client.ping()
