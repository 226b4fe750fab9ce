"""The typed condition tree: what a rule's ``when`` means, how it reads, how it runs.

A rule's ``when`` is ``all`` or ``any`` of patterns, each written in the readable syntax of
``condition.lark`` (parsed by :mod:`trd_cds.rules.grammar`)::

    when:
      all:
        - assessment where in_scope_unipolar and adequate_failed_ad_trials >= 1 and not in_remission
        - gate safety_escalation_first
        - r: risk where cssrs_level == high or clinician_judges_imminent_risk

The tree is built from frozen dataclasses: a :class:`Condition` holds :class:`Pattern` s, a
pattern holds an expression made of :class:`And`, :class:`Or` and :class:`Leaf` (one
comparison). A pattern's expression starts with the leaf that pins its fact type
(``type == risk``), as the compiled form does. Every leaf knows its ``index`` in
``pattern.leaves`` (written order), so a caller can test each leaf once and evaluate the tree
from those results (:func:`evaluate_with`, :func:`first_failure_with`).

Three views of one tree:

* :func:`compile_condition` gives durable_rules' JSON condition syntax (what runs; the ruleset
  hash and the rule pins are taken over it, so re-spelling a rule changes nothing);
* :meth:`Pattern.render` / :meth:`Leaf.render` give the author's words (catalogue, lint,
  trace and why-not);
* :func:`evaluate` / :func:`first_failure` / :func:`check_leaf` evaluate in Python with
  durable_rules' semantics (a comparison on a missing field fails, so does its negation; only
  ``is missing`` matches a missing field); a property test checks them against the real engine.

``not`` is pushed down to the leaves when parsing (``not (a or b)`` is ``not a and not b``,
``not x >= 1`` is ``x < 1``): durable_rules has no negation, and under "missing is not met"
this is exactly three-valued logic, where a pattern matches only when its condition is true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, NamedTuple, TypeAlias

COMPARISONS = {"$eq", "$neq", "$lt", "$lte", "$gt", "$gte"}
EXISTENCE = {"$ex", "$nex"}
ORDERING = {"$lt", "$lte", "$gt", "$gte"}

#: Constructs that are refused, with the reason shown to the rule author.
UNSAFE: dict[str, str] = {
    "none": "none(...) is unreliable in durable_rules (DESIGN.md #8): derive absence in Python",
    "$s": "state references fire on session state and can loop (DESIGN.md #13)",
    "$add": "arithmetic in conditions belongs in Python assessments (DESIGN.md #11)",
    "$sub": "arithmetic in conditions belongs in Python assessments (DESIGN.md #11)",
    "$mul": "arithmetic in conditions belongs in Python assessments (DESIGN.md #11)",
    "$div": "division in conditions is C division and can kill the process (DESIGN.md #11)",
    "pri": "salience makes output depend on firing order (DESIGN.md #10)",
    "count": "event windows are not supported in a single-case session",
    "cap": "event windows are not supported in a single-case session",
    "span": "event windows are not supported in a single-case session",
    "dist": "distinct windows are not supported in a single-case session",
    "$t": "timers run on background threads (DESIGN.md #13)",
    "$mt": "regex matching is not part of the explained subset",
    "$imt": "regex matching is not part of the explained subset",
    "$iall": "array matching is not part of the explained subset",
    "$iany": "array matching is not part of the explained subset",
}

OP_SYMBOL = {
    "$eq": "==",
    "$neq": "!=",
    "$lt": "<",
    "$lte": "<=",
    "$gt": ">",
    "$gte": ">=",
    "$ex": "is present",
    "$nex": "is missing",
}
SYMBOL_OP = {symbol: op for op, symbol in OP_SYMBOL.items()}

#: The negation of each operator under "missing is not met" (three-valued logic).
NEGATED = {
    "$eq": "$neq",
    "$neq": "$eq",
    "$lt": "$gte",
    "$gte": "$lt",
    "$lte": "$gt",
    "$gt": "$lte",
    "$ex": "$nex",
    "$nex": "$ex",
}

#: Words of the language; a text value spelled like one is written in quotes.
KEYWORDS = frozenset({"where", "and", "or", "not", "is", "missing", "present", "true", "false"})

#: Fact types whose facts are named; ``gate safety_escalation_first`` is short for
#: ``gate where name == safety_escalation_first``.
NAMED_TYPES = ("gate", "finding")

_WORD = re.compile(r"[a-z_][a-z0-9_]*", re.IGNORECASE)


class ConditionSyntaxError(ValueError):
    """A condition cannot be read.

    ``pattern`` is the index of the pattern in the ``all``/``any`` list (``None`` for the list
    itself), ``offset`` the character offset inside that pattern's text, ``hint`` a "did you
    mean". ``path`` is kept for callers that locate problems by a path.
    """

    def __init__(
        self,
        message: str,
        path: str = "",
        *,
        pattern: int | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message
        self.pattern = pattern
        self.offset = offset
        self.hint = hint


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def literal(value: Any) -> str:
    """A value as the author writes it: ``true``, ``2``, ``high``, ``"two words"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _WORD.fullmatch(text) and text not in KEYWORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Leaf:
    """One comparison: ``field op value`` (``value`` is ``None`` for ``is missing/present``).

    ``index`` is the leaf's position in its pattern's ``leaves`` (``-1`` outside a pattern);
    ``fact_type`` and ``pos`` (offset in the pattern's text) help rendering and error messages
    and take no part in equality.
    """

    field: str
    op: str
    value: Any = None
    index: int = -1
    fact_type: str | None = dc_field(default=None, compare=False)
    pos: int = dc_field(default=-1, compare=False, repr=False)

    def render(self, fact_type: str | None = None) -> str:
        """The leaf in the author's words: ``cssrs_level == high``, ``not in_remission``,
        ``gate safety_escalation_first``, ``weight is missing``; the type pin reads as the
        fact type (``risk``). ``fact_type`` is used only when the leaf does not know its own."""
        kind = self.fact_type or fact_type
        if self.op == "$eq" and self.field == "type":
            return str(self.value)
        if self.op == "$eq" and self.field == "name" and kind in NAMED_TYPES:
            return f"{kind} {literal(self.value)}"
        return self.text()

    def text(self) -> str:
        """The leaf as written inside ``where`` (no fact-type shorthand)."""
        if self.op in EXISTENCE:
            return f"{self.field} {OP_SYMBOL[self.op]}"
        if self.op == "$eq" and isinstance(self.value, bool):
            return self.field if self.value else f"not {self.field}"
        return f"{self.field} {OP_SYMBOL[self.op]} {literal(self.value)}"


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr: TypeAlias = Leaf | And | Or


