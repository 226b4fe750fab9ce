"""The recommendation vocabulary (``shared/domain-reference.md`` §10) and the escalation tiers.

Each code is one thing a clinician could do. Tiers follow the synthesised escalation ladder of
§4.6: a recommendation's rule names its tier, and reports sort by (tier, vocabulary order).
"""

from __future__ import annotations

from enum import Enum, IntEnum


class Option(str, Enum):
    urgent_crisis_referral = "urgent_crisis_referral"
    safety_assessment_and_plan = "safety_assessment_and_plan"
    specialist_mental_health_referral = "specialist_mental_health_referral"
    medical_assessment = "medical_assessment"
    bipolar_disorder_pathway = "bipolar_disorder_pathway"
    perinatal_specialist_input = "perinatal_specialist_input"
    personality_disorder_specialist_programme = "personality_disorder_specialist_programme"
    diagnostic_and_adherence_review = "diagnostic_and_adherence_review"
    complete_adequate_antidepressant_trial = "complete_adequate_antidepressant_trial"
    first_line_depression_treatment = "first_line_depression_treatment"
    antidepressant_switch_or_optimisation = "antidepressant_switch_or_optimisation"
    pharmacological_augmentation = "pharmacological_augmentation"
    antidepressant_plus_antipsychotic = "antidepressant_plus_antipsychotic"
    esketamine = "esketamine"
    lorazepam_challenge = "lorazepam_challenge"
    relapse_prevention_maintenance = "relapse_prevention_maintenance"
    cbt = "cbt"
    dbt = "dbt"
    psychodynamic_therapy = "psychodynamic_therapy"
    ipt = "ipt"
    mbct = "mbct"
    act = "act"
    emdr = "emdr"
    integrated_medication_and_therapy = "integrated_medication_and_therapy"
    comorbidity_integrated_treatment = "comorbidity_integrated_treatment"
    substance_use_treatment = "substance_use_treatment"
    tms = "tms"
    ect = "ect"
    supportive_therapeutic_relationship = "supportive_therapeutic_relationship"
    holistic_adjuncts = "holistic_adjuncts"


OPTION_MEANING: dict[Option, str] = {
    Option.urgent_crisis_referral: "Same-day/emergency specialist mental-health (and, if "
    "needed, medical) assessment; consider crisis team or inpatient care.",
    Option.safety_assessment_and_plan: "Direct suicide-risk assessment, collaborative safety "
    "plan, means restriction, limited medication quantities, more frequent contact.",
    Option.specialist_mental_health_referral: "Referral to secondary/specialist (or tertiary "
    "TRD) psychiatric services.",
    Option.medical_assessment: "Physical-health assessment and management (hydration, "
    "nutrition, medical causes).",
    Option.bipolar_disorder_pathway: "Route to bipolar-depression management "
    "(mood-stabiliser/antipsychotic based, specialist).",
    Option.perinatal_specialist_input: "Perinatal psychiatry input for risk-benefit decisions "
    "in pregnancy/breastfeeding.",
    Option.personality_disorder_specialist_programme: "Referral to a specialist "
    "personality-disorder treatment programme.",
    Option.diagnostic_and_adherence_review: "Review diagnosis, adherence, dose, comorbid and "
    "psychosocial factors before labelling resistance.",
    Option.complete_adequate_antidepressant_trial: "Optimise dose, duration and adherence so "
    "that an adequate antidepressant trial is achieved.",
    Option.first_line_depression_treatment: "First-line treatment for a new/untreated episode "
    "chosen by severity and preference (psychotherapy and/or antidepressant).",
    Option.antidepressant_switch_or_optimisation: "Increase dose, switch within class or to "
    "another class.",
    Option.pharmacological_augmentation: "Add lithium, a second-generation antipsychotic, a "
    "second antidepressant, liothyronine or lamotrigine (specialist).",
    Option.antidepressant_plus_antipsychotic: "Combination of an antidepressant with an "
    "antipsychotic (psychotic depression).",
    Option.esketamine: "Intranasal esketamine (REMS setting).",
    Option.lorazepam_challenge: "Benzodiazepine (lorazepam) challenge/treatment for catatonia.",
    Option.relapse_prevention_maintenance: "Continue the treatment that produced "
    "remission/response; relapse-prevention plan.",
    Option.cbt: "Cognitive behavioural therapy.",
    Option.dbt: "Dialectical behaviour therapy.",
    Option.psychodynamic_therapy: "(Short-term) psychodynamic psychotherapy.",
    Option.ipt: "Interpersonal psychotherapy.",
    Option.mbct: "Mindfulness-based cognitive therapy.",
    Option.act: "Acceptance and commitment therapy.",
    Option.emdr: "Eye movement desensitisation and reprocessing.",
    Option.integrated_medication_and_therapy: "Coordinated antidepressant + psychotherapy with "
    "psychiatrist-therapist collaboration.",
    Option.comorbidity_integrated_treatment: "Concurrent, coordinated treatment of comorbid "
    "anxiety or substance use within the same plan.",
    Option.substance_use_treatment: "Specific treatment for the substance use disorder.",
    Option.tms: "Repetitive transcranial magnetic stimulation.",
    Option.ect: "Electroconvulsive therapy.",
    Option.supportive_therapeutic_relationship: "Explicit focus on a warm, consistent "
    "therapeutic alliance.",
    Option.holistic_adjuncts: "Exercise, nutrition, mindfulness practice, sleep and "
    "stress-reduction measures.",
}

