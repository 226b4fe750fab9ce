"""Hostile FHIR input: every bundle, resource list or Bulk folder gives a case whose values come
from named resources, or a FhirError/CaseError naming the resource and path; never a
traceback, a hang, or a quietly wrong value (one regression test per defect found)."""

from __future__ import annotations

import copy
import json
import os
import typing
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from tests.conftest import examples
from tests.fhir_support import (
    LOINC,
    RXNORM,
    SCT,
    condition,
    daily,
    depressed,
    med_request,
    patient,
    phq9,
)
from trd_cds import Case
from trd_cds.cli import main
from trd_cds.interop.fhir import FhirError, case_from_fhir, iter_ndjson_patients
from trd_cds.interop.fhir.questionnaire import URL as TRD_URL
from trd_cds.schemas.errors import CaseError

AT = datetime(2026, 6, 1, tzinfo=timezone.utc)
ITEMS = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3")


def _bundle(*resources: Any) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def _error(data: Any, **kw: Any) -> FhirError:
    with pytest.raises(FhirError) as exc:
        case_from_fhir(data, at=kw.pop("at", AT), **kw)
    return exc.value


def _answer(code: str, value: int) -> dict[str, Any]:
    return {"linkId": f"/{code}", "answer": [{"valueInteger": value}]}


def _phq9_response(items: list[int], total: int | None = None) -> dict[str, Any]:
    answers = [_answer(c, v) for c, v in zip((*ITEMS, "44260-8"), items, strict=True)]
    if total is not None:
        answers.append(_answer("44261-6", total))
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "q1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-05-01",
        "item": answers,
    }


def _yes_no(yes: bool) -> dict[str, Any]:
    return {"valueCoding": {"system": LOINC, "code": "LA33-6" if yes else "LA32-8"}}


def _cssrs(rid: str, authored: str, yes: bool) -> dict[str, Any]:
    # items 1, 2 and 6 (behaviour) and 6b (within 3 months)
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": authored,
        "item": [
            {"linkId": f"/{code}", "answer": [_yes_no(yes)]}
            for code in ("93246-7", "93247-5", "93267-3", "93269-9")
        ],
    }


def _pregnancy(rid: str, when: str, pregnant: bool) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
        "effectiveDateTime": when,
        "valueCodeableConcept": {
            "coding": [{"system": LOINC, "code": "LA15173-0" if pregnant else "LA26683-5"}]
        },
    }


# ------------------------------------------------------------------ crashes


@pytest.mark.parametrize("days", [1e10, 3_000_000])
def test_a_days_supply_beyond_the_calendar_is_no_crash(days: float) -> None:
    dispense = {
        "resourceType": "MedicationDispense",
        "id": "d1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "36437"}]},
        "whenHandedOver": "2026-03-01",
        "daysSupply": {"value": days},
    }
    result = case_from_fhir(_bundle(*depressed(), dispense), at=AT)
    (trial,) = result.case.antidepressant_trials
    assert trial.weeks_at_dose is None  # no end date: data needed, not a guess
    assert any(n.pointer == "/antidepressant_trials/0/weeks_at_dose" for n in result.data_needed)


@pytest.mark.parametrize(
    ("data", "where", "needle"),
    [
        ({"resourceType": "Bundle", "entry": 5}, "Bundle/?#/entry", "not a list"),
        ({"resourceType": "Bundle", "entry": [5]}, "Bundle/?#/entry/0", "not an object"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": [1]}]},
            "Bundle/?#/entry/0/resource",
            "not an object",
        ),
        ([patient(), 5], "/1", "not a FHIR resource"),
        # a resource without its type was never read, without a word
        (_bundle(patient(), {"id": "c1"}), "Bundle/?#/entry/1/resource/resourceType", "no"),
        ([patient(), {"id": "c1"}], "/1/resourceType", "no resourceType"),
        (7, "/", "not FHIR content"),
    ],
)
def test_a_bundle_of_the_wrong_shape_is_a_fhir_error(data: Any, where: str, needle: str) -> None:
    err = _error(data, source="x.json")
    assert err.source == "x.json"
    assert err.errors[0][0] == where and needle in err.errors[0][1]


