"""The search language of Conductor's ``query``, ``sort`` and ``freeText`` parameters.

Conductor has two readings of ``query``. Its Elasticsearch backend parses a small grammar
(AND / OR, parentheses, ``=``, ``!=``, ``<``, ``>``, ``IN (...)``, ``BETWEEN a AND b``,
``IS NULL`` / ``IS NOT NULL``, ``STARTS_WITH``); its SQL backend splits the text on `` AND `` and
reads each part with a regular expression (``=``, ``<``, ``>``, ``IN``; quotes and parentheses
stripped from values, so unquoted values work). Clients use both styles::

    workflowType IN (order_flow,billing) AND status IN (RUNNING)     # Conductor's own tests
    workflowId="5c0e..."                                             # the UI
    correlationId='c-1' AND workflowType='order_flow'
    startTime>1700000000000 AND startTime<1700086400000

Baton accepts the union: the Elasticsearch grammar, with values quoted ('...' or "...",
backslash escapes) or bare (any run of characters up to a space, parenthesis, comma, quote or
operator), plus ``<=`` and ``>=`` (a Baton extension). Keywords are case-insensitive.

Grouping follows Conductor's Elasticsearch parser, which has no precedence: a chain of
conditions groups from the right, so ``a AND b OR c`` means ``a AND (b OR c)``. Use parentheses
when in doubt.

Where Conductor answers a malformed query with 500 (its parser exception is unmapped) or
silently drops what it cannot read (the SQL backend ignores unknown fields and sort keys),
Baton answers 400 with a message naming the problem: ``QueryError`` carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Operators after normalisation. ``=`` and ``!=`` with a ``*`` in the value become LIKE / NOT LIKE
# when compiled (fields.py); the parser keeps the value as written.
Operator = Literal["=", "!=", "<", ">", "<=", ">=", "IN", "BETWEEN", "IS NULL", "IS NOT NULL", "STARTS_WITH"]

# Guards against queries built to exhaust the server (the parser is iterative, but parentheses
# recurse; huge IN lists become huge SQL).
MAX_QUERY_LENGTH = 20_000
MAX_NESTING = 32
MAX_VALUES = 1_000
MAX_FREE_TEXT_LENGTH = 1_000


class QueryError(ValueError):
    """A query, sort or freeText that Baton cannot read; the API answers 400 with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Comparison:
    field: str
    op: Operator
    values: tuple[str, ...]  # empty for IS [NOT] NULL, two for BETWEEN, one or more for IN
    position: int  # offset of the field name in the query, for messages


@dataclass(frozen=True)
class BoolExpr:
    op: Literal["AND", "OR"]
    left: Node
    right: Node


Node = Comparison | BoolExpr


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: Literal["(", ")", ",", "op", "string", "word"]
    text: str
    position: int


_SYMBOL_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_WORD_STOP = set(" \t\r\n()'\",=<>")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(_Token(c, c, i))  # type: ignore[arg-type]
            i += 1
        elif c in "'\"":
            start, i, chars = i, i + 1, []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:  # backslash escapes the next character
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise QueryError(f"Malformed query: unterminated string starting at position {start}: {text[start:start + 40]}")
            tokens.append(_Token("string", "".join(chars), start))
            i += 1
        elif op := next((o for o in _SYMBOL_OPERATORS if text.startswith(o, i)), None):
            tokens.append(_Token("op", op, i))
            i += len(op)
        else:
            start = i
            # A bare word: '!' only ends it when it starts '!='.
            while i < n and text[i] not in _WORD_STOP and not text.startswith("!=", i):
                i += 1
            if i == start:  # a lone '!' or similar
                raise QueryError(f"Malformed query: unexpected character {text[i]!r} at position {i}")
            tokens.append(_Token("word", text[start:i], start))
    return tokens


# --- parser ------------------------------------------------------------------------------------


