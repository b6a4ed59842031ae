"""Concurrency and rate limits of task definitions, enforced when a task is handed out.

A TaskDef's ``concurrentExecLimit`` allows at most N of its tasks IN_PROGRESS at once;
``rateLimitPerFrequency`` / ``rateLimitFrequencyInSeconds`` allow at most N hand-outs per sliding
window. Both are checked whenever a task is handed out: a REST poll (services.polling) and a
Celery worker's claim (services.tasks.task_claim). A task over a limit stays SCHEDULED. REST
pollers find it again in the database on a later poll; a Celery worker has consumed its message,
so its ``dispatch_at`` is moved to when it is worth trying again and the sweeper re-publishes it
then (when the rate window has room; a few seconds for a concurrency slot, which no one can
predict).

The limits travel on the task (``extra[LIMITS_KEY]``, written by the engine when the task is
created from its frozen TaskDef), so a task without limits costs no statement at all here.

Correctness under concurrency: the count and the claim must not interleave with another
claimer's. Every limited hand-out of a TaskDef therefore runs under a per-TaskDef lock inside the
claiming transaction: a transaction-scoped advisory lock on PostgreSQL (no row has to exist: the
TaskDef may be inline in a workflow definition), nothing more on SQLite, where every transaction
is ``BEGIN IMMEDIATE`` and writers are serialized anyway. Under PostgreSQL's READ COMMITTED each
statement takes a fresh snapshot, so the counts made after the lock is granted see every claim
committed before it.

Rate windows count first hand-outs (a task's ``start_time``, set by its first claim), from the
Task table: no extra table, but a task re-delivered after an IN_PROGRESS + callbackAfterSeconds
update is not counted again (Conductor's Redis limiter counts every hand-out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min

from orchestration.engine.context import LIMITS_KEY
from orchestration.models import Task, TaskDef

__all__ = ["LIMITS_KEY", "Candidate", "Limits", "Refused", "postpone", "refusals"]

# Conductor postpones a task over its concurrency limit by taskExecutionPostponeDuration (60 s).
# A free slot cannot be predicted, and Baton's sweeper runs every second, so a shorter default
# keeps limited queues moving; each re-offer costs one claim attempt.
DEFAULT_CONCURRENCY_POSTPONE_SECONDS = 5

# Advisory lock namespace (PostgreSQL's two-int form: class, object): "BTON" in ASCII.
_LOCK_CLASS = 0x42544F4E


@dataclass(frozen=True, slots=True)
class Limits:
    concurrent: int = 0
    rate: int = 0
    window_seconds: int = 0

    @classmethod
    def of(cls, extra: Mapping[str, Any] | None) -> Limits | None:
        """The limits a task carries, or None (the common case: no key, no cost)."""
        spec = extra.get(LIMITS_KEY) if extra else None
        if not isinstance(spec, Mapping):
            return None
        limits = cls(
            concurrent=_positive(spec.get("concurrentExecLimit")),
            rate=_positive(spec.get("rateLimitPerFrequency")),
            window_seconds=_positive(spec.get("rateLimitFrequencyInSeconds")),
        )
        if limits.window_seconds == 0:
            limits = cls(concurrent=limits.concurrent)
        return limits if limits.concurrent or limits.rate else None


def _positive(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A task about to be handed out (or just claimed, in the Celery path)."""

    task_id: str
    task_type: str
    task_def_name: str
    limits: Limits


class Refused(Exception):
    """Raised inside a claiming transaction to roll the claim back; ``retry_at`` is when the
    task should be offered again (epoch ms)."""

    def __init__(self, retry_at: int) -> None:
        super().__init__(retry_at)
        self.retry_at = retry_at


def candidate(row: Mapping[str, Any]) -> Candidate | None:
    """A Candidate for a task row (``id``, ``task_type``, ``task_def_name``, ``extra``), or None
    when the task has no limits."""
    limits = Limits.of(row.get("extra"))
    if limits is None:
        return None
    return Candidate(row["id"], row["task_type"], row["task_def_name"], limits)


