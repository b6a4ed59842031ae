"""The worker task types this process runs, as ``workers.runtime.worker_task`` registers them.

The Celery setup declares one queue for each when the app is configured. The list is kept
here, beneath both, so that the setup reads it without importing the worker runtime, which is
built on the services and registers into this list rather than the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestration.conductor.queues import queue_name


@dataclass(frozen=True, slots=True)
class Registration:
    task_type: str
    function: Callable[..., Any]
    domain: str | None


_REGISTRY: dict[str, Registration] = {}


def register(registration: Registration) -> None:
    _REGISTRY[registration.task_type] = registration


def registered_queues() -> list[str]:
    """The Conductor queue (``[domain:]taskType``) of every registered worker."""
    return [queue_name(r.task_type, r.domain) for r in _REGISTRY.values()]
