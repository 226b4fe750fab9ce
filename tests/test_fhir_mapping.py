"""FHIR → case details: trials (weeks, dose, outcome), scores, the TRD questionnaire and
report pointers rewritten into the FHIR resources."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.fhir_support import LOINC, RXNORM, SCT, condition, daily, depressed, med_request, phq9
from tests.fhir_support import patient as patient_res
from trd_cds import Engine
from trd_cds.interop.fhir import (
    FhirError,
    build_questionnaire,
    case_from_fhir,
    rewrite_report_pointers,
)
from trd_cds.interop.fhir.questionnaire import URL
from trd_cds.interop.fhir.terminology import load_data
from trd_cds.schemas.settings import Settings

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
SERTRALINE = ("312941", "sertraline 50 MG Oral Tablet")  # SCD: strength from the display


def _trial(resources: list[Any], **kw: Any) -> tuple[Any, Any]:
    result = case_from_fhir([*depressed(), *resources], at=AT, **kw)
    (trial,) = result.case.antidepressant_trials
    return trial, result


def _derivation(result: Any, suffix: str) -> Any:
    (d,) = [d for d in result.derivations if d.pointer.endswith(suffix)]
    return d


@pytest.mark.parametrize(
    ("dose", "adequate"),
    [
        (daily(50, "mg", "mg"), True),
        (daily(25, "mg", "mg"), False),
        (daily(25, "mg", "mg", per_day=2), True),
        (daily(1, "tablet", "{tbl}"), True),
        (daily(2, "TAB"), True),
    ],
)
def test_dose_adequate_from_dosage(dose: Any, adequate: bool) -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-03-01", dose=dose)
    trial, result = _trial([req])
    assert trial.dose_adequate is adequate
    d = _derivation(result, "dose_adequate")
    assert "table minimum 50 mg/day" in d.rule and "MGH-ATRQ" in d.rule
    assert d.inputs == (
        "MedicationRequest/m1#/dosageInstruction/0/doseAndRate/0/doseQuantity/value",
    )


@pytest.mark.parametrize(
    "dose",
    [
        daily(1, "puff"),
        {"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}]},
        {"text": "as directed"},
        None,
    ],
)
def test_unknown_dose_is_not_recorded_never_false(dose: Any) -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-03-01", dose=dose)
    trial, result = _trial([req])
    assert trial.dose_adequate is None
    assert "/antidepressant_trials/0/dose_adequate" in {n.pointer for n in result.data_needed}


def test_tablet_dose_without_known_strength_is_not_recorded() -> None:
    req = med_request(
        "m1", "36437", "sertraline", authored="2026-03-01", dose=daily(1, "tablet", "{tbl}")
    )
    assert _trial([req])[0].dose_adequate is None


def test_extended_release_paroxetine_uses_the_cr_minimum() -> None:
    req = med_request(
        "m1",
        "0",
        "paroxetine 12.5 MG Extended Release Oral Tablet",
        authored="2026-03-01",
        dose=daily(2, "tablet", "{tbl}"),
    )
    trial, result = _trial([req])
    assert trial.dose_adequate is True  # 25 mg/day ≥ CR minimum 25
    assert "table minimum 25 mg/day" in _derivation(result, "dose_adequate").rule


def test_weeks_from_a_closed_period_and_outcome_from_scores_inside_it() -> None:
    req = med_request(
        "m1", *SERTRALINE, authored="2026-03-01", end="2026-05-10", dose=daily(100, "mg", "mg")
    )
    scores = [
        phq9("o1", "2026-03-02", 20),
        phq9("o2", "2026-05-08", 18, key="valueString"),
        phq9("o3", "2026-08-01", 4, key="valueQuantity"),
    ]  # after the window: not used
    trial, result = _trial([req, *scores])
    assert trial.weeks_at_dose == 10.0
    assert trial.outcome.value == "no_response"  # 20 → 18: 10 %
    d = _derivation(result, "outcome")
    assert d.inputs == ("Observation/o1#/valueInteger", "Observation/o2#/valueString")
    assert "10% reduction" in d.rule
    w = _derivation(result, "weeks_at_dose")
    assert w.inputs == (
        "MedicationRequest/m1#/authoredOn",
        "MedicationRequest/m1#/dispenseRequest/validityPeriod/end",
    )
    # the case's own baseline/current are the episode's first and last scores
    assert [(m.timepoint.value, m.score) for m in result.case.measurements] == [
        ("baseline", 20),
        ("current", 4),
    ]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (20, 4, "remission"),
        (20, 9, "response_without_remission"),
        (20, 14, "partial_response"),
        (20, 16, "no_response"),
    ],
)
def test_outcome_uses_the_project_thresholds(start: int, end: int, expected: str) -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-03-01", end="2026-05-10")
    scores = [phq9("o1", "2026-03-01", start), phq9("o2", "2026-05-10", end)]
    assert _trial([req, *scores])[0].outcome.value == expected


def test_outcome_thresholds_follow_settings() -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-03-01", end="2026-05-10")
    scores = [phq9("o1", "2026-03-01", 20), phq9("o2", "2026-05-10", 14)]
    strict = Settings(partial_response_min_reduction=0.35)
    assert _trial([req, *scores], settings=strict)[0].outcome.value == "no_response"


def test_one_score_in_the_window_leaves_the_outcome_not_recorded() -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-03-01", end="2026-05-10")
    trial, result = _trial([req, phq9("o1", "2026-04-01", 20)])
    assert trial.outcome.value == "ongoing"  # v2 still requires one: never a failure
    need = {n.pointer: n for n in result.data_needed}["/antidepressant_trials/0/outcome"]
    assert "never counts as a failure" in need.reason


def test_active_order_is_an_ongoing_trial_with_weeks_to_the_evaluation_date() -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-10-27", status="active")
    trial, result = _trial([req])
    assert (trial.outcome.value, trial.weeks_at_dose) == ("ongoing", 4.0)
    assert "still active" in _derivation(result, "weeks_at_dose").rule


def test_statement_and_dispense_periods() -> None:
    stmt = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Venlafaxine 75 mg capsule"},
        "effectivePeriod": {"start": "2026-01-15", "end": "2026-03-12"},
        "dosage": [daily(150, "mg", "mg")],
    }
    disp = {
        "resourceType": "MedicationDispense",
        "id": "d1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "36437"}]},
        "whenHandedOver": "2026-04-01",
        "daysSupply": {"value": 28, "unit": "d"},
    }
    result = case_from_fhir([*depressed(), stmt, disp], at=AT)
    trials = {t.drug: t for t in result.case.antidepressant_trials}
    assert trials["venlafaxine"].weeks_at_dose == 8.0 and trials["venlafaxine"].dose_adequate
    assert trials["venlafaxine"].drug_class.value == "snri"
    assert trials["sertraline"].weeks_at_dose == 4.0


def test_medication_reference_resolves_through_medication_ingredient() -> None:
    med = {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"text": "House brand tablet"},
        "ingredient": [
            {
                "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "2556"}]},
                "strength": {
                    "numerator": {
                        "value": 20,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    },
                    "denominator": {"value": 1},
                },
            }
        ],
    }
    req = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/med1"},
        "authoredOn": "2026-10-01",
        "dosageInstruction": [daily(1, "tablet", "{tbl}")],
    }
    trial, result = _trial([med, req])
    assert (trial.drug, trial.dose_adequate) == ("citalopram", True)
    assert result.provenance["/antidepressant_trials/0/drug"] == (
        "Medication/med1#/ingredient/0/itemCodeableConcept/coding/0/code"
    )


def test_trial_before_the_episode_onset_is_a_previous_episode_trial() -> None:
    req = med_request("m1", *SERTRALINE, authored="2024-01-01", end="2024-03-01")
    assert _trial([req])[0].episode.value == "previous"


def test_entered_in_error_and_future_orders_are_ignored() -> None:
    a = med_request("m1", *SERTRALINE, authored="2026-03-01", status="entered-in-error")
    b = med_request("m2", *SERTRALINE, authored="2027-03-01", status="active")
    assert case_from_fhir([*depressed(), a, b], at=AT).case.antidepressant_trials == []


def test_refuted_and_resolved_conditions() -> None:
    refuted = condition("F41.1", "http://hl7.org/fhir/sid/icd-10-cm", rid="c2")
    refuted["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    resolved = condition("47505003", SCT, rid="c3", status="resolved")
    history = condition("84757009", SCT, rid="c4", status="resolved")
    case = case_from_fhir([*depressed(), refuted, resolved, history], at=AT).case
    assert case.comorbidities.anxiety_disorder is None  # refuted: not recorded, not false
    assert case.comorbidities.ptsd is None  # resolved: not a current disorder
    assert case.comorbidities.seizure_history is True  # a history counts


def test_bipolar_wins_over_unipolar() -> None:
    res = [*depressed(), condition("F31.4", "http://hl7.org/fhir/sid/icd-10-cm", rid="bp")]
    assert case_from_fhir(res, at=AT).case.diagnosis.primary.value == "bipolar"


def test_scores_before_onset_or_after_the_evaluation_date_are_not_used() -> None:
    res = [
        *depressed(),
        phq9("old", "2025-01-01", 22),
        phq9("future", "2027-01-01", 3),
        phq9("ok", "2026-11-01", 15),
    ]
    (m,) = case_from_fhir(res, at=AT).case.measurements
    assert (m.score, m.timepoint.value) == (15, "current")


def test_item9_observation_without_a_total_becomes_a_v2_measurement() -> None:
    item = {
        "resourceType": "Observation",
        "id": "i9",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-01",
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6571-9"}]},
    }
    result = case_from_fhir([*depressed(), item], at=AT)
    (m,) = result.case.measurements  # schema v2: item 9 without a total (more in test_fhir_v2)
    assert (m.score, m.item9) == (None, 3)
    assert "phq9_item9_without_total" not in result.unmapped


def _trd_response(groups: list[tuple[str, dict[str, Any]]], qid: str = "trd-1") -> Any:
    items = []
    for link, answers in groups:
        items.append(
            {
                "linkId": link,
                "item": [{"linkId": f"{link}/{k}", "answer": [v]} for k, v in answers.items()],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "status": "completed",
        "questionnaire": URL,
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-11-20",
        "item": items,
    }


def test_questionnaire_is_shipped_generated_from_the_schema_and_valid() -> None:
    from fhir.resources.R4B.questionnaire import Questionnaire

    if os.environ.get("TRD_CDS_REGENERATE"):
        path = ROOT / "interop" / "fhir" / "data" / "trd-questionnaire.json"
        path.write_text(json.dumps(build_questionnaire(), indent=1) + "\n", "utf-8")
    shipped = load_data("trd-questionnaire.json")
    # regenerate: TRD_CDS_REGENERATE=1 pytest tests/test_fhir_mapping.py -k questionnaire
    assert shipped == build_questionnaire()
    Questionnaire.model_validate(shipped)
    assert shipped["version"] == "2.0.0"  # follows case schema v2
    links = {i["linkId"] for g in shipped["item"] for i in g["item"]}
    assert {
        "/antidepressant_trials/dose_adequate",
        "/antidepressant_trials/adherence",
        "/psychotherapy_trials/modality",
        "/clinical_features/rumination",
        "/preferences/declines_medication",
        # schema v2
        "/diagnosis/mute",
        "/episode/baseline_severity",
        "/episode/current_severity",
        "/measurements/date",
        "/current_medications/resource",
        "/current_medications/drug_class",
        "/current_medications/dose_mg_per_day",
        "/suicide_risk/nssi/last_date",
        "/suicide_risk/nssi/within_3_months",
        "/clinical_features/significant_weight_loss",
        "/comorbidities/physical_condition_may_explain_symptoms",
        "/contraindications/cardiovascular_event_within_6_weeks",
    } <= links
    options = {
        i["linkId"]: {o["valueCoding"]["code"] for o in i.get("answerOption", [])}
        for g in shipped["item"]
        for i in g["item"]
    }
    assert "dropped_out" in options["/psychotherapy_trials/outcome"]
    assert "response_without_remission" in options["/episode/state"]
    assert "valproate" in options["/current_medications/drug_class"]


def test_questionnaire_completes_a_derived_trial_and_clears_data_needed() -> None:
    req = med_request("m1", *SERTRALINE, authored="2026-03-01", end="2026-05-10")
    qr = _trd_response(
        [
            (
                "/antidepressant_trials",
                {
                    "resource": {"valueReference": {"reference": "MedicationRequest/m1"}},
                    "dose_adequate": {"valueBoolean": True},
                    "adherence": {"valueCoding": {"code": "good"}},
                    "outcome": {"valueCoding": {"code": "no_response"}},
                },
            ),
            ("/preferences", {"declines_ect": {"valueBoolean": True}}),
            ("/episode", {"duration_months": {"valueInteger": 9}}),
        ]
    )
    trial, result = _trial([req, qr])
    assert (
        trial.drug,
        trial.dose_adequate,
        trial.adherence.value,
        trial.outcome.value,
        trial.weeks_at_dose,
    ) == ("sertraline", True, "good", "no_response", 10.0)
    assert result.provenance["/antidepressant_trials/0/adherence"] == (
        "QuestionnaireResponse/trd-1#/item/0/item/2/answer/0/valueCoding/code"
    )
    assert result.case.preferences.declines_ect is True
    # the questionnaire's duration replaces the Condition's onset (one of the two, not both)
    assert (result.case.episode.duration_months, result.case.episode.onset_date) == (9, None)
    needed = {n.pointer for n in result.data_needed}
    assert not any(
        p.startswith("/antidepressant_trials/0/")
        for p in needed - {"/antidepressant_trials/0/episode"}
    )


def test_questionnaire_adds_a_psychotherapy_trial_fhir_has_no_place_for() -> None:
    qr = _trd_response(
        [
            (
                "/psychotherapy_trials",
                {
                    "modality": {"valueCoding": {"code": "cbt"}},
                    "sessions": {"valueInteger": 12},
                    "weeks": {"valueDecimal": 14},
                    "outcome": {"valueCoding": {"code": "no_response"}},
                },
            )
        ]
    )
    case = case_from_fhir([*depressed(), qr], at=AT).case
    (p,) = case.psychotherapy_trials
    assert (p.modality.value, p.sessions, p.weeks, p.outcome.value) == (
        "cbt",
        12,
        14,
        "no_response",
    )


def test_questionnaire_bad_answer_is_reported_with_its_path() -> None:
    qr = _trd_response(
        [
            (
                "/psychotherapy_trials",
                {
                    "modality": {"valueCoding": {"code": "hypnosis"}},
                    "sessions": {"valueInteger": 12},
                    "weeks": {"valueDecimal": 14},
                    "outcome": {"valueCoding": {"code": "no_response"}},
                },
            )
        ]
    )
    with pytest.raises(FhirError) as exc:
        case_from_fhir([*depressed(), qr], at=AT)
    assert exc.value.errors[0][0] == (
        "QuestionnaireResponse/trd-1#/item/0/item/0/answer/0/valueCoding/code"
    )


def test_psychotherapy_and_ect_procedures() -> None:
    procs = [
        {
            "resourceType": "Procedure",
            "id": f"cbt{i}",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": SCT, "code": "304891004"}]},
            "performedDateTime": f"2026-0{3 + i // 4}-{1 + (i % 4) * 7:02d}",
        }
        for i in range(8)
    ]
    ect = {
        "resourceType": "Procedure",
        "id": "ect1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": "2026-06-01",
        "code": {"coding": [{"system": SCT, "code": "23835007"}]},
    }
    result = case_from_fhir([*depressed(), *procs, ect], at=AT)
    (p,) = result.case.psychotherapy_trials
    assert (p.modality.value, p.sessions, p.weeks) == ("cbt", 8, 7.4)
    assert result.case.ect_courses == []  # laterality and outcome are not coded
    assert "/ect_courses" in {n.pointer for n in result.data_needed}


def test_report_pointers_point_into_fhir() -> None:
    req = med_request(
        "m1", *SERTRALINE, authored="2026-03-01", end="2026-05-10", dose=daily(100, "mg", "mg")
    )
    scores = [phq9("o1", "2026-03-02", 20), phq9("o2", "2026-05-08", 19)]
    result = case_from_fhir([*depressed(), req, *scores], at=AT)
    report = json.loads(Engine().evaluate(result.case, at=AT).to_json())
    fhir_report = rewrite_report_pointers(report, result.provenance)
    pointers: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "pointer" and isinstance(v, str):
                    pointers.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(fhir_report)
    assert "Observation/o2#/valueInteger" in pointers
    assert "MedicationRequest/m1#/dosageInstruction/0/doseAndRate/0/doseQuantity/value" in (
        pointers
    )
    assert any(p.startswith("Condition/mdd-p1#") for p in pointers)
    # only what FHIR did not supply stays a case pointer
    for p in pointers:
        assert "#" in p or p.startswith("/"), p
    assert (
        report["recommendations"] == []
        or fhir_report["recommendations"][0]["option"] == (report["recommendations"][0]["option"])
    )


def test_no_suicide_risk_data_is_data_needed() -> None:
    result = case_from_fhir(depressed(), at=AT)
    need = {n.pointer: n for n in result.data_needed}["/suicide_risk"]
    assert "ask directly" in need.record


def test_patient_without_birth_date() -> None:
    p = patient_res()
    del p["birthDate"]
    with pytest.raises(FhirError) as exc:
        case_from_fhir([p, condition("370143000", SCT)], at=AT)
    assert exc.value.errors[0][0] == "Patient/p1#/birthDate"


def test_psychotherapy_before_the_episode_onset_is_a_previous_episode_course() -> None:
    procs = [
        {
            "resourceType": "Procedure",
            "id": f"p{i}",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "performedDateTime": f"2025-0{i + 1}-01",
            "code": {"coding": [{"system": SCT, "code": "75516001"}]},
        }
        for i in range(3)
    ]
    (p,) = case_from_fhir([*depressed(), *procs], at=AT).case.psychotherapy_trials
    assert (p.modality.value, p.sessions, p.episode.value) == ("other", 3, "previous")
