"""Shared helpers for the FHIR tests: fixture paths and small resource builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

FIXTURES = ROOT.parent / "shared" / "fixtures" / "fhir"
SYNTHEA = sorted((FIXTURES / "synthea-bundles").glob("*.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def fixture(folder: str, name: str) -> Any:
    return load(FIXTURES / folder / name)


def synthea(prefix: str) -> Any:
    return load(next(p for p in SYNTHEA if p.name.startswith(prefix)))


def patient(pid: str = "p1", birth: str = "1980-05-01", gender: str = "female") -> Any:
    return {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": gender}


def condition(
    code: str,
    system: str,
    *,
    pid: str = "p1",
    rid: str = "c1",
    onset: str | None = "2026-01-10",
    status: str = "active",
) -> Any:
    c: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": f"Patient/{pid}"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": status,
                }
            ]
        },
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if onset:
        c["onsetDateTime"] = onset
    return c


SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def depressed(pid: str = "p1", **kw: Any) -> list[Any]:
    """A Patient and an active MDD Condition with an onset: the minimum for a case."""
    return [patient(pid, **kw), condition("370143000", SCT, pid=pid, rid=f"mdd-{pid}")]


def phq9(rid: str, day: str, total: Any, *, key: str = "valueInteger", pid: str = "p1") -> Any:
    o = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
        "effectiveDateTime": day,
    }
    o[key] = (
        {"value": total}
        if key == "valueQuantity"
        else (str(total) if key == "valueString" else total)
    )
    return o


def med_request(
    rid: str,
    code: str,
    display: str,
    *,
    authored: str | None = None,
    status: str = "completed",
    dose: dict[str, Any] | None = None,
    end: str | None = None,
    pid: str = "p1",
) -> Any:
    r: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {
            "coding": [
                {"system": RXNORM, "code": code, **({"display": display} if display else {})}
            ]
        },
    }
    if authored:
        r["authoredOn"] = authored
    if end:
        r["dispenseRequest"] = {"validityPeriod": {"start": authored, "end": end}}
    if dose:
        r["dosageInstruction"] = [dose]
    return r


def daily(value: float, unit: str, code: str | None = None, per_day: int = 1) -> Any:
    q: dict[str, Any] = {"value": value, "unit": unit}
    if code:
        q["system"], q["code"] = "http://unitsofmeasure.org", code
    return {
        "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": q}],
    }
