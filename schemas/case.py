"""The case: the clinical facts one evaluation is about (input).

Follows ``shared/domain-reference.md`` v1.1: §2 (trials, adequacy, response), §3 (staging
inputs), §5 (therapy indications), §6 (C-SSRS screener, pathway-changing conditions), the
option vocabulary of §10 and the §11 additions (measurement dates, NSSI, current medications,
age scope).

Schema version 2 (this module) separates baseline from current severity, records current
medications (drug, class, dose), PHQ-9 item 9 without a total, non-suicidal self-injury with a
date, the psychotherapy outcome ``dropped_out`` and the episode state
``response_without_remission``. Version-1 files are read through :func:`migrate_v1`.
``episode.state`` has no default: not recorded is ``None`` (never "depressed" by default).

Every model is strict: unknown fields are rejected, ranges are enforced and cross-field rules
(C-SSRS skip logic, PHQ-9 item 9 only on PHQ-9, pregnancy vs sex, ...) are checked, so a bad
file fails with a field path instead of producing a quietly wrong recommendation.

Optional booleans are tri-state on purpose: ``None`` means *not recorded*, which the why-not
explanation reports as "missing", distinct from ``False`` (recorded as absent).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import Enum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = "2"

#: Upper bounds on list lengths: they keep the fact-id vocabulary finite (and tested
#: collision-free, see ``engine.facts``) and bound the work one case can cause.
MAX_TRIALS = 40
MAX_MEASUREMENTS = 40

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: object) -> object:
    """Dates are ISO 8601 calendar dates only: pydantic would also read digit strings as Unix
    timestamps and accept midnight date-times."""
    if isinstance(value, str):
        if not _ISO_DATE.match(value):
            raise ValueError("expected an ISO 8601 date, YYYY-MM-DD")
        return date.fromisoformat(value)  # ValueError for impossible dates (2026-02-30)
    return value


def _visible(value: object) -> object:
    """Free-text names must contain a visible character: a name made only of whitespace,
    control or format characters (a form feed, a zero-width space) names nothing."""
    if isinstance(value, str) and not any(
        unicodedata.category(ch)[0] not in ("Z", "C") for ch in value
    ):
        raise ValueError("must contain a visible character (not only whitespace or control)")
    return value


#: A free-text name (a drug, an identifier): at least one visible character.
VisibleText = Annotated[str, AfterValidator(_visible)]

# Cases are validated in JSON mode (``parse_case``); YAML ``date`` values become ISO strings.
LaxDate = Annotated[date, BeforeValidator(_iso_date_only)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Sex(str, Enum):
    female = "female"
    male = "male"
    intersex = "intersex"
    unknown = "unknown"


class PrimaryDiagnosis(str, Enum):
    """``mdd`` is unipolar major depressive disorder, the scope of the TRD ladder."""

    mdd = "mdd"
    bipolar = "bipolar"
    other = "other"


class EpisodeState(str, Enum):
    """The clinician's recorded state of the current episode.

    ``response_without_remission``: clearly better (response) but not well (v2).
    """

    depressed = "depressed"
    partial_remission = "partial_remission"
    response_without_remission = "response_without_remission"
    remission = "remission"


class Severity(str, Enum):
    """Clinician-rated severity category (the MSM severity dimension, §3.2)."""

    subsyndromal = "subsyndromal"
    mild = "mild"
    moderate = "moderate"
    severe = "severe"


class Instrument(str, Enum):
    phq9 = "phq9"
    madrs = "madrs"
    hamd17 = "hamd17"
    qids_sr16 = "qids_sr16"


#: Score ranges per instrument (§2.3–§2.4).
INSTRUMENT_RANGES: dict[Instrument, tuple[int, int]] = {
    Instrument.phq9: (0, 27),
    Instrument.madrs: (0, 60),
    Instrument.hamd17: (0, 52),
    Instrument.qids_sr16: (0, 27),
}


class Timepoint(str, Enum):
    baseline = "baseline"
    current = "current"


class EpisodeRef(str, Enum):
    current = "current"
    previous = "previous"


class DrugClass(str, Enum):
    """Classes used by Thase–Rush staging (§3.1)."""

    ssri = "ssri"
    snri = "snri"
    tca = "tca"
    maoi = "maoi"
    other = "other"


class Adherence(str, Enum):
    """``good`` means the person takes at least 80 % of doses (§2.2)."""

    good = "good"
    partial = "partial"
    poor = "poor"
    unknown = "unknown"


class TrialOutcome(str, Enum):
    """Outcome of a treatment trial; §10 defines which count as failure.

    ``dropped_out`` (v2): the person stopped attending or taking it for reasons other than
    side effects; neither a failure nor intolerance, and never an adequate trial.
    """

    no_response = "no_response"
    partial_response = "partial_response"
    response_without_remission = "response_without_remission"
    remission = "remission"
    stopped_intolerance = "stopped_intolerance"
    dropped_out = "dropped_out"
    ongoing = "ongoing"


class AugmentationAgent(str, Enum):
    lithium = "lithium"
    second_generation_antipsychotic = "second_generation_antipsychotic"
    liothyronine = "liothyronine"
    lamotrigine = "lamotrigine"
    second_antidepressant = "second_antidepressant"
    other = "other"


class MedicationClass(str, Enum):
    """Class of a current medication (v2): antidepressant classes as in :class:`DrugClass`,
    plus the anti-manic agents of NICE CG185 and other psychotropics."""

    ssri = "ssri"
    snri = "snri"
    tca = "tca"
    maoi = "maoi"
    other_antidepressant = "other_antidepressant"
    lithium = "lithium"
    valproate = "valproate"
    antipsychotic = "antipsychotic"
    lamotrigine = "lamotrigine"
    benzodiazepine = "benzodiazepine"
    other = "other"


#: Current-medication classes that are antidepressants.
ANTIDEPRESSANT_CLASSES = frozenset(
    {
        MedicationClass.ssri,
        MedicationClass.snri,
        MedicationClass.tca,
        MedicationClass.maoi,
        MedicationClass.other_antidepressant,
    }
)
#: Anti-manic agents for the bipolar antidepressant-monotherapy check (§11.7).
ANTIMANIC_CLASSES = frozenset(
    {MedicationClass.lithium, MedicationClass.valproate, MedicationClass.antipsychotic}
)


class EctLaterality(str, Enum):
    bilateral = "bilateral"
    right_unilateral = "right_unilateral"
    bifrontal = "bifrontal"


class PsychotherapyModality(str, Enum):
    cbt = "cbt"
    dbt = "dbt"
    psychodynamic = "psychodynamic"
    ipt = "ipt"
    mbct = "mbct"
    act = "act"
    emdr = "emdr"
    behavioural_activation = "behavioural_activation"
    problem_solving = "problem_solving"
    supportive_counselling = "supportive_counselling"
    other = "other"


class PersonalityDisorder(str, Enum):
    none = "none"
    borderline = "borderline"
    other = "other"


class Patient(_Model):
    """Who the case is about. ``id`` is pseudonymised in the audit log (keyed hash)."""

    id: VisibleText | None = Field(default=None, min_length=1, max_length=128)
    age: int = Field(ge=0, le=120, description="Age in completed years.")
    sex: Sex = Sex.unknown
    pregnant: bool | None = None
    breastfeeding: bool | None = None

    @model_validator(mode="after")
    def _pregnancy_needs_possible_sex(self) -> Patient:
        if self.sex is Sex.male and (self.pregnant or self.breastfeeding):
            raise ValueError("pregnant/breastfeeding is true but sex is 'male'")
        return self


class Diagnosis(_Model):
    primary: PrimaryDiagnosis
    psychotic_features: bool | None = None
    catatonic_features: bool | None = None
    mute: bool | None = Field(
        default=None, description="Mute or otherwise unable to answer (v2): risk not assessable."
    )
    not_eating_or_drinking: bool | None = None


class Episode(_Model):
    """The current depressive episode. Give ``onset_date`` or ``duration_months``."""

    onset_date: LaxDate | None = None
    duration_months: int | None = Field(
        default=None, ge=0, le=1200, description="Completed months since onset."
    )
    prior_episodes: int | None = Field(
        default=None, ge=0, le=100, description="Depressive episodes before the current one."
    )
    # No default (issue-8 follow-up): an unrecorded state is never shown as a recorded one,
    # nor in conflict with a score. Earlier files defaulted it to "depressed" (see migrate_v1).
    state: EpisodeState | None = Field(
        default=None, description="The clinician's recorded state of the episode now."
    )
    baseline_severity: Severity | None = Field(
        default=None,
        description="Clinician-rated severity at episode baseline (MSM input). "
        "Version 1 called it ``severity``.",
    )
    current_severity: Severity | None = Field(
        default=None,
        description="Clinician-rated severity now (v2); else the band of a current-enough score.",
    )

    @model_validator(mode="after")
    def _one_duration(self) -> Episode:
        if self.onset_date is not None and self.duration_months is not None:
            raise ValueError("give onset_date or duration_months, not both")
        if self.onset_date is None and self.duration_months is None:
            raise ValueError("give onset_date or duration_months")
        return self


class Measurement(_Model):
    """One rating-scale score. ``date`` is compared with the evaluation time (§11.5): an
    undated or old "current" score never decides response or remission."""

    instrument: Instrument
    timepoint: Timepoint
    score: int | None = Field(
        default=None, description="Total score; may be omitted only for a PHQ-9 item 9 (v2)."
    )
    date: LaxDate | None = None
    item9: int | None = Field(
        default=None, ge=0, le=3, description="PHQ-9 item 9 (thoughts of death/self-harm)."
    )

    @model_validator(mode="after")
    def _in_range(self) -> Measurement:
        if self.score is None:
            if self.instrument is not Instrument.phq9 or self.item9 is None:
                raise ValueError("score is required (only a PHQ-9 item 9 may stand alone)")
        else:
            low, high = INSTRUMENT_RANGES[self.instrument]
            if not low <= self.score <= high:
                raise ValueError(
                    f"score {self.score} is outside the {self.instrument.value} range {low}–{high}"
                )
        if self.item9 is not None:
            if self.instrument is not Instrument.phq9:
                raise ValueError("item9 is only defined for phq9")
            if self.score is not None and self.item9 > self.score:
                raise ValueError("item9 cannot exceed the PHQ-9 total score")
        return self


class AntidepressantTrial(_Model):
    drug: VisibleText = Field(min_length=1, max_length=80)
    drug_class: DrugClass
    dose_adequate: bool | None = Field(
        default=None, description="At or above the recognised therapeutic dose (NG222 1.9.1)."
    )
    weeks_at_dose: float | None = Field(default=None, ge=0, le=520)
    adherence: Adherence = Adherence.unknown
    outcome: TrialOutcome
    episode: EpisodeRef = EpisodeRef.current


class Augmentation(_Model):
    agent: AugmentationAgent
    drug: VisibleText | None = Field(default=None, min_length=1, max_length=80)
    episode: EpisodeRef = EpisodeRef.current
    outcome: TrialOutcome | None = None

    @model_validator(mode="after")
    def _named_if_other(self) -> Augmentation:
        if self.agent is AugmentationAgent.other and self.drug is None:
            raise ValueError("agent 'other' needs the drug name")
        return self


class EctCourse(_Model):
    laterality: EctLaterality
    sessions: int | None = Field(default=None, ge=1, le=60)
    outcome: TrialOutcome
    episode: EpisodeRef = EpisodeRef.current


class PsychotherapyTrial(_Model):
    modality: PsychotherapyModality
    sessions: int = Field(ge=0, le=500)
    weeks: float = Field(ge=0, le=520)
    outcome: TrialOutcome
    episode: EpisodeRef = EpisodeRef.current


class CurrentMedication(_Model):
    """A medication the person takes now (v2)."""

    drug: VisibleText = Field(min_length=1, max_length=80)
    drug_class: MedicationClass
    dose_mg_per_day: float | None = Field(default=None, gt=0, le=10000)


class Nssi(_Model):
    """Non-suicidal self-injury (v2; §11.4). Self-harm irrespective of purpose (NG225); it
    triggers a safety assessment but does not raise the C-SSRS level."""

    last_date: LaxDate | None = None
    within_3_months: bool | None = None

    @model_validator(mode="after")
    def _timed(self) -> Nssi:
        if self.last_date is None and self.within_3_months is None:
            raise ValueError("non-suicidal self-injury: give last_date or within_3_months")
        return self


class Cssrs(_Model):
    """C-SSRS screener (§6.2). Items 1–5 refer to the past month."""

    wish_to_be_dead: bool
    active_suicidal_thoughts: bool
    method: bool | None = None
    intent: bool | None = None
    plan: bool | None = Field(default=None, description="Intent with a specific plan.")
    behaviour: bool = Field(description="Item 6: any suicidal behaviour (lifetime).")
    behaviour_within_3_months: bool | None = None
    last_behaviour_date: LaxDate | None = None

    @model_validator(mode="after")
    def _skip_logic(self) -> Cssrs:
        if not self.active_suicidal_thoughts and (self.method or self.intent or self.plan):
            raise ValueError(
                "C-SSRS items 3–5 are only asked after a 'yes' to item 2 (active_suicidal_thoughts)"
            )
        if not self.behaviour and (
            self.behaviour_within_3_months or self.last_behaviour_date is not None
        ):
            raise ValueError("behaviour timing given but behaviour is false")
        if (
            self.behaviour
            and self.behaviour_within_3_months is None
            and (self.last_behaviour_date is None)
        ):
            raise ValueError(
                "behaviour is true: give behaviour_within_3_months or last_behaviour_date"
            )
        return self


class SuicideRisk(_Model):
    """Suicide-risk data. All absent means *not recorded* (§11.4), never "no risk"."""

    cssrs: Cssrs | None = None
    clinician_judges_imminent_risk: bool | None = None
    nssi: Nssi | None = Field(default=None, description="Non-suicidal self-injury (v2).")


class Comorbidities(_Model):
    anxiety_disorder: bool | None = None
    substance_use_disorder: bool | None = None
    alcohol_use_disorder: bool | None = None
    ptsd: bool | None = None
    trauma_history: bool | None = None
    personality_disorder: PersonalityDisorder | None = None
    chronic_pain_or_illness: bool | None = None
    medical_comorbidity: bool | None = Field(
        default=None, description="Significant physical illness relevant to ECT anaesthesia."
    )
    seizure_history: bool | None = None
    physical_condition_may_explain_symptoms: bool | None = Field(
        default=None,
        description="A physical illness or medication that may cause or maintain the "
        "depression or limit response (v2; NG222 1.4.1, 1.9.2).",
    )


class ClinicalFeatures(_Model):
    """Presentation features that match psychotherapies to the person (§5)."""

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
    significant_weight_loss: bool | None = Field(
        default=None, description="Significant weight loss in this episode (v2)."
    )


class Contraindications(_Model):
    """TMS (§4.5) and esketamine (label) relevant findings."""

    metal_in_or_near_head: bool | None = None
    cochlear_implant: bool | None = None
    implanted_stimulator: bool | None = Field(default=None, description="DBS, VNS or similar.")
    cardiac_pacemaker_or_icd: bool | None = None
    aneurysmal_vascular_disease: bool | None = None
    arteriovenous_malformation: bool | None = None
    intracerebral_haemorrhage_history: bool | None = None
    cardiovascular_event_within_6_weeks: bool | None = Field(
        default=None,
        description="Cardiovascular event (incl. myocardial infarction) in the last 6 weeks "
        "(v2; EU esketamine SmPC 4.3).",
    )


class Preferences(_Model):
    declines_medication: bool | None = None
    declines_ect: bool | None = None
    prefers_psychotherapy: bool | None = None


class Psychosocial(_Model):
    """IPT's four problem areas (§5)."""

    grief: bool | None = None
    role_transition: bool | None = None
    interpersonal_dispute: bool | None = None
    social_isolation: bool | None = None