def test_a_bundle_entry_of_the_wrong_shape_is_an_error_on_the_command_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"resourceType": "Bundle", "entry": 5}', "utf-8")
    result = CliRunner().invoke(main, ["evaluate", "--at", "2026-06-01T00:00:00Z", str(path)])
    assert result.exit_code == 1
    assert f"{path}: Bundle/?#/entry: entry is not a list" in result.output
    assert "internal error" not in result.output


def test_a_questionnaire_response_nested_deeply_is_an_error_not_a_recursion_error() -> None:
    item: dict[str, Any] = {"linkId": "/44260-8", "answer": [{"valueInteger": 1}]}
    for i in range(300):
        item = {"linkId": f"g{i}", "item": [item]}
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "deep",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "item": [item],
    }
    err = _error(_bundle(*depressed(), qr))
    assert err.errors[0][0].startswith("QuestionnaireResponse/deep#/item/0/item/0/")
    assert "nested more than 64 levels deep" in err.errors[0][1]


def test_bundles_nested_a_thousand_deep_do_not_exhaust_the_stack() -> None:
    data: dict[str, Any] = _bundle(*depressed())
    for _ in range(1000):
        data = {"resourceType": "Bundle", "entry": [{"resource": data}]}
    assert case_from_fhir(data, at=AT).case.patient.age == 46


@pytest.mark.parametrize("pid", [None, "absent"])
def test_a_patient_without_an_id_is_an_error(pid: str | None) -> None:
    me = patient()
    if pid is None:
        me["id"] = None
    else:
        del me["id"]
    err = _error(_bundle(me))
    assert err.errors == [("Patient/?#/id", "a Patient needs an id")]


# ------------------------------------------------------------------ quietly wrong values


def test_two_patients_with_one_id_and_two_birth_dates_are_an_error() -> None:
    for order in (1, -1):
        res = [*depressed(), patient(birth="2015-01-01")][::order]
        err = _error(_bundle(*res))
        assert err.errors == [
            ("Patient/p1#", "given twice with different content: which one is right?")
        ]


def test_one_resource_given_twice_counts_once() -> None:
    session = {
        "resourceType": "Procedure",
        "id": "s1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "304891004"}]},
        "performedDateTime": "2026-02-01",
    }
    other = {**session, "id": "s2", "performedDateTime": "2026-03-01"}
    result = case_from_fhir(_bundle(*depressed(), session, session, other), at=AT)
    assert result.case.psychotherapy_trials[0].sessions == 2  # not 3


def test_psychotherapy_sessions_dated_after_the_evaluation_are_not_counted() -> None:
    # 1 past + 9 future 'completed' sessions made 10: an adequate (≥ 8) CBT trial
    def session(rid: str, day: str) -> dict[str, Any]:
        return {
            "resourceType": "Procedure",
            "id": rid,
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": SCT, "code": "304891004"}]},
            "performedDateTime": day,
        }

    later = [session(f"f{i}", f"2027-0{i + 1}-01") for i in range(9)]
    result = case_from_fhir(_bundle(*depressed(), session("s0", "2026-03-01"), *later), at=AT)
    assert result.case.psychotherapy_trials[0].sessions == 1
    assert len(result.unmapped["psychotherapy_procedures"][0]) == 9


def _sertraline_dispense() -> dict[str, Any]:
    """A 90-day sertraline supply handed over a week before the evaluation."""
    return {
        "resourceType": "MedicationDispense",
        "id": "d1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "36437"}]},
        "whenHandedOver": "2026-05-25",
        "daysSupply": {"value": 90},
    }


def test_a_supply_reaching_past_the_evaluation_counts_only_to_it() -> None:
    # a 90-day dispense a week ago counted 12.9 weeks at dose: an adequate-length trial
    dispense = _sertraline_dispense()
    result = case_from_fhir(_bundle(*depressed(), dispense), at=AT)
    (trial,) = result.case.antidepressant_trials
    assert (trial.weeks_at_dose, trial.outcome.value) == (1.0, "ongoing")
    (weeks,) = [d for d in result.derivations if d.pointer.endswith("/weeks_at_dose")]
    assert "after the evaluation date: counted to it" in weeks.rule


