"""Building blocks shared by Baton's admin pages: time and JSON rendering, status colours,
list filters, and the read-only / deferred-columns mixins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orchestration.clock import now_ms

EMPTY = "-"
# Rows of History / TaskLog embedded in a detail page; the full lists are one link away.
EMBEDDED_ROWS = 200

# Colours for every workflow and task status (the two vocabularies overlap on purpose).
STATUS_COLOURS: dict[str, str] = {
    "RUNNING": "#1f6feb",
    "IN_PROGRESS": "#1f6feb",
    "SCHEDULED": "#8250df",
    "PAUSED": "#bf8700",
    "COMPLETED": "#1a7f37",
    "COMPLETED_WITH_ERRORS": "#bf8700",
    "SKIPPED": "#6e7781",
    "FAILED": "#cf222e",
    "FAILED_WITH_TERMINAL_ERROR": "#a40e26",
    "TIMED_OUT": "#bc4c00",
    "TERMINATED": "#57606a",
    "CANCELED": "#57606a",
}


def ms_text(ms: int | None, *, precise: bool = False) -> str:
    """An epoch-ms column as a UTC datetime; 0/None (Conductor's "not set") as a dash."""
    if not ms:
        return EMPTY
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        # A corrupt value must not take the whole page down: show it raw.
        return str(ms)
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if precise else moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} UTC"


def ms_column(attr: str, description: str, *, precise: bool = False) -> Callable[[Any], str]:
    """A list_display/readonly_fields callable for one epoch-ms column, sortable by that column."""

    @admin.display(description=description, ordering=attr)
    def show(obj: Any) -> str:
        return ms_text(getattr(obj, attr), precise=precise)

    show.__name__ = f"{attr}_text"
    return show


def duration_text(ms: int) -> str:
    seconds, millis = divmod(max(ms, 0), 1000)
    if seconds < 60:
        return f"{seconds}.{millis // 100}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def status_badge(status: str | None) -> SafeString | str:
    if not status:
        return EMPTY
    colour = STATUS_COLOURS.get(status, "#57606a")
    return format_html(
        '<span style="color:#fff;background:{};padding:1px 6px;border-radius:8px;font-size:11px;'
        'white-space:nowrap">{}</span>',
        colour,
        status,
    )


def pretty_json(value: Any) -> SafeString:
    """Indented JSON in a scrollable block; format_html escapes it, so payloads cannot inject HTML."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return format_html(
        '<pre style="white-space:pre-wrap;max-height:40em;overflow:auto;margin:0;'
        'font-size:12px;font-family:monospace">{}</pre>',
        text,
    )


def change_url(model: type[Model], pk: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def changelist_url(model: type[Model], **params: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if params:
        url = f"{url}?{urlencode(params)}"
    return url


def admin_link(model: type[Model], pk: Any, text: Any | None = None) -> SafeString | str:
    """A link to ``model``'s change page built from a key alone: never loads the related row."""
    if pk in (None, ""):
        return EMPTY
    return format_html('<a href="{}">{}</a>', change_url(model, pk), pk if text is None else text)


def html_table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> SafeString:
    """A small read-only table; every cell goes through conditional_escape (SafeStrings stay)."""
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def truncate(text: str | None, limit: int = 120) -> str:
    if not text:
        return EMPTY
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class StartedWithinFilter(admin.SimpleListFilter):
    """"Started in the last hour/day/week" on an epoch-ms column.

    ``date_hierarchy`` needs a DateField/DateTimeField; a range on the integer column does the
    same job and uses the ``create_time`` indexes.
    """

    title = "started"
    parameter_name = "started_within"
    field = "create_time"
    WINDOWS: dict[str, tuple[str, int]] = {
        "1h": ("in the last hour", 3600),
        "1d": ("in the last day", 86400),
        "7d": ("in the last week", 7 * 86400),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.WINDOWS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        window = self.WINDOWS.get(self.value() or "")
        if window is None:
            return queryset
        return queryset.filter(**{f"{self.field}__gte": now_ms() - window[1] * 1000})


class ReadOnlyAdminMixin:
    """Executions change only through the services (the engine's invariants live there):
    the admin can look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeferredListMixin:
    """Defers ``list_defer`` columns on the changelist only.

    The change page needs those columns (that is where the JSON is shown), so the deferral
    cannot live in ModelAdmin.get_queryset, which both pages share.
    """

    list_defer: tuple[str, ...] = ()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        base: type[ChangeList] = super().get_changelist(request, **kwargs)  # type: ignore[misc]
        deferred = self.list_defer
        if not deferred:
            return base

        class DeferredChangeList(base):  # type: ignore[valid-type, misc]
            def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
                return super().get_queryset(request, exclude_parameters).defer(*deferred)

        return DeferredChangeList


class ExactSearchMixin:
    """Search by exact, case-sensitive value on ``search_fields``.

    The admin's default search is ``icontains`` (and ``=`` means ``iexact``, i.e. UPPER(col)
    on PostgreSQL): both defeat the indexes on ids and correlation ids and scan tables that grow
    with every run. Ids are pasted, not typed, so exact matching loses nothing.
    """

    search_fields: tuple[str, ...] = ()

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term or not self.search_fields:
            return queryset, False
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{field.lstrip("=^@"): term})
        return queryset.filter(condition), False