def refusals(candidates: Sequence[Candidate], *, now: int) -> dict[str, int]:
    """Which of ``candidates`` must not be handed out now: task id -> when to offer it again.

    Candidates are admitted in order (oldest first, as the caller lists them), each against its
    own frozen limits. Must run inside the claiming transaction. ``candidates`` may already be
    claimed by this transaction (the Celery path): they are left out of every count, so the
    answer is the same either way.
    """
    if not candidates:
        return {}
    _serialize({c.task_def_name for c in candidates})
    excluded = [c.task_id for c in candidates]
    refused: dict[str, int] = {}
    admitted: dict[tuple[str, str], int] = {}
    running: dict[tuple[str, str], int] = {}
    windows: dict[tuple[str, str, int], tuple[int, int | None]] = {}
    for c in candidates:
        group = (c.task_type, c.task_def_name)
        before = admitted.get(group, 0)
        if c.limits.concurrent:
            if group not in running:
                running[group] = _in_progress(c, excluded)
            if running[group] + before >= c.limits.concurrent:
                refused[c.task_id] = now + _concurrency_postpone_ms()
                continue
        if c.limits.rate:
            key = (*group, c.limits.window_seconds)
            if key not in windows:
                windows[key] = _handouts(c, excluded, now)
            count, oldest = windows[key]
            if count + before >= c.limits.rate:
                # The window has room again once its oldest hand-out leaves it.
                window_ms = c.limits.window_seconds * 1000
                refused[c.task_id] = max(now, (oldest or now) + window_ms) + 1
                continue
        admitted[group] = before + 1
    return refused


def postpone(refused: Mapping[str, int]) -> None:
    """Offer tasks a Celery worker was refused again at their retry time: the sweeper
    re-publishes a SCHEDULED task whose ``dispatch_at`` has passed."""
    by_time: dict[int, list[str]] = {}
    for task_id, retry_at in refused.items():
        by_time.setdefault(retry_at, []).append(task_id)
    for retry_at, ids in by_time.items():
        Task.objects.filter(pk__in=ids, status="SCHEDULED").update(dispatch_at=retry_at)


def _concurrency_postpone_ms() -> int:
    baton = getattr(settings, "BATON", {})
    return int(baton.get("TASK_LIMIT_POSTPONE_SECONDS", DEFAULT_CONCURRENCY_POSTPONE_SECONDS) * 1000)


def _in_progress(c: Candidate, excluded: list[str]) -> int:
    # (task_type, status) is indexed, and IN_PROGRESS rows are few.
    return (
        Task.objects.filter(task_type=c.task_type, status="IN_PROGRESS", task_def_name=c.task_def_name)
        .exclude(pk__in=excluded)
        .count()
    )


def _handouts(c: Candidate, excluded: list[str], now: int) -> tuple[int, int | None]:
    since = now - c.limits.window_seconds * 1000
    found = (
        Task.objects.filter(task_type=c.task_type, task_def_name=c.task_def_name, start_time__gte=since)
        .exclude(pk__in=excluded)
        .aggregate(count=Count("id"), oldest=Min("start_time"))
    )
    return found["count"], found["oldest"]


def _lock_key(name: str) -> int:
    # A stable signed 32-bit key per TaskDef name; a collision only serializes two names.
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)


def _serialize(names: Iterable[str]) -> None:
    """Take the per-TaskDef lock for each name, in a fixed order (no deadlock between two
    claimers of the same names), until the transaction ends."""
    if not connection.in_atomic_block:
        raise RuntimeError("limits are checked inside the claiming transaction")
    ordered = sorted(set(names))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for name in ordered:
                cursor.execute("SELECT pg_advisory_xact_lock(%s::integer, %s::integer)", [_LOCK_CLASS, _lock_key(name)])
    elif connection.vendor != "sqlite":  # SQLite: BEGIN IMMEDIATE already serializes writers
        # Elsewhere the TaskDef row is the lock (when the TaskDef is registered).
        list(TaskDef.objects.select_for_update().filter(name__in=ordered).values_list("pk", flat=True))
