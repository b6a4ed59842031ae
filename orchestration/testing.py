"""Test support shipped with Baton: a clock the test moves by hand.

Everything in Baton reads time from ``orchestration.clock``; a test that needs time to pass
(timeouts, retry delays, sweeps, token expiry) installs a ``Clock`` there and moves it forward
instead of sleeping.
"""

from __future__ import annotations

from typing import Any

from orchestration import clock


class Clock:
    """Real time plus an offset the test moves forward, or a fixed time (``frozen_at``)."""

    def __init__(self, frozen_at: int | None = None) -> None:
        self.offset_ms = 0
        self.frozen_at = frozen_at

    def __call__(self) -> int:
        base = self.frozen_at if self.frozen_at is not None else clock.system_clock()
        return base + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


def install_clock(monkeypatch: Any, fake: Clock | None = None) -> Clock:
    """Install ``fake`` (a new ``Clock`` if none) as Baton's clock for one test; pytest's
    monkeypatch puts the real one back afterwards."""
    fake = fake or Clock()
    monkeypatch.setattr(clock, "_current", fake)
    return fake
