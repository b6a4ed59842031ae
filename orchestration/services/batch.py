"""Running statements on the hot path: several as one round trip on PostgreSQL (``run_batch``),
and the comment that tells whoever counts statements what a batch holds (``batch_marker``,
``query_statements``: the bench and the query-budget tests read it)."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.pq import ExecStatus, TransactionStatus

from orchestration.services import prepared

_DML = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _describe(sql: str) -> tuple[str, bool]:
    """A statement's verb, and whether it writes (plain DML, or a WITH holding DML)."""
    verb = sql.lstrip().split(None, 1)[0].upper()
    return verb, verb in ("INSERT", "UPDATE", "DELETE") or (verb == "WITH" and _DML.search(sql) is not None)


def batch_marker(statements: list[tuple[str, Any]]) -> str:
    """The comment a hot-path query starts with: the statements it holds and whether any writes,
    for whoever counts statements (the text may be an EXECUTE that shows neither)."""
    described = [_describe(sql) for sql, _ in statements]
    writes = int(any(w for _, w in described))
    return f"/* baton:batch {','.join(v for v, _ in described)} writes={writes} */ "


_MARKER = re.compile(r"\s*/\* baton:batch ([A-Z,]+) writes=([01]) \*/")


def query_statements(sql: str) -> tuple[list[str], bool]:
    """What one query sent to the database holds: its statements' verbs (several for a batch;
    ``EXECUTE``s of prepared statements by their real verbs) and whether any writes. For
    counting statements and commits in tests and benchmarks."""
    match = _MARKER.match(sql)
    if match:
        return match.group(1).split(","), match.group(2) == "1"
    verb, writes = _describe(sql)
    return [verb], writes


def run_batch(statements: list[tuple[str, Any]], *, fetch: bool = False) -> list[Any]:
    """Run statements in order, in the caller's transaction (or each in autocommit); for each,
    its rows (``fetch``) or its row count. On PostgreSQL each runs as a prepared statement
    (``services.prepared``) and they all go to the server as one multi-statement query: one
    round trip instead of one per statement, each still run and counted on its own. A failing
    statement stops the rest, and its error is raised as it would be alone."""
    out: list[Any] = []
    db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` costs a lookup per attribute
    use_prepared = prepared.enabled(db)
    marker = batch_marker(statements)
    todo = [prepared.statement(sql, params, db) for sql, params in statements] if use_prepared else statements
    with db.cursor() as cursor:
        if len(todo) > 1 and use_prepared:
            raw = cursor.cursor  # psycopg's client-side binding cursor: renders the arguments
            text = ";\n".join(sql if params is None else raw.mogrify(sql, params) for sql, params in todo)
            with _begin_in(raw.connection, db) as begin:
                cursor.execute(marker + begin + text)
            if begin:
                raw.nextset()  # past BEGIN's own result
            while True:
                out.append(raw.fetchall() if fetch and _has_rows(raw) else raw.rowcount)
                if not raw.nextset():
                    break
            return out
        for index, (sql, params) in enumerate(todo):
            cursor.execute((batch_marker([statements[index]]) if len(todo) > 1 else marker) + sql, params)
            out.append(cursor.fetchall() if fetch and _has_rows(cursor.cursor) else cursor.rowcount)
    return out


@contextlib.contextmanager
def _begin_in(conn: Any, db: Any) -> Iterator[str]:
    """The first statements of a transaction carry its BEGIN: psycopg would otherwise send
    BEGIN on a round trip of its own before them (and a decide's transaction has only three
    others: the reads, the writes, COMMIT). Yields the text to put in front of the batch ("" when
    the transaction has begun already, or none is wanted). While the batch is sent, psycopg is
    told it is in autocommit (its private flag: its implicit BEGIN checks nothing else) and
    back out of it; the server's state is what psycopg reads afterwards, so a failing batch
    leaves an aborted transaction for Django's atomic to roll back, as usual."""
    if not (db.in_atomic_block and not conn.autocommit and conn.pgconn.transaction_status == TransactionStatus.IDLE):
        yield ""
        return
    conn._autocommit = True
    try:
        yield "BEGIN;\n"
    finally:
        conn._autocommit = False


def _has_rows(raw: Any) -> bool:
    """Whether the driver cursor's current result is a row set. On psycopg, by the result's
    status: ``cursor.description`` builds a Column object per column on every call, which
    showed up in the worker's profile (a claim returns every task column)."""
    result = getattr(raw, "pgresult", False)
    if result is False:  # not psycopg (SQLite): its description is a plain attribute
        return raw.description is not None
    return result is not None and result.status == ExecStatus.TUPLES_OK
