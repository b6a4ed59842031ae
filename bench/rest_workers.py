"""REST workers against Celery-native workers: the same 3-SIMPLE-task workflow, served two ways.

    .venv/bin/python -m bench.rest_workers [--workflows N] [--rounds N] [--long-poll N] [--quick]

On the configured DATABASE_URL / CELERY_BROKER_URL (as ``python -m bench``: its own
BATON_STATE_DIR, migrate first), with auth off (BATON_AUTH_ENABLED=false) for the server
processes, it starts a uvicorn web process (free port) and one ``celery worker -c 2`` (which also
runs Baton's own decide/dispatch tasks for both experiments), then:

1. Celery-native: N workflows of three ``bench_noop`` tasks (``bench.baton_flow``), run by the
   Celery worker;
2. REST: N workflows of three ``bench_rest_noop`` tasks, run by conductor-python's own worker
   runtime (``TaskHandler``, batch poll, 2 worker processes, 10 ms poll interval) in a subprocess
   against the live uvicorn, started for this step and stopped after it.
   Steps 1 and 2 alternate for ``--rounds`` rounds; the target is judged on the median of the
   rounds' ratios (REST / Celery-native transitions per second). Also reported: the delay
   scheduled -> polled (task start_time - scheduled_time, from the database);
3. long poll: the SDK workers stopped, one raw HTTP long-poller in this process
   (``GET /api/tasks/poll/batch/{type}?count=1&timeout=5000`` in a loop, then ``POST /api/tasks``)
   while workflows are started one at a time with a pause between them: scheduled -> polled.

All subprocesses run in process groups of their own, killed on any exit.
"""

import argparse
import contextlib
import http.client
import json
import math
import os
import signal
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
REST_TYPE = "bench_rest_noop"
REST_WORKFLOW = "bench_rest_noop_3"
HOST = "127.0.0.1"
RATIO_MIN = 0.5
LONG_POLL_P50_MAX_MS = 10.0


# --- the SDK worker subprocess (no Django here) ------------------------------------------------


def rest_noop(task_id: str = "") -> dict:
    """The REST worker's function (module level: the SDK pickles it into spawned processes)."""
    return {}


def _sdk_worker_main(task_type: str, processes: int, threads: int, poll_interval_ms: float) -> int:
    from conductor.client.automator.task_handler import TaskHandler
    from conductor.client.configuration.configuration import Configuration
    from conductor.client.worker.worker import Worker

    workers = [
        Worker(task_definition_name=task_type, execute_function=rest_noop, poll_interval=poll_interval_ms,
               thread_count=threads)
        for _ in range(processes)
    ]  # fmt: skip
    handler = TaskHandler(workers=workers, configuration=Configuration(), scan_for_annotated_workers=False)

    def stop(_signum, _frame):  # type: ignore[no-untyped-def]
        try:
            handler.stop_processes()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    handler.start_processes()
    print(f"sdk-worker: {processes} process(es) x {threads} thread(s) polling {task_type}", flush=True)
    handler.join_processes()
    return 0


