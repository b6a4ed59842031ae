"""``make bench``: Baton against raw Celery, on the same broker, database and worker processes.

    .venv/bin/python -m bench [--workflows N] [--chains N] [--concurrency 2] [--quick] ...

One ``celery -A conductor_project worker -c <concurrency>`` subprocess (its own process group,
consuming Baton's queues and ``bench.raw``) serves every experiment:

1. raw Celery: ``chain(noop.si(), noop.si(), noop.si())`` of a plain ``@app.task``; each hop
   records its publish time (stamped in the message headers) and start time in Redis;
2. Baton: workflows of three SIMPLE ``bench_noop`` tasks started with ``workflow_start`` from
   this process, polled in the database every 50 ms until COMPLETED;
3. low load: one chain / one workflow at a time, each waited for, chains and workflows alternating.

Throughput runs in ``--rounds`` turns (raw, then Baton, then raw again...), and the target is
judged on the median of the rounds' ratios: this machine's speed drifts by tens of percent over
minutes, which a single raw run followed by a single Baton run would read as a difference
between the two.

Plus an in-process run (no broker, no worker) that counts SQL statements and commits per
transition and, with ``--profile``, profiles the transition code.

The database and broker are the configured ones (DATABASE_URL, CELERY_BROKER_URL); without them,
a SQLite file and an embedded Redis under ``.baton/bench`` (never the state of ``make run``):

    make bench ARGS=--quick
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/baton_bench \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 make bench

A PostgreSQL database that does not exist yet is created, and every run migrates first. The
rows of earlier bench runs (workflows named ``bench_noop_3``) are deleted before measuring, and
the queues the worker consumes are purged: use a broker database of its own. No beat runs: the
sweeper is a safety net, not part of a transition. Django runs with DEBUG off unless ``--debug``
(DEBUG keeps every query in memory, which no deployment does).

Figures are only as good as the machine is quiet: the table reports how many cores other
processes used during each run and warns past 0.2. Exit status 1 if a chain or a workflow did
not finish.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

BASE_DIR = Path(__file__).resolve().parent.parent
WORKER_MODULES = "workers.examples,bench.noop_workers"


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workflows", type=int, default=2000, help="Baton workflows in the throughput run (default 2000)")
    p.add_argument("--chains", type=int, default=4000, help="raw Celery chains in the throughput run (default 4000)")
    p.add_argument("--low-load", type=int, default=50, help="workflows and chains run one at a time (default 50)")
    p.add_argument("--rounds", type=int, default=5, help="raw/Baton throughput turns, alternating (default 5)")
    p.add_argument("--concurrency", type=int, default=2, help="worker pool processes (default 2)")
    p.add_argument("--quick", action="store_true", help="small numbers for a smoke run (< 30 s)")
    p.add_argument("--profile", action="store_true", help="cProfile the in-process transitions and the worker's Baton tasks")
    p.add_argument("--show-sql", action="store_true", help="print the SQL statements of one workflow")
    p.add_argument("--debug", action="store_true", help="run Django with DEBUG on (as `make run` does by default)")
    args = p.parse_args(argv)
    args.rounds = max(1, min(args.rounds, args.workflows, args.chains))
    if args.quick:
        args.workflows, args.chains, args.low_load = min(args.workflows, 100), min(args.chains, 200), min(args.low_load, 15)
    return args


def _prepare_environment(args: argparse.Namespace) -> Path:
    """Everything the bench and its worker read from the environment, before Django loads."""
    state_dir = Path(os.environ.get("BATON_BENCH_STATE_DIR", BASE_DIR / ".baton" / "bench")).absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    os.environ["BATON_STATE_DIR"] = str(state_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "conductor_project.settings"
    os.environ["BATON_WORKER_MODULES"] = WORKER_MODULES
    os.environ["DJANGO_DEBUG"] = "1" if args.debug else "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "baton-bench-only-secret-key-not-for-deployment")
    os.environ.setdefault("BATON_LOG_LEVEL", "WARNING")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.profile:
        prof_dir = state_dir / "profile"
        prof_dir.mkdir(exist_ok=True)
        for old in prof_dir.glob("worker-*.prof"):
            old.unlink()
        os.environ["BENCH_WORKER_PROFILE"] = str(prof_dir)
    else:
        os.environ.pop("BENCH_WORKER_PROFILE", None)
    return state_dir


def _ensure_postgres_database() -> None:
    """CREATE DATABASE for a PostgreSQL URL whose database does not exist yet."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return
    import psycopg
    from psycopg import sql

    params = {k: v for k, v in {
        "host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }.items() if v}  # fmt: skip
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            print(f"bench: created database {db['NAME']}", flush=True)


def _migrate() -> None:
    rc = subprocess.call([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=dict(os.environ))
    if rc != 0:
        raise SystemExit(f"bench: manage.py migrate failed ({rc})")


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    state_dir = _prepare_environment(args)
    # Both raise KeyboardInterrupt, so every exit path runs the finally blocks that stop the worker
    # (SIGINT explicitly too: a shell starting us in the background leaves it ignored).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)

    from django.conf import settings

    from conductor_project import embedded_redis

    broker_proc = None
    try:
        if "CELERY_BROKER_URL" not in os.environ:
            broker_proc = embedded_redis.ensure_running(Path(settings.EMBEDDED_REDIS_SOCKET), state_dir)
        os.environ["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL  # the worker must use the same one
        _ensure_postgres_database()
        _migrate()

        import django

        django.setup()
        from bench import run

        embedded = "redis+socket" in settings.CELERY_BROKER_URL
        return run.run(args, state_dir, embedded_broker=embedded)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        embedded_redis.stop(broker_proc)


if __name__ == "__main__":
    sys.exit(main())