def _is_field_name(word: str) -> bool:
    return bool(word) and (word[0].isalpha() or word[0] == "_") and all(ch.isalnum() or ch == "_" for ch in word)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.values = 0

    # helpers
    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self, expected: str) -> _Token:
        token = self._peek()
        if token is None:
            raise QueryError(f"Malformed query: expected {expected} at the end of the query")
        self.pos += 1
        return token

    def _keyword(self, token: _Token | None, *words: str) -> str | None:
        if token is not None and token.kind == "word" and token.text.upper() in words:
            return token.text.upper()
        return None

    def _fail(self, token: _Token, expected: str) -> QueryError:
        return QueryError(f"Malformed query: expected {expected} at position {token.position}, found {token.text!r}")

    # grammar
    def parse(self) -> Node:
        node = self._expression(depth=0)
        token = self._peek()
        if token is not None:
            raise self._fail(token, "AND or OR")
        return node

    def _expression(self, depth: int) -> Node:
        if depth > MAX_NESTING:
            raise QueryError(f"Malformed query: parentheses nested deeper than {MAX_NESTING}")
        terms = [self._term(depth)]
        ops: list[Literal["AND", "OR"]] = []
        while (op := self._keyword(self._peek(), "AND", "OR")) is not None:
            self.pos += 1
            ops.append(op)  # type: ignore[arg-type]
            terms.append(self._term(depth))
        # Conductor's grammar is right-recursive without precedence: fold from the right.
        node = terms[-1]
        for op, term in zip(reversed(ops), reversed(terms[:-1]), strict=True):
            node = BoolExpr(op, term, node)
        return node

    def _term(self, depth: int) -> Node:
        token = self._next("a condition")
        if token.kind == "(":
            node = self._expression(depth + 1)
            close = self._next("')'")
            if close.kind != ")":
                raise self._fail(close, "')'")
            return node
        if token.kind != "word" or not _is_field_name(token.text):
            raise self._fail(token, "a field name")
        return self._comparison(token)

    def _value(self, what: str = "a value") -> str:
        token = self._next(what)
        if token.kind not in ("string", "word"):
            raise self._fail(token, what)
        self.values += 1
        if self.values > MAX_VALUES:
            raise QueryError(f"Query has more than {MAX_VALUES} values")
        return token.text

    def _comparison(self, name: _Token) -> Comparison:
        token = self._next(f"an operator after '{name.text}'")
        field, at = name.text, name.position
        if token.kind == "op":
            return Comparison(field, token.text, (self._value(f"a value after '{token.text}'"),), at)  # type: ignore[arg-type]
        keyword = self._keyword(token, "IN", "BETWEEN", "IS", "STARTS_WITH")
        if keyword == "IN":
            return Comparison(field, "IN", self._list(), at)
        if keyword == "BETWEEN":
            low = self._value("a value after BETWEEN")
            and_token = self._next("AND after the BETWEEN lower bound")
            if self._keyword(and_token, "AND") is None:
                raise self._fail(and_token, "AND after the BETWEEN lower bound")
            return Comparison(field, "BETWEEN", (low, self._value("the BETWEEN upper bound")), at)
        if keyword == "IS":
            negated = self._keyword(self._peek(), "NOT") is not None
            if negated:
                self.pos += 1
            null = self._next("NULL after IS")
            if self._keyword(null, "NULL") is None:
                raise self._fail(null, "NULL after IS" + (" NOT" if negated else ""))
            return Comparison(field, "IS NOT NULL" if negated else "IS NULL", (), at)
        if keyword == "STARTS_WITH":
            return Comparison(field, "STARTS_WITH", (self._value("a value after STARTS_WITH"),), at)
        raise self._fail(token, f"an operator (=, !=, <, >, <=, >=, IN, BETWEEN, IS, STARTS_WITH) after '{field}'")

    def _list(self) -> tuple[str, ...]:
        opening = self._next("'(' after IN")
        if opening.kind != "(":
            raise self._fail(opening, "'(' after IN")
        values = [self._value("a value in the IN list")]
        while True:
            token = self._next("',' or ')' in the IN list")
            if token.kind == ")":
                return tuple(values)
            if token.kind != ",":
                raise self._fail(token, "',' or ')' in the IN list")
            values.append(self._value("a value in the IN list"))


def parse_query(text: str | None) -> Node | None:
    """The condition tree of a ``query`` parameter; None when there is no condition."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"Query is longer than {MAX_QUERY_LENGTH} characters")
    return _Parser(text).parse()


def comparisons(node: Node | None) -> list[Comparison]:
    """Every condition of a tree, left to right."""
    out: list[Comparison] = []
    stack = [node] if node is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item, Comparison):
            out.append(item)
        else:
            stack.extend((item.right, item.left))
    return out


# --- sort --------------------------------------------------------------------------------------


def parse_sort(text: str | None) -> list[SortKey]:
    """``field[:ASC|DESC]`` keys joined with ``|`` (Conductor's separator) or ``,`` (what Spring
    makes of a repeated ``sort`` parameter). No order means ASC, as in Conductor."""
    keys: list[SortKey] = []
    if not text:
        return keys
    for raw in text.replace(",", "|").split("|"):
        item = raw.strip()
        if not item:
            continue
        name, sep, order = item.partition(":")
        name, order = name.strip(), order.strip().upper()
        if not _is_field_name(name):
            raise QueryError(f"Invalid sort '{item}': expected <field>:ASC or <field>:DESC")
        if sep and order not in ("ASC", "DESC"):
            raise QueryError(f"Invalid sort order in '{item}': use ASC or DESC")
        keys.append(SortKey(name, order == "DESC"))
    return keys


# --- free text ---------------------------------------------------------------------------------


def parse_free_text(text: str | None) -> str | None:
    """The text to look for, or None for "everything" (absent, blank or ``*``)."""
    if text is None:
        return None
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()  # a quoted phrase means the phrase
    if not text or set(text) == {"*"}:
        return None
    if len(text) > MAX_FREE_TEXT_LENGTH:
        raise QueryError(f"freeText is longer than {MAX_FREE_TEXT_LENGTH} characters")
    if "\x00" in text:
        raise QueryError("freeText must not contain the NUL character")
    return text


def like_pattern(value: str, *, anchored: bool) -> str:
    """A SQL LIKE pattern (backslash escape) where ``*`` is the wildcard and ``%``, ``_`` are
    literal. ``anchored=False`` matches anywhere in the text (free text)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
    return escaped if anchored else f"%{escaped}%"
