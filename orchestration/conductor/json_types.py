"""Which JSON value a Java field accepts, and how to say what a value is.

Conductor reads request bodies into Java beans with Jackson; a value of the wrong JSON type
there is a client's mistake. Baton checks the parsed JSON against the Java type of each field
it knows, named here by the Python spelling of its JSON counterpart:

- ``"str"``, ``"bool"``, ``"dict"`` (an object), ``"list"`` (an array);
- ``"int"`` and ``"long"``: Java's 32- and 64-bit integers. Jackson takes ``3.0`` for one, but
  not ``3.5``, ``"3"``, ``true`` or a number beyond the type's range; JSON's ``true`` is never a
  number, although Python's ``bool`` is an ``int``;
- a tuple of names: a Java enum, a string that is one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INT32_LIMIT = 2**31
INT64_LIMIT = 2**63

JavaType = str | tuple[str, ...]

_PLAIN_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "bool": bool, "dict": Mapping, "list": list}
_TYPE_TEXT = {
    "str": "a string", "int": "an integer", "long": "an integer", "bool": "a boolean",
    "dict": "an object", "list": "a list",
}  # fmt: skip


def fits_java_type(value: Any, java_type: JavaType) -> bool:
    """Whether Jackson would read the (non-null) JSON ``value`` into a field of ``java_type``."""
    if isinstance(java_type, tuple):
        return isinstance(value, str) and value in java_type
    if java_type in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and not value.is_integer():  # a fraction, NaN or infinity
            return False
        limit = INT32_LIMIT if java_type == "int" else INT64_LIMIT
        return -limit <= value < limit
    return isinstance(value, _PLAIN_TYPES[java_type])


def java_type_error(label: str, java_type: JavaType) -> str:
    """The message for a value that does not fit: ``retryCount must be an integer``, or
    ``timeoutPolicy must be one of RETRY, TIME_OUT_WF, ALERT_ONLY`` for an enum."""
    if isinstance(java_type, tuple):
        return f"{label} must be one of {', '.join(java_type)}"
    return f"{label} must be {_TYPE_TEXT[java_type]}"


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, for messages: ``null``, ``a boolean``, ``a number``,
    ``a string``, ``an array`` or ``an object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
