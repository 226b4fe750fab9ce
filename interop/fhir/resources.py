"""Reading FHIR input: gather resources, group them by patient, select, then validate.

Selection comes first and is cheap (resource type and code on the raw JSON); only the selected
resources are validated with the ``fhir.resources`` R4B models (validating a whole 2 MB Synthea
bundle costs ~25x more). A resource that fails validation is reported as
``ResourceType/id#/path: message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .errors import FhirError, location
from .terminology import LOINC, Terminology, terminology

Resource = dict[str, Any]

#: Resource types that carry patient data we map; everything else is skipped unread.
PATIENT_TYPES = (
    "Condition",
    "Observation",
    "QuestionnaireResponse",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationDispense",
    "Procedure",
)
MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationDispense")


def is_fhir(data: object) -> bool:
    """True for FHIR JSON content (an object with a string ``resourceType``)."""
    return isinstance(data, Mapping) and isinstance(data.get("resourceType"), str)


def iter_resources(data: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[Resource]:
    """The resources of a Bundle (any type, nested Bundles included), a single resource or a
    list of resources. ``fullUrl`` is kept as ``_fullUrl`` to resolve ``urn:uuid`` references."""
    out: list[Resource] = []
    items: Iterable[Mapping[str, Any]] = [data] if isinstance(data, Mapping) else data
    for item in items:
        if item.get("resourceType") == "Bundle":
            for entry in item.get("entry") or []:
                res = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(res, Mapping):
                    if res.get("resourceType") == "Bundle":
                        out.extend(iter_resources(res))
                        continue
                    r = dict(res)
                    if isinstance(entry.get("fullUrl"), str):
                        r["_fullUrl"] = entry["fullUrl"]
                    out.append(r)
        elif is_fhir(item):
            out.append(dict(item))
    return out


def subject_ref(resource: Mapping[str, Any]) -> str | None:
    """The patient reference of a resource (``subject`` or ``patient``), if any."""
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def patient_key(ref: str, by_url: Mapping[str, str]) -> str:
    """Patient id for a reference: ``Patient/x``, an absolute URL ending in it, or a fullUrl."""
    if ref in by_url:
        return by_url[ref]
    if "Patient/" in ref:
        return ref.rsplit("Patient/", 1)[1].split("/_history", 1)[0]
    return ref.rsplit(":", 1)[-1]


@dataclass
class PatientData:
    """The selected, validated resources of one patient."""

    patient: Resource | None
    by_type: dict[str, list[Resource]] = field(default_factory=dict)
    medications: dict[str, Resource] = field(default_factory=dict)  # Medication by reference

    def of(self, rtype: str) -> list[Resource]:
        return self.by_type.get(rtype, [])


def group_by_patient(resources: list[Resource]) -> dict[str, list[Resource]]:
    """Resources per patient id; resources without a subject (Medication) go to every patient
    under the key ``""``."""
    by_url = {
        r["_fullUrl"]: str(r.get("id"))
        for r in resources
        if r.get("resourceType") == "Patient" and "_fullUrl" in r
    }
    groups: dict[str, list[Resource]] = {}
    for r in resources:
        if r.get("resourceType") == "Patient":
            groups.setdefault(str(r.get("id")), []).append(r)
            continue
        ref = subject_ref(r)
        key = "" if ref is None else patient_key(ref, by_url)
        groups.setdefault(key, []).append(r)
    return groups


def _codings(concept: object) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def _observation_wanted(r: Mapping[str, Any], term: Terminology) -> bool:
    for c in _codings(r.get("code")):
        system, code = c.get("system"), c.get("code")
        for vs in ("phq9-total", "phq9-panel", "phq9-item9", "pregnancy-status"):
            if term.member(vs, system, code):
                return True
        if system == LOINC and term.translate("cssrs-screener", system, code):
            return True
    return False


def _wanted(r: Mapping[str, Any], term: Terminology) -> bool:
    """Selection by type and code, on the raw JSON."""
    rtype = r.get("resourceType")
    if rtype in ("Condition", "QuestionnaireResponse", "Patient", "Medication"):
        return True
    if rtype == "Observation":
        return _observation_wanted(r, term)
    if rtype == "Procedure":
        return any(
            term.member(vs, c.get("system"), c.get("code"))
            for c in _codings(r.get("code"))
            for vs in ("ect", "psychotherapy")
        )
    return rtype in MEDICATION_TYPES


def validate(resource: Resource) -> None:
    """Validate one resource with its R4B model; raise :class:`FhirError` naming the path."""
    from fhir.resources.R4B import get_fhir_model_class

    data = {k: v for k, v in resource.items() if k != "_fullUrl"}
    try:
        model = get_fhir_model_class(str(resource.get("resourceType")))
    except KeyError as exc:
        raise FhirError(
            "<fhir>",
            [(location(resource), f"unknown resource type {resource.get('resourceType')!r}")],
        ) from exc
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors = [
            (
                location(resource, "".join(f"/{p}" for p in err["loc"])),
                err["msg"],
            )
            for err in exc.errors()
        ]
        raise FhirError("<fhir>", errors) from None


def select(resources: list[Resource], patient_id: str, shared: list[Resource]) -> PatientData:
    """Select the resources of one patient that the mapping reads, and validate only those."""
    term = terminology()
    data = PatientData(patient=None)
    errors: list[tuple[str, str]] = []
    for r in [*resources, *shared]:
        if not _wanted(r, term):
            continue
        try:
            validate(r)
        except FhirError as exc:
            errors.extend(exc.errors)
            continue
        rtype = str(r["resourceType"])
        if rtype == "Patient":
            data.patient = r
        elif rtype == "Medication":
            data.medications[f"Medication/{r.get('id')}"] = r
            if "_fullUrl" in r:
                data.medications[str(r["_fullUrl"])] = r
        else:
            data.by_type.setdefault(rtype, []).append(r)
    if errors:
        raise FhirError(f"Patient/{patient_id}", errors)
    return data
