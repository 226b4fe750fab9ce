"""Every third-party FHIR fixture: what it yields and what stays not recorded.

The fixtures (``shared/fixtures/fhir``) are unmodified real-world content; their oddities are
the point (SCD and non-ingredient RxNorm codes, PHQ-9 totals as valueString/valueDecimal,
C-SSRS only as a QuestionnaireResponse, LOINC answer codes).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from tests.fhir_support import FIXTURES, SCT, SYNTHEA, condition, fixture, load, synthea
from tests.fhir_support import patient as patient_res
from trd_cds.interop.fhir import FhirError, case_from_fhir, is_fhir, iter_ndjson_patients
from trd_cds.interop.fhir.cli import fhir
from trd_cds.interop.fhir.clinical import phq9_scores
from trd_cds.interop.fhir.resources import group_by_patient, iter_resources, select
from trd_cds.interop.fhir.terminology import terminology

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def _bhp() -> list[Any]:
    """The HL7 BHP examples for James Wolff, plus what the folder lacks: his Patient resource,
    and an onset on the depression Condition (the example has none)."""
    res = [load(p) for p in sorted((FIXTURES / "hl7-bhp").glob("*.json"))]
    for r in res:
        if r["resourceType"] == "Condition":
            r["onsetDateTime"] = "2024-01-05"
    return [*res, patient_res("bh-patient-example", "1980-05-01", "male")]


def _pointers(result: Any) -> set[str]:
    return {n.pointer for n in result.data_needed}


def test_every_fixture_file_is_fhir_and_valid_r4b() -> None:
    from trd_cds.interop.fhir.resources import validate

    files = sorted(p for p in FIXTURES.rglob("*.json"))
    assert len(files) == 24
    for path in files:
        data = load(path)
        assert is_fhir(data), path
        if data["resourceType"] != "Bundle":
            validate(data)


def test_bhp_condition_without_onset_is_an_error_naming_the_condition() -> None:
    res = [load(p) for p in sorted((FIXTURES / "hl7-bhp").glob("*.json"))]
    with pytest.raises(FhirError) as exc:
        case_from_fhir([*res, patient_res("bh-patient-example")], at=AT)
    ((where, msg),) = exc.value.errors
    assert where == "Condition/depression-condition-example-1#/code"
    assert "episode onset not recorded" in msg


def test_bhp_without_a_patient_resource_cannot_give_an_age() -> None:
    res = [load(p) for p in sorted((FIXTURES / "hl7-bhp").glob("*.json"))]
    with pytest.raises(FhirError, match="no Patient resource"):
        case_from_fhir(res, at=AT)


def test_bhp_examples_yield_trials_scores_and_cssrs() -> None:
    result = case_from_fhir(_bhp(), at=AT)
    case = result.case
    assert case.diagnosis.primary.value == "mdd"
    assert case.episode.baseline_severity is not None
    assert case.episode.baseline_severity.value == "moderate"  # 310496002
    # PHQ-9 QuestionnaireResponse: total as valueDecimal 12, item 9 as LA6568-5 (= 0)
    (m,) = case.measurements
    assert (m.score, m.item9, str(m.date), m.timepoint.value) == (12, 0, "2024-02-01", "current")
    assert result.provenance["/measurements/0/score"] == (
        "QuestionnaireResponse/phq-9-example-1#/item/10/answer/0/valueDecimal"
    )
    assert result.provenance["/measurements/0/date"] == (
        "QuestionnaireResponse/phq-9-example-1#/authored"
    )
    # C-SSRS only as a QuestionnaireResponse, LOINC LA32-8 = no; items 3-5 not asked after 'no'
    cssrs = case.suicide_risk.cssrs
    assert cssrs is not None
    assert (cssrs.wish_to_be_dead, cssrs.active_suicidal_thoughts, cssrs.behaviour) == (
        False,
        False,
        False,
    )
    assert cssrs.method is None and cssrs.behaviour_within_3_months is None
    # trials: SCD codes 1738483 (paroxetine 10 mg) and 993532 (bupropion 200 mg)
    trials = {t.drug: t for t in case.antidepressant_trials}
    assert set(trials) == {"paroxetine", "bupropion"}
    assert trials["paroxetine"].drug_class.value == "ssri"
    assert trials["bupropion"].drug_class.value == "other"
    # 'Take 1 tablet daily' × 10 mg < 20; dispense '200 mg daily' < 300: both known, both low
    assert trials["paroxetine"].dose_adequate is False
    assert trials["bupropion"].dose_adequate is False
    # US Core adherence extension: non-compliance
    assert trials["paroxetine"].adherence.value == "poor"
    assert trials["bupropion"].adherence.value == "unknown"
    # no dates on the orders: weeks and outcome stay not recorded
    assert all(t.weeks_at_dose is None for t in trials.values())
    needed = _pointers(result)
    assert {
        "/antidepressant_trials/0/outcome",
        "/antidepressant_trials/0/weeks_at_dose",
        "/antidepressant_trials/1/outcome",
        "/antidepressant_trials/0/adherence",
    } <= needed


def test_us_core_phq9_observations_value_string_and_panel() -> None:
    res = [load(p) for p in sorted((FIXTURES / "hl7-us-core").glob("*.json"))]
    groups = group_by_patient(iter_resources(res))
    pd = select(groups["example"], "example", groups.get("", []))
    scores = phq9_scores(pd, terminology())
    by_key = {s.key: s for s in scores}
    panel = by_key["panel:PHQ9-panel-example-44249-1"]  # paired through hasMember
    assert (panel.total, panel.item9) == (12, 0)  # total as valueString "12"
    assert panel.total_at == "Observation/PHQ9-item-example-44261-6#/valueString"
    assert panel.item9_at.endswith("#/valueCodeableConcept/coding/0/code")
    qr = by_key["qr:phq-9-example"]
    assert (qr.total, qr.item9) == (12, 0)


def test_us_core_examples_with_a_depression_condition_give_one_current_score() -> None:
    res = [load(p) for p in sorted((FIXTURES / "hl7-us-core").glob("*.json"))]
    res.append(condition("370143000", SCT, pid="example", onset="2022-01-01"))
    result = case_from_fhir(res, at=AT)
    (m,) = result.case.measurements  # the QR and the Observations are the same day: one score
    assert (m.score, m.item9, m.timepoint.value) == (12, 0, "current")
    assert result.case.patient.sex.value == "unknown"  # the example Patient has no gender
    assert result.case.patient.age == 39  # birthDate 1987-02-20, evaluated 2026-11-24


def test_us_core_without_a_condition_is_not_a_case() -> None:
    res = [load(p) for p in sorted((FIXTURES / "hl7-us-core").glob("*.json"))]
    with pytest.raises(FhirError, match="no active depressive or bipolar disorder"):
        case_from_fhir(res, at=AT)


def test_synthea_milan_mdd_with_fluoxetine_code_406022() -> None:
    result = case_from_fhir(synthea("Milan"), at=AT)
    case = result.case
    assert case.diagnosis.primary.value == "mdd"  # SNOMED 370143000
    assert str(case.episode.onset_date) == "1993-01-09"
    (trial,) = case.antidepressant_trials  # two orders, one course
    assert (trial.drug, trial.drug_class.value, trial.outcome.value) == (
        "fluoxetine",
        "ssri",
        "ongoing",
    )
    # doseQuantity {value: 1} with no unit: dose not derivable, never false
    assert trial.dose_adequate is None
    # an order 'active' since 1993 is not one plausible trial: weeks stay not recorded
    assert trial.weeks_at_dose is None
    needed = _pointers(result)
    assert {
        "/antidepressant_trials/0/dose_adequate",
        "/antidepressant_trials/0/weeks_at_dose",
        "/measurements",
        "/suicide_risk",
    } <= needed
    assert case.measurements == []  # Synthea records PHQ-9 screening as Procedures only
    assert case.suicide_risk.cssrs is None
    # schema v2: the active order is also a current medication; its dose is not derivable
    (med,) = case.current_medications
    assert (med.drug, med.drug_class.value, med.dose_mg_per_day) == ("fluoxetine", "ssri", None)
    assert "/current_medications/0/dose_mg_per_day" in needed


def test_synthea_deceased_patients_are_refused() -> None:
    for name in ("Gilberto", "Roberto"):
        with pytest.raises(FhirError, match="deceased"):
            case_from_fhir(synthea(name), at=AT)


def test_synthea_roberto_before_death_ptsd_sertraline_328670_no_depression() -> None:
    with pytest.raises(FhirError, match="no active depressive"):
        case_from_fhir(synthea("Roberto"), at=datetime(1978, 10, 10, tzinfo=timezone.utc))


def test_synthea_gilberto_opioid_abuse_maps_with_a_depression_condition() -> None:
    bundle = synthea("Gilberto")
    pid = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    extra = condition("370143000", SCT, pid=pid, rid="added-mdd", onset="1967-08-01")
    result = case_from_fhir([bundle, extra], at=datetime(1970, 1, 1, tzinfo=timezone.utc))
    assert result.case.comorbidities.substance_use_disorder is True  # SNOMED 5602001
    (trial,) = result.case.antidepressant_trials
    assert trial.drug == "sertraline"  # code 328670, not an RxNorm ingredient code
    assert result.provenance["/antidepressant_trials/0/drug"].endswith(
        "#/medicationCodeableConcept/coding/0/code"
    )


def test_bulk_10_patients_grouped_and_streamed() -> None:
    results = list(iter_ndjson_patients(FIXTURES / "synthea-bulk-10", at=AT))
    ids = [r.patient for r in results]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) >= 10
    # no depression diagnosis among them: nothing to recommend, each said why, none crashed
    assert all(r.result is None and r.error is not None for r in results)
    reasons = {r.error.errors[0][1].split(":")[0] for r in results if r.error}
    assert reasons <= {
        "the patient is recorded as deceased",
        "no active depressive or bipolar disorder coded (and no "
        "/diagnosis/primary in the TRD questionnaire)",
    }


def test_bulk_memory_is_bounded_by_one_patient(monkeypatch: pytest.MonkeyPatch) -> None:
    from trd_cds.interop.fhir import bulk

    seen: list[int] = []
    real = bulk.case_from_resources

    def spy(resources: list[Any], *a: Any, **kw: Any) -> Any:
        seen.append(len(resources))
        assert (
            len(
                {
                    r.get("subject", {}).get("reference", "")
                    for r in resources
                    if r["resourceType"] != "Patient"
                }
            )
            <= 1
        )
        return real(resources, *a, **kw)

    monkeypatch.setattr(bulk, "case_from_resources", spy)
    total = sum(
        1
        for p in (FIXTURES / "synthea-bulk-10").glob("*.ndjson")
        for line in p.read_text("utf-8").splitlines()
        if line.strip()
    )
    list(bulk.iter_ndjson_patients(FIXTURES / "synthea-bulk-10", at=AT))
    assert sum(seen) == total and max(seen) < total / 2


def test_multi_patient_bundle_needs_patient() -> None:
    a, b = synthea("Milan"), synthea("Gilberto")
    both = {"resourceType": "Bundle", "type": "collection", "entry": a["entry"] + b["entry"]}
    with pytest.raises(FhirError, match="2 patients"):
        case_from_fhir(both, at=AT)
    pid = next(
        e["resource"]["id"] for e in a["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert case_from_fhir(both, at=AT, patient=pid).case.patient.id == pid
    with pytest.raises(FhirError, match="no patient 'nobody'"):
        case_from_fhir(both, at=AT, patient="nobody")


def test_bad_fhir_names_resource_type_id_and_path() -> None:
    bad = {
        "resourceType": "Observation",
        "id": "bad-1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "valueQuantity": {"value": "twelve"},
    }
    with pytest.raises(FhirError) as exc:
        case_from_fhir([patient_res(), condition("370143000", SCT), bad], at=AT)
    assert exc.value.errors[0][0] == "Observation/bad-1#/valueQuantity/value"


def test_unselected_resources_are_not_validated() -> None:
    # a broken resource the mapping never reads does not stop the case (selection first)
    junk = {
        "resourceType": "Observation",
        "id": "lab",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": "n/a"},
    }
    case_from_fhir([patient_res(), condition("370143000", SCT), junk], at=AT)


def test_is_fhir() -> None:
    assert is_fhir({"resourceType": "Bundle"})
    assert not is_fhir({"case_id": "x"}) and not is_fhir([]) and not is_fhir({"resourceType": 1})


def test_cli_fhir_case_prints_case_provenance_and_data_needed() -> None:
    path = next(p for p in SYNTHEA if p.name.startswith("Milan"))
    r = CliRunner().invoke(fhir, ["case", str(path), "--at", "2026-11-24T09:00:00Z"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) == {"case", "provenance", "derivations", "data_needed", "not_used"}
    assert out["provenance"]["/diagnosis/primary"].startswith("Condition/")


def test_cli_fhir_case_bulk_folder_exits_1_and_reports_each_patient() -> None:
    r = CliRunner().invoke(
        fhir, ["case", str(FIXTURES / "synthea-bulk-10"), "--at", "2026-11-24T09:00:00Z"]
    )
    assert r.exit_code == 1
    assert r.output.count("error: Patient/") >= 10


def test_cli_rejects_naive_time() -> None:
    path = next(p for p in SYNTHEA if p.name.startswith("Milan"))
    r = CliRunner().invoke(fhir, ["case", str(path), "--at", "2026-11-24T09:00:00"])
    assert r.exit_code == 2


def test_fixture_helpers_are_real() -> None:
    assert fixture("hl7-bhp", "Condition-depression-condition-example-1.json")["id"]
