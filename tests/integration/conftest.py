"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from orchestration.testing import Clock, install_clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The services' clock, which the test moves forward instead of sleeping."""
    return install_clock(monkeypatch)
