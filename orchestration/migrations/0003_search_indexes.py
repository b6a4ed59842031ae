"""Indexes for execution search (``orchestration.search``); nothing else.

Written by hand, as SQL run from RunPython, and deliberately kept out of Django's model state:

* the models (orchestration/models.py) stay as they are, and ``makemigrations`` has nothing to
  add or remove (an ``AddIndex`` here without the same index in ``Meta.indexes`` would make the
  next ``makemigrations`` generate a ``RemoveIndex``). Whoever moves them into ``Meta`` later
  should wrap that in ``SeparateDatabaseAndState`` so the database is not touched twice;
* two of them exist only on PostgreSQL with the pg_trgm extension, which the model state cannot
  express;
* on PostgreSQL they are built ``CONCURRENTLY`` (hence ``atomic = False``), so that migrating a
  live database with millions of executions does not block the engine's writes meanwhile.

The indexes (times are epoch ms):

* ``search_wf_input_trgm``, ``search_task_input_trgm`` (PostgreSQL + pg_trgm): trigram GIN
  indexes on ``input::text`` that serve freeText's "the input contains ..." (ILIKE '%...%').
  They are *partial*, finished executions only: an in-flight row is updated several times, and
  each (non-HOT) update of an indexed row inserts one GIN entry per trigram of its input again
  (a few hundred for a small input, thousands for a large one). Measured with bench/search_bench.py
  --write-cost, a full index about doubled the cost of a workflow UPDATE; the partial one adds
  nothing to in-flight updates and is paid once, when the execution finishes. freeText reaches
  in-flight rows through their status instead (orchestration.search.fields). Their predicates
  and the expression must stay identical to what fields.py generates, or PostgreSQL will not
  use them. ``CREATE EXTENSION IF NOT EXISTS pg_trgm`` needs a role allowed to create it (pg_trgm
  is a trusted extension since PostgreSQL 13: the database owner may); without it these two
  are skipped with a warning, and freeText still works, by scanning.
* ``search_wf_end_time`` (end_time > 0): "finished between ...", sort by endTime; only finished
  rows, which are rarely updated again.
* ``search_wf_parent`` (parent_workflow_id IS NOT NULL): the sub-workflows of a workflow.
* ``search_task_update_time``, ``search_task_status_update``: task search's default order
  (updateTime DESC), its time ranges and status filters (the UI's task search filters on these).

The model's own indexes already serve the rest: (name, status, create_time), (status,
create_time), (create_time), (correlation_id) on workflows; (task_type, status) on tasks.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, migrations

log = logging.getLogger(__name__)

# (name, table, columns and predicate), on every database.
BTREE = (
    ("search_wf_end_time", "orchestration_workflow", "(end_time) WHERE end_time > 0"),
    ("search_wf_parent", "orchestration_workflow", "(parent_workflow_id) WHERE parent_workflow_id IS NOT NULL"),
    ("search_task_update_time", "orchestration_task", "(update_time)"),
    ("search_task_status_update", "orchestration_task", "(status, update_time)"),
)
# PostgreSQL with pg_trgm only. Keep in step with orchestration.search.fields (json_text and the
# *_IN_FLIGHT statuses).
TRIGRAM = (
    ("search_wf_input_trgm", "orchestration_workflow",
     "USING gin ((input::text) gin_trgm_ops) WHERE status NOT IN ('RUNNING', 'PAUSED')"),
    ("search_task_input_trgm", "orchestration_task",
     "USING gin ((input::text) gin_trgm_ops) WHERE status NOT IN ('SCHEDULED', 'IN_PROGRESS')"),
)  # fmt: skip


def _postgres_invalid(schema_editor, name: str) -> bool:
    # A CONCURRENTLY build that failed half-way leaves an INVALID index that IF NOT EXISTS would
    # keep forever.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND pg_catalog.pg_table_is_visible(c.oid)",
            [name],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _create(schema_editor, name: str, table: str, body: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        if _postgres_invalid(schema_editor, name):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {body}")
    else:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {body}")


def _trigram_available(schema_editor) -> bool:
    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:  # no privilege, or the contrib package is not installed
        log.warning("pg_trgm unavailable (%s): freeText will scan instead of using trigram indexes", exc)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def forwards(apps, schema_editor) -> None:
    for name, table, body in BTREE:
        _create(schema_editor, name, table, body)
    if schema_editor.connection.vendor == "postgresql" and _trigram_available(schema_editor):
        for name, table, body in TRIGRAM:
            _create(schema_editor, name, table, body)


def backwards(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, _, _ in (*TRIGRAM, *BTREE):
        # The extension stays: other objects may use it, and it costs nothing unused.
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction. Every statement here is
    # idempotent, so a migration interrupted half-way can simply be run again.
    atomic = False

    dependencies = [
        ("orchestration", "0002_events_and_keys"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, atomic=False, elidable=False),
    ]
