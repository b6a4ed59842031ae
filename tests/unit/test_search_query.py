"""The search language (orchestration.search.query), its compilation to filters
(orchestration.search.fields) and the summary formats (orchestration.documents.summaries).
No database: filters are compared as Q objects, never run."""

from __future__ import annotations

import pytest
from django.db.models import F, Q, Value

from orchestration.documents.summaries import utc_string
from orchestration.search import fields
from orchestration.search.fields import TASK, WORKFLOW, Like, compile_query, compile_sort
from orchestration.search.query import (
    MAX_NESTING,
    MAX_VALUES,
    BoolExpr,
    Comparison,
    QueryError,
    SortKey,
    comparisons,
    like_pattern,
    parse_free_text,
    parse_query,
    parse_sort,
)


def one(text: str) -> Comparison:
    node = parse_query(text)
    assert isinstance(node, Comparison), node
    return node


def error(text: str) -> str:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    return caught.value.message


# --- operators -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "values"),
    [
        ("status = 'RUNNING'", "=", ("RUNNING",)),
        ("status='RUNNING'", "=", ("RUNNING",)),
        ("status != FAILED", "!=", ("FAILED",)),
        ("startTime > 1700000000000", ">", ("1700000000000",)),
        ("startTime<1700000000000", "<", ("1700000000000",)),
        ("startTime >= 5", ">=", ("5",)),
        ("startTime <= -5", "<=", ("-5",)),
        ("status IN (RUNNING, FAILED)", "IN", ("RUNNING", "FAILED")),
        ("status in ('RUNNING','FAILED')", "IN", ("RUNNING", "FAILED")),
        ("startTime BETWEEN 10 AND 20", "BETWEEN", ("10", "20")),
        ("correlationId IS NULL", "IS NULL", ()),
        ("correlationId is not null", "IS NOT NULL", ()),
        ("workflowType STARTS_WITH 'order'", "STARTS_WITH", ("order",)),
    ],
)
def test_each_operator(text: str, op: str, values: tuple[str, ...]) -> None:
    cond = one(text)
    assert (cond.op, cond.values) == (op, values)


def test_field_position_is_kept_for_messages() -> None:
    node = parse_query("status = X AND   version = 2")
    assert [c.position for c in comparisons(node)] == [0, 17]


# --- values and quoting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("workflowId='5c0e-11'", "5c0e-11"),
        ('workflowId="5c0e-11"', "5c0e-11"),  # the UI's form
        ("workflowId=5c0e-11", "5c0e-11"),  # bare, as Conductor's SQL backend reads it
        ("correlationId = 'with spaces AND keywords'", "with spaces AND keywords"),
        ("correlationId = 'it\\'s'", "it's"),
        ('correlationId = "say \\"hi\\""', 'say "hi"'),
        ("correlationId = ''", ""),
        ("correlationId = 'a,b (c)'", "a,b (c)"),
        ("correlationId = order-*", "order-*"),
        ("startTime > 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        ("reasonForIncompletion = wow!", "wow!"),
    ],
)
def test_quoted_and_bare_values(text: str, value: str) -> None:
    assert one(text).values == (value,)


def test_in_lists_unquoted_quoted_and_spaced() -> None:
    # Conductor's own e2e tests send unquoted names.
    assert one("workflowType IN (ABCDE)").values == ("ABCDE",)
    assert one("workflowType IN (a,b,c)").values == ("a", "b", "c")
    assert one("workflowType IN ( 'a b' , \"c\" ,d )").values == ("a b", "c", "d")


# --- boolean structure ---------------------------------------------------------------------------


def test_and_chain() -> None:
    node = parse_query("workflowType IN (w) AND status IN (RUNNING) AND startTime > 5")
    assert [c.field for c in comparisons(node)] == ["workflowType", "status", "startTime"]
    assert isinstance(node, BoolExpr) and node.op == "AND"


