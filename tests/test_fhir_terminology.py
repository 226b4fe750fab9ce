"""Terminology as data: every code of every shipped ValueSet and ConceptMap maps as intended.

Each test builds the smallest FHIR content carrying one code and reads back the case field it
must set, so a code that is in a table but not wired into the mapping fails here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from tests.fhir_support import ICD, LOINC, RXNORM, SCT, condition, daily, depressed, med_request
from tests.fhir_support import patient as patient_res
from trd_cds.interop.fhir import case_from_fhir
from trd_cds.interop.fhir.terminology import load_data, terminology

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
BUNDLE = load_data("terminology.json")
VALUESETS = {
    e["resource"]["id"]: e["resource"]
    for e in BUNDLE["entry"]
    if e["resource"]["resourceType"] == "ValueSet"
}
MAPS = {
    e["resource"]["id"]: e["resource"]
    for e in BUNDLE["entry"]
    if e["resource"]["resourceType"] == "ConceptMap"
}


def _codes(vs: dict[str, Any]) -> list[tuple[str, str]]:
    """Every concept, and for each is-a filter its root and one child code."""
    out = []
    for inc in vs["compose"]["include"]:
        out += [(inc["system"], c["code"]) for c in inc.get("concept", [])]
        for f in inc.get("filter", []):
            child = f["value"] + ("9" if "." in f["value"] else ".9")
            out += [(inc["system"], f["value"]), (inc["system"], child)]
    return out


ALL_CODES = [(name, s, c) for name, vs in VALUESETS.items() for s, c in _codes(vs)]

#: ValueSet → (case pointer, expected value) for a Condition in it (beside an MDD Condition)
CONDITION_FIELDS: dict[str, tuple[str, Any]] = {
    "anxiety": ("/comorbidities/anxiety_disorder", True),
    "ptsd": ("/comorbidities/ptsd", True),
    "substance-use": ("/comorbidities/substance_use_disorder", True),
    "alcohol-use": ("/comorbidities/alcohol_use_disorder", True),
    "personality-disorder": ("/comorbidities/personality_disorder", "other"),
    "borderline-personality-disorder": ("/comorbidities/personality_disorder", "borderline"),
    "seizure-history": ("/comorbidities/seizure_history", True),
    "chronic-pain": ("/comorbidities/chronic_pain_or_illness", True),
    "social-isolation": ("/psychosocial/social_isolation", True),
    "catatonia": ("/diagnosis/catatonic_features", True),
    "cochlear-implant": ("/contraindications/cochlear_implant", True),
    "pacemaker-or-icd": ("/contraindications/cardiac_pacemaker_or_icd", True),
    "implanted-stimulator": ("/contraindications/implanted_stimulator", True),
    "aneurysmal-vascular-disease": ("/contraindications/aneurysmal_vascular_disease", True),
    "arteriovenous-malformation": ("/contraindications/arteriovenous_malformation", True),
    "intracerebral-haemorrhage": ("/contraindications/intracerebral_haemorrhage_history", True),
    "pregnancy": ("/patient/pregnant", True),
    "mutism": ("/diagnosis/mute", True),
    "weight-loss": ("/clinical_features/significant_weight_loss", True),
}
#: ValueSet → (case pointer, expected value) for a Condition dated 2026-11-01 (schema v2:
#: the date decides; see test_fhir_mapping for the dating rules)
DATED_CONDITION_FIELDS: dict[str, tuple[str, Any]] = {
    "nssi": ("/suicide_risk/nssi/last_date", "2026-11-01"),
    "cardiovascular-event": ("/contraindications/cardiovascular_event_within_6_weeks", True),
}
#: ValueSet → expected value for a Condition that is the primary diagnosis
PRIMARY = {
    "depression": ("/diagnosis/primary", "mdd"),
    "bipolar": ("/diagnosis/primary", "bipolar"),
    "psychotic-depression": ("/diagnosis/psychotic_features", True),
}


def _at(case: Any, pointer: str) -> Any:
    node = case.model_dump(mode="json")
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return node


def test_every_valueset_is_versioned_and_wired() -> None:
    assert BUNDLE["meta"]["versionId"]
    for vs in VALUESETS.values():
        assert vs["version"] and vs["url"].endswith(vs["id"])
    wired = (
        set(CONDITION_FIELDS)
        | set(PRIMARY)
        | set(DATED_CONDITION_FIELDS)
        | {"phq9-total", "phq9-panel", "phq9-item9", "pregnancy-status", "ect", "psychotherapy"}
    )
    assert wired == set(VALUESETS)


@pytest.mark.parametrize(("vs", "system", "code"), ALL_CODES)
def test_code_is_a_member(vs: str, system: str, code: str) -> None:
    assert terminology().member(vs, system, code)


@pytest.mark.parametrize(
    ("vs", "system", "code"), [t for t in ALL_CODES if t[0] in CONDITION_FIELDS]
)
def test_condition_code_sets_its_case_field(vs: str, system: str, code: str) -> None:
    pointer, expected = CONDITION_FIELDS[vs]
    res = [*depressed(), condition(code, system, rid="c-x")]
    result = case_from_fhir(res, at=AT)
    assert _at(result.case, pointer) == expected
    assert result.provenance[pointer] == "Condition/c-x#/code/coding/0/code"


@pytest.mark.parametrize(
    ("vs", "system", "code"), [t for t in ALL_CODES if t[0] in DATED_CONDITION_FIELDS]
)
def test_dated_condition_code_sets_its_case_field(vs: str, system: str, code: str) -> None:
    pointer, expected = DATED_CONDITION_FIELDS[vs]
    event = condition(code, system, rid="c-x", onset="2026-11-01", status="resolved")
    result = case_from_fhir([*depressed(), event], at=AT)
    assert _at(result.case, pointer) == expected
    assert result.provenance[pointer] == "Condition/c-x#/onsetDateTime"


@pytest.mark.parametrize(("vs", "system", "code"), [t for t in ALL_CODES if t[0] in PRIMARY])
def test_primary_diagnosis_codes(vs: str, system: str, code: str) -> None:
    pointer, expected = PRIMARY[vs]
    result = case_from_fhir([patient_res(), condition(code, system)], at=AT)
    assert _at(result.case, pointer) == expected


def test_icd_hierarchy_is_by_code_not_by_string_prefix() -> None:
    term = terminology()
    assert term.member("depression", ICD, "F32.A")
    assert not term.member("depression", ICD, "F320")  # not an ICD-10-CM child of F32
    assert not term.member("depression", ICD, "F34.1")  # dysthymia: not in the set
    assert term.member("psychotic-depression", ICD, "F33.3")
    assert not term.member("psychotic-depression", ICD, "F33.2")
    assert not term.member("depression", SCT, "F32.1")  # system matters


@pytest.mark.parametrize(
    ("code", "score"), [("LA6568-5", 0), ("LA6569-3", 1), ("LA6570-1", 2), ("LA6571-9", 3)]
)
def test_phq_item_answer_codes(code: str, score: int) -> None:
    assert terminology().translate("phq-answer-score", LOINC, code) == str(score)


@pytest.mark.parametrize(("code", "value"), [("LA33-6", "true"), ("LA32-8", "false")])
def test_yes_no_answer_codes(code: str, value: str) -> None:
    assert terminology().translate("yes-no", LOINC, code) == value


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("93246-7", "wish_to_be_dead"),
        ("93247-5", "active_suicidal_thoughts"),
        ("93248-3", "method"),
        ("93249-1", "intent"),
        ("93250-9", "plan"),
        ("93267-3", "behaviour"),
        ("93269-9", "behaviour_within_3_months"),
    ],
)
def test_cssrs_item_codes(code: str, field: str) -> None:
    assert terminology().translate("cssrs-screener", LOINC, code) == field


def test_cssrs_risk_level_is_explicitly_unmapped() -> None:
    target = terminology().target("cssrs-screener", LOINC, "93374-7")
    assert target["equivalence"] == "unmatched" and "no field" in target["comment"]


@pytest.mark.parametrize(
    ("code", "value"), [("LA15173-0", True), ("LA26683-5", False), ("LA4489-6", None)]
)
def test_pregnancy_status_answers(code: str, value: bool | None) -> None:
    obs = {
        "resourceType": "Observation",
        "id": "preg",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-01",
        "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": code}]},
    }
    case = case_from_fhir([*depressed(), obs], at=AT).case
    assert case.patient.pregnant is value


@pytest.mark.parametrize(
    ("code", "severity", "state"),
    [
        (
            el["code"],
            t["code"] if g["target"].endswith("severity") else None,
            t["code"] if g["target"].endswith("state") else None,
        )
        for g in MAPS["depression-severity"]["group"]
        for el in g["element"]
        for t in el["target"]
    ],
)
def test_depression_severity_and_state_codes(
    code: str, severity: str | None, state: str | None
) -> None:
    system = ICD if code.startswith("F") else SCT
    case = case_from_fhir([patient_res(), condition(code, system)], at=AT).case
    assert case.diagnosis.primary.value == "mdd"
    got = case.episode.baseline_severity
    assert (got.value if got else None) == severity
    # No default state (issue-8 follow-up point 1): a code that maps to no state leaves it
    # not recorded.
    got_state = case.episode.state
    assert (got_state.value if got_state else None) == state


DRUGS = load_data("drugs.json")


@pytest.mark.parametrize("name", sorted(DRUGS["antidepressants"]))
def test_every_antidepressant_resolves_by_display_and_has_a_minimum_dose(name: str) -> None:
    req = med_request("m1", "0", f"{name} 10 MG Oral Tablet", authored="2026-02-01")
    case = case_from_fhir([*depressed(), req], at=AT).case
    (trial,) = case.antidepressant_trials
    assert trial.drug == name
    assert trial.drug_class.value == DRUGS["antidepressants"][name]["class"]
    assert name in terminology().min_doses


@pytest.mark.parametrize(
    ("name", "code"),
    sorted(
        (n, r["rxnorm"])
        for t in ("antidepressants", "augmenting_agents")
        for n, r in DRUGS[t].items()
        if r["rxnorm"]
    ),
)
def test_every_rxnorm_ingredient_code(name: str, code: str) -> None:
    assert terminology().rxnorm_ingredient[code] == name
    req = med_request("m1", code, "", authored="2026-02-01")  # no display: the code decides
    ssri = med_request("m2", "36437", "", authored="2026-02-01")
    case = case_from_fhir([*depressed(), req, ssri], at=AT).case
    drugs = {t.drug for t in case.antidepressant_trials} | {a.drug for a in case.augmentations}
    assert name in drugs


@pytest.mark.parametrize("name", sorted(DRUGS["augmenting_agents"]))
def test_augmenting_agents_with_an_antidepressant(name: str) -> None:
    aug = med_request("m1", "0", f"{name} 300 MG Oral Tablet", authored="2026-02-01")
    ad = med_request("m2", "36437", "sertraline 50 MG Oral Tablet", authored="2026-01-15")
    case = case_from_fhir([*depressed(), aug, ad], at=AT).case
    (a,) = case.augmentations
    assert (a.agent.value, a.drug) == (DRUGS["augmenting_agents"][name]["agent"], name)


def test_augmenting_agent_alone_is_not_an_augmentation() -> None:
    q = med_request(
        "m1", "51272", "quetiapine 100 MG Oral Tablet", authored="2026-02-01", status="active"
    )
    result = case_from_fhir([*depressed(), q], at=AT)
    assert result.case.augmentations == []
    (med,) = result.case.current_medications  # schema v2: an active order is current
    assert (med.drug, med.drug_class.value) == ("quetiapine", "antipsychotic")


#: every ingredient's current-medication class (schema v2 ``MedicationClass``)
MEDICATION_CLASSES = {
    **{
        n: ("other_antidepressant" if r["class"] == "other" else r["class"])
        for n, r in DRUGS["antidepressants"].items()
    },
    **{
        n: {
            "lithium": "lithium",
            "second_generation_antipsychotic": "antipsychotic",
            "lamotrigine": "lamotrigine",
        }.get(r["agent"], "other")
        for n, r in DRUGS["augmenting_agents"].items()
    },
    **{n: r["class"] for n, r in DRUGS["other_psychotropics"].items()},
}


@pytest.mark.parametrize(("name", "cls"), sorted(MEDICATION_CLASSES.items()))
def test_every_active_drug_is_a_current_medication_of_its_class(name: str, cls: str) -> None:
    req = med_request(
        "m1", "0", f"{name} 10 MG Oral Tablet", authored="2026-10-01", status="active"
    )
    result = case_from_fhir([*depressed(), req], at=AT)
    (med,) = result.case.current_medications
    assert (med.drug, med.drug_class.value) == (name, cls)
    assert result.provenance["/current_medications/0/drug"] == (
        "MedicationRequest/m1#/medicationCodeableConcept/coding/0/display"
    )


@pytest.mark.parametrize(
    ("name", "word"),
    [(n, w) for n, r in DRUGS["other_psychotropics"].items() for w in r["names"]],
)
def test_other_psychotropic_names(name: str, word: str) -> None:
    assert terminology().ingredient_in_text(f"{word.title()} sodium 250 MG") == [name]


def test_valproate_rxnorm_ingredient_code() -> None:
    req = med_request("m1", "11118", "", authored="2026-10-01", status="active")
    (med,) = case_from_fhir([*depressed(), req], at=AT).case.current_medications
    assert (med.drug, med.drug_class.value) == ("valproate", "valproate")


def test_min_dose_table_carries_its_source_label() -> None:
    doses = load_data("min_doses.json")
    assert doses["source"] == "MGH-ATRQ trial-form transcription, unverified"
    assert doses["minimum_daily_dose_mg"]["sertraline"] == 50
    assert set(doses["minimum_daily_dose_mg"]) == set(DRUGS["antidepressants"])


@pytest.mark.parametrize(
    ("code", "display", "ingredient", "mg"),
    [
        ("406022", "Fluoxetine 25MG", "fluoxetine", 25.0),
        ("328670", "Sertraline 100MG", "sertraline", 100.0),
        ("1738483", "paroxetine hydrochloride 10 MG Oral Tablet", "paroxetine", 10.0),
        ("993532", "bupropion hydrochloride 200 MG", "bupropion", 200.0),
    ],
)
def test_product_codes_resolve_through_the_shipped_table(
    code: str, display: str, ingredient: str, mg: float
) -> None:
    # the display is blanked: the table, not the display, must resolve the code
    req = med_request(
        "m1", code, "", authored="2026-02-01", status="active", dose=daily(2, "tablet", "{tbl}")
    )
    result = case_from_fhir([*depressed(), req], at=AT)
    (trial,) = result.case.antidepressant_trials
    assert trial.drug == ingredient
    (d,) = [d for d in result.derivations if d.pointer.endswith("dose_adequate")]
    assert f"2 × {mg:g} mg" in d.rule
    assert RXNORM  # the product table is an RxNorm ConceptMap
    assert any(
        e["code"] == code for g in MAPS["rxnorm-product-ingredient"]["group"] for e in g["element"]
    )


def test_unknown_medication_code_is_not_guessed() -> None:
    req = med_request("m1", "999999", "Unknownium 10 MG Oral Tablet", authored="2026-02-01")
    assert case_from_fhir([*depressed(), req], at=AT).case.antidepressant_trials == []


def test_adherence_extension_code() -> None:
    assert terminology().translate("medication-adherence", SCT, "702565001") == "poor"
