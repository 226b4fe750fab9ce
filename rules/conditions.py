"""Reading durable_rules JSON conditions: structure, safe subset, and a Python evaluator.

Rules are written in durable_rules' own JSON condition syntax. This module accepts the subset
that the engine can fence and explain:

* top level ``{"all": [pattern, ...]}`` or ``{"any": [pattern, ...]}``;
* a pattern is ``{name: expression}``; each pattern pins its fact type with ``{"type": ...}``;
* expressions are ``{"$and": [...]}``, ``{"$or": [...]}`` and leaves:
  ``{field: literal}`` (equality), ``{"$neq"|"$lt"|"$lte"|"$gt"|"$gte": {field: literal}}``,
  ``{"$ex"|"$nex": {field: 1}}``.

Everything else (``none``, arithmetic, state references ``$s``, cross-pattern references,
``pri``/``count``/``cap``, regex, timers) is refused with a reason: see DESIGN.md, "known
behaviour the engine must fence".

The evaluator reproduces durable_rules' semantics for this subset (a missing field fails every
comparison except ``$nex``); a property test checks it against the real engine. It powers the
condition-level trace of fired rules and the why-not explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COMPARISONS = {"$eq", "$neq", "$lt", "$lte", "$gt", "$gte"}
EXISTENCE = {"$ex", "$nex"}
ORDERING = {"$lt", "$lte", "$gt", "$gte"}

#: Constructs refused by the linter, with the reason shown to the rule author.
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


class ConditionSyntaxError(ValueError):
    """A condition is outside the accepted subset. ``path`` locates it inside ``when``."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any = None

    def render(self, pattern_type: str | None = None) -> str:
        name = f"{pattern_type}.{self.field}" if pattern_type else self.field
        if self.op in EXISTENCE:
            return f"{name} {OP_SYMBOL[self.op]}"
        return f"{name} {OP_SYMBOL[self.op]} {_literal(self.value)}"


@dataclass(frozen=True)
class Pattern:
    name: str
    expr: Any
    fact_type: str | None
    leaves: tuple[Leaf, ...] = ()


@dataclass(frozen=True)
class Condition:
    mode: str  # "all" or "any"
    patterns: tuple[Pattern, ...]


@dataclass(frozen=True)
class LeafResult:
    leaf: Leaf
    actual: Any  # MISSING when the fact lacks the field
    ok: bool


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def parse(when: Mapping[str, Any]) -> Condition:
    """Parse and check the structure of a rule's ``when`` (no fact-model checks here)."""
    if not isinstance(when, Mapping) or len(when) != 1:
        raise ConditionSyntaxError("'when' must have exactly one key: 'all' or 'any'")
    ((mode, items),) = when.items()
    if mode in UNSAFE:
        raise ConditionSyntaxError(UNSAFE[mode], mode)
    if mode not in ("all", "any"):
        raise ConditionSyntaxError(f"unknown top-level key {mode!r} (use 'all' or 'any')")
    if not isinstance(items, list) or not items:
        raise ConditionSyntaxError("must be a non-empty list of patterns", mode)
    patterns: list[Pattern] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        path = f"{mode}[{i}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ConditionSyntaxError("a pattern is one {name: expression} mapping", path)
        ((name, expr),) = item.items()
        if not isinstance(name, str):
            raise ConditionSyntaxError("a pattern name must be a string", path)
        if name in UNSAFE:
            raise ConditionSyntaxError(UNSAFE[name], path)
        if not name.isidentifier() or name.startswith("_") or "$" in name:
            raise ConditionSyntaxError(f"pattern name {name!r} must be a plain identifier", path)
        if name in names:
            raise ConditionSyntaxError(f"pattern name {name!r} repeats", path)
        names.add(name)
        _check_expr(expr, f"{path}.{name}")
        patterns.append(Pattern(name, expr, _pinned_type(expr), tuple(leaves(expr))))
    return Condition(mode, tuple(patterns))


