"""What Baton puts on the broker and takes off it, through kombu's producers and consumers:
Celery protocol-2 task messages on the right queues, taken in order by REST polls, and nothing
raised when the broker is down (the sweeper publishes again)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import kombu
import pytest
import redis
from celery import Celery, current_app
from kombu import Connection, Consumer

from conductor_project.celery import app as celery_app
from orchestration import dispatch


@pytest.fixture
def task_type(redis_client: redis.Redis) -> Iterator[str]:
    """A task type of the test's own (broker queues outlive tests), its queue emptied after."""
    name = f"dispatch_{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.delete(dispatch.broker_queue(name))


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


def test_task_and_decide_messages_are_celery_task_messages(task_type: str, redis_client: redis.Redis) -> None:
    queue = dispatch.broker_queue(task_type)
    dispatch.publish_tasks([("task-1", task_type, task_type), ("task-2", task_type, task_type)])
    dispatch.publish_tasks([("task-3", task_type, task_type)])
    redis_client.delete(dispatch.DECIDE_QUEUE)  # older decide requests of this session
    dispatch.publish_decide("workflow-1")
    messages = _receive(queue, 3)
    decides = _receive(dispatch.DECIDE_QUEUE, 1)
    assert [body[0] for _, body in messages] == [["task-1"], ["task-2"], ["task-3"]]
    assert [(headers["task"], body[0]) for headers, body in decides] == [(dispatch.DECIDE_TASK, ["workflow-1"])]
    for headers, _ in messages:
        assert headers["task"] == dispatch.worker_task_name(task_type)
    for headers, body in messages + decides:
        assert headers["lang"] == "py" and headers["ignore_result"] is True
        assert headers["id"] == headers["root_id"] and headers["eta"] is None
        assert body[1] == {} and body[2]["chain"] is None
    assert len({headers["id"] for headers, _ in messages + decides}) == 4


def test_polls_take_published_messages_in_order(task_type: str, redis_client: redis.Redis) -> None:
    queue = dispatch.broker_queue(task_type)
    dispatch.publish_tasks([(f"task-{i}", task_type, task_type) for i in range(3)])
    assert dispatch.take_task_ids(queue, 2) == ["task-0", "task-1"]
    assert dispatch.take_task_ids(queue, 5) == ["task-2"]
    assert dispatch.take_task_ids(queue, 5) == []
    assert redis_client.llen(queue) == 0


def test_polls_take_messages_that_celery_itself_sent(task_type: str) -> None:
    """A message from send_task (another producer, say) is as good as one of Baton's."""
    queue = dispatch.broker_queue(task_type)
    current_app.send_task(dispatch.worker_task_name(task_type), args=["from-celery"], queue=dispatch.queue_decl(queue))
    assert dispatch.take_task_ids(queue, 1) == ["from-celery"]


def test_a_long_poll_wakes_on_a_message_published_while_it_waits(
    task_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = dispatch.broker_queue(task_type)
    waiting = threading.Event()
    drain_events = kombu.Connection.drain_events

    def drain_and_tell(self: kombu.Connection, **kwargs: Any) -> Any:
        waiting.set()  # subscribed to the queue by now: the publish below comes while it waits
        return drain_events(self, **kwargs)

    monkeypatch.setattr(kombu.Connection, "drain_events", drain_and_tell)
    publisher = threading.Thread(target=lambda: waiting.wait(10) and dispatch.publish_tasks([("late", task_type, task_type)]))
    publisher.start()
    try:
        assert dispatch.wait_for_task_ids(queue, 1, timeout=10) == ["late"]
    finally:
        publisher.join(10)
    assert dispatch.wait_for_task_ids(queue, 1, timeout=0.05) == []


def test_threads_publishing_at_once_share_the_producers_safely(
    task_type: str, redis_client: redis.Redis
) -> None:
    errors: list[BaseException] = []

    def publish(n: int) -> None:
        try:
            for i in range(20):
                dispatch.publish_tasks([(f"t{n}-{i}", task_type, task_type)])
        except BaseException as error:  # reported below, never lost in a thread
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert redis_client.llen(dispatch.broker_queue(task_type)) == 80


def _broker_clients(redis_client: redis.Redis) -> int:
    """Connections to the broker's Redis database: this session's, on a database of its own."""
    db = str(redis_client.connection_pool.connection_kwargs.get("db", 0))
    return len([c for c in redis_client.client_list() if str(c.get("db")) == db])


def test_publishers_and_pollers_in_new_threads_reuse_the_process_broker_connections(
    task_type: str, redis_client: redis.Redis
) -> None:
    """Django runs requests on many threads: a broker connection per thread (or per publish)
    would mean a new connection per request."""
    queue = dispatch.broker_queue(task_type)

    def publish_and_take(i: int) -> None:
        dispatch.publish_tasks([(f"t{i}", task_type, task_type)])
        assert dispatch.take_task_ids(queue, 1) == [f"t{i}"]

    publish_and_take(-1)  # the process' connections exist by now
    before = _broker_clients(redis_client)
    for i in range(5):
        thread = threading.Thread(target=publish_and_take, args=(i,))
        thread.start()
        thread.join(10)
    assert _broker_clients(redis_client) <= before  # one thread at a time opens nothing new


def test_a_broker_that_is_down_loses_the_message_quietly_and_the_next_publish_recovers(
    task_type: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An app whose broker is down: nothing listens on port 1, every connection attempt is
    # refused at once. Celery reads CELERY_BROKER_URL from the environment before its setting.
    dead = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead)
    down = Celery("broker-down", broker=dead, set_as_current=False)
    queue = dispatch.broker_queue(task_type)
    down.set_current()
    try:
        dispatch.publish_tasks([("lost", task_type, task_type)])  # must not raise
        dispatch.publish_decide("some-workflow")
        assert dispatch.take_task_ids(queue, 1) == []  # a poll serves from the database instead
        assert dispatch.wait_for_task_ids(queue, 1, timeout=0.1) is None
    finally:
        monkeypatch.undo()
        celery_app.set_current()
    assert "could not publish task messages" in caplog.text
    assert "could not publish decide" in caplog.text
    dispatch.publish_tasks([("kept", task_type, task_type)])
    assert [body[0] for _, body in _receive(queue, 1)] == [["kept"]]
