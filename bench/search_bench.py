"""Search at scale: bulk-load N workflows (+ tasks) and time representative searches.

    createdb -h 127.0.0.1 -U postgres baton_search
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/baton_search \\
        .venv/bin/python -m bench.search_bench [--workflows 100000] [--tasks 3] [--repeat 7]

Use a database of its own: the bench migrates it, deletes the rows it loaded on an earlier run
(workflow names starting ``bsearch_``) and refuses to run when it holds other workflows, unless
``--force``. ``--reuse`` keeps rows from an earlier run of the same size (no reload). ``--in-flight`` sets the
share of RUNNING / PAUSED workflows (default 5%), which freeText's cost depends on. Without
DATABASE_URL it runs on a SQLite file under ``.baton/search-bench`` (never ``make run``'s).

Each search runs through ``orchestration.selectors.search`` and the summary renderers, i.e.
everything ``GET /api/workflow/search`` does but HTTP: the figures are per request, in ms
(median and worst of ``--repeat`` runs after one warm-up). ``--explain`` prints PostgreSQL's
plan of each page query. ``--write-cost`` (PostgreSQL) times single-row UPDATEs of workflows and
tasks with and without the trigram indexes, the price search puts on the engine's hot path.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
PREFIX = "bsearch_"
DAY = 86_400_000
TYPES = {  # workflow type -> (share, task types)
    f"{PREFIX}order_fulfilment": (0.40, ["validate_order", "charge_payment", "ship_order"]),
    f"{PREFIX}payment_refund": (0.20, ["lookup_payment", "refund_payment", "notify_customer"]),
    f"{PREFIX}user_onboarding": (0.20, ["create_account", "send_welcome", "provision_trial"]),
    f"{PREFIX}report_generation": (0.15, ["collect_data", "render_report", "upload_report"]),
    f"{PREFIX}data_sync": (0.05, ["read_source", "transform", "write_sink"]),
}
# Finished workflows by status; --in-flight sets the share of RUNNING / PAUSED ones (they matter:
# freeText scans in-flight rows, see migration 0003).
FINISHED = [("COMPLETED", 0.84), ("FAILED", 0.09), ("TERMINATED", 0.05), ("TIMED_OUT", 0.02)]


def _statuses(in_flight: float) -> list[tuple[str, float]]:
    return [("RUNNING", in_flight * 0.85), ("PAUSED", in_flight * 0.15)] + [
        (status, share * (1 - in_flight)) for status, share in FINISHED
    ]


def _prepare_environment() -> None:
    if "DATABASE_URL" not in os.environ:
        state = BASE_DIR / ".baton" / "search-bench"
        state.mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{state / 'search.sqlite3'}"
        os.environ.setdefault("BATON_STATE_DIR", str(state))
    os.environ["DJANGO_SETTINGS_MODULE"] = "conductor_project.settings"
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory
    os.environ.setdefault("DJANGO_SECRET_KEY", "baton-search-bench-only-secret-key")
    os.environ.setdefault("BATON_LOG_LEVEL", "WARNING")


# --- data --------------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _snapshots() -> dict[str, str]:
    from orchestration import snapshots
    from orchestration.models import DefinitionSnapshot

    keys: dict[str, str] = {}
    for name, (_, task_types) in TYPES.items():
        data = {
            "name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "bench@example.com",
            "tasks": [{"name": t, "taskReferenceName": f"{t}_ref", "type": "SIMPLE"} for t in task_types],
        }  # fmt: skip
        keys[name] = snapshots.snapshot_key(data)
        DefinitionSnapshot.objects.bulk_create(
            [DefinitionSnapshot(key=keys[name], data=data, create_time=0)], ignore_conflicts=True
        )
    return keys


def _task_statuses(wf_status: str, count: int) -> list[str]:
    if wf_status == "COMPLETED":
        return ["COMPLETED"] * count
    if wf_status in ("FAILED", "TIMED_OUT"):
        return ["COMPLETED"] * (count - 1) + [wf_status if wf_status == "FAILED" else "TIMED_OUT"]
    if wf_status == "TERMINATED":
        return ["COMPLETED"] * (count - 1) + ["CANCELED"]
    return ["COMPLETED"] * (count - 1) + ["IN_PROGRESS" if wf_status == "RUNNING" else "SCHEDULED"]


def load(n: int, tasks_per: int, in_flight: float, now: int, seed: int = 7) -> None:
    from django.db import transaction

    from orchestration.models import Task, Workflow

    rng = random.Random(seed)
    statuses = _statuses(in_flight)
    keys = _snapshots()
    names = list(TYPES)
    shares = [TYPES[t][0] for t in names]
    batch = 2_000
    started = time.perf_counter()
    ids: list[str] = []
    for offset in range(0, n, batch):
        workflows, tasks = [], []
        for i in range(offset, min(n, offset + batch)):
            name = rng.choices(names, weights=shares)[0]
            status = _pick(rng, statuses)
            created = now - rng.randrange(30 * DAY)
            ended = status not in ("RUNNING", "PAUSED")
            end = created + rng.randrange(200, 600_000) if ended else 0
            wf_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            customer = rng.randrange(50_000)
            wf_input = {
                "orderId": f"ORD-{i:07d}",
                "customer": {"id": f"cust-{customer}", "email": f"user{customer}@example.com",
                             "tier": rng.choice(["free", "silver", "gold"])},
                "items": [{"sku": f"SKU-{rng.randrange(10_000):05d}", "qty": rng.randrange(1, 5),
                           "price": round(rng.uniform(1, 300), 2)} for _ in range(rng.randrange(1, 4))],
                "amount": round(rng.uniform(5, 900), 2), "currency": rng.choice(["EUR", "USD", "GBP"]),
                "channel": rng.choice(["web", "mobile", "partner"]),
            }  # fmt: skip
            parent = rng.choice(ids) if ids and rng.random() < 0.03 else None
            workflows.append(Workflow(
                id=wf_id, name=name, version=1, status=status, snapshot_id=keys[name],
                correlation_id=f"order-{i}" if rng.random() < 0.85 else None, input=wf_input,
                output={"result": "ok", "ref": f"R{i}"} if status == "COMPLETED" else {},
                reason_for_incompletion="payment declined" if status == "FAILED" else None,
                failed_reference_task_names=[f"{TYPES[name][1][-1]}_ref"] if status == "FAILED" else [],
                failed_task_names=[TYPES[name][1][-1]] if status == "FAILED" else [],
                parent_workflow_id=parent, create_time=created, update_time=end or created + 500, end_time=end,
                next_check_at=created + 3_600_000 if status == "RUNNING" else None,
            ))  # fmt: skip
            ids.append(wf_id)
            for seq, (task_type, task_status) in enumerate(
                zip(TYPES[name][1][:tasks_per], _task_statuses(status, min(tasks_per, 3)), strict=False), start=1
            ):
                scheduled = created + seq * 100
                done = task_status not in ("SCHEDULED", "IN_PROGRESS")
                tasks.append(Task(
                    id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), workflow_id=wf_id, ref=f"{task_type}_ref",
                    task_type=task_type, task_def_name=task_type, status=task_status, seq=seq, executed=done,
                    input={"orderId": wf_input["orderId"], "customerId": wf_input["customer"]["id"],
                           "amount": wf_input["amount"]},
                    output={"ok": True} if task_status == "COMPLETED" else {}, queue_name=task_type,
                    worker_id=f"worker-{rng.randrange(8)}" if task_status != "SCHEDULED" else None,
                    scheduled_time=scheduled, start_time=scheduled + 20 if task_status != "SCHEDULED" else 0,
                    end_time=scheduled + 300 if done else 0, update_time=scheduled + (300 if done else 20),
                ))  # fmt: skip
        with transaction.atomic():
            Workflow.objects.bulk_create(workflows)
            Task.objects.bulk_create(tasks)
        print(f"\r  loaded {min(n, offset + batch):,} workflows", end="", flush=True)
    print(f" ({time.perf_counter() - started:.0f} s)")


# --- searches ----------------------------------------------------------------------------------


def _searches(now: int, sample: dict[str, str]) -> list[tuple[str, Callable[[], Any]]]:
    from orchestration.documents import summaries
    from orchestration.selectors import definitions, search

    order = f"{PREFIX}order_fulfilment"
    wf_fields, task_fields = summaries.WORKFLOW_SUMMARY_FIELDS, summaries.TASK_SUMMARY_FIELDS

    def wf(query: str | None = None, free: str = "*", sort: str | None = None, start: int = 0,
           by_tasks: bool = False) -> Callable[[], Any]:
        def run() -> Any:
            page = search.search_workflows(query=query, free_text=free, sort=sort, start=start, size=100,
                                           fields=wf_fields, by_tasks=by_tasks)
            kinds = definitions.snapshot_classifiers(snapshot_keys=(row["snapshot_id"] for row in page.rows))
            return page.total, summaries.workflow_summaries(page.rows, kinds)
        return run  # fmt: skip

    def task(query: str, sort: str | None = None) -> Callable[[], Any]:
        def run() -> Any:
            page = search.search_tasks(query=query, free_text="*", sort=sort, start=0, size=100, fields=task_fields)
            return page.total, [summaries.task_summary(r, now=now) for r in page.rows]
        return run

    week, day = now - 7 * DAY, now - DAY
    return [
        ("type + status IN + 7-day range, startTime DESC",
         wf(f"workflowType IN ({order}) AND status IN (FAILED,TIMED_OUT) AND startTime > {week} AND startTime < {now}",
            sort="startTime:DESC")),
        ("type + status COMPLETED, startTime DESC",
         wf(f"workflowType = '{order}' AND status = 'COMPLETED'", sort="startTime:DESC")),
        ("status + 1-day range (UI 'failed today')", wf(f"status IN (FAILED) AND startTime > {day}")),
        ("type only, default sort", wf(f"workflowType IN ({order})")),
        ("everything, default sort (count capped)", wf()),
        ("everything, page at start=5000", wf(start=5000)),
        ("correlationId equality", wf(f"correlationId = '{sample['correlation_id']}'")),
        ("correlationId LIKE prefix 'order-4242*'", wf("correlationId = 'order-4242*'")),
        ("freeText = a workflow id", wf(free=sample["workflow_id"])),
        ("freeText = an input value (customer id)", wf(free=sample["customer"])),
        ("freeText = an input value + status", wf("status = FAILED", free=sample["customer"])),
        ("endTime range (finished in the last hour)", wf(f"endTime > {now - 3_600_000}", sort="endTime:DESC")),
        ("tasks: taskType + status", task("taskType IN (ship_order) AND status IN (FAILED)")),
        ("tasks: taskType + updateTime 1-day (UI)", task(f"taskType IN (charge_payment) AND updateTime > {day}")),
        ("tasks: status IN_PROGRESS, updateTime DESC", task("status = IN_PROGRESS", sort="updateTime:DESC")),
        ("tasks: workflowType + status", task(f"workflowType IN ({order}) AND status = FAILED")),
        ("search-by-tasks: taskType + status", wf("taskType = 'ship_order' AND status = 'FAILED'", by_tasks=True)),
    ]  # fmt: skip


def _explain(fn: Callable[[], Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    for q in ctx.captured_queries:
        if q["sql"].lstrip().upper().startswith("SELECT") and "orchestration_definitionsnapshot" not in q["sql"]:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + q["sql"])
                print("      " + "\n      ".join(r[0] for r in cursor.fetchall()))


def time_searches(now: int, repeat: int, explain: bool) -> None:
    from orchestration.models import Task, Workflow

    # A failed workflow, so that "freeText + status = FAILED" finds something.
    sample_row = Workflow.objects.filter(name__startswith=PREFIX, correlation_id__isnull=False, status="FAILED").order_by(
        "id").values("id", "correlation_id", "input")[0]  # fmt: skip
    sample = {"workflow_id": sample_row["id"], "correlation_id": sample_row["correlation_id"],
              "customer": sample_row["input"]["customer"]["id"]}  # fmt: skip
    print(f"\n  {Workflow.objects.count():,} workflows, {Task.objects.count():,} tasks; ms per request "
          f"(median / worst of {repeat}), hits\n")  # fmt: skip
    for label, fn in _searches(now, sample):
        fn()  # warm-up (caches, plans)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            total, results = fn()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"  {label:<55} {statistics.median(times):8.1f} {max(times):8.1f}   {total:>7,} ({len(results)} shown)")
        if explain:
            _explain(fn)


def write_cost(samples: int = 5_000) -> None:
    """The price of the search indexes on the engine's hot path: single-row UPDATEs that
    change an indexed column (so none is a HOT update, like the engine's status changes), with
    every search index, without the trigram ones, and without any of migration 0003's."""
    from django.db import connection, transaction

    from orchestration.models import Task, Workflow

    if connection.vendor != "postgresql":
        print("  --write-cost needs PostgreSQL")
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s", ["search\\_%"])
        ours = cursor.fetchall()
    # In-flight rows: the ones the engine updates, several times each.
    wf_ids = list(Workflow.objects.filter(name__startswith=PREFIX, status="RUNNING").values_list("id", flat=True)[:samples])
    task_ids = list(
        Task.objects.filter(workflow__name__startswith=PREFIX, status__in=("SCHEDULED", "IN_PROGRESS")).values_list(
            "id", flat=True)[:samples]
    )  # fmt: skip
    statements = (
        ("UPDATE orchestration_workflow SET update_time = update_time + 1, "
         "next_check_at = COALESCE(next_check_at, 0) + 1 WHERE id = %s", wf_ids),
        ("UPDATE orchestration_task SET update_time = update_time + 1, "
         "timeout_at = COALESCE(timeout_at, 0) + 1 WHERE id = %s", task_ids),
    )  # fmt: skip

    def run() -> str:
        out = []
        for sql, ids in statements:
            t0 = time.perf_counter()
            for chunk in range(0, len(ids), 50):  # a few statements per transaction, as a transition
                with transaction.atomic(), connection.cursor() as cursor:
                    for pk in ids[chunk : chunk + 50]:
                        cursor.execute(sql, [pk])
            out.append((time.perf_counter() - t0) * 1e6 / len(ids))
        return f"{out[0]:.0f} / {out[1]:.0f}"

    def drop(names: list[str]) -> None:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP INDEX {name}")

    run()  # warm-up
    figures = {"all search indexes": run()}
    drop([name for name, _ in ours if name.endswith("_trgm")])
    figures["without the trigram indexes"] = run()
    drop([name for name, _ in ours if not name.endswith("_trgm")])
    figures["without any search index"] = run()
    with connection.cursor() as cursor:
        for _, definition in ours:
            cursor.execute(definition)
        # The timed UPDATEs left dead rows behind: clean up for whatever runs next.
        cursor.execute("VACUUM ANALYZE orchestration_workflow")
        cursor.execute("VACUUM ANALYZE orchestration_task")
    print(f"\n  UPDATE cost, µs per row (workflow / task), {len(ours)} search indexes:")
    for label, text in figures.items():
        print(f"    {label:<30} {text}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.search_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--workflows", type=int, default=100_000)
    p.add_argument("--tasks", type=int, default=3, help="tasks per workflow (at most 3)")
    p.add_argument("--in-flight", type=float, default=0.05, help="share of RUNNING/PAUSED workflows (default 0.05)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--reuse", action="store_true", help="keep the rows of an earlier run of the same size")
    p.add_argument("--force", action="store_true", help="run even if the database holds other workflows")
    p.add_argument("--explain", action="store_true", help="print PostgreSQL's plans (EXPLAIN ANALYZE)")
    p.add_argument("--write-cost", action="store_true", help="time UPDATEs with and without trigram indexes")
    args = p.parse_args(argv)
    _prepare_environment()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from orchestration.models import Workflow

    print(f"search bench on {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    others = Workflow.objects.exclude(name__startswith=PREFIX).count()
    if others and not args.force:
        print(f"refusing: the database holds {others:,} workflows this bench did not load (use a dedicated "
              f"database, or --force)", file=sys.stderr)  # fmt: skip
        return 2
    ours = Workflow.objects.filter(name__startswith=PREFIX)
    now = int(time.time() * 1000)
    in_flight = ours.filter(status__in=("RUNNING", "PAUSED")).count() / max(1, ours.count())
    if not (args.reuse and ours.count() == args.workflows and abs(in_flight - args.in_flight) < 0.01):
        print("  deleting earlier bench rows" if ours.exists() else "  loading")
        ours.delete()
        load(args.workflows, max(1, min(args.tasks, 3)), args.in_flight, now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE orchestration_workflow")
                cursor.execute("VACUUM ANALYZE orchestration_task")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    else:
        now = ours.order_by("-create_time").values_list("create_time", flat=True)[0] + 1  # the load's "now"
    time_searches(now, args.repeat, args.explain)
    if args.write_cost:
        write_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
