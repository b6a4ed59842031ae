"""The two no-op workers the benchmark compares, loaded by the worker through
``BATON_WORKER_MODULES=workers.examples,bench.noop_workers``.

- ``bench.noop``: a plain Celery task, the raw-Celery baseline. Chained three times. Each run
  records ``"<chain> <hop> <published> <started>"`` (epoch seconds) in a Redis list and the last
  hop of a chain pushes the chain id to a "done" list: one pipelined round trip per hop, no
  result backend. The publish time is stamped into the message headers by
  ``before_task_publish``, in whichever process publishes the hop (the bench for the first hop,
  the worker for the chain's next ones).
- ``bench_noop``: a Baton SIMPLE worker (``@worker_task``) that returns ``{}``.

With ``BENCH_WORKER_PROFILE=<dir>`` each pool process profiles (CPU time) the bodies of the ``baton.*``
tasks it runs (cProfile, enabled only between task_prerun and task_postrun, so Celery's own
consumer loop, the same for both experiments, is left out) and dumps ``<dir>/worker-<pid>.prof``
every 50 tasks and when the pool process shuts down.
"""

from __future__ import annotations

import atexit
import os
import time
from typing import Any

import redis
from celery import signals

from conductor_project.celery import app
from conductor_project.embedded_redis import client_for_broker_url
from orchestration.dispatch import queue_decl
from workers.runtime import worker_task

RAW_TASK = "bench.noop"
RAW_QUEUE = "bench.raw"
HOPS_KEY = "baton-bench:raw:hops"
DONE_KEY = "baton-bench:raw:done"
HEADER = "bench_published"


_client: tuple[int, redis.Redis] | None = None


def _redis() -> redis.Redis:
    """One client per process (pool processes are forked: never share the parent's socket)."""
    global _client
    pid = os.getpid()
    if _client is None or _client[0] != pid:
        _client = (pid, client_for_broker_url(str(app.conf.broker_url)))
    return _client[1]


class _RawTask(app.Task):
    # Published on the default exchange, routed by queue name, exactly as Baton publishes its
    # own messages (orchestration.dispatch): the two experiments pay for the same broker path.
    queue = queue_decl(RAW_QUEUE)
    ignore_result = True


@app.task(name=RAW_TASK, base=_RawTask, bind=True)
def noop(self: Any, chain_id: str, hop: int, last: int) -> None:
    started = time.time()
    published = getattr(self.request, HEADER, None) or 0.0
    pipe = _redis().pipeline(transaction=False)
    pipe.rpush(HOPS_KEY, f"{chain_id} {hop} {float(published):.6f} {started:.6f}")
    if hop == last:
        pipe.rpush(DONE_KEY, chain_id)
    pipe.execute()


@signals.before_task_publish.connect
def _stamp_publish_time(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    if sender == RAW_TASK and headers is not None:
        headers[HEADER] = time.time()


@worker_task("bench_noop")
def bench_noop(input: dict[str, Any]) -> dict[str, Any]:
    return {}


# --- optional profiling inside the worker's pool processes --------------------------------------

_PROFILE_DIR = os.environ.get("BENCH_WORKER_PROFILE")
_DUMP_EVERY = 50

if _PROFILE_DIR:
    import cProfile

    _profiler: cProfile.Profile | None = None
    _profiled = 0

    def _dump() -> None:
        if _profiler is not None and _profiled:
            _profiler.dump_stats(os.path.join(_PROFILE_DIR, f"worker-{os.getpid()}.prof"))

    @signals.worker_process_init.connect
    def _start_profiler(**_: Any) -> None:
        global _profiler
        # CPU time, not wall time: what the worker spends per transition, without the waits for
        # the database and the broker (those show in the in-process, wall-clock profile).
        _profiler = cProfile.Profile(time.process_time)
        atexit.register(_dump)

    @signals.worker_process_shutdown.connect
    def _dump_at_shutdown(**_: Any) -> None:
        _dump()

    @signals.task_prerun.connect
    def _profile_on(task: Any = None, **_: Any) -> None:
        if _profiler is not None and task is not None and task.name.startswith("baton."):
            _profiler.enable()

    @signals.task_postrun.connect
    def _profile_off(task: Any = None, **_: Any) -> None:
        global _profiled
        if _profiler is not None and task is not None and task.name.startswith("baton."):
            _profiler.disable()
            _profiled += 1
            if _profiled % _DUMP_EVERY == 0:
                _dump()
