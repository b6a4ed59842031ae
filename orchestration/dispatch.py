"""The only module that talks to the broker: it publishes task and decide messages, and takes
task messages off a queue for REST polls.

Every message is a hint: the database is the truth. A lost message delays work until the
sweeper publishes it again; a duplicate is dropped by the claim's compare-and-set.

Messages are Celery's own task messages (protocol 2, made by ``app.amqp.as_task_v2`` and sent by
``app.amqp.send_task_message``) on a producer from Celery's producer pool, so a ``celery worker``
consumes them like any other; REST polls take them with kombu's ``Queue.get`` and ``Consumer``.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from celery import current_app
from celery.app.amqp import task_message
from kombu import Connection, Consumer, Exchange, Message, Queue
from kombu.common import maybe_declare
from kombu.exceptions import KombuError
from kombu.pools import connections as connection_pools

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


# --- messages ----------------------------------------------------------------------------------


def task_message_for(task_name: str, arg: str) -> task_message:
    """Celery's protocol-2 message of ``task_name(arg)``, results ignored. The argument's repr is
    given rather than left to Celery's ``saferepr``, which costs more than the rest of the
    message for what is always one short string."""
    return current_app.amqp.as_task_v2(
        str(uuid.uuid4()), task_name, args=[arg], kwargs={}, argsrepr=repr([arg]), kwargsrepr="{}",
        ignore_result=True,
    )


def task_argument(body: Any) -> str | None:
    """args[0] of a decoded Celery task message body, when it is a string (the task id or
    workflow id Baton publishes). Protocol 2: ``[args, kwargs, embed]``; protocol 1: a dict."""
    args = body.get("args") if isinstance(body, dict) else body[0] if isinstance(body, list | tuple) and body else None
    return args[0] if isinstance(args, list | tuple) and args and isinstance(args[0], str) else None


def _message_task_id(message: Message) -> str | None:
    """The task id a kombu message carries (``task_argument``); None for one that cannot be read."""
    try:
        body = message.decode()
    except Exception:
        log.warning("undecodable message dropped from a task queue", exc_info=True)
        return None
    return task_argument(body)


# --- publishing --------------------------------------------------------------------------------

# Reconnect once or twice on a dropped broker connection, quickly: a message that still does
# not go out is the sweeper's to publish again.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def _not_yet_declared(queue: Queue, connection: Connection) -> list[Queue]:
    """``[queue]`` until it has been declared on ``connection``. kombu's ``maybe_declare`` keeps
    the same record, but consults it only after copying the queue to bind it to the channel,
    which cost a tenth of a publish's CPU for nothing once the queue is declared."""
    return [] if hash(queue) in connection.declared_entities else [queue]


def _send_with(producer: Any, messages: list[tuple[str, str, str]]) -> None:
    send = current_app.amqp.send_task_message
    for name, arg, queue in messages:
        declared = queue_decl(queue)
        # The queue object makes Celery send on the default exchange, routed by the queue's name.
        # It is declared first, once per connection, so that a broker which drops messages to
        # unknown queues (RabbitMQ) keeps them until a worker subscribes.
        send(producer, name, task_message_for(name, arg), queue=declared,
             declare=_not_yet_declared(declared, producer.connection), retry=True, retry_policy=RETRY_POLICY)


def _send(messages: list[tuple[str, str, str]]) -> None:
    """(task name, argument, broker queue) triples, in order, on one producer from the process'
    pool (Celery's, whose connections come from kombu's connection pool)."""
    if not messages:
        return
    with current_app.producer_pool.acquire(block=True) as producer:
        if len(messages) == 1:
            _send_with(producer, messages)
            return
        try:
            # One round trip for all of them where the transport can (a Redis pipeline).
            with producer.batch():
                _send_with(producer, messages)
        except _broker_errors():
            # A batch goes out once, without kombu's reconnect-and-retry: send them again one by
            # one with it (a message that went out twice is a harmless duplicate).
            _send_with(producer, messages)


def publish_tasks(messages: Iterable[tuple[str, str, str]]) -> None:
    """Publish (task_id, queue_name, task_type) triples to their queues; never raises, since
    the sweeper re-publishes anything that does not arrive."""
    try:
        _send([(worker_task_name(task_type), task_id, broker_queue(queue_name)) for task_id, queue_name, task_type in messages])
    except Exception:  # broker down: the sweeper will publish again
        log.warning("could not publish task messages; the sweeper will retry", exc_info=True)


def publish_decide(workflow_id: str) -> None:
    try:
        _send([(DECIDE_TASK, workflow_id, DECIDE_QUEUE)])
    except Exception:
        log.warning("could not publish decide for %s; the sweeper will retry", workflow_id, exc_info=True)


