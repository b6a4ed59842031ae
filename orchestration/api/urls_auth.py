"""Routes of one area of Conductor's API, included by orchestration.api.urls before the core
routes (so literal segments here win over the core's variables)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
