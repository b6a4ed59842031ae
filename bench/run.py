"""The benchmark run itself (Django is set up by ``bench.__main__`` before this is imported)."""

from __future__ import annotations

import argparse
import glob
import os
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings

from bench import baton_flow, raw_chain, report, statements
from bench.noop_workers import DONE_KEY, RAW_QUEUE
from bench.procs import Worker, machine_busy_cpu, postgres_cpu, self_cpu, tree_cpu
from conductor_project.celery import app
from conductor_project.embedded_redis import client_for_broker_url

BASE_DIR = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass
class Cpu:
    worker: float = 0.0
    bench: float = 0.0
    broker: float = 0.0
    db: float = 0.0
    machine: float = 0.0  # every process on the machine, ours included
    wall: float = 0.0

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.worker - other.worker, self.bench - other.bench, self.broker - other.broker, self.db - other.db,
            self.machine - other.machine, self.wall - other.wall,
        )

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.worker + other.worker, self.bench + other.bench, self.broker + other.broker, self.db + other.db,
            self.machine + other.machine, self.wall + other.wall,
        )

    @property
    def others_cores(self) -> float:
        """Average cores used by processes that are not part of the benchmark during the phase."""
        return max(0.0, self.machine - self.total) / self.wall if self.wall > 0 else 0.0

    @property
    def total(self) -> float:
        return self.worker + self.bench + self.broker + self.db


