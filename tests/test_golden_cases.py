"""Golden cases: realistic cases with the outcome ``shared/domain-reference.md`` expects.

Each ``tests/cases/*.yaml`` file is a mapping:

``description``
    one line on what the case is about;
``at``
    the evaluation time (ISO 8601 with a timezone);
``cites``
    the domain-reference sections / seed lines the expectation comes from;
``case``
    the case, validated by :func:`trd_cds.engine.parse_case`;
``expect``
    the expected outcome (keys below; every key is optional);
``settings`` (optional)
    setting overrides for this case (an opt-in convention, e.g.
    ``ect_moderate_after_multiple_failures: true``); the case runs on an engine with them;
``xfail`` (optional)
    a reason: the engine is known to disagree with the domain reference on this case. The
    test is marked ``xfail(strict=True)`` so that fixing the engine makes it fail loudly and
    the marker is removed.

``expect`` keys:

* ``recommended`` / ``not_recommended``: options that must / must not be recommended;
* ``blocked`` / ``not_blocked``: options that must / must not be blocked;
* ``cautions`` / ``no_cautions``: options that must / must not carry a caution;
* ``caution_rules``: option → rule ids that must each raise a caution on it;
* ``gates``: the exact set of gates raised;
* ``order_first``: the first recommendations, in this order;
* ``after_stabilisation``: option → expected ``after_stabilisation`` flag;
* ``strength``: option → ``offer`` / ``consider``;
* ``overrode``: blocked option → the exact set of recommend rule ids the block overrode;
* ``fired`` / ``not_fired``: rule ids that must / must not appear in ``report.trace``;
* ``findings``: finding name → exact value (findings with ``subject: null``);
* ``absent_findings``: finding names that must not be reported;
* ``trials``: item pointer (``/antidepressant_trials/0``) → ``adequate`` (bool) and/or
  ``detail`` (a substring of the adequacy explanation).

Besides the expectations, every report is checked to explain itself (rules, citations,
evidence that resolves into the case) and to emit nothing no fired rule produced; a coverage
meta-test checks that every active rule fires in some golden case and stays silent in another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from trd_cds import Engine, Report, parse_case
from trd_cds.engine.coverage import GoldenCase, engine_for, read_golden_case
from trd_cds.rules.conditions import leaves
from trd_cds.rules.loader import LoadedRule
from trd_cds.schemas.facts import SINGLETON_TYPES
from trd_cds.schemas.options import Option
from trd_cds.schemas.rule import ActionKind

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))

#: The option vocabulary of domain-reference §10, copied here on purpose: the engine's
#: ``Option`` enum is checked against it, not trusted.
VOCABULARY = (
    "urgent_crisis_referral",
    "safety_assessment_and_plan",
    "specialist_mental_health_referral",
    "medical_assessment",
    "bipolar_disorder_pathway",
    "perinatal_specialist_input",
    "personality_disorder_specialist_programme",
    "diagnostic_and_adherence_review",
    "complete_adequate_antidepressant_trial",
    "first_line_depression_treatment",
    "antidepressant_switch_or_optimisation",
    "pharmacological_augmentation",
    "antidepressant_plus_antipsychotic",
    "esketamine",
    "lorazepam_challenge",
    "relapse_prevention_maintenance",
    "cbt",
    "dbt",
    "psychodynamic_therapy",
    "ipt",
    "mbct",
    "act",
    "emdr",
    "integrated_medication_and_therapy",
    "comorbidity_integrated_treatment",
    "substance_use_treatment",
    "tms",
    "ect",
    "supportive_therapeutic_relationship",
    "holistic_adjuncts",
)

TOP_KEYS = {"description", "at", "cites", "case", "expect", "xfail", "settings"}
OPTION_LIST_KEYS = {
    "recommended",
    "not_recommended",
    "blocked",
    "not_blocked",
    "cautions",
    "no_cautions",
    "order_first",
}
OPTION_MAP_KEYS = {"after_stabilisation", "strength", "caution_rules", "overrode"}
RULE_LIST_KEYS = {"fired", "not_fired"}
OTHER_KEYS = {"gates", "findings", "absent_findings", "trials"}
EXPECT_KEYS = OPTION_LIST_KEYS | OPTION_MAP_KEYS | RULE_LIST_KEYS | OTHER_KEYS
RULE_REF = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+@\d+$")
_MISSING = object()


# ---------------------------------------------------------------------- fixtures


def _param(path: Path) -> Any:
    golden = read_golden_case(path)
    reason = golden.document.get("xfail")
    marks = [pytest.mark.xfail(strict=True, reason=str(reason))] if reason else []
    return pytest.param(path.stem, id=path.stem, marks=marks)


PARAMS = [_param(p) for p in CASE_FILES]
ALL_NAMES = [p.stem for p in CASE_FILES]


@pytest.fixture(scope="session")
def goldens() -> dict[str, GoldenCase]:
    return {p.stem: read_golden_case(p) for p in CASE_FILES}


@pytest.fixture(scope="session")
def reports(engine: Engine, goldens: dict[str, GoldenCase]) -> dict[str, Report]:
    """Every golden case evaluated once per test session."""
    return {name: engine_for(engine, g).evaluate(g.case, at=g.at) for name, g in goldens.items()}


# ---------------------------------------------------------------------- helpers


def _rule_ids(report: Report) -> set[str]:
    return {t.rule.rpartition("@")[0] for t in report.trace}


def _top_findings(report: Report) -> dict[str, Any]:
    return {f.name: f.value for f in report.findings if f.subject is None}


def _resolve(document: Any, pointer: str) -> Any:
    """RFC 6901 JSON pointer into a JSON document (``_MISSING`` when absent)."""
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return _MISSING
            node = node[int(token)]
        elif isinstance(node, dict):
            if token not in node:
                return _MISSING
            node = node[token]
        else:
            return _MISSING
    return node


def _has_matching_leaf(loaded: LoadedRule) -> bool:
    """True when the rule tests something beyond a fact's type (so evidence must exist)."""
    return any(leaf.field != "type" for p in loaded.condition.patterns for leaf in leaves(p.expr))


