"""batch.run_batch on PostgreSQL: a transaction's first batch carries its BEGIN (one round trip
less per decide), and the transaction still behaves as Django's atomic expects."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from django.db import DatabaseError, DataError, connection, transaction

from orchestration.models import History
from orchestration.services import prepared
from orchestration.services.batch import run_batch

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = f"INSERT INTO {History._meta.db_table} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at) " \
         "VALUES (%s, NULL, NULL, NULL, 'RUNNING', 'test', NULL, 0)"  # fmt: skip


@pytest.fixture(autouse=True)
def _postgres_batches() -> None:
    if connection.vendor != "postgresql" or not prepared.enabled(connection):
        pytest.skip("multi-statement batches are PostgreSQL's, with prepared statements on")


def _rows(marker: str) -> int:
    return History.objects.filter(workflow_id=marker).count()


def test_a_batch_that_opens_a_transaction_sends_no_separate_begin() -> None:
    marker = uuid.uuid4().hex
    run_batch([(INSERT, [marker]), (INSERT, [marker])])  # prepared on this connection from now on
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile() as trace:
        # libpq's protocol trace: one "Query" line per query message the client sends.
        pgconn.trace(trace.fileno())
        try:
            with transaction.atomic():
                run_batch([(INSERT, [marker]), (INSERT, [marker])])
        finally:
            pgconn.untrace()
        trace.seek(0)
        queries = [line for line in trace.read().decode(errors="replace").splitlines() if "\tQuery\t" in line]
    # The batch (BEGIN in front) and COMMIT: no BEGIN of its own.
    assert len(queries) == 2, queries
    assert "BEGIN;" in queries[0] and "COMMIT" in queries[1]
    assert _rows(marker) == 4
    assert connection.get_autocommit() and connection.connection.autocommit


def test_the_transaction_a_batch_began_rolls_back_whole() -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(RuntimeError), transaction.atomic():
        run_batch([(INSERT, [marker]), (INSERT, [marker])])
        assert not connection.connection.autocommit  # still Django's transaction
        run_batch([(INSERT, [marker]), (INSERT, [marker])])  # begun already: no second BEGIN
        raise RuntimeError("roll it back")
    assert _rows(marker) == 0


def test_a_failing_first_batch_leaves_a_transaction_that_rolls_back() -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(DatabaseError), transaction.atomic():
        run_batch([(INSERT, [marker]), ("SELECT 1 / 0", [])])
    assert _rows(marker) == 0
    run_batch([(INSERT, [marker]), (INSERT, [marker])])  # the connection serves on, in autocommit
    assert _rows(marker) == 2


TRICKY = [
    "it's", "back\\slash\\", "\\'; DROP TABLE orchestration_history; --", "%s and %(name)s and %%",
    "quotes '' and \"double\"", "line\nbreak\ttab", "émoji 🎉 日本", "", "E'\\x41'", "$1 $$ $tag$",
]

INSERT_REASON = f"INSERT INTO {History._meta.db_table} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at) " \
                "VALUES (%s, NULL, NULL, NULL, 'RUNNING', %s, %s, %s)"  # fmt: skip


@pytest.mark.parametrize("single", [True, False])
def test_arguments_rendered_as_literals_arrive_unchanged(single: bool) -> None:
    # Prepared statements' arguments are rendered by Baton itself (services.prepared): every
    # string must reach the database exactly as given, whatever it holds.
    marker = uuid.uuid4().hex
    statements = [(INSERT_REASON, [marker, f"actor {i}", text, -(2**62) + i]) for i, text in enumerate(TRICKY)]
    if single:
        for statement in statements:
            run_batch([statement])
    else:
        run_batch(statements)
    stored = dict(History.objects.filter(workflow_id=marker).values_list("actor", "reason"))
    assert stored == {f"actor {i}": text for i, text in enumerate(TRICKY)}
    assert sorted(History.objects.filter(workflow_id=marker).values_list("at", flat=True)) == [
        -(2**62) + i for i in range(len(TRICKY))
    ]


def test_a_string_with_nul_is_refused_as_psycopg_refuses_it() -> None:
    with pytest.raises((DataError, ValueError)):
        run_batch([(INSERT_REASON, [uuid.uuid4().hex, "actor", "nul\x00byte", 0])])
