"""The conflict policy, applied after all rules have fired (durable_rules has no truth
maintenance, DESIGN.md #9):

1. **A block beats a recommendation.** Any block on an option removes it from the
   recommendations; the report lists the blocking rules and the recommendations they overrode.
2. **Gates order first.** When ``safety_escalation_first`` is gated, the safety options
   (``urgent_crisis_referral``, ``safety_assessment_and_plan``, ``medical_assessment``) come
   before everything, then the stabilisation itself (``schemas.options.acute_group``: the
   psychotic-depression, bipolar and perinatal steps, the lorazepam challenge, and ECT when a
   rapid-response rule recommended it); every other recommendation is marked
   ``after_stabilisation``.
3. **Deterministic order.** Recommendations sort by (tier, vocabulary order); when several
   rules recommend one option, the lowest tier and the strongest strength win, and the
   rationale, rules, evidence and citations of all of them are kept.
4. **Cautions beside listed options.** A caution is reported only on an option that is
   recommended (the rest stay in the trace), and each names its own rule.
"""

from __future__ import annotations

from typing import Any

from ..schemas.options import OPTION_RANK, SAFETY_FIRST, Option, Tier, acute_group
from ..schemas.rule import ActionKind, Strength
from .explain import Context, chain, dedupe, firing_evidence, render_rationale

POLICY = (
    "block-beats-recommendation",
    "safety-gate-orders-safety-options-first",
    "order-by-tier-then-vocabulary",
    "stabilisation-not-deferred",
    "cautions-beside-listed-options",
)

Json = dict[str, Any]


def _contribution(ctx: Context, firing_chain: list[Any]) -> tuple[list[str], list[Json], list[str]]:
    rules = [ctx.rules[f.rule_id].rule.ref for f in firing_chain]
    evidence: list[Json] = []
    citations: list[str] = []
    for f in firing_chain:
        evidence.extend(firing_evidence(ctx, f))
        citations.extend(c.render() for c in ctx.rules[f.rule_id].rule.citations)
    return rules, evidence, citations


def apply(ctx: Context) -> dict[str, Any]:
    """Turn the firings into gates, recommendations, cautions and blocks."""
    recs: dict[Option, Json] = {}
    blocks: dict[Option, Json] = {}
    cautions: dict[tuple[Option, str], Json] = {}
    gates: dict[str, Json] = {}
    derived_by: dict[str, list[str]] = {}

    for firing in ctx.firings:
        loaded = ctx.rules[firing.rule_id]
        rule = loaded.rule
        action = rule.action
        fchain = chain(ctx, firing)
        rules, evidence, citations = _contribution(ctx, fchain)
        rationale = render_rationale(ctx, firing)
        if action.kind is ActionKind.recommend:
            assert action.tier is not None
            assert rule.strength is not None
            for option in action.options:
                entry = recs.setdefault(
                    option,
                    {
                        "tier": action.tier,
                        "strength": rule.strength,
                        "rationale": [],
                        "rules": [],
                        "evidence": [],
                        "citations": [],
                        "own_rules": [],
                    },
                )
                entry["tier"] = min(entry["tier"], action.tier)
                if rule.strength is Strength.offer:
                    entry["strength"] = Strength.offer
                entry["rationale"].append(rationale)
                entry["rules"].extend(rules)
                entry["own_rules"].append(rule.ref)
                entry["evidence"].extend(evidence)
                entry["citations"].extend(citations)
        elif action.kind is ActionKind.block:
            for option in action.options:
                entry = blocks.setdefault(
                    option, {"rules": [], "reasons": [], "evidence": [], "citations": []}
                )
                entry["rules"].append(rule.ref)
                entry["reasons"].append(rationale)
                entry["evidence"].extend(evidence)
                entry["citations"].extend(citations)
        elif action.kind is ActionKind.caution:
            for option in action.options:
                # one caution per (option, rule chain): an `any` rule fires once per
                # matching pattern, and those firings are one caution with merged evidence
                key = (option, rule.ref)
                caution = cautions.setdefault(
                    key,
                    {
                        "option": option,
                        "rules": rules,
                        "rationale": rationale,
                        "evidence": [],
                        "citations": [],
                    },
                )
                caution["rules"] = dedupe([*caution["rules"], *rules])
                caution["evidence"] = dedupe([*caution["evidence"], *evidence])
                caution["citations"] = dedupe([*caution["citations"], *citations])
        elif action.kind is ActionKind.gate:
            name = action.finding or ""
            entry = gates.setdefault(
                name, {"gate": name, "rules": [], "rationale": [], "evidence": [], "citations": []}
            )
            entry["rules"].extend(rules)
            entry["rationale"].append(rationale)
            entry["evidence"].extend(evidence)
            entry["citations"].extend(citations)
        else:  # derive
            derived_by.setdefault(action.finding or "", []).extend(rules)

    safety_first = "safety_escalation_first" in gates
    ordered = sorted(
        (opt for opt in recs if opt not in blocks),
        key=lambda o: (
            acute_group(o, recs[o]["own_rules"]) if safety_first else 0,
            Tier.safety if safety_first and o in SAFETY_FIRST else recs[o]["tier"],
            OPTION_RANK[o],
        ),
    )
    listed = set(ordered)
    caution_list = sorted(
        (c for c in cautions.values() if c["option"] in listed),
        key=lambda c: (OPTION_RANK[c["option"]], c["rules"]),
    )
    caution_text: dict[Option, list[str]] = {}
    for c in caution_list:
        caution_text.setdefault(c["option"], []).append(f"{c['rationale']} ({c['rules'][-1]})")

    recommendations = []
    for order, option in enumerate(ordered, start=1):
        e = recs[option]
        tier = Tier.safety if safety_first and option in SAFETY_FIRST else e["tier"]
        recommendations.append(
            {
                "option": option,
                "order": order,
                "tier": Tier(tier).name,
                "strength": e["strength"],
                "after_stabilisation": safety_first and acute_group(option, e["own_rules"]) == 2,
                "rationale": dedupe(e["rationale"]),
                "rules": dedupe(e["rules"]),
                "evidence": dedupe(e["evidence"]),
                "citations": dedupe(e["citations"]),
                "cautions": dedupe(caution_text.get(option, [])),
            }
        )
    blocked = []
    blocked_map: dict[Option, Json] = {}
    for option in sorted(blocks, key=OPTION_RANK.__getitem__):
        b = blocks[option]
        item = {
            "option": option,
            "rules": dedupe(b["rules"]),
            "reasons": dedupe(b["reasons"]),
            "evidence": dedupe(b["evidence"]),
            "citations": dedupe(b["citations"]),
            "overrode": dedupe(recs[option]["own_rules"]) if option in recs else [],
        }
        blocked.append(item)
        blocked_map[option] = item
    gate_list = []
    for name in sorted(gates):
        g = gates[name]
        gate_list.append(
            {
                **g,
                "rules": dedupe(g["rules"]),
                "rationale": dedupe(g["rationale"]),
                "evidence": dedupe(g["evidence"]),
                "citations": dedupe(g["citations"]),
            }
        )
    return {
        "gates": gate_list,
        "recommendations": recommendations,
        "cautions": caution_list,
        "blocked": blocked,
        "blocked_map": blocked_map,
        "derived_by": {k: dedupe(v) for k, v in derived_by.items()},
    }