def _unconditional(loaded: LoadedRule) -> bool:
    """True for rules that only pin always-present singleton facts: they fire on every case."""
    cond = loaded.condition
    return cond.mode == "all" and all(
        p.fact_type in SINGLETON_TYPES and all(leaf.field == "type" for leaf in leaves(p.expr))
        for p in cond.patterns
    )


# ---------------------------------------------------------------------- the library itself


def test_at_least_forty_golden_cases() -> None:
    assert len(CASE_FILES) >= 40, f"only {len(CASE_FILES)} golden cases in {CASES_DIR}"


def test_option_enum_is_the_domain_reference_vocabulary() -> None:
    assert [o.value for o in Option] == list(VOCABULARY)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_golden_file_is_well_formed(
    name: str, engine: Engine, goldens: dict[str, GoldenCase]
) -> None:
    """Known keys only, cites given, the case valid, options and rule ids real."""
    golden = goldens[name]
    doc = golden.document
    assert set(doc) <= TOP_KEYS, f"unknown top-level keys {sorted(set(doc) - TOP_KEYS)}"
    assert isinstance(doc.get("description"), str) and doc["description"].strip()
    cites = doc.get("cites")
    assert isinstance(cites, list) and cites, "cite the domain reference / seed lines"
    assert all(isinstance(c, str) and c.strip() for c in cites)
    assert any(re.search(r"§\d|SEED L\d|NICE|domain-reference", c) for c in cites)
    parse_case(golden.case, str(golden.path))
    expect = doc.get("expect")
    assert isinstance(expect, dict) and expect, "a golden case needs expectations"
    assert set(expect) <= EXPECT_KEYS, f"unknown expect keys {sorted(set(expect) - EXPECT_KEYS)}"
    active = {r.rule.id for r in engine.ruleset.active}
    options: list[str] = []
    for key in OPTION_LIST_KEYS & set(expect):
        options.extend(expect[key])
    for key in OPTION_MAP_KEYS & set(expect):
        options.extend(expect[key])
    unknown = sorted(set(options) - set(VOCABULARY))
    assert not unknown, f"options not in the §10 vocabulary: {unknown}"
    rules: list[str] = []
    for key in RULE_LIST_KEYS & set(expect):
        rules.extend(expect[key])
    for key in ("caution_rules", "overrode"):
        for ids in expect.get(key, {}).values():
            rules.extend(ids)
    missing = sorted(set(rules) - active)
    assert not missing, f"no active rules {missing}"
    assert not set(expect.get("recommended", [])) & set(expect.get("not_recommended", []))


