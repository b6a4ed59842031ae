"""The OpenAPI document (/api/schema) and its page (/api/docs): generated from the URL conf and the
registry in ``orchestration.api.openapi`` without warnings, valid OpenAPI 3, complete (every API
route has a registry entry), and browsable without any network access."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from orchestration.api import openapi as registry
from orchestration.api import routing
from orchestration.api.openapi_generator import METHODS, BatonSchemaGenerator, api_routes, path_templates
from orchestration.api.renderers import ConductorView, empty

pytestmark = pytest.mark.django_db

API_PREFIXES = ("api/", "api", "health")


@pytest.fixture
def auth_off(settings: Any) -> None:
    settings.BATON = {**settings.BATON, "AUTH_ENABLED": False}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return BatonSchemaGenerator().get_schema(request=None, public=True)


def _named_api_patterns(patterns: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(name, regex) of every named URL pattern under /api and /health, whatever its view."""
    found = []
    for entry in patterns:
        regex = prefix + str(entry.pattern.regex.pattern).removeprefix("^")
        if isinstance(entry, URLResolver):
            found += _named_api_patterns(entry.url_patterns, regex.removesuffix("$"))
        elif isinstance(entry, URLPattern) and entry.name and regex.startswith(API_PREFIXES):
            found.append((entry.name, regex))
    return found


# --- generation --------------------------------------------------------------------------------


def test_schema_generates_without_warnings_and_is_valid(tmp_path: Path) -> None:
    # drf-spectacular's own check, as CI would run it: any warning or error fails.
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO(), stderr=StringIO())
    document = yaml.safe_load(out.read_text())
    validate(document)  # openapi-spec-validator: OpenAPI 3.0 structure, $refs, unique operation ids
    assert document["openapi"].startswith("3.")


def test_every_api_route_has_a_registry_entry() -> None:
    """A new route is documented generically until it gets an entry; this names the ones to add."""
    named = _named_api_patterns(get_resolver().url_patterns)
    missing = sorted({name for name, _ in named} - set(registry.ROUTES) - set(registry.EXCLUDED))
    assert not missing, (
        "API routes without an entry in orchestration.api.openapi.ROUTES (add one, or list the route "
        f"in EXCLUDED with the reason): {missing}"
    )


def test_registry_entries_match_the_views() -> None:
    """Each method a route's view serves is documented (or declared shadowed), and no entry documents
    a method or a route that does not exist."""
    problems = []
    routes = {route.name: route for route in api_routes()}
    for route in routes.values():
        entry = registry.ROUTES.get(route.name)
        if entry is None:
            continue  # reported by the test above
        served = set(route.views)
        for method in sorted(served - set(entry.ops) - entry.shadowed):
            problems.append(f"{route.name}: {method.upper()} is served but not documented")
        for method in sorted(set(entry.ops) - served):
            problems.append(f"{route.name}: {method.upper()} is documented but not served")
    named = {name for name, _ in _named_api_patterns(get_resolver().url_patterns)}
    problems += [f"{name}: entry for a route that does not exist" for name in sorted(set(registry.ROUTES) - named)]
    assert not problems, "\n".join(problems)


def test_every_route_method_is_an_operation(schema: dict[str, Any]) -> None:
    documented = {(path, method) for path, item in schema["paths"].items() for method in item}
    for route in api_routes():
        if route.name in registry.EXCLUDED:
            continue
        entry = registry.ROUTES.get(route.name)
        shadowed = entry.shadowed if entry is not None else frozenset()
        for template in route.templates:
            for method in set(route.views) - shadowed:
                assert (template, method) in documented, f"{method.upper()} {template} ({route.name}) missing"


