"""The plan: what a clinician reads first (DESIGN.md, "Report (output)").

Pure functions over the policy :class:`~trd_cds.engine.policy.Outcome` and the evaluation
:class:`~trd_cds.engine.explain.Context`. Nothing here invents an option: every plan item is a
recommendation some rule produced, regrouped.

Groups, derived from each recommendation's tier, strength and ``after_stabilisation`` (never
from a list of option codes):

* ``now``: safety and stabilisation: the ``safety`` and ``pathway`` tiers, and, while the
  safety gate (``safety_escalation_first``) defers routine care, every ladder treatment that is
  *not* ``after_stabilisation`` (the rapid-response treatments are part of stabilisation);
* ``next``: the step the escalation ladder has reached (§4.6): the furthest ladder tier with an
  ``offer`` (an indication; ``consider`` only permits), and every ladder recommendation up to it;
  without any ladder offer, the first ladder tier present;
* ``later``: ladder recommendations beyond the reached step (what follows if it fails);
* ``throughout``: the always-on tier, unnumbered.

Within a group: ``offer`` before ``consider``, then the ladder order (the report's order).
``next_step`` is the first item of ``now``, else of ``next``. Medication and procedure items
carry their monitoring and review (:mod:`trd_cds.engine.monitoring`).

``data_needed`` comes from :mod:`trd_cds.engine.data_needed` (read off the condition tree).
Overridden indications: each block that removed a recommendation, with the indication's
rationale and what to do about it. ``ladder``: per step, what failed, what is recommended, what
is blocked and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..schemas.options import Option, Tier
from ..schemas.rule import Strength
from .data_needed import data_needed
from .explain import Context, unique
from .monitoring import monitoring
from .policy import Outcome

Json = dict[str, Any]
Monitor = Callable[[Option], list[str]]

#: Tiers of the treatment ladder proper (between the pathway and the always-on care).
LADDER = frozenset(t for t in Tier if Tier.pathway < t < Tier.always_on)

#: What to do about a block, by the kind of fact that caused it.
ADVICE = {
    "preference": "declined: record capacity, explore the reasons, revisit",
    "contraindication": "contraindicated: confirm the contraindication, choose another option "
    "in the plan",
}
ADVICE_OTHER = "ruled out for now: revisit if the diagnosis, the state or the risk changes"


# ---------------------------------------------------------------------- groups


def _item(rec: Json, monitor: Monitor) -> Json:
    return {
        "option": rec["option"],
        "strength": rec["strength"],
        "tier": rec["tier"],
        "order": rec["order"],
        "after_stabilisation": rec["after_stabilisation"],
        # the rationale list follows firing order (input order): take the first in text order
        "reason": min(rec["rationale"], default=""),
        "rules": list(rec["rules"]),
        "monitoring": monitor(Option(rec["option"])),
    }


def _no_monitoring(option: Option) -> list[str]:
    return []


def _sort(items: Iterable[Json]) -> list[Json]:
    """Offer before consider, then ladder order (the report's order)."""
    return sorted(items, key=lambda r: (r["strength"] != Strength.offer.value, r["order"]))


def groups(
    recommendations: list[Json], deferring: bool, monitor: Monitor = _no_monitoring
) -> tuple[dict[str, list[Json]], str | None]:
    """The recommendations as now / next / later / throughout, and the ladder step reached;
    ``deferring``: the safety gate defers routine care; ``monitor`` gives each item its
    monitoring lines."""
    now: list[Json] = []
    ladder: list[Json] = []
    throughout: list[Json] = []
    for rec in recommendations:
        tier = Tier[rec["tier"]]
        if tier is Tier.always_on:
            throughout.append(rec)
        elif tier not in LADDER or (deferring and not rec["after_stabilisation"]):
            now.append(rec)
        else:
            ladder.append(rec)
    offered = [Tier[r["tier"]] for r in ladder if r["strength"] == Strength.offer.value]
    reached: Tier | None = None
    if offered:
        reached = max(offered)
    elif ladder:
        reached = min(Tier[r["tier"]] for r in ladder)
    nxt = [r for r in ladder if reached is not None and Tier[r["tier"]] <= reached]
    later = [r for r in ladder if reached is not None and Tier[r["tier"]] > reached]
    out = {
        "now": [_item(r, monitor) for r in _sort(now)],
        "next": [_item(r, monitor) for r in _sort(nxt)],
        "later": [_item(r, monitor) for r in _sort(later)],
        "throughout": [_item(r, monitor) for r in _sort(throughout)],
    }
    return out, reached.name if reached is not None else None


def next_step(grouped: dict[str, list[Json]]) -> Json | None:
    for name in ("now", "next"):
        if grouped[name]:
            first = grouped[name][0]
            return {
                "option": first["option"],
                "strength": first["strength"],
                "group": name,
                "reason": first["reason"],
                "rules": list(first["rules"]),
            }
    return None


# ---------------------------------------------------------------------- overridden


def overridden(outcome: Outcome, ctx: Context) -> list[Json]:
    """Blocks that removed a recommendation: the indication, the block, what to do."""
    wanted = {ref for b in outcome.blocked for ref in b["overrode"]}
    rationale_of: dict[str, list[str]] = {}
    for firing in ctx.firings:
        ref = ctx.index.rules[firing.rule_id].ref
        if ref in wanted:
            rationale_of.setdefault(ref, []).append(ctx.rationale(firing))
    out = []
    for b in outcome.blocked:
        if not b["overrode"]:
            continue
        kinds = unique(str(e["fact"]).partition(".")[0] for e in b["evidence"])
        advice = next((ADVICE[k] for k in kinds if k in ADVICE), ADVICE_OTHER)
        out.append(
            {
                "option": b["option"],
                "indicated_by": list(b["overrode"]),
                "indication": unique(t for ref in b["overrode"] for t in rationale_of.get(ref, ())),
                "blocked_by": list(b["rules"]),
                "reasons": list(b["reasons"]),
                "advice": advice,
            }
        )
    return out


# ---------------------------------------------------------------------- the ladder

#: Findings that record what was tried and failed at a ladder step (the case's history).
HISTORY: dict[Tier, tuple[tuple[str, str], ...]] = {
    Tier.verify_resistance: (("adequate_failed_ad_trials", "adequate antidepressant trial(s)"),),
    Tier.structured_psychotherapy: tuple(
        (f"{m}_failed", m) for m in ("cbt", "dbt", "psychodynamic", "ipt")
    ),
    Tier.innovative_psychotherapy: tuple((f"{m}_failed", m) for m in ("mbct", "act", "emdr")),
    Tier.ect_and_esketamine: (("failed_ect", "ect"),),
}


def _option_tier(ctx: Context, option: Option, overrode: list[str]) -> Tier | None:
    """The step a blocked option belongs to: that of the recommendations it overrode, else
    the earliest step any rule recommends it at."""
    rules = ctx.index.recommenders.get(option, ())
    chosen = [r for r in rules if r.ref in overrode] or list(rules)
    tiers = [r.loaded.rule.action.tier for r in chosen if r.loaded.rule.action.tier is not None]
    return min(tiers) if tiers else None


def ladder(outcome: Outcome, ctx: Context, findings: list[Json], reached: str | None) -> list[Json]:
    """The escalation ladder (§4.6) for this person: per step, what failed, what is
    recommended, what is blocked and why, and whether it is the step reached."""
    values = {f["name"]: f["value"] for f in findings if f.get("subject") is None}
    steps = []
    for tier in sorted(LADDER):
        failed = []
        for name, label in HISTORY.get(tier, ()):
            value = values.get(name)
            if value is True:
                failed.append(f"{label} failed")
            elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
                failed.append(f"{value} {label} failed")
        blocked = [
            {"option": b["option"], "reasons": list(b["reasons"]), "rules": list(b["rules"])}
            for b in outcome.blocked
            if _option_tier(ctx, Option(b["option"]), b["overrode"]) is tier
        ]
        steps.append(
            {
                "tier": tier.name,
                "failed": failed,
                "recommended": [
                    r["option"] for r in outcome.recommendations if r["tier"] == tier.name
                ],
                "blocked": blocked,
                "reached": tier.name == reached,
            }
        )
    return steps


# ---------------------------------------------------------------------- the plan


def build_plan(outcome: Outcome, ctx: Context, findings: list[Json]) -> Json:
    """The plan part of the report (plain data, deterministic)."""
    age = ctx.facts.by_id.get("patient", {}).get("age")
    # a gate raised on the risk facts means suicide risk is a concern (NG222 1.4.11)
    risk_concern = any(
        str(e["fact"]).startswith("risk.") for g in outcome.gates for e in g["evidence"]
    )

    def monitor(option: Option) -> list[str]:
        return monitoring(option, age if isinstance(age, int) else None, risk_concern)

    grouped, reached = groups(outcome.recommendations, outcome.deferring, monitor)
    return {
        "next_step": next_step(grouped),
        "reached": reached,
        **grouped,
        "data_needed": data_needed(outcome, ctx, findings),
        "overridden": overridden(outcome, ctx),
        "ladder": ladder(outcome, ctx, findings, reached),
    }


__all__ = ["build_plan", "data_needed", "groups", "next_step", "overridden"]
