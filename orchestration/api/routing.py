"""Route helpers shared by the URL modules: Conductor paths, trailing slash optional."""

from __future__ import annotations

from django.urls import URLPattern, re_path

# One path segment (ids, names, statuses).
SEGMENT = "[^/]+"


def route(pattern: str, view: object, name: str) -> URLPattern:
    return re_path(rf"^{pattern}/?$", view, name=name)  # type: ignore[arg-type]
