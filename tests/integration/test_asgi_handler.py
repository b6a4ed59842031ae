"""The ASGI application (conductor_project.asgi_handler): the body is read whole before Django
sees it (chunked SDK bodies), each request's synchronous part runs in one pooled thread that
also finishes the request, and a long poll does not hold up other requests."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import pytest
from django.core import signals
from django.db import close_old_connections

from orchestration.models import WorkflowDef

from .seams import BrokerWaits

pytestmark = pytest.mark.django_db(transaction=True)


async def asgi_request(
    method: str, path: str, *, query: str = "", chunks: list[bytes] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request through ``conductor_project.asgi.application``; (status, headers, body)."""
    from conductor_project.asgi import application

    headers = [(b"host", b"testserver")]
    if chunks is not None:
        # Chunked transfer: no Content-Length, as some SDKs send.
        headers += [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 5000), "headers": headers,
    }  # fmt: skip
    parts = chunks or [b""]
    pending = [{"type": "http.request", "body": c, "more_body": i < len(parts) - 1} for i, c in enumerate(parts)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)  # the app only waits here for a disconnect
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start_msg = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start_msg["status"], dict(start_msg["headers"]), body


def _workflow_def(name: str) -> dict[str, Any]:
    return {
        "name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "asgi@example.com",
        "tasks": [{"name": "asgi_t", "taskReferenceName": "t", "type": "SIMPLE"}],
    }  # fmt: skip


def test_chunked_body_is_read_under_asgi() -> None:
    name = f"chunked_{uuid.uuid4().hex[:8]}"
    payload = json.dumps(_workflow_def(name)).encode()
    chunks = [payload[i : i + 17] for i in range(0, len(payload), 17)]
    close_old_connections()
    status, headers, body = asyncio.run(asgi_request("POST", "/api/metadata/workflow", chunks=chunks))
    assert status == 200, body
    assert headers[b"Content-Type"].startswith(b"text/plain")
    assert WorkflowDef.objects.filter(name=name, version=1).exists()


def test_a_request_starts_and_finishes_in_the_thread_that_serves_it() -> None:
    # request_finished closes the thread's database connections (or hands them back to the
    # pool): it must run in the thread that used them, not on the event loop or elsewhere.
    seen: dict[str, int] = {}

    def started(**_: Any) -> None:
        seen["started"] = threading.get_ident()

    def finished(**_: Any) -> None:
        seen.setdefault("finished", threading.get_ident())

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:

        async def run() -> tuple[int, int]:
            status, _, _ = await asgi_request("GET", "/api/metadata/workflow")
            return status, threading.get_ident()

        status, loop_thread = asyncio.run(run())
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert status == 200
    assert seen["started"] == seen["finished"] != loop_thread


def test_a_long_poll_does_not_hold_up_other_requests(broker_waits: BrokerWaits) -> None:
    task_type = f"asgi_idle_{uuid.uuid4().hex[:8]}"
    broker_waits.hold = True  # the long poll is held where it waits on the broker until released

    async def run() -> tuple[int, bool, int, bytes]:
        long_poll = asyncio.create_task(
            asgi_request("GET", f"/api/tasks/poll/batch/{task_type}", query="count=1&timeout=100")
        )
        assert await asyncio.to_thread(broker_waits.waiting.wait, 30)
        try:
            # Served while the long poll provably still waits (the bound only keeps a handler
            # that queues requests behind it from hanging the test).
            quick_status, _, _ = await asyncio.wait_for(asgi_request("GET", "/health"), 30)
            poll_pending = not long_poll.done() and not broker_waits.returned.is_set()
        finally:
            broker_waits.release()
        poll_status, _, body = await long_poll
        return quick_status, poll_pending, poll_status, body

    close_old_connections()
    quick_status, poll_pending, poll_status, body = asyncio.run(run())
    assert quick_status == 200 and poll_pending
    assert (poll_status, body) == (200, b"[]")
    assert broker_waits.results == [[]]  # the long poll waited out its (short) timeout
