"""The rule linter: checks every rule against the fact model before anything is compiled.

It refuses unknown fact types and fields (with a "did you mean"), literals of the wrong kind
(a string compared with a number is compared as text by durable_rules, DESIGN.md #6), unknown
enum values, ordering comparisons on non-numbers, conditions on findings no rule derives,
rationale placeholders that name nothing, duplicate ids, missing citations and the unsafe
constructs listed in :data:`trd_cds.rules.conditions.UNSAFE`.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable
from typing import Any

from ..schemas.errors import LintProblem
from ..schemas.facts import FACT_MODELS, FieldSpec, field_specs
from ..schemas.rule import ActionKind, Rule, RuleStatus
from .conditions import (
    EXISTENCE,
    ORDERING,
    Condition,
    ConditionSyntaxError,
    Leaf,
    leaves,
    parse,
)


def suggest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


class RuleLinter:
    """Collects :class:`LintProblem` for a set of rules (all files together)."""

    def __init__(self) -> None:
        self.problems: list[LintProblem] = []
        self._specs = {t: field_specs(t) for t in FACT_MODELS}

    def problem(
        self,
        file: str,
        rule_id: str | None,
        message: str,
        line: int | None,
        hint: str | None = None,
        severity: str = "error",
    ) -> None:
        self.problems.append(LintProblem(file, rule_id, message, line, hint, severity))

    def check(self, rules: list[tuple[Rule, str, int | None]]) -> dict[str, Condition]:
        """Lint ``(rule, file, line)`` triples; returns parsed conditions of the usable rules."""
        seen: dict[str, str] = {}
        derived: set[str] = {
            r.action.finding
            for r, _, _ in rules
            if r.action.kind is ActionKind.derive
            and r.status is RuleStatus.active
            and r.action.finding
        }
        parsed: dict[str, Condition] = {}
        for rule, file, line in rules:
            if rule.id in seen:
                self.problem(file, rule.id, f"duplicate rule id (also in {seen[rule.id]})", line)
                continue
            seen[rule.id] = f"{file}:{line}" if line else file
            if not rule.citations:
                self.problem(file, rule.id, "rule has no citations", line)
            try:
                condition = parse(rule.when)
            except ConditionSyntaxError as exc:
                self.problem(file, rule.id, f"when.{exc}", line)
                continue
            ok = self._check_condition(rule, condition, derived, file, line)
            ok = self._check_rationale(rule, condition, file, line) and ok
            if ok:
                parsed[rule.id] = condition
        return parsed

    # ------------------------------------------------------------------ conditions

    def _check_condition(
        self,
        rule: Rule,
        condition: Condition,
        derived: set[str],
        file: str,
        line: int | None,
    ) -> bool:
        ok = True
        for pattern in condition.patterns:
            where = f"when.{condition.mode}.{pattern.name}"
            fact_type = pattern.fact_type
            if fact_type is None:
                self.problem(
                    file,
                    rule.id,
                    f"{where}: pin the fact type with {{type: ...}} at the top of the pattern",
                    line,
                )
                ok = False
                continue
            if fact_type not in self._specs:
                self.problem(
                    file,
                    rule.id,
                    f"{where}: unknown fact type {fact_type!r}",
                    line,
                    suggest(fact_type, self._specs),
                )
                ok = False
                continue
            specs = self._specs[fact_type]
            for leaf in leaves(pattern.expr):
                ok = (
                    self._check_leaf(rule, where, fact_type, specs, leaf, derived, file, line)
                    and ok
                )
        return ok

    def _check_leaf(
        self,
        rule: Rule,
        where: str,
        fact_type: str,
        specs: dict[str, FieldSpec],
        leaf: Leaf,
        derived: set[str],
        file: str,
        line: int | None,
    ) -> bool:
        spec = specs.get(leaf.field)
        if spec is None:
            self.problem(
                file,
                rule.id,
                f"{where}: {fact_type} facts have no field {leaf.field!r}",
                line,
                suggest(leaf.field, specs),
            )
            return False
        if leaf.op in EXISTENCE:
            if not spec.optional:
                self.problem(
                    file,
                    rule.id,
                    f"{where}: {fact_type}.{leaf.field} is always present; "
                    f"{leaf.op} is always {'true' if leaf.op == '$ex' else 'false'}",
                    line,
                )
                return False
            return True
        value = leaf.value
        kind = _kind_of(value)
        expected = "number" if spec.kind in ("int", "number") else spec.kind
        if kind != expected:
            self.problem(
                file,
                rule.id,
                f"{where}: {fact_type}.{leaf.field} is a {spec.kind} but is compared with "
                f"{value!r} ({kind}); durable_rules would compare them as text",
                line,
            )
            return False
        if leaf.op in ORDERING and spec.kind not in ("int", "number"):
            self.problem(
                file,
                rule.id,
                f"{where}: ordering comparison {leaf.op} on non-numeric {fact_type}.{leaf.field}",
                line,
            )
            return False
        if spec.choices is not None and value not in spec.choices:
            self.problem(
                file,
                rule.id,
                f"{where}: {value!r} is not a value of {fact_type}.{leaf.field} "
                f"({', '.join(spec.choices)})",
                line,
                suggest(str(value), spec.choices),
            )
            return False
        if fact_type == "finding" and leaf.field == "name" and value not in derived:
            self.problem(
                file,
                rule.id,
                f"{where}: no active derive rule produces finding {value!r}",
                line,
                suggest(str(value), [d for d in derived if d]),
            )
            return False
        return True

    # ------------------------------------------------------------------ rationale

    def _check_rationale(
        self, rule: Rule, condition: Condition, file: str, line: int | None
    ) -> bool:
        types = {p.name: p.fact_type for p in condition.patterns}
        try:
            parts = list(string.Formatter().parse(rule.rationale))
        except ValueError as exc:
            self.problem(file, rule.id, f"rationale: {exc}", line)
            return False
        ok = True
        for _, field_name, spec, conversion in parts:
            if field_name is None:
                continue
            if spec or conversion:
                self.problem(
                    file,
                    rule.id,
                    f"rationale: no format spec or conversion in {{{field_name}}}",
                    line,
                )
                ok = False
                continue
            pattern, _, fact_field = field_name.partition(".")
            if pattern not in types or not fact_field:
                self.problem(
                    file,
                    rule.id,
                    f"rationale: {{{field_name}}} must be {{pattern.field}} with a pattern of "
                    f"this rule ({', '.join(types)})",
                    line,
                    suggest(pattern, types),
                )
                ok = False
                continue
            fact_type = types[pattern]
            if fact_type is None or fact_field not in self._specs.get(fact_type, {}):
                self.problem(
                    file,
                    rule.id,
                    f"rationale: {{{field_name}}}: {fact_type} facts have no field {fact_field!r}",
                    line,
                    suggest(fact_field, self._specs.get(fact_type or "", {})),
                )
                ok = False
        return ok


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str"