class Case(_Model):
    """One patient case: the complete input of one evaluation."""

    schema_version: Literal["2"] = "2"
    case_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    patient: Patient
    diagnosis: Diagnosis
    episode: Episode
    measurements: list[Measurement] = Field(default_factory=list, max_length=MAX_MEASUREMENTS)
    antidepressant_trials: list[AntidepressantTrial] = Field(
        default_factory=list, max_length=MAX_TRIALS
    )
    augmentations: list[Augmentation] = Field(default_factory=list, max_length=MAX_TRIALS)
    ect_courses: list[EctCourse] = Field(default_factory=list, max_length=MAX_TRIALS)
    psychotherapy_trials: list[PsychotherapyTrial] = Field(
        default_factory=list, max_length=MAX_TRIALS
    )
    suicide_risk: SuicideRisk = SuicideRisk()
    comorbidities: Comorbidities = Comorbidities()
    clinical_features: ClinicalFeatures = ClinicalFeatures()
    contraindications: Contraindications = Contraindications()
    preferences: Preferences = Preferences()
    psychosocial: Psychosocial = Psychosocial()
    current_medications: list[CurrentMedication] = Field(
        default_factory=list, max_length=MAX_TRIALS, description="Medications taken now (v2)."
    )

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: object) -> object:
        return migrate(data)

    @field_validator("measurements")
    @classmethod
    def _one_score_per_timepoint(cls, measurements: list[Measurement]) -> list[Measurement]:
        seen: dict[tuple[Instrument, Timepoint], Measurement] = {}
        for m in measurements:
            key = (m.instrument, m.timepoint)
            if key in seen:
                raise ValueError(
                    f"two {m.timepoint.value} measurements for {m.instrument.value}: "
                    "give one baseline and one current score per instrument"
                )
            seen[key] = m
        for inst in Instrument:
            base = seen.get((inst, Timepoint.baseline))
            cur = seen.get((inst, Timepoint.current))
            if base and cur and base.date and cur.date and base.date > cur.date:
                raise ValueError(f"{inst.value} baseline date is after the current date")
        return measurements


