"""Real Baton processes for acceptance tests: Celery workers and beat in their own process
groups, logging to files, with bounded waits (see conftest for the fixture)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings as django_settings

T = TypeVar("T")

BASE_DIR = Path(django_settings.BASE_DIR)
WORKER_MODULES = "workers.examples,tests.acceptance.slow_workers"
# Short enough that lost messages come back within seconds, long enough that a healthy backlog
# on a 2-core machine is not re-published on every sweep.
REDISPATCH_AFTER_SECONDS = 2
SWEEP_INTERVAL_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 45.0
STOP_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 150


def database_url(db: Mapping[str, Any]) -> str:
    """A ``DATABASE_URL`` for another process that names the database ``db`` (a Django
    connection's settings_dict, i.e. after pytest-django has switched NAME to the test db)."""
    engine = str(db["ENGINE"])
    name = str(db["NAME"])
    if engine.endswith("sqlite3"):
        if name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
            raise RuntimeError("an in-memory SQLite database cannot be shared with worker processes")
        return "sqlite:///" + str(Path(name).resolve())  # sqlite:////abs/path
    if engine.endswith(("postgresql", "postgis")):
        parent_url = os.environ.get("DATABASE_URL", "")
        if parent_url:
            # Same server, credentials and options as the session; only the database differs.
            parts = urlsplit(parent_url)
            return urlunsplit(parts._replace(path="/" + quote(name, safe="")))
        auth = quote(str(db.get("USER") or ""), safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(str(db["PASSWORD"]), safe="")
        host = quote(str(db.get("HOST") or ""), safe="")
        netloc = f"{auth}@{host}" if auth else host
        if db.get("PORT"):
            netloc += f":{db['PORT']}"
        return f"postgres://{netloc}/{quote(name, safe='')}"
    raise RuntimeError(f"acceptance tests do not know how to share a {engine} database")


def _die_with_parent() -> None:
    """In the child, before exec: be SIGKILLed when the test process dies, even by a signal that
    skips every ``finally`` (``timeout`` sends SIGTERM), so no worker outlives its session and
    goes on consuming the shared broker's queues."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)


class BatonProcess:
    """One Celery process (and, for a worker, its prefork pool) in its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.killed = False  # stopped on purpose: its death is not a failure
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=BASE_DIR, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return _tail(self.log_path)

    def owns(self, pid: int) -> bool:
        """True if ``pid`` is this process or one in its process group (its pool children)."""
        try:
            return pid == self.pid or os.getpgid(pid) == self.pid
        except ProcessLookupError:
            return False

    def kill_group(self) -> None:
        """SIGKILL the whole group at once: the leader, its pool children, anything they forked."""
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)

    def __repr__(self) -> str:
        return f"<{self.name} pid={self.pid} {'alive' if self.alive() else f'exit={self.proc.returncode}'}>"


class BatonCluster:
    """Starts and supervises worker/beat processes for one test."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.processes: list[BatonProcess] = []

    # -- processes ----------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], extra_env: Mapping[str, str] | None) -> BatonProcess:
        env = dict(self.env)
        env.update(extra_env or {})
        proc = BatonProcess(name, argv, env, self.workdir / f"{name}.log")
        self.processes.append(proc)
        return proc

    def start_worker(
        self,
        name: str = "worker",
        *,
        concurrency: int = 2,
        wait_ready: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> BatonProcess:
        node = f"acc-{name}-{uuid.uuid4().hex[:8]}@%h"
        argv = [
            sys.executable, "-m", "celery", "-A", "conductor_project", "worker",
            "-l", "info", "-P", "prefork", "-c", str(concurrency), "-n", node,
            # Nothing here needs cluster chatter; it only adds broker traffic and start-up time.
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        proc = self._start(name, argv, extra_env)
        if wait_ready:
            self.wait_for_log(proc, " ready.", timeout=READY_TIMEOUT_SECONDS)
        return proc

    def start_beat(self, name: str = "beat", *, extra_env: Mapping[str, str] | None = None) -> BatonProcess:
        argv = [
            sys.executable, "-m", "celery", "-A", "conductor_project", "beat", "-l", "info",
            "-s", str(self.workdir / f"{name}-schedule"),
        ]  # fmt: skip
        return self._start(name, argv, extra_env)

    def wait_for_log(self, proc: BatonProcess, needle: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if needle in proc.log_path.read_text(errors="replace"):
                    return
            if not proc.alive():
                raise AssertionError(
                    f"{proc.name} exited with code {proc.proc.returncode} before {needle!r}:\n{proc.log()}"
                )
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"{proc.name} did not log {needle!r} within {timeout:.0f}s:\n{proc.log()}")

    def check_alive(self) -> None:
        for proc in self.processes:
            if not proc.killed and not proc.alive():
                raise AssertionError(
                    f"{proc.name} died unexpectedly (exit {proc.proc.returncode}):\n{proc.log()}"
                )

    def stop_all(self) -> None:
        """Cold-stop every leader (SIGQUIT: a worker drops what it runs, it is only a test), wait
        a bounded time, then SIGKILL every group so no pool child outlives the test."""
        for proc in self.processes:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    proc.proc.send_signal(signal.SIGQUIT)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.processes:
            proc.kill_group()

    # -- waiting ------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], T], *, timeout: float, what: str) -> T:
        """Poll ``predicate`` every 100 ms until it returns something truthy (returned), failing
        after ``timeout`` seconds, or at once if a process that should be running has died."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            self.check_alive()
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what} (processes: {self.processes})"
                )
            time.sleep(POLL_SECONDS)

    def log_sections(self) -> list[tuple[str, str]]:
        return [(f"baton {p.name} (pid {p.pid}) log tail", p.log()) for p in self.processes]
