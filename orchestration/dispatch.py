"""The only module that talks to the broker.

Every message is a hint: the database is the truth. A lost message delays work until the
sweeper publishes it again; a duplicate is dropped by the claim's compare-and-set.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from celery import current_app
from kombu import Connection, Exchange, Queue

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


def _headers(task_name: str, arg: str, message_id: str) -> dict[str, Any]:
    """Celery protocol-2 headers (Celery's "Message Protocol") of ``task_name(arg)``, results
    ignored. Built here rather than by ``send_task``: the general path (routing, signals,
    argument reprs, option merging) cost as much CPU as everything else on a transition's
    publish, and these messages are always the same shape: one string argument, no ETA."""
    return {
        "lang": "py", "task": task_name, "id": message_id, "shadow": None, "eta": None, "expires": None,
        "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": message_id,
        "parent_id": None, "argsrepr": repr([arg]), "kwargsrepr": "{}", "origin": _origin_name(),
        "ignore_result": True, "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
    }  # fmt: skip


def _publish(producer: Any, task_name: str, arg: str, queue: str) -> None:
    """One task message through a kombu producer (any broker)."""
    message_id = str(uuid.uuid4())
    producer.publish(
        [[arg], {}, _EMBED],
        exchange="",
        routing_key=queue,
        # Declared (once per channel, kombu remembers) so that a broker which drops messages
        # to unknown queues (RabbitMQ) keeps them until a worker subscribes.
        declare=[queue_decl(queue)],
        serializer="json",
        headers=_headers(task_name, arg, message_id),
        correlation_id=message_id,
        reply_to="",
        delivery_mode=2,
        retry=True,
        retry_policy=_RETRY_POLICY,
    )


# --- Redis: a message is one LPUSH -------------------------------------------------------------
#
# On Redis a message published to the default exchange is a JSON envelope pushed onto the list
# named after the queue (kombu's Redis transport: body base64-encoded, priority 0 = the plain
# list). kombu's producer took a fifth of a pool process' CPU in the worker's profile to do
# that (entity declarations, retry wrappers, a channel per publish); Baton pushes the same
# envelope itself, through one thread-safe redis-py client per process. Consumers are Celery's
# own, unchanged. Other brokers, TLS and kombu's global_keyprefix take kombu's path.


@lru_cache(maxsize=8)
def _plain_redis(url: str, prefixed: bool) -> bool:
    """Whether the broker at ``url`` is Redis without TLS and without a key prefix (decided
    once per URL: a publish to another broker builds no connection object to learn it again)."""
    connection = Connection(url)
    return connection.transport_cls == "redis" and not connection.ssl and not prefixed


_clients: dict[tuple[int, str], Any] = {}
_clients_lock = threading.Lock()
# Publishing gives up quickly: a message that does not go out is the sweeper's to publish again.
_CLIENT_OPTIONS = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}


def _redis_client(url: str) -> Any:
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                from redis.backoff import ExponentialBackoff
                from redis.retry import Retry

                from conductor_project.embedded_redis import client_for_broker_url

                client = client_for_broker_url(
                    url, client_name=f"baton-publish-{key[0]}", retry=Retry(ExponentialBackoff(0.5, 0.05), 2),
                    **_CLIENT_OPTIONS,
                )
                _clients[key] = client
    return client


def _envelope(task_name: str, arg: str, queue: str) -> str:
    """What kombu's Redis transport pushes for a JSON message on the default exchange."""
    message_id = str(uuid.uuid4())
    body = base64.b64encode(json.dumps([[arg], {}, _EMBED]).encode()).decode("ascii")
    return json.dumps({
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": _headers(task_name, arg, message_id),
        "properties": {
            "correlation_id": message_id, "reply_to": "", "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        },
    })  # fmt: skip


def _plain_redis_client() -> Any | None:
    """This process' client for the broker when it is plain Redis (see ``_plain_redis``)."""
    app = current_app
    url = app.conf.broker_url
    prefixed = bool((app.conf.broker_transport_options or {}).get("global_keyprefix"))
    return _redis_client(url) if _plain_redis(url, prefixed) else None


def take_task_ids(queue: str, count: int) -> list[str] | None:
    """Up to ``count`` messages off a task queue without waiting, as the arguments (task ids)
    they carry; None when the broker is not plain Redis (then kombu must do it). One RPOP for
    all of them: kombu's get builds a redis-py client for every message."""
    client = _plain_redis_client()
    if client is None:
        return None
    raw = client.rpop(queue, count) or []
    ids = []
    for envelope in raw:
        task_id = _envelope_argument(envelope)
        if task_id is None:
            log.warning("undecodable message dropped from %s", queue)
        else:
            ids.append(task_id)
    return ids


def task_argument(body: Any) -> str | None:
    """args[0] of a decoded Celery task message body, when it is a string (the task id or
    workflow id Baton publishes). Protocol 2: ``[args, kwargs, embed]``; protocol 1: a dict."""
    args = body.get("args") if isinstance(body, dict) else body[0] if isinstance(body, list | tuple) and body else None
    return args[0] if isinstance(args, list | tuple) and args and isinstance(args[0], str) else None


def _envelope_argument(raw: bytes) -> str | None:
    """``task_argument`` of a message in kombu's Redis envelope (JSON body, base64 or not)."""
    try:
        envelope = json.loads(raw)
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        return task_argument(json.loads(body))
    except (ValueError, KeyError, TypeError):
        return None


def _send(messages: list[tuple[str, str, str]]) -> None:
    """(task name, argument, broker queue) triples, in order."""
    client = _plain_redis_client()
    if client is not None:
        if len(messages) == 1:
            name, arg, queue = messages[0]
            client.lpush(queue, _envelope(name, arg, queue))
            return
        with client.pipeline(transaction=False) as pipe:
            for name, arg, queue in messages:
                pipe.lpush(queue, _envelope(name, arg, queue))
            pipe.execute()
        return
    with current_app.producer_or_acquire() as producer:
        for name, arg, queue in messages:
            _publish(producer, name, arg, queue)


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