# ---------------------------------------------------------------------- expectations


def _check(expect: dict[str, Any], report: Report) -> Iterator[str]:
    recommended = report.recommended()
    rec_values = [o.value for o in recommended]
    recs = {r.option.value: r for r in report.recommendations}
    blocked = {b.option.value: b for b in report.blocked}
    cautions: dict[str, list[Any]] = {}
    for c in report.cautions:
        cautions.setdefault(c.option.value, []).append(c)
    fired = _rule_ids(report)
    findings = _top_findings(report)

    for opt in expect.get("recommended", []):
        if opt not in recs:
            yield f"{opt} should be recommended (recommended: {rec_values})"
    for opt in expect.get("not_recommended", []):
        if opt in recs:
            yield f"{opt} should not be recommended (rules {recs[opt].rules})"
    for opt in expect.get("blocked", []):
        if opt not in blocked:
            yield f"{opt} should be blocked (blocked: {sorted(blocked)})"
    for opt in expect.get("not_blocked", []):
        if opt in blocked:
            yield f"{opt} should not be blocked (by {blocked[opt].rules})"
    for opt in expect.get("cautions", []):
        if opt not in cautions:
            yield f"{opt} should carry a caution (cautions on: {sorted(cautions)})"
    for opt in expect.get("no_cautions", []):
        if opt in cautions:
            yield f"{opt} should carry no caution (got {[c.rules for c in cautions[opt]]})"
    for opt, rule_ids in expect.get("caution_rules", {}).items():
        raised = {r.rpartition("@")[0] for c in cautions.get(opt, []) for r in c.rules}
        for rule_id in rule_ids:
            if rule_id not in raised:
                yield f"{rule_id} should raise a caution on {opt} (cautions by {sorted(raised)})"
    if "gates" in expect:
        gates = sorted(g.gate for g in report.gates)
        if gates != sorted(expect["gates"]):
            yield f"gates {gates}, expected {sorted(expect['gates'])}"
    first = expect.get("order_first", [])
    if rec_values[: len(first)] != first:
        yield f"recommendations should start with {first}, got {rec_values[: len(first)]}"
    for opt, flag in expect.get("after_stabilisation", {}).items():
        if opt not in recs:
            yield f"{opt}: after_stabilisation expected but it is not recommended"
        elif recs[opt].after_stabilisation is not flag:
            yield f"{opt}: after_stabilisation is {recs[opt].after_stabilisation}, expected {flag}"
    for opt, strength in expect.get("strength", {}).items():
        if opt not in recs:
            yield f"{opt}: strength expected but it is not recommended"
        elif recs[opt].strength.value != strength:
            yield f"{opt}: strength {recs[opt].strength.value}, expected {strength}"
    for opt, rule_ids in expect.get("overrode", {}).items():
        if opt not in blocked:
            yield f"{opt}: expected a block overriding {rule_ids}, but it is not blocked"
            continue
        overrode = {r.rpartition("@")[0] for r in blocked[opt].overrode}
        if overrode != set(rule_ids):
            yield f"{opt}: block overrode {sorted(overrode)}, expected {sorted(rule_ids)}"
    for rule_id in expect.get("fired", []):
        if rule_id not in fired:
            yield f"{rule_id} should fire"
    for rule_id in expect.get("not_fired", []):
        if rule_id in fired:
            yield f"{rule_id} should not fire"
    for name, value in expect.get("findings", {}).items():
        got = findings.get(name, _MISSING)
        if got is _MISSING:
            yield f"finding {name} missing (expected {value!r})"
        elif got != value or type(got) is not type(value):
            yield f"finding {name} = {got!r}, expected {value!r}"
    for name in expect.get("absent_findings", []):
        if name in findings:
            yield f"finding {name} should be absent, got {findings[name]!r}"
    for pointer, want in expect.get("trials", {}).items():
        items = [f for f in report.findings if f.subject == pointer and f.name.endswith("adequacy")]
        if not items:
            yield f"no adequacy finding for {pointer}"
            continue
        item = items[0]
        if "adequate" in want and item.value is not want["adequate"]:
            yield f"{pointer}: adequate {item.value}, expected {want['adequate']}"
        if "detail" in want and want["detail"] not in (item.detail or ""):
            yield f"{pointer}: detail {item.detail!r} lacks {want['detail']!r}"


