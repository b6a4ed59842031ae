"""The one clock every part of Baton reads: epoch milliseconds, replaceable in tests.

Services, selectors, the admin and the token code all ask ``now_ms()`` (or ``now_seconds()``)
here rather than calling ``time`` themselves, so a test can install a clock it moves by hand
(``orchestration.testing.install_clock``) and watch timeouts, retry delays and token expiry
happen without waiting for them.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> int:
        """The time now, in epoch milliseconds."""
        ...


def system_clock() -> int:
    return time.time_ns() // 1_000_000


_current: Clock = system_clock


def now_ms() -> int:
    """The time now, in epoch milliseconds, from the installed clock."""
    return _current()


def now_seconds() -> float:
    return _current() / 1000


def install(clock: Clock) -> Clock:
    """Make ``clock`` the one every caller reads; returns the one it replaces."""
    global _current
    previous, _current = _current, clock
    return previous


def current() -> Clock:
    return _current