def test_mixed_and_or_groups_from_the_right_like_conductor() -> None:
    node = parse_query("a = 1 AND b = 2 OR c = 3")
    assert isinstance(node, BoolExpr) and node.op == "AND"
    assert isinstance(node.right, BoolExpr) and node.right.op == "OR"


def test_parentheses_override() -> None:
    node = parse_query("(a = 1 AND b = 2) OR c = 3")
    assert isinstance(node, BoolExpr) and node.op == "OR"
    assert isinstance(node.left, BoolExpr) and node.left.op == "AND"


def test_lowercase_keywords() -> None:
    node = parse_query("a = 1 and (b = 2 or c in (3))")
    assert [c.field for c in comparisons(node)] == ["a", "b", "c"]


def test_blank_query_is_no_condition() -> None:
    assert parse_query(None) is None
    assert parse_query("   ") is None


def test_long_chains_do_not_recurse() -> None:
    text = " AND ".join(f"version = {i}" for i in range(900))
    assert len(comparisons(parse_query(text))) == 900
    q, _ = compile_query(parse_query(text), WORKFLOW)  # compiling is iterative too
    assert isinstance(q, Q)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("status = 'RUNNING", "unterminated string"),
        ("status =", "expected a value after '='"),
        ("status RUNNING", "expected an operator"),
        ("status = RUNNING junk", "expected AND or OR"),
        ("status IN ()", "expected a value in the IN list"),
        ("status IN (a, b", "expected ',' or ')'"),
        ("status IN a", "expected '(' after IN"),
        ("(status = a", "expected ')'"),
        ("status = a)", "expected AND or OR"),
        ("= a", "expected a field name"),
        ("'status' = a", "expected a field name"),
        ("status = a AND", "expected a condition"),
        ("startTime BETWEEN 1 OR 2", "expected AND after the BETWEEN lower bound"),
        ("x IS 5", "expected NULL after IS"),
    ],
)
def test_malformed_queries_name_the_problem(text: str, fragment: str) -> None:
    message = error(text)
    assert message.startswith("Malformed query"), message
    assert fragment in message, message


def test_nesting_and_size_limits() -> None:
    assert "nested deeper" in error("(" * (MAX_NESTING + 2) + "a = 1" + ")" * (MAX_NESTING + 2))
    values = ",".join(str(i) for i in range(MAX_VALUES + 1))
    assert "more than" in error(f"version IN ({values})")


# --- sort ----------------------------------------------------------------------------------------


def test_sort_parsing() -> None:
    assert parse_sort(None) == []
    assert parse_sort("startTime:DESC") == [SortKey("startTime", True)]
    assert parse_sort("startTime") == [SortKey("startTime", False)]  # no order: ASC
    assert parse_sort("status:asc|startTime:desc") == [SortKey("status", False), SortKey("startTime", True)]
    # A repeated ``sort`` parameter reaches Spring as one comma-joined value.
    assert parse_sort("status,startTime:DESC") == [SortKey("status", False), SortKey("startTime", True)]
    assert parse_sort(" | startTime : DESC |") == [SortKey("startTime", True)]


@pytest.mark.parametrize("text", ["startTime:UP", "start time:ASC", ":DESC"])
def test_bad_sort(text: str) -> None:
    with pytest.raises(QueryError, match="sort"):
        parse_sort(text)


def test_unknown_sort_field() -> None:
    with pytest.raises(QueryError, match="Unknown workflow sort field 'nope'"):
        compile_sort(parse_sort("nope:ASC"), WORKFLOW)
    order, annotations = compile_sort(parse_sort("startTime:DESC|executionTime"), WORKFLOW)
    assert order == [F("create_time").desc(), F("_s_execution_time").asc()]
    assert set(annotations) == {"_s_execution_time"}


# --- free text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "  ", "*", "**", "'*'"])
def test_free_text_everything(text: str | None) -> None:
    assert parse_free_text(text) is None


def test_free_text_value() -> None:
    assert parse_free_text("  cust-42 ") == "cust-42"
    assert parse_free_text('"two words"') == "two words"
    with pytest.raises(QueryError):
        parse_free_text("x" * 1001)


