"""The syntax of the ``${...}`` expressions that task inputs and workflow outputs are written in.

Conductor resolves each ``${path}`` with Jayway JSONPath against a document
``{"workflow": {...}, "<taskRef>": {...}}``. This module has the part a definition can be
checked against without running anything: the expression scanner, Jayway's path grammar, and
compiled paths that read a document with Jayway's result shapes (definite paths give a value
or None, indefinite ones a list). Filters (``[?(...)]``) are the one piece delegated to
jsonpath-ng. Resolving expressions against a running workflow is ``engine.expressions``.

Pure Python: no Django, no ORM, no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Protocol

from orchestration.conductor.java_text import JsonSmartArray


class PathSource(Protocol):
    """A document that is built on demand, one root key at a time."""

    def root(self, name: str) -> Any:
        """The root entry ``name``, or ``MISSING``."""
        ...

    def document(self) -> Any:
        """The whole document (for paths that do not start with a root key)."""
        ...


MISSING: Any = object()  # "no such key", as opposed to a key holding null
_BRACES = re.compile(r"[{}]")


# -- scanning ----------------------------------------------------------------------------------


def expression_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level ``${...}``, as Conductor's balanced-brace regex finds them.

    A ``${`` preceded by ``$`` is an escape. Every ``{``/``}`` counts towards the balance, also
    inside quotes. Once a ``${`` never balances, Java's regex keeps stale captures from that
    failed attempt and finds nothing more in the string, so scanning stops there too.
    """
    spans: list[tuple[int, int]] = []
    i = text.find("${")
    while i != -1:
        if i and text[i - 1] == "$":
            i = text.find("${", i + 1)
            continue
        close = text.find("}", i + 2)
        if close == -1:
            break
        if text.find("{", i + 2, close) == -1:  # the usual case: no nested braces
            end = close + 1
        else:
            depth, end = 0, -1
            for match in _BRACES.finditer(text, i + 1):
                depth += 1 if match.group() == "{" else -1
                if depth == 0:
                    end = match.end()
                    break
            if end == -1:
                break
        spans.append((i, end))
        i = text.find("${", end)
    return spans


def iter_expressions(value: Any) -> Iterator[str]:
    """Inner text of every top-level ``${...}`` in the strings of ``value`` (walked recursively)."""
    if isinstance(value, str):
        if "${" in value:
            for start, end in expression_spans(value):
                yield value[start + 2 : end - 1]
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_expressions(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_expressions(item)


# -- path grammar ------------------------------------------------------------------------------

# Segment kinds. A segment is a tuple whose first item is its kind.
_KEY, _KEYS, _IDX, _IDXS, _SLICE, _ALL, _SCAN, _FILTER, _FN = range(9)


def _aggregate(name: str) -> Callable[[Any], Any]:
    def apply(node: Any) -> Any:
        # Jayway aggregates only the numbers of an array, as doubles (booleans are not numbers),
        # and fails the whole read when there is nothing to aggregate.
        nums = [float(x) for x in node if isinstance(x, int | float) and not isinstance(x, bool)]
        if not nums:
            raise ValueError(f"{name}() of no numbers")
        total = math.fsum(nums)
        avg = total / len(nums)
        if name == "stddev":  # population deviation, as Jayway computes it
            return math.sqrt(max(0.0, math.fsum(x * x for x in nums) / len(nums) - avg * avg))
        return {"sum": total, "min": min(nums), "max": max(nums), "avg": avg}[name]

    return apply


def _length(node: Any) -> Any:
    return len(node) if isinstance(node, list | Mapping) else None


# Functions raise (TypeError, IndexError, ValueError) where Jayway throws: the read gives null.
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "length": _length,
    "size": _length,
    "keys": lambda n: list(n.keys()) if isinstance(n, Mapping) else None,
    "first": lambda n: n[0] if isinstance(n, list) else n[None],
    "last": lambda n: n[-1] if isinstance(n, list) else n[None],
    **{name: _aggregate(name) for name in ("sum", "min", "max", "avg", "stddev")},
}

_QUOTED = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
_SEGMENT = re.compile(
    rf"""(?P<dots>\.\.?)(?:(?P<name>[^.\[( ]+)(?P<call>\(\s*\))?)?
    | \[\s*(?: (?P<star>\*) | (?P<quoted>(?:{_QUOTED})(?:\s*,\s*(?:{_QUOTED}))*)
             | (?P<slice>-?\d*:-?\d*) | (?P<index>-?\d+(?:\s*,\s*-?\d+)*) )\s*\]
    | (?P<filter>\[\s*\?\()""",
    re.X,
)


