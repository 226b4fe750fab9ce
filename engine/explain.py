"""Explanations from one evaluation pass: evidence, the condition-level trace, why-not.

Everything that depends only on the rules is computed once, when the engine is built
(:class:`RuleIndex`: rendered conditions, rendered citations, rationale templates, which rules
recommend which option). Everything that depends on the case lives in one :class:`Context` per
evaluation, which builds each (pattern, fact) pair's leaf results (value, missing, ok) at
most once and shares them between evidence, trace and why-not. Where only a yes/no is needed
(why-not's nearest fact, the data-needed walk) the compiled boolean leaf tests run instead,
stopping at the first failing leaf: cheaper than building the results.

Works on plain data: evidence items are tuples until they are written out as dicts.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..rules.conditions import (
    MISSING,
    And,
    Leaf,
    LeafResult,
    Pattern,
    check_leaf,
    compile_expr,
    first_failure_with,
)
from ..rules.loader import LoadedRule, Ruleset
from ..schemas.options import Option
from ..schemas.rule import ActionKind
from .assessments import ISSUE_TEXT
from .facts import FactSet, Source
from .session import Firing

Json = dict[str, Any]
TemplatePart = tuple[str, str | None, str | None]  # (literal, pattern, field)
#: One evidence item: (fact, value, pointer, finding, subject) — see :func:`evidence_json`.
EvidenceItem = tuple[str, Any, str | None, str | None, str | None]
#: What a firing and its chain contribute to an output item: (rules, evidence, citations).
Contribution = tuple[tuple[str, ...], tuple[EvidenceItem, ...], tuple[str, ...]]

_NO_SOURCE = Source()
#: Coded fact values and how a rationale says them, by field.
VALUE_WORDS: dict[str, dict[str, str]] = {"adequacy_issue": ISSUE_TEXT}
DERIVED_TYPES = frozenset({"finding", "gate"})


# ---------------------------------------------------------------------- built once per engine


LeafTest = Callable[[Mapping[str, Any]], bool]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "$eq": operator.eq,
    "$neq": operator.ne,
    "$lt": operator.lt,
    "$lte": operator.le,
    "$gt": operator.gt,
    "$gte": operator.ge,
}


def compile_test(leaf: Leaf) -> LeafTest:
    """``check_leaf(leaf, fact).ok`` as a closure built once (durable_rules semantics: a
    missing field fails every comparison except ``is missing``; mixed kinds never match)."""
    name, op, expected = leaf.field, leaf.op, leaf.value
    if op == "$ex":
        return lambda fact: name in fact
    if op == "$nex":
        return lambda fact: name not in fact
    compare = _COMPARE[op]
    expects_bool, expects_str = isinstance(expected, bool), isinstance(expected, str)
    on_mixed = op == "$neq"

    def test(fact: Mapping[str, Any]) -> bool:
        actual = fact.get(name, MISSING)
        if actual is MISSING:
            return False
        if isinstance(actual, bool) is not expects_bool or isinstance(actual, str) is not (
            expects_str
        ):
            return on_mixed
        return bool(compare(actual, expected))

    return test


@dataclass(frozen=True)
class PatternInfo:
    """A rule pattern with what explanations need, precomputed."""

    key: int  # the same key for every identical (fact type, expression) in the ruleset
    pattern: Pattern
    fact_type: str
    conditions: tuple[str, ...]  # each leaf rendered, in written order
    derived_name: str | None  # for finding/gate patterns: the name it asks for
    tests: tuple[LeafTest, ...]  # each leaf's test, in written order
    flat: bool  # the expression is an 'and' of leaves (first failure = first False)


@dataclass(frozen=True)
class RuleInfo:
    loaded: LoadedRule
    id: str
    ref: str
    all_of: bool  # the condition's mode is 'all' (else 'any')
    kind: ActionKind
    patterns: tuple[PatternInfo, ...]
    by_name: dict[str, PatternInfo]
    template: tuple[TemplatePart, ...]
    citations: tuple[str, ...]
    derived_id: str | None
    produces: tuple[str, ...]


@dataclass(frozen=True)
class RuleIndex:
    """Per-engine lookups, computed once when the engine is built (never per case)."""

    ruleset: Ruleset
    rules: dict[str, RuleInfo]
    recommenders: dict[Option, tuple[RuleInfo, ...]]  # sorted by rule id
    producer_refs: dict[str, tuple[str, ...]]  # derived fact id -> rules that assert it
    producers: dict[str, tuple[RuleInfo, ...]]  # derived fact id -> rules that assert it
    gates: tuple[RuleInfo, ...]  # the gate rules, sorted by rule id


def derived_id(loaded: LoadedRule) -> str | None:
    """The id of the fact a derive/gate rule asserts when it fires."""
    action = loaded.rule.action
    if action.kind is ActionKind.derive:
        return f"finding-{action.finding}"
    if action.kind is ActionKind.gate:
        return f"gate-{action.finding}"
    return None


def compile_template(template: str) -> tuple[TemplatePart, ...]:
    """Split a rationale template into literals and ``{pattern.field}`` placeholders."""
    parts: list[TemplatePart] = []
    for literal, field_name, _, _ in string.Formatter().parse(template):
        pattern, field = (None, None)
        if field_name is not None:
            pattern, _, field = field_name.partition(".")
        parts.append((literal, pattern, field))
    return tuple(parts)


def _produces(loaded: LoadedRule) -> tuple[str, ...]:
    action = loaded.rule.action
    if action.options:
        return tuple(o.value for o in action.options)
    return (f"{action.kind.value}:{action.finding}",)


def build_index(ruleset: Ruleset) -> RuleIndex:
    keys: dict[bytes, int] = {}
    rules: dict[str, RuleInfo] = {}
    recommenders: dict[Option, list[RuleInfo]] = {}
    producers: dict[str, list[str]] = {}
    for loaded in ruleset.active:
        infos = []
        for pattern in loaded.condition.patterns:
            fact_type = pattern.fact_type or ""
            identity = orjson.dumps(
                [fact_type, compile_expr(pattern.expr)], option=orjson.OPT_SORT_KEYS
            )
            names = [str(lf.value) for lf in pattern.leaves if lf.field == "name"]
            infos.append(
                PatternInfo(
                    key=keys.setdefault(identity, len(keys)),
                    pattern=pattern,
                    fact_type=fact_type,
                    conditions=tuple(lf.render(fact_type) for lf in pattern.leaves),
                    derived_name=names[0] if fact_type in DERIVED_TYPES and names else None,
                    tests=tuple(compile_test(lf) for lf in pattern.leaves),
                    flat=isinstance(pattern.expr, Leaf)
                    or (
                        isinstance(pattern.expr, And)
                        and all(isinstance(i, Leaf) for i in pattern.expr.items)
                    ),
                )
            )
        rule = loaded.rule
        info = RuleInfo(
            loaded=loaded,
            id=rule.id,
            ref=rule.ref,
            all_of=loaded.condition.mode == "all",
            kind=rule.action.kind,
            patterns=tuple(infos),
            by_name={p.pattern.name: p for p in infos},
            template=compile_template(rule.rationale),
            citations=tuple(c.render() for c in rule.citations),
            derived_id=derived_id(loaded),
            produces=_produces(loaded),
        )
        rules[rule.id] = info
        if info.derived_id is not None:
            producers.setdefault(info.derived_id, []).append(info.ref)
        if rule.action.kind is ActionKind.recommend:
            for option in rule.action.options:
                recommenders.setdefault(option, []).append(info)
    return RuleIndex(
        ruleset=ruleset,
        rules=rules,
        recommenders={
            o: tuple(sorted(rs, key=lambda r: r.loaded.rule.id)) for o, rs in recommenders.items()
        },
        producer_refs={k: tuple(sorted(v)) for k, v in producers.items()},
        producers={
            k: tuple(r for r in rules.values() if r.derived_id == k) for k in sorted(producers)
        },
        gates=tuple(r for _, r in sorted(rules.items()) if r.kind is ActionKind.gate),
    )


# ---------------------------------------------------------------------- one evaluation


class Context:
    """Everything known after the session ran, and the one cache of leaf results."""

    def __init__(
        self,
        index: RuleIndex,
        facts: FactSet,
        derived: dict[str, dict[str, Any]],
        firings: list[Firing],
    ) -> None:
        self.index = index
        self.facts = facts
        self.derived = derived
        self.firings = firings
        self.producers: dict[str, list[Firing]] = {}
        for firing in firings:
            fact_id = index.rules[firing.rule_id].derived_id
            if fact_id is not None:
                self.producers.setdefault(fact_id, []).append(firing)
        self._leaves: dict[tuple[int, str], tuple[LeafResult, ...]] = {}
        self._evidence: dict[Firing, tuple[EvidenceItem, ...]] = {}
        self._pattern_items: dict[tuple[int, str], tuple[EvidenceItem, ...]] = {}
        self._chains: dict[Firing, tuple[Firing, ...]] = {}
        self._contributions: dict[tuple[Firing, bool], Contribution] = {}
        self._by_type: dict[str, list[dict[str, Any]]] | None = None
        self._contents: dict[str, bytes] = {}
        self._nearest: dict[int, tuple[int, dict[str, Any]] | None] = {}

    def fact(self, fact_id: str) -> dict[str, Any]:
        found = self.facts.by_id.get(fact_id)
        return found if found is not None else self.derived[fact_id]

    def facts_of_type(self, fact_type: str) -> list[dict[str, Any]]:
        if self._by_type is None:
            by_type: dict[str, list[dict[str, Any]]] = {}
            for f in self.facts.facts:
                by_type.setdefault(f["type"], []).append(f)
            for _, f in sorted(self.derived.items()):
                by_type.setdefault(f["type"], []).append(f)
            self._by_type = by_type
        return self._by_type.get(fact_type, [])

    def leaf_results(self, info: PatternInfo, fact: dict[str, Any]) -> tuple[LeafResult, ...]:
        """Every leaf of a pattern tested against one fact: computed once per evaluation."""
        key = (info.key, str(fact["id"]))
        found = self._leaves.get(key)
        if found is None:
            found = self._leaves[key] = tuple(
                LeafResult(lf, fact.get(lf.field, MISSING), test(fact))
                for lf, test in zip(info.pattern.leaves, info.tests, strict=True)
            )
        return found

    def source(self, fact_id: str, field: str) -> Source:
        return self.facts.sources.get(fact_id, {}).get(field, _NO_SOURCE)

    # ------------------------------------------------------------------ firings

    def chain(self, firing: Firing) -> tuple[Firing, ...]:
        """The firing and every firing it depends on through derived facts, ancestors first."""
        found = self._chains.get(firing)
        if found is not None:
            return found
        order: list[Firing] = []
        seen: set[Firing] = set()

        def visit(f: Firing) -> None:
            if f in seen:
                return
            seen.add(f)
            for _, fact_id in f.matches:
                for producer in self.producers.get(fact_id, ()):
                    visit(producer)
            order.append(f)

        visit(firing)
        found = self._chains[firing] = tuple(order)
        return found

    def contribution(self, firing: Firing, chain_rules: bool = True) -> Contribution:
        """Rules, evidence and citations of a firing and its chain (computed once).

        ``chain_rules=False`` names only the firing's own rule (blocks name their own rule;
        the evidence and citations still cover the chain)."""
        key = (firing, chain_rules)
        found = self._contributions.get(key)
        if found is not None:
            return found
        rules: list[str] = []
        evidence: list[EvidenceItem] = []
        citations: list[str] = []
        for f in self.chain(firing):
            rule = self.index.rules[f.rule_id]
            if chain_rules or f == firing:
                rules.append(rule.ref)
            evidence.extend(self.evidence(f))
            citations.extend(rule.citations)
        found = self._contributions[key] = (tuple(rules), tuple(evidence), tuple(citations))
        return found

    def evidence(self, firing: Firing) -> tuple[EvidenceItem, ...]:
        """The case facts one firing matched (``type`` pins left out); computed once."""
        found = self._evidence.get(firing)
        if found is not None:
            return found
        rule = self.index.rules[firing.rule_id]
        if len(firing.matches) == 1:
            name, fact_id = firing.matches[0]
            found = self._pattern_evidence(rule.by_name[name], fact_id)
        else:
            found = tuple(
                item
                for name, fact_id in firing.matches
                for item in self._pattern_evidence(rule.by_name[name], fact_id)
            )
        self._evidence[firing] = found
        return found

    def _pattern_evidence(self, info: PatternInfo, fact_id: str) -> tuple[EvidenceItem, ...]:
        """What one pattern matched in one fact; shared by every rule with that pattern."""
        key = (info.key, fact_id)
        found = self._pattern_items.get(key)
        if found is not None:
            return found
        fact = self.fact(fact_id)
        derived = info.fact_type in DERIVED_TYPES
        sources = self.facts.sources.get(fact_id, {})
        out: list[EvidenceItem] = []
        for result in self.leaf_results(info, fact):
            field = result.leaf.field
            if field == "type" or not result.ok:
                continue
            src = sources.get(field, _NO_SOURCE)
            finding = str(fact.get("name")) if derived else src.finding
            out.append(
                (f"{info.fact_type}.{field}", fact.get(field), src.pointer, finding, src.subject)
            )
        found = self._pattern_items[key] = tuple(out)
        return found

    def rationale(self, firing: Firing) -> str:
        """Fill ``{pattern.field}`` placeholders from the facts the firing matched.

        A placeholder of a pattern the firing did not match (an ``any`` rule) is filled from
        the case's fact of that type when there is exactly one, else shown as not recorded.
        """
        rule = self.index.rules[firing.rule_id]
        matched = {p: self.fact(fid) for p, fid in firing.matches}
        out: list[str] = []
        for literal, pattern, field in rule.template:
            out.append(literal)
            if pattern is None or field is None:
                continue
            fact = matched.get(pattern)
            if fact is None:
                same_type = self.facts_of_type(rule.by_name[pattern].fact_type)
                fact = same_type[0] if len(same_type) == 1 else {}
            value = fact.get(field, MISSING)
            # coded values read in words ("adherence not confirmed as good", not the code)
            words = VALUE_WORDS.get(field, {}).get(value) if isinstance(value, str) else None
            out.append(words or render_value(value))
        return "".join(out)

    # ------------------------------------------------------------------ trace

    def condition(
        self,
        info: PatternInfo,
        fact_id: str | None,
        i: int,
        result: LeafResult,
        text: str | None = None,
    ) -> Json:
        leaf = result.leaf
        src = self.source(fact_id, leaf.field) if fact_id else _NO_SOURCE
        finding = src.finding
        if info.fact_type in DERIVED_TYPES and leaf.field == "name":
            finding = str(leaf.value)
        missing = result.actual is MISSING
        return {
            "pattern": info.pattern.name,
            "fact_id": fact_id or "",
            "condition": text or (info.conditions[i] if i >= 0 else leaf.render(info.fact_type)),
            "field": leaf.field,
            "value": None if missing else result.actual,
            "missing": missing,
            "ok": result.ok,
            "pointer": src.pointer,
            "finding": finding,
        }

    def trace(self) -> list[Json]:
        """Every fired rule with each condition and the value it matched."""
        out = []
        for firing in self.firings:
            rule = self.index.rules[firing.rule_id]
            conditions: list[Json] = []
            for name, fact_id in firing.matches:
                info = rule.by_name[name]
                results = self.leaf_results(info, self.fact(fact_id))
                conditions.extend(
                    self.condition(info, fact_id, i, r) for i, r in enumerate(results)
                )
            out.append(
                {
                    "rule": rule.ref,
                    "action": rule.kind.value,
                    "produces": list(rule.produces),
                    "conditions": conditions,
                }
            )
        return out

    # ------------------------------------------------------------------ why-not

    def first_unmet(self, rule: RuleInfo) -> tuple[Json | None, str | None]:
        """The first condition of a rule (that did not fire) the facts do not meet, and a note."""
        for info in rule.patterns:
            unmet = self._pattern_unmet(info)
            if unmet is not None:
                return unmet  # 'all': the first pattern without a match; 'any': none matched
        return None, "all conditions are met"

    def _pattern_unmet(self, info: PatternInfo) -> tuple[Json, str | None] | None:
        """``None`` if some fact matches the pattern; else its most nearly met failing leaf."""
        if info.key in self._nearest:
            nearest = self._nearest[info.key]
        else:
            nearest = self._nearest[info.key] = self._nearest_fact(info)
        if nearest is None:
            return None
        position, fact = nearest
        if position < 0:
            leaf = LeafResult(Leaf("type", "$eq", info.pattern.fact_type), MISSING, False)
            note = f"no {info.pattern.fact_type} fact: {self._absent_note(info)}"
            return self.condition(info, None, -1, leaf, info.pattern.render()), note
        result = check_leaf(info.pattern.leaves[position], fact)
        return self.condition(info, str(fact["id"]), position, result), None

    def _nearest_fact(self, info: PatternInfo) -> tuple[int, dict[str, Any]] | None:
        """The fact that most nearly matches a pattern and the position of its failing leaf;
        ``None`` if a fact matches, ``(-1, {})`` if there is no fact of the type. Once per
        (pattern, evaluation): rules that share a pattern share the answer."""
        candidates = self.facts_of_type(info.fact_type)
        if not candidates:
            return -1, {}
        # The most nearly matching fact wins; ties go to the smallest fact content (not the
        # fact id, which follows input order), so why-not does not depend on list order.
        best: tuple[int, bytes, dict[str, Any]] | None = None
        for fact in candidates:
            position = self.first_failure(info, fact)
            if position is None:
                return None
            if best is None or position > best[0]:
                best = (position, self._content(fact), fact)
            elif position == best[0]:
                content = self._content(fact)
                if content < best[1]:
                    best = (position, content, fact)
        assert best is not None
        return best[0], best[2]

    def first_failure(self, info: PatternInfo, fact: dict[str, Any]) -> int | None:
        """Index of the leaf that keeps the pattern from matching ``fact`` (None: it matches);
        from the shared leaf results when they exist, else from the compiled tests."""
        known = self._leaves.get((info.key, str(fact["id"])))
        if known is not None:
            oks = [r.ok for r in known]
        elif info.flat:
            for i, test in enumerate(info.tests):
                if not test(fact):
                    return i
            return None
        else:
            oks = [test(fact) for test in info.tests]
        if info.flat:
            return next((i for i, ok in enumerate(oks) if not ok), None)
        return first_failure_with(info.pattern.expr, oks)

    def _content(self, fact: dict[str, Any]) -> bytes:
        """The fact's content without its id (the why-not tie-break), once per fact."""
        return _cached_content(self._contents, fact)

    def _absent_note(self, info: PatternInfo) -> str:
        if info.fact_type not in DERIVED_TYPES:
            return "no such item in the case"
        name = info.derived_name
        producers = self.index.producer_refs.get(f"{info.fact_type}-{name}", ()) if name else ()
        return (
            f"{info.fact_type} {name or '?'!r} was not derived (derived by {', '.join(producers)})"
        )

    def why_not(self, recommended: set[Option], blocked: dict[Option, Json]) -> list[Json]:
        """An explanation for every vocabulary option that is not recommended."""
        out: list[Json] = []
        for option in Option:
            if option in recommended:
                continue
            if option in blocked:
                b = blocked[option]
                out.append(
                    {
                        "option": option.value,
                        "status": "blocked",
                        "blocked_by": b["rules"],
                        "reasons": b["reasons"],
                        "candidates": [],
                    }
                )
                continue
            candidates = []
            for rule in self.index.recommenders.get(option, ()):
                unmet, note = self.first_unmet(rule)
                candidates.append({"rule": rule.ref, "unmet": unmet, "note": note})
            out.append(
                {
                    "option": option.value,
                    "status": "not_triggered" if candidates else "no_rule",
                    "blocked_by": [],
                    "reasons": [],
                    "candidates": candidates,
                }
            )
        return out


def _content(fact: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in fact.items() if k != "id"}, option=orjson.OPT_SORT_KEYS)


def _cached_content(cache: dict[str, bytes], fact: dict[str, Any]) -> bytes:
    key = str(fact["id"])
    found = cache.get(key)
    if found is None:
        found = cache[key] = _content(fact)
    return found


# ---------------------------------------------------------------------- output helpers


def render_value(value: Any) -> str:
    if value is MISSING or value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def evidence_json(item: EvidenceItem) -> Json:
    fact, value, pointer, finding, subject = item
    return {
        "fact": fact,
        "value": value,
        "pointer": pointer,
        "finding": finding,
        "subject": subject,
    }


def unique(items: Iterable[Any]) -> list[Any]:
    """Hashable items without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))


def unique_evidence(items: Iterable[EvidenceItem]) -> list[EvidenceItem]:
    """Evidence without repeats; ``1``, ``1.0`` and ``True`` stay distinct."""
    seen: set[tuple[Any, ...]] = set()
    out: list[EvidenceItem] = []
    for item in items:
        key = (*item, type(item[1]))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