@pytest.mark.parametrize("name", PARAMS)
def test_golden_expectations(
    name: str, goldens: dict[str, GoldenCase], reports: dict[str, Report]
) -> None:
    expect = goldens[name].document["expect"]
    problems = list(_check(expect, reports[name]))
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------- explanations


def _explain_problems(engine: Engine, case_json: Any, report: Report) -> Iterator[str]:
    rules = {r.rule.ref: r for r in engine.ruleset.active}
    traced = {t.rule: t for t in report.trace}
    produced: dict[str, set[str]] = {kind.value: set() for kind in ActionKind}
    for t in report.trace:
        produced[t.action].update(t.produces)
    finding_names = {f.name for f in report.findings} | {g.gate for g in report.gates}

    def evidence_ok(where: str, evidence: list[Any], own: list[str]) -> Iterator[str]:
        if any(_has_matching_leaf(rules[r]) for r in own) and not evidence:
            yield f"{where}: no evidence although {own} match case facts"
        for ev in evidence:
            if ev.pointer is not None:
                value = _resolve(case_json, ev.pointer)
                if value is _MISSING:
                    yield f"{where}: evidence pointer {ev.pointer} does not resolve in the case"
                elif value != ev.value:
                    yield f"{where}: evidence {ev.pointer} = {ev.value!r}, case has {value!r}"
            elif ev.finding is None:
                yield f"{where}: evidence {ev.fact} has neither a pointer nor a finding"
            if ev.finding is not None and ev.finding not in finding_names:
                yield f"{where}: evidence names finding {ev.finding!r}, not in the report"

    def explained(where: str, refs: list[str], citations: list[str]) -> Iterator[str]:
        if not refs:
            yield f"{where}: names no rule"
        for ref in refs:
            if not RULE_REF.match(ref):
                yield f"{where}: {ref!r} is not id@version"
            elif ref not in traced:
                yield f"{where}: {ref} is not in the trace"
        if not citations:
            yield f"{where}: no citation"

    for rec in report.recommendations:
        where = f"recommendation {rec.option.value}"
        if rec.option.value not in VOCABULARY:
            yield f"{where}: not in the §10 vocabulary"
        if rec.option.value not in produced["recommend"]:
            yield f"{where}: no fired recommend rule produces it"
        if not rec.rationale:
            yield f"{where}: no rationale"
        yield from explained(where, rec.rules, rec.citations)
        own = [
            r
            for r in rec.rules
            if r in traced
            and traced[r].action == "recommend"
            and rec.option.value in traced[r].produces
        ]
        if not own:
            yield f"{where}: none of its rules recommends it"
        yield from evidence_ok(where, rec.evidence, own)
    for block in report.blocked:
        where = f"block {block.option.value}"
        if block.option.value not in VOCABULARY:
            yield f"{where}: not in the §10 vocabulary"
        if block.option.value not in produced["block"]:
            yield f"{where}: no fired block rule produces it"
        if not block.reasons:
            yield f"{where}: no reason"
        yield from explained(where, block.rules, block.citations)
        yield from evidence_ok(where, block.evidence, block.rules)
        for ref in block.overrode:
            if ref not in traced or block.option.value not in traced[ref].produces:
                yield f"{where}: overrode {ref}, which did not recommend it"
    for caution in report.cautions:
        where = f"caution on {caution.option.value} ({caution.rules[-1:]})"
        if caution.option.value not in VOCABULARY:
            yield f"{where}: not in the §10 vocabulary"
        if caution.option.value not in produced["caution"]:
            yield f"{where}: no fired caution rule produces it"
        if not caution.rationale.strip():
            yield f"{where}: no rationale"
        yield from explained(where, caution.rules, caution.citations)
        own = [r for r in caution.rules if r in traced and traced[r].action == "caution"]
        # Attributed to its own rule (issue 8 point 13; review: an 'any' caution rule matching
        # a gate was named after the gate): the last rule is the caution rule itself.
        last = caution.rules[-1] if caution.rules else None
        if last not in traced or traced[last].action != "caution":
            yield f"{where}: attributed to {last}, which is not a caution rule"
        yield from evidence_ok(where, caution.evidence, own)
    for gate in report.gates:
        yield from explained(f"gate {gate.gate}", gate.rules, gate.citations)
    # Nothing a fired rule produced is silently lost: every recommended option is either
    # recommended or blocked, and blocks override exactly what they block.
    emitted = {r.option.value for r in report.recommendations} | {
        b.option.value for b in report.blocked
    }
    for option in produced["recommend"] - emitted:
        yield f"{option}: recommended by a fired rule but neither recommended nor blocked"
    for option in produced["block"] - {b.option.value for b in report.blocked}:
        yield f"{option}: blocked by a fired rule but not in report.blocked"
    # Cautions sit beside listed options only (issue 8 point 13): a fired caution on a
    # recommended option is reported, one on any other option stays in the trace only.
    listed = {r.option.value for r in report.recommendations}
    reported = {c.option.value for c in report.cautions}
    for option in (produced["caution"] & listed) - reported:
        yield f"{option}: cautioned by a fired rule but not in report.cautions"
    for option in reported - listed:
        yield f"{option}: caution reported although the option is not listed"
    for rec in report.recommendations:
        own = {c.rules[-1] for c in report.cautions if c.option == rec.option}
        for text in rec.cautions:
            if not any(text.endswith(f"({ref})") for ref in own):
                yield f"{rec.option.value}: caution text not attributed to its own rule: {text!r}"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_golden_report_explains_itself(
    name: str, engine: Engine, goldens: dict[str, GoldenCase], reports: dict[str, Report]
) -> None:
    case_json = parse_case(goldens[name].case).model_dump(mode="json")
    problems = list(_explain_problems(engine, case_json, reports[name]))
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


