"""The fact model: what rule conditions can see.

A case is turned into flat, JSON-safe facts (``engine.facts``), one per fact type below, plus
one per trial. Each model lists the fields a rule condition may name; the rule linter checks
every field, comparison and literal against these models, with a "did you mean" for typos.
Fields that are ``None`` are left out of the asserted fact, so a condition on them does not
match and the why-not explanation can say "missing".

Derived fact types (``assessment``, the ``*_trial`` adequacy fields) are computed by the pure
functions in ``engine.assessments``; ``finding`` and ``gate`` facts are asserted by rules.

The models are plain annotated classes, not Pydantic models: nothing validates a fact against
them at run time (facts are built from a validated :class:`~trd_cds.schemas.case.Case`); they
declare the fields for the linter and the engine (:func:`field_specs`), and plain classes cost
nothing to import (18 Pydantic models cost ~14 ms of every CLI run).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Literal, Union, get_args, get_origin, get_type_hints

Gate = Literal[
    "safety_escalation_first",
    "suicide_risk_assessment_required",
    "psychotic_depression",
    "catatonia_or_life_threatening",
    "bipolar_out_of_scope",
    "perinatal",
    "suicide_risk_not_recorded",
    "under_18_outside_adult_pathway",
    "remeasure_severity_now",
]

EpisodeRefL = Literal["current", "previous"]
OutcomeL = Literal[
    "no_response",
    "partial_response",
    "response_without_remission",
    "remission",
    "stopped_intolerance",
    "dropped_out",
    "ongoing",
]
SeverityL = Literal["subsyndromal", "mild", "moderate", "severe"]
AdequacyIssueL = Literal[
    "previous_episode",
    "stopped_intolerance",
    "dose_not_adequate",
    "dose_unknown",
    "too_short",
    "duration_unknown",
    "adherence_not_good",
    "too_few_sessions",
    "dropped_out",
]


class _Fact:
    """A fact type: its annotated fields are what a rule condition may name (``= None``: the
    field is left out of the fact when the case does not record it)."""


class PatientFact(_Fact):
    type: Literal["patient"]
    age: int
    sex: Literal["female", "male", "intersex", "unknown"]
    pregnant: bool | None = None
    breastfeeding: bool | None = None


class DiagnosisFact(_Fact):
    type: Literal["diagnosis"]
    primary: Literal["mdd", "bipolar", "other"]
    psychotic_features: bool | None = None
    catatonic_features: bool | None = None
    mute: bool | None = None
    not_eating_or_drinking: bool | None = None


class EpisodeFact(_Fact):
    type: Literal["episode"]
    duration_months: int
    prior_episodes: int | None = None
    state: (
        Literal["depressed", "partial_remission", "response_without_remission", "remission"] | None
    ) = None
    baseline_severity: SeverityL | None = None
    current_severity: SeverityL | None = None


class RiskFact(_Fact):
    type: Literal["risk"]
    cssrs_level: Literal["none", "low", "moderate", "high"] | None = None
    phq9_item9: int | None = None
    clinician_judges_imminent_risk: bool | None = None
    wish_to_be_dead: bool | None = None
    active_suicidal_thoughts: bool | None = None
    method: bool | None = None
    intent: bool | None = None
    plan: bool | None = None
    behaviour: bool | None = None
    behaviour_recent: bool | None = None
    recorded: bool
    assessable: bool
    nssi_recent: bool | None = None


class AssessmentFact(_Fact):
    """Derived assessments (``engine.assessments``); each appears in the report with inputs."""

    type: Literal["assessment"]
    in_scope_unipolar: bool
    ad_trials_current_episode: int
    adequate_failed_ad_trials: int
    inadequate_failed_ad_trials: int
    intolerance_ad_trials: int
    adequate_failed_psychotherapy_trials: int
    inadequate_psychotherapy_trials: int
    any_treatment_current_episode: bool
    inadequate_response: bool
    treated_without_adequate_failure: bool
    trd_2: bool
    response_status: (
        Literal["remission", "response_without_remission", "partial_response", "no_response"] | None
    ) = None
    score_currency: Literal["current", "stale", "undated", "none"]
    state_conflict: bool
    responding: bool
    baseline_severity: SeverityL | None = None
    current_severity: SeverityL | None = None
    severe: bool | None = None  # None: current severity not recorded
    msm_total: int | None = None
    msm_band: Literal["mild", "moderate", "severe"] | None = None
    thase_rush_stage: int | None = None
    augmentation_used: bool
    ect_used: bool
    failed_ect: bool
    in_remission: bool
    chronic: bool
    recurrent_episodes: bool
    older_age: bool
    under_18: bool
    under_12: bool
    life_threatening: bool
    current_antidepressant: bool
    current_antimanic: bool
    ect_response: bool
    ect_moderate_after_multiple_failures: bool
    adolescent_tms_permitted: bool
    esketamine_eu_cv_event_block: bool
    cbt_failed: bool
    dbt_failed: bool
    psychodynamic_failed: bool
    ipt_failed: bool
    mbct_failed: bool
    act_failed: bool
    emdr_failed: bool


class ComorbidityFact(_Fact):
    type: Literal["comorbidity"]
    anxiety_disorder: bool | None = None
    substance_use_disorder: bool | None = None
    alcohol_use_disorder: bool | None = None
    ptsd: bool | None = None
    trauma_history: bool | None = None
    personality_disorder: Literal["none", "borderline", "other"] | None = None
    chronic_pain_or_illness: bool | None = None
    medical_comorbidity: bool | None = None
    seizure_history: bool | None = None
    physical_condition_may_explain_symptoms: bool | None = None


class FeaturesFact(_Fact):
    type: Literal["features"]
    rumination: bool | None = None
    negative_automatic_thoughts: bool | None = None
    avoidance: bool | None = None
    emotion_dysregulation: bool | None = None
    recurrent_self_harm: bool | None = None
    longstanding_relational_patterns: bool | None = None
    wishes_insight: bool | None = None
    experiential_avoidance: bool | None = None
    values_disengagement: bool | None = None
    unresolved_trauma_memories: bool | None = None
    prior_good_ect_response: bool | None = None
    significant_weight_loss: bool | None = None


class ContraindicationFact(_Fact):
    type: Literal["contraindication"]
    metal_in_or_near_head: bool | None = None
    cochlear_implant: bool | None = None
    implanted_stimulator: bool | None = None
    cardiac_pacemaker_or_icd: bool | None = None
    aneurysmal_vascular_disease: bool | None = None
    arteriovenous_malformation: bool | None = None
    intracerebral_haemorrhage_history: bool | None = None
    cardiovascular_event_within_6_weeks: bool | None = None


class PreferenceFact(_Fact):
    type: Literal["preference"]
    declines_medication: bool | None = None
    declines_ect: bool | None = None
    prefers_psychotherapy: bool | None = None


class PsychosocialFact(_Fact):
    type: Literal["psychosocial"]
    grief: bool | None = None
    role_transition: bool | None = None
    interpersonal_dispute: bool | None = None
    social_isolation: bool | None = None


class AdTrialFact(_Fact):
    """One antidepressant trial, with its derived adequacy."""

    type: Literal["ad_trial"]
    drug_class: Literal["ssri", "snri", "tca", "maoi", "other"]
    episode: EpisodeRefL
    outcome: OutcomeL
    weeks_at_dose: float | None = None
    adherence: Literal["good", "partial", "poor", "unknown"]
    adequate: bool
    failed: bool
    adequacy_issue: AdequacyIssueL | None = None


class PsychotherapyTrialFact(_Fact):
    type: Literal["psychotherapy_trial"]
    modality: Literal[
        "cbt",
        "dbt",
        "psychodynamic",
        "ipt",
        "mbct",
        "act",
        "emdr",
        "behavioural_activation",
        "problem_solving",
        "supportive_counselling",
        "other",
    ]
    episode: EpisodeRefL
    outcome: OutcomeL
    sessions: int
    weeks: float
    adequate: bool
    failed: bool
    adequacy_issue: AdequacyIssueL | None = None


class EctCourseFact(_Fact):
    type: Literal["ect_course"]
    laterality: Literal["bilateral", "right_unilateral", "bifrontal"]
    episode: EpisodeRefL
    outcome: OutcomeL
    failed: bool


class AugmentationFact(_Fact):
    type: Literal["augmentation"]
    agent: Literal[
        "lithium",
        "second_generation_antipsychotic",
        "liothyronine",
        "lamotrigine",
        "second_antidepressant",
        "other",
    ]
    episode: EpisodeRefL


class FindingFact(_Fact):
    """Asserted by a ``derive`` rule; ``name`` is the finding the rule declares."""

    type: Literal["finding"]
    name: str


class GateFact(_Fact):
    """Asserted by a ``gate`` rule."""

    type: Literal["gate"]
    name: Gate


FACT_MODELS: dict[str, type[_Fact]] = {
    "patient": PatientFact,
    "diagnosis": DiagnosisFact,
    "episode": EpisodeFact,
    "risk": RiskFact,
    "assessment": AssessmentFact,
    "comorbidity": ComorbidityFact,
    "features": FeaturesFact,
    "contraindication": ContraindicationFact,
    "preference": PreferenceFact,
    "psychosocial": PsychosocialFact,
    "ad_trial": AdTrialFact,
    "psychotherapy_trial": PsychotherapyTrialFact,
    "ect_course": EctCourseFact,
    "augmentation": AugmentationFact,
    "finding": FindingFact,
    "gate": GateFact,
}

#: Fact types a case produces once (singletons) and per list item.
SINGLETON_TYPES = (
    "patient",
    "diagnosis",
    "episode",
    "risk",
    "assessment",
    "comorbidity",
    "features",
    "contraindication",
    "preference",
    "psychosocial",
)

FieldKind = Literal["bool", "int", "number", "str"]


@dataclass(frozen=True)
class FieldSpec:
    """What the linter needs to know about one fact field."""

    name: str
    kind: FieldKind
    choices: tuple[str, ...] | None
    optional: bool


def _spec(name: str, annotation: object) -> FieldSpec:
    optional = False
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and type(None) in args:
        optional = True
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
    if get_origin(annotation) is Literal:
        return FieldSpec(name, "str", tuple(str(a) for a in get_args(annotation)), optional)
    kind: FieldKind
    if annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "int"
    elif annotation is float:
        kind = "number"
    elif annotation is str:
        kind = "str"
    else:  # pragma: no cover - guarded by test_fact_model_kinds
        raise TypeError(f"unsupported fact field annotation for {name}: {annotation!r}")
    return FieldSpec(name, kind, None, optional)


def field_specs(fact_type: str) -> dict[str, FieldSpec]:
    """Field specs of one fact type (``type`` included, as a one-choice string)."""
    hints = get_type_hints(FACT_MODELS[fact_type])
    return {name: _spec(name, annotation) for name, annotation in hints.items()}
