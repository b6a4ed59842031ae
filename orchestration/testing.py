"""Test support shipped with Baton: a clock the test moves by hand, and a counter of the
statements and commits a piece of work runs.

Everything in Baton reads time from ``orchestration.clock``; a test that needs time to pass
(timeouts, retry delays, sweeps, token expiry) installs a ``Clock`` there and moves it forward
instead of sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from orchestration import clock
from orchestration.models import Task


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


# --- counting the statements and commits of a piece of work ----------------------------------

_DML = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b", re.IGNORECASE)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def describe_statement(sql: str) -> tuple[str, bool]:
    """A statement's verb, and whether it writes (plain DML, or a WITH holding DML)."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return verb, verb in ("INSERT", "UPDATE", "DELETE") or (verb == "WITH" and _DML.search(sql) is not None)


@dataclass
class QueryCount:
    """What ran on a connection: each statement's verb and SQL, in order, and the commits (a
    write run outside a transaction counts as one: it is its own)."""

    verbs: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    commits: int = 0

    @property
    def statements(self) -> int:
        return len(self.verbs)


@contextmanager
def count_queries(db: BaseDatabaseWrapper | None = None) -> Iterator[QueryCount]:
    """Count the statements and commits run on ``db`` (the default connection) in the block,
    through Django's own hooks: an execute wrapper sees every statement, however it is run,
    and the connection's ``commit`` is wrapped for the block's duration. Transaction control
    (savepoints) is not counted as a statement."""
    db = db or connections[DEFAULT_DB_ALIAS]
    counted = QueryCount()

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        verb, writes = describe_statement(sql)
        if verb not in TRANSACTION_CONTROL:
            counted.verbs.append(verb)
            counted.sql.append(sql)
            if writes and not db.in_atomic_block:
                counted.commits += 1
        return execute(sql, params, many, context)

    real_commit = db.commit

    def commit() -> None:
        counted.commits += 1
        real_commit()

    db.commit = commit  # type: ignore[method-assign]
    try:
        with db.execute_wrapper(wrapper):
            yield counted
    finally:
        del db.commit


def finish_without_decide(task_id: str, *, status: str = "COMPLETED", output: dict[str, Any] | None = None) -> None:
    """Leave a task terminal and not yet processed by the decider, as a process that died
    between two writes could (for a test of the sweeper's recovery): a worker's result and its
    decide share one transaction, so only a direct write of the row makes this state."""
    now = clock.now_ms()
    Task.objects.filter(pk=task_id).update(
        status=status, output=output or {}, end_time=now, update_time=now, timeout_at=None, dispatch_at=None, executed=False
    )
