"""Cards from report data: pure functions, no I/O, no clock (CDS Hooks 2.0 §Card Attributes).

Few and useful, in this order:

1. a ``critical`` **safety card** when a safety gate is up (its rationale, rules and sources;
   a referral ServiceRequest suggestion when the report recommends an urgent referral);
2. on order hooks, one **order card** per draft order that a rule blocks: ``critical``, or
   ``warning`` when only the person's stated preference blocks it; the reason, the blocking rule
   ``id@version``, ``overrideReasons`` from the HL7 non-adherence reason codes, and suggestions
   with FHIR actions (remove the draft order; a referral where one is recommended);
3. one **plan card**: the next step in the summary (≤ 140 characters) and the plan, the data
   needed and the sources in ``detail`` as GitHub-flavoured Markdown without raw HTML.

The plan comes from ``report["plan"]`` when the report has one (``next_step``,
``now/next/later/throughout``, ``data_needed``); otherwise from the recommendations in order
(the first is the next step). Every card names the ruleset and version in ``source``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...schemas.options import OPTION_MEANING, Option
from .models import Action, Card, Coding, Link, Source, Suggestion
from .services import DraftOrder

#: gates that put safety before any routine step (the safety card shows them)
SAFETY_GATES = (
    "safety_escalation_first",
    "suicide_risk_assessment_required",
    "catatonia_or_life_threatening",
)
OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
OVERRIDE_REASONS = (
    Coding(system=OVERRIDE_SYSTEM, code="patient-refuses", display="Patient refuses"),
    Coding(
        system=OVERRIDE_SYSTEM,
        code="patient-contraindication",
        display="Contraindication for the patient",
    ),
)
SUMMARY_MAX = 140
_REFERRALS = (Option.urgent_crisis_referral, Option.specialist_mental_health_referral)
_GROUPS = ("now", "next", "later", "throughout")

#: (card index, suggestion index; 0 = the card itself) -> uuid
UuidFor = Callable[[int, int], str]


# ----------------------------------------------------------------------------- text


def md(text: object) -> str:
    """Text for GFM without raw HTML: ``<``, ``>`` and ``&`` become entities."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    """At most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-")
    return cut + "…"


def option_label(option: str) -> str:
    names = {"ect": "ECT", "tms": "TMS", "cbt": "CBT", "dbt": "DBT", "ipt": "IPT"}
    names |= {"mbct": "MBCT", "act": "ACT", "emdr": "EMDR"}
    if option in names:
        return names[option]
    return option.replace("_", " ").capitalize()


def _meaning(option: str) -> str:
    try:
        return OPTION_MEANING[Option(option)]
    except (ValueError, KeyError):
        return option_label(option)


def source(report: Mapping[str, Any]) -> Source:
    ruleset = report.get("provenance", {}).get("ruleset", {})
    return Source(label=f"trd-cds ruleset {ruleset.get('id')}@{ruleset.get('version')}")


# ----------------------------------------------------------------------------- plan


def _option_of(item: object) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        value = item.get("option")
        return str(value) if value is not None else None
    return None


def _recommendation(report: Mapping[str, Any], option: str) -> Mapping[str, Any]:
    for rec in report.get("recommendations", []):
        if rec.get("option") == option:
            return rec  # type: ignore[no-any-return]
    return {}


def next_step(report: Mapping[str, Any]) -> tuple[str, str] | None:
    """(option, reason) of the plan's next step, or of the first recommendation."""
    plan = report.get("plan")
    if isinstance(plan, Mapping) and plan.get("next_step"):
        step = plan["next_step"]
        option = _option_of(step)
        if option:
            reason = step.get("reason") if isinstance(step, Mapping) else None
            if not reason:
                reason = " ".join(_recommendation(report, option).get("rationale", []))
            return option, str(reason or "")
    recs = report.get("recommendations", [])
    if not recs:
        return None
    return str(recs[0]["option"]), " ".join(recs[0].get("rationale", []))


