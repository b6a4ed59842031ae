"""How Conductor's Java code turns a JSON value into text.

Conductor holds JSON as the Map, List, String, Number and Boolean objects Jackson reads it into,
and wherever such a value lands inside a string it is printed with ``toString``: a value
interpolated into a longer text by ``${...}``, a search summary's input and output, the names
quoted in validation messages. Baton keeps JSON as Python values, so it prints them here the way
Java would: ``{a=1, b=[x, y]}``, ``true``, ``null``, ``1.0E10``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


class JsonSmartArray(list):  # type: ignore[type-arg]
    """A list Java holds as a json-smart ``JSONArray``, as Jayway JsonPath returns for an
    indefinite path (``$.items[*].id``). Its toString is compact JSON, ``["a","b"]``, and so is
    that of every value inside it, unlike a list read from the document, printed ``[a, b]``."""

    __slots__ = ()


def java_double(value: float) -> str:
    """Java's ``Double.toString``: plain decimal for magnitudes in [10^-3, 10^7), otherwise
    ``d.dddE<n>``; always a fractional digit (``1.0``, ``1.0E10``, ``1.0E-5``), and the
    shortest digits that read back as the same double, as Java prints them since JDK 19."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)  # Python's shortest repr is plain decimal with a fraction in this range
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    figures = "".join(map(str, digits)).rstrip("0")
    if len(figures) == 1:
        # Java never settles for one digit: among two-digit decimals that read back as this
        # double it takes the closest, which differs only for the tiniest subnormals
        # (5e-324 prints as 4.9E-324).
        two = f"{value:.1e}"
        if float(two) == value:
            sign, digits, exponent = Decimal(two).as_tuple()
            figures = "".join(map(str, digits)).rstrip("0") or "0"
    power = int(exponent) + len(digits) - 1
    return f"{'-' if sign else ''}{figures[0]}.{figures[1:] or '0'}E{power}"


def java_string(value: Any, *, json_style: bool = False) -> str:
    """A JSON value as Java's ``toString`` (``String.valueOf``) prints it: maps as
    ``{k=v, k2=v2}`` and lists as ``[a, b]`` at any depth, strings bare, booleans ``true`` and
    ``false``, a missing value ``null``, integers of any size in full and floats as
    ``Double.toString``. ``json_style`` (and any ``JsonSmartArray`` met on the way) switches to
    json-smart's compact JSON, in which strings are quoted and ``/`` is escaped."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("/", "\\/") if json_style else value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    json_style = json_style or type(value) is JsonSmartArray
    if isinstance(value, Mapping):
        if json_style:
            pairs = ",".join(
                f"{java_string(str(k), json_style=True)}:{java_string(v, json_style=True)}" for k, v in value.items()
            )
        else:
            pairs = ", ".join(f"{k}={java_string(v)}" for k, v in value.items())
        return "{" + pairs + "}"
    if isinstance(value, list | tuple):
        separator = "," if json_style else ", "
        return "[" + separator.join(java_string(v, json_style=json_style) for v in value) + "]"
    return str(value)
