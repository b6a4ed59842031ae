"""``make run``: one command that brings up a complete Baton on this machine.

    python -m conductor_project.launcher

Prepares the state directory, the embedded broker (unless CELERY_BROKER_URL names one), the
database schema, the example definitions and an admin user, then runs the web server, a Celery
worker and Celery beat as child processes and supervises them: Ctrl-C or SIGTERM stops them all,
and if one dies the others are stopped too, so a half-running system is never left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_project.settings")

STOP_TIMEOUT_SECONDS = 10.0
WEB_READY_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.2


class _Signals:
    """Records SIGINT/SIGTERM instead of raising: the launcher decides where it is safe to stop
    (never halfway through spawning a child it would then fail to track)."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            print(f"\nbaton: {signal.Signals(signum).name} received, stopping...", flush=True)
        self.received = signum


class _Child:
    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        # Own process group: a terminal Ctrl-C reaches only the launcher, which then stops the
        # children in order (web and workers before the broker they talk to), and a final
        # killpg also reaches grandchildren such as Celery's prefork pool.
        self.proc = subprocess.Popen(
            list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def terminate(self) -> None:
        if self.proc.poll() is None:
            # SIGTERM to the leader only: Celery's worker then does a warm shutdown and stops
            # its own pool, rather than having the pool killed under it.
            self.proc.terminate()

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _stop_children(children: Sequence[_Child]) -> None:
    for child in children:
        child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        try:
            child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(
                f"baton: {child.name} did not stop within {STOP_TIMEOUT_SECONDS:.0f}s, killing it", flush=True
            )
        # Whether or not the leader stopped in time, leave nothing of its group behind.
        child.kill_group()
        child.proc.wait()


def _manage(*args: str, env: dict[str, str], cwd: Path) -> int:
    return subprocess.call([sys.executable, "manage.py", *args], env=env, cwd=cwd)


def _ensure_admin(debug: bool) -> None:
    """Create the console's superuser on first run and say how to log in."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    user_model = get_user_model()
    username = "admin"
    env_password = os.environ.get("BATON_ADMIN_PASSWORD")
    try:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            # Outside development a well-known password would be an open door: make one up.
            password = env_password or ("admin" if debug else secrets.token_urlsafe(12))
            user_model.objects.create_superuser(username=username, email="", password=password)
            print(f"baton: created superuser '{username}' with password '{password}'")
        elif env_password:
            user.set_password(env_password)
            user.save(update_fields=["password"])
            print(f"baton: superuser '{username}' password set from BATON_ADMIN_PASSWORD")
        else:
            print(f"baton: superuser '{username}' exists; its password is unchanged")
    finally:
        # The launcher only supervises from here on: hold no database connection (a SQLite
        # handle in this process would just be one more writer to wait for).
        connections.close_all()


def _ensure_dev_key(debug: bool, state_dir: Path, base_url: str) -> None:
    """With API authentication on, make (or reuse) the development ADMIN key and print how to
    use it. Its id and secret are kept in ``<state>/dev-key.json`` (0600) so they stay the same
    from one ``make run`` to the next, and SDK settings copied once keep working."""
    from django.conf import settings

    if not settings.BATON.get("AUTH_ENABLED", True):
        print(
            "baton: API authentication is OFF (BATON_AUTH_ENABLED=false): anyone who can reach "
            "the port is an admin",
            flush=True,
        )
        return
    if not debug:
        # Outside development an ADMIN secret in a file and on the console is not wanted:
        # say how to make keys instead.
        print(
            "baton: API authentication is on; create keys with "
            "'python manage.py create_app_key --name NAME --role ROLE' or in the admin",
            flush=True,
        )
        return
    from django.db import connections

    from orchestration.security import keys

    path = state_dir / "dev-key.json"
    try:
        dev = keys.ensure_dev_key(path)
    finally:
        connections.close_all()
    body = f'{{"keyId":"{dev.key_id}","keySecret":"{dev.secret}"}}'
    print(
        f"baton: API authentication is on; development key ({dev.role}, {dev.status}, kept in {path}):\n"
        f"  keyId      {dev.key_id}\n"
        f"  keySecret  {dev.secret}\n"
        "  SDK:  export CONDUCTOR_SERVER_URL="
        f"{base_url}/api CONDUCTOR_AUTH_KEY={dev.key_id} CONDUCTOR_AUTH_SECRET={dev.secret}\n"
        f"  curl: TOKEN=$(curl -s -X POST {base_url}/api/token -H 'Content-Type: application/json' "
        f"-d '{body}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')\n"
        f'        curl -H "X-Authorization: $TOKEN" {base_url}/api/metadata/taskdefs',
        flush=True,
    )


def _wait_for_port(host: str, port: int, children: Sequence[_Child], signals: _Signals) -> bool:
    deadline = time.monotonic() + WEB_READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and signals.received is None:
        if any(child.proc.poll() is not None for child in children):
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(POLL_SECONDS)
    return False


def main() -> int:
    from django.conf import settings

    from conductor_project import embedded_redis

    signals = _Signals()
    signals.install()

    base_dir = Path(settings.BASE_DIR)
    state_dir = Path(settings.STATE_DIR)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("BATON_PORT", "8080"))
    host = "127.0.0.1"
    concurrency = os.environ.get("BATON_WORKER_CONCURRENCY", "2")

    env = dict(os.environ)
    # Children must agree with the launcher on where state and the broker live, whatever
    # the working directory or a later change of defaults.
    env["BATON_STATE_DIR"] = str(state_dir)
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.setdefault("PYTHONUNBUFFERED", "1")

    broker = None
    children: list[_Child] = []
    try:
        if "CELERY_BROKER_URL" not in os.environ:
            broker = embedded_redis.ensure_running(Path(settings.EMBEDDED_REDIS_SOCKET), state_dir)
            where = "started" if broker is not None else "already running"
            print(f"baton: embedded redis {where} on {settings.EMBEDDED_REDIS_SOCKET}", flush=True)
        else:
            print(f"baton: using broker {settings.CELERY_BROKER_URL}", flush=True)

        if signals.received is not None:
            return 0
        # A Ctrl-C in the terminal also interrupts these steps (same process group): check the
        # signal first, so a requested stop is not reported as a failure.
        migrated = _manage("migrate", "--noinput", env=env, cwd=base_dir)
        if signals.received is not None:
            return 0
        if migrated != 0:
            print("baton: migrate failed; not starting", file=sys.stderr, flush=True)
            return 1
        # Example definitions are a convenience: a bad or missing file must not keep the
        # server from starting.
        loaded = _manage("load_definitions", "workers/examples/definitions", env=env, cwd=base_dir)
        if signals.received is not None:
            return 0
        if loaded != 0:
            print("baton: load_definitions failed (see above); continuing without the examples", flush=True)
        _ensure_admin(bool(settings.DEBUG))
        if signals.received is not None:
            return 0
        _ensure_dev_key(bool(settings.DEBUG), state_dir, f"http://{host}:{port}")
        if signals.received is not None:
            return 0

        commands: list[tuple[str, list[str]]] = [
            ("web", [sys.executable, "-m", "uvicorn", "conductor_project.asgi:application",
                     "--host", host, "--port", str(port), "--lifespan", "off"]),
            # User tasks and Baton's own work (sweeps, queued decides) get separate processes:
            # a pool full of long user tasks must not hold back the timeouts that watch them.
            ("worker", [sys.executable, "-m", "celery", "-A", "conductor_project", "worker",
                        "-l", "warning", "-c", concurrency, "-n", "baton-tasks@%h",
                        "-X", "baton.system,baton.decide"]),
            ("system", [sys.executable, "-m", "celery", "-A", "conductor_project", "worker",
                        "-l", "warning", "-c", "1", "-n", "baton-system@%h",
                        "-Q", "baton.system,baton.decide"]),
            ("beat", [sys.executable, "-m", "celery", "-A", "conductor_project", "beat",
                      "-l", "warning", "-s", str(state_dir / "celerybeat-schedule")]),
        ]  # fmt: skip
        for name, argv in commands:
            children.append(_Child(name, argv, env, base_dir))

        if _wait_for_port(host, port, children, signals):
            base = f"http://{host}:{port}"
            auth = "OFF" if not settings.BATON.get("AUTH_ENABLED", True) else "on (X-Authorization token from POST /api/token)"
            print(
                f"\nBaton is running (pids: {', '.join(f'{c.name}={c.proc.pid}' for c in children)})\n"
                f"  API base  {base}/api/\n"
                f"  admin     {base}/admin/   (log in as 'admin'; password as printed above)\n"
                f"  health    {base}/health\n"
                f"  API auth  {auth}\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )

        while signals.received is None:
            for child in children:
                code = child.proc.poll()
                if code is not None:
                    print(
                        f"baton: {child.name} exited unexpectedly with code {code}; stopping the rest",
                        file=sys.stderr,
                        flush=True,
                    )
                    return code if code > 0 else 1
            time.sleep(POLL_SECONDS)
        return 0
    finally:
        # A second Ctrl-C while stopping must not cut the shutdown short and orphan children;
        # the shutdown is bounded anyway (terminate, wait, kill).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_children(children)
        embedded_redis.stop(broker)
        if children or broker is not None:
            print("baton: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
