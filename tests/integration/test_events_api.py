"""``/api/event``: event handler definitions, end to end through the routes, with Conductor's
messages for conflicts, unknown names and invalid handlers."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from orchestration.models import EventHandler

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"


@pytest.fixture(autouse=True)
def no_auth(settings: Any) -> None:
    # These tests are about the endpoints, not about who may call them (the security tests are).
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def send(client: Client, method: str, body: Any, path: str = "/api/event") -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(client, method)(path, data=data, content_type=JSON)


def handler(name: str, event: str = "conductor:wf:wait", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "event": event,
        "actions": [{"action": "complete_task", "complete_task": {"workflowId": "${workflowId}", "taskRefName": "w"}}],
        **extra,
    }


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert body["status"] == status and body["retryable"] is False and "instance" in body
    text = body.get("message", "") + " " + " ".join(e["message"] for e in body.get("validationErrors", []))
    for fragment in fragments:
        assert fragment in text, text
    return body


def assert_empty_ok(response: Any) -> None:
    assert response.status_code == 200, response.content
    assert response.content == b""


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith(JSON)
    return [h["name"] for h in response.json()]


# --- lifecycle -----------------------------------------------------------------------------------


def test_create_read_update_delete(client: Client) -> None:
    name = unique("h")
    assert_empty_ok(send(client, "post", handler(name, active=True, condition="$.ok == true", evaluatorType="javascript")))
    assert names(client.get("/api/event")) == [name]

    (got,) = client.get("/api/event").json()
    assert got["event"] == "conductor:wf:wait" and got["active"] is True
    assert got["condition"] == "$.ok == true" and got["evaluatorType"] == "javascript"

    changed = handler(name, event="sqs:other", active=False)
    assert_empty_ok(send(client, "put", changed))
    (got,) = client.get("/api/event").json()
    assert got["event"] == "sqs:other" and got["active"] is False
    assert "condition" not in got  # an update replaces the handler whole

    assert_empty_ok(client.delete(f"/api/event/{name}"))
    assert client.get("/api/event").json() == []
    assert not EventHandler.objects.exists()


def test_duplicate_name_is_a_conflict(client: Client) -> None:
    name = unique("h")
    assert_empty_ok(send(client, "post", handler(name)))
    assert_error(send(client, "post", handler(name, event="kafka:x")), 409, f"EventHandler with name {name} already exists!")
    assert EventHandler.objects.get().event == "conductor:wf:wait"  # untouched


def test_update_and_delete_of_an_unknown_name(client: Client) -> None:
    name = unique("ghost")
    assert_error(send(client, "put", handler(name)), 404, f"EventHandler with name {name} not found!")
    assert_error(client.delete(f"/api/event/{name}"), 404, f"EventHandler with name {name} not found!")
    assert not EventHandler.objects.exists()


def test_rendering_fills_conductors_defaults_omits_nulls_keeps_unknown_fields(client: Client) -> None:
    name = unique("h")
    body = {
        "name": name,
        "event": "conductor:wf:wait",
        "condition": None,
        "tags": [{"key": "team", "value": "a"}],  # not a Conductor OSS field: kept as sent
        "actions": [
            {"action": "start_workflow", "start_workflow": {"name": "wf", "version": None, "correlationId": "c"}},
            {"action": "fail_task", "fail_task": {"taskId": "${taskId}", "output": {"why": None}}, "expandInlineJSON": True},
        ],
    }
    assert_empty_ok(send(client, "post", body))
    (got,) = client.get("/api/event").json()
    assert got == {
        "name": name,
        "event": "conductor:wf:wait",
        "active": False,  # Java boolean default
        "tags": [{"key": "team", "value": "a"}],
        "actions": [
            {
                "action": "start_workflow",
                "start_workflow": {"name": "wf", "correlationId": "c", "input": {}},
                "expandInlineJSON": False,
            },
            # Nulls inside user maps are data, kept as sent.
            {"action": "fail_task", "fail_task": {"taskId": "${taskId}", "output": {"why": None}}, "expandInlineJSON": True},
        ],
    }


# --- by event ------------------------------------------------------------------------------------


@pytest.fixture
def three_handlers(client: Client) -> tuple[str, str, str]:
    """Two handlers of one event (one active, one not) and an active one of another event."""
    active, inactive, other = unique("a"), unique("b"), unique("c")
    for body in (
        handler(active, "conductor:flow:task", active=True),
        handler(inactive, "conductor:flow:task", active=False),
        handler(other, "sqs:queue", active=True),
    ):
        assert_empty_ok(send(client, "post", body))
    return active, inactive, other


def test_handlers_of_an_event_raw_colons(client: Client, three_handlers: tuple[str, str, str]) -> None:
    active, inactive, other = three_handlers
    assert names(client.get("/api/event/conductor:flow:task")) == [active]  # activeOnly defaults to true
    assert names(client.get("/api/event/conductor:flow:task?activeOnly=true")) == [active]
    assert sorted(names(client.get("/api/event/conductor:flow:task?activeOnly=false"))) == sorted([active, inactive])
    assert names(client.get("/api/event/sqs:queue")) == [other]
    assert names(client.get("/api/event/sqs:nothing")) == []
    assert names(client.get("/api/event/conductor:flow")) == []  # exact match only
    assert_error(client.get("/api/event/sqs:queue?activeOnly=perhaps"), 400, "activeOnly")


def test_handlers_of_an_event_url_encoded(client: Client, three_handlers: tuple[str, str, str]) -> None:
    active, inactive, _ = three_handlers
    assert names(client.get("/api/event/conductor%3Aflow%3Atask")) == [active]
    assert sorted(names(client.get("/api/event/conductor%3aflow%3atask/?activeOnly=false"))) == sorted([active, inactive])


def test_event_names_with_spaces_and_slashes(client: Client) -> None:
    spaced, slashed = unique("h"), unique("h")
    assert_empty_ok(send(client, "post", handler(spaced, "nats:orders created", active=True)))
    assert_empty_ok(send(client, "post", handler(slashed, "amqp_exchange:orders/created", active=True)))
    assert names(client.get(f"/api/event/{quote('nats:orders created', safe='')}")) == [spaced]
    # One path segment, as in Conductor: a slash (raw or %2F) is not part of the event.
    assert_error(client.get("/api/event/amqp_exchange:orders/created"), 404, "No static resource")
    assert_error(client.get("/api/event/amqp_exchange%3Aorders%2Fcreated"), 404)
    assert sorted(names(client.get("/api/event"))) == sorted([spaced, slashed])  # still listed
    # Orkes' queue configuration routes are not Conductor OSS: 404, not an empty handler list.
    assert_error(client.get("/api/event/queue/config"), 404)


def test_update_moves_a_handler_between_events(client: Client, three_handlers: tuple[str, str, str]) -> None:
    active, _, other = three_handlers
    assert_empty_ok(send(client, "put", handler(active, "sqs:queue", active=True)))
    assert names(client.get("/api/event/conductor:flow:task")) == []
    assert sorted(names(client.get("/api/event/sqs:queue"))) == sorted([active, other])


def test_trailing_slash_and_no_csrf(three_handlers: tuple[str, str, str]) -> None:
    strict = Client(enforce_csrf_checks=True)  # SDK clients never send a CSRF token
    assert len(strict.get("/api/event/").json()) == 3
    assert_empty_ok(send(strict, "post", handler(unique("h")), path="/api/event/"))
    assert_empty_ok(strict.delete(f"/api/event/{three_handlers[0]}/"))
    assert len(strict.get("/api/event").json()) == 3


# --- validation: 400, nothing stored -------------------------------------------------------------


def test_missing_everything_gives_conductors_three_messages(client: Client) -> None:
    body = assert_error(send(client, "post", {}), 400)
    assert body["message"] == "Validation failed, check below errors for detail."
    assert sorted(e["message"] for e in body["validationErrors"]) == [
        "Missing event handler name",
        "Missing event location",
        "No actions specified. Please specify at-least one action",
    ]
    assert {e["path"] for e in body["validationErrors"]} == {
        "eventHandler.name", "eventHandler.event", "eventHandler.actions",
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "", "event": "e", "actions": [{}]}, "Missing event handler name"),
        ({"name": "n", "event": "", "actions": [{}]}, "Missing event location"),
        ({"name": "n", "event": "e", "actions": []}, "No actions specified"),
        ({"name": "n", "event": "e", "actions": None}, "No actions specified"),
        ({"name": 5, "event": "e", "actions": [{}]}, "name must be a string"),
        ({"name": "n", "event": "e", "active": "yes", "actions": [{}]}, "active must be a boolean"),
        ({"name": "n", "event": "e", "actions": {"action": "fail_task"}}, "actions must be a list"),
        ({"name": "n", "event": "e", "actions": ["fail_task"]}, "Action must be a JSON object"),
        ({"name": "n", "event": "e", "actions": [{"action": "explode"}]}, "action must be one of start_workflow"),
        (
            {"name": "n", "event": "e", "actions": [{"action": "start_workflow", "start_workflow": {"version": "1"}}]},
            "version must be an integer",
        ),
        (
            {"name": "n", "event": "e", "actions": [{"action": "complete_task", "complete_task": {"output": []}}]},
            "output must be an object",
        ),
        ({"name": "n", "event": "e", "actions": [{"expandInlineJSON": "true"}]}, "expandInlineJSON must be a boolean"),
        ({"name": "n" * 256, "event": "e", "actions": [{}]}, "name must be at most 255 characters"),
        ([handler("x")], "must be a JSON object"),
        ('{"name": "x",', "Malformed JSON"),
        ("", "Required request body is missing"),
    ],
)
def test_invalid_handlers_are_rejected(client: Client, body: Any, fragment: str) -> None:
    for method in ("post", "put"):
        assert_error(send(client, method, body), 400, fragment)
    assert not EventHandler.objects.exists()


def test_conductor_checks_nothing_inside_an_action(client: Client) -> None:
    # Conductor's Action bean carries no constraints: an action without its parameters (or
    # without a type) is accepted at registration and only fails when an event arrives.
    bare = {"name": unique("h"), "event": "e", "actions": [{"action": "start_workflow"}, {}]}
    assert_empty_ok(send(client, "post", bare))
    (got,) = client.get("/api/event").json()
    assert got["actions"] == [{"action": "start_workflow", "expandInlineJSON": False}, {"expandInlineJSON": False}]


def test_unknown_method_and_route(client: Client) -> None:
    assert_error(client.patch("/api/event", data="{}", content_type=JSON), 405, "PATCH")
    assert_error(send(client, "post", handler("x"), path="/api/event/some:event"), 405, "POST")
