"""Messages on a plain Redis broker without kombu, behind ``BATON["REDIS_DIRECT_MESSAGES"]``
(off by default).

On Redis, kombu keeps a message published to the default exchange at priority 0 as a JSON
envelope (body base64-encoded) on the list named after the queue. This module pushes that
envelope itself with one LPUSH (a pipeline for several) and pops up to ``count`` with one RPOP,
through one thread-safe redis-py client per process: kombu's Redis channel builds a new redis-py
client for every message it puts or gets. The envelope's layout is kombu's, not a public
contract, which is why this is off unless asked for; the message inside (headers, body) is
Celery's own, from ``messages.task_message_for``. Other brokers, TLS and kombu's
``global_keyprefix`` always take kombu's way.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from functools import lru_cache
from typing import Any

from celery import current_app
from kombu import Connection
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from conductor_project.embedded_redis import client_for_broker_url
from orchestration.dispatch.messages import task_argument, task_message_for

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _plain_redis(url: str, prefixed: bool) -> bool:
    """Whether the broker at ``url`` is Redis without TLS and without a key prefix (decided
    once per URL: a publish to another broker builds no connection object to learn it again)."""
    connection = Connection(url)
    return connection.transport_cls == "redis" and not connection.ssl and not prefixed


_clients: dict[tuple[int, str], Any] = {}
_clients_lock = threading.Lock()


def _redis_client(url: str) -> Any:
    key = (os.getpid(), url)  # a forked child must not share its parent's sockets
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # Gives up quickly: a message that does not go out is the sweeper's to publish again.
                client = client_for_broker_url(
                    url, client_name=f"baton-direct-{key[0]}", retry=Retry(ExponentialBackoff(0.5, 0.05), 2),
                    socket_connect_timeout=2.0, socket_timeout=2.0,
                )
                _clients[key] = client
    return client


def _client() -> Any | None:
    """This process' client for the broker when it is plain Redis (see ``_plain_redis``)."""
    app = current_app
    url = app.conf.broker_url
    prefixed = bool((app.conf.broker_transport_options or {}).get("global_keyprefix"))
    return _redis_client(url) if _plain_redis(url, prefixed) else None


def envelope(task_name: str, arg: str, queue: str) -> str:
    """What kombu's Redis transport pushes for Celery's message of ``task_name(arg)`` sent to
    ``queue`` on the default exchange."""
    message = task_message_for(task_name, arg)
    return json.dumps({
        "body": base64.b64encode(json.dumps(message.body).encode()).decode("ascii"),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": message.headers,
        "properties": {
            **message.properties, "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        },
    })  # fmt: skip


def send(messages: list[tuple[str, str, str]]) -> bool:
    """Push (task name, argument, broker queue) triples, in order; False when the broker is not
    plain Redis (then kombu must do it)."""
    client = _client()
    if client is None:
        return False
    if len(messages) == 1:
        name, arg, queue = messages[0]
        client.lpush(queue, envelope(name, arg, queue))
        return True
    with client.pipeline(transaction=False) as pipe:
        for name, arg, queue in messages:
            pipe.lpush(queue, envelope(name, arg, queue))
        pipe.execute()
    return True


def take(queue: str, count: int) -> list[str] | None:
    """Up to ``count`` task ids off a broker queue with one RPOP, without waiting; None when the
    broker is not plain Redis."""
    client = _client()
    if client is None:
        return None
    ids = []
    for raw in client.rpop(queue, count) or []:
        task_id = _envelope_argument(raw)
        if task_id is None:
            log.warning("undecodable message dropped from %s", queue)
        else:
            ids.append(task_id)
    return ids


def _envelope_argument(raw: bytes) -> str | None:
    """``task_argument`` of a message in kombu's Redis envelope (JSON body, base64 or not)."""
    try:
        doc = json.loads(raw)
        body = doc["body"]
        if doc.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        return task_argument(json.loads(body))
    except (ValueError, KeyError, TypeError):
        return None