def test_two_different_totals_for_one_administration_are_an_error() -> None:
    for a, b in (("o1", "o2"), ("o2", "o1")):
        res = {"o1": phq9("o1", "2026-05-01", 5), "o2": phq9("o2", "2026-05-01", 25)}
        err = _error(_bundle(*depressed(), res[a], res[b]))
        (where, message), *_ = err.errors
        assert where == f"Observation/{b}#/valueInteger"
        assert "two PHQ-9 totals for one administration disagree" in message
        assert f"Observation/{a}#/valueInteger" in message


def test_the_same_total_recorded_twice_is_fine() -> None:
    res = [phq9("o1", "2026-05-01", 12), phq9("o2", "2026-05-01", 12)]
    (m,) = case_from_fhir(_bundle(*depressed(), *res), at=AT).case.measurements
    assert m.score == 12


@pytest.mark.parametrize("unit", ["%", "mg", "kg"])
def test_a_score_in_another_unit_is_refused(unit: str) -> None:
    obs = phq9("o1", "2026-05-01", 12, key="valueQuantity")
    obs["valueQuantity"]["unit"] = unit
    err = _error(_bundle(*depressed(), obs))
    assert err.errors == [("Observation/o1#/valueQuantity/unit", f"{unit!r} is not a score unit")]


@pytest.mark.parametrize("unit", ["{score}", "score", "1"])
def test_a_score_unit_is_read(unit: str) -> None:
    obs = phq9("o1", "2026-05-01", 12, key="valueQuantity")
    obs["valueQuantity"] |= {"unit": unit, "code": unit}
    (m,) = case_from_fhir(_bundle(*depressed(), obs), at=AT).case.measurements
    assert m.score == 12


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("valueString", "12.5"),
        ("valueString", "severe"),
        ("valueQuantity", {"value": 12.5}),
        # an item's answer code (LA6570-1 = 2) was read as a total of 2: remission
        ("valueCodeableConcept", {"coding": [{"system": LOINC, "code": "LA6570-1"}]}),
    ],
)
def test_a_phq9_total_that_is_no_whole_number_is_an_error(key: str, value: Any) -> None:
    # the unreadable latest total was skipped, and the older one (4: remission) was current
    latest = phq9("o2", "2026-05-20", 0)
    del latest["valueInteger"]
    latest[key] = value
    err = _error(_bundle(*depressed(), phq9("o1", "2026-05-01", 4), latest))
    assert err.errors == [(f"Observation/o2#/{key}", "not a PHQ-9 total score (a whole number)")]


@pytest.mark.parametrize(
    ("answer", "sub"),
    [
        ({"valueString": "severe"}, "valueString"),
        ({"valueCoding": {"system": LOINC, "code": "LA6570-1"}}, "valueCoding/code"),
    ],
)
def test_a_questionnaire_phq9_total_that_is_no_whole_number_is_an_error(
    answer: dict[str, Any], sub: str
) -> None:
    qr = _phq9_response([1] * 9)
    qr["item"].append({"linkId": "/44261-6", "answer": [answer]})
    err = _error(_bundle(*depressed(), qr))
    assert err.errors == [
        (
            f"QuestionnaireResponse/q1#/item/9/answer/0/{sub}",
            "not a PHQ-9 total score (a whole number)",
        )
    ]


@pytest.mark.parametrize(
    "value",
    [
        {"valueString": "nearly every day"},
        {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "1"}]}},
    ],
)
def test_an_unreadable_item9_answer_is_an_error_not_skipped(value: dict[str, Any]) -> None:
    item9 = {
        "resourceType": "Observation",
        "id": "i9",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
        "effectiveDateTime": "2026-05-01",
        **value,
    }
    err = _error(_bundle(*depressed(), phq9("o1", "2026-05-01", 12), item9))
    assert err.errors == [
        (f"Observation/i9#/{next(iter(value))}", "not a PHQ-9 item 9 answer (0–3)")
    ]


