"""Explanations: evidence of a firing, the condition-level trace, derivation chains, why-not.

Works on plain dicts (the report is validated once at the end) and on the fact set of one
evaluation: the case facts, the facts rules derived, and the source of every field.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from ..rules.conditions import MISSING, Leaf, LeafResult, Pattern, explain_pattern, first_failure
from ..rules.loader import LoadedRule, Ruleset
from ..schemas.options import Option
from ..schemas.rule import ActionKind
from .facts import FactSet, Source
from .session import Firing

Json = dict[str, Any]


TemplatePart = tuple[str, str | None, str | None]  # (literal, pattern, field)


@dataclass(frozen=True)
class RuleIndex:
    """Per-engine lookups, computed once when the engine is built (never per case)."""

    ruleset: Ruleset
    rules: dict[str, LoadedRule]
    patterns: dict[str, dict[str, Pattern]]  # rule id -> pattern name -> pattern
    templates: dict[str, tuple[TemplatePart, ...]]
    derived_ids: dict[str, str | None]  # rule id -> fact id its action asserts
    recommenders: dict[Option, tuple[LoadedRule, ...]]  # sorted by rule id
    producer_refs: dict[str, tuple[str, ...]]  # derived fact id -> rules that assert it


def build_index(ruleset: Ruleset) -> RuleIndex:
    active = ruleset.active
    recommenders: dict[Option, list[LoadedRule]] = {}
    producers: dict[str, list[str]] = {}
    derived_ids: dict[str, str | None] = {}
    for loaded in active:
        fact_id = derived_id(loaded)
        derived_ids[loaded.rule.id] = fact_id
        if fact_id is not None:
            producers.setdefault(fact_id, []).append(loaded.rule.ref)
        if loaded.rule.action.kind is ActionKind.recommend:
            for option in loaded.rule.action.options:
                recommenders.setdefault(option, []).append(loaded)
    return RuleIndex(
        ruleset=ruleset,
        rules={r.rule.id: r for r in active},
        patterns={r.rule.id: {p.name: p for p in r.condition.patterns} for r in active},
        templates={r.rule.id: compile_template(r.rule.rationale) for r in active},
        derived_ids=derived_ids,
        recommenders={
            o: tuple(sorted(rs, key=lambda r: r.rule.id)) for o, rs in recommenders.items()
        },
        producer_refs={k: tuple(sorted(v)) for k, v in producers.items()},
    )


def compile_template(template: str) -> tuple[TemplatePart, ...]:
    """Split a rationale template into literals and ``{pattern.field}`` placeholders."""
    parts: list[TemplatePart] = []
    for literal, field_name, _, _ in string.Formatter().parse(template):
        pattern, field = (None, None)
        if field_name is not None:
            pattern, _, field = field_name.partition(".")
        parts.append((literal, pattern, field))
    return tuple(parts)


@dataclass
class Context:
    """Everything known after the session ran."""

    index: RuleIndex
    facts: FactSet
    derived: dict[str, dict[str, Any]]  # fact id -> fact asserted by rules
    firings: list[Firing]
    producers: dict[str, list[Firing]]  # derived fact id -> firings that asserted it
    evidence_cache: dict[Firing, list[Json]] = dc_field(default_factory=dict)

    @property
    def rules(self) -> dict[str, LoadedRule]:
        return self.index.rules

    def fact(self, fact_id: str) -> dict[str, Any]:
        found = self.facts.by_id.get(fact_id)
        return found if found is not None else self.derived[fact_id]

    def facts_of_type(self, fact_type: str) -> list[dict[str, Any]]:
        out = [f for f in self.facts.facts if f["type"] == fact_type]
        out.extend(f for _, f in sorted(self.derived.items()) if f["type"] == fact_type)
        return out


def build_context(
    index: RuleIndex,
    facts: FactSet,
    derived: dict[str, dict[str, Any]],
    firings: list[Firing],
) -> Context:
    producers: dict[str, list[Firing]] = {}
    for firing in firings:
        fact_id = index.derived_ids[firing.rule_id]
        if fact_id is not None:
            producers.setdefault(fact_id, []).append(firing)
    return Context(index, facts, derived, firings, producers)


def derived_id(loaded: LoadedRule) -> str | None:
    action = loaded.rule.action
    if action.kind is ActionKind.derive:
        return f"finding-{action.finding}"
    if action.kind is ActionKind.gate:
        return f"gate-{action.finding}"
    return None


# ---------------------------------------------------------------------- values


def render_value(value: Any) -> str:
    if value is MISSING or value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_rationale(ctx: Context, firing: Firing) -> str:
    """Fill ``{pattern.field}`` placeholders from the facts the firing matched.

    A placeholder of a pattern the firing did not match (an ``any`` rule) is filled from the
    case's fact of that type when there is exactly one, else shown as not recorded.
    """
    matched = {p: ctx.fact(fid) for p, fid in firing.matches}
    patterns = ctx.index.patterns[firing.rule_id]
    out: list[str] = []
    for literal, pattern, field in ctx.index.templates[firing.rule_id]:
        out.append(literal)
        if pattern is None or field is None:
            continue
        fact = matched.get(pattern)
        if fact is None:
            same_type = ctx.facts_of_type(patterns[pattern].fact_type or "")
            fact = same_type[0] if len(same_type) == 1 else {}
        out.append(render_value(fact.get(field, MISSING)))
    return "".join(out)


# ---------------------------------------------------------------------- evidence & trace


def _source(ctx: Context, fact_id: str, field: str) -> Source:
    return ctx.facts.sources.get(fact_id, {}).get(field, Source())


def condition_result(
    ctx: Context, pattern: Pattern, fact_id: str | None, result: LeafResult
) -> Json:
    fact_type = pattern.fact_type or ""
    src = _source(ctx, fact_id, result.leaf.field) if fact_id else Source()
    finding = src.finding
    if fact_type in ("finding", "gate") and result.leaf.field == "name":
        finding = str(result.leaf.value)
    missing = result.actual is MISSING
    return {
        "pattern": pattern.name,
        "fact_id": fact_id or "",
        "condition": result.leaf.render(fact_type),
        "field": result.leaf.field,
        "value": None if missing else result.actual,
        "missing": missing,
        "ok": result.ok,
        "pointer": src.pointer,
        "finding": finding,
    }


def firing_conditions(ctx: Context, firing: Firing) -> list[Json]:
    patterns = ctx.index.patterns[firing.rule_id]
    out: list[Json] = []
    for name, fact_id in firing.matches:
        pattern = patterns[name]
        for result in explain_pattern(pattern, ctx.fact(fact_id)):
            out.append(condition_result(ctx, pattern, fact_id, result))
    return out


def firing_evidence(ctx: Context, firing: Firing) -> list[Json]:
    """The case facts one firing matched (the ``type`` pins left out); computed once."""
    cached = ctx.evidence_cache.get(firing)
    if cached is None:
        cached = ctx.evidence_cache[firing] = _firing_evidence(ctx, firing)
    return cached


def _firing_evidence(ctx: Context, firing: Firing) -> list[Json]:
    patterns = ctx.index.patterns[firing.rule_id]
    out: list[Json] = []
    for name, fact_id in firing.matches:
        pattern = patterns[name]
        fact = ctx.fact(fact_id)
        fact_type = pattern.fact_type
        for result in explain_pattern(pattern, fact):
            field = result.leaf.field
            if field == "type" or not result.ok:
                continue
            src = _source(ctx, fact_id, field)
            finding = src.finding
            if fact_type in ("finding", "gate"):
                finding = str(fact.get("name"))
            out.append(
                {
                    "fact": f"{fact_type}.{field}",
                    "value": fact.get(field),
                    "pointer": src.pointer,
                    "finding": finding,
                    "subject": src.subject,
                }
            )
    return out


def chain(ctx: Context, firing: Firing) -> list[Firing]:
    """The firing and every firing it depends on through derived facts, ancestors first."""
    order: list[Firing] = []
    seen: set[Firing] = set()

    def visit(f: Firing) -> None:
        if f in seen:
            return
        seen.add(f)
        for _, fact_id in f.matches:
            for producer in ctx.producers.get(fact_id, []):
                visit(producer)
        order.append(f)

    visit(firing)
    return order


def dedupe(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for item in items:
        key = repr(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# ---------------------------------------------------------------------- why-not


def first_unmet(ctx: Context, loaded: LoadedRule) -> tuple[Json | None, str | None]:
    """The first condition of a rule (that did not fire) the facts do not meet, and a note."""
    for pattern in loaded.condition.patterns:
        unmet = _pattern_unmet(ctx, pattern)
        if unmet is not None:
            return unmet  # 'all': the first pattern without a match; 'any': none matched
    return None, "all conditions are met"


def _pattern_unmet(ctx: Context, pattern: Pattern) -> tuple[Json, str | None] | None:
    """``None`` if some fact matches ``pattern``; else its most nearly met failing condition."""
    candidates = ctx.facts_of_type(pattern.fact_type or "")
    if not candidates:
        leaf = LeafResult(Leaf("type", "$eq", pattern.fact_type), MISSING, False)
        note = f"no {pattern.fact_type} fact: {_absent_note(ctx, pattern)}"
        return condition_result(ctx, pattern, None, leaf), note
    # The most nearly matching fact wins; ties go to the smallest fact content (not the fact
    # id, which follows input order), so why-not does not depend on the order of list items.
    best: tuple[int, str, str, LeafResult] | None = None
    written = pattern.leaves
    for fact in candidates:
        failure = first_failure(pattern.expr, fact)
        if failure is None:
            return None
        position = written.index(failure.leaf)
        content = json.dumps({k: v for k, v in fact.items() if k != "id"}, sort_keys=True)
        if best is None or (-position, content) < (-best[0], best[1]):
            best = (position, content, str(fact["id"]), failure)
    assert best is not None
    return condition_result(ctx, pattern, best[2], best[3]), None


def _absent_note(ctx: Context, pattern: Pattern) -> str:
    if pattern.fact_type not in ("finding", "gate"):
        return "no such item in the case"
    names = [lf.value for lf in pattern.leaves if lf.field == "name"]
    producers = ctx.index.producer_refs.get(f"{pattern.fact_type}-{names[0]}", ()) if names else ()
    what = names[0] if names else "?"
    return f"{pattern.fact_type} {what!r} was not derived (derived by {', '.join(producers)})"


def why_not(
    ctx: Context,
    recommended: set[Option],
    blocked: dict[Option, Json],
) -> list[Json]:
    """An explanation for every vocabulary option that is not recommended."""
    out: list[Json] = []
    for option in Option:
        if option in recommended:
            continue
        if option in blocked:
            b = blocked[option]
            out.append(
                {
                    "option": option,
                    "status": "blocked",
                    "blocked_by": b["rules"],
                    "reasons": b["reasons"],
                    "candidates": [],
                }
            )
            continue
        candidates = []
        for loaded in ctx.index.recommenders.get(option, ()):
            unmet, note = first_unmet(ctx, loaded)
            candidates.append({"rule": loaded.rule.ref, "unmet": unmet, "note": note})
        out.append(
            {
                "option": option,
                "status": "not_triggered" if candidates else "no_rule",
                "blocked_by": [],
                "reasons": [],
                "candidates": candidates,
            }
        )
    return out
