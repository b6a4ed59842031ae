"""Server-side prepared statements for the statements every task transition runs (PostgreSQL).

Measured on the transition hot path, PostgreSQL spent about half of its CPU parsing and planning
the same dozen statements over and over (Django disables psycopg's automatic preparation, and its
default client-side binding cannot prepare). Here each hot statement is prepared once per
database connection (``PREPARE baton_<hash> AS ...``) and then run as ``EXECUTE
baton_<hash>(...)``: a statement that still travels as text, so it can share a round trip with
others (``batch.run_batch``), but that the server no longer parses or plans.

A prepared statement lives as long as its connection, whatever happens to the transaction
that prepared it, so the set of names is kept per driver connection (a reconnect starts
empty). Deployments behind a pooler in transaction mode (PgBouncer) cannot keep per-connection
state: ``BATON["PREPARED_STATEMENTS"] = False`` turns this off. SQLite is never affected.
"""

from __future__ import annotations

import functools
import hashlib
import re
import weakref
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.types.json import Jsonb

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")
# A statement with more parameters (a multi-row INSERT of a large fork) is rare: run it as is.
MAX_PARAMS = 256
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=512)
def _convert(sql: str) -> tuple[str, str, tuple[str, ...] | int]:
    """(name, SQL with $n placeholders, parameter order): the names of ``%(name)s`` parameters
    in $n order, or the count of positional ``%s`` ones."""
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        name = match.group(1)
        if name is None:
            positional += 1
            return f"${positional}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    body = _PLACEHOLDER.sub(number, sql)
    if names and positional:
        raise ValueError("a statement mixes named and positional parameters")
    name = "baton_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
    return name, body, tuple(names) if names else positional


def enabled(db: Any = None) -> bool:
    """On for PostgreSQL with Django's default client-side binding (whose cursor renders the
    EXECUTE's arguments as literals); off when a deployment turned it off."""
    db = db or connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.BATON.get("PREPARED_STATEMENTS", True):
        return False
    return db.settings_dict.get("OPTIONS", {}).get("server_side_binding") is not True


def statement(sql: str, params: Any, db: Any = None) -> tuple[str, Any]:
    """The statement to run in place of ``sql`` with ``params``: ``EXECUTE`` of its prepared
    form (prepared now on this connection if it is not yet). Only where ``enabled()``; call it
    inside the transaction that will run the result. ``db``: the connection (default one)."""
    if len(params) > MAX_PARAMS:
        return sql, params
    db = db or connections[DEFAULT_DB_ALIAS]
    name, body, order = _convert(sql)
    db.ensure_connection()
    driver = db.connection
    known = _prepared.get(driver)
    if known is None:
        known = _prepared[driver] = set()
    if name not in known:
        with db.cursor() as cursor:
            cursor.execute(f"PREPARE {name} AS {body}")
        known.add(name)
    values = [params[n] for n in order] if isinstance(order, tuple) else list(params)
    if not values:
        return f"EXECUTE {name}", []
    literals = _literals(values, driver)
    if literals is not None:
        return f"EXECUTE {name}({literals})", None
    return f"EXECUTE {name}({', '.join(['%s'] * len(values))})", values


def _literals(values: list[Any], driver: Any) -> str | None:
    """The arguments of an EXECUTE as SQL literals, rendered here for the few types the hot
    statements pass; None when one is of another type (psycopg renders the statement then).

    psycopg's general adaptation (a dumper looked up per value, bytes joined per statement)
    was an eighth of a transition's CPU in the worker's profile. The rendering follows
    PostgreSQL's rules for standard-conforming string literals, where the only character to
    escape is the quote, doubled; a connection without standard_conforming_strings, or a
    string holding NUL (which PostgreSQL text cannot hold: psycopg raises for it), goes to
    psycopg."""
    if driver.pgconn.parameter_status(b"standard_conforming_strings") != b"on":
        return None
    out = []
    for value in values:
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return None
            out.append("'" + value.replace("'", "''") + "'")
        elif kind is int:
            out.append(str(value))
        elif value is None:
            out.append("NULL")
        elif kind is bool:
            out.append("true" if value else "false")
        elif kind is Jsonb and value.dumps is not None:
            text = value.dumps(value.obj)
            if not isinstance(text, str) or "\x00" in text:
                return None
            out.append("'" + text.replace("'", "''") + "'::jsonb")
        else:
            return None
    return ", ".join(out)


def forget() -> None:
    """Forget what was prepared on the current connection (tests that reset the session)."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is not None:
        _prepared.pop(db.connection, None)