@pytest.mark.parametrize("bad", [10, -2, 4])
def test_a_phq9_item_outside_0_to_3_is_not_summed(bad: int) -> None:
    err = _error(_bundle(*depressed(), _phq9_response([bad, 0, 0, 0, 0, 0, 0, 0, 0])))
    assert err.errors == [
        (
            "QuestionnaireResponse/q1#/item/0/answer/0/valueInteger",
            f"a PHQ-9 item answer of {bad} (items score 0–3)",
        )
    ]


def test_an_item9_above_its_total_is_not_dropped() -> None:
    err = _error(_bundle(*depressed(), _phq9_response([3] * 9, total=2)))
    (where, message), *_ = err.errors
    assert where == "QuestionnaireResponse/q1#/item/8/answer/0/valueInteger"
    assert "item 9 (3) exceeds the total 2" in message


def test_a_cssrs_dated_after_the_evaluation_does_not_replace_the_current_one() -> None:
    current = _cssrs("now", "2026-05-01", True)
    future = _cssrs("later", "2027-05-01", False)
    result = case_from_fhir(_bundle(*depressed(), current, future), at=AT)
    cssrs = result.case.suicide_risk.cssrs
    assert cssrs is not None and cssrs.behaviour is True and cssrs.wish_to_be_dead is True
    assert result.unmapped["cssrs"] == [
        {
            "source": "QuestionnaireResponse/later#/authored",
            "why": "dated after the evaluation date",
        }
    ]


def test_the_latest_cssrs_is_judged_by_the_instant_not_the_text() -> None:
    # 10:00+10:00 is 00:00 UTC: the 09:00 UTC screener is the later one, whatever the text says
    early = _cssrs("early", "2026-05-01T10:00:00+10:00", False)
    late = _cssrs("late", "2026-05-01T09:00:00Z", True)
    for res in ([early, late], [late, early]):
        cssrs = case_from_fhir(_bundle(*depressed(), *res), at=AT).case.suicide_risk.cssrs
        assert cssrs is not None and cssrs.behaviour is True


def test_an_undated_cssrs_does_not_outrank_a_dated_one() -> None:
    dated = _cssrs("dated", "2026-05-01", True)
    undated = _cssrs("undated", "2026-05-01", False)
    undated["authored"] = None  # JSON null: no date (it once sorted as the text "None")
    cssrs = case_from_fhir(_bundle(*depressed(), undated, dated), at=AT).case.suicide_risk.cssrs
    assert cssrs is not None and cssrs.behaviour is True


def _cssrs_item(rid: str, code: str, when: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
        **value,
    }


_SCREENER = ("93246-7", "93247-5", "93267-3", "93269-9")


def test_a_newer_cssrs_recorded_as_value_boolean_is_read() -> None:
    # it was skipped (only answer codes were read): the older 'no' screener stood
    no = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA32-8"}]}}
    old = [_cssrs_item(f"o{i}", c, "2026-01-01", **no) for i, c in enumerate(_SCREENER)]
    new = [
        _cssrs_item(f"n{i}", c, "2026-05-01", valueBoolean=True) for i, c in enumerate(_SCREENER)
    ]
    cssrs = case_from_fhir(_bundle(*depressed(), *old, *new), at=AT).case.suicide_risk.cssrs
    assert cssrs is not None and cssrs.behaviour is True and cssrs.wish_to_be_dead is True


@pytest.mark.parametrize(
    "value",
    [
        {"valueString": "yes"},
        {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "373066001"}]}},
    ],
)
def test_a_cssrs_answer_that_is_not_yes_or_no_is_an_error(value: dict[str, Any]) -> None:
    item = _cssrs_item("n1", "93246-7", "2026-05-01", **value)
    err = _error(_bundle(*depressed(), item))
    assert err.errors == [(f"Observation/n1#/{next(iter(value))}", "not a yes/no answer")]