def test_like_pattern_escapes_sql_wildcards() -> None:
    assert like_pattern("order-*", anchored=True) == "order-%"
    assert like_pattern("50%_off\\", anchored=True) == "50\\%\\_off\\\\"
    assert like_pattern("abc", anchored=False) == "%abc%"


# --- compiling -----------------------------------------------------------------------------------


def compiled(text: str, catalog: fields.Catalog = WORKFLOW) -> Q:
    return compile_query(parse_query(text), catalog)[0]


def test_fields_map_to_columns() -> None:
    assert compiled("workflowType = 'w'") == Q(name="w")
    assert compiled("workflowId = 'i'") == Q(id="i")
    assert compiled("startTime > 5") == Q(create_time__gt=5)
    assert compiled("status IN (RUNNING, FAILED)") == Q(status__in=["RUNNING", "FAILED"])
    assert compiled("version BETWEEN 1 AND 3") == Q(version__gte=1, version__lte=3)
    assert compiled("version = 1 AND priority = 2 OR version = 3") == Q(version=1) & (Q(priority=2) | Q(version=3))
    assert compiled("workflowType = w", TASK) == Q(workflow__name="w")
    assert compiled("taskType = t AND status = SCHEDULED", TASK) == Q(task_type="t") & Q(status="SCHEDULED")


def test_wildcards_become_like() -> None:
    assert compiled("correlationId = 'order-*'") == Q(Like(F("correlation_id"), Value("order-%")))
    assert compiled("correlationId != '*x'") == ~Q(Like(F("correlation_id"), Value("%x")))
    with pytest.raises(QueryError, match="wildcards only apply to text"):
        compiled("version = 1*")


def test_missing_parent_is_empty_or_null() -> None:
    # Conductor indexes "no parent" as "" (its topLevelOnly filter is parentWorkflowId="").
    assert compiled('parentWorkflowId=""') == Q(parent_workflow_id__isnull=True) | Q(parent_workflow_id="")


def test_is_null_per_kind() -> None:
    assert compiled("endTime IS NULL") == Q(end_time=0)  # unset times are 0
    assert compiled("correlationId IS NOT NULL") == ~Q(correlation_id__isnull=True)
    assert compiled("version IS NULL") == Q(pk__in=[])


def test_typed_values() -> None:
    assert compiled("startTime > 1970-01-01T00:00:01Z") == Q(create_time__gt=1000)
    assert compiled("startTime > 1970-01-01T00:00:01") == Q(create_time__gt=1000)  # naive: UTC
    with pytest.raises(QueryError, match="'soon' is neither epoch milliseconds nor an ISO-8601 time"):
        compiled("startTime > soon")
    with pytest.raises(QueryError, match="'two' is not an integer"):
        compiled("version = two")
    with pytest.raises(QueryError, match="'RUNNIN'"):
        compiled("status = RUNNIN")
    with pytest.raises(QueryError, match="'SCHEDULED'"):
        compiled("status = SCHEDULED")  # a task status, not a workflow one
    assert compiled("status = 'RUN*'") == Q(Like(F("status"), Value("RUN%")))


def test_unknown_field_is_named() -> None:
    with pytest.raises(QueryError, match="Unknown workflow query field 'workflowTyp'"):
        compiled("workflowTyp = x")
    with pytest.raises(QueryError, match="Unknown task query field 'version'"):
        compiled("version = 1", TASK)


def test_computed_fields_bring_their_annotation() -> None:
    q, annotations = compile_query(parse_query("executionTime > 100 AND idempotencyKey = k"), WORKFLOW)
    assert set(annotations) == {"_s_execution_time", "_s_idempotency_key"}
    assert q == Q(_s_execution_time__gt=100) & Q(_s_idempotency_key="k")


# --- summary formats -----------------------------------------------------------------------------


def test_utc_strings() -> None:
    assert utc_string(0) == "1970-01-01T00:00:00.000Z"
    assert utc_string(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert utc_string(1_700_000_000_005) == "2023-11-14T22:13:20.005Z"
