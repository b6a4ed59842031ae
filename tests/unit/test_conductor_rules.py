"""Conductor's small conventions, each written once in ``orchestration.conductor``: Java's
toString and Double.toString, JSON values against Java field types, loop iteration names,
queue names and a task's queue wait time."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest

import orchestration.conductor
from orchestration.conductor.java_text import JsonSmartArray, java_double, java_string
from orchestration.conductor.json_types import fits_java_type, java_type_error, json_kind
from orchestration.conductor.loop_refs import base_ref, loop_ref
from orchestration.conductor.queues import full_queue_name, queue_name, queue_wait_time

# -- the package stands alone ------------------------------------------------------------------


def test_the_rules_import_neither_django_nor_the_rest_of_orchestration() -> None:
    # Engine, definitions, services, API and workers all import these modules; an import of
    # Django or of another orchestration module here would bring a cycle or a settings need.
    package = Path(orchestration.conductor.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 5
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(("django", "orchestration", "rest_framework", "celery")), (module.name, name)


# -- Double.toString ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (0.1, "0.1"),
        (100.0, "100.0"),
        (123.45, "123.45"),
        (0.1 + 0.2, "0.30000000000000004"),
        # plain decimal from 10^-3 up to (not including) 10^7
        (0.001, "0.001"),
        (9.99e-4, "9.99E-4"),
        (9999999.0, "9999999.0"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (123456789.0, "1.23456789E8"),
        (1e10, "1.0E10"),
        (1e16, "1.0E16"),
        (1e21, "1.0E21"),
        (1e23, "1.0E23"),
        (2.0**63, "9.223372036854776E18"),
        (1.5e300, "1.5E300"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (1e-5, "1.0E-5"),
        (0.0001, "1.0E-4"),
        (-2.5e-10, "-2.5E-10"),
        (2.2250738585072014e-308, "2.2250738585072014E-308"),
        # Java prints at least two digits, the closest two-digit decimal for the tiniest doubles
        (5e-324, "4.9E-324"),
        (1e-323, "9.9E-324"),
        (1e-320, "1.0E-320"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text
    assert java_string(value) == text


def test_java_double_digits_read_back_as_the_same_double() -> None:
    for value in (1 / 3, 2 / 3 * 1e-7, 123456789.123, 6.02214076e23, 1.1e-5, -9.87654321e-300):
        text = java_double(value)
        assert float(text) == value, text
        assert ("E" in text) is not (1e-3 <= abs(value) < 1e7), text


# -- toString ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        ("plain text", "plain text"),
        ("", ""),
        ("naïve / ünïcode", "naïve / ünïcode"),
        (0, "0"),
        (-7, "-7"),
        (12345678901234567890, "12345678901234567890"),
        ({}, "{}"),
        ([], "[]"),
        ((1, 2), "[1, 2]"),
        ({"a": 1, "b": "x y", "c": None, "d": True}, "{a=1, b=x y, c=null, d=true}"),
        ({"n": {"m": [1, "two", {"k": False}]}}, "{n={m=[1, two, {k=false}]}}"),
        ([[1, 2], [], {"x": []}], "[[1, 2], [], {x=[]}]"),
        ({"f": 1.0, "g": 1e10, "h": 1e-5, "i": -0.0}, "{f=1.0, g=1.0E10, h=1.0E-5, i=-0.0}"),
        ([True, None, 1, 1.0], "[true, null, 1, 1.0]"),
    ],
)
def test_java_to_string(value: Any, text: str) -> None:
    assert java_string(value) == text


def test_a_bool_is_printed_as_a_boolean_never_as_a_number() -> None:
    assert java_string({"t": True, "one": 1}) == "{t=true, one=1}"


def test_json_smart_arrays_print_as_compact_json_all_the_way_down() -> None:
    found = JsonSmartArray(["a/b", 1, 1e10, None, True, {"k": [1, "x"]}])
    assert java_string(found) == '["a\\/b",1,1.0E10,null,true,{"k":[1,"x"]}]'
    # ...also inside an ordinary map, whose own rendering stays Java's
    assert java_string({"ids": JsonSmartArray(["é", 2]), "s": "a/b"}) == '{ids=["é",2], s=a/b}'
    assert java_string([1, "x"], json_style=True) == '[1,"x"]'
    assert java_string(JsonSmartArray()) == "[]"


# -- JSON values against Java field types ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "java_type", "fits"),
    [
        (3, "int", True),
        (3.0, "int", True),  # Jackson reads 3.0 into an int
        (3.5, "int", False),
        ("3", "int", False),
        (True, "int", False),  # a JSON boolean is never a number, though Python's bool is an int
        (False, "long", False),
        (2**31 - 1, "int", True),
        (2**31, "int", False),
        (-(2**31), "int", True),
        (-(2**31) - 1, "int", False),
        (2**31, "long", True),
        (2**63 - 1, "long", True),
        (2**63, "long", False),
        (-(2**63), "long", True),
        (1e300, "long", False),
        (math.nan, "int", False),
        (math.inf, "long", False),
        ("x", "str", True),
        (1, "str", False),
        (True, "bool", True),
        (1, "bool", False),
        ({}, "dict", True),
        ([], "dict", False),
        ([], "list", True),
        ({}, "list", False),
        ("RETRY", ("RETRY", "ALERT_ONLY"), True),
        ("retry", ("RETRY", "ALERT_ONLY"), False),
        (1, ("RETRY", "ALERT_ONLY"), False),
    ],
)
def test_fits_java_type(value: Any, java_type: Any, fits: bool) -> None:
    assert fits_java_type(value, java_type) is fits


@pytest.mark.parametrize(
    ("java_type", "message"),
    [
        ("str", "field must be a string"),
        ("int", "field must be an integer"),
        ("long", "field must be an integer"),
        ("bool", "field must be a boolean"),
        ("dict", "field must be an object"),
        ("list", "field must be a list"),
        (("FIXED", "LINEAR_BACKOFF"), "field must be one of FIXED, LINEAR_BACKOFF"),
    ],
)
def test_java_type_error(java_type: Any, message: str) -> None:
    assert java_type_error("field", java_type) == message


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "a boolean"),
        (False, "a boolean"),
        (0, "a number"),
        (1.5, "a number"),
        ("", "a string"),
        ([], "an array"),
        ({}, "an object"),
    ],
)
def test_json_kind(value: Any, kind: str) -> None:
    assert json_kind(value) == kind


# -- loop iterations ---------------------------------------------------------------------------


def test_loop_ref_suffixes_iterations_and_leaves_iteration_zero_alone() -> None:
    assert loop_ref("fetch", 0) == "fetch"
    assert loop_ref("fetch", 1) == "fetch__1"
    assert loop_ref("fetch", 12) == "fetch__12"
    assert loop_ref("fetch__rows", 2) == "fetch__rows__2"


@pytest.mark.parametrize(
    ("ref", "iteration", "base"),
    [
        ("fetch__3", 3, "fetch"),
        ("fetch", 1, "fetch"),
        ("nested__1__2", 2, "nested"),  # nested loops: every iteration suffix goes
        ("fetch__rows__2", 2, "fetch__rows"),  # a "__" of the node's own is kept
        ("fetch__rows", 1, "fetch__rows"),
        ("step__1", 0, "step__1"),  # outside loops a name is never cut
        ("fetch__3x", 3, "fetch__3x"),
    ],
)
def test_base_ref(ref: str, iteration: int, base: str) -> None:
    assert base_ref(ref, iteration) == base


def test_base_ref_undoes_loop_ref() -> None:
    for ref in ("a", "a_b", "fetch__rows", "x__y__z"):
        for iteration in (0, 1, 7, 120):
            assert base_ref(loop_ref(ref, iteration), iteration) == ref


# -- queues ------------------------------------------------------------------------------------


def test_queue_name() -> None:
    assert queue_name("encode") == "encode"
    assert queue_name("encode", None) == "encode"
    assert queue_name("encode", "") == "encode"  # an empty domain is no domain
    assert queue_name("encode", "video") == "video:encode"


def test_full_queue_name() -> None:
    assert full_queue_name("t") == "t"
    assert full_queue_name("t", "d", "iso", "ns") == "d:t@ns-iso"
    assert full_queue_name("t", None, "iso", None) == "t-iso"
    assert full_queue_name("t", None, None, "ns") == "t@ns"
    assert full_queue_name("t", "", "", "") == "t"


def _wait(**row: int) -> int:
    fields = {"start_time": 0, "scheduled_time": 0, "update_time": 0, "callback_after_seconds": 0, "now": 0}
    return queue_wait_time(**{**fields, **row})


def test_queue_wait_time_is_start_minus_scheduled() -> None:
    assert _wait(scheduled_time=1_000, start_time=4_500, now=99_000) == 3_500
    assert _wait(scheduled_time=1_000, start_time=1_000) == 0


def test_queue_wait_time_is_zero_until_scheduled_and_started() -> None:
    assert _wait(scheduled_time=1_000, start_time=0, now=50_000) == 0
    assert _wait(scheduled_time=0, start_time=2_000, now=50_000) == 0


def test_queue_wait_time_of_a_callback_counts_from_when_it_fell_due() -> None:
    # Updated at 10s asking to be called back 5s later: due at 15s.
    row = {"scheduled_time": 1_000, "start_time": 2_000, "update_time": 10_000, "callback_after_seconds": 5}
    assert _wait(**row, now=20_000) == 5_000
    assert _wait(**row, now=15_000) == 0
    assert _wait(**row, now=12_000) == 0  # not yet due: never negative
    # without an update time the callback is not counted
    assert _wait(**{**row, "update_time": 0}, now=20_000) == 1_000