#: Options that come first when safety escalation is gated: the urgent safety/medical
#: escalation of §6.3 (crisis assessment, safety plan, physical-health management).
SAFETY_FIRST: frozenset[Option] = frozenset(
    {Option.urgent_crisis_referral, Option.safety_assessment_and_plan, Option.medical_assessment}
)


#: Options never deferred whatever rule recommended them (the safety options, ECT and the
#: lorazepam challenge). Superseded by :func:`acute_group`, which defers ECT unless a
#: rapid-response rule recommended it and keeps the stabilisation steps acute; kept so that
#: code written against the earlier policy still imports.
RAPID_RESPONSE: frozenset[Option] = SAFETY_FIRST | {Option.ect, Option.lorazepam_challenge}

#: Stabilisation: part of acute management, so never deferred behind the safety gate and
#: listed straight after the safety options: specialist referral and antidepressant +
#: antipsychotic in psychotic depression (NG222 1.12.1–1.12.5, "these are the stabilisation",
#: §11.6), the bipolar pathway incl. the antidepressant-monotherapy review (§11.7), perinatal
#: input (§6.3) and the lorazepam challenge for catatonia.
STABILISATION: frozenset[Option] = frozenset(
    {
        Option.specialist_mental_health_referral,
        Option.antidepressant_plus_antipsychotic,
        Option.bipolar_disorder_pathway,
        Option.perinatal_specialist_input,
        Option.lorazepam_challenge,
    }
)

#: Treating an acute, modifiable suicide risk factor is part of the safety work, not routine
#: escalation (issue-8 follow-up point 6, decided for example 02): alcohol or drug use is a
#: proximal risk factor for suicidal behaviour, independent of a use disorder (Conner et al.
#: 2014, Am J Prev Med 47(3 Suppl 2):S204), and what helps at the time of risk is a brief
#: intervention, lethal-means and safety planning that include the substance, and management
#: of intoxication or withdrawal (Amin et al. 2025, J Acad Consult Liaison Psychiatry,
#: scoping review); NG222 1.9.2 asks for comorbid substance use to be treated alongside the
#: depression. So ``substance_use_treatment`` stays acute under the safety gate.
#: ``comorbidity_integrated_treatment`` (longer-term coordination of anxiety or substance-use
#: care within one plan) is still deferred until after stabilisation.
ACUTE_RISK_FACTOR: frozenset[Option] = frozenset({Option.substance_use_treatment})

#: Continuing what already works is not escalation: "continue the treatment that produced
#: remission/response" is never deferred behind the safety gate (NG222 1.2.12: suicide risk
#: is not a reason to withhold treatment; §6.3 defers only *routine escalation*). Marking it
#: "after stabilisation" would read as "hold the current antidepressant" (review finding).
CONTINUATION: frozenset[Option] = frozenset({Option.relapse_prevention_maintenance})

#: Always-on care that goes on through the crisis itself, never marked "after stabilisation":
#: the supportive therapeutic relationship (SEED L122–L126, domain-reference §7 "always-on").
#: The alliance *is* how crisis care engages the person; §6.3 defers routine escalation, not it.
#: The holistic adjuncts (exercise, nutrition, mindfulness practice) stay deferred: they are
#: not for someone catatonic, not eating or in acute crisis. Project convention [C].
THROUGHOUT_IN_CRISIS: frozenset[Option] = frozenset({Option.supportive_therapeutic_relationship})

#: Rules that recommend ECT *because a rapid response is needed* (NG222 1.13.1). ECT is
#: exempt from deferral under the safety gate only when one of these recommended it, not when
#: e.g. the "multiple failures" rule did (issue 8 point 5).
RAPID_RESPONSE_RULES: frozenset[str] = frozenset(
    {"pathway.life_threatening_ect", "neuromod.ect_rapid_response_for_suicide_risk"}
)


def acute_group(option: Option, recommended_by: list[str] | tuple[str, ...]) -> int:
    """Where an option stands while ``safety_escalation_first`` is gated: 0 the safety
    options, 1 the stabilisation itself, treatment of an acute risk factor (substance use)
    and continuing a treatment that works (not deferred), 2 deferred until after
    stabilisation.

    ``recommended_by`` are the refs (``id@version``) of the rules that recommended it.
    """
    if option in SAFETY_FIRST:
        return 0
    if option in STABILISATION or option in CONTINUATION or option in ACUTE_RISK_FACTOR:
        return 1
    if option is Option.ect and any(
        ref.partition("@")[0] in RAPID_RESPONSE_RULES for ref in recommended_by
    ):
        return 1
    return 2


#: Vocabulary order, used as the tie-break inside a tier.
OPTION_RANK: dict[Option, int] = {opt: i for i, opt in enumerate(Option)}


class Tier(IntEnum):
    """Steps of the escalation ladder (§4.6); lower comes first in a report."""

    safety = 0
    pathway = 1
    verify_resistance = 2
    structured_psychotherapy = 3
    integrated_care = 4
    innovative_psychotherapy = 5
    neuromodulation_and_pharmacology = 6
    ect_and_esketamine = 7
    always_on = 8