def _parse(path: str) -> list[tuple[Any, ...]]:
    text = path.rstrip()
    if not text:
        raise ValueError("empty path")
    # Conductor hands Jayway the path with "$." prepended unless it starts at a root. Jayway
    # trims trailing blanks only: a leading blank ends up after the dot, which is invalid.
    if text[0] not in "$@":
        text = "$." + text
    segs: list[tuple[Any, ...]] = []
    i, scan = 1, False
    while i < len(text):
        m = _SEGMENT.match(text, i)
        if m is None:
            raise ValueError(f"unexpected {text[i:]!r} (use ['...'] for names with blanks)")
        i = m.end()
        if m["dots"]:
            scan = m["dots"] == ".."
            name = m["name"]
            if name is None:  # ".[...]" / "..[...]": the bracket comes next
                if not text.startswith("[", i):
                    raise ValueError("a path must not end with '.' or '..'")
                continue
            if m["call"]:
                if name not in _FUNCTIONS or scan or i < len(text):
                    raise ValueError(f"unsupported function call {name}(): only a known function ends a path")
                seg: tuple[Any, ...] = (_FN, _FUNCTIONS[name])
            else:
                seg = (_ALL,) if name == "*" else (_KEY, name)
        elif m["star"]:
            seg = (_ALL,)
        elif m["quoted"]:
            names = [re.sub(r"\\(.)", r"\1", q[1:-1]) for q in re.findall(_QUOTED, m["quoted"])]
            seg = (_KEY, names[0]) if len(names) == 1 else (_KEYS, tuple(names))
        elif m["slice"]:
            start, stop = (int(p) if p else None for p in m["slice"].split(":"))
            seg = (_SLICE, start, stop)
        elif m["index"]:
            idx = [int(p) for p in m["index"].split(",")]
            seg = (_IDX, idx[0]) if len(idx) == 1 else (_IDXS, tuple(idx))
        else:
            expr, i = _filter_body(text, i)
            seg = (_FILTER, _compile_filter(expr))
        segs.append((_SCAN, seg) if scan else seg)
        scan = False
    return segs


def _filter_body(text: str, start: int) -> tuple[str, int]:
    """The text of a "[?(...)]" filter opened just before ``start``, and the index after "]"."""
    depth, quote = 1, ""
    for k in range(start, len(text)):
        c = text[k]
        if quote:
            quote = "" if c == quote and text[k - 1] != "\\" else quote
        elif c in "'\"":
            quote = c
        elif c in "()":
            depth += 1 if c == "(" else -1
            if depth == 0:
                close = re.compile(r"\s*\]").match(text, k + 1)
                if close is None:
                    break
                return text[start:k], close.end()
    raise ValueError("unclosed filter [?(...)]")


