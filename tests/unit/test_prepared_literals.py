"""services.prepared renders EXECUTE arguments as SQL literals itself, for the types the hot
statements pass, and leaves anything else (and non-standard string settings) to psycopg."""

from __future__ import annotations

import json
from typing import Any

from psycopg.types.json import Jsonb

from orchestration.services.prepared import _literals


class _PgConn:
    def __init__(self, standard: bool) -> None:
        self.standard = standard

    def parameter_status(self, name: bytes) -> bytes | None:
        assert name == b"standard_conforming_strings"
        return b"on" if self.standard else b"off"


class _Driver:
    def __init__(self, standard: bool = True) -> None:
        self.pgconn = _PgConn(standard)


def render(values: list[Any], standard: bool = True) -> str | None:
    return _literals(values, _Driver(standard))


def test_each_kind_is_rendered_as_postgresql_reads_it() -> None:
    assert render(["it's", 42, -7, None, True, False, ""]) == "'it''s', 42, -7, NULL, true, false, ''"
    # Backslashes are plain characters in a standard-conforming literal.
    assert render(["a\\b", "\\'"]) == "'a\\b', '\\'''"
    assert render([Jsonb({"k": "v'1"}, dumps=json.dumps)]) == """'{"k": "v''1"}'::jsonb"""


def test_anything_else_is_left_to_psycopg() -> None:
    assert render([1.5]) is None
    assert render([b"bytes"]) is None
    assert render(["nul\x00"]) is None  # psycopg raises its own error for it
    assert render([Jsonb({"k": 1})]) is None  # no dumps of its own: psycopg's configured one
    assert render(["plain"], standard=False) is None
