"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from orchestration import dispatch
from orchestration.models import Task
from orchestration.testing import Clock, install_clock

from .seams import BrokerWaits


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The services' clock, which the test moves forward instead of sleeping."""
    return install_clock(monkeypatch)


@pytest.fixture
def drop_own_messages(redis_client: redis.Redis) -> Iterator[None]:
    """Take the test's task messages off the shared broker queues afterwards, for modules
    whose tests publish but run no consumer."""
    yield
    by_queue: dict[str, set[bytes]] = {}
    for task_id, queue_name in Task.objects.values_list("id", "queue_name"):
        by_queue.setdefault(dispatch.broker_queue(queue_name), set()).add(task_id.encode())
    for queue, ids in by_queue.items():
        for raw in redis_client.lrange(queue, 0, -1):
            if any(task_id in raw for task_id in ids):
                redis_client.lrem(queue, 0, raw)



@pytest.fixture
def broker_waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[BrokerWaits]:
    """Where a long poll waits on the broker, watched (and held on request) by the test."""
    waits = BrokerWaits(monkeypatch)
    yield waits
    waits.release()
