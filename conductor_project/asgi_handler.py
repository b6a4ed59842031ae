"""Django's ASGI handler, with the whole request served in one worker thread.

Baton's views, middleware and ORM are synchronous. Django's own ``ASGIHandler`` builds an async
middleware chain and adapts every synchronous piece separately: ``MiddlewareMixin`` runs each
``process_request`` / ``process_response`` through ``sync_to_async``, every ``process_view``
and the view itself get one more, and each request starts a thread of its own
(``ThreadSensitiveContext``). A poll or a task update thereby crossed between the event loop and
a fresh thread about a dozen times; profiled under REST workers, that was a large share of the
web process' CPU.

This handler keeps what ASGI is here for (the server reads the whole body, chunked or not,
before Django sees it) and runs everything after that as a WSGI server would: the synchronous
middleware chain, the view and the end-of-request signals in one call on a pool of reused
threads. Each request runs in a copy of the server's context, so Django's per-context state
(database connections, URL prefix) starts clean, as it does under ``ASGIHandler``; pooled
PostgreSQL connections go back to the pool when the request finishes, in the same thread.

``BATON_WEB_THREADS`` bounds the threads serving requests at once (a long poll holds one for up
to its timeout); further requests wait for a free one.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponse
from django.urls import set_script_prefix

# Long polls hold a thread each for up to 5 s. Conductor's server (Spring Boot's embedded Tomcat)
# also serves 200 requests at once by default.
DEFAULT_WEB_THREADS = 200


def web_threads() -> int:
    return max(1, int(os.environ.get("BATON_WEB_THREADS", DEFAULT_WEB_THREADS)))


class ThreadedASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        # BaseHandler.__init__ only sets attributes; ASGIHandler.__init__ would build the async
        # chain, which is exactly what this class avoids.
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)
        self._executor = ThreadPoolExecutor(max_workers=web_threads(), thread_name_prefix="baton-web")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(self._executor, context.run, self._respond, scope, body_file)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while the response was sent
            finally:
                if response.streaming:
                    # A streamed body is produced while it is sent; its request ends only now.
                    await loop.run_in_executor(self._executor, context.run, response.close)
        finally:
            body_file.close()

    def _respond(self, scope: dict[str, Any], body_file: tempfile.SpooledTemporaryFile) -> HttpResponse:  # type: ignore[type-arg]
        """The synchronous part of a request, in a worker thread: what WSGIHandler does."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            # The body is in memory: finish the request here, in the thread that served it, so
            # request_finished closes (or returns to the pool) this thread's connections.
            response.close()
        return response