def test_a_pregnancy_status_dated_after_the_evaluation_is_not_read() -> None:
    res = [_pregnancy("now", "2026-05-01", True), _pregnancy("later", "2027-01-01", False)]
    result = case_from_fhir(_bundle(*depressed(), *res), at=AT)
    assert result.case.patient.pregnant is True
    assert result.provenance["/patient/pregnant"].startswith("Observation/now#")


def _trd_response(group: str, answers: dict[str, Any], authored: str = "2026-05-01") -> Any:
    items = [{"linkId": f"{group}/{k}", "answer": [v]} for k, v in answers.items()]
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "trd",
        "status": "completed",
        "questionnaire": TRD_URL,
        "subject": {"reference": "Patient/p1"},
        "authored": authored,
        "item": [{"linkId": group, "item": items}],
    }


@pytest.mark.parametrize(
    ("group", "answers", "where", "link"),
    [
        # never asked (FHIR's Patient gives them): answering overwrote the derived age and id
        ("/patient", {"age": {"valueInteger": 99}}, "/item/0/item/0/linkId", "/patient/age"),
        ("/patient", {"id": {"valueString": "other"}}, "/item/0/item/0/linkId", "/patient/id"),
        ("/case_id", {"x": {"valueString": "x"}}, "/item/0/linkId", "/case_id"),  # TypeError
    ],
)
def test_a_trd_response_answers_only_its_own_questions(
    group: str, answers: dict[str, Any], where: str, link: str
) -> None:
    err = _error(_bundle(*depressed(), _trd_response(group, answers)))
    assert err.errors == [
        (
            f"QuestionnaireResponse/trd#{where}",
            f"{link!r} is not an item of the TRD questionnaire",
        )
    ]


def test_a_trd_response_dated_after_the_evaluation_is_not_applied() -> None:
    answer = {"psychotic_features": {"valueBoolean": True}}
    later = _trd_response("/diagnosis", answer, authored="2027-01-01")
    result = case_from_fhir(_bundle(*depressed(), later), at=AT)
    assert result.case.diagnosis.psychotic_features is None
    assert result.unmapped["trd_questionnaire"] == [
        {"source": "QuestionnaireResponse/trd#/authored", "why": "dated after the evaluation date"}
    ]
    now = _trd_response("/diagnosis", answer)
    assert case_from_fhir(_bundle(*depressed(), now), at=AT).case.diagnosis.psychotic_features


def _order(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-02-01",
        "dosageInstruction": [daily(1, "tablet", "{tbl}")],
        **fields,
    }


def _house_brand(denominator: dict[str, Any]) -> dict[str, Any]:
    ucum = "http://unitsofmeasure.org"
    return {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"text": "house brand"},
        "ingredient": [
            {
                "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "36437"}]},
                "strength": {
                    "numerator": {"value": 100, "unit": "mg", "system": ucum, "code": "mg"},
                    "denominator": {**denominator, "system": ucum},
                },
            }
        ],
    }


@pytest.mark.parametrize(
    "denominator",
    [{"value": 5, "unit": "mL", "code": "mL"}, {"value": 2, "unit": "tablet", "code": "{tbl}"}],
)
def test_a_strength_per_5_ml_or_per_2_tablets_is_not_mg_per_tablet(
    denominator: dict[str, Any],
) -> None:
    # 100 mg / 5 mL with '1 tablet' daily was read as 100 mg/day: dose adequate
    order = _order(medicationReference={"reference": "Medication/med1"})
    result = case_from_fhir(_bundle(*depressed(), _house_brand(denominator), order), at=AT)
    (trial,) = result.case.antidepressant_trials
    assert trial.drug == "sertraline" and trial.dose_adequate is None


def test_a_strength_per_one_tablet_is_read() -> None:
    order = _order(medicationReference={"reference": "Medication/med1"})
    one = _house_brand({"value": 1, "unit": "tablet", "code": "{tbl}"})
    result = case_from_fhir(_bundle(*depressed(), one, order), at=AT)
    assert result.case.antidepressant_trials[0].dose_adequate is True


