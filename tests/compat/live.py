"""A live Baton for the compatibility suites: its web server, worker and beat processes (from
tests/acceptance/cluster.py), the key SDKs log in with, and helpers to run SDK processes
beside it. The fixture that starts it is in conftest.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# tests/ is on sys.path for the test packages under it (pytest's default "prepend" import mode),
# so tests/acceptance/cluster.py is the same module its own conftest uses.
from acceptance.cluster import (
    POLL_SECONDS,
    READY_TIMEOUT_SECONDS,
    BatonCluster,
    BatonProcess,
)

HOST = "127.0.0.1"
# Every definition and task type a compat test creates starts with this, so leftovers (queues in
# the broker) are recognisable and can be removed at the end.
NAME_PREFIX = "compat_"
HTTP_TIMEOUT_SECONDS = 30.0


def unique_name(purpose: str) -> str:
    return f"{NAME_PREFIX}{purpose}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _current_test() -> str:
    # "path::name (call)" while a test runs; the node id is what the report hook compares.
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]


@dataclass
class LiveBaton:
    """A running Baton and an ADMIN application key for it."""

    base_url: str  # http://127.0.0.1:<port>
    key_id: str
    key_secret: str = field(repr=False)
    cluster: BatonCluster
    workdir: Path
    # Processes tests start (SDK workers): (node id of the test, process).
    extra: list[tuple[str, BatonProcess]] = field(default_factory=list)
    _token: str | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    # -- plain HTTP, for set-up and checks that are not the SDK's job --------------------------
    def token(self) -> str:
        if self._token is None:
            status, body = self.call(
                "POST", "/token", {"keyId": self.key_id, "keySecret": self.key_secret}, auth=False
            )
            assert status == 200 and isinstance(body, dict) and body.get("token"), (status, body)
            self._token = str(body["token"])
        return self._token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        """``method {api_url}{path}``; returns (status, parsed JSON or text or None)."""
        url = self.api_url + path
        if params:
            url += "?" + urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("X-Authorization", self.token())
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        if not raw:
            return status, None
        text = raw.decode("utf-8", errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    # -- other processes -----------------------------------------------------------------------
    def client_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for an SDK process: the caller's, minus Baton's own settings, plus the
        variables every Conductor SDK reads (server URL and key)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "COV_", "CONDUCTOR_", "BATON_", "DJANGO_"))
            and k not in {"DATABASE_URL", "CELERY_BROKER_URL"}
        }
        env.update(
            CONDUCTOR_SERVER_URL=self.api_url,
            CONDUCTOR_AUTH_KEY=self.key_id,
            CONDUCTOR_AUTH_SECRET=self.key_secret,
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(extra or {})
        return env

    @contextlib.contextmanager
    def process(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> Iterator[BatonProcess]:
        """Run ``argv`` (cwd: the project) in its own process group for the duration of the
        ``with``; its output goes to a log file attached to the report if the test fails. The
        whole group is SIGKILLed on the way out, whatever happened."""
        log_path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        proc = BatonProcess(name, list(argv), dict(env if env is not None else self.client_env()), log_path)
        self.extra.append((_current_test(), proc))
        try:
            yield proc
        finally:
            proc.kill_group()

    def wait_for(self, predicate: Any, *, timeout: float, what: str) -> Any:
        """Poll ``predicate`` until truthy (returned); fails after ``timeout`` seconds or as soon
        as a Baton process dies."""
        return self.cluster.wait_for(predicate, timeout=timeout, what=what)


def start_web(cluster: BatonCluster, port: int) -> BatonProcess:
    argv = [
        sys.executable, "-m", "uvicorn", "conductor_project.asgi:application",
        "--host", HOST, "--port", str(port), "--lifespan", "off", "--log-level", "info",
    ]  # fmt: skip
    proc = BatonProcess("web", argv, dict(cluster.env), cluster.workdir / "web.log")
    cluster.processes.append(proc)
    return proc


def wait_until_serving(web: BatonProcess, base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not web.alive():
            raise AssertionError(f"web server exited with code {web.proc.returncode}:\n{web.log()}")
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except OSError as error:
            last = repr(error)
        time.sleep(POLL_SECONDS)
    raise AssertionError(
        f"web server not serving /health within {READY_TIMEOUT_SECONDS:.0f}s ({last}):\n{web.log()}"
    )


def create_admin_key() -> tuple[str, str]:
    """An ADMIN key made by the real management command, as an operator would."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "create_app_key",
        "--name",
        f"compat suite {uuid.uuid4().hex[:6]}",
        "--role",
        "ADMIN",
        "--json",
        stdout=out,
    )
    created = json.loads(out.getvalue().strip().splitlines()[-1])
    assert created.get("role") == "ADMIN" and created.get("keySecret"), created
    return str(created["keyId"]), str(created["keySecret"])


def flush_database() -> None:
    """What pytest-django does after a transactional_db test (TransactionTestCase teardown)."""
    from django.core.management import call_command

    call_command(
        "flush",
        verbosity=0,
        interactive=False,
        reset_sequences=False,
        allow_cascade=False,
        inhibit_post_migrate=False,
    )


def drop_compat_queues() -> None:
    """Remove the broker queues of the task types the suites made up: no Celery worker consumes
    them (REST pollers served them), so whatever Baton published there would stay forever."""
    from conductor_project.celery import app

    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        client = conn.default_channel.client
        # The queues themselves and kombu's binding sets that name them.
        for pattern in (f"baton.task.{NAME_PREFIX}*", f"_kombu.binding*.baton.task.{NAME_PREFIX}*"):
            for key in list(client.scan_iter(match=pattern)):
                client.delete(key)


def wait_for_exit(proc: BatonProcess, timeout: float) -> int:
    """The process's exit code; fails (with its log) if it is still running after ``timeout``."""
    try:
        return proc.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{proc.name} still running after {timeout:.0f}s:\n{proc.log()}") from None
