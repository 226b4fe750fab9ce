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


#: Deepest nesting of a resource that is read (JSON levels). Real resources are ~12 deep; the
#: FHIR models and the QuestionnaireResponse walk recurse per level, and ~250 levels exhaust
#: Python's stack.
MAX_FHIR_DEPTH = 64


def iter_resources(data: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[Resource]:
    """The resources of a Bundle (any type, nested Bundles included), a single resource or a
    list of resources. ``fullUrl`` is kept as ``_fullUrl`` to resolve ``urn:uuid`` references.

    The shape is checked on the way (iteratively: nested Bundles cannot exhaust the stack): an
    entry list, entry or resource that is not a JSON object is a :class:`FhirError` naming
    where it is."""
    out: list[Resource] = []
    if isinstance(data, Mapping):
        top: list[tuple[Any, str]] = [(data, "")]
    elif isinstance(data, (list, tuple)):
        top = [(item, f"/{i}") for i, item in enumerate(data)]
    else:
        raise FhirError("<fhir>", [("/", f"not FHIR content: {type(data).__name__}")])
    stack = list(reversed(top))
    while stack:
        item, where = stack.pop()
        if not isinstance(item, Mapping):
            raise FhirError("<fhir>", [(where or "/", "not a FHIR resource (a JSON object)")])
        if item.get("resourceType") != "Bundle":
            if not is_fhir(item):
                raise FhirError("<fhir>", [(f"{where}/resourceType", "no resourceType")])
            out.append(dict(item))
            continue
        entries = item.get("entry")
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise FhirError("<fhir>", [(location(item, "/entry"), "entry is not a list")])
        nested: list[tuple[Any, str]] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise FhirError("<fhir>", [(location(item, f"/entry/{i}"), "not an object")])
            res = entry.get("resource")
            if res is None:  # a request/response-only entry carries no resource
                continue
            if not isinstance(res, Mapping):
                raise FhirError(
                    "<fhir>", [(location(item, f"/entry/{i}/resource"), "not an object")]
                )
            if not isinstance(res.get("resourceType"), str):  # it would never be read
                raise FhirError(
                    "<fhir>",
                    [(location(item, f"/entry/{i}/resource/resourceType"), "no resourceType")],
                )
            if res.get("resourceType") == "Bundle":
                nested.append((res, f"{where}/entry/{i}/resource"))
                continue
            r = dict(res)
            if isinstance(entry.get("fullUrl"), str):
                r["_fullUrl"] = entry["fullUrl"]
            out.append(r)
        stack.extend(reversed(nested))
    return out


def _check_depth(resource: Mapping[str, Any]) -> None:
    """Refuse a resource nested deeper than :data:`MAX_FHIR_DEPTH` levels (iteratively)."""
    stack: list[tuple[Any, str, int]] = [(resource, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_FHIR_DEPTH:
            raise FhirError(
                "<fhir>",
                [(location(resource, path), f"nested more than {MAX_FHIR_DEPTH} levels deep")],
            )
        items: Iterable[tuple[Any, Any]]
        if isinstance(node, Mapping):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        stack.extend(
            (value, f"{path}/{key}", depth + 1)
            for key, value in items
            if isinstance(value, (Mapping, list))
        )


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
        key = ref.rsplit("Patient/", 1)[1].split("/_history", 1)[0]
    else:
        key = ref.rsplit(":", 1)[-1]
    # "" is the key of resources without a subject, shared by every patient: a reference
    # naming no one ("Patient/", "urn:uuid:") must not make a Condition everyone's
    return key or ref


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
    coding = concept.get("coding")  # raw JSON, not validated yet: any type at all
    return [c for c in coding if isinstance(c, Mapping)] if isinstance(coding, list) else []


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

    _check_depth(resource)
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


def _without_nulls(node: Any) -> Any:
    """A copy without ``"key": null`` members: the FHIR models read them as absent, and so does
    the mapping (``"valueQuantity": null`` is no quantity). Depth is bounded by validation."""
    if isinstance(node, Mapping):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(v) for v in node]
    return node


def _content(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if k != "_fullUrl"}


def select(resources: list[Resource], patient_id: str, shared: list[Resource]) -> PatientData:
    """Select the resources of one patient that the mapping reads, and validate only those."""
    term = terminology()
    data = PatientData(patient=None)
    errors: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], Resource] = {}
    for r in [*resources, *shared]:
        if not _wanted(r, term):
            continue
        if isinstance(r.get("id"), str):
            # one resource given twice (a search page overlap) counts once; two different
            # contents under one id (two birthDates, two totals) cannot both be true
            key, content = (str(r["resourceType"]), r["id"]), _content(r)
            if key in seen:
                if seen[key] != content:
                    errors.append(
                        (location(r), "given twice with different content: which one is right?")
                    )
                continue
            seen[key] = content
        try:
            validate(r)
        except FhirError as exc:
            errors.extend(exc.errors)
            continue
        r = _without_nulls(r)
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