def plan_groups(report: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(group, options) in plan order; without a plan, every recommendation under 'Plan'."""
    plan = report.get("plan")
    if isinstance(plan, Mapping) and any(plan.get(g) for g in _GROUPS):
        out = []
        for group in _GROUPS:
            options = [o for o in (_option_of(i) for i in plan.get(group) or []) if o]
            if options:
                out.append((group, options))
        return out
    return [("plan", [str(r["option"]) for r in report.get("recommendations", [])])]


def data_needed(report: Mapping[str, Any], fhir_needed: Sequence[Mapping[str, Any]]) -> list[str]:
    """What to record: the plan's data-needed items, then what FHIR could not supply."""
    lines: list[str] = []
    plan = report.get("plan")
    items = plan.get("data_needed") if isinstance(plan, Mapping) else None
    for item in items or []:
        if isinstance(item, Mapping):
            what = item.get("label") or item.get("pointer") or ""
            affects = ", ".join(str(o).replace("_", " ") for o in item.get("affects") or [])
            pointer = item.get("pointer")
            line = f"{what} (`{pointer}`)" if pointer else str(what)
            lines.append(f"{line}: could change {affects}" if affects else line)
        else:
            lines.append(str(item))
    for item in fhir_needed:
        line = f"{item.get('record')} (`{item.get('pointer')}`): {item.get('reason')}"
        if line not in lines:
            lines.append(line)
    return lines


def plan_detail(report: Mapping[str, Any], fhir_needed: Sequence[Mapping[str, Any]]) -> str:
    """The plan as GFM (no raw HTML): next step, groups, blocked, data needed, sources."""
    out: list[str] = []
    step = next_step(report)
    if step:
        out += [f"**Next step: {md(option_label(step[0]))}.** {md(step[1])}", ""]
    for group, options in plan_groups(report):
        out += [f"### {group.capitalize()}", ""]
        for option in options:
            rec = _recommendation(report, option)
            strength = f" ({md(rec['strength'])})" if rec.get("strength") else ""
            after = " — after stabilisation" if rec.get("after_stabilisation") else ""
            rules = ", ".join(f"`{r}`" for r in rec.get("rules", []))
            out.append(f"- **{md(option_label(option))}**{strength}{after}: {md(_meaning(option))}")
            if rules:
                out.append(f"  rules: {rules}")
        out.append("")
    blocked = report.get("blocked", [])
    if blocked:
        out += ["### Not recommended", ""]
        for b in blocked:
            rules = ", ".join(f"`{r}`" for r in b.get("rules", []))
            overrode = b.get("overrode") or []
            note = f" (overrode {', '.join(f'`{r}`' for r in overrode)})" if overrode else ""
            reasons = md(" ".join(b.get("reasons", [])))
            out.append(f"- **{md(option_label(b['option']))}**: {reasons} {rules}{note}")
        out.append("")
    needed = data_needed(report, fhir_needed)
    if needed:
        out += ["### Data needed", ""]
        out += [f"- {md(line)}" for line in needed]
        out.append("")
    citations: list[str] = []
    for part in ("gates", "recommendations", "blocked"):
        for item in report.get(part, []):
            citations += [c for c in item.get("citations", []) if c not in citations]
    if citations:
        out += ["### Sources", ""]
        out += [f"- {md(c)}" for c in citations]
        out.append("")
    out.append(f"_{md(report.get('disclaimer', ''))}_")
    return "\n".join(out).strip() + "\n"


# ---------------------------------------------------------------------------- cards


def _referral_action(option: str, patient_id: str) -> Action:
    return Action(
        type="create",
        description=f"Create a draft referral: {option_label(option)}",
        resource={
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {"text": _meaning(option)},
        },
    )


def safety_card(
    report: Mapping[str, Any], patient_id: str, uuid_for: UuidFor, index: int
) -> Card | None:
    """The critical card for the safety gates that are up, or None."""
    gates = [g for g in report.get("gates", []) if g.get("gate") in SAFETY_GATES]
    if not gates:
        return None
    names = ", ".join(option_label(g["gate"]).lower() for g in gates)
    lines = []
    for g in gates:
        rules = ", ".join(f"`{r}`" for r in g.get("rules", []))
        lines.append(f"- **{md(option_label(g['gate']))}**: {md(' '.join(g['rationale']))} {rules}")
        lines.append(f"  sources: {md('; '.join(g.get('citations', [])))}")
    suggestions = None
    recommended = {r.get("option") for r in report.get("recommendations", [])}
    if Option.urgent_crisis_referral.value in recommended:
        suggestions = [
            Suggestion(
                label="Refer urgently (same-day specialist assessment)",
                uuid=uuid_for(index, 1),
                isRecommended=True,
                actions=[_referral_action(Option.urgent_crisis_referral.value, patient_id)],
            )
        ]
    return Card(
        uuid=uuid_for(index, 0),
        summary=clip(f"Safety first: {names}"),
        detail="\n".join(lines) + "\n",
        indicator="critical",
        source=source(report),
        suggestions=suggestions,
        selectionBehavior="at-most-one" if suggestions else None,
    )


def order_card(
    report: Mapping[str, Any],
    order: DraftOrder,
    patient_id: str,
    uuid_for: UuidFor,
    index: int,
) -> Card | None:
    """The card for one draft order that a rule blocks, or None when nothing blocks it."""
    wanted = {o.value for o in order.options}
    blocks = [b for b in report.get("blocked", []) if b.get("option") in wanted]
    if not blocks:
        return None
    rules: list[str] = []
    reasons: list[str] = []
    for b in blocks:
        rules += [r for r in b.get("rules", []) if r not in rules]
        reasons += [r for r in b.get("reasons", []) if r not in reasons]
    preference_only = all(r.startswith("preference.") for r in rules)
    detail = [
        f"The draft order `{md(order.reference)}` ({md(order.what)}) is not recommended:",
        "",
        *[f"- {md(r)}" for r in reasons],
        "",
        "Blocking rule(s): " + ", ".join(f"`{r}`" for r in rules),
    ]
    citations: list[str] = []
    for b in blocks:
        citations += [c for c in b.get("citations", []) if c not in citations]
    if citations:
        detail += ["", "Sources: " + md("; ".join(citations))]
    suggestions = [
        Suggestion(
            label=f"Remove the draft {order.label} order",
            uuid=uuid_for(index, 1),
            isRecommended=True,
            actions=[
                Action(
                    type="delete",
                    description=f"Remove the draft order {order.reference}",
                    resourceId=order.reference,
                )
            ],
        )
    ]
    recommended = {r.get("option") for r in report.get("recommendations", [])}
    for option in _REFERRALS:
        if option.value in recommended:
            suggestions.append(
                Suggestion(
                    label=f"Refer instead: {option_label(option.value)}",
                    uuid=uuid_for(index, 2),
                    isRecommended=False,
                    actions=[_referral_action(option.value, patient_id)],
                )
            )
            break
    return Card(
        uuid=uuid_for(index, 0),
        summary=clip(
            f"Not recommended: {order.what} ({rules[0]}): {reasons[0] if reasons else ''}"
        ),
        detail="\n".join(detail) + "\n",
        indicator="warning" if preference_only else "critical",
        source=source(report),
        suggestions=suggestions,
        selectionBehavior="at-most-one",
        overrideReasons=list(OVERRIDE_REASONS),
    )


def plan_card(
    report: Mapping[str, Any],
    fhir_needed: Sequence[Mapping[str, Any]],
    uuid_for: UuidFor,
    index: int,
    link: Link | None,
) -> Card:
    step = next_step(report)
    if step is None:
        summary = "TRD plan: no treatment step recommended on the recorded data"
    else:
        summary = clip(f"TRD plan — next: {option_label(step[0])}. {step[1]}")
    return Card(
        uuid=uuid_for(index, 0),
        summary=summary,
        detail=plan_detail(report, fhir_needed),
        indicator="info",
        source=source(report),
        links=[link] if link else None,
    )


def build_cards(
    report: Mapping[str, Any],
    *,
    patient_id: str,
    orders: Sequence[DraftOrder] = (),
    fhir_needed: Sequence[Mapping[str, Any]] = (),
    uuid_for: UuidFor,
    link: Link | None = None,
    with_plan: bool = True,
) -> list[Card]:
    """The cards for one report: safety, blocked draft orders, then the plan."""
    cards: list[Card] = []
    safety = safety_card(report, patient_id, uuid_for, len(cards))
    if safety:
        cards.append(safety)
    for order in orders:
        card = order_card(report, order, patient_id, uuid_for, len(cards))
        if card:
            cards.append(card)
    if with_plan:
        cards.append(plan_card(report, fhir_needed, uuid_for, len(cards), link))
    return cards
