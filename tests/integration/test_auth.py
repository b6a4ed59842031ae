"""API authentication and roles, end to end through the URL conf and the middleware.

The route tests walk ``get_resolver()`` rather than a hand-kept list, so an endpoint added later
is checked the day it is routed: every method its view implements must refuse an anonymous
caller (401) and every role below the one the role table names (403), and must let that role
through (anything but 401/403: dummy ids answer 404, empty bodies 400, and that is fine).

Authentication is switched on here whatever ``BATON_AUTH_ENABLED`` says, so these tests also run
in a session where the rest of the suite has it off.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from orchestration import clock as baton_clock
from orchestration.models import ApplicationKey, Role
from orchestration.security import keys, permissions, tokens
from orchestration.security.middleware import NOT_FOUND_ROUTE
from orchestration.testing import Clock, install_clock

pytestmark = pytest.mark.django_db

JSON = "application/json"
ROLES = list(permissions.RANK)


@pytest.fixture(autouse=True)
def auth_on(settings: Any) -> None:
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": True}
    keys.invalidate()


# --- building a request for every route --------------------------------------------------------

# Path values by group name; anything else gets "dummy-<name>".
DUMMY_VALUES = {"version": "1", "status": "COMPLETED", "count": "1"}


def _sample(tree: Any, named: dict[int, str], use_names: bool) -> str:
    """One string the parsed regex ``tree`` matches, with named groups filled by name."""
    import re._parser as parser  # the regex AST: stdlib, stable enough for a test

    out: list[str] = []
    for op, arg in tree:
        if op is parser.LITERAL:
            out.append(chr(arg))
        elif op is parser.AT:
            continue
        elif op is parser.ANY:
            out.append("x")
        elif op is parser.NOT_LITERAL:
            out.append("y" if chr(arg) == "x" else "x")
        elif op is parser.IN:
            out.append(_sample_class(arg))
        elif op is parser.BRANCH:
            out.append(_sample(arg[1][0], named, use_names))
        elif op is parser.SUBPATTERN:
            group, _, _, sub = arg
            if use_names and group in named:
                name = named[group]
                out.append(DUMMY_VALUES.get(name, f"dummy-{name}"))
            else:
                out.append(_sample(sub, named, use_names))
        elif op in (parser.MAX_REPEAT, parser.MIN_REPEAT):
            low, _, sub = arg
            out.append(_sample(sub, named, use_names) * low)
        else:
            raise ValueError(f"regex construct {op} not supported by the route walker")
    return "".join(out)


def _sample_class(items: list[Any]) -> str:
    import re._parser as parser

    excluded = set()
    negate = False
    for op, arg in items:
        if op is parser.NEGATE:
            negate = True
        elif op is parser.LITERAL:
            if not negate:
                return chr(arg)
            excluded.add(chr(arg))
        elif op is parser.RANGE and not negate:
            return chr(arg[0])
        elif op is parser.CATEGORY and not negate:
            return "1" if arg is parser.CATEGORY_DIGIT else "x"
    return next(c for c in "xyz" if c not in excluded)


def concrete_path(regex: str) -> str:
    """A path that the route ``regex`` matches (and, checked by the caller, resolves to it)."""
    import re._parser as parser

    parsed = parser.parse(regex)
    named = {index: name for name, index in parsed.state.groupdict.items()}
    return "/" + _sample(parsed, named, use_names=True)


def _strip(regex: str) -> str:
    return regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        regex = prefix + _strip(entry.pattern.regex.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, regex)
        else:
            yield regex, entry


def _methods(callback: Any) -> list[str]:
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is None:  # a function view: it may answer anything
        return ["GET", "POST", "PUT", "DELETE"]
    return [m.upper() for m in view.http_method_names if m not in ("head", "options", "trace") and hasattr(view, m)]


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    need: str  # permissions.PUBLIC or a role

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.name}, needs {self.need}]"


def _resolves_to(path: str, entry: URLPattern) -> bool:
    try:
        return resolve(path).func is entry.callback
    except Resolver404:
        return False


def api_cases() -> list[Case]:
    """(method, path) for every method of every API route, each with the role it needs."""
    import re._parser as parser

    cases: list[Case] = []
    seen: set[tuple[str, str]] = set()
    for regex, entry in _walk(get_resolver().url_patterns, ""):
        path = concrete_path(regex)
        if not (path == "/api" or path.startswith("/api/") or path.rstrip("/") == "/health"):
            continue
        if not _resolves_to(path, entry):
            # A name-based dummy collided with a literal route: try the regex's own sample.
            path = "/" + _sample(parser.parse(regex), {}, use_names=False)
            if not _resolves_to(path, entry):
                # Shadowed by an earlier route for this path (a by-method dispatcher in front of
                # a core view): that route's case covers the path, and security is per path.
                continue
        for method in _methods(entry.callback):
            if (method, path) in seen:
                continue
            seen.add((method, path))
            need = permissions.required_role(method, path)
            if entry.name == NOT_FOUND_ROUTE and need != permissions.PUBLIC:
                need = Role.READ_ONLY
            cases.append(Case(entry.name or regex, method, path, need))
    return cases


def call(client: Client, case: Case, token: str | None = None) -> Any:
    kwargs: dict[str, Any] = {"headers": {"X-Authorization": token} if token is not None else {}}
    if case.method in ("POST", "PUT", "PATCH"):
        kwargs.update(data="{}", content_type=JSON)
    return client.generic(case.method, case.path, **kwargs)


def token_for(role: str, name: str | None = None) -> str:
    new = keys.create_key(name or f"test {role}", role)
    return tokens.issue(new.key.key_id, new.key.role, keys.fingerprint(new.key.secret_hash))


@pytest.fixture
def role_tokens() -> dict[str, str]:
    return {role: token_for(role) for role in ROLES}


def test_the_route_walk_finds_the_api() -> None:
    cases = api_cases()
    names = {case.name for case in cases}
    # A walk that silently found nothing would make every test below pass vacuously.
    assert {"health", "token", "taskdefs", "workflow-start", "task-poll", "task-update", NOT_FOUND_ROUTE} <= names
    for case in cases:
        assert resolve(case.path).url_name == case.name, f"{case}: built path resolves elsewhere"


# --- every route ---------------------------------------------------------------------------------


def test_every_route_refuses_an_anonymous_caller(client: Client) -> None:
    wrong = []
    for case in api_cases():
        response = call(client, case)
        if case.need == permissions.PUBLIC:
            if response.status_code in (401, 403):
                wrong.append(f"{case}: public, got {response.status_code}")
            continue
        if response.status_code != 401:
            wrong.append(f"{case}: expected 401, got {response.status_code}")
            continue
        body = response.json()
        if body.get("status") != 401 or body.get("retryable") is not False or "message" not in body:
            wrong.append(f"{case}: not a Conductor error body: {body}")
    assert not wrong, "\n".join(wrong)


def test_every_route_refuses_roles_below_its_own(client: Client, role_tokens: dict[str, str]) -> None:
    wrong = []
    checked = 0
    for case in api_cases():
        if case.need == permissions.PUBLIC:
            continue
        for role in permissions.roles_below(case.need):
            checked += 1
            response = call(client, case, role_tokens[role])
            if response.status_code != 403:
                wrong.append(f"{case}: {role} got {response.status_code}, expected 403")
            elif response.json().get("error") in (tokens.INVALID_TOKEN, tokens.EXPIRED_TOKEN):
                # Those codes make SDKs fetch a new token and retry, which cannot help a 403.
                wrong.append(f"{case}: 403 carries a token-refresh code")
    assert checked, "no route needs more than READ_ONLY?"
    assert not wrong, "\n".join(wrong)


# The role table's reads sent as POST: the only non-GET routes READ_ONLY may call.
READS_BY_POST = re.compile(r"^/api/(?:metadata/workflow/validate|workflow/bulk/search|workflow/[^/]+/correlated)/?$")


def test_a_read_only_token_is_refused_every_write(client: Client, role_tokens: dict[str, str]) -> None:
    wrong = []
    for case in api_cases():
        if case.method == "GET" or case.need == permissions.PUBLIC or case.name == NOT_FOUND_ROUTE:
            continue
        if case.method == "POST" and READS_BY_POST.match(case.path):
            assert case.need == Role.READ_ONLY, case
            continue
        response = call(client, case, role_tokens[Role.READ_ONLY])
        if response.status_code != 403:
            wrong.append(f"{case}: READ_ONLY got {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_every_route_admits_its_least_role(client: Client, role_tokens: dict[str, str]) -> None:
    wrong = []
    for case in api_cases():
        token = None if case.need == permissions.PUBLIC else role_tokens[case.need]
        response = call(client, case, token)
        if response.status_code in (401, 403):
            wrong.append(f"{case}: got {response.status_code} {response.content[:200]!r}")
    assert not wrong, "\n".join(wrong)


def test_auth_disabled_lets_everyone_in(client: Client, settings: Any) -> None:
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}
    wrong = []
    for case in api_cases():
        response = call(client, case)
        if response.status_code in (401, 403):
            wrong.append(f"{case}: got {response.status_code}")
    assert not wrong, "\n".join(wrong)
    # As in Conductor OSS there is no token endpoint: SDKs read the 404 as "open server".
    response = client.post("/api/token", data=json.dumps({"keyId": "a", "keySecret": "b"}), content_type=JSON)
    assert response.status_code == 404
    assert response.json()["status"] == 404


# --- the token flow ------------------------------------------------------------------------------


def get_token(client: Client, key_id: str, secret: str) -> Any:
    return client.post("/api/token", data=json.dumps({"keyId": key_id, "keySecret": secret}), content_type=JSON)


def test_token_flow(client: Client) -> None:
    new = keys.create_key("flow", Role.ADMIN)
    response = get_token(client, new.key.key_id, new.secret)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(JSON)
    token = response.json()["token"]
    assert set(response.json()) == {"token"}

    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    # Authorization: Bearer works as well (curl users), and a Bearer prefix in X-Authorization.
    assert client.get("/api/metadata/taskdefs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": f"Bearer {token}"}).status_code == 200
    # An admin token may write definitions.
    taskdef = [{"name": "auth_flow_task", "ownerEmail": "a@example.com", "retryCount": 0}]
    response = client.post(
        "/api/metadata/taskdefs", data=json.dumps(taskdef), content_type=JSON, headers={"X-Authorization": token}
    )
    assert response.status_code == 200, response.content

    new.key.refresh_from_db()
    assert new.key.last_used_time > 0


def test_token_endpoint_refuses_bad_credentials_without_a_refresh_code(client: Client) -> None:
    new = keys.create_key("creds", Role.WORKER)
    for key_id, secret in ((new.key.key_id, "wrong"), ("no-such-key", new.secret)):
        response = get_token(client, key_id, secret)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == 401 and body["retryable"] is False
        assert body["message"] == "Invalid keyId or keySecret"  # the same whichever part is wrong
        # INVALID_TOKEN/EXPIRED_TOKEN here would send the SDK into a refresh loop.
        assert body.get("error") not in (tokens.INVALID_TOKEN, tokens.EXPIRED_TOKEN)
    for body in ({}, {"keyId": new.key.key_id}, {"keyId": 1, "keySecret": 2}):
        assert client.post("/api/token", data=json.dumps(body), content_type=JSON).status_code == 400
    assert client.post("/api/token", data="{", content_type=JSON).status_code == 400


def test_expired_and_forged_tokens_are_refused_with_the_refresh_codes(client: Client) -> None:
    new = keys.create_key("expiry", Role.READ_ONLY)
    fp = keys.fingerprint(new.key.secret_hash)
    expired = tokens.issue(new.key.key_id, new.key.role, fp, now=baton_clock.now_seconds() - 7200)
    response = client.get("/api/metadata/taskdefs", headers={"X-Authorization": expired})
    assert response.status_code == 401
    assert response.json()["error"] == tokens.EXPIRED_TOKEN

    good = tokens.issue(new.key.key_id, new.key.role, fp)
    header, payload, signature = good.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for bad in (f"{header}.{forged_payload}.{signature}", "garbage", good + "x", ""):
        response = client.get("/api/metadata/taskdefs", headers={"X-Authorization": bad})
        assert response.status_code == 401, bad
        assert response.json()["error"] == tokens.INVALID_TOKEN

    # No header at all: INVALID_TOKEN too, so an SDK that failed to get its first token retries.
    response = client.get("/api/metadata/taskdefs")
    assert response.json()["error"] == tokens.INVALID_TOKEN


def test_a_short_ttl_token_expires(client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.BATON = {**settings.BATON, "AUTH_TOKEN_TTL_SECONDS": 1}
    # Stopped on a whole second, so the token's last valid millisecond is known exactly.
    clock = install_clock(monkeypatch, Clock(frozen_at=1_700_000_000_000))
    new = keys.create_key("ttl", Role.READ_ONLY)
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    clock.advance(0.999)
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    clock.advance(0.001)
    response = client.get("/api/metadata/taskdefs", headers={"X-Authorization": token})
    assert response.status_code == 401 and response.json()["error"] == tokens.EXPIRED_TOKEN


def test_revoked_or_deleted_key_is_refused(client: Client) -> None:
    new = keys.create_key("revoke", Role.WORKER)
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    new.key.active = False
    new.key.save()  # the signal clears this process's cache: no waiting for it to expire
    response = client.get("/api/metadata/taskdefs", headers={"X-Authorization": token})
    assert response.status_code == 401 and response.json()["error"] == tokens.INVALID_TOKEN
    assert get_token(client, new.key.key_id, new.secret).status_code == 401

    other = keys.create_key("delete", Role.WORKER)
    token = get_token(client, other.key.key_id, other.secret).json()["token"]
    other.key.delete()
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 401


def test_revocation_by_queryset_update_waits_for_the_cache(client: Client, settings: Any, clock: Clock) -> None:
    # update() sends no signal: another process's revocation looks like this one, and is seen
    # once the cache entry expires.
    settings.BATON = {**settings.BATON, "AUTH_KEY_CACHE_SECONDS": 60}
    new = keys.create_key("cached", Role.READ_ONLY)
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    ApplicationKey.objects.filter(pk=new.key.pk).update(active=False)
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    clock.advance(59)
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    clock.advance(1.5)
    response = client.get("/api/metadata/taskdefs", headers={"X-Authorization": token})
    assert response.status_code == 401 and response.json()["error"] == tokens.INVALID_TOKEN


def test_a_clock_set_back_does_not_keep_a_revoked_key_cached(client: Client, settings: Any, clock: Clock) -> None:
    settings.BATON = {**settings.BATON, "AUTH_KEY_CACHE_SECONDS": 60}
    new = keys.create_key("clock back", Role.READ_ONLY)
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 200
    ApplicationKey.objects.filter(pk=new.key.pk).update(active=False)
    clock.advance(-3600)  # an hour back: the cached entry now "expires" an hour after its period
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 401


def test_role_change_and_secret_rotation_invalidate_tokens(client: Client) -> None:
    new = keys.create_key("change", Role.OPERATOR)
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    new.key.role = Role.READ_ONLY
    new.key.save()
    response = client.get("/api/metadata/taskdefs", headers={"X-Authorization": token})
    assert response.status_code == 401 and response.json()["error"] == tokens.INVALID_TOKEN
    # A fresh token carries the new role.
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    assert client.post("/api/workflow", data="{}", content_type=JSON, headers={"X-Authorization": token}).status_code == 403

    secret = keys.rotate_secret(new.key)
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": token}).status_code == 401
    assert get_token(client, new.key.key_id, new.secret).status_code == 401
    assert get_token(client, new.key.key_id, secret).status_code == 200


def test_user_info(client: Client) -> None:
    new = keys.create_key("who", Role.WORKER)
    token = get_token(client, new.key.key_id, new.secret).json()["token"]
    body = client.get("/api/token/userInfo", headers={"X-Authorization": token}).json()
    assert body["id"] == new.key.key_id
    assert body["name"] == "who"
    assert body["roles"] == [{"name": "WORKER", "permissions": []}]
    assert body["applicationUser"] is True
    assert client.get("/api/token/userInfo").status_code == 401


# --- sessions (the browsable API, from the admin) ------------------------------------------------


def csrf_client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies["csrftoken"] = "A" * 32
    return client


def test_superuser_session_is_admin_and_needs_csrf_for_writes() -> None:
    user = User.objects.create_superuser("root", "", "pw")
    client = csrf_client(user)
    assert client.get("/api/metadata/taskdefs").status_code == 200
    body = json.dumps([{"name": "session_task", "ownerEmail": "a@example.com"}])
    response = client.post("/api/metadata/taskdefs", data=body, content_type=JSON)
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    response = client.post("/api/metadata/taskdefs", data=body, content_type=JSON, headers={"X-CSRFToken": "A" * 32})
    assert response.status_code == 200, response.content
    info = client.get("/api/token/userInfo").json()
    assert info["name"] == "root" and info["roles"][0]["name"] == "ADMIN" and info["applicationUser"] is False


def test_staff_session_roles_come_from_groups() -> None:
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client = csrf_client(staff)
    csrf = {"X-CSRFToken": "A" * 32}
    assert client.get("/api/metadata/taskdefs").status_code == 200  # staff: READ_ONLY
    assert client.post("/api/workflow", data="{}", content_type=JSON, headers=csrf).status_code == 403
    staff.groups.add(Group.objects.create(name="baton:OPERATOR"))
    # Past the role check: the empty start request is the view's 400.
    assert client.post("/api/workflow", data="{}", content_type=JSON, headers=csrf).status_code == 400
    assert client.post("/api/metadata/taskdefs", data="[]", content_type=JSON, headers=csrf).status_code == 403

    plain = User.objects.create_user("plain", password="pw")
    response = csrf_client(plain).get("/api/metadata/taskdefs")
    assert response.status_code == 403 and "no Baton role" in response.json()["message"]


def test_a_token_wins_over_a_session_and_skips_csrf() -> None:
    user = User.objects.create_superuser("root2", "", "pw")
    client = csrf_client(user)
    read_only = token_for(Role.READ_ONLY)
    # The token decides (READ_ONLY), not the superuser session; and no CSRF token is asked for.
    response = client.post("/api/metadata/taskdefs", data="[]", content_type=JSON, headers={"X-Authorization": read_only})
    assert response.status_code == 403 and "READ_ONLY" in response.json()["message"]
    admin_token = token_for(Role.ADMIN)
    response = client.post(
        "/api/metadata/taskdefs", data="[]", content_type=JSON, headers={"X-Authorization": admin_token}
    )
    assert response.status_code not in (401, 403)
    # A broken token is not rescued by the session.
    assert client.get("/api/metadata/taskdefs", headers={"X-Authorization": "nope"}).status_code == 401


def test_non_api_paths_are_untouched(client: Client) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/api/health").status_code == 200
    assert client.get("/admin/login/").status_code == 200


# --- admin, command, development key -------------------------------------------------------------


def test_admin_creates_a_key_and_shows_the_secret_once() -> None:
    user = User.objects.create_superuser("keyadmin", "", "pw")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/admin/orchestration/applicationkey/add/", {"name": "from admin", "role": "WORKER"}, follow=True
    )
    assert response.status_code == 200
    key = ApplicationKey.objects.get(name="from admin")
    shown = [str(m) for m in response.context["messages"]]
    match = re.search(r"keySecret: (\S+)", " ".join(shown))
    assert match, shown
    secret = match.group(1)
    assert key.secret_hash.startswith("sha256$") and secret not in key.secret_hash
    assert keys.verify_secret(secret, key.secret_hash)
    assert get_token(client, key.key_id, secret).status_code == 200
    # Shown once: the change page has neither the secret nor its hash.
    page = client.get(f"/admin/orchestration/applicationkey/{key.pk}/change/").content.decode()
    assert secret not in page and key.secret_hash not in page

    response = client.post(
        "/admin/orchestration/applicationkey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    key.refresh_from_db()
    assert key.active is False
    assert get_token(client, key.key_id, secret).status_code == 401


def test_only_superusers_manage_keys() -> None:
    staff = User.objects.create_user("staff2", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/orchestration/applicationkey/").status_code == 403


def test_create_app_key_command(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("create_app_key", "--name", "cmd", "--role", "OPERATOR", "--json")
    created = json.loads(capsys.readouterr().out)
    assert created["created"] is True and created["role"] == "OPERATOR"
    key = ApplicationKey.objects.get(key_id=created["keyId"])
    assert keys.verify_secret(created["keySecret"], key.secret_hash)
    call_command("create_app_key", "--name", "cmd", "--if-missing", "--json")
    again = json.loads(capsys.readouterr().out)
    assert again == {"keyId": created["keyId"], "role": "OPERATOR", "created": False}
    assert ApplicationKey.objects.filter(name="cmd").count() == 1


def test_dev_key_is_stable_private_and_never_revived(tmp_path: Path, client: Client) -> None:
    path = tmp_path / "state" / "dev-key.json"
    first = keys.ensure_dev_key(path)
    assert first.status == "created" and first.role == Role.ADMIN
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"keyId": first.key_id, "keySecret": first.secret}
    assert get_token(client, first.key_id, first.secret).status_code == 200

    second = keys.ensure_dev_key(path)
    assert (second.status, second.key_id, second.secret) == ("reused", first.key_id, first.secret)

    ApplicationKey.objects.all().delete()  # a fresh database: the same credentials come back
    third = keys.ensure_dev_key(path)
    assert (third.status, third.key_id, third.secret) == ("restored", first.key_id, first.secret)

    ApplicationKey.objects.filter(key_id=first.key_id).update(active=False)
    fourth = keys.ensure_dev_key(path)
    assert fourth.status == "created" and fourth.key_id != first.key_id
    assert not ApplicationKey.objects.get(key_id=first.key_id).active


# --- the official Python SDK against a live server -----------------------------------------------
# Skipped where conductor-python is not installed (it is not a dependency of Baton itself).


def sdk_api_client(base_url: str, key_id: str, secret: str) -> Any:
    from conductor.client.configuration.configuration import Configuration
    from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings
    from conductor.client.http.api_client import ApiClient

    auth = AuthenticationSettings(key_id=key_id, key_secret=secret)
    return ApiClient(Configuration(server_api_url=f"{base_url}/api", authentication_settings=auth))


@pytest.mark.django_db(transaction=True)
def test_sdk_gets_a_token_and_renews_it_when_it_expires(live_server: Any, settings: Any, clock: Clock) -> None:
    pytest.importorskip("conductor.client.http.api_client")
    from conductor.client.http.api.metadata_resource_api import MetadataResourceApi
    from conductor.client.http.models.task_def import TaskDef

    settings.BATON = {**settings.BATON, "AUTH_TOKEN_TTL_SECONDS": 2}
    new = keys.create_key("sdk admin", Role.ADMIN)
    client = sdk_api_client(live_server.url, new.key.key_id, new.secret)
    first = client.configuration.AUTH_TOKEN
    assert first, "the SDK did not get a token from POST /api/token"
    metadata = MetadataResourceApi(client)
    metadata.register_task_def([TaskDef(name="sdk_auth_task", owner_email="a@example.com", retry_count=0)])
    assert "sdk_auth_task" in [t.name for t in metadata.get_task_defs()]

    # The server-side TTL passes long before the SDK's own 45-minute one: the next call gets a
    # 401 EXPIRED_TOKEN, and the SDK fetches a new token and retries the call by itself. The
    # live server runs in this process, so it reads the clock the test moves.
    clock.advance(2)
    assert "sdk_auth_task" in [t.name for t in metadata.get_task_defs()]
    assert client.configuration.AUTH_TOKEN not in (None, first)


@pytest.mark.django_db(transaction=True)
def test_sdk_sees_403_for_a_missing_role_and_401_once_revoked(live_server: Any) -> None:
    pytest.importorskip("conductor.client.http.api_client")
    from conductor.client.http.api.metadata_resource_api import MetadataResourceApi
    from conductor.client.http.api.task_resource_api import TaskResourceApi
    from conductor.client.http.models.task_def import TaskDef
    from conductor.client.http.rest import AuthorizationException

    new = keys.create_key("sdk worker", Role.WORKER)
    client = sdk_api_client(live_server.url, new.key.key_id, new.secret)
    polled = TaskResourceApi(client).poll("sdk_nothing_queued")  # a worker may poll: 204, no task
    assert polled is None or polled.task_id is None
    token = client.configuration.AUTH_TOKEN
    with pytest.raises(AuthorizationException) as denied:
        MetadataResourceApi(client).register_task_def([TaskDef(name="nope", owner_email="a@example.com")])
    assert denied.value.status == 403
    assert not denied.value.token_expired and not denied.value.invalid_token
    assert token == client.configuration.AUTH_TOKEN  # a 403 did not make it fetch a new token

    new.key.active = False
    new.key.save()
    with pytest.raises(AuthorizationException) as revoked:
        TaskResourceApi(client).poll("sdk_nothing_queued")
    assert revoked.value.status == 401


@pytest.mark.django_db(transaction=True)
def test_sdk_runs_in_open_mode_when_auth_is_off(live_server: Any, settings: Any) -> None:
    pytest.importorskip("conductor.client.http.api_client")
    from conductor.client.http.api.metadata_resource_api import MetadataResourceApi

    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}
    client = sdk_api_client(live_server.url, "any-key", "any-secret")
    # POST /api/token answered 404, as Conductor OSS does: the SDK dropped its credentials.
    assert client.configuration.authentication_settings is None
    assert isinstance(MetadataResourceApi(client).get_task_defs(), list)
