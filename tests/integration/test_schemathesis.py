"""Schemathesis against the whole API, in process: no 5xx answer, and no answer that breaks the
schema served at /api/schema (status code, content type, body), over at least 1,000 requests in
each of two passes.

The server under test is the real Django app (WSGI), with authentication on and an ADMIN token,
on the test database and broker, after a few objects are seeded (a task definition, a workflow
definition, a running workflow and its task, an event handler). Checks: not_a_server_error,
status_code_conformance, content_type_conformance, response_schema_conformance.

1. ``test_generated_requests_on_seeded_data``: Hypothesis, fixed seed; per operation
   ``POSITIVE_EXAMPLES`` valid requests, ``NEGATIVE_EXAMPLES`` invalid ones (wrong types, missing
   fields, bad enum names...) and ``PINNED_EXAMPLES`` of each whose path parameters name the
   seeded objects, so the 200 answers are checked, not only the 404s. Writes run before reads,
   deletes last, so reads return what the fuzzed writes stored.
2. ``test_coverage_phase``: schemathesis' engine, coverage phase only (deterministic): each
   parameter and body property in turn at its boundaries, missing, mistyped...

Every failure is collected, not just the first; a test fails listing them all with a curl line
to reproduce each, unless the failure is a reported bug listed in ``KNOWN_FAILURES`` (with its
reason; the goal is an empty list). ``BATON_SCHEMATHESIS_SCALE=4`` makes pass 1 four times longer.

Against a running server instead (``make run``; a token as README "Authentication" shows; the
execute operation waits up to 10 s per valid start, hence its exclusion)::

    .venv/bin/schemathesis run http://127.0.0.1:8080/api/schema -H "X-Authorization: $TOKEN" \\
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \\
        --phases coverage,fuzzing --mode all --max-examples 25 --generation-deterministic --max-time 600 \\
        --exclude-path '/api/workflow/execute/{name}/{version}'
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.db import connections
from django.test import Client
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.engine import events
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conductor_project.wsgi import application
from orchestration.security import keys, tokens

pytestmark = pytest.mark.django_db(transaction=True)

MIN_REQUESTS = 1_000
# BATON_SCHEMATHESIS_SCALE=4 (say) multiplies every example count, for a deeper run by hand.
SCALE = float(os.environ.get("BATON_SCHEMATHESIS_SCALE", "1"))
POSITIVE_EXAMPLES = round(15 * SCALE)
NEGATIVE_EXAMPLES = round(10 * SCALE)
PINNED_EXAMPLES = round(5 * SCALE)
# Bodies holding workflow definitions (dozens of optional fields, nested task lists) cost Hypothesis
# about half a second each to generate: those operations get fewer examples.
HEAVY_BODY_MODELS = ("WorkflowDef", "StartWorkflowRequest")
HEAVY_POSITIVE_EXAMPLES = round(5 * SCALE)
HEAVY_NEGATIVE_EXAMPLES = round(4 * SCALE)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Query values fixed to keep the run short: long polls and signal waits would otherwise take
# up to 5 s (30 s) per request.
FIXED_QUERY: dict[str, dict[str, Any]] = {
    "GET /api/tasks/poll/batch/{taskType}": {"timeout": 0},
    "POST /api/tasks/{workflowId}/{status}/signal/sync": {"timeoutMillis": 0},
    "POST /api/workflow/execute/{name}/{version}": {"waitForSeconds": 1, "waitUntilTaskRef": "t1"},
}

# Reported server bugs, tolerated until fixed: (regex found in the failure report, why). A report
# (one response: every check it failed, the answer and a curl line) matching none still fails the
# test; a bug that no longer shows up is reported as a warning, so its entry can go. Goal: empty.
KNOWN_FAILURES: list[tuple[str, str]] = []

JSON = "application/json"


# --- seeded objects ----------------------------------------------------------------------------


@dataclass
class Seeds:
    task_type: str = "oapi_task"
    workflow: str = "oapi_flow"
    event: str = "conductor:oapi_event"
    handler: str = "oapi_handler"
    correlation_id: str = "oapi-corr"
    workflow_id: str = ""
    task_id: str = ""


def _post(client: Client, path: str, body: Any, token: str) -> Any:
    response = client.post(path, data=json.dumps(body), content_type=JSON, headers={"X-Authorization": token})
    assert response.status_code == 200, (path, response.status_code, response.content)
    return response


def seed(client: Client, token: str) -> Seeds:
    s = Seeds()
    _post(client, "/api/metadata/taskdefs", [{"name": s.task_type, "ownerEmail": "a@b.c", "retryCount": 0}], token)
    _post(client, "/api/metadata/workflow", {
        "name": s.workflow, "version": 1, "ownerEmail": "a@b.c", "schemaVersion": 2,
        "tasks": [{"name": s.task_type, "taskReferenceName": "t1", "type": "SIMPLE"}],
    }, token)
    _post(client, "/api/event", {
        "name": s.handler, "event": s.event, "active": True,
        "actions": [{"action": "start_workflow", "start_workflow": {"name": s.workflow}}],
    }, token)
    s.workflow_id = _post(client, "/api/workflow", {
        "name": s.workflow, "correlationId": s.correlation_id, "input": {"k": "v"},
    }, token).content.decode()
    workflow = client.get(f"/api/workflow/{s.workflow_id}", headers={"X-Authorization": token}).json()
    s.task_id = workflow["tasks"][0]["taskId"]
    return s


def pinned_path(seeds: Seeds, method: str, path: str) -> dict[str, Any]:
    """Path parameters naming seeded objects, for the operation ``method path``."""
    values: dict[str, Any] = {
        "taskType": seeds.task_type, "name": seeds.workflow, "version": 1, "workflowId": seeds.workflow_id,
        "taskId": seeds.task_id, "taskRefName": "t1", "correlationId": seeds.correlation_id, "status": "COMPLETED",
    }
    if path == "/api/workflow/{key}":
        values["key"] = seeds.workflow_id if method == "GET" else seeds.workflow
    elif path == "/api/event/{key}":
        values["key"] = seeds.event if method == "GET" else seeds.handler
    return values


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # operation -> messages (first few)
    generation_errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def fail(self, label: str, message: str) -> None:
        found = self.failures.setdefault(label, [])
        known = _known_bug(message) is not None
        # Per operation, up to 10 reports of unknown failures and 3 of known bugs.
        if message not in found and sum((_known_bug(m) is not None) == known for m in found) < (3 if known else 10):
            found.append(message)


def _order(label: str) -> tuple[int, str]:
    method = label.split(" ", 1)[0]
    return ({"POST": 0, "PUT": 0, "PATCH": 0, "GET": 1, "DELETE": 2}.get(method, 1), label)


def _run(strategy: Any, examples: int, check: Callable[[Any], None]) -> None:
    @settings(
        max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        check(case)

    run()


def _negatable(definition: dict[str, Any], with_path: bool = True) -> bool:
    """Whether invalid input can be made: a body, a query parameter, or a typed path parameter
    (a plain path string admits anything but a slash, which would only reach another route)."""
    params = definition.get("parameters", [])
    typed_path = with_path and any(
        p["in"] == "path" and ("enum" in p["schema"] or p["schema"].get("type") != "string") for p in params
    )
    return "requestBody" in definition or typed_path or any(p["in"] == "query" for p in params)


def fuzz(schema: Any, seeds: Seeds, token: str) -> Outcome:
    outcome = Outcome()
    headers = {"X-Authorization": token}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in sorted(operations, key=lambda op: _order(op.label)):
        label = operation.label  # "METHOD /path"
        fixed_query = FIXED_QUERY.get(label)

        def check(case: Any, label: str = label) -> None:
            response = case.call(headers=headers)
            outcome.requests += 1
            outcome.by_status[response.status_code] = outcome.by_status.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (FailureGroup, AssertionError) as exc:  # FailureGroup: every failed check of this response
                outcome.fail(label, str(exc).strip())

        plans: list[tuple[GenerationMode, int, dict[str, Any] | None]] = []
        heavy = any(f"/{name}" in json.dumps(operation.definition.raw.get("requestBody", {})) for name in HEAVY_BODY_MODELS)
        plans.append((GenerationMode.POSITIVE, HEAVY_POSITIVE_EXAMPLES if heavy else POSITIVE_EXAMPLES, None))
        if _negatable(operation.definition.raw):
            plans.append((GenerationMode.NEGATIVE, HEAVY_NEGATIVE_EXAMPLES if heavy else NEGATIVE_EXAMPLES, None))
        if "{" in operation.path:
            pinned = pinned_path(seeds, operation.method.upper(), operation.path)
            plans.append((GenerationMode.POSITIVE, PINNED_EXAMPLES, pinned))
            if _negatable(operation.definition.raw, with_path=False):
                plans.append((GenerationMode.NEGATIVE, PINNED_EXAMPLES, pinned))
        op_started = time.monotonic()
        for mode, examples, path_values in plans:
            kwargs: dict[str, Any] = {"headers": headers}
            if fixed_query:
                kwargs["query"] = fixed_query
            if path_values is not None:
                kwargs["path_parameters"] = {k: v for k, v in path_values.items() if "{" + k + "}" in operation.path}
            try:
                _run(operation.as_strategy(generation_mode=mode, **kwargs), examples, check)
            except HypothesisException as exc:
                # Nothing to negate (an operation without inputs) or nothing left to generate.
                outcome.generation_errors[f"{label} [{mode.value}]"] = type(exc).__name__
        outcome.seconds[label] = time.monotonic() - op_started
    return outcome


@pytest.fixture
def admin_token(settings: Any) -> str:
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": True}
    keys.invalidate()
    new = keys.create_key("schemathesis", "ADMIN")
    return tokens.issue(new.key.key_id, new.key.role, keys.fingerprint(new.key.secret_hash))


def _known_bug(message: str) -> str | None:
    return next((reason for pattern, reason in KNOWN_FAILURES if re.search(pattern, message)), None)


def _report(outcome: Outcome) -> Iterator[str]:
    for label, messages in sorted(outcome.failures.items()):
        yield f"=== {label}"
        for message in messages:
            reason = _known_bug(message)
            yield f"[known bug: {reason}]\n{message}" if reason else message


def _conclude(name: str, outcome: Outcome, elapsed: float) -> None:
    print(
        f"\nschemathesis {name}: {outcome.requests} requests in {elapsed:.0f}s, by status "
        f"{dict(sorted(outcome.by_status.items()))}; operations failing: {len(outcome.failures)}"
        + (f"; not generated: {sorted(outcome.generation_errors)}" if outcome.generation_errors else "")
    )
    slowest = sorted(outcome.seconds.items(), key=lambda kv: -kv[1])[:5]
    if slowest:
        print("slowest operations: " + ", ".join(f"{label} {sec:.1f}s" for label, sec in slowest))
    report = "\n".join(_report(outcome))
    if report:
        print(report)
    assert outcome.requests >= MIN_REQUESTS, f"only {outcome.requests} requests were made"
    unexpected = sorted(label for label, messages in outcome.failures.items() if not all(map(_known_bug, messages)))
    assert not unexpected, f"schemathesis failures in {unexpected}:\n{report}"
    seen = {_known_bug(message) for messages in outcome.failures.values() for message in messages}
    absent = [reason for _, reason in KNOWN_FAILURES if reason not in seen]
    if absent:
        warnings.warn(f"known bugs that did not show up in the {name} run: {absent}", stacklevel=1)


def test_generated_requests_on_seeded_data(admin_token: str, client: Client) -> None:
    """Hypothesis-generated requests per operation (positive, negative, on seeded objects)."""
    seeds = seed(client, admin_token)
    schema = schemathesis.openapi.from_wsgi("/api/schema", application, headers={"X-Authorization": admin_token})
    started = time.monotonic()
    outcome = fuzz(schema, seeds, admin_token)
    _conclude("seeded fuzzing", outcome, time.monotonic() - started)


# Schemathesis' coverage phase: for every operation, each parameter and body property in turn at its
# boundaries, missing, of the wrong type, out of its enum... (deterministic, about 30,000 requests).
COVERAGE_CONFIG: dict[str, Any] = {
    "checks": {"enabled": False, **{check.__name__: {"enabled": True} for check in CHECKS}},
    "generation": {"deterministic": True},
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": True, "unexpected-methods": []},
        "fuzzing": {"enabled": False},
        "stateful": {"enabled": False},
    },
    "operations": [
        {"include-path": path.split(" ", 1)[1], "include-method": path.split(" ", 1)[0], "parameters": values}
        for path, values in FIXED_QUERY.items()
        if not path.startswith("POST /api/workflow/execute/")
    ]
    # Each valid start waits for the workflow (waitForSeconds, 0 meaning the default 10 s): the
    # seeded fuzzing covers it with short waits.
    + [{"include-path": "/api/workflow/execute/{name}/{version}", "enabled": False}],
}


class ThreadedApp:
    """The WSGI app, remembering the database connections that schemathesis' worker threads open
    through it, so that they can be closed at the end (PostgreSQL refuses to drop the test
    database while one is open)."""

    def __init__(self) -> None:
        self.opened: list[Any] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return application(environ, start_response)
        finally:
            if threading.current_thread() is not threading.main_thread():
                self.opened += [c for c in connections.all(initialized_only=True) if c not in self.opened]

    def close(self) -> None:
        for wrapper in self.opened:
            if wrapper.connection is not None:
                wrapper.connection.close()  # the raw connection: the wrapper belongs to another thread


@pytest.fixture
def threaded_app() -> Iterator[ThreadedApp]:
    app = ThreadedApp()
    yield app
    app.close()


def test_coverage_phase(admin_token: str, client: Client, threaded_app: ThreadedApp) -> None:
    """What ``schemathesis run --phases coverage`` does, in process."""
    seed(client, admin_token)
    headers = {"X-Authorization": admin_token}
    config = SchemathesisConfig.from_dict({**COVERAGE_CONFIG, "headers": headers})
    schema = schemathesis.openapi.from_wsgi("/api/schema", threaded_app, config=config, headers=headers)
    outcome = Outcome()
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            label = event.recorder.label
            outcome.seconds[label] = event.elapsed_time
            for interaction in event.recorder.interactions.values():
                outcome.requests += 1
                if interaction.response is not None:
                    code = interaction.response.status_code
                    outcome.by_status[code] = outcome.by_status.get(code, 0) + 1
            for case_id, checks in event.recorder.checks.items():
                interaction = event.recorder.interactions.get(case_id)
                answer = interaction.response if interaction is not None else None
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        body = answer.content[:300].decode(errors="replace") if answer is not None else ""
                        outcome.fail(
                            label, f"{failure.title}: {failure.message}\n[{answer.status_code if answer else '?'}] "
                            f"{body}\n{check.failure_info.code_sample}",
                        )
        elif isinstance(event, events.NonFatalError):
            outcome.fail(event.label, f"error: {event.value!r}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    _conclude("coverage phase", outcome, time.monotonic() - started)