@dataclass(frozen=True)
class Pattern:
    """One pattern: a binding ``name``, the ``fact_type`` it matches, its expression (which
    starts with the type pin) and its leaves in written order. ``bound`` is true when the
    author wrote the name (``r: risk where ...``) rather than letting it be derived."""

    name: str
    fact_type: str
    expr: Expr
    leaves: tuple[Leaf, ...] = ()
    bound: bool = dc_field(default=False, compare=False)

    @property
    def tests(self) -> tuple[Expr, ...]:
        """What a fact must satisfy besides its type (the ``where`` part), as written."""
        if isinstance(self.expr, And):
            return self.expr.items[1:]
        return ()

    def render(self, *, binding: bool | None = None) -> str:
        """The pattern in the author's words; parsing it gives the same tree.

        ``binding`` forces the ``name:`` prefix on or off (default: as written).
        """
        head = f"{self.name}: " if (self.bound if binding is None else binding) else ""
        return head + self.render_body()

    def render_body(self) -> str:
        tests = self.tests
        if not tests:
            return self.fact_type
        if (
            self.fact_type in NAMED_TYPES
            and len(tests) == 1
            and isinstance(tests[0], Leaf)
            and tests[0].field == "name"
            and tests[0].op == "$eq"
            and isinstance(tests[0].value, str)
            and literal(tests[0].value) == tests[0].value
        ):
            return f"{self.fact_type} {tests[0].value}"
        if len(tests) == 1:
            only = tests[0]
            body = f"({render_expr(only)})" if isinstance(only, And) else render_expr(only)
        else:
            body = " and ".join(_operand(t) for t in tests)
        return f"{self.fact_type} where {body}"


@dataclass(frozen=True)
class Condition:
    mode: str  # "all" or "any"
    patterns: tuple[Pattern, ...]


class LeafResult(NamedTuple):
    """One leaf tested against one fact (a tuple: built many times per evaluation)."""

    leaf: Leaf
    actual: Any  # MISSING when the fact lacks the field
    ok: bool


def _operand(expr: Expr) -> str:
    return expr.text() if isinstance(expr, Leaf) else f"({render_expr(expr)})"