def _check_expr(expr: Any, path: str) -> None:
    if not isinstance(expr, Mapping) or len(expr) != 1:
        raise ConditionSyntaxError(
            "an expression is one mapping with one key (join several with $and)", path
        )
    ((key, body),) = expr.items()
    if key in UNSAFE:
        raise ConditionSyntaxError(UNSAFE[key], path)
    if key in ("$and", "$or"):
        if not isinstance(body, list) or not body:
            raise ConditionSyntaxError(f"{key} takes a non-empty list", path)
        for i, sub in enumerate(body):
            _check_expr(sub, f"{path}.{key}[{i}]")
        return
    if key in COMPARISONS or key in EXISTENCE:
        if not isinstance(body, Mapping) or len(body) != 1:
            raise ConditionSyntaxError(f"{key} takes one {{field: value}} mapping", path)
        ((field, value),) = body.items()
        _check_field_name(field, path)
        if key in EXISTENCE:
            return
        _check_literal(value, path)
        return
    if isinstance(key, str) and key.startswith("$"):
        raise ConditionSyntaxError(f"unknown operator {key!r}", path)
    _check_field_name(key, path)
    _check_literal(body, path)


def _check_field_name(field: Any, path: str) -> None:
    if not isinstance(field, str) or not field.isidentifier() or field in ("id", "sid"):
        raise ConditionSyntaxError(f"{field!r} is not a fact field name", path)


def _check_literal(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        raise ConditionSyntaxError(
            "cross-pattern references and nested expressions as values are not supported; "
            "compare with a literal",
            path,
        )
    if isinstance(value, float) and value != value:  # NaN
        raise ConditionSyntaxError("NaN cannot be compared", path)
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        raise ConditionSyntaxError("infinity cannot be asserted in durable_rules (error 202)", path)
    if not isinstance(value, (bool, int, float, str)):
        raise ConditionSyntaxError(f"literal {value!r} must be a bool, number or string", path)


def _pinned_type(expr: Mapping[str, Any]) -> str | None:
    """The fact type a pattern pins with a top-level ``{"type": ...}`` equality."""
    ((key, body),) = expr.items()
    if key == "type" and isinstance(body, str):
        return body
    if key == "$and":
        for sub in body:
            ((k, v),) = sub.items()
            if k == "type" and isinstance(v, str):
                return v
    return None


def leaf_of(expr: Mapping[str, Any]) -> Leaf:
    ((key, body),) = expr.items()
    if key in COMPARISONS or key in EXISTENCE:
        ((field, value),) = body.items()
        return Leaf(field, key, None if key in EXISTENCE else value)
    return Leaf(key, "$eq", body)


def leaves(expr: Mapping[str, Any]) -> list[Leaf]:
    """All leaves of an expression, depth first, in written order."""
    ((key, body),) = expr.items()
    if key in ("$and", "$or"):
        out: list[Leaf] = []
        for sub in body:
            out.extend(leaves(sub))
        return out
    return [leaf_of(expr)]


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


def evaluate(expr: Mapping[str, Any], fact: Mapping[str, Any]) -> bool:
    ((key, body),) = expr.items()
    if key == "$and":
        return all(evaluate(sub, fact) for sub in body)
    if key == "$or":
        return any(evaluate(sub, fact) for sub in body)
    return check_leaf(leaf_of(expr), fact).ok


def first_failure(expr: Mapping[str, Any], fact: Mapping[str, Any]) -> LeafResult | None:
    """The first leaf that keeps ``expr`` from matching ``fact``; ``None`` if it matches.

    For ``$or`` with no true branch, the first failing leaf of the first branch is reported.
    """
    ((key, body),) = expr.items()
    if key == "$and":
        for sub in body:
            failure = first_failure(sub, fact)
            if failure is not None:
                return failure
        return None
    if key == "$or":
        if any(evaluate(sub, fact) for sub in body):
            return None
        return first_failure(body[0], fact)
    result = check_leaf(leaf_of(expr), fact)
    return None if result.ok else result


def explain_pattern(pattern: Pattern, fact: Mapping[str, Any]) -> list[LeafResult]:
    """Every leaf of the pattern tested against ``fact``, in written order."""
    return [check_leaf(leaf, fact) for leaf in pattern.leaves]
