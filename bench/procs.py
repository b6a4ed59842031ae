"""The worker subprocess, and CPU time read from /proc (no psutil)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float, float] | None:
    """(comm, ppid, own utime+stime, reaped children's cutime+cstime) in seconds; None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split around the last ')'.
    lparen, rparen = raw.index("("), raw.rindex(")")
    comm = raw[lparen + 1 : rparen]
    fields = raw[rparen + 2 :].split()
    # fields[0] is state (field 3 of proc(5)); ppid is field 4, utime..cstime fields 14-17.
    own = (int(fields[11]) + int(fields[12])) / _TICKS
    reaped = (int(fields[13]) + int(fields[14])) / _TICKS
    return comm, int(fields[1]), own, reaped


def _all_stats() -> dict[int, tuple[str, int, float, float]]:
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                out[int(entry.name)] = st
    return out


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and all its live descendants (Celery's pool processes), plus what
    the children it has reaped used (a pool process replaced during the run keeps counting)."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][2] + stats[pid][3]
        todo.extend(children.get(pid, ()))
    return total


# A client backend's title: "postgres: [cluster: ]<user> <database> <host(port)|[local]> <state>".
_BACKEND_TITLE = re.compile(r"^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])")


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def postgres_cpu(database: str) -> float:
    """CPU seconds of the local PostgreSQL server as far as it works for ``database``: the
    postmaster, its background processes, the live backends connected to ``database`` (those of
    other databases are left out), and the backends that exited, through the postmaster that
    reaped them (its cutime/cstime; these cannot be told apart by database). So a worker that
    connects per task still has its backends' startup and work counted."""
    stats = _all_stats()
    total = 0.0
    for pid, (name, ppid, own, reaped) in stats.items():
        if name != "postgres":
            continue
        if stats.get(ppid, ("",))[0] != "postgres":  # the postmaster
            total += own + reaped
            continue
        match = _BACKEND_TITLE.match(_title(pid))
        if match is None or match.group(1) == database:
            total += own
    return total


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat, idle and iowait excluded)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # user nice system idle iowait irq softirq; steal (the hypervisor's) and guest are left out
    return (sum(fields[:7]) - idle) / _TICKS


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Worker:
    """``celery worker`` in its own process group: stopped with a warm shutdown, then whatever
    is left of the group (the prefork pool) is killed, on any exit of the bench."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
