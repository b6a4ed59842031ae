"""In-process cost of a transition: SQL statements and commits, wall and CPU time, and an
optional cProfile, for 3-task workflows driven through ``workers.runtime.execute`` with the
broker replaced by a list (no worker, no Redis involved).

A "transition" is one task of the workflow run to completion and the workflow moved on: its
share of the start (which schedules task 1), then claim + run + update + decide for each task.
Per transition = (start + 3 executes) / 3.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection
from django.test.utils import CaptureQueriesContext

import workers.runtime as runtime
from bench.baton_flow import TASKS, WORKFLOW
from bench.noop_workers import bench_noop
from orchestration import dispatch
from orchestration.services.workflows import workflow_start
from orchestration.testing import TRANSACTION_CONTROL, describe_statement


@dataclass
class StatementResult:
    workflows: int
    statements: float  # per transition, BEGIN/COMMIT not counted
    commits: float  # per transition: COMMITs of transactions + writes run in autocommit
    by_phase: dict[str, float] = field(default_factory=dict)  # statements per transition by phase
    by_verb: dict[str, float] = field(default_factory=dict)
    begins: float = 0.0  # explicit BEGIN statements (SQLite's BEGIN IMMEDIATE) per transition
    sample: list[str] = field(default_factory=list)  # the statements of one workflow, in order


@dataclass
class InProcessTiming:
    workflows: int
    wall_ms: float  # per transition
    cpu_ms: float  # per transition, this process only (the DB server's share is not in it)
    profile: str = ""


@contextlib.contextmanager
def _in_process_broker() -> Iterator[deque[tuple[str, str, str]]]:
    """Replace the publishers: task messages land in a queue this module drains itself."""
    queue: deque[tuple[str, str, str]] = deque()
    saved = dispatch.publish_tasks, dispatch.publish_decide
    dispatch.publish_tasks = lambda messages: queue.extend(messages)
    dispatch.publish_decide = lambda workflow_id: None
    try:
        yield queue
    finally:
        dispatch.publish_tasks, dispatch.publish_decide = saved


def _run_one(queue: deque[tuple[str, str, str]], mark=lambda phase: None) -> None:  # type: ignore[no-untyped-def]
    mark("start")
    workflow_start(name=WORKFLOW, input={}, actor="bench")
    while queue:
        task_id, _, task_type = queue.popleft()
        assert task_type == "bench_noop", task_type
        runtime.execute(task_id, bench_noop, wants_context=False)


def measure_statements(workflows: int = 20, warmup: int = 3) -> StatementResult:
    phase = ["start"]
    counts: Counter[str] = Counter()
    verbs: Counter[str] = Counter()
    commits = [0]
    begins = [0]
    sample: list[str] = []

    def mark(name: str) -> None:
        phase[0] = name

    real_claim, real_update = runtime.task_claim, runtime.task_update

    def claim(**kw):  # type: ignore[no-untyped-def]
        mark("claim")
        return real_claim(**kw)

    def update(**kw):  # type: ignore[no-untyped-def]
        mark("update+decide")  # a result is applied and decided in one transaction
        return real_update(**kw)

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        verb, writes = describe_statement(sql)
        if verb in TRANSACTION_CONTROL:
            begins[0] += verb == "BEGIN"
            return execute(sql, params, many, context)
        counts[phase[0]] += 1
        verbs[verb] += 1
        if not connection.in_atomic_block and writes:
            commits[0] += 1  # autocommit: the statement is its own (durable) transaction
        if recording[0]:
            sample.append(f"[{phase[0]}] {' '.join(sql.split())[:150]}")
        return execute(sql, params, many, context)

    real_commit = connection.commit

    def counting_commit() -> None:
        commits[0] += 1
        real_commit()

    recording = [False]
    with _in_process_broker() as queue:
        for _ in range(warmup):
            _run_one(queue)
        runtime.task_claim, runtime.task_update = claim, update
        connection.commit = counting_commit  # type: ignore[method-assign]
        try:
            with CaptureQueriesContext(connection), connection.execute_wrapper(wrapper):
                for i in range(workflows):
                    recording[0] = i == 0
                    _run_one(queue, mark)
        finally:
            runtime.task_claim, runtime.task_update = real_claim, real_update
            del connection.commit
    transitions = workflows * TASKS
    return StatementResult(
        workflows=workflows,
        statements=sum(counts.values()) / transitions,
        commits=commits[0] / transitions,
        by_phase={k: v / transitions for k, v in counts.items()},
        by_verb={k: v / transitions for k, v in verbs.most_common()},
        begins=begins[0] / transitions,
        sample=sample,
    )


def measure_in_process(workflows: int, profile: bool = False, top: int = 25) -> InProcessTiming:
    """Time ``workflows`` workflows run in this process; with ``profile``, run as many again under
    cProfile (separately, so that the timing is not the profiler's)."""
    with _in_process_broker() as queue:
        _run_one(queue)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(workflows):
            _run_one(queue)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        text = ""
        if profile:
            # CPU time: where this process spends its cycles; the waits are wall_ms - cpu_ms.
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(workflows):
                _run_one(queue)
            profiler.disable()
            text = format_profile(pstats.Stats(profiler), workflows * TASKS, top, unit="CPU")
    transitions = workflows * TASKS
    return InProcessTiming(workflows=workflows, wall_ms=wall * 1000 / transitions, cpu_ms=cpu * 1000 / transitions, profile=text)


def format_profile(stats: pstats.Stats, transitions: int, top: int = 25, unit: str = "wall") -> str:
    """Top functions by own time and by cumulative time, in µs per transition."""
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in rows.values())
    out = io.StringIO()
    out.write(f"total profiled {unit} time: {total * 1e6 / max(1, transitions):.0f} µs per transition "
              "(cProfile's own overhead inflates it; read the shares)\n")
    layers: Counter[str] = Counter()
    for (filename, _, name), (_, _, tt, _, _) in rows.items():
        layers[_layer(filename, name)] += tt
    out.write("\n  own time by layer\n")
    for layer, tt in layers.most_common():
        out.write(f"  {tt * 1e6 / transitions:8.1f} µs  {tt / total:5.1%}  {layer}\n")
    for title, index in (("own time (tottime)", 2), ("cumulative time (cumtime)", 3)):
        out.write(f"\n  top {top} by {title}, {unit} µs per transition\n")
        out.write(f"  {'own':>8} {'cum':>8} {'calls/tr':>9}  function\n")
        ranked = sorted(rows.items(), key=lambda kv: kv[1][index], reverse=True)[:top]
        for (filename, line, name), (_, ncalls, tt, ct, _) in ranked:
            where = _short(filename)
            out.write(
                f"  {tt * 1e6 / transitions:8.1f} {ct * 1e6 / transitions:8.1f} {ncalls / transitions:9.1f}  "
                f"{where}:{line}({name})\n"
            )
    return out.getvalue()


