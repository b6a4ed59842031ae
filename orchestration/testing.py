"""Test support shipped with Baton: a movable clock for the services.

Services read time through ``now_ms``; tests that need time to pass (timeouts, retry delays,
sweeps) install a ``Clock`` in its place and move it forward instead of sleeping.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Clock:
    """The services' clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


def install_clock(monkeypatch: Any) -> Clock:
    """Replace ``now_ms`` in every orchestration module that imported it (pytest's monkeypatch
    undoes it after the test)."""
    from orchestration.services import workflows

    fake = Clock()
    original = workflows.now_ms
    for name, module in list(sys.modules.items()):
        if name.startswith("orchestration") and getattr(module, "now_ms", None) is original:
            monkeypatch.setattr(module, "now_ms", fake)
    return fake
