"""The conflict policy, applied after all rules have fired (durable_rules has no truth
maintenance, DESIGN.md #9):

1. **A block beats a recommendation.** Any block on an option removes it from the
   recommendations; the report lists the blocking rules and the recommendations they overrode.
2. **Gates order first.** When ``safety_escalation_first`` is gated, the safety options
   (``urgent_crisis_referral``, ``safety_assessment_and_plan``, ``medical_assessment``) come
   before everything, then the stabilisation itself (``schemas.options.acute_group``: the
   psychotic-depression, bipolar and perinatal steps, the lorazepam challenge, ECT when a
   rapid-response rule recommended it, and continuing a treatment that works); every other
   recommendation is marked ``after_stabilisation``, except the supportive therapeutic
   relationship (``schemas.options.THROUGHOUT_IN_CRISIS``: always-on care that goes on
   through the crisis itself).
3. **Deterministic order.** Recommendations sort by (tier, vocabulary order); when several
   rules recommend one option, the lowest tier and the strongest strength win, and the
   rationale, rules, evidence and citations of all of them are kept.
4. **Cautions beside listed options.** A caution is reported only on an option that is
   recommended (the rest stay in the trace), and each names its own rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..schemas.options import (
    OPTION_RANK,
    SAFETY_FIRST,
    THROUGHOUT_IN_CRISIS,
    Option,
    Tier,
    acute_group,
)
from ..schemas.rule import ActionKind, Strength
from .explain import Context, EvidenceItem, evidence_json, unique, unique_evidence
from .session import Firing

POLICY = (
    "block-beats-recommendation",
    "safety-gate-orders-safety-options-first",
    "order-by-tier-then-vocabulary",
    "stabilisation-not-deferred",
    "therapeutic-relationship-not-deferred",
    "cautions-beside-listed-options",
)

Json = dict[str, Any]
#: The gate that puts crisis management and stabilisation before routine care.
SAFETY_GATE = "safety_escalation_first"


@dataclass
class _Parts:
    """What several firings contribute to one output item, collected in firing order."""

    rules: list[str] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    evidence: list[EvidenceItem] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)

    def add(
        self, ctx: Context, firing: Firing, rationale: str, *, chain_rules: bool = True
    ) -> None:
        """Add a firing: its rationale, and the rules, evidence and citations of its chain
        (``chain_rules=False``: name only the firing's own rule, as blocks do)."""
        rules, evidence, citations = ctx.contribution(firing, chain_rules)
        self.rules.extend(rules)
        self.evidence.extend(evidence)
        self.citations.extend(citations)
        self.rationale.append(rationale)

    def evidence_json(self) -> list[Json]:
        return [evidence_json(e) for e in unique_evidence(self.evidence)]


@dataclass
class _Rec(_Parts):
    tier: Tier = Tier.safety
    strength: Strength = Strength.consider
    own_rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """The decision: what the policy made of the firings (plain data, ready to write)."""

    gates: list[Json]
    recommendations: list[Json]
    cautions: list[Json]
    blocked: list[Json]
    blocked_map: dict[Option, Json]
    derived_by: dict[str, list[str]]

    def recommended(self) -> set[Option]:
        return {Option(r["option"]) for r in self.recommendations}

    @property
    def deferring(self) -> bool:
        """Whether the safety gate defers routine care until after stabilisation."""
        return any(g["gate"] == SAFETY_GATE for g in self.gates)


def apply(ctx: Context) -> Outcome:
    """Turn the firings into gates, recommendations, cautions and blocks."""
    recs: dict[Option, _Rec] = {}
    blocks: dict[Option, _Parts] = {}
    cautions: dict[tuple[Option, str], _Parts] = {}
    caution_rationale: dict[tuple[Option, str], str] = {}
    gates: dict[str, _Parts] = {}
    derived_by: dict[str, list[str]] = {}

    for firing in ctx.firings:
        info = ctx.index.rules[firing.rule_id]
        rule = info.loaded.rule
        action = rule.action
        rationale = ctx.rationale(firing)
        if action.kind is ActionKind.recommend:
            assert action.tier is not None
            assert rule.strength is not None
            for option in action.options:
                entry = recs.get(option)
                if entry is None:
                    entry = recs[option] = _Rec(tier=action.tier, strength=rule.strength)
                entry.tier = min(entry.tier, action.tier)
                if rule.strength is Strength.offer:
                    entry.strength = Strength.offer
                entry.add(ctx, firing, rationale)
                entry.own_rules.append(info.ref)
        elif action.kind is ActionKind.block:
            for option in action.options:
                blocks.setdefault(option, _Parts()).add(ctx, firing, rationale, chain_rules=False)
        elif action.kind is ActionKind.caution:
            for option in action.options:
                # one caution per (option, rule): an 'any' rule that fires once per matching
                # subset of its patterns (DESIGN.md #15) gives one caution with merged evidence
                key = (option, info.ref)
                parts = cautions.setdefault(key, _Parts())
                caution_rationale.setdefault(key, rationale)
                parts.add(ctx, firing, rationale)
        elif action.kind is ActionKind.gate:
            gates.setdefault(action.finding or "", _Parts()).add(ctx, firing, rationale)
        else:  # derive
            derived_by.setdefault(action.finding or "", []).extend(
                ctx.index.rules[f.rule_id].ref for f in ctx.chain(firing)
            )

    safety_first = SAFETY_GATE in gates

    def tier_of(option: Option) -> Tier:
        return Tier.safety if safety_first and option in SAFETY_FIRST else recs[option].tier

    def acute(option: Option) -> int:
        return acute_group(option, recs[option].own_rules) if safety_first else 0

    ordered = sorted(
        (opt for opt in recs if opt not in blocks),
        key=lambda o: (acute(o), tier_of(o), OPTION_RANK[o]),
    )
    listed = set(ordered)
    caution_list = []
    caution_text: dict[Option, list[str]] = {}
    for key in sorted(cautions, key=lambda k: (OPTION_RANK[k[0]], unique(cautions[k].rules))):
        option = key[0]
        if option not in listed:
            continue  # shown only beside listed options; the firing stays in the trace
        parts = cautions[key]
        # The caution's own rule comes last and names the text: an 'any' rule that fires once
        # per matching subset (DESIGN.md #15) puts chain rules (e.g. the gate it matched)
        # after its own ref in firing order, and the text must not name the gate.
        rules = [r for r in unique(parts.rules) if r != key[1]] + [key[1]]
        caution_list.append(
            {
                "option": option.value,
                "rules": rules,
                "rationale": caution_rationale[key],
                "evidence": parts.evidence_json(),
                "citations": unique(parts.citations),
            }
        )
        caution_text.setdefault(option, []).append(f"{caution_rationale[key]} ({key[1]})")

    recommendations = []
    for order, option in enumerate(ordered, start=1):
        e = recs[option]
        recommendations.append(
            {
                "option": option.value,
                "order": order,
                "tier": tier_of(option).name,
                "strength": e.strength.value,
                "after_stabilisation": safety_first
                and acute(option) == 2
                and option not in THROUGHOUT_IN_CRISIS,
                "rationale": unique(e.rationale),
                "rules": unique(e.rules),
                "evidence": e.evidence_json(),
                "citations": unique(e.citations),
                "cautions": unique(caution_text.get(option, ())),
            }
        )
    blocked = []
    blocked_map: dict[Option, Json] = {}
    for option in sorted(blocks, key=OPTION_RANK.__getitem__):
        b = blocks[option]
        item = {
            "option": option.value,
            "rules": unique(b.rules),
            "reasons": unique(b.rationale),
            "evidence": b.evidence_json(),
            "citations": unique(b.citations),
            "overrode": unique(recs[option].own_rules) if option in recs else [],
        }
        blocked.append(item)
        blocked_map[option] = item
    gate_list = [
        {
            "gate": name,
            "rules": unique(g.rules),
            "rationale": unique(g.rationale),
            "evidence": g.evidence_json(),
            "citations": unique(g.citations),
        }
        for name, g in sorted(gates.items())
    ]
    return Outcome(
        gates=gate_list,
        recommendations=recommendations,
        cautions=caution_list,
        blocked=blocked,
        blocked_map=blocked_map,
        derived_by={k: unique(v) for k, v in derived_by.items()},
    )
