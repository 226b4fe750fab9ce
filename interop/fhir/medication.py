"""Medication resources → antidepressant trials and augmentations; Procedures → therapy.

A trial is one antidepressant ingredient in one episode, from every MedicationRequest,
MedicationStatement and MedicationDispense that names it. Derived, each with its inputs shown:
weeks on drug (from the resources' periods), ``dose_adequate`` (total daily dose from the dosage
against the §11.8 minimum-dose table; an unknown drug, unit or frequency leaves it not recorded,
never false) and the outcome (only from PHQ-9 totals dated inside the trial window, with the
project's thresholds; otherwise not recorded).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ...schemas.settings import Settings
from .builder import Builder
from .clinical import Score
from .errors import location
from .resources import MEDICATION_TYPES, PatientData, Resource
from .terminology import RXNORM, SNOMED, Terminology
from .util import codings, fhir_date

_SKIP_STATUS = {"entered-in-error", "cancelled", "draft", "not-taken", "declined", "unknown"}
_OPEN_STATUS = {"active", "on-hold", "intended", "in-progress"}
_UNIT_MG = {"mg", "milligram", "milligrams"}
_UNIT_DOSE_FORM = {
    "{tbl}",
    "tbl",
    "tab",
    "tablet",
    "tablets",
    "{tablet}",
    "{capsule}",
    "capsule",
    "capsules",
    "cap",
    "{cap}",
}
_PERIOD_DAYS = {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0}
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*MG\b", re.IGNORECASE)
_TEXT_MG_DAILY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*mg\s+(?:once\s+)?daily\s*$", re.IGNORECASE)
_TEXT_UNITS_DAILY = re.compile(
    r"^\s*take\s+(\d+)\s+(?:tablet|tablets|capsule|capsules)\s+(?:once\s+)?daily\s*$",
    re.IGNORECASE,
)
ADHERENCE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-medication-adherence"


@dataclass(frozen=True)
class Product:
    ingredient: str
    strength_mg: float | None
    extended_release: bool
    at: str


@dataclass
class MedUse:
    """One medication resource read as a use of one ingredient."""

    resource: Resource
    product: Product
    start: date | None
    end: date | None
    open: bool
    start_at: str
    end_at: str
    daily_mg: float | None = None
    dose_at: str = ""
    dose_rule: str = ""
    adherence: str | None = None
    adherence_at: str = ""

    def running(self, today: date) -> bool:
        """Active, or its supply or period reaches past ``today``."""
        return self.open or (self.end is not None and self.end > today)


def resolve_products(r: Resource, pd: PatientData, term: Terminology) -> list[Product] | None:
    """Ingredients of a medication resource: its own coding or a referenced Medication's code
    and ``ingredient`` (a contained one, ``#id``, included); each coding through the product
    table, the RxNorm ingredient table or ingredient names in the display/text. Unknown →
    nothing (never a guess); ``None`` when the referenced Medication is not in the data (what
    was ordered cannot be told: it could be an antidepressant)."""
    concept, base = r.get("medicationCodeableConcept"), "/medicationCodeableConcept"
    med: Resource | None = None
    owner, prefix = r, ""
    ref = (r.get("medicationReference") or {}).get("reference")
    if isinstance(ref, str):
        if ref.startswith("#"):
            for k, c in enumerate(r.get("contained") or []):
                if c.get("resourceType") == "Medication" and f"#{c.get('id')}" == ref:
                    med, prefix = c, f"/contained/{k}"  # located inside its container
                    break
        elif ref in pd.medications:
            med = pd.medications[ref]
            owner = med
        if med is None:
            return None
        concept, base = med.get("code"), f"{prefix}/code"
    found = _from_concept(concept, owner, base, term)
    if not found and med is not None:
        for i, ing in enumerate(med.get("ingredient") or []):
            mg = _strength_mg(ing.get("strength") or {})
            for p in _from_concept(
                ing.get("itemCodeableConcept"),
                owner,
                f"{prefix}/ingredient/{i}/itemCodeableConcept",
                term,
            ):
                found.append(Product(p.ingredient, mg, p.extended_release, p.at))
    return found


def _unit(quantity: Mapping[str, Any]) -> str:
    return str(quantity.get("code", quantity.get("unit", ""))).lower()


def _strength_mg(ratio: Mapping[str, Any]) -> float | None:
    """mg per dose unit (tablet, capsule) of an ingredient strength (a Ratio): the numerator
    in mg over one tablet or capsule (or no denominator). Any other denominator (100 mg per
    5 mL, per 2 tablets) is not mg per tablet: ``None``, never read as if it were."""
    numerator = ratio.get("numerator") or {}
    denominator = ratio.get("denominator")
    if _unit(numerator) not in _UNIT_MG:
        return None
    if denominator is not None and not (
        denominator.get("value") == 1 and _unit(denominator) in _UNIT_DOSE_FORM | {"", "1"}
    ):
        return None
    value = numerator.get("value")
    return float(value) if isinstance(value, (int, float)) else None


def _from_concept(concept: object, owner: Resource, base: str, term: Terminology) -> list[Product]:
    text_all = " ".join(
        [str(c.get("display", "")) for _, c in codings(concept)]
        + [str((concept or {}).get("text", "")) if isinstance(concept, Mapping) else ""]
    )
    er = bool(re.search(r"extended release|\bER\b|\bCR\b|\bXR\b", text_all, re.IGNORECASE))
    for i, c in codings(concept):
        at = location(owner, f"{base}/coding/{i}/code")
        if c.get("system") != RXNORM:
            continue
        target = term.target("rxnorm-product-ingredient", RXNORM, c.get("code"))
        if target:
            mg = float(target["product"][0]["value"])
            return [Product(str(target["code"]), mg, er, at)]
        name = term.rxnorm_ingredient.get(str(c.get("code")))
        if name:
            return [Product(name, None, er, at)]
    for i, c in codings(concept):
        names = term.ingredient_in_text(str(c.get("display", "")))
        if names:
            strength = _STRENGTH.findall(str(c.get("display", "")))
            per_unit = float(strength[0]) if len(names) == 1 and len(strength) == 1 else None
            at = location(owner, f"{base}/coding/{i}/display")
            return [Product(n, per_unit, er, at) for n in names]
    if isinstance(concept, Mapping):
        names = term.ingredient_in_text(str(concept.get("text", "")))
        return [Product(n, None, er, location(owner, f"{base}/text")) for n in names]
    return []


def _period(r: Resource, today: date) -> tuple[date | None, date | None, bool, str, str]:
    """(start, end, open, start path, end path) of a medication resource."""
    rtype, status = r["resourceType"], r.get("status")
    is_open = status in _OPEN_STATUS
    if rtype == "MedicationRequest":
        validity = (r.get("dispenseRequest") or {}).get("validityPeriod") or {}
        start = fhir_date(r.get("authoredOn")) or fhir_date(validity.get("start"))
        spath = "/authoredOn" if "authoredOn" in r else "/dispenseRequest/validityPeriod/start"
        end = None if is_open else fhir_date(validity.get("end"))
        return start, end, is_open, spath, "/dispenseRequest/validityPeriod/end"
    if rtype == "MedicationStatement":
        period = r.get("effectivePeriod") or {}
        start = fhir_date(period.get("start")) or fhir_date(r.get("effectiveDateTime"))
        spath = "/effectivePeriod/start" if period.get("start") else "/effectiveDateTime"
        end = fhir_date(period.get("end"))
        return start, end, is_open and end is None, spath, "/effectivePeriod/end"
    start = fhir_date(r.get("whenHandedOver")) or fhir_date(r.get("whenPrepared"))
    spath = "/whenHandedOver" if "whenHandedOver" in r else "/whenPrepared"
    days = (r.get("daysSupply") or {}).get("value")
    end = None
    if start and isinstance(days, (int, float)):
        try:
            end = start + timedelta(days=float(days))
        except (OverflowError, ValueError):  # beyond the calendar: no end date, not a crash
            end = None
    return start, end, False, spath, "/daysSupply/value"


def _daily_dose(r: Resource, p: Product) -> tuple[float | None, str, str]:
    """Total daily dose in mg from the first dosage that states it, with path and rule."""
    key = "dosage" if r["resourceType"] == "MedicationStatement" else "dosageInstruction"
    for i, d in enumerate(r.get(key) or []):
        base = f"/{key}/{i}"
        for j, dr in enumerate(d.get("doseAndRate") or []):
            q = dr.get("doseQuantity")
            if not isinstance(q, Mapping) or not isinstance(q.get("value"), (int, float)):
                continue
            unit = str(q.get("code") or q.get("unit") or "").lower()
            if unit in _UNIT_MG:
                per_dose, how = float(q["value"]), f"{q['value']} mg"
            elif unit in _UNIT_DOSE_FORM and p.strength_mg is not None:
                per_dose = float(q["value"]) * p.strength_mg
                how = f"{q['value']} × {p.strength_mg:g} mg"
            else:
                continue
            rep = (d.get("timing") or {}).get("repeat") or {}
            freq, period, unit_p = rep.get("frequency"), rep.get("period"), rep.get("periodUnit")
            if not (
                isinstance(freq, int)
                and isinstance(period, (int, float))
                and period > 0
                and unit_p in _PERIOD_DAYS
            ):
                continue
            daily = per_dose * freq / (period * _PERIOD_DAYS[str(unit_p)])
            return (
                daily,
                location(r, f"{base}/doseAndRate/{j}/doseQuantity/value"),
                (f"{how} × {freq} per {period:g} {unit_p} = {daily:g} mg/day"),
            )
        text = str(d.get("text", ""))
        m = _TEXT_MG_DAILY.match(text)
        if m:
            daily = float(m[1])
            return daily, location(r, f"{base}/text"), f"'{text}' = {daily:g} mg/day"
        m = _TEXT_UNITS_DAILY.match(text)
        if m and p.strength_mg is not None:
            daily = int(m[1]) * p.strength_mg
            return (
                daily,
                location(r, f"{base}/text"),
                (f"'{text}' × {p.strength_mg:g} mg = {daily:g} mg/day"),
            )
    return None, "", ""


def _adherence(r: Resource, term: Terminology) -> tuple[str | None, str]:
    for i, ext in enumerate(r.get("extension") or []):
        if ext.get("url") != ADHERENCE_URL:
            continue
        for j, sub in enumerate(ext.get("extension") or []):
            if sub.get("url") != "medicationAdherence":
                continue
            for k, c in codings(sub.get("valueCodeableConcept")):
                value = term.translate("medication-adherence", c.get("system"), c.get("code"))
                if value:
                    return value, location(
                        r, f"/extension/{i}/extension/{j}/valueCodeableConcept/coding/{k}/code"
                    )
    return None, ""


def medication_uses(b: Builder, pd: PatientData, term: Terminology) -> list[MedUse]:
    uses: list[MedUse] = []
    for rtype in MEDICATION_TYPES:
        for r in pd.of(rtype):
            if r.get("status") in _SKIP_STATUS or r.get("intent") in ("proposal", "plan"):
                continue
            products = resolve_products(r, pd, term)
            if products is None:
                ref = r["medicationReference"]["reference"]
                b.need(
                    "/antidepressant_trials",
                    f"what {location(r)[:-1]} orders or records",
                    f"its medication {ref} is not in the data: it could be an antidepressant",
                )
                continue
            for p in products:
                start, end, is_open, spath, epath = _period(r, b.today)
                if start is not None and start > b.today:
                    continue  # not yet recorded at the evaluation date
                use = MedUse(r, p, start, end, is_open, location(r, spath), location(r, epath))
                use.daily_mg, use.dose_at, use.dose_rule = _daily_dose(r, p)
                use.adherence, use.adherence_at = _adherence(r, term)
                uses.append(use)
    return uses


@dataclass
class Course:
    """Uses of one ingredient in one episode."""

    ingredient: str
    episode: str
    uses: list[MedUse] = field(default_factory=list)

    @property
    def start(self) -> date | None:
        days = [u.start for u in self.uses if u.start]
        return min(days) if days else None

    @property
    def open(self) -> bool:
        return any(u.open for u in self.uses)

    def running(self, today: date) -> bool:
        """Still being taken at ``today``: an active order or statement, or a supply or period
        that reaches past it (a 90-day dispense handed over last week)."""
        return any(u.running(today) for u in self.uses)

    @property
    def end(self) -> date | None:
        if self.open or any(u.end is None for u in self.uses):
            return None
        return max(u.end for u in self.uses if u.end)


def courses(uses: list[MedUse], onset: date | None) -> list[Course]:
    """Group uses per (ingredient, episode); a use that ended before the episode onset belongs
    to a previous episode."""
    out: dict[tuple[str, str], Course] = {}
    for u in sorted(uses, key=lambda u: (u.product.ingredient, u.start or date.min)):
        last = u.end or u.start
        episode = "previous" if (onset and last and not u.open and last < onset) else "current"
        out.setdefault(
            (u.product.ingredient, episode), Course(u.product.ingredient, episode)
        ).uses.append(u)
    return list(out.values())


def derive_outcome(
    scores: list[Score], start: date | None, end: date | None, settings: Settings
) -> tuple[str | None, str, list[str]]:
    """Outcome from PHQ-9 totals dated inside [start, end]; None when fewer than two."""
    if start is None or end is None:
        return None, "", []
    inside = sorted(
        (s for s in scores if s.day and s.total is not None and start <= s.day <= end),
        key=lambda s: s.day or date.min,
    )
    if len(inside) < 2 or inside[0].day == inside[-1].day:
        return None, "", []
    first, last = inside[0], inside[-1]
    base, end_score = first.total or 0, last.total or 0  # both set: filtered above
    if base == 0:
        return None, "", []
    reduction = (base - end_score) / base
    if end_score <= settings.remission_max_phq9:
        outcome = "remission"
    elif reduction >= settings.response_min_reduction:
        outcome = "response_without_remission"
    elif reduction >= settings.partial_response_min_reduction:
        outcome = "partial_response"
    else:
        outcome = "no_response"
    rule = (
        f"PHQ-9 {base} on {first.day} → {end_score} on {last.day} inside the trial "
        f"window: {reduction:.0%} reduction (response ≥ {settings.response_min_reduction:.0%},"
        f" partial ≥ {settings.partial_response_min_reduction:.0%}, remission ≤ "
        f"{settings.remission_max_phq9}) → {outcome}"
    )
    return outcome, rule, [first.total_at, last.total_at]


def weeks_between(start: date, end: date) -> float:
    return round((end - start).days / 7, 1)


def psychotherapy_sessions(pd: PatientData, term: Terminology) -> dict[str, list[Resource]]:
    """Completed psychotherapy Procedures per modality (CBT codes → cbt, others → other)."""
    out: dict[str, list[Resource]] = {}
    for p in pd.of("Procedure"):
        if p.get("status") != "completed":
            continue
        for _, c in codings(p.get("code")):
            if c.get("system") == SNOMED and term.member("psychotherapy", SNOMED, c.get("code")):
                modality = "cbt" if c.get("code") in ("304891004", "228557008") else "other"
                out.setdefault(modality, []).append(p)
                break
    return out


def ect_sessions(pd: PatientData, term: Terminology) -> list[Resource]:
    return [
        p
        for p in pd.of("Procedure")
        if p.get("status") == "completed"
        and any(
            term.member("ect", c.get("system"), c.get("code")) for _, c in codings(p.get("code"))
        )
    ]


def procedure_date(p: Mapping[str, Any]) -> date | None:
    return fhir_date(p.get("performedDateTime")) or fhir_date(
        (p.get("performedPeriod") or {}).get("start")
    )
