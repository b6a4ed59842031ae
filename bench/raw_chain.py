"""Experiment 1: raw Celery, chains of three no-op tasks on the worker's ``bench.raw`` queue."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import redis
from celery import chain

from bench.noop_workers import DONE_KEY, HOPS_KEY, noop

HOPS = 3


@dataclass
class RawResult:
    chains: int
    hops: int
    seconds: float  # first publish -> last hop started
    publish_seconds: float  # time the bench took to publish all chains
    # per hop: publish -> start (ms); "step": previous hop's start (the chain's publish for hop 1)
    # -> this hop's start, which is what one link of a chain costs end to end
    queue_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    missing: int = 0


def merge(results: list[RawResult]) -> RawResult:
    """Several runs as one: counts, times and samples added up."""
    return RawResult(
        chains=sum(r.chains for r in results), hops=sum(r.hops for r in results),
        seconds=sum(r.seconds for r in results), publish_seconds=sum(r.publish_seconds for r in results),
        queue_ms=[v for r in results for v in r.queue_ms], step_ms=[v for r in results for v in r.step_ms],
        missing=sum(r.missing for r in results),
    )


def reset(client: redis.Redis) -> None:
    client.delete(HOPS_KEY, DONE_KEY)


def _publish(app, tag: str, index: int, producer) -> None:  # type: ignore[no-untyped-def]
    cid = f"{tag}-{index}"
    chain(*(noop.si(cid, hop, HOPS) for hop in range(1, HOPS + 1))).apply_async(producer=producer)


def _collect(client: redis.Redis, expected_chains: int, t0: float) -> tuple[list[float], list[float], float]:
    rows = client.lrange(HOPS_KEY, 0, -1)
    by_chain: dict[str, dict[int, tuple[float, float]]] = {}
    for raw in rows:
        cid, hop, published, started = raw.decode().split()
        by_chain.setdefault(cid, {})[int(hop)] = (float(published), float(started))
    queue_ms: list[float] = []
    step_ms: list[float] = []
    last = t0
    for hops in by_chain.values():
        previous = None
        for hop in range(1, HOPS + 1):
            if hop not in hops:
                break
            published, started = hops[hop]
            queue_ms.append((started - published) * 1000)
            step_ms.append((started - (published if previous is None else previous)) * 1000)
            previous = started
            last = max(last, started)
    return queue_ms, step_ms, last


def run_throughput(app, client: redis.Redis, n: int, timeout: float) -> RawResult:  # type: ignore[no-untyped-def]
    """Publish ``n`` chains as fast as one producer can, then wait until every last hop ran."""
    reset(client)
    tag = uuid.uuid4().hex[:8]
    t0 = time.time()
    with app.producer_or_acquire() as producer:
        for i in range(n):
            _publish(app, tag, i, producer)
    published = time.time() - t0
    deadline = time.monotonic() + timeout
    while client.llen(DONE_KEY) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    done = int(client.llen(DONE_KEY))
    queue_ms, step_ms, last = _collect(client, n, t0)
    return RawResult(
        chains=done, hops=len(queue_ms), seconds=last - t0, publish_seconds=published, queue_ms=queue_ms,
        step_ms=step_ms, missing=n - done,
    )


def run_serial(app, client: redis.Redis, n: int, timeout_each: float = 10.0) -> RawResult:  # type: ignore[no-untyped-def]
    """Low load: one chain at a time, each waited for (BLPOP on the done list)."""
    reset(client)
    tag = uuid.uuid4().hex[:8]
    t0 = time.time()
    missing = 0
    with app.producer_or_acquire() as producer:
        for i in range(n):
            _publish(app, tag, i, producer)
            if client.blpop([DONE_KEY], timeout=timeout_each) is None:
                missing += 1
    queue_ms, step_ms, last = _collect(client, n, t0)
    return RawResult(
        chains=n - missing, hops=len(queue_ms), seconds=last - t0, publish_seconds=0.0, queue_ms=queue_ms,
        step_ms=step_ms, missing=missing,
    )
