"""The rule linter: checks every rule against the fact model before anything is compiled.

It parses each rule's ``when`` (:mod:`trd_cds.rules.grammar`) and refuses unknown fact types
and fields (with a "did you mean"), literals of the wrong kind (a string compared with a number
is compared as text by durable_rules, DESIGN.md #6), unknown enum values, ordering comparisons
on non-numbers, conditions on findings no rule derives, rationale placeholders that name no
written binding, duplicate ids, missing citations and the unsafe constructs listed in
:data:`trd_cds.rules.conditions.UNSAFE`. Messages quote the condition in the author's words
(`` `adequate_failed_ad_trials >= 1` ``) and carry the line and column in the rule file.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..schemas.errors import LintProblem
from ..schemas.facts import FACT_MODELS, FieldSpec, field_specs
from ..schemas.rule import ActionKind, Rule, RuleStatus
from .conditions import EXISTENCE, ORDERING, Condition, ConditionSyntaxError, Leaf, literal

#: Maps (pattern index or None, character offset in its text or None) to (line, column) of the
#: rule file; the loader builds one per rule from the YAML node positions.
Locator = Callable[[int | None, int | None], tuple[int | None, int | None]]


class RuleEntry(NamedTuple):
    """A validated rule and where it is written."""

    rule: Rule
    file: str
    line: int | None
    locate: Locator | None = None


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
        column: int | None = None,
    ) -> None:
        self.problems.append(LintProblem(file, rule_id, message, line, hint, severity, column))

    def check(self, rules: Iterable[RuleEntry]) -> dict[str, Condition]:
        """Lint the rules (all files together); returns parsed conditions of the usable rules."""
        from .grammar import parse_condition  # imports Lark: only when rules are read

        entries = [RuleEntry(*r) for r in rules]
        seen: dict[str, str] = {}
        derived: set[str] = {
            e.rule.action.finding
            for e in entries
            if e.rule.action.kind is ActionKind.derive
            and e.rule.status is RuleStatus.active
            and e.rule.action.finding
        }
        parsed: dict[str, Condition] = {}
        for entry in entries:
            rule, file, line = entry.rule, entry.file, entry.line
            if rule.id in seen:
                self.problem(file, rule.id, f"duplicate rule id (also in {seen[rule.id]})", line)
                continue
            seen[rule.id] = f"{file}:{line}" if line else file
            if not rule.citations:
                self.problem(file, rule.id, "rule has no citations", line)
            try:
                condition = parse_condition(rule.when)
            except ConditionSyntaxError as exc:
                where, column = _at(entry, exc.pattern, exc.offset)
                self.problem(file, rule.id, f"when: {exc.reason}", where, exc.hint, column=column)
                continue
            ok = self._check_condition(entry, condition, derived)
            ok = self._check_rationale(rule, condition, file, line) and ok
            if ok:
                parsed[rule.id] = condition
        return parsed

    # ------------------------------------------------------------------ conditions

    def _check_condition(self, entry: RuleEntry, condition: Condition, derived: set[str]) -> bool:
        ok = True
        rule, file = entry.rule, entry.file
        for i, pattern in enumerate(condition.patterns):
            fact_type = pattern.fact_type
            if fact_type not in self._specs:
                line, column = _at(entry, i, pattern.leaves[0].pos)
                self.problem(
                    file,
                    rule.id,
                    f"`{pattern.render_body()}`: unknown fact type {fact_type!r}",
                    line,
                    suggest(fact_type, self._specs),
                    column=column,
                )
                ok = False
                continue
            specs = self._specs[fact_type]
            for leaf in pattern.leaves[1:]:  # leaves[0] pins the type
                line, column = _at(entry, i, leaf.pos)
                problem = self._check_leaf(fact_type, specs, leaf, derived)
                if problem is not None:
                    message, hint = problem
                    self.problem(file, rule.id, message, line, hint, column=column)
                    ok = False
        return ok

    def _check_leaf(
        self,
        fact_type: str,
        specs: dict[str, FieldSpec],
        leaf: Leaf,
        derived: set[str],
    ) -> tuple[str, str | None] | None:
        """``(message, hint)`` for a leaf the fact model refuses, else ``None``."""
        said = f"`{leaf.render()}`"
        spec = specs.get(leaf.field)
        if spec is None:
            return (
                f"{said}: {fact_type} facts have no field {leaf.field!r}",
                suggest(leaf.field, specs),
            )
        if leaf.op in EXISTENCE:
            if not spec.optional:
                always = "true" if leaf.op == "$ex" else "false"
                return (
                    f"{said}: {leaf.field} is always recorded on a {fact_type} fact, "
                    f"so this is always {always}",
                    None,
                )
            return None
        value = leaf.value
        kind = _kind_of(value)
        expected = "number" if spec.kind in ("int", "number") else spec.kind
        if kind != expected:
            how = (
                "durable_rules would compare them as text"
                if "str" in (kind, expected)
                else "they never match"
            )
            return (
                f"{said}: {leaf.field} is a {spec.kind} but is compared with "
                f"{literal(value)} (a {kind}); {how}",
                None,
            )
        if leaf.op in ORDERING and spec.kind not in ("int", "number"):
            return (
                f"{said}: ordering comparison on {leaf.field}, which is a {spec.kind}, "
                "not a number",
                None,
            )
        if spec.choices is not None and value not in spec.choices:
            return (
                f"{said}: {literal(value)} is not a value of {leaf.field} "
                f"({', '.join(spec.choices)})",
                suggest(str(value), spec.choices),
            )
        if fact_type == "finding" and leaf.field == "name" and value not in derived:
            return (
                f"{said}: no active derive rule produces finding {value!r}",
                suggest(str(value), [d for d in derived if d]),
            )
        return None

    # ------------------------------------------------------------------ rationale

    def _check_rationale(
        self, rule: Rule, condition: Condition, file: str, line: int | None
    ) -> bool:
        types = {p.name: p.fact_type for p in condition.patterns if p.bound}
        unbound = {p.name: p for p in condition.patterns if not p.bound}
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
            if pattern in unbound and fact_field:
                self.problem(
                    file,
                    rule.id,
                    f"rationale: {{{field_name}}} needs a binding name written in `when`: "
                    f"`{unbound[pattern].render(binding=True)}`",
                    line,
                )
                ok = False
                continue
            if pattern not in types or not fact_field:
                self.problem(
                    file,
                    rule.id,
                    f"rationale: {{{field_name}}} must be {{name.field}} with a binding name "
                    f"written in `when` ({', '.join(types) or 'none is written'})",
                    line,
                    suggest(pattern, types),
                )
                ok = False
                continue
            fact_type = types[pattern]
            if fact_field not in self._specs.get(fact_type, {}):
                self.problem(
                    file,
                    rule.id,
                    f"rationale: {{{field_name}}}: {fact_type} facts have no field {fact_field!r}",
                    line,
                    suggest(fact_field, self._specs.get(fact_type, {})),
                )
                ok = False
        return ok


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str"


def _at(entry: RuleEntry, pattern: int | None, offset: int | None) -> tuple[int | None, int | None]:
    """Line and column of a spot in a rule's ``when`` (the rule's line when unknown)."""
    if entry.locate is None:
        return entry.line, None
    line, column = entry.locate(pattern, offset)
    return (line, column) if line is not None else (entry.line, None)
