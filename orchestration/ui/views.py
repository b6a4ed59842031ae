"""The web pages. For now a landing page: what is defined, what ran lately, where to go next."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from orchestration.selectors import definitions, workflows


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else ""


def home(request: HttpRequest) -> HttpResponse:
    recent = workflows.recent_workflows()
    for wf in recent:
        wf["started"] = _when(wf["create_time"])
        wf["duration_ms"] = (wf["end_time"] - wf["create_time"]) if wf["end_time"] else None
    return render(
        request,
        "baton/home.html",
        {"workflows": recent, "definitions": definitions.workflow_definitions_summary()},
    )
