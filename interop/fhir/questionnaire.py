"""The TRD treatment-history Questionnaire (SDC) and its responses.

FHIR has no place for trial adequacy, adherence, outcomes, psychotherapy modality and sessions,
clinical features or preferences. The shipped Questionnaire (``data/trd-questionnaire.json``,
generated from the case schema by :func:`build_questionnaire` and pinned by a test;
regenerate with ``TRD_CDS_REGENERATE=1 pytest tests/test_fhir_mapping.py -k questionnaire``)
asks for exactly those case sections, one item per case field (schema v2 adds current
medications, the non-suicidal self-injury group ``/suicide_risk/nssi`` and the new flags):
each ``linkId`` *is* the case field's JSON pointer (list sections are repeating groups,
``/antidepressant_trials/drug``), so a
QuestionnaireResponse maps 1:1 onto the case. A repeat may name the FHIR resource it completes
(``…/resource``, a valueReference): its answers then complete the trial derived from it.

Answers are the clinician's word: they override what was derived, and clear the data-needed
items they answer.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from ...schemas import case as case_model
from .builder import Builder
from .errors import FhirError, location
from .terminology import BASE

URL = f"{BASE}/Questionnaire/trd-treatment-history"
VERSION = "2.0.0"  # follows the case schema (v2)

#: case sections the questionnaire asks about: (field of Case, fields included or None = all)
SECTIONS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("patient", ("pregnant", "breastfeeding")),
    ("diagnosis", None),
    ("episode", None),
    ("measurements", None),
    ("antidepressant_trials", None),
    ("augmentations", None),
    ("ect_courses", None),
    ("psychotherapy_trials", None),
    ("suicide_risk", ("clinician_judges_imminent_risk",)),
    ("comorbidities", None),
    ("clinical_features", None),
    ("contraindications", None),
    ("preferences", None),
    ("psychosocial", None),
    ("current_medications", None),
)
#: list sections whose repeats can name the resource they complete
LINKABLE = (
    "antidepressant_trials",
    "augmentations",
    "ect_courses",
    "psychotherapy_trials",
    "current_medications",
)
#: extra C-SSRS detail the LOINC screener has no item for
CSSRS_EXTRA = "/suicide_risk/cssrs/last_behaviour_date"
#: nested sections asked as their own group (schema v2): group linkId → model
NESTED: dict[str, type[BaseModel]] = {"/suicide_risk/nssi": case_model.Nssi}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0])[0], True
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation, False


def _item(link: str, name: str, annotation: Any, description: str | None) -> dict[str, Any]:
    tp, _ = _unwrap(annotation)
    item: dict[str, Any] = {"linkId": link, "text": description or name.replace("_", " ")}
    if isinstance(tp, type) and issubclass(tp, Enum):
        item["type"] = "choice"
        item["answerOption"] = [
            {"valueCoding": {"system": f"{BASE}/CodeSystem/{tp.__name__}", "code": e.value}}
            for e in tp
        ]
    elif tp is bool:
        item["type"] = "boolean"
    elif tp is int:
        item["type"] = "integer"
    elif tp is float:
        item["type"] = "decimal"
    elif tp is date:
        item["type"] = "date"
    else:
        item["type"] = "string"
    return item


def _model_items(prefix: str, model: type[BaseModel], only: tuple[str, ...] | None) -> list[Any]:
    out = []
    for name, f in model.model_fields.items():
        if only is not None and name not in only:
            continue
        out.append(_item(f"{prefix}/{name}", name, f.annotation, f.description))
    return out


def build_questionnaire() -> dict[str, Any]:
    """The TRD treatment-history Questionnaire, generated from the case schema."""
    items: list[dict[str, Any]] = []
    for section, only in SECTIONS:
        annotation = case_model.Case.model_fields[section].annotation
        tp, _ = _unwrap(annotation)
        repeats = typing.get_origin(tp) is list
        model = typing.get_args(tp)[0] if repeats else tp
        children = _model_items(f"/{section}", model, only)
        if section in LINKABLE:
            children.insert(
                0,
                {
                    "linkId": f"/{section}/resource",
                    "type": "reference",
                    "text": "The FHIR resource this entry completes (optional)",
                },
            )
        group: dict[str, Any] = {
            "linkId": f"/{section}",
            "type": "group",
            "text": section.replace("_", " "),
            "item": children,
        }
        if repeats:
            group["repeats"] = True
        items.append(group)
    for link, model in NESTED.items():
        items.append(
            {
                "linkId": link,
                "type": "group",
                "text": model.__doc__.split("(", 1)[0].strip() if model.__doc__ else link,
                "item": _model_items(link, model, None),
            }
        )
    items.append(
        {
            "linkId": "/suicide_risk/cssrs",
            "type": "group",
            "text": "C-SSRS detail the screener has no item for",
            "item": [
                {
                    "linkId": CSSRS_EXTRA,
                    "type": "date",
                    "text": "Date of the most recent suicidal behaviour",
                }
            ],
        }
    )
    return {
        "resourceType": "Questionnaire",
        "id": "trd-treatment-history",
        "meta": {"profile": ["http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"]},
        "url": URL,
        "version": VERSION,
        "name": "TRDTreatmentHistory",
        "title": "Treatment-resistant depression: treatment history and gaps FHIR has no place for",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Each linkId is the JSON pointer of a trd-cds case field (schema "
        f"version {case_model.SCHEMA_VERSION}); answers map 1:1 onto the case.",
        "item": items,
    }


def is_trd_response(qr: Mapping[str, Any]) -> bool:
    return str(qr.get("questionnaire", "")).split("|", 1)[0] == URL


def answer_value(answer: Mapping[str, Any]) -> tuple[Any, str]:
    """The JSON value of one answer and the path it was read from."""
    for key in ("valueBoolean", "valueInteger", "valueDecimal", "valueDate", "valueString"):
        if key in answer:
            return answer[key], f"/{key}"
    if isinstance(answer.get("valueCoding"), Mapping):
        return answer["valueCoding"].get("code"), "/valueCoding/code"
    if isinstance(answer.get("valueReference"), Mapping):
        return answer["valueReference"].get("reference"), "/valueReference/reference"
    raise ValueError("unsupported answer type")


def _fields(qr: Mapping[str, Any], items: list[Any], path: str) -> dict[str, tuple[Any, str]]:
    """Answered child items of a group: field name → (value, FHIR location)."""
    out: dict[str, tuple[Any, str]] = {}
    for i, item in enumerate(items):
        answers = item.get("answer") or []
        if not answers:
            continue
        here = f"{path}/item/{i}/answer/0"
        try:
            value, sub = answer_value(answers[0])
        except ValueError as exc:
            raise FhirError("<fhir>", [(location(qr, here), str(exc))]) from None
        out[str(item["linkId"]).rsplit("/", 1)[-1]] = (value, location(qr, here + sub))
    return out


@lru_cache(maxsize=1)
def _questions() -> frozenset[str]:
    """Every linkId of the shipped questionnaire: its groups and their items."""
    links: set[str] = set()
    for group in build_questionnaire()["item"]:
        links.add(group["linkId"])
        links.update(item["linkId"] for item in group.get("item", []))
    return frozenset(links)


def _check_links(qr: Mapping[str, Any]) -> None:
    """Only the questionnaire's own items are answers: a response answering ``/patient/age``
    or ``/patient/id`` (never asked; FHIR's Patient gives them) would overwrite them, and an
    item of one group under another would land in the wrong section."""
    for i, group in enumerate(qr.get("item") or []):
        link = str(group.get("linkId", ""))
        where = f"/item/{i}/linkId"
        if link in _questions():
            for j, item in enumerate(group.get("item") or []):
                child = str(item.get("linkId", ""))
                if child in _questions() and child.rsplit("/", 1)[0] == link:
                    continue
                link, where = child, f"/item/{i}/item/{j}/linkId"
                break
            else:
                continue
        raise FhirError(
            "<fhir>", [(location(qr, where), f"{link!r} is not an item of the TRD questionnaire")]
        )


def apply_response(b: Builder, qr: Mapping[str, Any]) -> None:
    """Overlay a TRD QuestionnaireResponse onto the case under construction."""
    _check_links(qr)
    answered: set[str] = set()
    claimed: set[str] = set()
    for i, group in enumerate(qr.get("item") or []):
        link = str(group.get("linkId", ""))
        section = link.strip("/")
        fields = _fields(qr, group.get("item") or [], f"/item/{i}")
        if not fields:
            continue
        if link == "/suicide_risk/cssrs":
            if b.get("/suicide_risk/cssrs") and "last_behaviour_date" in fields:
                value, at = fields["last_behaviour_date"]
                b.set(CSSRS_EXTRA, value, at)
            continue
        if link in NESTED:
            for name, (value, at) in fields.items():
                b.set(f"{link}/{name}", value, at)
                answered.add(f"{link}/{name}")
            continue
        annotation = (
            case_model.Case.model_fields[section].annotation
            if section in case_model.Case.model_fields
            else None
        )
        if annotation is None:
            raise FhirError(
                "<fhir>",
                [
                    (
                        location(qr, f"/item/{i}/linkId"),
                        f"unknown TRD questionnaire section {link!r}",
                    )
                ],
            )
        if typing.get_origin(_unwrap(annotation)[0]) is list:
            ptr = _list_target(b, section, fields, claimed)
            claimed.add(ptr)
        else:
            ptr = f"/{section}"
        if section == "episode" and {"onset_date", "duration_months"} & set(fields):
            for other in ("onset_date", "duration_months"):
                if other not in fields:
                    b.data.get("episode", {}).pop(other, None)
                    b.provenance.pop(f"/episode/{other}", None)
        for name, (value, at) in fields.items():
            if name == "resource":
                continue
            b.set(f"{ptr}/{name}", value, at)
            answered.add(f"{ptr}/{name}")
    b.needed = [n for n in b.needed if not _answers_need(n.pointer, answered)]


def _answers_need(pointer: str, answered: set[str]) -> bool:
    return any(a == pointer or a.startswith(pointer + "/") for a in answered)


def _list_target(
    b: Builder, section: str, fields: dict[str, tuple[Any, str]], claimed: set[str]
) -> str:
    """The list entry a repeat completes: the one derived from the named resource, then one of
    the same drug/modality (trials), then the same instrument+timepoint (measurements), else a
    new entry."""
    items: list[dict[str, Any]] = b.data.setdefault(section, [])
    ref = fields.get("resource", (None, ""))[0]
    key = {
        "antidepressant_trials": "drug",
        "augmentations": "drug",
        "psychotherapy_trials": "modality",
        "current_medications": "drug",
    }.get(section)
    for idx, _ in enumerate(items):
        if f"/{section}/{idx}" in claimed:
            continue
        src = b.provenance.get(f"/{section}/{idx}/{key or 'instrument'}", "")
        if ref and src.split("#", 1)[0] == ref:
            return f"/{section}/{idx}"
    if not ref:
        for idx, item in enumerate(items):
            if f"/{section}/{idx}" in claimed:
                continue
            if key and key in fields and item.get(key) == fields[key][0]:
                return f"/{section}/{idx}"
            if section == "measurements" and all(
                k in fields and item.get(k) == fields[k][0] for k in ("instrument", "timepoint")
            ):
                for k in list(item):
                    if k not in fields:
                        item.pop(k)
                return f"/{section}/{idx}"
    items.append({})
    return f"/{section}/{len(items) - 1}"
