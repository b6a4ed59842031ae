"""services.statements.run: a step's statements in order, one round trip on PostgreSQL, prepared
there once per connection when the setting allows, and inside Django's transactions as any
other query."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from orchestration.models import History
from orchestration.services import statements
from orchestration.testing import count_queries

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = f"INSERT INTO {History._meta.db_table} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at) " \
         "VALUES (%s, NULL, NULL, NULL, 'RUNNING', %s, %s, %s)"  # fmt: skip
SELECT = f"SELECT actor, reason FROM {History._meta.db_table} WHERE workflow_id = %s ORDER BY actor"


def _rows(marker: str) -> int:
    return History.objects.filter(workflow_id=marker).count()


def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pipelines and prepared statements are PostgreSQL's")


def test_results_come_back_in_order_rows_or_counts() -> None:
    marker = uuid.uuid4().hex
    out = statements.run(
        [(INSERT, [marker, "a", "x", 1]), (INSERT, [marker, "b", None, 2]), (SELECT, [marker])], fetch=True
    )
    assert out[0] == 1 and out[1] == 1
    assert [tuple(r) for r in out[2]] == [("a", "x"), ("b", None)]
    assert statements.run([(SELECT, [marker])]) in ([2], [-1])  # a count, not rows, without fetch


TRICKY = [
    "it's", "back\\slash\\", "\\'; DROP TABLE orchestration_history; --", "%s and %(name)s and %%",
    "quotes '' and \"double\"", "line\nbreak\ttab", "émoji 🎉 日本", "", "E'\\x41'", "$1 $$ $tag$",
]


@pytest.mark.parametrize("together", [True, False])
def test_arguments_arrive_unchanged(together: bool) -> None:
    marker = uuid.uuid4().hex
    batch = [(INSERT, [marker, f"actor {i}", text, -(2**62) + i]) for i, text in enumerate(TRICKY)]
    if together:
        statements.run(batch)
    else:
        for statement in batch:
            statements.run([statement])
    stored = dict(History.objects.filter(workflow_id=marker).values_list("actor", "reason"))
    assert stored == {f"actor {i}": text for i, text in enumerate(TRICKY)}


def test_every_statement_is_seen_by_django_execute_wrappers() -> None:
    marker = uuid.uuid4().hex
    with count_queries() as counted, transaction.atomic():
        statements.run([(INSERT, [marker, "a", None, 1]), (INSERT, [marker, "b", None, 2]), (SELECT, [marker])])
    assert counted.verbs == ["INSERT", "INSERT", "SELECT"]
    assert counted.commits == 1


def test_a_failing_statement_stops_the_rest_and_the_transaction_rolls_back() -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(DatabaseError), transaction.atomic():
        statements.run([(INSERT, [marker, "a", None, 1]), ("SELECT * FROM no_such_table_here", []), (INSERT, [marker, "b", None, 2])])
    assert _rows(marker) == 0
    statements.run([(INSERT, [marker, "c", None, 3]), (INSERT, [marker, "d", None, 4])])  # the connection serves on
    assert _rows(marker) == 2
    assert connection.get_autocommit()


def test_a_transaction_rolls_back_whole() -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(RuntimeError), transaction.atomic():
        statements.run([(INSERT, [marker, "a", None, 1]), (INSERT, [marker, "b", None, 2])])
        statements.run([(INSERT, [marker, "c", None, 3])])
        raise RuntimeError("roll it back")
    assert _rows(marker) == 0


def test_a_step_is_one_round_trip() -> None:
    postgres_only()
    marker = uuid.uuid4().hex
    statements.run([(INSERT, [marker, "a", None, 1])])
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile() as trace:
        # libpq's protocol trace: what the client sent ("F") and received ("B"), in order.
        pgconn.trace(trace.fileno())
        try:
            with transaction.atomic():
                statements.run([(INSERT, [marker, "b", None, 2]), (INSERT, [marker, "c", None, 3]), (SELECT, [marker])])
        finally:
            pgconn.untrace()
        trace.seek(0)
        lines = [line.split("\t") for line in trace.read().decode(errors="replace").splitlines()]
    messages = [(fields[1], fields[3].strip()) for fields in lines if len(fields) > 3]
    # psycopg runs the transaction's BEGIN on its own and waits for it; after that, the three
    # statements are all sent before a single Sync, and nothing comes back in between.
    begin_done = next(i for i, m in enumerate(messages) if m == ("B", "CommandComplete"))
    step = messages[begin_done + 2 :]
    first_sync = next(i for i, m in enumerate(step) if m == ("F", "Sync"))
    assert [m for m in step[:first_sync] if m[1] == "Execute"] == [("F", "Execute")] * 3, messages
    assert all(direction == "F" for direction, _ in step[:first_sync]), messages
    assert _rows(marker) == 3


def test_statements_are_prepared_once_per_connection() -> None:
    postgres_only()
    marker = uuid.uuid4().hex
    # A statement text no other test runs, so that its prepared form is this test's own.
    sql = f"SELECT %s::text AS prepared_{marker}"
    count = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s"
    with transaction.atomic():
        for i in range(3):
            assert statements.run([(sql, [str(i)])], fetch=True) == [[(str(i),)]]
        with connection.cursor() as cursor:
            cursor.execute(count, [f"%prepared_{marker}%"])
            prepared = cursor.fetchone()[0]
    assert prepared == (1 if connection.connection.prepare_threshold is not None else 0)