#: Options that are the stabilisation itself: never deferred behind the safety gate (issue 8
#: point 5; domain-reference §11.6 NG222 1.12, §11.7, §6.3). Copied, not imported.
STABILISATION = (
    "specialist_mental_health_referral",
    "antidepressant_plus_antipsychotic",
    "bipolar_disorder_pathway",
    "perinatal_specialist_input",
    "lorazepam_challenge",
)


def _section_10_problems(
    case: dict[str, Any], report: Report, settings: dict[str, Any], at: datetime
) -> Iterator[str]:
    """The §10 MUST / MUST NOT conventions as corrected by §11 (TMS, esketamine, ECT, age
    scope, the safety gates, stabilisation, measurement currency)."""
    f = _top_findings(report)
    recs = {r.option.value: r for r in report.recommendations}
    gates = {g.gate for g in report.gates}
    dx = case.get("diagnosis", {})
    patient = case.get("patient", {})
    contra = case.get("contraindications", {})
    prefs = case.get("preferences", {})
    risk = case.get("suicide_risk", {}) or {}
    cssrs = risk.get("cssrs") or {}
    age = patient.get("age", 0)
    under_18 = age < 18
    responding = bool(f.get("in_remission") or f.get("responding"))
    life_threatening = bool(dx.get("catatonic_features") or dx.get("not_eating_or_drinking"))
    # TMS MUST NOT (§10, §11.2, §11.9): no adequate AD failure, absolute contraindication,
    # remission/response, psychosis, catatonia, out-of-scope diagnosis, under 18 without the
    # adolescent adjunct setting (15-17 only).
    adolescent_tms = bool(settings.get("adolescent_tms_adjunct")) and 15 <= age < 18
    tms_must_not = {
        "no adequate antidepressant failure": f.get("adequate_failed_ad_trials", 0) < 1,
        "absolute contraindication": any(
            contra.get(k)
            for k in ("metal_in_or_near_head", "cochlear_implant", "implanted_stimulator")
        ),
        "remission or response": responding,
        "psychotic features": bool(dx.get("psychotic_features")),
        "catatonia": bool(dx.get("catatonic_features")),
        "out-of-scope diagnosis": dx.get("primary") != "mdd",
        "under 18 without the adolescent adjunct setting": under_18 and not adolescent_tms,
    }
    for why, applies in tms_must_not.items():
        if applies and "tms" in recs:
            yield f"tms recommended despite {why} (§10/§11 TMS MUST NOT)"
    # TMS MUST be offered: >= 1 AD and >= 1 psychotherapy failure, nothing above, not blocked.
    if (
        not any(tms_must_not.values())
        and f.get("adequate_failed_psychotherapy_trials", 0) >= 1
        and not dx.get("not_eating_or_drinking")
        and "tms" not in {b.option.value for b in report.blocked}
        and (("tms" not in recs) or recs["tms"].strength.value != "offer")
    ):
        yield "tms not offered although medication and psychotherapy failed (§10 TMS MUST)"
    # Esketamine MUST NOT (§11.3 replaces the §10 row).
    esk_must_not = {
        "fewer than 2 adequate failures": not f.get("trd_2"),
        "age under 18": under_18,
        "pregnancy": bool(patient.get("pregnant")),
        "breastfeeding": bool(patient.get("breastfeeding")),
        "vascular contraindication": any(
            contra.get(k)
            for k in (
                "aneurysmal_vascular_disease",
                "arteriovenous_malformation",
                "intracerebral_haemorrhage_history",
            )
        ),
        "psychotic features": bool(dx.get("psychotic_features")),
        "catatonia": bool(dx.get("catatonic_features")),
        "responding or in remission": responding,
        "declines medication": bool(prefs.get("declines_medication")),
        "non-MDD diagnosis": dx.get("primary") != "mdd",
        "cardiovascular event within 6 weeks (EU setting)": bool(
            settings.get("esketamine_eu_cv_event_block")
            and contra.get("cardiovascular_event_within_6_weeks")
        ),
    }
    for why, applies in esk_must_not.items():
        if applies and "esketamine" in recs:
            yield f"esketamine recommended despite {why} (§11.3 esketamine MUST NOT)"
    if "esketamine" in recs and recs["esketamine"].strength.value != "consider":
        yield "esketamine is never required (§10)"
    # ECT (§11.1, §11.2): NICE 1.13.1 severe only unless the VA/DoD setting, psychosis or a
    # life-threatening state; under 18 only through the life-threatening gate.
    if "ect" in recs:
        if under_18 and not life_threatening:
            yield "ect recommended under 18 without a life-threatening state (§11.2)"
        if age < 12:
            yield "ect recommended under 12 (never at 5-11, §11.2)"
        if (
            not f.get("severe")
            and not dx.get("psychotic_features")
            and not life_threatening
            and not settings.get("ect_moderate_after_multiple_failures")
        ):
            yield "ect recommended for non-severe depression under the NICE default (§11.1)"
    # Age scope (§11.2): antidepressants from 12 only.
    for option in (
        "complete_adequate_antidepressant_trial",
        "antidepressant_switch_or_optimisation",
    ):
        if age < 12 and option in recs:
            yield f"{option} recommended under 12 (§11.2)"
    # Age scope (§11.2).
    if under_18 != ("under_18_outside_adult_pathway" in gates):
        yield f"under-18 gate is {'under_18_outside_adult_pathway' in gates}, age {age}"
    # Safety escalation first: C-SSRS Q4/Q5, behaviour in the past 3 months, clinician's
    # imminent risk (§6.3), catatonia or not eating/drinking.
    high = f.get("cssrs_level") == "high"
    should_gate = (
        bool(cssrs.get("intent") or cssrs.get("plan"))
        or high
        or bool(risk.get("clinician_judges_imminent_risk"))
        or life_threatening
    )
    if should_gate != ("safety_escalation_first" in gates):
        yield f"safety_escalation_first gate is {'safety_escalation_first' in gates}, expected {should_gate}"
    order = [r.option.value for r in report.recommendations]
    if should_gate and order[:1] != ["urgent_crisis_referral"]:
        yield "urgent_crisis_referral should come first under safety escalation"
    if should_gate:
        # Stabilisation is not deferred and is listed straight after the safety options.
        for option in STABILISATION:
            if option in recs and recs[option].after_stabilisation:
                yield f"{option} is deferred, but it is the stabilisation (issue 8 point 5)"
        relationship = recs.get("supportive_therapeutic_relationship")
        if relationship is not None and relationship.after_stabilisation:
            yield "the therapeutic relationship is deferred, but it goes on through the crisis"
        # the always-on tier is listed last, deferred or not (THROUGHOUT_IN_CRISIS): not ranked
        ranked = [(i, o) for i, o in enumerate(order) if recs[o].tier != "always_on"]
        deferred = [i for i, o in ranked if recs[o].after_stabilisation]
        acute = [i for i, o in ranked if not recs[o].after_stabilisation]
        if deferred and acute and max(acute) > min(deferred):
            yield f"an acute option is listed below a deferred one: {order}"
    if (f.get("cssrs_level") in ("low", "moderate") or (_item9(case) or 0) >= 1) and (
        "safety_assessment_and_plan" not in recs
    ):
        yield "a positive risk screen needs safety_assessment_and_plan (§6.3)"
    # Recent NSSI (§11.4): a safety assessment, without raising the C-SSRS level.
    nssi = risk.get("nssi") or {}
    last = nssi.get("last_date")
    recent_nssi = (
        (0 <= (at.date() - _as_date(last)).days <= 92)
        if last is not None
        else nssi.get("within_3_months")
    )
    if recent_nssi and "safety_assessment_and_plan" not in recs:
        yield "recent non-suicidal self-injury needs safety_assessment_and_plan (§11.4)"
    if recent_nssi and not cssrs and f.get("cssrs_level") is not None:
        yield "NSSI must not create a C-SSRS level"
    # No suicide-risk data at all (§11.4): the gate, and the safety step first.
    no_data = (
        not cssrs and risk.get("clinician_judges_imminent_risk") is None and _item9(case) is None
    )
    if no_data and "suicide_risk_not_recorded" not in gates:
        yield "no suicide-risk data but no suicide_risk_not_recorded gate (§11.4)"
    if (cssrs or risk.get("clinician_judges_imminent_risk") is not None) and (
        "suicide_risk_not_recorded" in gates
    ):
        yield "suicide_risk_not_recorded gate although risk data is recorded"
    if "suicide_risk_not_recorded" in gates:
        safety = [o for o in order if o in ("urgent_crisis_referral", "safety_assessment_and_plan")]
        if "safety_assessment_and_plan" not in recs or order[: len(safety)] != safety:
            yield "suicide risk not recorded: safety_assessment_and_plan must come first (§11.4)"
    # Measurement currency (§11.5): response/remission only from a score dated within the
    # window before the evaluation time.
    window = settings.get("score_current_max_days", 28)
    current_enough = any(
        m.get("timepoint") == "current"
        and m.get("score") is not None
        and m.get("date") is not None
        and 0 <= (at.date() - _as_date(m["date"])).days <= window
        for m in case.get("measurements", [])
    )
    if "response_status" in f and not current_enough:
        yield "response status set without a current-enough score (§11.5)"


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _item9(case: dict[str, Any]) -> int | None:
    for m in case.get("measurements", []):
        if m.get("instrument") == "phq9" and m.get("timepoint") == "current":
            item9 = m.get("item9")
            return item9 if isinstance(item9, int) else None
    return None


