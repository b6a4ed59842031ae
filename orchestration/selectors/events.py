"""Reads of event handler definitions, as stored."""

from __future__ import annotations

from typing import Any

from orchestration.models import EventHandler


def event_handlers() -> list[dict[str, Any]]:
    """Every handler, by name."""
    return list(EventHandler.objects.order_by("name").values_list("data", flat=True))


def event_handlers_for_event(*, event: str, active_only: bool = True) -> list[dict[str, Any]]:
    """The handlers whose ``event`` is exactly ``event`` (only active ones unless told), by name."""
    rows = EventHandler.objects.filter(event=event)
    if active_only:
        rows = rows.filter(active=True)
    return list(rows.order_by("name").values_list("data", flat=True))