# --- helpers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _phase(text: str) -> None:
    print(f"rest-bench: {time.strftime('%H:%M:%S')} {text}", flush=True)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def _f(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _wait_serving(web, base_url: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not web.alive():
            raise SystemExit(f"rest-bench: web server exited:\n{web.tail()}")
        with contextlib.suppress(OSError, urllib.error.HTTPError), \
                urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"rest-bench: web server not serving within {timeout:.0f}s:\n{web.tail()}")


def _ensure_rest_definitions() -> None:
    from bench.baton_flow import OWNER, TASKS
    from orchestration.services.definitions import task_defs_register, workflow_def_register

    task_defs_register(
        defs=[{
            "name": REST_TYPE, "description": "benchmark no-op (REST worker)", "retryCount": 0,
            "responseTimeoutSeconds": 60, "timeoutSeconds": 0, "timeoutPolicy": "TIME_OUT_WF", "ownerEmail": OWNER,
        }],
        actor="bench",
    )  # fmt: skip
    workflow_def_register(
        data={
            "name": REST_WORKFLOW, "description": "three no-op SIMPLE tasks for REST workers", "version": 1,
            "schemaVersion": 2, "ownerEmail": OWNER, "outputParameters": {},
            "tasks": [{"name": REST_TYPE, "taskReferenceName": f"rest_{i}", "type": "SIMPLE", "inputParameters": {}}
                      for i in range(1, TASKS + 1)],
        },
        overwrite=True, actor="bench",
    )  # fmt: skip


def _delete_rest_runs() -> int:
    from orchestration.models import DecideRequest, History, Workflow

    ids = list(Workflow.objects.filter(name=REST_WORKFLOW).values_list("id", flat=True))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        History.objects.filter(workflow_id__in=chunk).delete()
        DecideRequest.objects.filter(workflow_id__in=chunk).delete()
        Workflow.objects.filter(id__in=chunk).delete()
    return len(ids)


def _drop_rest_queue() -> None:
    """Whatever Baton published for the REST task type (no Celery worker consumes it)."""
    from conductor_project.celery import app

    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        client = conn.default_channel.client
        for pattern in (f"baton.task.{REST_TYPE}*", f"_kombu.binding*.baton.task.{REST_TYPE}*"):
            for key in list(client.scan_iter(match=pattern)):
                client.delete(key)


def _rest_throughput(n: int, stall_timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """``baton_flow.run_throughput`` for the REST workflow."""
    from bench.baton_flow import run_throughput

    return run_throughput(n, stall_timeout, workflow=REST_WORKFLOW)


class _LongPoller(threading.Thread):
    """One raw HTTP long-poller: poll batch count=1 timeout=5000, complete each task at once."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True, name="long-poller")
        self.port = port
        self.stopping = threading.Event()
        self.polled = 0
        self.errors: list[str] = []

    def run(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        path = f"/api/tasks/poll/batch/{REST_TYPE}?count=1&timeout=5000&workerid=bench-long-poller"
        while not self.stopping.is_set():
            try:
                conn.request("GET", path, headers={"Accept": "application/json"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    self.errors.append(f"poll HTTP {response.status}: {body[:200]!r}")
                    time.sleep(0.5)
                    continue
                for task in json.loads(body or b"[]") or []:
                    self.polled += 1
                    result = {
                        "taskId": task["taskId"], "workflowInstanceId": task["workflowInstanceId"],
                        "status": "COMPLETED", "outputData": {}, "workerId": "bench-long-poller",
                    }  # fmt: skip
                    conn.request("POST", "/api/tasks", body=json.dumps(result).encode(),
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})  # fmt: skip
                    update = conn.getresponse()
                    text = update.read()
                    if update.status >= 300:
                        self.errors.append(f"update HTTP {update.status}: {text[:200]!r}")
            except (OSError, http.client.HTTPException, ValueError) as error:
                if self.stopping.is_set():
                    break
                self.errors.append(repr(error))
                conn.close()
                conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                time.sleep(0.2)
        conn.close()


def _long_poll_run(port: int, n: int, pause: float):  # type: ignore[no-untyped-def]
    from bench.baton_flow import TERMINAL, _collect
    from orchestration.models import Workflow
    from orchestration.services.workflows import workflow_start

    poller = _LongPoller(port)
    poller.start()
    time.sleep(0.5)  # the poller is parked in its first long poll
    tag = "bench-lp-" + uuid.uuid4().hex[:10]
    t0 = time.time()
    try:
        for _ in range(n):
            wid = workflow_start(name=REST_WORKFLOW, input={}, correlation_id=tag, actor="bench")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                time.sleep(0.02)
                if Workflow.objects.filter(pk=wid, status__in=TERMINAL).exists():
                    break
            time.sleep(pause)
    finally:
        poller.stopping.set()
    result = _collect(tag, n, int(t0 * 1000), time.time() - t0, 0.0)
    return result, poller


# --- the run ---------------------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.rest_workers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--workflows", type=int, default=500, help="workflows per throughput run (default 500)")
    p.add_argument("--rounds", type=int, default=3, help="alternating native/REST rounds (default 3)")
    p.add_argument("--long-poll", type=int, default=50, help="workflows in the long-poll run (default 50)")
    p.add_argument("--pause", type=float, default=0.2, help="seconds between long-poll workflows (default 0.2)")
    p.add_argument("--concurrency", type=int, default=2, help="celery worker pool processes (default 2)")
    p.add_argument("--sdk-processes", type=int, default=2, help="SDK worker processes (default 2)")
    p.add_argument("--sdk-threads", type=int, default=1, help="threads per SDK worker process (default 1)")
    p.add_argument("--poll-interval-ms", type=float, default=10.0, help="SDK poll interval, ms (default 10)")
    p.add_argument("--quick", action="store_true", help="50 workflows per run, 15 in the long-poll run")
    p.add_argument("--sdk-worker", metavar="TASK_TYPE", help=argparse.SUPPRESS)  # the subprocess
    args = p.parse_args(argv)
    if args.quick:
        args.workflows, args.long_poll, args.rounds = min(args.workflows, 50), min(args.long_poll, 15), 1
    # what bench.__main__._prepare_environment reads
    args.debug, args.profile = False, False
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.sdk_worker:
        return _sdk_worker_main(args.sdk_worker, args.sdk_processes, args.sdk_threads, args.poll_interval_ms)

    from bench.__main__ import (
        WORKER_MODULES,
        _ensure_postgres_database,
        _migrate,
        _prepare_environment,
        _raise_interrupt,
    )

    state_dir = _prepare_environment(args)
    state_dir = state_dir / "rest"
    state_dir.mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    from django.conf import settings

    from conductor_project import embedded_redis

    broker_proc = None
    try:
        if "CELERY_BROKER_URL" not in os.environ:
            broker_proc = embedded_redis.ensure_running(Path(settings.EMBEDDED_REDIS_SOCKET), state_dir.parent)
        os.environ["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        os.environ["BATON_WORKER_MODULES"] = WORKER_MODULES
        _ensure_postgres_database()
        _migrate()
        import django

        django.setup()
        return _run(args, state_dir)
    except KeyboardInterrupt:
        print("\nrest-bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        embedded_redis.stop(broker_proc)


def _run(args: argparse.Namespace, state_dir: Path) -> int:
    from bench import baton_flow
    from bench.procs import Worker
    from bench.run import _describe_db, _purge
    from conductor_project.celery import app

    app.finalize(auto=True)
    server_env = dict(os.environ, BATON_AUTH_ENABLED="false")
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    sdk_env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CONDUCTOR_", "BATON_", "DJANGO_")) and k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}  # fmt: skip
    sdk_env.update(CONDUCTOR_SERVER_URL=f"{base_url}/api", PYTHONUNBUFFERED="1")

    print(f"rest-bench: database {_describe_db()}; broker {app.conf.broker_url}", flush=True)
    baton_flow.ensure_definitions()
    _ensure_rest_definitions()
    removed = baton_flow.delete_previous_runs() + _delete_rest_runs()
    if removed:
        print(f"rest-bench: deleted {removed} workflows of earlier runs", flush=True)
    queues = [q.name for q in app.conf.task_queues]
    _purge(queues)
    _drop_rest_queue()

    procs: list[Worker] = []
    try:
        _phase(f"starting uvicorn on {base_url} and celery worker -c {args.concurrency}")
        web = Worker([sys.executable, "-m", "uvicorn", "conductor_project.asgi:application", "--host", HOST,
                      "--port", str(port), "--lifespan", "off", "--log-level", "warning"],
                     server_env, BASE_DIR, state_dir / "web.log")  # fmt: skip
        procs.append(web)
        celery = Worker([sys.executable, "-m", "celery", "-A", "conductor_project", "worker", "-l", "warning",
                         "-c", str(args.concurrency), "-n", f"bench-rest-{os.getpid()}@%h", "-Q", ",".join(queues)],
                        server_env, BASE_DIR, state_dir / "worker.log")  # fmt: skip
        procs.append(celery)
        _wait_serving(web, base_url)

        _phase("warm-up (Celery-native)")
        warm = baton_flow.run_throughput(10, stall_timeout=60)
        if warm.workflows < 10:
            raise SystemExit(f"rest-bench: celery warm-up failed {warm.not_completed}:\n{celery.tail()}")
        natives: list[baton_flow.BatonResult] = []
        rests: list[baton_flow.BatonResult] = []
        for r in range(1, args.rounds + 1):
            # Alternating rounds, judged on the median ratio: this machine's speed drifts by tens
            # of percent over minutes (see bench.run). The SDK workers run only in REST rounds.
            _phase(f"round {r}/{args.rounds}: Celery-native throughput, {args.workflows} workflows of 3 bench_noop tasks")
            natives.append(baton_flow.run_throughput(args.workflows))
            _phase(f"round {r}/{args.rounds}: SDK TaskHandler, {args.sdk_processes} process(es) x {args.sdk_threads} thread(s)")
            sdk = Worker([sys.executable, "-m", "bench.rest_workers", "--sdk-worker", REST_TYPE,
                          "--sdk-processes", str(args.sdk_processes), "--sdk-threads", str(args.sdk_threads),
                          "--poll-interval-ms", str(args.poll_interval_ms)], sdk_env, BASE_DIR, state_dir / f"sdk-{r}.log")  # fmt: skip
            procs.append(sdk)
            warm = _rest_throughput(5, stall_timeout=60)
            if warm.workflows < 5:
                raise SystemExit(f"rest-bench: REST warm-up failed {warm.not_completed}:\n{sdk.tail()}\n{web.tail()}")
            _phase(f"round {r}/{args.rounds}: REST throughput, {args.workflows} workflows of 3 {REST_TYPE} tasks")
            rests.append(_rest_throughput(args.workflows))
            sdk.stop()
            procs.remove(sdk)
            n_rate, r_rate = (x.transitions / x.seconds if x.seconds > 0 else math.nan for x in (natives[-1], rests[-1]))
            _phase(f"round {r}/{args.rounds}: {n_rate:,.0f} vs {r_rate:,.0f} transitions/s, ratio {_rate_ratio(natives[-1], rests[-1]):.2f}")
        native, rest = baton_flow.merge(natives), baton_flow.merge(rests)

        _phase(f"long poll: {args.long_poll} workflows one at a time, {args.pause:g} s apart, one raw HTTP poller")
        lp, poller = _long_poll_run(port, args.long_poll, args.pause)
        for proc in procs:
            if not proc.alive():
                print(f"rest-bench: WARNING: a process exited early; log tail:\n{proc.tail()}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        _drop_rest_queue()

    print()
    print(_render(args, native, rest, lp, poller, [_rate_ratio(n, r) for n, r in zip(natives, rests, strict=True)]))
    problems = sum(native.not_completed.values()) + sum(rest.not_completed.values()) + sum(lp.not_completed.values())
    return 1 if problems else 0


def _rate_ratio(native, rest) -> float:  # type: ignore[no-untyped-def]
    """REST transitions/s over Celery-native transitions/s."""
    n = native.transitions / native.seconds if native.seconds > 0 else math.nan
    r = rest.transitions / rest.seconds if rest.seconds > 0 else math.nan
    return r / n if n > 0 else math.nan


def _render(args, native, rest, lp, poller, round_ratios: list[float]) -> str:  # type: ignore[no-untyped-def]
    def rate(count: int, seconds: float) -> float:
        return count / seconds if seconds > 0 else math.nan

    w = 52
    lines = [
        "=" * 96,
        f"REST workers (conductor-python TaskHandler, {args.sdk_processes} proc x {args.sdk_threads} thread, "
        f"poll interval {args.poll_interval_ms:g} ms) vs Celery-native",
        f"one uvicorn web process, one `celery worker -c {args.concurrency}` (runs Baton's decides for both); "
        f"{os.cpu_count()} CPUs",
        "=" * 96,
        f"  {'':<{w}} {'Celery-native':>14} {'REST':>14} {'REST/native':>12}",
    ]
    n_wf, r_wf = rate(native.workflows, native.seconds), rate(rest.workflows, rest.seconds)
    n_tr, r_tr = rate(native.transitions, native.seconds), rate(rest.transitions, rest.seconds)
    ratio = r_tr / n_tr if n_tr > 0 else math.nan
    lines.append(f"  {'workflows completed':<{w}} {native.workflows:>14} {rest.workflows:>14}")
    lines.append(f"  {'workflows/s':<{w}} {_f(n_wf):>14} {_f(r_wf):>14} {_f(r_wf / n_wf if n_wf else math.nan, 2):>12}")
    lines.append(f"  {'transitions/s':<{w}} {_f(n_tr):>14} {_f(r_tr):>14} {_f(ratio, 2):>12}")
    median = statistics.median(round_ratios) if round_ratios else math.nan
    per_round = " ".join(_f(x, 2) for x in round_ratios)
    lines.append(f"  {f'ratio per round ({per_round}), median':<{w + 30}} {_f(median, 2):>12}")
    lines.append(f"  {'elapsed s':<{w}} {_f(native.seconds, 2):>14} {_f(rest.seconds, 2):>14}")
    for p in (50, 99):
        lines.append(f"  {f'scheduled->started/polled under load p{p} ms':<{w}} "
                     f"{_f(_pct(native.queue_ms, p)):>14} {_f(_pct(rest.queue_ms, p)):>14}")  # fmt: skip
    lines.append("")
    lines.append(f"Long poll: {lp.workflows} workflows ({lp.transitions} tasks) one at a time, {args.pause:g} s apart; "
                 f"one raw poller (count=1, timeout=5000)")  # fmt: skip
    lp50, lp99 = _pct(lp.queue_ms, 50), _pct(lp.queue_ms, 99)
    lines.append(f"  {'scheduled->polled p50 / p99 ms':<{w}} {_f(lp50, 1):>14} {_f(lp99, 1):>14}")
    lines.append(f"  {'step (prev end -> end) p50 / p99 ms':<{w}} {_f(_pct(lp.step_ms, 50)):>14} {_f(_pct(lp.step_ms, 99)):>14}")
    lines.append("")
    lines.append("Targets")
    for label, target, value, ok in (
        ("throughput: median round ratio, REST / native", f">= {RATIO_MIN}", median, median >= RATIO_MIN),
        ("long poll: scheduled->polled p50 ms", f"<= {LONG_POLL_P50_MAX_MS:g}", lp50, lp50 <= LONG_POLL_P50_MAX_MS),
    ):
        verdict = "n/a" if math.isnan(value) else ("PASS" if ok else "MISS")
        lines.append(f"  {label:<{w}} {target:>8} {_f(value, 2):>10}   {verdict}")
    problems = [f"{name}: not COMPLETED {res.not_completed}" for name, res in
                (("Celery-native", native), ("REST", rest), ("long poll", lp)) if res.not_completed]  # fmt: skip
    if poller.errors:
        problems.append(f"long poller errors ({len(poller.errors)}): {poller.errors[:3]}")
    if problems:
        lines.append("")
        lines.append("PROBLEMS")
        lines += [f"  {p}" for p in problems]
    lines.append("")
    lines.append("  scheduled->polled: task start_time - scheduled_time (DB, ms); throughput = transitions /")
    lines.append("  (last workflow end_time - first start call). Timestamps are ms: sub-ms delays read as 0-1.")
    lines.append("=" * 96)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
