"""Test-only workers, imported by the Celery worker subprocesses of the acceptance tests
(``BATON_WORKER_MODULES=workers.examples,tests.acceptance.slow_workers``), never by the test
process itself.

- ``slow_step`` sleeps ``sleep_seconds`` (default 60) in its first attempt, long enough to be
  killed mid-task, and answers at once in later attempts.
- ``nap`` sleeps 50-200 ms: a worker that keeps many workflows in flight at once.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from workers.runtime import TaskContext, worker_task


@worker_task("slow_step")
def slow_step(input: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    if ctx.retry_count == 0:
        time.sleep(float(input.get("sleep_seconds") or 60))
    return {"attempt": ctx.retry_count, "pid": os.getpid()}


@worker_task("nap")
def nap(input: dict[str, Any]) -> dict[str, Any]:
    seconds = random.uniform(0.05, 0.2)
    time.sleep(seconds)
    return {"step": input.get("step"), "napped_ms": round(seconds * 1000)}
