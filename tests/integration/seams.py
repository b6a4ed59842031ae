"""Seams the integration tests order their threads by: a point inside Baton where a test is
told that something has happened, or holds it there, instead of sleeping and hoping."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from orchestration import dispatch
from orchestration.selectors import blocking
from orchestration.services import limits, polling


class BrokerWaits:
    """Where a long poll waits on the broker (``dispatch.wait_for_task_ids``): tells the test
    that a poll is waiting, what each wait returned (task ids; [] when it timed out, None when
    the broker was unreachable) and, while ``hold`` is set, keeps the poll from starting its
    wait until ``release()``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = threading.Event()
        self.returned = threading.Event()
        self.released = threading.Event()
        self.results: list[list[str] | None] = []
        self.hold = False
        real = dispatch.wait_for_task_ids

        def watched(queue_name: str, count: int, timeout: float) -> list[str] | None:
            self.waiting.set()
            if self.hold:
                assert self.released.wait(30), "the test never released the long poll"
            ids = real(queue_name, count, timeout)
            self.results.append(ids)
            self.returned.set()
            return ids

        monkeypatch.setattr(dispatch, "wait_for_task_ids", watched)

    def release(self) -> None:
        self.released.set()


class PollingTime:
    """Stands in for the ``time`` module inside ``services.polling``: a monotonic clock that
    moves only when polling sleeps, and a record of those sleeps (nothing really sleeps)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []
        monkeypatch.setattr(polling, "time", self)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class ExecuteLooks:
    """Counts the looks the synchronous execute takes at its workflow while it waits (a seam at
    ``blocking.blocking_tasks``), so a worker thread can act while the request is provably still
    waiting, and a test can tell a wait that ran to its deadline from one answered at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.workflow_id: str | None = None
        self.closed = False
        self._changed = threading.Condition()
        real = blocking.blocking_tasks

        def watched(workflow_id: str, refs: Any, depth: int = 0) -> Any:
            found = real(workflow_id, refs, depth)
            if depth == 0:  # the execute's own look, not the search of a sub-workflow
                with self._changed:
                    self.count += 1
                    self.workflow_id = workflow_id
                    self._changed.notify_all()
            return found

        monkeypatch.setattr(blocking, "blocking_tasks", watched)

    def wait_beyond(self, seen: int, timeout: float = 30) -> bool:
        """Wait until the execute has looked more than ``seen`` times (False: closed or timed out)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.closed or self.count > seen, timeout) and not self.closed

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


LINED_UP = ("at lock", "counted", "done")


class LinedUpCounts:
    """Lines the racers up where the race matters (on PostgreSQL; on SQLite BEGIN IMMEDIATE
    serializes the racing transactions before they count, so there is nothing to line up).

    A racer that has counted the free slots waits, before it commits its claim, until every
    other racer has counted too, has finished, or is inside a statement that may park it behind
    the counting racer: the per-TaskDef lock, or the claim of the same task. Without the lock, or with the counts made before
    it, every racer therefore counts the same free slots before anyone claims, and too many
    tasks are handed out; with it, the racers parked on the lock count after the holder's
    claims are committed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.active = connection.vendor == "postgresql"
        self._changed = threading.Condition()
        self._expected = 0
        self._state: dict[int, str] = {}  # racing thread -> "running", "at lock", "counted", "done"
        if not self.active:
            return
        for name in ("_in_progress", "_handouts"):
            real = getattr(limits, name)

            def counted(*args: Any, _real: Callable[..., Any] = real) -> Any:
                found = _real(*args)
                self._wait_for_rivals()
                return found

            monkeypatch.setattr(limits, name, counted)

    def racers(self, calls: list[Callable[[], Any]]) -> list[Callable[[], Any]]:
        self._expected = len(calls)
        return [functools.partial(self._race, call) for call in calls]

    def _set(self, state: str) -> None:
        with self._changed:
            self._state[threading.get_ident()] = state
            self._changed.notify_all()

    def _race(self, call: Callable[[], Any]) -> Any:
        if not self.active:
            return call()
        self._set("running")
        try:
            with connection.execute_wrapper(self._watch_lock):
                return call()
        finally:
            self._set("done")

    def _watch_lock(self, run: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        me = threading.get_ident()
        # Two statements can park a racer behind another: the per-TaskDef lock, and the claim of
        # a task that another racer has claimed and not committed yet (its row is locked; once
        # that racer commits, the claim finds the task taken and moves on).
        blocking = "pg_advisory_xact_lock" in sql or "poll_count = poll_count + 1" in sql
        if not blocking or self._state.get(me) == "counted":
            return run(sql, params, many, context)
        self._set("at lock")
        try:
            return run(sql, params, many, context)
        finally:
            self._set("running")

    def _wait_for_rivals(self) -> None:
        if threading.get_ident() not in self._state:
            return  # a count made outside the race (by the test itself) waits for no one
        with self._changed:
            self._state[threading.get_ident()] = "counted"
            self._changed.notify_all()
            lined_up = self._changed.wait_for(
                lambda: len(self._state) == self._expected and all(s in LINED_UP for s in self._state.values()), 60
            )
        assert lined_up, f"the racers never lined up: {sorted(self._state.values())}"
