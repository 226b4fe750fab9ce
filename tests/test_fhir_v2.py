"""Case schema v2 through the FHIR adapter, both ways: FHIR in (fixture-like resources → case)
and export out (case → Bundle → the same case).

v2 concepts: current medications (drug, class, daily dose), PHQ-9 item 9 without a total,
non-suicidal self-injury with a date, measurement dates judged by the engine, new flags (mute,
significant weight loss, recent cardiovascular event, physical cause), the psychotherapy
outcome ``dropped_out``, the episode state ``response_without_remission`` and baseline vs
current severity.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AT
from tests.fhir_support import ICD, LOINC, SCT, condition, daily, depressed, med_request, phq9
from trd_cds import CaseError, Engine, parse_case
from trd_cds.interop.fhir import FhirError, case_from_fhir, case_to_bundle
from trd_cds.interop.fhir.questionnaire import URL
from trd_cds.interop.fhir.resources import iter_resources, validate

SERTRALINE = ("312941", "sertraline 50 MG Oral Tablet")


def item9(rid: str, day: str | None, answer: str, *, pid: str = "p1") -> Any:
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer}]},
    }
    if day:
        o["effectiveDateTime"] = day
    return o


def _needed(result: Any) -> dict[str, Any]:
    return {n.pointer: n for n in result.data_needed}


# --------------------------------------------------------------------------- FHIR in


def test_item9_without_a_total_is_the_current_phq9() -> None:
    result = case_from_fhir([*depressed(), item9("i9", "2026-11-20", "LA6571-9")], at=AT)
    (m,) = result.case.measurements
    assert (m.instrument.value, m.timepoint.value, m.score, m.item9, str(m.date)) == (
        "phq9",
        "current",
        None,
        3,
        "2026-11-20",
    )
    assert result.provenance["/measurements/0/item9"] == (
        "Observation/i9#/valueCodeableConcept/coding/0/code"
    )
    assert result.provenance["/measurements/0/date"] == "Observation/i9#/effectiveDateTime"
    assert "a current PHQ-9 total" in _needed(result)["/measurements"].record
    assert "/suicide_risk" not in _needed(result)  # item 9 is a direct question


def test_item9_alone_in_a_questionnaire_response() -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "phq",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-11-21",
        "item": [{"linkId": "/44260-8", "answer": [{"valueInteger": 1}]}],
    }
    result = case_from_fhir([*depressed(), qr], at=AT)
    (m,) = result.case.measurements
    assert (m.score, m.item9, str(m.date)) == (None, 1, "2026-11-21")
    assert result.provenance["/measurements/0/date"] == "QuestionnaireResponse/phq#/authored"


def test_newer_positive_item9_wins_over_an_older_total() -> None:
    res = [*depressed(), phq9("t1", "2026-10-01", 18), item9("i9", "2026-11-20", "LA6569-3")]
    case = case_from_fhir(res, at=AT).case
    assert [(m.timepoint.value, m.score, m.item9) for m in case.measurements] == [
        ("baseline", 18, None),
        ("current", None, 1),
    ]


def test_newer_zero_item9_does_not_displace_the_total() -> None:
    res = [*depressed(), phq9("t1", "2026-11-01", 18), item9("i9", "2026-11-20", "LA6568-5")]
    result = case_from_fhir(res, at=AT)
    assert [(m.score, m.item9) for m in result.case.measurements] == [(18, None)]
    (kept,) = result.unmapped["phq9_item9_without_total"]
    assert kept["item9"] == 0 and kept["source"].startswith("Observation/i9#")
    assert "but 0" in kept["why"]


def test_undated_item9_is_not_used() -> None:
    result = case_from_fhir([*depressed(), item9("i9", None, "LA6571-9")], at=AT)
    assert result.case.measurements == []
    assert result.unmapped["phq9_item9_without_total"][0]["why"].startswith("undated")


def test_old_score_keeps_its_date_and_the_engine_judges_currency(engine: Engine) -> None:
    # 10 months before the evaluation time: kept (with its date), never used as current
    result = case_from_fhir([*depressed(), phq9("old", "2026-01-20", 3)], at=AT)
    (m,) = result.case.measurements
    assert (m.timepoint.value, m.score, str(m.date)) == ("current", 3, "2026-01-20")
    assert result.provenance["/measurements/0/date"] == "Observation/old#/effectiveDateTime"
    report = engine.evaluate(result.case, at=AT)
    findings = {f.name: f for f in report.findings}
    assert "score_not_current" in findings
    assert findings["in_remission"].value is False  # a stale 3 does not mean remission


@pytest.mark.parametrize(
    ("status", "onset", "abatement", "expected"),
    [
        ("resolved", "2026-10-01", None, {"last_date": "2026-10-01"}),
        (None, "2025-06-01", None, {"last_date": "2025-06-01"}),
        ("active", "2025-01-01", "2026-09-15", {"last_date": "2026-09-15"}),
        ("active", "2026-10-01", None, {"within_3_months": True}),
        ("active", "2025-01-01", None, None),  # ongoing since long ago: latest not dated
    ],
)
def test_nssi_condition_dates(
    status: str | None, onset: str, abatement: str | None, expected: dict[str, Any] | None
) -> None:
    c = condition("R45.88", ICD, rid="sh", onset=onset, status=status or "active")
    if status is None:
        del c["clinicalStatus"]
    if abatement:
        c["abatementDateTime"] = abatement
    result = case_from_fhir([*depressed(), c], at=AT)
    nssi = result.case.suicide_risk.nssi
    got = None if nssi is None else nssi.model_dump(mode="json", exclude_none=True)
    assert got == expected
    if expected is None:
        assert "/suicide_risk/nssi/last_date" in _needed(result)
    else:
        (pointer,) = [f"/suicide_risk/nssi/{k}" for k in expected]
        assert result.provenance[pointer].startswith("Condition/sh#/")


def test_recent_ongoing_nssi_wins_over_an_older_dated_one(engine: Engine) -> None:
    old = condition("248062006", SCT, rid="old", onset="2024-01-01", status="resolved")
    now = condition("276853009", SCT, rid="now", onset="2026-11-01", status="active")
    case = case_from_fhir([*depressed(), old, now], at=AT).case
    assert case.suicide_risk.nssi is not None
    assert (case.suicide_risk.nssi.last_date, case.suicide_risk.nssi.within_3_months) == (
        None,
        True,
    )
    findings = {f.name: f.value for f in engine.evaluate(case, at=AT).findings}
    assert findings["nssi_recent"] is True


@pytest.mark.parametrize(
    ("onset", "expected", "needed"),
    [("2026-10-20", True, False), ("2026-09-01", None, False), (None, None, True)],
)
def test_cardiovascular_event_within_6_weeks(
    onset: str | None, expected: bool | None, needed: bool
) -> None:
    mi = condition("22298006", SCT, rid="mi", onset=onset, status="resolved")
    result = case_from_fhir([*depressed(), mi], at=AT)
    assert result.case.contraindications.cardiovascular_event_within_6_weeks is expected
    pointer = "/contraindications/cardiovascular_event_within_6_weeks"
    assert (pointer in _needed(result)) is needed


def test_active_orders_are_current_medications_with_their_daily_dose() -> None:
    sert = med_request(
        "m1", *SERTRALINE, authored="2026-10-01", status="active", dose=daily(2, "tablet", "{tbl}")
    )
    lith = med_request(
        "m2",
        "0",
        "lithium carbonate 300 MG Oral Capsule",
        authored="2026-10-05",
        status="active",
        dose=daily(300, "mg", "mg", per_day=2),
    )
    valp = med_request(
        "m3", "0", "Divalproex sodium 500 MG", authored="2026-10-05", status="active"
    )
    old = med_request("m4", "0", "quetiapine 100 MG", authored="2025-01-01", end="2025-03-01")
    result = case_from_fhir([*depressed(), sert, lith, valp, old], at=AT)
    meds = [
        (m.drug, m.drug_class.value, m.dose_mg_per_day) for m in result.case.current_medications
    ]
    assert meds == [
        ("lithium", "lithium", 600.0),
        ("sertraline", "ssri", 100.0),
        ("valproate", "valproate", None),
    ]  # the finished quetiapine order is not current
    assert result.provenance["/current_medications/1/dose_mg_per_day"] == (
        "MedicationRequest/m1#/dosageInstruction/0/doseAndRate/0/doseQuantity/value"
    )
    (d,) = [d for d in result.derivations if d.pointer == "/current_medications/1/dose_mg_per_day"]
    assert "2 × 50 mg" in d.rule
    assert "/current_medications/2/dose_mg_per_day" in _needed(result)
    # sertraline is also an ongoing trial; lithium beside it an augmentation
    assert [t.drug for t in result.case.antidepressant_trials] == ["sertraline"]
    assert [a.drug for a in result.case.augmentations] == ["lithium"]


def test_bipolar_on_an_antidepressant_alone_from_fhir(engine: Engine) -> None:
    bp = condition("F31.4", ICD, rid="bp")
    sert = med_request("m1", *SERTRALINE, authored="2026-10-01", status="active")
    case = case_from_fhir([*depressed(), bp, sert], at=AT).case
    report = engine.evaluate(case, at=AT)
    rules = {r for rec in report.recommendations for r in rec.rules}
    assert "pathway.bipolar_antidepressant_monotherapy_review@1" in rules


def _qr(groups: list[tuple[str, dict[str, Any]]]) -> Any:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "trd",
        "status": "completed",
        "questionnaire": URL,
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-11-20",
        "item": [
            {
                "linkId": link,
                "item": [{"linkId": f"{link}/{k}", "answer": [v]} for k, v in answers.items()],
            }
            for link, answers in groups
        ],
    }


def test_questionnaire_carries_the_v2_fields_fhir_has_no_place_for() -> None:
    qr = _qr(
        [
            ("/diagnosis", {"mute": {"valueBoolean": True}}),
            (
                "/episode",
                {
                    "state": {"valueCoding": {"code": "response_without_remission"}},
                    "current_severity": {"valueCoding": {"code": "mild"}},
                },
            ),
            ("/comorbidities", {"physical_condition_may_explain_symptoms": {"valueBoolean": True}}),
            (
                "/contraindications",
                {"cardiovascular_event_within_6_weeks": {"valueBoolean": False}},
            ),
            (
                "/psychotherapy_trials",
                {
                    "modality": {"valueCoding": {"code": "cbt"}},
                    "sessions": {"valueInteger": 3},
                    "weeks": {"valueDecimal": 4},
                    "outcome": {"valueCoding": {"code": "dropped_out"}},
                },
            ),
            ("/suicide_risk/nssi", {"last_date": {"valueDate": "2026-10-30"}}),
            (
                "/current_medications",
                {
                    "drug": {"valueString": "lithium"},
                    "drug_class": {"valueCoding": {"code": "lithium"}},
                    "dose_mg_per_day": {"valueDecimal": 800},
                },
            ),
        ]
    )
    result = case_from_fhir([*depressed(), qr], at=AT)
    case = result.case
    assert case.diagnosis.mute is True
    assert (case.episode.state.value, case.episode.current_severity) is not None
    assert case.episode.state.value == "response_without_remission"
    assert case.episode.current_severity is not None
    assert case.episode.current_severity.value == "mild"
    assert case.comorbidities.physical_condition_may_explain_symptoms is True
    assert case.contraindications.cardiovascular_event_within_6_weeks is False
    assert case.psychotherapy_trials[0].outcome.value == "dropped_out"
    assert case.suicide_risk.nssi is not None
    assert str(case.suicide_risk.nssi.last_date) == "2026-10-30"
    assert result.provenance["/suicide_risk/nssi/last_date"] == (
        "QuestionnaireResponse/trd#/item/5/item/0/answer/0/valueDate"
    )
    (med,) = case.current_medications
    assert (med.drug, med.drug_class.value, med.dose_mg_per_day) == ("lithium", "lithium", 800)


def test_questionnaire_completes_a_derived_current_medication() -> None:
    sert = med_request("m1", *SERTRALINE, authored="2026-10-01", status="active")
    qr = _qr(
        [
            (
                "/current_medications",
                {
                    "resource": {"valueReference": {"reference": "MedicationRequest/m1"}},
                    "dose_mg_per_day": {"valueDecimal": 150},
                },
            )
        ]
    )
    result = case_from_fhir([*depressed(), sert, qr], at=AT)
    (med,) = result.case.current_medications
    assert (med.drug, med.dose_mg_per_day) == ("sertraline", 150)
    assert "/current_medications/0/dose_mg_per_day" not in _needed(result)


# --------------------------------------------------------------------------- export out

V2_CASE: dict[str, Any] = {
    "case_id": "v2-roundtrip",
    "patient": {"age": 44, "sex": "female"},
    "diagnosis": {"primary": "mdd", "mute": True},
    "episode": {
        "onset_date": "2026-03-01",
        "state": "response_without_remission",
        "baseline_severity": "severe",
        "current_severity": "moderate",
    },
    "measurements": [
        {"instrument": "phq9", "timepoint": "baseline", "score": 21, "date": "2026-03-05"},
        {"instrument": "phq9", "timepoint": "current", "item9": 1, "date": "2026-11-20"},
    ],
    "antidepressant_trials": [
        {
            "drug": "sertraline",
            "drug_class": "ssri",
            "dose_adequate": True,
            "weeks_at_dose": 10,
            "adherence": "good",
            "outcome": "ongoing",
        }
    ],
    "psychotherapy_trials": [
        {"modality": "cbt", "sessions": 3, "weeks": 4, "outcome": "dropped_out"}
    ],
    "suicide_risk": {"nssi": {"last_date": "2026-10-30", "within_3_months": True}},
    "comorbidities": {"physical_condition_may_explain_symptoms": True},
    "clinical_features": {"significant_weight_loss": True},
    "contraindications": {"cardiovascular_event_within_6_weeks": True},
    "current_medications": [
        {"drug": "sertraline", "drug_class": "ssri", "dose_mg_per_day": 150},
        {"drug": "valproate", "drug_class": "valproate", "dose_mg_per_day": 1000},
        {"drug": "house mix", "drug_class": "other"},
    ],
}


def _resources(bundle: Any, rtype: str) -> list[Any]:
    return [r for r in iter_resources(bundle) if r["resourceType"] == rtype]


def test_export_writes_v2_concepts_natively_where_fhir_has_a_place() -> None:
    case = parse_case(V2_CASE)
    bundle = case_to_bundle(case, at=AT)
    for r in iter_resources(bundle):
        validate(r)
    (nssi,) = [
        c for c in _resources(bundle, "Condition") if c["code"]["coding"][0]["code"] == "R45.88"
    ]
    assert nssi["onsetDateTime"] == "2026-10-30"
    conditions = [c["code"]["coding"][0]["code"] for c in _resources(bundle, "Condition")]
    assert {"448765001", "88052002"} <= set(conditions)  # weight loss, mutism
    obs = _resources(bundle, "Observation")
    codes = [(o["code"]["coding"][0]["code"], o["effectiveDateTime"]) for o in obs]
    assert codes == [("44261-6", "2026-03-05"), ("44260-8", "2026-11-20")]  # item 9 alone
    statements = {
        r["medicationCodeableConcept"]["text"]: r for r in _resources(bundle, "MedicationStatement")
    }
    assert set(statements) == {"sertraline", "valproate"}  # "house mix" is not a known drug
    assert statements["sertraline"]["status"] == "active"  # shared by trial and current med
    assert statements["valproate"]["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1000
    (qr,) = [q for q in _resources(bundle, "QuestionnaireResponse") if q.get("questionnaire")]
    links = {i["linkId"] for g in qr["item"] for i in g["item"]}
    assert {
        "/episode/current_severity",
        "/suicide_risk/nssi/within_3_months",
        "/comorbidities/physical_condition_may_explain_symptoms",
        "/contraindications/cardiovascular_event_within_6_weeks",
        "/current_medications/resource",
        "/current_medications/dose_mg_per_day",
    } <= links
    assert "/suicide_risk/nssi/last_date" not in links  # the Condition carries it


def test_export_then_import_gives_the_same_v2_case(engine: Engine) -> None:
    case = parse_case(V2_CASE)
    back = case_from_fhir(case_to_bundle(case, at=AT), at=AT).case
    for section in (
        "diagnosis",
        "episode",
        "suicide_risk",
        "comorbidities",
        "clinical_features",
        "contraindications",
        "psychotherapy_trials",
    ):
        assert getattr(back, section) == getattr(case, section), section
    assert sorted(back.measurements, key=lambda m: m.timepoint.value) == sorted(
        case.measurements, key=lambda m: m.timepoint.value
    )
    key = lambda m: m.drug  # noqa: E731
    assert sorted(back.current_medications, key=key) == sorted(case.current_medications, key=key)
    assert back.antidepressant_trials == case.antidepressant_trials
    before, after = engine.evaluate(case, at=AT), engine.evaluate(back, at=AT)
    assert [r.option for r in after.recommendations] == [r.option for r in before.recommendations]
    assert [b.option for b in after.blocked] == [b.option for b in before.blocked]


def test_ongoing_trial_without_a_current_medication_stays_in_the_form() -> None:
    data = {**V2_CASE, "current_medications": []}
    bundle = case_to_bundle(parse_case(data), at=AT)
    assert not [
        r for r in _resources(bundle, "MedicationStatement") if r["status"] == "active"
    ]  # an active statement would be read back as a current medication
    back = case_from_fhir(bundle, at=AT).case
    assert back.current_medications == []
    assert [t.outcome.value for t in back.antidepressant_trials] == ["ongoing"]


def test_future_dated_nssi_goes_in_the_form() -> None:
    data = {**V2_CASE, "suicide_risk": {"nssi": {"last_date": "2027-01-01"}}}
    case = parse_case(data)
    bundle = case_to_bundle(case, at=AT)
    assert not [c for c in _resources(bundle, "Condition") if "R45.88" in str(c["code"])]
    back = case_from_fhir(bundle, at=AT).case
    assert back.suicide_risk.nssi == case.suicide_risk.nssi


def test_a_drug_name_fhir_cannot_carry_is_an_error_naming_the_field() -> None:
    data = {**V2_CASE, "current_medications": [{"drug": "\x0c", "drug_class": "other"}]}
    # The schema refuses it first, naming the field (issue-8 follow-up point 5) ...
    with pytest.raises(CaseError) as refused:
        parse_case(data)
    assert [path for path, _ in refused.value.errors] == ["/current_medications/0/drug"]
    # ... and the export still guards a case built without validation.
    data["current_medications"] = [{"drug": "x", "drug_class": "other"}]
    case = parse_case(data)
    med = case.current_medications[0].model_copy(update={"drug": "\x0c"})
    with pytest.raises(FhirError) as exc:
        case_to_bundle(case.model_copy(update={"current_medications": [med]}), at=AT)
    assert exc.value.errors == [
        (
            "/current_medications/0/drug",
            "a drug name made only of whitespace cannot be a FHIR string",
        )
    ]
