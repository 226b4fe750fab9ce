"""Case → FHIR R4 Bundle: native resources where FHIR has a place, the TRD questionnaire
answers for the rest.

Native: Patient (age → birthDate at the evaluation date), the primary diagnosis Condition
(with the episode onset), PHQ-9 totals and item 9 as Observations (when the importer would
read them back as the same baseline/current pair), pregnancy status, the C-SSRS screener as a
LOINC QuestionnaireResponse, comorbidities and contraindications recorded *true* as
Conditions, a dated non-suicidal self-injury as a Condition, trials, augmentations and current
medications as MedicationStatements, therapy courses as Procedures.
Everything else (adequacy, adherence, outcomes, recorded *false*, preferences, …) is a TRD
QuestionnaireResponse whose repeats reference the resource they complete. Reading the Bundle
back (:func:`~.mapping.case_from_fhir`) gives a case with the same recommendations and blocks.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ...schemas.case import Case, PrimaryDiagnosis
from .errors import FhirError
from .mapping import score_usable
from .questionnaire import SECTIONS, URL, build_questionnaire
from .terminology import ICD10CM, LOINC, RXNORM, SNOMED, UCUM, terminology

#: a representative code per case field recorded true (each in its ValueSet, tested)
CONDITION_CODES: dict[str, tuple[str, str, str]] = {
    "/comorbidities/anxiety_disorder": (ICD10CM, "F41.1", "Generalized anxiety disorder"),
    "/comorbidities/ptsd": (SNOMED, "47505003", "Posttraumatic stress disorder"),
    "/comorbidities/substance_use_disorder": (
        ICD10CM,
        "F19.20",
        "Other psychoactive substance dependence",
    ),
    "/comorbidities/alcohol_use_disorder": (ICD10CM, "F10.20", "Alcohol dependence"),
    "/comorbidities/seizure_history": (SNOMED, "84757009", "Epilepsy"),
    "/contraindications/cochlear_implant": (ICD10CM, "Z96.21", "Cochlear implant status"),
    "/contraindications/cardiac_pacemaker_or_icd": (
        ICD10CM,
        "Z95.0",
        "Presence of cardiac pacemaker",
    ),
    "/contraindications/implanted_stimulator": (ICD10CM, "Z96.82", "Presence of neurostimulator"),
    "/contraindications/aneurysmal_vascular_disease": (
        ICD10CM,
        "I67.1",
        "Cerebral aneurysm, nonruptured",
    ),
    "/contraindications/arteriovenous_malformation": (
        ICD10CM,
        "Q28.2",
        "Arteriovenous malformation of cerebral vessels",
    ),
    "/contraindications/intracerebral_haemorrhage_history": (
        ICD10CM,
        "I61.9",
        "Nontraumatic intracerebral hemorrhage",
    ),
    "/clinical_features/significant_weight_loss": (
        SNOMED,
        "448765001",
        "Unintentional weight loss",
    ),
}
MUTISM_CODE = (SNOMED, "88052002", "Mutism")
#: a dated non-suicidal self-injury (schema v2): a past event, onset = the date
NSSI_CODE = (ICD10CM, "R45.88", "Nonsuicidal self-harm")
_PRIMARY = {
    PrimaryDiagnosis.mdd: (SNOMED, "370143000", "Major depressive disorder"),
    PrimaryDiagnosis.bipolar: (SNOMED, "13746004", "Bipolar disorder"),
}
_ITEM9 = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
_CSSRS = {
    "wish_to_be_dead": "93246-7",
    "active_suicidal_thoughts": "93247-5",
    "method": "93248-3",
    "intent": "93249-1",
    "plan": "93250-9",
    "behaviour": "93267-3",
    "behaviour_within_3_months": "93269-9",
}
_GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _ref(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def _active_condition(pid: str, code: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": _ref(pid),
        "clinicalStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
        ),
        "code": _concept(*code),
    }


def _answer(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    return {"valueString": value}


#: a FHIR ``string`` needs one character that is a space, CR, LF, tab or not whitespace
_FHIR_STRING = re.compile(r"[ \r\n\t\S]")


def _check_texts(data: dict[str, Any], source: str) -> None:
    """Free texts the export writes (drug names) must be FHIR strings: the case schema accepts
    a name made only of other whitespace (form feed, no-break space, …), FHIR does not."""
    errors = [
        (f"/{section}/{i}/drug", "a drug name made only of whitespace cannot be a FHIR string")
        for section in ("antidepressant_trials", "augmentations", "current_medications")
        for i, entry in enumerate(data[section])
        if isinstance(entry.get("drug"), str) and not _FHIR_STRING.search(entry["drug"])
    ]
    if errors:
        raise FhirError(source, errors)


def case_to_bundle(case: Case, *, at: datetime) -> dict[str, Any]:
    """A FHIR R4 collection Bundle holding the case (see the module docstring). A value FHIR
    cannot carry raises :class:`~.errors.FhirError` naming its case path."""
    data = case.model_dump(mode="json")
    _check_texts(data, case.case_id)
    pid = "p-" + "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in case.case_id)[:60]
    out: list[dict[str, Any]] = []
    answers: dict[str, dict[str, Any]] = {}  # section → {field: value}
    repeats: dict[str, list[dict[str, Any]]] = {}

    def add(resource: dict[str, Any]) -> str:
        resource["id"] = f"{resource['resourceType'].lower()}-{len(out)}"
        out.append(resource)
        return f"{resource['resourceType']}/{resource['id']}"

    def ask(pointer: str, value: Any) -> None:
        section, name = pointer.strip("/").split("/", 1)
        answers.setdefault(section, {})[name] = value

    patient = {
        "resourceType": "Patient",
        "id": pid,
        "gender": _GENDER[case.patient.sex.value],
        "birthDate": f"{at.year - case.patient.age:04d}-01-01",
    }
    out.append(patient)
    onset = case.episode.onset_date
    # the importer ignores Conditions dated after the evaluation date: those go in the form
    native_dx = case.diagnosis.primary in _PRIMARY and (onset is None or onset <= at.date())
    if native_dx:
        cond: dict[str, Any] = {
            "resourceType": "Condition",
            "subject": _ref(pid),
            "clinicalStatus": _concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
            ),
            "code": _concept(*_PRIMARY[case.diagnosis.primary]),
        }
        if onset is not None:
            cond["onsetDateTime"] = onset.isoformat()
        add(cond)
    else:
        ask("/diagnosis/primary", case.diagnosis.primary.value)
    if onset is None or not native_dx:
        for name in ("onset_date", "duration_months"):
            if data["episode"][name] is not None:
                ask(f"/episode/{name}", data["episode"][name])
    for name in ("prior_episodes", "state", "baseline_severity", "current_severity"):
        if data["episode"][name] is not None:
            ask(f"/episode/{name}", data["episode"][name])
    for name in ("psychotic_features", "catatonic_features", "mute", "not_eating_or_drinking"):
        if name == "mute" and data["diagnosis"][name] is True:
            add(_active_condition(pid, MUTISM_CODE))  # read back by the 'mutism' ValueSet
        elif data["diagnosis"][name] is not None:
            ask(f"/diagnosis/{name}", data["diagnosis"][name])
    _measurements(case, data, pid, at, add, repeats)
    if case.patient.pregnant is not None:
        code, disp = (
            ("LA15173-0", "Pregnant") if case.patient.pregnant else ("LA26683-5", "Not pregnant")
        )
        add(
            {
                "resourceType": "Observation",
                "status": "final",
                "subject": _ref(pid),
                "code": _concept(LOINC, "82810-3", "Pregnancy status"),
                "effectiveDateTime": at.date().isoformat(),
                "valueCodeableConcept": _concept(LOINC, code, disp),
            }
        )
    if case.patient.breastfeeding is not None:
        ask("/patient/breastfeeding", case.patient.breastfeeding)
    cssrs = data["suicide_risk"]["cssrs"]
    if cssrs is not None:
        items = [
            {
                "linkId": f"/{code}",
                "answer": [
                    {
                        "valueCoding": {
                            "system": LOINC,
                            "code": "LA33-6" if cssrs[name] else "LA32-8",
                        }
                    }
                ],
            }
            for name, code in _CSSRS.items()
            if cssrs[name] is not None
        ]
        add(
            {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "subject": _ref(pid),
                "authored": at.date().isoformat(),
                "item": items,
            }
        )
        if cssrs["last_behaviour_date"] is not None:
            answers.setdefault("suicide_risk/cssrs", {})["last_behaviour_date"] = cssrs[
                "last_behaviour_date"
            ]
    if data["suicide_risk"]["clinician_judges_imminent_risk"] is not None:
        ask(
            "/suicide_risk/clinician_judges_imminent_risk",
            data["suicide_risk"]["clinician_judges_imminent_risk"],
        )
    _nssi(data["suicide_risk"]["nssi"], pid, at, add, answers)
    _flags(data, pid, add, ask)
    _courses(data, pid, add, repeats)
    add(_response(pid, at, answers, repeats))
    return {
        "resourceType": "Bundle",
        "id": pid,
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:trd-cds:{r['resourceType']}/{r['id']}", "resource": r} for r in out
        ],
    }


def _native_scores(case: Case, at: datetime) -> bool:
    """Whether the importer reads the PHQ-9 Observations back as exactly this baseline/current
    pair (see :func:`~.mapping.map_measurements`); otherwise every score goes in the form."""
    phq = {m.timepoint.value: m for m in case.measurements if m.instrument.value == "phq9"}
    onset, today = case.episode.onset_date, at.date()
    cur, base = phq.get("current"), phq.get("baseline")
    if cur is None or not score_usable(cur.date, onset, today):
        return False
    if base is None:
        return True
    ordered = (
        base.score is not None
        and score_usable(base.date, onset, today)
        and base.date is not None
        and cur.date is not None
        and base.date < cur.date
    )
    # item 9 alone is read as the current PHQ-9 over an older total only when positive
    return ordered and (cur.score is not None or (cur.item9 or 0) >= 1)


def _measurements(
    case: Case,
    data: dict[str, Any],
    pid: str,
    at: datetime,
    add: Any,
    repeats: dict[str, list[dict[str, Any]]],
) -> None:
    native = _native_scores(case, at)
    for m, raw in zip(case.measurements, data["measurements"], strict=True):
        if native and m.instrument.value == "phq9":
            day = (m.date or at.date()).isoformat()
            if m.score is not None:
                add(
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "subject": _ref(pid),
                        "code": _concept(LOINC, "44261-6", "PHQ-9 total score"),
                        "effectiveDateTime": day,
                        "valueInteger": m.score,
                    }
                )
            if m.item9 is not None:
                add(
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "subject": _ref(pid),
                        "code": _concept(LOINC, "44260-8", "PHQ-9 item 9"),
                        "effectiveDateTime": day,
                        "valueCodeableConcept": _concept(LOINC, _ITEM9[m.item9], str(m.item9)),
                    }
                )
        else:
            repeats.setdefault("measurements", []).append(
                {k: v for k, v in raw.items() if v is not None}
            )


def _nssi(
    nssi: dict[str, Any] | None,
    pid: str,
    at: datetime,
    add: Any,
    answers: dict[str, dict[str, Any]],
) -> None:
    """A dated self-injury on or before the evaluation date is a Condition (a past event whose
    onset is the date, read back as ``last_date``); the rest goes in the form."""
    if nssi is None:
        return
    rest = {k: v for k, v in nssi.items() if v is not None}
    last = rest.get("last_date")
    if last is not None and last <= at.date().isoformat():
        add(
            {
                "resourceType": "Condition",
                "subject": _ref(pid),
                "clinicalStatus": _concept(
                    "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "resolved",
                    "Resolved",
                ),
                "code": _concept(*NSSI_CODE),
                "onsetDateTime": last,
            }
        )
        del rest["last_date"]
    if rest:
        answers["suicide_risk/nssi"] = rest


def _flags(data: dict[str, Any], pid: str, add: Any, ask: Any) -> None:
    for section, only in SECTIONS:
        if section in ("patient", "diagnosis", "episode", "suicide_risk") or isinstance(
            data[section], list
        ):
            continue
        for name, value in data[section].items():
            if value is None or (only is not None and name not in only):
                continue
            pointer = f"/{section}/{name}"
            if value is True and pointer in CONDITION_CODES:
                add(_active_condition(pid, CONDITION_CODES[pointer]))
            else:
                ask(pointer, value)


def _courses(
    data: dict[str, Any], pid: str, add: Any, repeats: dict[str, list[dict[str, Any]]]
) -> None:
    """Trials, augmentations and current medications as MedicationStatements where the
    importer derives exactly the same entries back; every entry is also a form repeat (naming
    its resource) carrying all its fields.

    An *active* statement is read back as a current medication (schema v2), so an ongoing
    trial or augmentation is native only together with the current medication of the same
    drug (they share the statement); an active antidepressant alone would become a trial and
    an augmenting agent beside an antidepressant an augmentation, so those current
    medications stay in the form."""
    term = terminology()
    codes = {v: k for k, v in term.rxnorm_ingredient.items()}
    current: list[dict[str, Any]] = data["current_medications"]
    linked: dict[int, str] = {}  # current medication index → its active statement
    active_drugs: set[str] = set()

    def known(drug: str) -> bool:
        return term.ingredient_in_text(drug) == [drug]

    def current_for(drug: str) -> int | None:
        for i, med in enumerate(current):
            if (
                i not in linked
                and med["drug"] == drug
                and med["drug_class"] == term.medication_class(drug)
            ):
                return i
        return None

    def statement(drug: str, active: bool, dose: float | None) -> str:
        concept: dict[str, Any] = {"text": drug}
        if drug in codes:
            concept["coding"] = [{"system": RXNORM, "code": codes[drug], "display": drug}]
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": "active" if active else "completed",
            "subject": _ref(pid),
            "medicationCodeableConcept": concept,
        }
        if dose is not None:
            resource["dosage"] = [_daily_dosage(dose)]
        if active:
            active_drugs.add(drug)
        return str(add(resource))

    any_ad = False
    for section in ("antidepressant_trials", "augmentations"):
        for raw in data[section]:
            entry = {k: v for k, v in raw.items() if v is not None}
            drug = str(raw.get("drug"))
            native = known(drug) and (
                term.antidepressants.get(drug) == raw.get("drug_class")
                if section == "antidepressant_trials"
                else term.augmenting.get(drug) == raw.get("agent")
            )
            ongoing = raw.get("outcome") == "ongoing"
            med = current_for(drug) if native and ongoing and drug not in active_drugs else None
            if native and ongoing and med is None:
                native = False  # an active statement would add a current medication
            if native:  # the importer derives exactly this entry back from the resource
                dose = current[med]["dose_mg_per_day"] if med is not None else None
                if section == "antidepressant_trials" and raw.get("dose_adequate") != (
                    _adequate(term, drug, dose)
                ):
                    dose = None  # the dosage would derive another dose_adequate
                ref = statement(drug, ongoing, dose)
                if med is not None:
                    linked[med] = ref
                any_ad = any_ad or section == "antidepressant_trials"
                entry = {"resource": ref, **entry}
            repeats.setdefault(section, []).append(entry)
    for i, raw in enumerate(current):
        entry = {k: v for k, v in raw.items() if v is not None}
        drug = str(raw["drug"])
        if i not in linked and (
            known(drug)
            and drug not in active_drugs
            and drug not in term.antidepressants
            and not (drug in term.augmenting and any_ad)
            and raw["drug_class"] == term.medication_class(drug)
        ):
            linked[i] = statement(drug, True, raw["dose_mg_per_day"])
        if i in linked:
            entry = {"resource": linked[i], **entry}
        repeats.setdefault("current_medications", []).append(entry)
    for section, code in (
        ("ect_courses", ("23835007", "Electroconvulsive therapy")),
        ("psychotherapy_trials", ("75516001", "Psychotherapy")),
    ):
        for raw in data[section]:
            ref = add(
                {
                    "resourceType": "Procedure",
                    "status": "unknown",
                    "subject": _ref(pid),
                    "code": _concept(SNOMED, *code),
                }
            )
            repeats.setdefault(section, []).append(
                {"resource": ref, **{k: v for k, v in raw.items() if v is not None}}
            )


def _adequate(term: Any, drug: str, dose: float | None) -> bool | None:
    """``dose_adequate`` as the importer derives it from a daily dose (None: not derived)."""
    minimum = term.min_doses.get(drug)
    return None if dose is None or minimum is None else dose >= minimum


def _daily_dosage(mg: float) -> dict[str, Any]:
    """A FHIR Dosage of ``mg`` milligrams once a day."""
    return {
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [
            {"doseQuantity": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}}
        ],
    }


def _response(
    pid: str,
    at: datetime,
    answers: dict[str, dict[str, Any]],
    repeats: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    order = [s for s, _ in SECTIONS] + ["suicide_risk/nssi", "suicide_risk/cssrs"]
    for section in order:
        if section in answers:
            items.append(
                {
                    "linkId": f"/{section}",
                    "item": [
                        {"linkId": f"/{section}/{k}", "answer": [_coded(f"/{section}/{k}", v)]}
                        for k, v in answers[section].items()
                    ],
                }
            )
        for entry in repeats.get(section, []):
            items.append(
                {
                    "linkId": f"/{section}",
                    "item": [
                        {
                            "linkId": f"/{section}/{k}",
                            "answer": [
                                {"valueReference": {"reference": v}}
                                if k == "resource"
                                else _coded(f"/{section}/{k}", v)
                            ],
                        }
                        for k, v in entry.items()
                    ],
                }
            )
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": URL,
        "subject": _ref(pid),
        "authored": at.date().isoformat(),
        "item": items,
    }


def _item_types() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for it in items:
            out[it["linkId"]] = it
            walk(it.get("item", []))

    walk(build_questionnaire()["item"])
    return out


_TYPES = _item_types()


def _coded(link: str, value: Any) -> dict[str, Any]:
    """The answer for an item, typed as the Questionnaire item asks."""
    item = _TYPES[link]
    if item["type"] == "choice":
        system = item["answerOption"][0]["valueCoding"]["system"]
        return {"valueCoding": {"system": system, "code": value}}
    if item["type"] == "date":
        return {"valueDate": value}
    if item["type"] == "decimal":
        return {"valueDecimal": float(value)}
    return _answer(value)
