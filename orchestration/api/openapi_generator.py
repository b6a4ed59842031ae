"""drf-spectacular, fed from the registry in ``orchestration.api.openapi`` instead of decorators.

* ``api_routes`` walks the URL conf: every named API route, its OpenAPI path template(s) and
  the view serving each HTTP method (including ``by_method`` dispatchers, which send some
  methods to one view and the rest to another);
* ``BatonSchemaGenerator`` (SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]) enumerates those
  routes, first route wins for a (path, method), as Django resolves;
* ``BatonAutoSchema`` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) builds each operation from the
  route's registry entry, or a generic one when the route has none;
* ``postprocess`` (a POSTPROCESSING_HOOK) adds the models, the security scheme, tags and info.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from rest_framework.views import APIView

from orchestration.api import openapi as registry
from orchestration.api import openapi_models as m
from orchestration.api.openapi import JSON, TEXT, Op, Param, Reply, Route
from orchestration.selectors.server import server_version

SECURITY_SCHEME = "X-Authorization"
METHODS = ("get", "post", "put", "patch", "delete")
API_PREFIXES = ("api/", "api", "health")
# One path segment, as the routes match it: never empty, never a slash.
SEGMENT_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}


# --- the URL conf ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRoute:
    name: str
    regex: str
    templates: tuple[str, ...]  # OpenAPI paths; several when the regex has alternatives
    views: dict[str, Callable[..., Any]]  # lower-case method -> the APIView callback serving it


class RouteRegex(str):
    """The route's regex as drf-spectacular passes it along, carrying the route's name."""

    route_name: str


def api_routes(patterns: list[Any] | None = None) -> list[ApiRoute]:
    """Every named route under /api (and /health) whose views are DRF views, in URL conf order."""
    routes = []
    for regex, pattern in _walk(get_resolver().url_patterns if patterns is None else patterns, ""):
        if not pattern.name or not regex.startswith(API_PREFIXES):
            continue
        views = _method_views(pattern.callback)
        if views:
            routes.append(ApiRoute(pattern.name, regex, tuple(path_templates(regex)), views))
    return routes


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        regex = prefix + str(entry.pattern.regex.pattern).removeprefix("^")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, regex.removesuffix("$"))
        elif isinstance(entry, URLPattern):
            yield regex, entry


def _view_methods(callback: Any) -> dict[str, Callable[..., Any]]:
    cls = getattr(callback, "cls", None)
    if not (isinstance(cls, type) and issubclass(cls, APIView)):
        return {}
    return {method: callback for method in METHODS if hasattr(cls, method)}


def _method_views(callback: Any) -> dict[str, Callable[..., Any]]:
    """Method -> view. A ``by_method`` dispatcher (orchestration.api.urls_events) sends the
    methods it lists to their views and the others to a fallback view; when the fallback is
    called with extra path values it serves another route's operation, documented there. The
    dispatcher's ``views``/``otherwise``/``otherwise_kwargs`` are read from its attributes when
    it has them, else from its closure."""
    direct = _view_methods(callback)
    if direct:
        return direct
    names: dict[str, Any] = {k: getattr(callback, k) for k in ("views", "otherwise", "otherwise_kwargs") if hasattr(callback, k)}
    if "views" not in names:  # by_method keeps them in its closure
        try:
            names = dict(inspect.getclosurevars(inspect.unwrap(callback)).nonlocals)
        except TypeError:
            return {}
    views, otherwise = names.get("views"), names.get("otherwise")
    if not isinstance(views, dict):
        return {}
    out: dict[str, Callable[..., Any]] = {}
    for method, view in views.items():
        if method.lower() in METHODS:
            out.update({k: v for k, v in _view_methods(view).items() if k == method.lower()})
    if otherwise is not None and not names.get("otherwise_kwargs"):
        for method, view in _view_methods(otherwise).items():
            out.setdefault(method, view)
    return out


_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>")
_ALTERNATIVES = re.compile(r"\(\?:([\w|-]+)\)")


def path_templates(regex: str) -> list[str]:
    """OpenAPI path(s) of a route regex: named groups become {name}, ``(?:a|b)`` one path each."""
    body = regex.removeprefix("^").removesuffix("$").removesuffix("/?")
    out, pos = [], 0
    for match in _NAMED_GROUP.finditer(body):
        if match.start() < pos:
            raise ValueError(f"nested named groups in route {regex!r}")
        out.append(body[pos : match.start()])
        name = registry.PATH_NAMES.get(match.group(1), match.group(1))
        out.append("{" + name + "}")
        pos = _group_end(body, match.start())
    out.append(body[pos:])
    paths = ["/" + "".join(out)]
    while any(_ALTERNATIVES.search(p) for p in paths):
        expanded = []
        for p in paths:
            found = _ALTERNATIVES.search(p)
            if found is None:
                expanded.append(p)
                continue
            expanded += [p[: found.start()] + alt + p[found.end() :] for alt in found.group(1).split("|")]
        paths = expanded
    for p in paths:
        if re.search(r"[()\[\]*+?^$|\\]", p):
            raise ValueError(f"route {regex!r} has regex syntax the schema cannot show: {p!r}")
    return paths


def _group_end(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced group in {text!r}")


# --- drf-spectacular ---------------------------------------------------------------------------


class BatonEndpointEnumerator(EndpointEnumerator):
    def get_api_endpoints(self, patterns: Any = None, prefix: str = "") -> list[tuple[str, str, str, Any]]:
        endpoints: list[tuple[str, str, str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for route in api_routes(list(self.patterns) if self.patterns is not None else None):
            if route.name in registry.EXCLUDED:
                continue
            entry = registry.ROUTES.get(route.name)
            regex = RouteRegex(route.regex)
            regex.route_name = route.name
            for template in route.templates:
                for method, view in route.views.items():
                    if entry is not None and method in entry.shadowed:
                        continue
                    if (template, method) not in seen:  # an earlier route answers it
                        seen.add((template, method))
                        endpoints.append((template, regex, method.upper(), view))
        return endpoints


class BatonSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = BatonEndpointEnumerator


class BatonAutoSchema(AutoSchema):
    """Operations from the registry; no introspection of the (undecorated) views."""

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry_: Any
    ) -> dict[str, Any] | None:
        name = getattr(path_regex, "route_name", "")
        entry = registry.ROUTES.get(name)
        op = entry.ops.get(method.lower()) if entry is not None else None
        if entry is None or op is None:
            return generic_operation(name or path, path, method)
        return build_operation(entry, op, path)


def _parameter(param: Param, location: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": location, "schema": param.schema}
    if param.description:
        out["description"] = param.description
    if param.required or location == "path":
        out["required"] = True
    if param.schema.get("type") == "array":
        out.update(style="form", explode=True)
    return out


def _path_parameters(route: Route, path: str) -> list[dict[str, Any]]:
    params = []
    for name in re.findall(r"{(\w+)}", path):
        given = route.path.get(name, "")
        if isinstance(given, Param):
            schema = dict(given.schema)
            if schema.get("type") == "string" and "enum" not in schema:
                schema = {**SEGMENT_SCHEMA, **schema}
            params.append(_parameter(Param(name, schema, given.description), "path"))
        else:
            params.append(_parameter(Param(name, dict(SEGMENT_SCHEMA), given), "path"))
    return params


def _content(media: tuple[str, ...] | str, schema: dict[str, Any] | None) -> dict[str, Any]:
    medias = (media,) if isinstance(media, str) else media
    return {kind: {"schema": schema} for kind in medias} if schema is not None else {}


def _response(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    content = _content(reply.media, reply.schema)
    if content:
        out["content"] = content
    return out


def _typed(schema: dict[str, Any]) -> bool:
    """A parameter whose text must parse as something (number, boolean, enum name)."""
    return schema.get("type") in ("integer", "boolean", "number") or "enum" in schema


COMMON_DEVIATION = (
    "Malformed JSON, a value of the wrong JSON type, or a parameter that is not a valid "
    "number, boolean or enum name answers **400** naming the problem; Conductor answers 500."
)


def build_operation(route: Route, op: Op, path: str) -> dict[str, Any]:
    path_params = _path_parameters(route, path)
    parameters = path_params + [_parameter(p, "query") for p in op.query]
    responses: dict[str, Any] = {str(code): _response(reply) for code, reply in sorted(op.responses.items())}
    takes_input = bool(parameters) or op.body is not None
    if takes_input:
        responses.setdefault("400", _response(registry.error("Bad input: the message says what to fix")))
    if not op.public:
        responses.setdefault("401", _response(registry.error("No valid token (error: INVALID_TOKEN/EXPIRED_TOKEN)")))
        responses.setdefault("403", _response(registry.error("The token's role may not call this")))
    deviations = list(op.deviations)
    typed = any(_typed(p["schema"]) for p in parameters)
    if (op.body is not None and JSON in op.body.media) or typed:
        deviations.insert(0, COMMON_DEVIATION)
    description = op.description
    if deviations:
        notes = "\n".join(f"- {d}" for d in deviations)
        description = f"{description}\n\n**Differs from Conductor:**\n{notes}".strip()
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if description:
        operation["description"] = description
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.body.required,
            "content": _content(op.body.media, op.body.schema),
            **({"description": op.body.description} if op.body.description else {}),
        }
    if op.public:
        operation["security"] = []
    if op.deprecated:
        operation["deprecated"] = True
    return operation


def generic_operation(name: str, path: str, method: str) -> dict[str, Any]:
    """A route without a registry entry: valid, honest, and flagged as undocumented."""
    parameters = [_parameter(Param(n, dict(SEGMENT_SCHEMA)), "path") for n in re.findall(r"{(\w+)}", path)]
    operation: dict[str, Any] = {
        "operationId": re.sub(r"\W+", "_", f"{method.lower()}_{name}").strip("_"),
        "summary": f"{method.upper()} {path} (not yet described)",
        "description": f"Route '{name}' has no entry in orchestration.api.openapi.ROUTES yet.",
        "tags": ["undocumented"],
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {JSON: {"schema": {}}, TEXT: {"schema": m.string()}}},
            "default": {"description": "Any other answer (errors use ErrorResponse)"},
        },
    }
    if method.upper() in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {"required": False, "content": {JSON: {"schema": {}}}}
    return operation




def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: models, security, tags, info; operation ids made unique."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(m.COMPONENTS)
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "apiKey",
        "in": "header",
        "name": "X-Authorization",
        "description": "A token from POST /api/token (Authorization: Bearer <token> works too). "
        "Not needed when the server runs with BATON_AUTH_ENABLED=false.",
    }
    result["security"] = [{SECURITY_SCHEME: []}]
    used = {tag for item in result.get("paths", {}).values() for op in item.values() for tag in op.get("tags", ())}
    result["tags"] = [{"name": t, "description": d} for t, d in registry.TAGS.items() if t in used]
    result["info"]["version"] = server_version()
    seen: dict[str, int] = {}
    for item in result.get("paths", {}).values():
        for op in item.values():
            op_id = op["operationId"]
            count = seen.get(op_id, 0)
            seen[op_id] = count + 1
            if count:  # alias paths (two spellings of one route) share an entry
                op["operationId"] = f"{op_id}_{count}"
    return result