def migrate_v1(data: dict[str, object]) -> dict[str, object]:
    """A version-1 case as version 2: ``episode.severity`` (documented as the baseline
    severity) becomes ``episode.baseline_severity``; nothing else changed shape.

    ``episode.state`` is carried over only when the file gives it. Version 1 filled a missing
    state with the schema default "depressed"; that default was never a clinician's record, so
    the migration does not write it: a version-1 file without a state reads as *state not
    recorded*. What the engine does with it is unchanged wherever it mattered: an unrecorded
    state is not remission and not response (nothing is withheld), and only a current-enough
    score can set response or remission; the one difference is that a score is no longer shown
    as "in conflict with the recorded state" when no state was recorded (review case 26).
    """
    out = dict(data)
    out["schema_version"] = SCHEMA_VERSION
    episode = out.get("episode")
    if isinstance(episode, dict) and "severity" in episode:
        episode = dict(episode)
        if "baseline_severity" in episode:
            raise ValueError("episode: give severity (v1) or baseline_severity (v2), not both")
        episode["baseline_severity"] = episode.pop("severity")
        out["episode"] = episode
    return out


def migrate(data: object) -> object:
    """Bring case data to the current schema version. A missing ``schema_version`` is read as
    version 1 (the only version without the field being required to say so); version-1 data
    that uses no renamed field is also valid version 2."""
    if not isinstance(data, dict):
        return data
    version = data.get("schema_version", "1")
    if version == "1":
        return migrate_v1(data)
    return data