def render_expr(expr: Expr) -> str:
    """An expression in the author's words; compound operands are parenthesised."""
    if isinstance(expr, Leaf):
        return expr.text()
    joiner = " and " if isinstance(expr, And) else " or "
    return joiner.join(_operand(item) for item in expr.items)


# ---------------------------------------------------------------------- compiling


def compile_expr(expr: Expr) -> dict[str, Any]:
    """durable_rules' JSON for one expression."""
    if isinstance(expr, And):
        return {"$and": [compile_expr(item) for item in expr.items]}
    if isinstance(expr, Or):
        return {"$or": [compile_expr(item) for item in expr.items]}
    if expr.op == "$eq":
        return {expr.field: expr.value}
    if expr.op in EXISTENCE:
        return {expr.op: {expr.field: 1}}
    return {expr.op: {expr.field: expr.value}}


def compile_condition(condition: Condition) -> dict[str, Any]:
    """The condition in durable_rules' JSON syntax, exactly as the engine registers it."""
    return {condition.mode: [{p.name: compile_expr(p.expr)} for p in condition.patterns]}


# ---------------------------------------------------------------------- evaluating


def leaves(expr: Expr) -> list[Leaf]:
    """All leaves of an expression, depth first, in written order."""
    if isinstance(expr, Leaf):
        return [expr]
    out: list[Leaf] = []
    for item in expr.items:
        out.extend(leaves(item))
    return out


def check_leaf(leaf: Leaf, fact: Mapping[str, Any]) -> LeafResult:
    """One comparison with durable_rules semantics for the accepted subset."""
    actual = fact.get(leaf.field, MISSING)
    if leaf.op == "$ex":
        return LeafResult(leaf, actual, actual is not MISSING)
    if leaf.op == "$nex":
        return LeafResult(leaf, actual, actual is MISSING)
    if actual is MISSING:
        return LeafResult(leaf, actual, False)
    expected = leaf.value
    if isinstance(actual, bool) != isinstance(expected, bool) or isinstance(actual, str) != (
        isinstance(expected, str)
    ):
        # Mixed kinds never match (the linter refuses them; facts are typed).
        return LeafResult(leaf, actual, leaf.op == "$neq")
    if leaf.op == "$eq":
        ok = actual == expected
    elif leaf.op == "$neq":
        ok = actual != expected
    elif leaf.op == "$lt":
        ok = actual < expected
    elif leaf.op == "$lte":
        ok = actual <= expected
    elif leaf.op == "$gt":
        ok = actual > expected
    else:
        ok = actual >= expected
    return LeafResult(leaf, actual, bool(ok))


def evaluate(expr: Expr, fact: Mapping[str, Any]) -> bool:
    """Whether ``fact`` satisfies ``expr``."""
    if isinstance(expr, And):
        return all(evaluate(item, fact) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(item, fact) for item in expr.items)
    return check_leaf(expr, fact).ok


def first_failure(expr: Expr, fact: Mapping[str, Any]) -> LeafResult | None:
    """The first leaf that keeps ``expr`` from matching ``fact``; ``None`` if it matches.

    For ``or`` with no true branch, the first failing leaf of the first branch is reported.
    """
    if isinstance(expr, And):
        for item in expr.items:
            failure = first_failure(item, fact)
            if failure is not None:
                return failure
        return None
    if isinstance(expr, Or):
        if any(evaluate(item, fact) for item in expr.items):
            return None
        return first_failure(expr.items[0], fact)
    result = check_leaf(expr, fact)
    return None if result.ok else result


def evaluate_with(expr: Expr, results: Sequence[bool]) -> bool:
    """:func:`evaluate` from precomputed leaf results (``results[leaf.index]``)."""
    if isinstance(expr, And):
        return all(evaluate_with(item, results) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate_with(item, results) for item in expr.items)
    return results[expr.index]


def first_failure_with(expr: Expr, results: Sequence[bool]) -> int | None:
    """:func:`first_failure` from precomputed leaf results: the failing leaf's index."""
    if isinstance(expr, And):
        for item in expr.items:
            failure = first_failure_with(item, results)
            if failure is not None:
                return failure
        return None
    if isinstance(expr, Or):
        if any(evaluate_with(item, results) for item in expr.items):
            return None
        return first_failure_with(expr.items[0], results)
    return None if results[expr.index] else expr.index


def explain_pattern(pattern: Pattern, fact: Mapping[str, Any]) -> list[LeafResult]:
    """Every leaf of the pattern tested against ``fact``, in written order."""
    return [check_leaf(leaf, fact) for leaf in pattern.leaves]
