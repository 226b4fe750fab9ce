"""The services this CDS Hooks endpoint offers, their prefetch templates, and draft orders.

Three services (CDS Hooks 2.0 §Discovery): ``trd-plan`` on ``patient-view`` (the TRD plan),
``trd-order-select`` and ``trd-order-sign`` (antidepressant, augmentation, esketamine, ECT and
TMS draft orders checked against the report's blocks). Each asks for the same prefetch: what
the FHIR adapter (:mod:`trd_cds.interop.fhir`) reads, no more: the Patient, Conditions,
Observations by LOINC code (PHQ-9 total / panel / item 9, C-SSRS screener items, pregnancy
status), MedicationRequests (with their Medications), MedicationStatements,
MedicationDispenses, Procedures by SNOMED code (ECT, psychotherapy) and QuestionnaireResponses.
The codes come from the adapter's shipped terminology, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ...schemas.options import Option
from ..fhir.terminology import LOINC, RXNORM, SNOMED, terminology
from .models import ServiceDefinition

PATIENT_VIEW = "patient-view"
ORDER_SELECT = "order-select"
ORDER_SIGN = "order-sign"

#: a FHIR id (R4 §2.24.0.1 id: [A-Za-z0-9\-\.]{1,64})
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TOKEN = re.compile(r"\{\{\s*context\.patientId\s*\}\}")


def _codes(system: str, values: Iterable[str]) -> str:
    return ",".join(f"{system}|{c}" for c in sorted(set(values)))


@lru_cache(maxsize=1)
def prefetch_templates() -> dict[str, str]:
    """Prefetch key → FHIR query template (``{{context.patientId}}`` is the only token)."""
    term = terminology()
    loinc: set[str] = set()
    for vs in ("phq9-total", "phq9-panel", "phq9-item9", "pregnancy-status"):
        loinc |= {code for system, code in term.valuesets[vs].concepts if system == LOINC}
    loinc |= {code for (system, code) in term.maps["cssrs-screener"] if system == LOINC}
    snomed: set[str] = set()
    for vs in ("ect", "psychotherapy"):
        snomed |= {code for system, code in term.valuesets[vs].concepts if system == SNOMED}
    p = "patient={{context.patientId}}"
    return {
        "patient": "Patient/{{context.patientId}}",
        "conditions": f"Condition?{p}",
        "observations": f"Observation?{p}&code={_codes(LOINC, loinc)}",
        "medicationRequests": f"MedicationRequest?{p}&_include=MedicationRequest:medication",
        "medicationStatements": f"MedicationStatement?{p}",
        "medicationDispenses": f"MedicationDispense?{p}",
        "procedures": f"Procedure?{p}&code={_codes(SNOMED, snomed)}",
        "questionnaireResponses": f"QuestionnaireResponse?{p}",
    }


def fill(template: str, patient_id: str) -> str:
    """A prefetch template with the patient id in it (the id must be a FHIR id)."""
    return _TOKEN.sub(patient_id, template)


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str

    def definition(self) -> ServiceDefinition:
        return ServiceDefinition(
            hook=self.hook,
            title=self.title,
            description=self.description,
            id=self.id,
            prefetch=prefetch_templates(),
            usageRequirements=(
                "Decision support, not a decision. Every prefetch key is needed: a key the "
                "client cannot fill must be fetchable from fhirServer with fhirAuthorization, "
                "else the service answers 412 (missing data is never read as 'no')."
            ),
        )


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "trd-plan",
            PATIENT_VIEW,
            "Treatment-resistant depression plan",
            "The TRD plan for the patient in view: safety first, the next step with its "
            "reason, what is blocked and why, the data still needed, with rules and sources.",
        ),
        Service(
            "trd-order-select",
            ORDER_SELECT,
            "TRD order check (select)",
            "Checks antidepressant, augmentation, esketamine, ECT and TMS draft orders "
            "against the TRD rules' blocks as they are selected.",
        ),
        Service(
            "trd-order-sign",
            ORDER_SIGN,
            "TRD order check (sign)",
            "Checks antidepressant, augmentation, esketamine, ECT and TMS draft orders "
            "against the TRD rules' blocks before they are signed.",
        ),
    )
}


# ---------------------------------------------------------------------------- draft orders

#: the options a kind of draft order puts into effect (a block on any of them applies)
ORDER_OPTIONS: dict[str, tuple[Option, ...]] = {
    "antidepressant": (
        Option.first_line_depression_treatment,
        Option.complete_adequate_antidepressant_trial,
        Option.antidepressant_switch_or_optimisation,
    ),
    "augmentation": (Option.pharmacological_augmentation,),
    "esketamine": (Option.esketamine,),
    "ect": (Option.ect,),
    "tms": (Option.tms,),
}
_ORDER_LABEL = {
    "antidepressant": "antidepressant",
    "augmentation": "augmentation agent",
    "esketamine": "esketamine",
    "ect": "ECT",
    "tms": "TMS",
}
_TMS_TEXT = re.compile(r"\b(tms|rtms|transcranial magnetic)\b", re.IGNORECASE)
_ECT_TEXT = re.compile(r"\b(ect|electroconvulsive)\b", re.IGNORECASE)
_ESKETAMINE_TEXT = re.compile(r"\b(esketamine|spravato)\b", re.IGNORECASE)


@dataclass(frozen=True)
class DraftOrder:
    """A draft order this service checks: its reference, kind and what it was recognised by."""

    reference: str  # ResourceType/id
    kind: str  # a key of ORDER_OPTIONS
    what: str  # e.g. "sertraline" or "ECT"

    @property
    def label(self) -> str:
        return _ORDER_LABEL[self.kind]

    @property
    def options(self) -> tuple[Option, ...]:
        return ORDER_OPTIONS[self.kind]


def _concept_texts(concept: object) -> tuple[list[tuple[str, str]], str]:
    if not isinstance(concept, Mapping):
        return [], ""
    codings = [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding") or []
        if isinstance(c, Mapping)
    ]
    words = [str(concept.get("text", ""))] + [
        str(c.get("display", "")) for c in concept.get("coding") or [] if isinstance(c, Mapping)
    ]
    return codings, " ".join(words)


def _medication_kind(concept: object) -> tuple[str, str] | None:
    term = terminology()
    codings, text = _concept_texts(concept)
    if _ESKETAMINE_TEXT.search(text):
        return "esketamine", "esketamine"
    names: list[str] = []
    for system, code in codings:
        if system == RXNORM:
            name = term.rxnorm_ingredient.get(code) or term.translate(
                "rxnorm-product-ingredient", system, code
            )
            if name:
                names.append(name)
    names += term.ingredient_in_text(text)
    for name in sorted(set(names)):
        if name in term.antidepressants:
            return "antidepressant", name
    for name in sorted(set(names)):
        if name in term.augmenting:
            return "augmentation", name
    return None


def _procedure_kind(concept: object) -> tuple[str, str] | None:
    term = terminology()
    codings, text = _concept_texts(concept)
    if any(term.member("ect", s, c) for s, c in codings) or _ECT_TEXT.search(text):
        return "ect", "ECT"
    if _TMS_TEXT.search(text):
        return "tms", "TMS"
    return None


def draft_orders(
    bundle: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]] | None = None
) -> list[DraftOrder]:
    """The draft orders of ``context.draftOrders`` that this service checks, in bundle order.

    MedicationRequests are recognised by RxNorm code or ingredient name (contained or
    referenced Medications included); ServiceRequests by the SNOMED ECT code or by name
    (TMS has no code in the shipped terminology, so it is recognised by its name only).
    """
    out: list[DraftOrder] = []
    for entry in bundle.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(res, Mapping):
            continue
        rtype, rid = res.get("resourceType"), res.get("id")
        if not isinstance(rid, str) or not FHIR_ID.match(rid):
            continue
        found: tuple[str, str] | None = None
        if rtype == "MedicationRequest":
            found = _medication_kind(res.get("medicationCodeableConcept"))
            ref = res.get("medicationReference")
            if found is None and isinstance(ref, Mapping):
                target = str(ref.get("reference", ""))
                contained = {
                    f"#{c.get('id')}": c for c in res.get("contained") or [] if isinstance(c, dict)
                }
                med = contained.get(target) or (medications or {}).get(target)
                if isinstance(med, Mapping):
                    found = _medication_kind(med.get("code"))
        elif rtype in ("ServiceRequest", "Procedure"):
            found = _procedure_kind(res.get("code"))
        if found is not None:
            out.append(DraftOrder(f"{rtype}/{rid}", found[0], found[1]))
    return out


# ------------------------------------------------------------------- prefetch from a bundle

_PREFETCH_KEY = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medicationRequests",
    "Medication": "medicationRequests",  # as _include=MedicationRequest:medication gives them
    "MedicationStatement": "medicationStatements",
    "MedicationDispense": "medicationDispenses",
    "Procedure": "procedures",
    "QuestionnaireResponse": "questionnaireResponses",
}


def prefetch_from_bundle(bundle: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The prefetch a client would send for a one-patient Bundle: ``patient`` the Patient, and
    one searchset Bundle per other key (empty where the patient has nothing of that type),
    as a FHIR server answers the templates. For examples, tests and the load script."""
    out: dict[str, dict[str, Any]] = {
        key: {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}
        for key in prefetch_templates()
        if key != "patient"
    }
    for entry in bundle.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(res, Mapping):
            continue
        rtype = res.get("resourceType")
        if rtype == "Patient":
            out["patient"] = dict(res)
            continue
        key = _PREFETCH_KEY.get(str(rtype))
        if key is None:
            continue
        item: dict[str, Any] = {"resource": dict(res)}
        if isinstance(entry.get("fullUrl"), str):
            item["fullUrl"] = entry["fullUrl"]
        out[key]["entry"].append(item)
        out[key]["total"] += rtype != "Medication"
    return out