def _local_postgres() -> bool:
    db = settings.DATABASES["default"]
    host = str(db.get("HOST") or "")
    return "postgresql" in db["ENGINE"] and (host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/"))


def _describe_db() -> str:
    db = settings.DATABASES["default"]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"SQLite {db['NAME']}"
    return f"{engine} {db['NAME']} @ {db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}"


def run(args: argparse.Namespace, state_dir: Path, *, embedded_broker: bool) -> int:
    app.finalize(auto=True)  # imports the worker modules and sets up Baton's queues
    client = client_for_broker_url(str(app.conf.broker_url))
    queues = [q.name for q in app.conf.task_queues] + [RAW_QUEUE]
    local_pg = _local_postgres()

    def cpu() -> Cpu:
        info = client.info("cpu")
        return Cpu(
            worker=tree_cpu(worker.pid) if worker is not None else 0.0,
            bench=self_cpu(),
            broker=float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
            db=postgres_cpu(settings.DATABASES["default"]["NAME"]) if local_pg else 0.0,
            machine=machine_busy_cpu(),
            wall=time.monotonic(),
        )

    def measured(fn: Callable[[], T]) -> tuple[T, Cpu]:
        before = cpu()
        result = fn()
        return result, cpu() - before

    busy0, t0 = machine_busy_cpu(), time.monotonic()
    time.sleep(1.0)
    busy = (machine_busy_cpu() - busy0) / (time.monotonic() - t0)
    if busy > 0.2:
        print(f"bench: WARNING: other processes keep {busy:.2f} cores busy before starting: figures will be noisy")
    print(
        f"bench: database {_describe_db()}; broker {app.conf.broker_url}{' (embedded)' if embedded_broker else ''}; "
        f"worker -c {args.concurrency}; DEBUG {'on' if settings.DEBUG else 'off'}",
        flush=True,
    )
    baton_flow.ensure_definitions()
    removed = baton_flow.delete_previous_runs()
    if removed:
        print(f"bench: deleted {removed} workflows of earlier bench runs", flush=True)
    vacuum_note = baton_flow.vacuum()
    if vacuum_note:
        print(f"bench: {vacuum_note}", flush=True)

    _phase("in-process SQL count (no broker)")
    stmt = statements.measure_statements(workflows=5 if args.quick else 20)
    inproc = statements.measure_in_process(workflows=20 if args.quick else 200, profile=args.profile)
    probe = statements.probe_database()
    if args.show_sql:
        print("bench: the statements of one workflow (start + 3 executes), in order:")
        print("\n".join(f"  {line}" for line in stmt.sample), flush=True)

    _purge(queues)
    raw_chain.reset(client)
    argv = [
        sys.executable, "-m", "celery", "-A", "conductor_project", "worker", "-l", "warning",
        "-c", str(args.concurrency), "-n", f"bench-{os.getpid()}@%h", "-Q", ",".join(queues),
    ]  # fmt: skip
    worker: Worker | None = None
    _phase(f"starting worker: celery worker -c {args.concurrency} -Q {','.join(queues)}")
    worker = Worker(argv, dict(os.environ), BASE_DIR, state_dir / "worker.log")
    try:
        _wait_ready(worker, client)
        _phase("warm-up")
        raw_chain.run_throughput(app, client, 20 if args.quick else 200, timeout=60)
        baton_flow.run_throughput(10 if args.quick else 100)

        # Raw Celery and Baton take turns, round by round: this machine's speed drifts over
        # minutes (the same raw run varies by half), and each round compares the two under
        # the same conditions. The target is judged on the median of the rounds' ratios.
        raw_rounds: list[raw_chain.RawResult] = []
        baton_rounds: list[baton_flow.BatonResult] = []
        raw_cpu, baton_cpu = Cpu(), Cpu()
        for r in range(args.rounds):
            chains, flows = _share(args.chains, args.rounds, r), _share(args.workflows, args.rounds, r)
            _phase(f"round {r + 1}/{args.rounds}: raw Celery throughput, {chains} chains of 3")
            result, used = measured(lambda n=chains: raw_chain.run_throughput(app, client, n, timeout=120 + n * 0.05))
            raw_rounds.append(result)
            raw_cpu += used
            _check_worker(worker)
            baton_flow.vacuum()
            _phase(f"round {r + 1}/{args.rounds}: Baton throughput, {flows} workflows of 3 tasks")
            result, used = measured(lambda n=flows: baton_flow.run_throughput(n))
            baton_rounds.append(result)
            baton_cpu += used
            _check_worker(worker)
            raw_rate = raw_rounds[-1].hops / raw_rounds[-1].seconds if raw_rounds[-1].seconds > 0 else 0.0
            baton_rate = result.transitions / result.seconds if result.seconds > 0 else 0.0
            _phase(f"round {r + 1}/{args.rounds}: {raw_rate:,.0f} hops/s vs {baton_rate:,.0f} transitions/s, "
                   f"ratio {report.throughput_ratio(raw_rounds[-1], result):.2f}")  # fmt: skip
        raw_tp, baton_tp = raw_chain.merge(raw_rounds), baton_flow.merge(baton_rounds)
        round_ratios = [report.throughput_ratio(rr, br) for rr, br in zip(raw_rounds, baton_rounds, strict=True)]
        _phase(f"low load: {args.low_load} chains and {args.low_load} workflows, one at a time, alternating")
        baton_flow.vacuum()
        raw_serial: list[raw_chain.RawResult] = []
        baton_serial: list[baton_flow.BatonResult] = []
        for _ in range(args.low_load):
            raw_serial.append(raw_chain.run_serial(app, client, 1))
            baton_serial.append(baton_flow.run_serial(1))
        raw_ll, baton_ll = raw_chain.merge(raw_serial), baton_flow.merge(baton_serial)
        _check_worker(worker)
    finally:
        worker.stop()
    worker = None

    worker_profile = _worker_profile(state_dir) if args.profile else ""
    print()
    print(
        report.render(
            header=(
                f"database {_describe_db()} | broker {app.conf.broker_url}{' (embedded redis)' if embedded_broker else ''}\n"
                f"one `celery worker -c {args.concurrency}` (prefork) for both experiments | DEBUG "
                f"{'on' if settings.DEBUG else 'off'} | no beat (sweeper) running | {os.cpu_count()} CPUs"
                + ("\nPROFILED RUN: cProfile slows the worker, the figures below are not the real ones" if args.profile else "")
                + (f"\n{vacuum_note}" if vacuum_note else "")
            ),
            raw_tp=raw_tp, raw_cpu=raw_cpu, baton_tp=baton_tp, baton_cpu=baton_cpu, raw_ll=raw_ll, baton_ll=baton_ll,
            stmt=stmt, inproc=inproc, probe=probe, db_cpu_measured=local_pg, round_ratios=round_ratios,
        )
    )
    if args.profile:
        print("\n== Profile (CPU time): in-process transitions (bench process, broker stubbed) ==")
        print(inproc.profile)
        print("== Profile (CPU time): worker pool processes, bodies of baton.* tasks only ==")
        print(worker_profile or "(no worker profile was written)")
    problems = raw_tp.missing + raw_ll.missing + sum(baton_tp.not_completed.values()) + sum(baton_ll.not_completed.values())
    return 1 if problems else 0


def _share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split into ``parts`` nearly equal whole parts."""
    return total // parts + (1 if index < total % parts else 0)


def _phase(text: str) -> None:
    print(f"bench: {time.strftime('%H:%M:%S')} {text}", flush=True)


def _purge(queues: list[str]) -> None:
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        purged = sum(int(channel.queue_purge(q) or 0) for q in queues)
    if purged:
        print(f"bench: purged {purged} messages left in {', '.join(queues)}", flush=True)


def _wait_ready(worker: Worker, client: Any, timeout: float = 60.0) -> None:
    """The worker is ready once a raw chain has gone through it."""
    raw_chain.reset(client)
    with app.producer_or_acquire() as producer:
        raw_chain._publish(app, "ready", 0, producer)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_worker(worker)
        if client.blpop([DONE_KEY], timeout=0.5) is not None:
            return
    raise SystemExit(f"bench: the worker did not run a task within {timeout:.0f}s; its log:\n{worker.tail()}")


def _check_worker(worker: Worker) -> None:
    if not worker.alive():
        raise SystemExit(f"bench: the worker exited ({worker.proc.returncode}); its log:\n{worker.tail()}")


def _worker_profile(state_dir: Path) -> str:
    files = sorted(glob.glob(str(state_dir / "profile" / "worker-*.prof")))
    if not files:
        return ""
    stats = pstats.Stats(files[0])
    for f in files[1:]:
        stats.add(f)
    # Normalise by the transitions the profile saw: calls of the runtime's execute().
    executes = sum(nc for (fn, _, name), (_, nc, _, _, _) in stats.stats.items()  # type: ignore[attr-defined]
                   if name == "execute" and fn.endswith("workers/runtime.py"))  # fmt: skip
    head = f"{len(files)} pool process(es); {executes} task executions profiled\n"
    return head + statements.format_profile(stats, max(1, executes), unit="CPU")
