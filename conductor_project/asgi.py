"""ASGI entry point. Baton serves ASGI by default (uvicorn) because some Conductor SDKs send
chunked request bodies without Content-Length, which Django under WSGI reads as empty."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_project.settings")
application = get_asgi_application()
