"""PostgreSQL single-statement writes for the two most frequent transitions.

A worker's claim and a worker's result are each one guarded UPDATE plus one history INSERT.
On PostgreSQL both fit in one data-modifying CTE, which is atomic on its own: run in
autocommit it needs no BEGIN and no separate COMMIT round trip, and the history row can never
be written without the status change it records (or the other way round). Everything else,
and SQLite (which has no UPDATE inside WITH), takes the transactional path in ``store`` and
``services.tasks``; both paths apply the same compare-and-set conditions.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

from orchestration.models import CLAIM_COLUMNS, History, Task, Workflow
from orchestration.services.batch import run_batch
from orchestration.services.store import claim_sql, decode_task_row


def available() -> bool:
    """Usable now: PostgreSQL, and not inside a caller's transaction (whose atomicity the
    caller wants to extend over more statements)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def async_claim_commit() -> bool:
    return bool(settings.BATON["ASYNC_CLAIM_COMMIT"])


@cache
def _claim_statement(in_queue: bool = False, async_commit: bool = False) -> str:
    history = History._meta.db_table
    # Tasks that carry concurrency/rate limits are excluded: their claim must be checked and
    # possibly rolled back in a transaction (services.tasks.task_claim falls back to it).
    # ``in_queue``: a poller only takes tasks of the queue it polls.
    queue = " AND queue_name = %(queue)s" if in_queue else ""
    update = claim_sql(extra_condition=f"AND extra -> '_limits' IS NULL{queue}")
    # ``async_commit``: this statement's own transaction commits without waiting for its WAL
    # to reach disk (set_config(..., true) lasts until that commit). A database crash may then
    # forget the last claims of a fraction of a second, all or nothing, never partly: those
    # tasks are SCHEDULED again and handed out again, as after a worker crash. The wait it
    # saves is a disk flush per transition, the largest single wait of a worker's transition.
    unlogged = ", (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit" if async_commit else ""
    # A poller answers with a Task document, which names the task's workflow: read with the
    # claim rather than by one more query per poll.
    info = ", w.name, w.correlation_id, w.snapshot_id" if in_queue else ""
    join = f" JOIN {Workflow._meta.db_table} AS w ON w.id = claimed.workflow_id" if in_queue else ""
    return f"""
        WITH claimed AS ({update}),
        logged AS (
            INSERT INTO {history} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at)
            SELECT workflow_id, id, ref, 'SCHEDULED', 'IN_PROGRESS', %(actor)s, NULL, %(now)s FROM claimed
        )
        SELECT claimed.*{info} FROM claimed{join}{unlogged}
    """


def claim(*, task_id: str, worker_id: str | None, now: int, queue_name: str | None = None) -> dict[str, Any] | None:
    """The claim of an unlimited task in one statement (of queue ``queue_name``, if given);
    None if it did not apply (the caller then takes the transactional path, which also tells a
    stale message from a limited task). A claim for a queue also carries its workflow's
    ``WORKFLOW_INFO`` under ``"workflow_info"``."""
    params = {"now": now, "worker": worker_id, "id": task_id, "actor": f"worker:{worker_id}" if worker_id else "worker"}
    if queue_name is not None:
        params["queue"] = queue_name
    statement = _claim_statement(queue_name is not None, async_claim_commit())
    rows = run_batch([(statement, params)], fetch=True)[0]
    if not rows:
        return None
    row = rows[0]
    task = decode_task_row(dict(zip(CLAIM_COLUMNS, row[: len(CLAIM_COLUMNS)], strict=True)))
    if queue_name is not None:
        task["workflow_info"] = dict(zip(WORKFLOW_INFO, (task["workflow_id"], *row[len(CLAIM_COLUMNS) :]), strict=True))
    return task


# What a Task document needs of its workflow (api.wire).
WORKFLOW_INFO = ("id", "name", "correlation_id", "snapshot_id")


@cache
def _result_statement(with_worker: bool, with_workflow: bool, mark_executed: bool = False) -> str:
    task, history = Task._meta.db_table, History._meta.db_table
    worker = ", worker_id = %(worker)s" if with_worker else ""
    # With its decide in the same transaction (workflows.workflow_finish_and_decide), the result
    # also writes the decider's "processed" flag: one UPDATE of the row instead of two. The
    # decide then sees the task as unprocessed in memory (store.save_workflow reconciles).
    worker += ", executed = true" if mark_executed else ""
    workflow = "AND workflow_id = %(workflow)s" if with_workflow else ""
    # ``prev`` locks the row and remembers the status it had, so the history row records the
    # real from-status; a concurrent result waits on the lock, then finds the task terminal.
    return f"""
        WITH prev AS (
            SELECT id, status FROM {task}
            WHERE id = %(id)s {workflow} AND status IN ('IN_PROGRESS', 'SCHEDULED')
            FOR UPDATE
        ),
        updated AS (
            UPDATE {task} AS t SET
                status = %(status)s, end_time = %(now)s, update_time = %(now)s, timeout_at = NULL,
                dispatch_at = NULL, output = %(output)s, reason_for_incompletion = %(reason)s{worker}
            FROM prev WHERE t.id = prev.id
            RETURNING t.workflow_id, t.ref, prev.status AS from_status, t.task_type, t.domain
        ),
        logged AS (
            INSERT INTO {history} (workflow_id, task_id, ref, from_status, to_status, actor, reason, at)
            SELECT workflow_id, %(id)s, ref, from_status, %(status)s, %(actor)s, %(reason)s, %(now)s FROM updated
        )
        SELECT workflow_id, ref, from_status, task_type, domain FROM updated
    """


def finish_statement(
    *,
    task_id: str,
    workflow_id: str | None,
    status: str,
    output: dict[str, Any],
    reason: str | None,
    worker_id: str | None,
    actor: str,
    now: int,
    mark_executed: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The guarded write of a terminal result with its history row, as one statement and its
    parameters; it returns one row (workflow id, ref, from-status, task type, domain) when it
    applied, none when the task was not open (already terminal, or unknown). ``mark_executed``:
    also set the decider's processed flag, for a result decided in the same transaction."""
    output_value = Task._meta.get_field("output").get_db_prep_save(output, connection)
    params = {
        "id": task_id, "workflow": workflow_id, "status": status, "now": now, "output": output_value,
        "reason": reason, "worker": worker_id, "actor": actor,
    }
    return _result_statement(bool(worker_id), bool(workflow_id), mark_executed), params


def finish(**kwargs: Any) -> tuple[Any, ...] | None:
    """A terminal result in one autocommitted statement (see ``finish_statement`` for the
    arguments): the row it returned, or None when the task was not open."""
    rows = run_batch([finish_statement(**kwargs)], fetch=True)[0]
    return tuple(rows[0]) if rows else None


__all__ = ["available", "claim", "finish", "finish_statement"]