def test_section_10_conventions_hold_on_every_golden_case(
    goldens: dict[str, GoldenCase], reports: dict[str, Report]
) -> None:
    problems = [
        f"{name}: {p}"
        for name, golden in goldens.items()
        for p in _section_10_problems(
            dict(golden.case), reports[name], dict(golden.document.get("settings") or {}), golden.at
        )
    ]
    assert not problems, "\n".join(problems)


def test_every_option_is_recommended_somewhere_and_blocked_or_not_indicated_elsewhere(
    engine: Engine, reports: dict[str, Report]
) -> None:
    """Meta-test (issue 8): no option escapes review. For every option of the vocabulary, a
    golden case recommends it and another blocks it or does not indicate it."""
    recommended: dict[str, list[str]] = {o: [] for o in VOCABULARY}
    blocked: dict[str, list[str]] = {o: [] for o in VOCABULARY}
    absent: dict[str, list[str]] = {o: [] for o in VOCABULARY}
    for name, report in reports.items():
        recs = {r.option.value for r in report.recommendations}
        blocks = {b.option.value for b in report.blocked}
        for option in VOCABULARY:
            if option in recs:
                recommended[option].append(name)
            elif option in blocks:
                blocked[option].append(name)
            else:
                absent[option].append(name)
    never = sorted(o for o in VOCABULARY if not recommended[o])
    assert not never, f"options no golden case recommends: {never}"
    always_on = {"supportive_therapeutic_relationship", "holistic_adjuncts"}
    escaped = sorted(o for o in VOCABULARY if o not in always_on and not (blocked[o] or absent[o]))
    assert not escaped, f"options recommended in every golden case: {escaped}"
    # Every option some active rule can block is shown blocked in at least one golden case.
    blockable = {
        option.value
        for loaded in engine.ruleset.active
        if loaded.rule.action.kind is ActionKind.block
        for option in loaded.rule.action.options
    }
    unshown = sorted(o for o in blockable if not blocked[o])
    assert not unshown, f"blockable options never shown blocked: {unshown}"


# ---------------------------------------------------------------------- coverage


def test_every_active_rule_fires_in_one_golden_case_and_not_in_another(
    engine: Engine, reports: dict[str, Report]
) -> None:
    fired_in: dict[str, set[str]] = {r.rule.id: set() for r in engine.ruleset.active}
    for name, report in reports.items():
        for rule_id in _rule_ids(report):
            fired_in.setdefault(rule_id, set()).add(name)
    everywhere = set(reports)
    never = sorted(rule_id for rule_id, names in fired_in.items() if not names)
    assert not never, f"active rules no golden case fires: {never}"
    loaded = {r.rule.id: r for r in engine.ruleset.active}
    always = sorted(
        rule_id
        for rule_id, names in fired_in.items()
        if names == everywhere and not _unconditional(loaded[rule_id])
    )
    assert not always, (
        f"rules that fire in every golden case (add a case where they don't): {always}"
    )
    # Unconditional rules (always-on adjuncts) must indeed fire everywhere.
    partial = sorted(
        rule_id
        for rule_id, names in fired_in.items()
        if _unconditional(loaded[rule_id]) and names != everywhere
    )
    assert not partial, f"always-on rules missing from some golden cases: {partial}"