_FILTER_TOKENS = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|/((?:[^/\\]|\\.)*)/([a-z]*)|&&|\|\|""")


def _compile_filter(expr: str) -> Any:
    # Jayway writes "&&" and /regex/flags (a full match); jsonpath-ng wants "&" and a quoted
    # pattern that it searches with. Anything jsonpath-ng cannot parse (||, in, nin, size, ...)
    # makes the path uncompilable. Imported here: only filters need it, and compiled paths
    # are cached, so its slow parser runs once per distinct filter.
    from jsonpath_ng.ext import parse as jsonpath_parse

    def rewrite(m: re.Match[str]) -> str:
        token = m.group()
        if token == "||":
            raise ValueError("'||' is not supported in filters")
        if m.group(1) is not None:
            return json.dumps(("(?i)" if "i" in m.group(2) else "") + f"^(?:{m.group(1)})$")
        return "&" if token == "&&" else token

    translated = _FILTER_TOKENS.sub(rewrite, expr)
    try:
        return jsonpath_parse(f"$[?({translated})]")
    except Exception as exc:  # jsonpath-ng raises assorted parser errors
        raise ValueError(f"unsupported filter [?({expr})]: {exc}") from exc


class CompiledPath:
    """A compiled path; call it (or ``.find``) on a document. Missing → None (definite paths)
    or [] (indefinite paths: wildcards, ``..``, filters, slices, several indexes)."""

    __slots__ = ("text", "definite", "head", "_segs", "_steps", "_tail", "_leaf", "_fn")

    def __init__(self, text: str, segs: list[tuple[Any, ...]]) -> None:
        self.text = text
        self._fn = segs.pop()[1] if segs and segs[-1][0] == _FN else None
        # Several quoted names merge into one map only as the last segment, as Jayway does.
        self._leaf = segs.pop()[1] if self._fn is None and segs and segs[-1][0] == _KEYS else None
        self.definite = all(seg[0] in (_KEY, _IDX) for seg in segs)
        if not self.definite:  # put back a leaf multi-property: it merges per node
            segs += [(_KEYS, self._leaf)] if self._leaf else []
            self._leaf = None
        self._segs = tuple(segs)
        self._steps = tuple(seg[1] for seg in segs) if self.definite else ()
        self._tail = self._steps[1:]
        # The first key selects "workflow" or a task: the lazy context builds only that part.
        self.head: str | None = segs[0][1] if segs and segs[0][0] == _KEY else None

    def __repr__(self) -> str:
        return f"CompiledPath({self.text!r})"

    def find(self, doc: Any) -> Any:
        try:
            found = self._eval(doc, 0)
        except (TypeError, IndexError, ValueError):
            return None
        return list(found) if type(found) is JsonSmartArray else found

    __call__ = find

    def find_in(self, source: PathSource) -> Any:
        """Read the path from a document built lazily by ``source``: only the root key the path
        starts with is asked for. Unlike ``find``, errors propagate and arrays stay JsonArrays."""
        if self.head is None:
            return self._eval(source.document(), 0)
        root = source.root(self.head)
        if root is MISSING:
            return None if self.definite else JsonSmartArray()
        return self._eval(root, 1)

    def _eval(self, node: Any, start: int) -> Any:
        if self.definite:
            for step in self._tail if start else self._steps:
                if step.__class__ is str:
                    if type(node) is dict or isinstance(node, Mapping):
                        node = node.get(step, MISSING)
                        if node is MISSING:
                            return None
                    else:
                        return None
                elif isinstance(node, list | tuple) and -len(node) <= step < len(node):
                    node = node[step]
                else:
                    return None
            if self._leaf is not None:
                if not isinstance(node, Mapping):
                    return None
                node = {k: node[k] for k in self._leaf if k in node}
            return self._fn(node) if self._fn is not None else node
        nodes = [node]
        fn, last = self._fn, len(self._segs) - 1
        for i in range(start, last + 1):
            nodes = _apply(self._segs[i], nodes, i == last and fn is None)
        if fn is None:
            return JsonSmartArray(nodes)
        # Jayway rewrites "$..x.fn()" as fn($..x): one value. Elsewhere, fn applies to each match.
        return fn(nodes) if self._segs[0][0] == _SCAN else JsonSmartArray(map(fn, nodes))


def _apply(seg: tuple[Any, ...], nodes: list[Any], leaf: bool) -> list[Any]:
    kind, out = seg[0], []
    for node in nodes:
        if kind == _SCAN:
            _scan(node, seg[1], leaf, out)
        elif isinstance(node, Mapping):
            if kind == _KEY:
                if seg[1] in node:
                    out.append(node[seg[1]])
            elif kind == _KEYS:  # a leaf multi-property merges into one map per node
                picked = [(k, node[k]) for k in seg[1] if k in node]
                out.extend([dict(picked)] if leaf else [v for _, v in picked])
            elif kind == _ALL:
                out.extend(node.values())
            elif kind == _FILTER and _matches(seg[1], [node]):
                out.append(node)
        elif isinstance(node, list | tuple):
            if kind == _IDX:
                if -len(node) <= seg[1] < len(node):
                    out.append(node[seg[1]])
            elif kind == _IDXS:
                out.extend(node[i] for i in seg[1] if -len(node) <= i < len(node))
            elif kind == _SLICE:
                out.extend(node[seg[1] : seg[2]])
            elif kind == _ALL:
                out.extend(node)
            elif kind == _FILTER:
                out.extend(_matches(seg[1], node))
    return out


def _scan(node: Any, seg: tuple[Any, ...], leaf: bool, out: list[Any]) -> None:
    # Jayway's deep scan is pre-order: the segment is applied to a node before its children.
    kind = seg[0]
    if kind == _FILTER:  # tests each visited object itself; list items are visited as nodes
        if isinstance(node, Mapping) and _matches(seg[1], [node]):
            out.append(node)
    elif kind != _KEYS or (isinstance(node, Mapping) and all(k in node for k in seg[1])):
        out.extend(_apply(seg, [node], leaf))
    children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list | tuple) else ()
    for child in children:
        if isinstance(child, Mapping | list | tuple):
            _scan(child, seg, leaf, out)


def _matches(jsonpath: Any, items: Any) -> list[Any]:
    try:
        return [m.value for m in jsonpath.find(list(items))]
    except Exception:  # a failing comparison filters the item out, as in Jayway
        return []


@lru_cache(maxsize=4096)
def compiled_or_error(path: str) -> CompiledPath | str:
    # Errors are cached as their message so that a bad path in a hot loop is parsed only once.
    try:
        return CompiledPath(path, _parse(path))
    except ValueError as exc:
        return str(exc)


def compile_path(path: str) -> CompiledPath:
    """Compile a Jayway-style JSONPath (leading ``$.`` implied); ValueError if not compilable."""
    compiled = compiled_or_error(path)
    if isinstance(compiled, str):
        raise ValueError(f"invalid expression path {path!r}: {compiled}")
    return compiled