# --- taking messages (REST polls) --------------------------------------------------------------


@functools.cache
def _broker_errors() -> tuple[type[BaseException], ...]:
    # The transport's error classes never change within a process; asking creates a transport.
    conn = current_app.connection_for_read()
    # kombu re-raises connection failures as its own OperationalError (a KombuError).
    return (*conn.connection_errors, *conn.channel_errors, KombuError, OSError)


def _poll_transport_options(**extra: Any) -> dict[str, Any]:
    # Baton publishes every message at priority 0, which kombu's Redis transport keeps in the
    # queue's plain list: looking at the lists of the other priorities would cost an empty poll
    # three more round trips.
    return {**(current_app.conf.broker_transport_options or {}), "priority_steps": [0], **extra}


@lru_cache(maxsize=8)
def _poll_pool(pid: int, url: str) -> Any:
    """kombu's pool of connections for polls in this process (a forked child gets its own)."""
    return connection_pools[current_app.connection_for_read(url, transport_options=_poll_transport_options())]


def _get_available(bound: Queue, ids: list[str], count: int) -> None:
    """Append the task ids of waiting messages to ``ids`` until it holds ``count``."""
    while len(ids) < count:
        # Taken without an ack: the database decides who gets the task, so a message is done
        # with once read (held unacked, it would only come back an hour later). On Redis an
        # acked get would also cost two more round trips (kombu's unacked bookkeeping).
        message = bound.get(no_ack=True)
        if message is None:
            return
        task_id = _message_task_id(message)
        if task_id:
            ids.append(task_id)


def take_task_ids(queue: str, count: int) -> list[str]:
    """Up to ``count`` task ids from a broker queue, without waiting; [] if the broker is down
    (a poll has the database to fall back on)."""
    ids: list[str] = []
    try:
        with _poll_pool(os.getpid(), current_app.conf.broker_url).acquire(block=True) as conn:
            # One connect attempt: kombu's default retries for seconds.
            conn.ensure_connection(max_retries=0)
            channel = conn.default_channel
            declared = queue_decl(queue)
            for entity in _not_yet_declared(declared, conn):
                maybe_declare(entity, channel)  # once per connection: AMQP refuses a get on an unknown queue
            _get_available(declared.bind(channel), ids, count)
    except _broker_errors() as exc:
        log.warning("broker unavailable while polling %s, serving from the database: %s", queue, exc)
    return ids


@contextmanager
def _waiting_connection(timeout: float) -> Iterator[Connection]:
    """A connection of its own for a blocking consume (never a pooled one: an interrupted
    blocking read must not leave a reply pending on a connection someone else gets next).

    ``polling_interval`` sets Redis' server-side BRPOP timeout to our timeout, so the pending
    BRPOP has ended by the time we close (kombu otherwise waits out its 1 s default)."""
    options = _poll_transport_options(polling_interval=max(0.01, round(timeout, 3)))
    conn = current_app.connection_for_read(transport_options=options)
    try:
        yield conn
    finally:
        conn.release()


def _consume_until(conn: Connection, deadline: float, received: list[Message]) -> None:
    while not received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            conn.drain_events(timeout=remaining)
        except TimeoutError:
            return


def wait_for_task_ids(queue: str, count: int, timeout: float) -> list[str] | None:
    """Block until a message arrives on a broker queue (then take up to ``count``) or ``timeout``
    seconds pass: its task ids, [] on timeout, None if the broker is unreachable."""
    received: list[Message] = []
    ids: list[str] = []
    try:
        with _waiting_connection(timeout) as conn:
            conn.ensure_connection(max_retries=0)
            channel = conn.channel()
            declared = queue_decl(queue)
            collect: Callable[[Any, Message], None] = lambda _body, message: received.append(message)  # noqa: E731
            consumer = Consumer(
                channel, queues=[declared], callbacks=[collect],
                # Acked: on AMQP an auto-ack consumer ignores prefetch_count, and messages pushed
                # to it before it is cancelled would be lost.
                no_ack=False, prefetch_count=1, auto_declare=True,
            )
            with consumer:
                _consume_until(conn, time.monotonic() + timeout, received)
            # Consumer cancelled: nothing more is delivered to it; top up without waiting.
            for message in received:
                message.ack()
                task_id = _message_task_id(message)
                if task_id:
                    ids.append(task_id)
            if received:
                _get_available(declared.bind(channel), ids, count)
            channel.close()
    except _broker_errors() as exc:
        log.warning("broker unavailable while long-polling %s: %s", queue, exc)
        return None
    return ids

