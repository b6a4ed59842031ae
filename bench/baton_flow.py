"""Experiment 2: Baton, workflows of three SIMPLE ``bench_noop`` tasks run by the same worker."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from django.db import connection

from orchestration.models import DecideRequest, History, Task, Workflow
from orchestration.services.definitions import task_defs_register, workflow_def_register
from orchestration.services.workflows import workflow_start

TASK_TYPE = "bench_noop"
WORKFLOW = "bench_noop_3"
TASKS = 3
TERMINAL = ("COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED")
OWNER = "bench@baton.local"


def ensure_definitions() -> None:
    task_defs_register(
        defs=[{
            "name": TASK_TYPE, "description": "benchmark no-op", "retryCount": 0, "responseTimeoutSeconds": 60,
            "timeoutSeconds": 0, "timeoutPolicy": "TIME_OUT_WF", "ownerEmail": OWNER,
        }],
        actor="bench",
    )
    definition = {
        "name": WORKFLOW, "description": "three no-op SIMPLE tasks (make bench)", "version": 1, "schemaVersion": 2,
        "ownerEmail": OWNER,
        "tasks": [
            {"name": TASK_TYPE, "taskReferenceName": f"noop_{i}", "type": "SIMPLE", "inputParameters": {}}
            for i in range(1, TASKS + 1)
        ],
        "outputParameters": {},
    }
    workflow_def_register(data=definition, overwrite=True, actor="bench")


def delete_previous_runs() -> int:
    """Remove the rows of earlier bench runs, so every run starts on tables of the same size."""
    ids = list(Workflow.objects.filter(name=WORKFLOW).values_list("id", flat=True))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        History.objects.filter(workflow_id__in=chunk).delete()
        DecideRequest.objects.filter(workflow_id__in=chunk).delete()
        Workflow.objects.filter(id__in=chunk).delete()  # tasks go with them (CASCADE)
    return len(ids)


def vacuum() -> str:
    """On PostgreSQL, VACUUM ANALYZE the execution tables: what autovacuum keeps doing on a
    maintained server. Where it is off (as on this kind of CI machine), the dead rows of the
    deletes above and of earlier phases pile up, and every index scan of a transition wades
    through them (measured: 3x the database time per transition). Returns a note for the report."""
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
        for model in (Workflow, Task, History, DecideRequest):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return f"autovacuum {autovacuum}; the bench vacuums the execution tables before each Baton phase"


@dataclass
class BatonResult:
    workflows: int
    transitions: int
    seconds: float  # first start call -> last workflow's end_time
    start_seconds: float  # time the bench took to start them all
    # "step": previous task's end_time (the workflow's create_time for the first task) -> this
    # task's end_time: decide + commit + publish + queue + claim + run + update, the full cost of
    # moving a workflow on by one task. "sched": this task's scheduled_time -> end_time (leaves
    # out the decide that scheduled it). "queue": scheduled_time -> start_time (claim).
    step_ms: list[float] = field(default_factory=list)
    sched_ms: list[float] = field(default_factory=list)
    queue_ms: list[float] = field(default_factory=list)
    not_completed: dict[str, int] = field(default_factory=dict)


def merge(results: list[BatonResult]) -> BatonResult:
    """Several runs as one: counts, times and samples added up."""
    not_completed: dict[str, int] = {}
    for r in results:
        for status, n in r.not_completed.items():
            not_completed[status] = not_completed.get(status, 0) + n
    return BatonResult(
        workflows=sum(r.workflows for r in results), transitions=sum(r.transitions for r in results),
        seconds=sum(r.seconds for r in results), start_seconds=sum(r.start_seconds for r in results),
        step_ms=[v for r in results for v in r.step_ms], sched_ms=[v for r in results for v in r.sched_ms],
        queue_ms=[v for r in results for v in r.queue_ms], not_completed=not_completed,
    )


def _start(tag: str, workflow: str = WORKFLOW) -> str:
    return workflow_start(name=workflow, input={}, correlation_id=tag, actor="bench")


def _finished(tag: str) -> int:
    return Workflow.objects.filter(correlation_id=tag, status__in=TERMINAL).count()


def _collect(tag: str, n: int, t0_ms: int, seconds_fallback: float, start_seconds: float) -> BatonResult:
    workflows = {
        wid: (created, ended, status)
        for wid, created, ended, status in Workflow.objects.filter(correlation_id=tag).values_list(
            "id", "create_time", "end_time", "status"
        )
    }
    tasks: dict[str, list[tuple[int, int, int, int, str]]] = {}
    for wid, seq, scheduled, started, ended, status in Task.objects.filter(workflow__correlation_id=tag).values_list(
        "workflow_id", "seq", "scheduled_time", "start_time", "end_time", "status"
    ):
        tasks.setdefault(wid, []).append((seq, scheduled, started, ended, status))
    result = BatonResult(workflows=0, transitions=0, seconds=seconds_fallback, start_seconds=start_seconds)
    last_end = 0
    for wid, (created, ended, status) in workflows.items():
        if status != "COMPLETED":
            result.not_completed[status] = result.not_completed.get(status, 0) + 1
            continue
        result.workflows += 1
        last_end = max(last_end, ended)
        previous = created
        for _, scheduled, started, task_end, task_status in sorted(tasks.get(wid, [])):
            if task_status != "COMPLETED":
                continue
            result.transitions += 1
            result.step_ms.append(float(task_end - previous))
            result.sched_ms.append(float(task_end - scheduled))
            result.queue_ms.append(float(started - scheduled))
            previous = task_end
    missing = n - len(workflows)
    if missing:
        result.not_completed["never started"] = missing
    if last_end:
        result.seconds = (last_end - t0_ms) / 1000
    return result


def run_throughput(n: int, stall_timeout: float = 30.0, workflow: str = WORKFLOW) -> BatonResult:
    """Start ``n`` workflows (of ``workflow``) back to back from this process, then poll the
    database every 50 ms until all are terminal (or nothing has finished for ``stall_timeout``
    seconds)."""
    tag = "bench-" + uuid.uuid4().hex[:10]
    t0 = time.time()
    for _ in range(n):
        _start(tag, workflow)
    start_seconds = time.time() - t0
    done, last_progress = -1, time.monotonic()
    while True:
        now_done = _finished(tag)
        if now_done >= n:
            break
        if now_done != done:
            done, last_progress = now_done, time.monotonic()
        elif time.monotonic() - last_progress > stall_timeout:
            break
        time.sleep(0.05)
    return _collect(tag, n, int(t0 * 1000), time.time() - t0, start_seconds)


def run_serial(n: int, timeout_each: float = 10.0, poll: float = 0.05) -> BatonResult:
    """Low load: one workflow at a time, each polled for (every ``poll`` s) until terminal."""
    tag = "bench-" + uuid.uuid4().hex[:10]
    t0 = time.time()
    for _ in range(n):
        wid = _start(tag)
        deadline = time.monotonic() + timeout_each
        while time.monotonic() < deadline:
            time.sleep(poll)
            if Workflow.objects.filter(pk=wid, status__in=TERMINAL).exists():
                break
    return _collect(tag, n, int(t0 * 1000), time.time() - t0, 0.0)
