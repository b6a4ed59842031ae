"""The only module that talks to the broker.

Every message is a hint: the database is the truth. A lost message delays work until the
sweeper publishes it again; a duplicate is dropped by the claim's compare-and-set.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

from celery import current_app
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

DECIDE_QUEUE = "baton.decide"
SYSTEM_QUEUE = "baton.system"
TASK_QUEUE_PREFIX = "baton.task."
DECIDE_TASK = "baton.decide"
WORKER_TASK_PREFIX = "baton.worker."


@lru_cache(maxsize=4096)
def queue_decl(name: str) -> Queue:
    """A broker queue on the default exchange, routed by its own name.

    No exchange binding is involved, so nothing depends on routing tables the broker may
    lose (FLUSHDB on Redis deletes kombu's bindings with the messages): a publish always
    lands in the queue, and consumers and publishers agree without declaring anything.
    """
    return Queue(name, Exchange(""), routing_key=name)


def broker_queue(queue_name: str) -> str:
    """The broker queue that carries a Conductor queue (``[domain:]taskType``)."""
    return TASK_QUEUE_PREFIX + queue_name


def worker_task_name(task_type: str) -> str:
    """The Celery task name a worker for ``task_type`` registers under."""
    return WORKER_TASK_PREFIX + task_type


# Reconnect once or twice on a dropped broker connection, quickly: a message that still does
# not go out is the sweeper's to publish again.
_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_origin: tuple[int, str] = (0, "")


def _origin_name() -> str:
    """Who published, as Celery names an anonymous publisher (``gen<pid>@<host>``); computed
    once per process (a forked pool process gets its own)."""
    global _origin
    pid = os.getpid()
    if _origin[0] != pid:
        _origin = (pid, f"gen{pid}@{socket.gethostname()}")
    return _origin[1]


def _publish(producer: Any, task_name: str, arg: str, queue: str) -> None:
    """One Celery task message (protocol 2, as documented in Celery's "Message Protocol"):
    ``task_name(arg)`` on ``queue``, results ignored.

    Built here rather than by ``send_task``: the general path (routing, signals, argument
    reprs, option merging) cost as much CPU as everything else on a transition's publish, and
    these messages are always the same shape: one string argument, no ETA, no result."""
    message_id = str(uuid.uuid4())
    headers = {
        "lang": "py", "task": task_name, "id": message_id, "shadow": None, "eta": None, "expires": None,
        "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": message_id,
        "parent_id": None, "argsrepr": repr([arg]), "kwargsrepr": "{}", "origin": _origin_name(),
        "ignore_result": True, "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
    }  # fmt: skip
    producer.publish(
        [[arg], {}, _EMBED],
        exchange="",
        routing_key=queue,
        # Declared (once per channel, kombu remembers) so that a broker which drops messages
        # to unknown queues (RabbitMQ) keeps them until a worker subscribes.
        declare=[queue_decl(queue)],
        serializer="json",
        headers=headers,
        correlation_id=message_id,
        reply_to="",
        delivery_mode=2,
        retry=True,
        retry_policy=_RETRY_POLICY,
    )


class _OneClientChannel(kombu_redis.Channel):
    """kombu's Redis channel builds a new redis-py client for every publish and every ack, and
    redis-py's constructor copies some 170 response callbacks each time: a third of a publish's
    CPU in the worker's profile. This channel builds its (non-blocking) client once. The client
    only wraps the channel's connection pool, through which every command goes anyway; if kombu
    stops calling this method, publishing simply takes the slower path again."""

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = getattr(self, "_baton_client", None)
        if client is None:
            client = self._baton_client = super()._create_client()
        return client


class _OneClientTransport(kombu_redis.Transport):
    Channel = _OneClientChannel


# Idle producers of this process, each on its own connection (a kombu channel is not
# thread-safe, so a producer serves one thread at a time). A pool, not a thread-local: Django
# under ASGI runs each request's sync code in a thread of its own.
_idle: list[tuple[tuple[int, str], Any]] = []
_idle_lock = threading.Lock()
_MAX_IDLE = 8


@lru_cache(maxsize=8)
def _plain_redis(url: str) -> bool:
    """Whether the broker at ``url`` is Redis without TLS (decided once per URL, so a publish
    to another broker builds no connection object only to learn that again)."""
    connection = Connection(url)
    return connection.transport_cls == "redis" and not connection.ssl


def _new_producer(app: Any, url: str) -> Any | None:
    """A producer on a connection of Baton's own, or None where Celery's pool serves better
    (brokers other than plain Redis, TLS included)."""
    if not _plain_redis(url):
        return None
    connection = Connection(url, transport_options=dict(app.conf.broker_transport_options or {}))
    connection.transport_cls = _OneClientTransport  # before it connects: same URL, same options
    return connection.Producer()


@contextmanager
def _producer() -> Iterator[Any]:
    """A producer for the caller alone: on Redis one of Baton's pool, otherwise Celery's."""
    app = current_app
    key = (os.getpid(), app.conf.broker_url)
    with _idle_lock:
        producer = next((p for k, p in _idle if k == key), None)
        if producer is not None:
            _idle.remove((key, producer))
    if producer is None:
        producer = _new_producer(app, key[1])
    if producer is None:
        with app.producer_or_acquire() as pooled:
            yield pooled
        return
    try:
        yield producer
    except BaseException:
        with suppress(Exception):  # its connection may be broken: close it, never reuse it
            producer.connection.release()
        raise
    with _idle_lock:
        # A forked child inherits its parent's idle list; those producers are not its own.
        _idle[:] = [(k, p) for k, p in _idle if k[0] == key[0]]
        if len(_idle) < _MAX_IDLE:
            _idle.append((key, producer))


def publish_tasks(messages: Iterable[tuple[str, str, str]]) -> None:
    """Publish (task_id, queue_name, task_type) triples to their queues; never raises, since
    the sweeper re-publishes anything that does not arrive."""
    try:
        with _producer() as producer:
            for task_id, queue_name, task_type in messages:
                _publish(producer, worker_task_name(task_type), task_id, broker_queue(queue_name))
    except Exception:  # broker down: the sweeper will publish again
        log.warning("could not publish task messages; the sweeper will retry", exc_info=True)


def publish_decide(workflow_id: str) -> None:
    try:
        with _producer() as producer:
            _publish(producer, DECIDE_TASK, workflow_id, DECIDE_QUEUE)
    except Exception:
        log.warning("could not publish decide for %s; the sweeper will retry", workflow_id, exc_info=True)
