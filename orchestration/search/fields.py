"""What a search may name, and how a parsed query becomes a Django filter.

Field names are Conductor's (the camelCase of WorkflowSummary / TaskSummary); each maps to a
column or to an expression over columns. Unknown fields are a 400 here, where Conductor's SQL
backend silently ignores them (so a typo returned *everything*) and its Elasticsearch backend
fails with a 500.

Values are typed by field: integers for ``version``/``priority``; epoch milliseconds (or an
ISO-8601 instant) for times; a status must be one of the entity's statuses. A ``*`` in the value
of ``=`` / ``!=`` makes it a LIKE pattern (Conductor's rule), on text fields only.

On SQLite, LIKE ignores the case of ASCII letters; on PostgreSQL it does not (as in Conductor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from django.db.models import Case, Expression, F, Q, TextField, Value, When
from django.db.models.expressions import Combinable
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import Lookup

from orchestration.models import TaskStatus, WorkflowStatus
from orchestration.search.query import BoolExpr, Comparison, Node, QueryError, SortKey, like_pattern

Kind = Literal["text", "int", "time", "enum"]


@dataclass(frozen=True)
class FieldSpec:
    path: str  # ORM path, or the annotation name when ``expression`` is set
    kind: Kind = "text"
    choices: frozenset[str] = frozenset()  # for enums
    empty_is_null: bool = False  # Conductor indexes a missing parentWorkflowId as ""
    expression: Callable[[], Combinable] | None = None  # computed fields (annotated on use)


@dataclass(frozen=True)
class Catalog:
    entity: str  # "workflow" / "task", for messages
    fields: dict[str, FieldSpec]

    def get(self, name: str, what: str) -> FieldSpec:
        spec = self.fields.get(name)
        if spec is None:
            known = ", ".join(sorted(self.fields))
            raise QueryError(f"Unknown {self.entity} {what} field '{name}'. Supported fields: {known}")
        return spec


# --- LIKE --------------------------------------------------------------------------------------


class Like(Lookup):
    """``lhs LIKE pattern`` with a backslash escape, usable directly in ``filter()``."""

    lookup_name = "baton_like"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


class ILike(Like):
    """Case-insensitive LIKE: PostgreSQL's ILIKE (which a pg_trgm GIN index serves); SQLite's
    LIKE already ignores ASCII case."""

    lookup_name = "baton_ilike"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def json_text(column: str) -> Cast:
    """A JSON column as text. On PostgreSQL this is exactly ``(column)::text``, the expression
    the trigram indexes of migration 0003 are built on: keep the two in step."""
    return Cast(column, output_field=TextField())


# --- catalogs ----------------------------------------------------------------------------------


def _execution_time() -> Combinable:
    # Conductor's executionTime: end - start once ended, else 0.
    return Case(When(end_time__gt=0, then=F("end_time") - F("start_time")), default=Value(0))


def _workflow_execution_time() -> Combinable:
    return Case(When(end_time__gt=0, then=F("end_time") - F("create_time")), default=Value(0))


def _extra(key: str) -> Callable[[], Combinable]:
    return lambda: KeyTextTransform(key, "extra")


_WORKFLOW_STATUSES = frozenset(WorkflowStatus.values)
_TASK_STATUSES = frozenset(TaskStatus.values)

WORKFLOW = Catalog(
    "workflow",
    {
        "workflowType": FieldSpec("name"),
        "workflowId": FieldSpec("id"),
        "correlationId": FieldSpec("correlation_id"),
        "status": FieldSpec("status", "enum", _WORKFLOW_STATUSES),
        "version": FieldSpec("version", "int"),
        "startTime": FieldSpec("create_time", "time"),
        "createTime": FieldSpec("create_time", "time"),
        "updateTime": FieldSpec("update_time", "time"),
        "endTime": FieldSpec("end_time", "time"),
        "parentWorkflowId": FieldSpec("parent_workflow_id", empty_is_null=True),
        "parentWorkflowTaskId": FieldSpec("parent_workflow_task_id", empty_is_null=True),
        "priority": FieldSpec("priority", "int"),
        "reasonForIncompletion": FieldSpec("reason_for_incompletion"),
        "executionTime": FieldSpec("_s_execution_time", "int", expression=_workflow_execution_time),
        "idempotencyKey": FieldSpec("_s_idempotency_key", expression=_extra("idempotencyKey")),
        "event": FieldSpec("_s_event", expression=_extra("event")),
        "createdBy": FieldSpec("_s_created_by", expression=_extra("createdBy")),
    },
)

TASK = Catalog(
    "task",
    {
        "taskId": FieldSpec("id"),
        "taskType": FieldSpec("task_type"),
        "taskDefName": FieldSpec("task_def_name"),
        "referenceTaskName": FieldSpec("ref"),
        "status": FieldSpec("status", "enum", _TASK_STATUSES),
        "workflowId": FieldSpec("workflow_id"),
        "workflowType": FieldSpec("workflow__name"),
        "correlationId": FieldSpec("workflow__correlation_id"),
        "scheduledTime": FieldSpec("scheduled_time", "time"),
        "startTime": FieldSpec("start_time", "time"),
        "endTime": FieldSpec("end_time", "time"),
        "updateTime": FieldSpec("update_time", "time"),
        "workerId": FieldSpec("worker_id"),
        "domain": FieldSpec("domain"),
        "retryCount": FieldSpec("retry_count", "int"),
        "iteration": FieldSpec("iteration", "int"),
        "workflowPriority": FieldSpec("workflow_priority", "int"),
        "reasonForIncompletion": FieldSpec("reason_for_incompletion"),
        "executionTime": FieldSpec("_s_execution_time", "int", expression=_execution_time),
    },
)


# --- values ------------------------------------------------------------------------------------


def _to_int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise QueryError(f"Invalid value for '{name}': '{value}' is not an integer") from None


def _to_millis(name: str, value: str) -> int:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(
            f"Invalid value for '{name}': '{value}' is neither epoch milliseconds nor an ISO-8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _typed(name: str, spec: FieldSpec, value: str) -> Any:
    if spec.kind == "int":
        return _to_int(name, value)
    if spec.kind == "time":
        return _to_millis(name, value)
    if spec.kind == "enum" and value not in spec.choices:
        raise QueryError(f"Invalid value for '{name}': '{value}' (expected one of {', '.join(sorted(spec.choices))})")
    return value


# --- compiling ---------------------------------------------------------------------------------


class Compiled:
    """A filter and the annotations it needs (computed fields)."""

    def __init__(self) -> None:
        self.annotations: dict[str, Expression] = {}

    def path(self, spec: FieldSpec) -> str:
        if spec.expression is not None:
            self.annotations[spec.path] = spec.expression()  # type: ignore[assignment]
        return spec.path


def _nothing() -> Q:
    return Q(pk__in=[])


def _equals(name: str, spec: FieldSpec, path: str, value: str) -> Q:
    if "*" in value:
        if spec.kind in ("int", "time"):
            raise QueryError(f"Invalid value for '{name}': '*' wildcards only apply to text fields")
        return Q(Like(F(path), Value(like_pattern(value, anchored=True))))
    if spec.empty_is_null and value == "":
        return Q(**{f"{path}__isnull": True}) | Q(**{path: ""})
    return Q(**{path: _typed(name, spec, value)})


def _comparison(cond: Comparison, catalog: Catalog, out: Compiled) -> Q:
    spec = catalog.get(cond.field, "query")
    path = out.path(spec)
    name, op, values = cond.field, cond.op, cond.values
    if op == "=":
        return _equals(name, spec, path, values[0])
    if op == "!=":
        return ~_equals(name, spec, path, values[0])
    if op in ("<", ">", "<=", ">="):
        lookup = {"<": "lt", ">": "gt", "<=": "lte", ">=": "gte"}[op]
        return Q(**{f"{path}__{lookup}": _typed(name, spec, values[0])})
    if op == "IN":
        return Q(**{f"{path}__in": [_typed(name, spec, v) for v in values]})
    if op == "BETWEEN":  # inclusive, as Elasticsearch's range
        low, high = (_typed(name, spec, v) for v in values)
        return Q(**{f"{path}__gte": low, f"{path}__lte": high})
    if op == "STARTS_WITH":
        if spec.kind != "text":
            raise QueryError(f"STARTS_WITH only applies to text fields, not '{name}'")
        return Q(**{f"{path}__startswith": values[0]})
    # IS [NOT] NULL: what a summary leaves out. Times are 0 when unset; a summary omits them.
    if spec.kind == "time":
        missing = Q(**{path: 0})
    elif spec.kind == "text":
        missing = Q(**{f"{path}__isnull": True})
        if spec.empty_is_null:
            missing |= Q(**{path: ""})
    else:
        missing = _nothing()
    return missing if op == "IS NULL" else ~missing


def compile_query(node: Node | None, catalog: Catalog) -> tuple[Q, dict[str, Expression]]:
    """A parsed query as (filter, annotations the filter refers to)."""
    out = Compiled()
    if node is None:
        return Q(), out.annotations
    # Iterative post-order walk: chains of thousands of ANDs must not hit the recursion limit.
    results: dict[int, Q] = {}
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        item, ready = stack.pop()
        if isinstance(item, Comparison):
            results[id(item)] = _comparison(item, catalog, out)
        elif not ready:
            stack.extend(((item, True), (item.right, False), (item.left, False)))
        else:
            assert isinstance(item, BoolExpr)
            left, right = results.pop(id(item.left)), results.pop(id(item.right))
            results[id(item)] = (left & right) if item.op == "AND" else (left | right)
    return results[id(node)], out.annotations


def compile_sort(keys: list[SortKey], catalog: Catalog) -> tuple[list[Any], dict[str, Expression]]:
    """``order_by`` arguments for sort keys, and the annotations they need."""
    out = Compiled()
    order: list[Any] = []
    for key in keys:
        path = out.path(catalog.get(key.field, "sort"))
        order.append(F(path).desc() if key.descending else F(path).asc())
    return order, out.annotations


# --- free text ---------------------------------------------------------------------------------


# Statuses of executions still in flight. The trigram indexes of migration 0003 cover finished
# rows only (a partial index), so that the engine's frequent updates of in-flight rows never
# pay for re-indexing their input; in-flight rows are found through their status instead. The
# statements below must keep the same condition as the index predicates for PostgreSQL to use them.
WORKFLOW_IN_FLIGHT = ("RUNNING", "PAUSED")
TASK_IN_FLIGHT = ("SCHEDULED", "IN_PROGRESS")


def _input_contains(text: str, in_flight: tuple[str, ...]) -> Q:
    contains = Q(ILike(json_text("input"), Value(like_pattern(text, anchored=False))))
    # Split on the partial index's predicate: finished rows through the trigram index, in-flight
    # ones through a status index, each of those read and matched (a few µs per row: fine for
    # thousands in flight next to a history of millions, slower for a large backlog).
    return (~Q(status__in=in_flight) & contains) | (Q(status__in=in_flight) & contains)


def workflow_free_text(text: str) -> Q:
    """Workflows whose id, correlation id or name is ``text``, or whose input contains it
    (case-insensitively; ``*`` is a wildcard). Outputs are not searched: Conductor's index
    documents hold them, but indexing them would cost every completion a second GIN update.

    Each arm has its own index (primary key, correlation, name, the input trigram index on
    PostgreSQL, status), so the OR stays a bitmap OR of index scans, not a table scan.
    """
    return Q(id=text) | Q(correlation_id=text) | Q(name=text) | _input_contains(text, WORKFLOW_IN_FLIGHT)


def task_free_text(text: str) -> Q:
    """Tasks whose id or workflow id is ``text``, or whose input contains it."""
    return Q(id=text) | Q(workflow_id=text) | _input_contains(text, TASK_IN_FLIGHT)