_LAYERS = (
    ("django/db/models/", "Django ORM: building and compiling queries, model instances"),
    ("django/db/backends/", "Django DB backend: cursor wrappers, transactions, connections"),
    ("django/db/transaction", "Django DB backend: cursor wrappers, transactions, connections"),
    ("django/", "Django, other"),
    ("psycopg", "psycopg: adapting parameters, sending, waiting for results"),
    ("sqlite3", "sqlite3"),
    ("orchestration/engine/", "Baton engine (decider, state tracking)"),
    ("orchestration/definitions/", "Baton definitions (parsing)"),
    ("orchestration/", "Baton services (store, tasks, workflows)"),
    ("workers/", "Baton worker runtime"),
    ("json/", "json encode/decode"),
    ("kombu/", "kombu / celery"),
    ("celery/", "kombu / celery"),
)


def _layer(filename: str, name: str) -> str:
    for marker, layer in _LAYERS:
        if marker in filename:
            return layer
    if filename == "~":
        if "sqlite3" in name:
            return "sqlite3"
        return "builtins (getattr, isinstance, str.join, ...)"
    return "other Python"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


@dataclass
class DbProbe:
    select_ms: float  # p50 of a SELECT 1 round trip
    commit_ms: float  # p50 of a one-row UPDATE committed on its own (the commit's flush included)


def probe_database(samples: int = 50) -> DbProbe:
    """What one round trip and one durable commit cost on this database, for reading the rest."""
    from django.db import transaction

    from bench.baton_flow import TASK_TYPE
    from bench.report import pct
    from orchestration.models import TaskDef

    selects, commits = [], []
    with connection.cursor() as cursor:
        for _ in range(samples):
            t0 = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            selects.append((time.perf_counter() - t0) * 1000)
    for i in range(samples):
        t0 = time.perf_counter()
        with transaction.atomic():
            TaskDef.objects.filter(name=TASK_TYPE).update(update_time=i)
        commits.append((time.perf_counter() - t0) * 1000)
    return DbProbe(select_ms=pct(selects, 50), commit_ms=pct(commits, 50))
