"""ASGI entry point. Baton serves ASGI by default (uvicorn) because some Conductor SDKs send
chunked request bodies without Content-Length, which Django under WSGI reads as empty. The
handler runs each request's synchronous middleware and view in one pooled thread
(conductor_project.asgi_handler)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_project.settings")
django.setup(set_prefix=False)

from conductor_project.asgi_handler import ThreadedASGIHandler  # noqa: E402  (needs settings)

application = ThreadedASGIHandler()
