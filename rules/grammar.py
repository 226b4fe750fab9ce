"""Reading the condition syntax: ``condition.lark`` parsed with Lark, a Transformer to the tree.

:func:`parse_pattern` reads one pattern (``risk where cssrs_level == high``);
:func:`parse_condition` reads a rule's whole ``when`` mapping (``all``/``any`` of patterns,
each a string or a one-key ``{binding: string}`` mapping) and names the patterns. Errors are
:class:`~trd_cds.rules.conditions.ConditionSyntaxError` carrying the pattern's index and the
character offset in its text, which the loader turns into the file's line and column.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .conditions import (
    NEGATED,
    SYMBOL_OP,
    UNSAFE,
    And,
    Condition,
    ConditionSyntaxError,
    Expr,
    Leaf,
    Or,
    Pattern,
)

#: What each terminal of the grammar is called in an error message.
_TERMINALS = {
    "NAME": "a name",
    "WHERE": "'where'",
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "IS": "'is'",
    "MISSING": "'missing'",
    "PRESENT": "'present'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMP_OP": "a comparison (== != < <= > >=)",
    "SIGNED_NUMBER": "a number",
    "ESCAPED_STRING": 'a "quoted text"',
    "$END": "the end",
    "<END-OF-FILE>": "the end",
}
_CHARACTER_HINTS = {
    **dict.fromkeys("+-*/%", UNSAFE["$add"]),
    ".": "cross-pattern references (pattern.field) are not supported; compare with a literal",
    "=": "compare with == (one = is not an operator)",
    "&": "join tests with 'and'",
    "|": "join tests with 'or'",
    "!": "negate with 'not', or compare with !=",
    "'": 'write text values in double quotes ("...") or as a bare word',
}
#: Fields a rule cannot test: engine plumbing.
_RESERVED_FIELDS = {"id", "sid", "type"}
_NAME = re.compile(r"[a-z_][a-z0-9_]*", re.IGNORECASE)


@dataclass(frozen=True)
class _Group:
    """A parenthesised expression (kept apart so ``where (a and b)`` stays one group)."""

    expr: Expr


def _unwrap(node: Expr | _Group) -> Expr:
    return node.expr if isinstance(node, _Group) else node


def _negate(expr: Expr) -> Expr:
    """``not expr`` pushed down to the leaves (De Morgan; operators inverted)."""
    if isinstance(expr, And):
        return Or(tuple(_negate(item) for item in expr.items))
    if isinstance(expr, Or):
        return And(tuple(_negate(item) for item in expr.items))
    if expr.op in ("$eq", "$neq") and isinstance(expr.value, bool):
        flipped = expr.value if expr.op == "$neq" else not expr.value
        return replace(expr, op="$eq", value=flipped)
    return replace(expr, op=NEGATED[expr.op])


def _pos(token: Token) -> int:
    return token.start_pos or 0


def _field(token: Token) -> str:
    name = str(token)
    if name in _RESERVED_FIELDS:
        raise ConditionSyntaxError(f"{name!r} is not a field a rule can test", offset=_pos(token))
    return name


@v_args(inline=True)
class _ToTree(Transformer[Token, Any]):
    """Lark parse tree → (fact type token, shape, expression)."""

    def any_fact(self, fact_type: Token) -> tuple[Token, str, Expr | None]:
        return fact_type, "any", None

    def fact_where(
        self, fact_type: Token, _where: Token, expr: Expr | _Group
    ) -> tuple[Token, str, Expr | _Group]:
        return fact_type, "where", expr

    def named_fact(self, fact_type: Token, name: Token) -> tuple[Token, str, Expr]:
        return fact_type, "named", Leaf("name", "$eq", str(name), pos=_pos(name))

    def or_expr(self, *items: Any) -> Expr:
        return Or(tuple(_unwrap(i) for i in items if not isinstance(i, Token)))

    def and_expr(self, *items: Any) -> Expr:
        return And(tuple(_unwrap(i) for i in items if not isinstance(i, Token)))

    def negation(self, _not: Token, expr: Expr | _Group) -> Expr:
        return _negate(_unwrap(expr))

    def group(self, _lpar: Token, expr: Expr | _Group, _rpar: Token) -> _Group:
        return _Group(_unwrap(expr))

    def comparison(self, name: Token, op: Token, value: Any) -> Leaf:
        return Leaf(_field(name), SYMBOL_OP[str(op)], value, pos=_pos(name))

    def missing(self, name: Token, _is: Token, _missing: Token) -> Leaf:
        return Leaf(_field(name), "$nex", pos=_pos(name))

    def present(self, name: Token, _is: Token, _present: Token) -> Leaf:
        return Leaf(_field(name), "$ex", pos=_pos(name))

    def flag(self, name: Token) -> Leaf:
        return Leaf(_field(name), "$eq", True, pos=_pos(name))

    def number(self, token: Token) -> int | float:
        text = str(token)
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        value = float(text)
        if not math.isfinite(value):
            raise ConditionSyntaxError(
                "infinity cannot be asserted in durable_rules (error 202)", offset=_pos(token)
            )
        return value

    def text(self, token: Token) -> str:
        try:
            value: str = json.loads(str(token))
        except json.JSONDecodeError as exc:
            raise ConditionSyntaxError(
                f"bad text value {token!s}: {exc.msg}", offset=_pos(token)
            ) from exc
        return value

    def word(self, token: Token) -> bool | str:
        text = str(token)
        if text in ("true", "false"):
            return text == "true"
        return text


def _syntax_error(text: str, exc: UnexpectedInput) -> ConditionSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        offset = exc.pos_in_stream or 0
        char = text[offset] if 0 <= offset < len(text) else ""
        reason = _CHARACTER_HINTS.get(char, f"unexpected character {char!r}")
        return ConditionSyntaxError(reason, offset=offset)
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        token = exc.token
        expected = sorted({_TERMINALS.get(t, t) for t in exc.expected})
        if token.type == "COMP_OP" and _NAME.fullmatch(text[: _pos(token)].strip()):
            head = text[: _pos(token)].strip()
            return ConditionSyntaxError(
                f"start the pattern with its fact type, e.g. `<fact type> where {head} ...`",
                offset=0,
            )
        if token.type == "NAME" and str(token) in UNSAFE:
            return ConditionSyntaxError(UNSAFE[str(token)], offset=_pos(token))
        words = text[: _pos(token)].split()
        if len(words) == 2 and difflib.get_close_matches(words[1], ["where"], n=1):
            return ConditionSyntaxError(
                f"unexpected {str(token)!r} after `{' '.join(words)}`",
                offset=text.index(words[1], len(words[0])),
                hint="where",
            )
        return ConditionSyntaxError(
            f"unexpected {str(token)!r}; expected {', '.join(expected)}",
            offset=_pos(token),
        )
    expected_set = getattr(exc, "expected", None) or ()
    expected = sorted({_TERMINALS.get(t, t) for t in expected_set})
    more = f"; expected {', '.join(expected)}" if expected else ""
    return ConditionSyntaxError(f"the condition ends too early{more}", offset=len(text))


def _number_leaves(expr: Expr, fact_type: str, out: list[Leaf]) -> Expr:
    if isinstance(expr, Leaf):
        leaf = replace(expr, index=len(out), fact_type=fact_type)
        out.append(leaf)
        return leaf
    items = tuple(_number_leaves(item, fact_type, out) for item in expr.items)
    return And(items) if isinstance(expr, And) else Or(items)


def _pattern(fact_type_token: Token, body: Expr | _Group | None, name: str, bound: bool) -> Pattern:
    fact_type = str(fact_type_token)
    pin = Leaf("type", "$eq", fact_type, pos=_pos(fact_type_token))
    expr: Expr
    if body is None:
        expr = pin
    elif isinstance(body, And):  # `where a and b`: the pin joins the chain, as compiled
        expr = And((pin, *body.items))
    else:  # one test, an `or`, or a parenthesised group (kept as one item)
        expr = And((pin, _unwrap(body)))
    numbered: list[Leaf] = []
    expr = _number_leaves(expr, fact_type, numbered)
    return Pattern(name, fact_type, expr, tuple(numbered), bound)


@cache
def _parser() -> Lark:
    """The LALR parser, built once on first use (no work at import). LALR lets Lark call the
    Transformer while it parses: one pass from text to tree."""
    grammar = resources.files("trd_cds.rules").joinpath("condition.lark").read_text("utf-8")
    # cache=True: Lark keeps the analysed grammar in a temporary file keyed by the grammar's
    # hash and its own version, so a new process loads it instead of analysing it again
    return Lark(
        grammar,
        start="pattern",
        parser="lalr",
        maybe_placeholders=False,
        transformer=_ToTree(),
        cache=True,
    )


def parse_pattern(text: str, name: str = "", *, bound: bool = False) -> Pattern:
    """One pattern (``risk where cssrs_level == high``) as a :class:`Pattern` named ``name``."""
    try:
        parsed: Any = _parser().parse(text)  # the Transformer's result, not a Tree
        fact_type, _, body = parsed
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    return _pattern(fact_type, body, name, bound)


def pattern_items(when: Any) -> tuple[str, list[tuple[str | None, str]]]:
    """Check the YAML shape of ``when``; its mode and ``(binding or None, text)`` per pattern."""
    if not isinstance(when, Mapping) or len(when) != 1:
        raise ConditionSyntaxError("'when' must have exactly one key: 'all' or 'any'")
    ((mode, items),) = when.items()
    if mode in UNSAFE:
        raise ConditionSyntaxError(UNSAFE[mode], str(mode))
    if mode not in ("all", "any"):
        raise ConditionSyntaxError(f"unknown key {mode!r} (use 'all' or 'any')")
    if not isinstance(items, list) or not items:
        raise ConditionSyntaxError(f"'{mode}' takes a non-empty list of patterns")
    out: list[tuple[str | None, str]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append((None, item))
            continue
        if isinstance(item, Mapping) and len(item) == 1:
            ((name, text),) = item.items()
            if isinstance(text, str):
                out.append((str(name), text))
                continue
            if isinstance(text, Mapping):
                raise ConditionSyntaxError(
                    "this is a durable_rules JSON condition; rules are written in the readable "
                    "syntax now: convert the file with `python -m trd_cds.rules.convert FILE`",
                    pattern=i,
                )
        raise ConditionSyntaxError(
            "a pattern is a text (`risk where cssrs_level == high`) or one "
            "`name: text` pair when the rationale needs the name",
            pattern=i,
        )
    return str(mode), out


def default_name(fact_type: str, taken: set[str]) -> str:
    """The derived binding name: the fact type's first letter, numbered if already taken."""
    base = fact_type[0]
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def parse_condition(when: Any) -> Condition:
    """A rule's ``when`` as a :class:`Condition`; patterns without a binding get a derived one
    (:func:`default_name`, after every written binding is reserved)."""
    mode, items = pattern_items(when)
    written: set[str] = set()
    for i, (name, _) in enumerate(items):
        if name is None:
            continue
        if name in UNSAFE or not name.isidentifier() or name.startswith("_") or "$" in name:
            raise ConditionSyntaxError(
                f"binding name {name!r} must be a plain identifier", pattern=i
            )
        if name in written:
            raise ConditionSyntaxError(f"binding name {name!r} repeats", pattern=i)
        written.add(name)
    taken = set(written)
    patterns: list[Pattern] = []
    for i, (name, text) in enumerate(items):
        try:
            pattern = parse_pattern(text, name or "", bound=name is not None)
        except ConditionSyntaxError as exc:
            exc.pattern = i
            raise
        if name is None:
            pattern = replace(pattern, name=default_name(pattern.fact_type, taken))
            taken.add(pattern.name)
        patterns.append(pattern)
    return Condition(mode, tuple(patterns))
