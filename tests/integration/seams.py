"""Seams the integration tests order their threads by: a point inside Baton where a test is
told that something has happened, or holds it there, instead of sleeping and hoping."""

from __future__ import annotations

import threading

import pytest

from orchestration.services import polling


class BrokerWaits:
    """Where a long poll waits on the broker (``polling._wait_for_messages``): tells the test
    that a poll is waiting, what each wait returned (task ids; [] when it timed out, None when
    the broker was unreachable) and, while ``hold`` is set, keeps the poll from starting its
    wait until ``release()``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = threading.Event()
        self.returned = threading.Event()
        self.released = threading.Event()
        self.results: list[list[str] | None] = []
        self.hold = False
        real = polling._wait_for_messages

        def watched(queue_name: str, count: int, timeout: float) -> list[str] | None:
            self.waiting.set()
            if self.hold:
                assert self.released.wait(30), "the test never released the long poll"
            ids = real(queue_name, count, timeout)
            self.results.append(ids)
            self.returned.set()
            return ids

        monkeypatch.setattr(polling, "_wait_for_messages", watched)

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
