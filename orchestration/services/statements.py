"""Running the statements of one step of a transition (the reads of a decide, or its writes).

A task transition is a handful of short statements, and on a local PostgreSQL most of their
cost is round trips and the server parsing and planning the same text again and again. Two
public features of psycopg remove both, and nothing else here is clever:

- **Pipeline mode** (``Connection.pipeline()``): the statements of one step go to the server
  together and their results come back together, one round trip for the step. (A transaction's
  BEGIN still takes a round trip of its own: psycopg waits for it before the step.)
- **Prepared statements**: each statement runs on a server-binding cursor (``psycopg.Cursor``),
  so psycopg prepares it once per connection after ``prepare_threshold`` executions (set from
  ``BATON_PREPARED_STATEMENTS`` in the database OPTIONS; Django's own client-binding cursors
  never prepare, so only these statements are). Behind a pooler in transaction mode the
  setting turns preparation off, and the statements still share their round trip.

Every statement goes through Django's cursor wrapper (``make_cursor`` / ``make_debug_cursor``),
so ``connection.execute_wrapper`` and ``CaptureQueriesContext`` see each one, as they see the
ORM's queries, and database errors come out as Django's exceptions. SQLite runs the same
statements one after another.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import Cursor as ServerBindingCursor
from psycopg.pq import ExecStatus

Statement = tuple[str, Any]


def run(statements: list[Statement], *, fetch: bool = False) -> list[Any]:
    """Run ``statements`` in order, in the caller's transaction (each in its own when there is
    none); for each, its rows (with ``fetch``, for a statement that returns rows) or its row
    count. A failing statement raises as it would alone, and the ones after it do not run."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        return _run_in_turn(db, statements, fetch)
    return _run_pipelined(db, statements, fetch)


def _run_in_turn(db: BaseDatabaseWrapper, statements: list[Statement], fetch: bool) -> list[Any]:
    out: list[Any] = []
    with db.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            out.append(cursor.fetchall() if fetch and cursor.description is not None else cursor.rowcount)
    return out


def _wrapped(db: BaseDatabaseWrapper, cursor: Any) -> Any:
    """A driver cursor in the wrapper Django would give it (the debug one while queries are
    being logged, as in CaptureQueriesContext)."""
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


def _run_pipelined(db: BaseDatabaseWrapper, statements: list[Statement], fetch: bool) -> list[Any]:
    db.ensure_connection()
    driver = db.connection
    cursors = []
    with db.wrap_database_errors:
        if len(statements) == 1:
            sql, params = statements[0]
            cursor = _wrapped(db, ServerBindingCursor(driver))
            cursor.execute(sql, params)
            cursors.append(cursor)
        else:
            failed: DatabaseError | None = None
            try:
                with driver.pipeline():
                    for sql, params in statements:
                        cursor = _wrapped(db, ServerBindingCursor(driver))
                        try:
                            cursor.execute(sql, params)
                        except DatabaseError as error:
                            # An earlier statement's error can surface while a later one is
                            # sent. Stop sending and leave the block normally: raising out of
                            # it would have psycopg log the pipeline's own abort as an error.
                            failed = error
                            break
                        cursors.append(cursor)
            except psycopg.Error:
                # Ending the pipeline reports its abort; the statement's own error says more.
                if failed is None:
                    raise
            if failed is not None:
                raise failed
        out = []
        for cursor in cursors:
            # The result's status says whether it holds rows; ``description`` would build a
            # column object per column just to say the same.
            result = cursor.cursor.pgresult
            has_rows = result is not None and result.status == ExecStatus.TUPLES_OK
            out.append(cursor.fetchall() if fetch and has_rows else cursor.rowcount)
            cursor.close()
    return out
