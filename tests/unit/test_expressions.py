"""The ${...} expression language, checked against Conductor's behaviour.

Expected values come from Conductor's ParametersUtilsTest and from Jayway JSONPath as
Conductor configures it (SUPPRESS_EXCEPTIONS, maps rendered with Java toString).
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import pytest

from orchestration.definitions.expressions import compile_path, iter_expressions
from orchestration.definitions.model import WorkflowDefinition
from orchestration.engine.expressions import ExpressionContext, resolve, resolve_input
from orchestration.engine.state import TaskState, WorkflowState

# -- documents ---------------------------------------------------------------------------------

# ParametersUtilsTest's documents, merged (their keys do not collide).
PU_DOC: dict[str, Any] = {
    "name": "conductor",
    "version": 2,
    "externalId": '{"taskRefName":"t001","workflowId":"w002"}',
    "index": 1,
    "mapValue": "a",
    "recordIds": [1, 2, 3],
    "map": {"a": [1, 2, 3], "b": [2, 4, 5], "c": [3, 7, 8]},
    "someString": "conductor",
    "someNumber": 2,
}

DOC: dict[str, Any] = {
    "a": 1,
    "f": 2.0,
    "big": 1e20,
    "tiny": 1e-5,
    "s": "x/y",
    "n": None,
    "t": True,
    "no": False,
    "m": {"k": "v", "k2": [1, "two", None]},
    "l": [1, 2, {"x": 3}],
    "ll": [[1, 2], [3, 4]],
    "items": [{"x": 1, "name": "a"}, {"x": 2, "name": "b"}, {"x": 5, "name": "c"}],
    "out": {"x": 1, "items": [{"x": 1}, {"x": 3}], "sub": {"x": 2}},
    "key with space": "sp",
    "some-key": "dash",
    "e": [],
    "em": {},
}


def doc_ctx(doc: dict[str, Any] = DOC, task_id: str | None = None) -> ExpressionContext:
    return ExpressionContext.from_document(copy.deepcopy(doc), current_task_id=task_id)


# -- Conductor's own vectors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # ParametersUtilsTest's basic replacements (PU_DOC holds their inputs)
        ("${name}", "conductor"),
        ("${version}", 2),
        ("Name: ${name}; Version: ${version};", "Name: conductor; Version: 2;"),
        ("$${name}afterText", "${name}afterText"),
        ("${}", ""),
        ("${recordIds[${index}]}", 2),
        # ParametersUtilsTest.testReplace / testReplaceInputWithMapAndList
        ("${$.externalId}", '{"taskRefName":"t001","workflowId":"w002"}'),
        ("${    }", ""),
        # testNestedPathExpressions
        ("${map.${mapValue}[${index}]}", 2),
        ("${map.b[${map.${mapValue}[${index}]}]}", 5),
        # testReplaceWithLineTerminators
        ("Name: ${name};\nVersion: ${version};", "Name: conductor;\nVersion: 2;"),
        ("Name: ${name};\rVersion: ${version};", "Name: conductor;\rVersion: 2;"),
        ("Name: ${name};\r\nVersion: ${version};", "Name: conductor;\r\nVersion: 2;"),
        # testReplaceWithEscapedTags
        (
            "${$.someString} $${$.someNumber}${$.someNumber} ${$.someNumber}$${$.someString}",
            "conductor ${$.someNumber}2 2${$.someString}",
        ),
        ("$${$.someString}afterText", "${$.someString}afterText"),
        ("beforeText$${$.someString}", "beforeText${$.someString}"),
        ("$${$.someString} afterText", "${$.someString} afterText"),
        ("beforeText $${$.someString}", "beforeText ${$.someString}"),
        ("$${someString} ${someNumber}", "${someString} 2"),
        ("${someString} $${someNumber}", "conductor ${someNumber}"),
        # testReplaceWithMapExpand: a key that is not in the document
        ("${__json_externalId.taskRefName}", None),
    ],
)
def test_conductor_vectors(expression: str, expected: Any) -> None:
    result = resolve(expression, doc_ctx(PU_DOC))
    assert result == expected
    assert type(result) is type(expected)


def test_parameters_utils_map_and_list_and_no_mutation() -> None:
    params = {
        "k1": "${$.externalId}",
        "k2": "${name}",
        "k3": "${version}",
        "k4": "${}",
        "k5": "${    }",
        "map": {"name": "${name}", "version": "${version}", "c": "$${someString} ${someNumber}"},
        "list": ["${name}", "${version}", "${someString} $${someNumber}"],
    }
    before = copy.deepcopy(params)
    out = resolve_input(params, doc_ctx(PU_DOC))
    assert out == {
        "k1": '{"taskRefName":"t001","workflowId":"w002"}',
        "k2": "conductor",
        "k3": 2,
        "k4": "",
        "k5": "",
        "map": {"name": "conductor", "version": 2, "c": "${someString} 2"},
        "list": ["conductor", 2, "conductor ${someNumber}"],
    }
    assert params == before


def test_array_root_document() -> None:
    # testReplaceWithArrayExpand: the document itself may be a list.
    ctx = ExpressionContext.from_document([{"name": "conductor", "version": 2}])
    assert resolve_input({"k4": "${$[0].name}", "k5": "${$[0].version}", "k6": "${name}"}, ctx) == {
        "k4": "conductor",
        "k5": 2,
        "k6": None,
    }


# -- whole-expression values keep their JSON type ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${a}", 1),
        ("${f}", 2.0),
        ("${s}", "x/y"),
        ("${n}", None),
        ("${t}", True),
        ("${no}", False),
        ("${m}", {"k": "v", "k2": [1, "two", None]}),
        ("${l}", [1, 2, {"x": 3}]),
        ("${e}", []),
        ("${em}", {}),
        ("${a }", 1),  # Jayway trims trailing blanks
        ("${$}", DOC),
    ],
)
def test_whole_expression_keeps_type(expression: str, expected: Any) -> None:
    result = resolve(expression, doc_ctx())
    assert result == expected
    assert type(result) is type(expected)


# -- interpolation renders with Java toString --------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("v=${a}", "v=1"),
        ("v=${f}", "v=2.0"),
        ("v=${big} ${tiny}", "v=1.0E20 1.0E-5"),
        ("v=${n}", "v=null"),
        ("v=${missing}", "v=null"),
        ("v=${t}/${no}", "v=true/false"),
        ("v=${s}", "v=x/y"),
        ("v=${m}", "v={k=v, k2=[1, two, null]}"),
        ("v=${l}", "v=[1, 2, {x=3}]"),
        ("v=${e} ${em}", "v=[] {}"),
        ("${a}${a}", "11"),
        ("v=${['a','t']}", "v={a=1, t=true}"),
        # Indefinite paths give a json-smart array, whose toString is compact JSON with "\/".
        ("v=${items[*].name}", 'v=["a","b","c"]'),
        ("v=${items[?(@.x > 1)]}", 'v=[{"x":2,"name":"b"},{"x":5,"name":"c"}]'),
        ("v=${$..s}", 'v=["x\\/y"]'),
        ("v=${out..x}", "v=[1,1,3,2]"),
        ("v=${$..big}", "v=[1.0E20]"),
    ],
)
def test_interpolation_rendering(expression: str, expected: str) -> None:
    assert resolve(expression, doc_ctx()) == expected


# -- scanning: nesting, escapes, odd braces ----------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${${mapValue}}", None),  # inner gives "a", a top-level key that does not exist
        ("${map.${mapValue}}", [1, 2, 3]),
        ("x=${map.${mapValue}}", "x=[1, 2, 3]"),
        ("$$${name}", "$${name}"),
        ("$${name} ${name}", "${name} conductor"),
        ("x${}y", "xy"),
        ("${name}}", "conductor}"),
        ("{${name}}", "{conductor}"),
        ("${name}${", "conductor${"),
        ("${  ", "${  "),
        ("${{a}}", None),  # balanced braces: the path "{a}" reads nothing
        # Once a "${" never balances, Conductor's regex finds nothing after it.
        ("${a ${name}", "${a ${name}"),
        ("${name} ${a ${name}", "conductor ${a ${name}"),
        # "$${" is unescaped everywhere after interpolation, also inside substituted text.
        ("${esc} ok", "${x} ok"),
        ("${esc}", "$${x}"),
        ("no expressions $${here}", "no expressions ${here}"),
    ],
)
def test_scanning(expression: str, expected: Any) -> None:
    assert resolve(expression, doc_ctx({**PU_DOC, "esc": "$${x}"})) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", []),
        ("${a}", ["a"]),
        ("x ${a.b} y ${c[0]}", ["a.b", "c[0]"]),
        ("$${escaped} ${real}", ["real"]),
        ("${a.${b}}", ["a.${b}"]),
        ({"k": ["${x}", {"n": "${y}"}, 3], "j": None}, ["x", "y"]),
        (("${t}",), ["t"]),
        ("${unclosed ${z}", []),
    ],
)
def test_iter_expressions(value: Any, expected: list[str]) -> None:
    assert list(iter_expressions(value)) == expected


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # missing parts are None, never an error
        ("missing", None),
        ("missing.deeper", None),
        ("a.b", None),
        ("s[0]", None),
        ("m[0]", None),
        ("l.x", None),
        ("l[5]", None),
        ("l[-5]", None),
        # indexes and quoted names
        ("l[0]", 1),
        ("l[-1]", {"x": 3}),
        ("l[ 0 ]", 1),
        ("l[01]", 2),
        ("ll[1][0]", 3),
        ("l[2].x", 3),
        ("['key with space']", "sp"),
        ('["key with space"]', "sp"),
        ("m['k']", "v"),
        ("m.['k']", "v"),
        ("some-key", "dash"),
        ("$.a", 1),
        ("$['a']", 1),
        ("@.a", 1),
        # several quoted names merge into one map of those present
        ("['a','t']", {"a": 1, "t": True}),
        ("['a','zz']", {"a": 1}),
        # indefinite paths always give a list
        ("out..x", [1, 1, 3, 2]),
        ("$..nothing", []),
        ("items[*].name", ["a", "b", "c"]),
        ("items[*].missing", []),
        ("m.*", ["v", [1, "two", None]]),
        ("m[*]", ["v", [1, "two", None]]),
        ("l[*].x", [3]),
        ("ll[*][0]", [1, 3]),
        ("ll..[0]", [[1, 2], 1, 3]),
        ("l[0,1]", [1, 2]),
        ("l[0:2]", [1, 2]),
        ("l[:-1]", [1, 2]),
        ("l[-1:]", [{"x": 3}]),
        ("l[5:]", []),
        ("items[?(@.x > 1)].name", ["b", "c"]),
        ("items[?(@.x > 1 && @.x < 5)].name", ["b"]),
        ("items[?(@.name == 'a')].x", [1]),
        ('items[?(@.name == "c")].x', [5]),
        ("items[?(@.name =~ /B/i)].x", [2]),
        ("items[?(@.name =~ /b.*/)].x", [2]),
        ("items[?(@.missing)]", []),
        ("items[?(@.name > 1)]", []),
        ("missing[*]", []),
        ("items[0]['x','name']", {"x": 1, "name": "a"}),
        ("items[*]['x','name']", [{"x": 1, "name": "a"}, {"x": 2, "name": "b"}, {"x": 5, "name": "c"}]),
        # functions
        ("l.length()", 3),
        ("m.length()", 2),
        ("e.length()", 0),
        ("s.length()", None),
        ("l.size()", 3),
        ("l.sum()", 3.0),
        ("l.min()", 1.0),
        ("l.max()", 2.0),
        ("l.avg()", 1.5),
        ("l.stddev()", 0.5),
        ("items.max()", None),  # no numbers to aggregate
        ("m.keys()", ["k", "k2"]),
        ("l.first()", 1),
        ("l.last()", {"x": 3}),
        ("ll[*].sum()", [3.0, 7.0]),
        ("ll[*].length()", [2, 2]),
        ("missing.length()", None),
        # text Jayway cannot compile reads as null
        (" a", None),
        ("a.", None),
        ("a..", None),
        ("key with space", None),
        ("a(b", None),
        ("l[a]", None),
        ("l[+1]", None),
        ("l[::2]", None),
        ("l.nope()", None),
        ("items[?(@.x > 1)", None),
    ],
)
def test_paths(path: str, expected: Any) -> None:
    ctx = doc_ctx()
    result = resolve("${" + path + "}", ctx)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("path", ["a.b.c", "workflow.input['x y'][0]", "t1.output..x", "l[?(@.x > 1)]", "$"])
def test_compile_path_accepts(path: str) -> None:
    assert compile_path(path) is compile_path(path)  # cached


@pytest.mark.parametrize(
    "path",
    ["", "   ", " a", "a.", "a b", "a[", "a[x]", "a[1:2:3]", "a(", "a.len()", "a.length().b", "a[?(@.x > 1"],
)
def test_compile_path_rejects(path: str) -> None:
    with pytest.raises(ValueError, match="invalid expression path"):
        compile_path(path)


def test_compiled_path_on_plain_documents() -> None:
    doc = copy.deepcopy(DOC)
    assert compile_path("m.k2[1]")(doc) == "two"
    assert compile_path("m.k2[1]").find(doc) == "two"
    assert compile_path("m.nope").find(doc) is None
    found = compile_path("items[*].x").find(doc)
    assert found == [1, 2, 5]
    assert type(found) is list
    assert compile_path("items.max()").find(doc) is None  # a failing function reads as None


# -- the workflow document ---------------------------------------------------------------------


def workflow(
    tasks: list[TaskState] | None = None, definition: dict[str, Any] | None = None, **fields: Any
) -> WorkflowState:
    values: dict[str, Any] = {
        "workflow_id": "wf-1",
        "name": "orders",
        "version": 3,
        "status": "RUNNING",
        "definition": WorkflowDefinition.from_json(
            {"name": "orders", "version": 3, "tasks": [], **(definition or {})}
        ),
        "snapshot_key": "k",
        "input": {"x": 1, "nested": {"y": [10, 20]}},
        "output": {"done": False},
        "variables": {"counter": 7},
        "correlation_id": "corr-9",
        "parent_workflow_id": "parent-1",
        "parent_workflow_task_id": "ptask-1",
        "reason_for_incompletion": None,
        "create_time": 1234,
        "task_to_domain": {"*": "blue"},
        **fields,
    }
    return WorkflowState(**values, tasks=list(tasks or []))


def task(ref: str, seq: int, **fields: Any) -> TaskState:
    values: dict[str, Any] = {
        "task_id": f"id-{ref}-{seq}",
        "ref": ref,
        "task_type": "SIMPLE",
        "task_def_name": "work",
        "status": "COMPLETED",
        "seq": seq,
        **fields,
    }
    return TaskState(**values)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("workflow.input.x", 1),
        ("workflow.input.nested.y[1]", 20),
        ("workflow.output.done", False),
        ("workflow.status", "RUNNING"),
        ("workflow.workflowId", "wf-1"),
        ("workflow.parentWorkflowId", "parent-1"),
        ("workflow.parentWorkflowTaskId", "ptask-1"),
        ("workflow.workflowType", "orders"),
        ("workflow.version", 3),
        ("workflow.correlationId", "corr-9"),
        ("workflow.reasonForIncompletion", None),
        ("workflow.schemaVersion", 2),
        ("workflow.variables.counter", 7),
        # documented by Conductor, absent from what its code provides
        ("workflow.createTime", None),
        ("workflow.taskToDomain", None),
    ],
)
def test_workflow_fields(path: str, expected: Any) -> None:
    assert resolve("${" + path + "}", ExpressionContext(workflow())) == expected


def test_schema_version_from_definition() -> None:
    ctx = ExpressionContext(workflow(definition={"schemaVersion": 1}))
    assert resolve("${workflow.schemaVersion}", ctx) == 1


def test_task_fields() -> None:
    t = task(
        "fetch",
        1,
        input={"q": "a"},
        output={"rows": [1, 2]},
        task_def_name="",
        retry_count=2,
        poll_count=4,
        scheduled_time=10,
        start_time=11,
        end_time=12,
        reason_for_incompletion="boom",
        callback_after_seconds=30,
        worker_id="w-7",
    )
    doc = resolve("${fetch}", ExpressionContext(workflow([t])))
    assert doc == {
        "input": {"q": "a"},
        "output": {"rows": [1, 2]},
        "taskType": "SIMPLE",
        "status": "COMPLETED",
        "referenceTaskName": "fetch",
        "retryCount": 2,
        "correlationId": "corr-9",
        "pollCount": 4,
        "taskDefName": "SIMPLE",  # an empty taskDefName falls back to the task type
        "scheduledTime": 10,
        "startTime": 11,
        "endTime": 12,
        "workflowInstanceId": "wf-1",
        "taskId": "id-fetch-1",
        "reasonForIncompletion": "boom",
        "callbackAfterSeconds": 30,
        "workerId": "w-7",
        "iteration": 0,
    }


LOOP_TASKS = [
    task("loop", 1, task_type="DO_WHILE", status="IN_PROGRESS", iteration=2),
    task("body__1", 2, iteration=1, output={"n": 1}),
    task("body__2", 3, iteration=2, status="FAILED", output={"n": 2}),
    task("body__2", 4, iteration=2, retry_count=1, output={"n": 22}),  # retry of iteration 2
    task("plain__x", 5, output={"n": "not a loop suffix"}),
    task("nested__1__2", 6, iteration=2, output={"n": "nested"}),
    task("free__3", 7, output={"n": "iteration 0 keeps its ref"}),
]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${body.output.n}", 22),  # latest iteration, latest attempt
        ("${body.referenceTaskName}", "body__2"),
        ("${body.retryCount}", 1),
        ("${body.iteration}", 2),
        ("${body__2.output.n}", None),  # iterations are only visible under the bare ref
        ("${plain__x.output.n}", "not a loop suffix"),
        ("${nested.output.n}", "nested"),
        ("${free__3.output.n}", "iteration 0 keeps its ref"),
        ("${loop.status}", "IN_PROGRESS"),
        ("${nope.output.n}", None),
        ("${nope.output[*]}", []),
        ("${$..n}", [22, "not a loop suffix", "nested", "iteration 0 keeps its ref"]),
    ],
)
def test_task_lookup_and_loop_suffix(expression: str, expected: Any) -> None:
    assert resolve(expression, ExpressionContext(workflow(LOOP_TASKS))) == expected


def test_latest_attempt_wins_by_seq_not_list_order() -> None:
    tasks = [task("t", 5, output={"v": "new"}), task("t", 2, output={"v": "old"})]
    assert resolve("${t.output.v}", ExpressionContext(workflow(tasks))) == "new"


def test_context_is_lazy() -> None:
    ctx = ExpressionContext(workflow(LOOP_TASKS))
    assert resolve("${workflow.input.x}", ctx) == 1
    assert ctx._latest is None and ctx._task_docs == {}  # no task was looked at
    assert resolve("${body.output.n}", ctx) == 22
    assert set(ctx._task_docs) == {"body"}


@pytest.mark.parametrize(
    ("task_id", "expression", "expected"),
    [
        ("task-42", "${CPEWF_TASK_ID}", "task-42"),
        ("task-42", "id=${CPEWF_TASK_ID}", "id=task-42"),
        # Without a task id Conductor leaves the text as written.
        (None, "${CPEWF_TASK_ID}", "${CPEWF_TASK_ID}"),
        (None, "id=${CPEWF_TASK_ID}", "id=${CPEWF_TASK_ID}"),
        # Secrets stay literal until a task is handed to its executor.
        ("task-42", "${workflow.secrets.DB_PASSWORD}", "${workflow.secrets.DB_PASSWORD}"),
        ("task-42", "Bearer ${workflow.secrets.TOKEN}", "Bearer ${workflow.secrets.TOKEN}"),
    ],
)
def test_special_names(task_id: str | None, expression: str, expected: str) -> None:
    assert resolve(expression, ExpressionContext(workflow(), current_task_id=task_id)) == expected


# -- structure and (non-)mutation --------------------------------------------------------------


def test_resolve_walks_structures_and_never_mutates() -> None:
    params = {
        "a": "${workflow.input.x}",
        "b": ["${workflow.input.nested}", {"c": "${workflow.variables}"}, 3, None, True],
        "d": 4.5,
    }
    before = copy.deepcopy(params)
    out = resolve_input(params, ExpressionContext(workflow()))
    assert out == {"a": 1, "b": [{"y": [10, 20]}, {"c": {"counter": 7}}, 3, None, True], "d": 4.5}
    assert params == before
    assert out is not params and out["b"] is not params["b"]


def test_results_do_not_alias_workflow_state() -> None:
    wf = workflow()
    out = resolve_input(
        {"n": "${workflow.input.nested}", "all": "${workflow.input.nested..*}"}, ExpressionContext(wf)
    )
    out["n"]["y"].append(30)
    out["all"][0].append(40)
    assert wf.input == {"x": 1, "nested": {"y": [10, 20]}}


def test_frozen_inputs_become_plain_containers() -> None:
    params = MappingProxyType({"a": ("${workflow.input.x}", MappingProxyType({"b": "${workflow.version}"}))})
    assert resolve_input(params, ExpressionContext(workflow())) == {"a": [1, {"b": 3}]}


def test_resolve_input_of_nothing() -> None:
    assert resolve_input({}, ExpressionContext(workflow())) == {}
    assert resolve_input(None, ExpressionContext(workflow())) == {}  # type: ignore[arg-type]


def test_strings_without_expressions_are_returned_as_is() -> None:
    text = "no dollar here"
    assert resolve(text, ExpressionContext(workflow())) is text