def test_a_contained_medication_is_read() -> None:
    # '#c1' was never resolved: the sertraline trial vanished without a word
    contained = {
        "resourceType": "Medication",
        "id": "c1",
        "code": {"coding": [{"system": RXNORM, "code": "36437"}]},
    }
    order = _order(medicationReference={"reference": "#c1"}, contained=[contained])
    result = case_from_fhir(_bundle(*depressed(), order), at=AT)
    (trial,) = result.case.antidepressant_trials
    assert trial.drug == "sertraline"
    assert result.provenance["/antidepressant_trials/0/drug"] == (
        "MedicationRequest/m1#/contained/0/code/coding/0/code"
    )


def test_a_medication_reference_to_nothing_is_data_needed() -> None:
    order = _order(medicationReference={"reference": "Medication/not-here"})
    result = case_from_fhir(_bundle(*depressed(), order), at=AT)
    assert result.case.antidepressant_trials == []
    assert any(
        n.pointer == "/antidepressant_trials" and "Medication/not-here" in n.reason
        for n in result.data_needed
    )


@pytest.mark.parametrize("reference", ["Patient/", "urn:uuid:"])
def test_a_reference_naming_no_patient_is_nobody_s_data(reference: str) -> None:
    # it was filed with the subject-less resources every patient shares: a bipolar Condition
    # with subject 'Patient/' made every patient of the bundle bipolar
    bipolar = {**condition("13746004", SCT, rid="bip"), "subject": {"reference": reference}}
    other = [patient("p2"), condition("370143000", SCT, pid="p2", rid="mdd-p2")]
    result = case_from_fhir(_bundle(*depressed(), *other, bipolar), at=AT, patient="p2")
    assert result.case.diagnosis.primary.value == "mdd"


# ------------------------------------------------------------------ a fuzzed campaign

_SEED = [
    *depressed(),
    condition("35489007", "http://snomed.info/sct", rid="c2", onset="2025-01-01"),
    phq9("o1", "2026-02-01", 20),
    phq9("o2", "2026-05-01", 9, key="valueQuantity"),
    med_request(
        "m1", "312941", "sertraline 50 MG Oral Tablet", authored="2026-02-01", dose=daily(2, "TAB")
    ),
    _cssrs("c1", "2026-04-01", False),
    _pregnancy("p1", "2026-04-01", False),
]
_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "2026-13-45", "9999-12-31", "0001-01-01T00:00:00+14:00", "NaN"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["value", "reference", "coding"]), st.integers(), max_size=2),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


@st.composite
def _mutated(draw: st.DrawFn) -> list[Any]:
    res = copy.deepcopy(_SEED)
    paths = _paths(res)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        node: Any = res
        for part in path[:-1]:
            node = _child(node, part)
            if not isinstance(node, (dict, list)):
                break
        else:
            if (isinstance(node, dict) and isinstance(path[-1], str)) or (
                isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)
            ):
                node[path[-1]] = draw(_JUNK)
    if draw(st.booleans()):
        res.append(copy.deepcopy(draw(st.sampled_from(res))))  # a resource given twice
    return res


