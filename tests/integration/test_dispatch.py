"""What Baton puts on the broker: Celery protocol-2 task messages on the right queues, and
nothing raised when the broker is down (the sweeper publishes again)."""

from __future__ import annotations

import json
import os
import threading
import uuid

import pytest
import redis
from celery import current_app
from kombu import Connection, Consumer

from orchestration import dispatch


def _receive(queue: str, count: int) -> list[tuple[dict, list]]:
    """Take ``count`` messages off ``queue`` with kombu, as a worker would: (headers, body)."""
    received: list[tuple[dict, list]] = []
    with Connection(current_app.conf.broker_url) as conn:
        consumer = Consumer(conn, queues=[dispatch.queue_decl(queue)], accept=["json"],
                            callbacks=[lambda body, message: (received.append((message.headers, body)), message.ack())])
        with consumer:
            while len(received) < count:
                conn.drain_events(timeout=5)
    return received


def test_task_and_decide_messages_are_celery_task_messages(redis_client: redis.Redis) -> None:
    task_type = f"dispatch_{uuid.uuid4().hex[:8]}"
    queue = dispatch.broker_queue(task_type)
    try:
        dispatch.publish_tasks([("task-1", task_type, task_type), ("task-2", task_type, task_type)])
        messages = _receive(queue, 2)
    finally:
        redis_client.delete(queue)
    assert [body[0] for _, body in messages] == [["task-1"], ["task-2"]]
    for headers, body in messages:
        assert headers["task"] == dispatch.worker_task_name(task_type)
        assert headers["lang"] == "py" and headers["ignore_result"] is True
        assert headers["id"] == headers["root_id"] and headers["eta"] is None
        assert body[1] == {} and body[2]["chain"] is None
    assert messages[0][0]["id"] != messages[1][0]["id"]


def test_threads_publishing_at_once_share_the_producers_safely(redis_client: redis.Redis) -> None:
    task_type = f"dispatch_{uuid.uuid4().hex[:8]}"
    queue = dispatch.broker_queue(task_type)
    errors: list[BaseException] = []

    def publish(n: int) -> None:
        try:
            for i in range(20):
                dispatch.publish_tasks([(f"t{n}-{i}", task_type, task_type)])
        except BaseException as error:  # reported below, never lost in a thread
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        assert redis_client.llen(queue) == 80
    finally:
        redis_client.delete(queue)


def test_a_broker_that_is_down_loses_the_message_quietly_and_the_next_publish_recovers(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    task_type = f"dispatch_{uuid.uuid4().hex[:8]}"
    queue = dispatch.broker_queue(task_type)
    # Nothing listens on port 1: every connection attempt is refused at once. Celery reads
    # CELERY_BROKER_URL from the environment before its own setting, so both are switched.
    dead = "redis://127.0.0.1:1/0"
    saved_env, saved_conf = os.environ.get("CELERY_BROKER_URL"), current_app.conf.broker_url
    os.environ["CELERY_BROKER_URL"], current_app.conf.broker_url = dead, dead
    try:
        dispatch.publish_tasks([("lost", task_type, task_type)])  # must not raise
        dispatch.publish_decide("some-workflow")
    finally:
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        current_app.conf.broker_url = saved_conf
    assert "could not publish task messages" in caplog.text
    assert "could not publish decide" in caplog.text
    try:
        dispatch.publish_tasks([("kept", task_type, task_type)])
        assert [body[0] for _, body in _receive(queue, 1)] == [["kept"]]
    finally:
        redis_client.delete(queue)


def test_publishers_in_new_threads_share_the_process_broker_connection(redis_client: redis.Redis) -> None:
    """Django runs requests on many threads: a broker connection per thread (or per publish)
    would mean a new connection per request."""
    task_type = f"dispatch_{uuid.uuid4().hex[:8]}"
    name = f"baton-publish-{os.getpid()}"

    def connections() -> int:
        return len([c for c in redis_client.client_list() if c.get("name") == name])

    dispatch.publish_tasks([("warm-up", task_type, task_type)])  # the process' client exists by now
    before = connections()
    try:
        for i in range(5):
            thread = threading.Thread(target=dispatch.publish_tasks, args=([(f"t{i}", task_type, task_type)],))
            thread.start()
            thread.join(10)
        assert redis_client.llen(dispatch.broker_queue(task_type)) == 6
        assert 1 <= connections() == before  # one-at-a-time publishes open nothing new
    finally:
        redis_client.delete(dispatch.broker_queue(task_type))


def test_a_message_pushed_by_baton_is_the_message_kombu_would_publish(redis_client: redis.Redis) -> None:
    """Baton pushes kombu's Redis envelope itself; a Celery worker must not see a difference."""
    queue = dispatch.broker_queue(f"dispatch_{uuid.uuid4().hex[:8]}")
    try:
        dispatch._send([("baton.worker.x", "task-9", queue)])
        with current_app.producer_or_acquire() as producer:
            dispatch._publish(producer, "baton.worker.x", "task-9", queue)
        ours, kombus = (json.loads(raw) for raw in reversed(redis_client.lrange(queue, 0, -1)))
    finally:
        redis_client.delete(queue)
    for envelope in (ours, kombus):  # per-message identities
        envelope["headers"].pop("id"), envelope["headers"].pop("root_id")
        envelope["properties"].pop("correlation_id"), envelope["properties"].pop("delivery_tag")
    assert ours == kombus