def test_operations_follow_the_wire_rules(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op["tags"] != ["undocumented"], f"{where} has no registry entry"
            assert "400" in op["responses"] or not (op.get("parameters") or op.get("requestBody")), where
            if op.get("security") != []:
                assert {"401", "403"} <= set(op["responses"]), f"{where}: secured but 401/403 not documented"
            json_body = "application/json" in op.get("requestBody", {}).get("content", {})
            if json_body:
                # Conductor answers 500 for malformed JSON; the 400 is documented as a deviation.
                assert "Differs from Conductor" in op.get("description", ""), where


def test_security_scheme_and_public_operations(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["X-Authorization"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Authorization"}
    assert schema["security"] == [{"X-Authorization": []}]
    token = schema["paths"]["/api/token"]["post"]
    assert token["security"] == []
    assert token["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GenerateTokenRequest"}
    assert schema["paths"]["/health"]["get"]["security"] == []


def test_conductor_models_are_components(schema: dict[str, Any]) -> None:
    names = set(schema["components"]["schemas"])
    assert {
        "WorkflowDef", "WorkflowTask", "TaskDef", "StartWorkflowRequest", "Workflow", "Task", "TaskResult",
        "SearchResultWorkflowSummary", "WorkflowSummary", "TaskSummary", "BulkResponse", "ErrorResponse",
        "EventHandler", "PollData",
    } <= names
    # Every $ref points at a component that exists.
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(schema)))
    assert refs <= names, refs - names


def test_spring_style_routes_are_shown_as_conductor_shows_them(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    # Literal paths that Django routes to a view which hands other methods to the core route.
    assert set(paths["/api/metadata/workflow/validate"]) == {"post"}
    assert set(paths["/api/workflow/search"]) == {"get"}
    assert {"get", "post", "put"} <= set(paths["/api/metadata/workflow"])
    # Path variables in Conductor's spelling; both spellings of the storage location.
    assert "/api/tasks/{taskId}/log" in paths
    assert "/api/workflow/external-storage-location" in paths and "/api/workflow/externalstoragelocation" in paths
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


class _NewView(ConductorView):
    def get(self, request: Any, thing_id: str) -> Any:
        return empty()

    def post(self, request: Any, thing_id: str) -> Any:
        return empty()


def test_a_route_without_entry_is_documented_generically() -> None:
    """A route added without a registry entry never breaks the schema."""
    patterns = [routing.route(f"api/brand-new/(?P<thing_id>{routing.SEGMENT})", _NewView.as_view(), "brand-new-thing")]
    document = BatonSchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    validate(document)
    item = document["paths"]["/api/brand-new/{thing_id}"]
    assert set(item) == {"get", "post"}
    assert item["get"]["tags"] == ["undocumented"]
    assert item["get"]["parameters"][0]["name"] == "thing_id"


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        (r"^api/tasks/(?P<task_id>(?!poll/)[^/]+)/log/?$", ["/api/tasks/{taskId}/log"]),
        (r"^api/metadata/workflow/(?P<name>[^/]+)/(?P<version>[^/]+)/?$", ["/api/metadata/workflow/{name}/{version}"]),
        (
            r"^api/(?:workflow|tasks)/(?:a|b-c)/?$",
            ["/api/workflow/a", "/api/workflow/b-c", "/api/tasks/a", "/api/tasks/b-c"],
        ),
    ],
)
def test_path_templates(regex: str, expected: list[str]) -> None:
    assert sorted(path_templates(regex)) == sorted(expected)


def test_path_templates_refuse_what_they_cannot_show() -> None:
    with pytest.raises(ValueError, match="regex syntax"):
        path_templates(r"^api/x[0-9]+/?$")


def test_every_method_name_is_lower_case() -> None:
    assert all(method in METHODS for entry in registry.ROUTES.values() for method in entry.ops)


# --- serving -----------------------------------------------------------------------------------


def test_schema_endpoint_serves_json_and_yaml(client: Client, auth_off: None) -> None:
    response = client.get("/api/schema")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert document["info"]["title"] == "Baton"
    assert "/api/workflow" in document["paths"]
    as_yaml = client.get("/api/schema?format=yaml")
    assert as_yaml.status_code == 200
    assert yaml.safe_load(as_yaml.content)["paths"].keys() == document["paths"].keys()


def test_docs_page_renders_with_local_assets(client: Client, auth_off: None) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) >= 3, page  # stylesheet, bundle, preset (and the favicon)
    for url in assets:
        assert url.startswith("/api/docs/assets/"), f"asset not served locally: {url}"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content), url
    assert "/api/schema" in page  # the page loads this server's schema
    assert not re.search(r"https?://(?!localhost)", page.replace("http://www.w3.org", "")), "page loads remote resources"


def test_docs_assets_are_read_only_and_stay_in_their_folder(client: Client, auth_off: None) -> None:
    assert client.get("/api/docs/assets/../../../../settings.py").status_code == 404
    assert client.get("/api/docs/assets/nope.js").status_code == 404
    assert client.post("/api/docs/assets/swagger-ui-dist/swagger-ui.css").status_code == 405