def _leaves(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, f"{path}/{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, f"{path}/{i}")]
    return [path]


def _is_default(parts: list[str], data: Any) -> bool:
    model: Any = Case
    value = data
    for part in parts:
        value = value[int(part)] if isinstance(value, list) else value[part]
        if part.isdigit():
            continue
        field = model.model_fields[part]
        if isinstance(value, (dict, list)):
            model = _model_of(field.annotation)
            continue
        return field.default is not PydanticUndefined and _plain(field.default) == value
    return False


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _model_of(arg)
        if inner is not None:
            return inner
    return None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@hsettings(max_examples=examples(400), deadline=None)
@given(_mutated())
def test_mutated_fhir_is_a_traced_case_or_a_located_error(resources: list[Any]) -> None:
    try:
        result = case_from_fhir(_bundle(*resources), at=AT, source="fuzz.json")
    except (FhirError, CaseError) as exc:
        errors = exc.errors
    else:
        errors = []
        _check_traced(result)
    assert all(where and message for where, message in errors)


def _check_traced(result: Any) -> None:
    data = result.case.model_dump(mode="json", exclude_none=True)
    untraced = {"/case_id", "/schema_version"}
    for leaf in _leaves(data):
        if leaf in untraced or leaf.endswith("/outcome"):  # 'ongoing' is a placeholder
            continue
        parts = leaf.split("/")
        if _is_default(parts[1:], data):  # the schema's own default: not read from FHIR
            continue
        assert any("/".join(parts[:n]) in result.provenance for n in range(len(parts), 1, -1)), (
            leaf,
            json.dumps(data),
        )


# ------------------------------------------------------------------ Bulk NDJSON folders


def _bulk(tmp_path: Path, extra: bytes | None = None) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    lines = [json.dumps(r) for r in depressed()]
    (folder / "Patient.ndjson").write_text(lines[0] + "\n", "utf-8")
    text = (lines[1] + "\n").encode()
    (folder / "Condition.ndjson").write_bytes(text + (extra or b""))
    return folder


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (b"[1, 2]\n", "Condition.ndjson:2: not a FHIR resource (a JSON list)"),
        (b"5\n", "Condition.ndjson:2: not a FHIR resource (a JSON int)"),
        (b'{"resourceType": "Condition", "id": "\xe9"}\n', "Condition.ndjson:2: not UTF-8 text"),
        (
            b'{"resourceType": "Patient", "id": "p1", "id": "p2"}\n',
            "Condition.ndjson:2: duplicate keys: ['id']",
        ),
        (b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"\n", "Condition.ndjson:2: line 1 column"),
        (b'{"resourceType": "Condition", "id": ' + b"9" * 5000 + b"}\n", "Condition/?#/id"),
        # a Bundle line (or one without a resourceType) was shared and never read
        (b'{"resourceType": "Bundle", "entry": []}\n', "Condition.ndjson:2: not one FHIR resource"),
        (b'{"id": "x"}\n', "Condition.ndjson:2: not one FHIR resource"),
    ],
)
def test_a_bad_ndjson_line_is_a_located_error(tmp_path: Path, line: bytes, needle: str) -> None:
    folder = _bulk(tmp_path, line)
    result = CliRunner().invoke(
        main, ["evaluate", "--at", "2026-06-01T00:00:00Z", "--format", "jsonl", str(folder)]
    )
    assert result.exit_code == 1, result.output
    assert needle in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_a_duplicated_birth_date_in_ndjson_is_not_read_as_the_last_one(tmp_path: Path) -> None:
    folder = _bulk(tmp_path)
    (folder / "Patient.ndjson").write_text(
        '{"resourceType": "Patient", "id": "p1", "birthDate": "1980-05-01", '
        '"birthDate": "2015-01-01"}\n',
        "utf-8",
    )
    with pytest.raises(FhirError, match="duplicate keys"):
        list(iter_ndjson_patients(folder, at=AT))


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_an_ndjson_name_that_is_not_a_regular_file_is_refused_unopened(
    tmp_path: Path, kind: str
) -> None:
    folder = _bulk(tmp_path)
    special = folder / "Observation.ndjson"
    if kind == "folder":
        special.mkdir()
    elif kind == "fifo":
        os.mkfifo(special)
    else:
        special.symlink_to("/dev/zero")
    with pytest.raises(FhirError) as exc:
        list(iter_ndjson_patients(folder, at=AT))
    assert exc.value.errors == [(str(special), "not a regular file (a folder, device or FIFO)")]


def test_a_supply_reaching_past_the_evaluation_is_a_current_medication() -> None:
    # a 90-day lithium dispense last week is being taken now: the bipolar and augmentation
    # rules read current medications, so it must not vanish because a dispense has no status
    dispense = _sertraline_dispense()
    result = case_from_fhir(_bundle(*depressed(), dispense), at=AT)
    (current,) = result.case.current_medications
    assert current.drug == "sertraline"
    assert result.provenance["/current_medications/0/drug"].startswith("MedicationDispense/d1")
    ended = {**dispense, "whenHandedOver": "2026-01-05"}  # supply ran out in April: not current
    assert case_from_fhir(_bundle(*depressed(), ended), at=AT).case.current_medications == []
