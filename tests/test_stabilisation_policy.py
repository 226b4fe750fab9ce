"""Issue 8 point 5: under the safety gate the stabilisation is not deferred, and ECT is exempt
from deferral only when a rapid-response rule recommended it (``schemas.options.acute_group``,
consulted by the conflict policy)."""

from __future__ import annotations

import pytest

from trd_cds.schemas.options import (
    RAPID_RESPONSE_RULES,
    SAFETY_FIRST,
    STABILISATION,
    Option,
    acute_group,
)


@pytest.mark.parametrize("option", sorted(SAFETY_FIRST, key=lambda o: o.value))
def test_safety_options_come_first(option: Option) -> None:
    assert acute_group(option, []) == 0


@pytest.mark.parametrize("option", sorted(STABILISATION, key=lambda o: o.value))
def test_stabilisation_is_never_deferred(option: Option) -> None:
    assert acute_group(option, ["any.rule@1"]) == 1


def test_the_review_list_is_covered() -> None:
    # The items the review found wrongly marked "after stabilisation".
    named = {
        Option.antidepressant_plus_antipsychotic,
        Option.specialist_mental_health_referral,
        Option.bipolar_disorder_pathway,
        Option.perinatal_specialist_input,
    }
    assert named <= STABILISATION


@pytest.mark.parametrize("rule", sorted(RAPID_RESPONSE_RULES))
def test_ect_from_a_rapid_response_rule_is_acute(rule: str) -> None:
    assert acute_group(Option.ect, [f"{rule}@7", "neuromod.ect_multiple_failures@2"]) == 1


def test_ect_from_the_multiple_failures_rule_is_deferred() -> None:
    assert acute_group(Option.ect, ["neuromod.ect_multiple_failures@2"]) == 2
    assert acute_group(Option.ect, ["neuromod.ect_severe_after_failure@2"]) == 2
    # a rule whose id merely starts like a rapid-response rule does not count
    assert acute_group(Option.ect, ["pathway.life_threatening_ect_extra@1"]) == 2


def test_routine_options_are_deferred() -> None:
    for option in (Option.cbt, Option.tms, Option.esketamine, Option.pharmacological_augmentation):
        assert acute_group(option, ["pathway.life_threatening_ect@1"]) == 2


def test_rapid_response_rules_exist_and_recommend_ect(engine: object) -> None:
    from trd_cds import Engine

    assert isinstance(engine, Engine)
    rules = {r.rule.id: r.rule for r in engine.ruleset.active}
    for rule_id in RAPID_RESPONSE_RULES:
        assert rule_id in rules, f"{rule_id} is not an active rule"
        assert Option.ect in rules[rule_id].action.options
