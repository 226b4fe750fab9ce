"""Derived assessments: small pure functions whose outputs become facts.

Arithmetic that rules do badly (counts, staging scores, reductions, date windows) lives here.
:func:`assess` runs a handful of named sections over pure scoring functions:

* :func:`scope_section` — diagnosis in scope, age scope (§11.2), life-threatening state;
* :func:`episode_section` — episode months, NICE chronicity (§11.1);
* :func:`trials_section` — adequacy and failure counts (§2.1–§2.2, §10);
* :func:`treatment_section` — augmentation, ECT, current medications (§11.7, NG222 1.13.9);
* :func:`scores_section`, :func:`response_section`, :func:`severity_section` — score bands
  and currency (§11.5), response/remission, the recorded state and its conflicts, baseline vs
  current severity;
* :func:`staging_section` — Maudsley Staging Method and Thase–Rush (§3);
* :func:`risk_section` — C-SSRS level, PHQ-9 item 9, NSSI, whether risk was recorded at all
  (§6, §11.4);
* :func:`conventions_section` — the named settings rules may depend on (§11.1–§11.3).

Every output is a :class:`Finding` that carries the value *and* the input values it was
computed from, as JSON pointers into the case, so the report can show why. Nothing here reads
the clock: the evaluation date is passed in.

Sources: ``shared/domain-reference.md`` §2 (adequacy, response, remission, severity), §3
(Thase–Rush, Maudsley Staging Method), §6.2 (C-SSRS), the §10 conventions and §11; thresholds
that are conventions come from :class:`~trd_cds.schemas.settings.Settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from ..schemas.case import (
    ANTIDEPRESSANT_CLASSES,
    ANTIMANIC_CLASSES,
    Adherence,
    AntidepressantTrial,
    Case,
    Cssrs,
    DrugClass,
    EctLaterality,
    EpisodeRef,
    EpisodeState,
    Instrument,
    Measurement,
    PrimaryDiagnosis,
    PsychotherapyTrial,
    Severity,
    Timepoint,
    TrialOutcome,
)
from ..schemas.settings import Settings

FAILED_OUTCOMES = frozenset({TrialOutcome.no_response, TrialOutcome.partial_response})

Input = tuple[str, Any]  # (JSON pointer into the case, value seen)


class Finding(NamedTuple):
    """One derived value with the inputs it came from (a tuple: built ~50 times per case)."""

    name: str
    value: Any
    inputs: tuple[Input, ...] = ()
    subject: str | None = None  # pointer of the item the finding is about (a trial, ...)
    detail: str | None = None


class TrialAssessment(NamedTuple):
    adequate: bool
    failed: bool
    issue: str | None
    finding: Finding


@dataclass
class Assessment:
    """All derived values of one case, plus the findings that explain them."""

    values: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    ad_trials: list[TrialAssessment] = field(default_factory=list)
    psychotherapy_trials: list[TrialAssessment] = field(default_factory=list)
    ect_failed: list[bool] = field(default_factory=list)
    episode_months: int = 0
    risk: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def completed_months(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 if ``end`` is earlier)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def months_before(end: date, months: int) -> date:
    """The date ``months`` calendar months before ``end`` (day clamped to month length;
    ``date.min`` when that falls before year 1, so every recorded date is on or after it)."""
    total = end.year * 12 + (end.month - 1) - months
    year, month = divmod(total, 12)
    if year < date.min.year:
        return date.min
    month += 1
    for day in (end.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- trials


def assess_ad_trial(trial: AntidepressantTrial, index: int, settings: Settings) -> TrialAssessment:
    """Adequacy of one antidepressant trial (§10: current episode, dose, ≥4 weeks, adherence)."""
    ptr = f"/antidepressant_trials/{index}"
    inputs: tuple[Input, ...] = (
        (f"{ptr}/episode", trial.episode.value),
        (f"{ptr}/dose_adequate", trial.dose_adequate),
        (f"{ptr}/weeks_at_dose", trial.weeks_at_dose),
        (f"{ptr}/adherence", trial.adherence.value),
        (f"{ptr}/outcome", trial.outcome.value),
    )
    issue: str | None = None
    if trial.episode is EpisodeRef.previous:
        issue = "previous_episode"
    elif trial.outcome is TrialOutcome.stopped_intolerance:
        issue = "stopped_intolerance"
    elif trial.outcome is TrialOutcome.dropped_out:
        issue = "dropped_out"
    elif trial.dose_adequate is None:
        issue = "dose_unknown"
    elif not trial.dose_adequate:
        issue = "dose_not_adequate"
    elif trial.weeks_at_dose is None:
        issue = "duration_unknown"
    elif trial.weeks_at_dose < settings.min_ad_weeks:
        issue = "too_short"
    elif trial.adherence is not Adherence.good:
        issue = "adherence_not_good"
    adequate = issue is None
    failed = trial.outcome in FAILED_OUTCOMES
    detail = _trial_detail(adequate, failed, issue, trial.outcome)
    finding = Finding("ad_trial_adequacy", adequate, inputs, ptr, detail)
    return TrialAssessment(adequate, failed, issue, finding)


def assess_psychotherapy_trial(
    trial: PsychotherapyTrial, index: int, settings: Settings
) -> TrialAssessment:
    """Adequacy of one psychotherapy trial (§10: ≥8 sessions over ≥6 weeks, current episode)."""
    ptr = f"/psychotherapy_trials/{index}"
    inputs: tuple[Input, ...] = (
        (f"{ptr}/episode", trial.episode.value),
        (f"{ptr}/sessions", trial.sessions),
        (f"{ptr}/weeks", trial.weeks),
        (f"{ptr}/outcome", trial.outcome.value),
    )
    issue: str | None = None
    if trial.episode is EpisodeRef.previous:
        issue = "previous_episode"
    elif trial.outcome is TrialOutcome.stopped_intolerance:
        issue = "stopped_intolerance"
    elif trial.outcome is TrialOutcome.dropped_out:
        issue = "dropped_out"
    elif trial.sessions < settings.psychotherapy_min_sessions:
        issue = "too_few_sessions"
    elif trial.weeks < settings.psychotherapy_min_weeks:
        issue = "too_short"
    adequate = issue is None
    failed = trial.outcome in FAILED_OUTCOMES
    detail = _trial_detail(adequate, failed, issue, trial.outcome)
    finding = Finding("psychotherapy_trial_adequacy", adequate, inputs, ptr, detail)
    return TrialAssessment(adequate, failed, issue, finding)


ISSUE_TEXT = {
    "previous_episode": "trial was in a previous episode",
    "stopped_intolerance": "stopped early for intolerance (not a failure)",
    "dose_unknown": "dose adequacy not recorded",
    "dose_not_adequate": "dose below the recognised therapeutic dose",
    "duration_unknown": "weeks at dose not recorded",
    "too_short": "too short at an adequate dose",
    "adherence_not_good": "adherence not confirmed as good",
    "too_few_sessions": "too few sessions",
    "dropped_out": "dropped out (neither a failure nor intolerance)",
}


def _trial_detail(adequate: bool, failed: bool, issue: str | None, outcome: TrialOutcome) -> str:
    if adequate:
        verdict = "adequate failed trial" if failed else f"adequate trial, {outcome.value}"
        return verdict
    return f"not adequate: {ISSUE_TEXT[issue or '']}"


# --------------------------------------------------------------------------- measurements

_BANDS: dict[Instrument, tuple[tuple[int, str], ...]] = {
    # (lowest score of band, band name), ascending. §2.4.
    Instrument.phq9: (
        (0, "minimal"),
        (5, "mild"),
        (10, "moderate"),
        (15, "moderately_severe"),
        (20, "severe"),
    ),
    Instrument.madrs: ((0, "none"), (7, "mild"), (20, "moderate"), (35, "severe")),
    Instrument.hamd17: ((0, "none"), (8, "mild"), (17, "moderate"), (24, "severe")),
    Instrument.qids_sr16: (
        (0, "none"),
        (6, "mild"),
        (11, "moderate"),
        (16, "severe"),
        (21, "very_severe"),
    ),
}

SEVERE_BANDS = frozenset({"severe", "very_severe"})


def severity_band(instrument: Instrument, score: int) -> str:
    """Severity band of one score (§2.4: Kroenke, Snaith, Zimmerman, QIDS)."""
    band = _BANDS[instrument][0][1]
    for low, name in _BANDS[instrument]:
        if score >= low:
            band = name
    return band


def hamd17_crosswalk(score: int) -> Severity:
    """MSM severity from HAM-D17 (§3.2 fallback: 8–16 mild, 17–23 moderate, ≥24 severe)."""
    if score >= 24:
        return Severity.severe
    if score >= 17:
        return Severity.moderate
    if score >= 8:
        return Severity.mild
    return Severity.subsyndromal


_BAND_SEVERITY: dict[str, Severity] = {
    "none": Severity.subsyndromal,
    "minimal": Severity.subsyndromal,
    "mild": Severity.mild,
    "moderate": Severity.moderate,
    "moderately_severe": Severity.moderate,
    "severe": Severity.severe,
    "very_severe": Severity.severe,
}


def band_severity(band: str) -> Severity:
    """A score band as a clinician-style category (severe = a severe band, §2.4)."""
    return _BAND_SEVERITY[band]


def score_currency(measured: date | None, at: date, max_days: int) -> str:
    """``current`` when measured within ``max_days`` before ``at`` (§11.5); ``undated``;
    ``stale`` when older, or dated after the evaluation time (cannot be current as of it)."""
    if measured is None:
        return "undated"
    age = (at - measured).days
    return "current" if 0 <= age <= max_days else "stale"


def response_status(
    baseline: Measurement | None, current: Measurement, settings: Settings
) -> tuple[str | None, float | None]:
    """(status, fractional reduction): remission from the current score alone (§2.3),
    response / partial / none from the reduction against baseline."""
    if current.score is None:
        return None, None
    reduction: float | None = None
    if baseline is not None and baseline.score is not None and baseline.score > 0:
        reduction = round((baseline.score - current.score) / baseline.score, 4)
    if current.score <= settings.remission_max(current.instrument):
        return "remission", reduction
    if reduction is None:
        return None, None
    if reduction >= settings.response_min_reduction:
        return "response_without_remission", reduction
    if reduction >= settings.partial_response_min_reduction:
        return "partial_response", reduction
    return "no_response", reduction


# --------------------------------------------------------------------------- staging


def msm_duration_score(months: int) -> int:
    """MSM duration: ≤12 months 1, 13–24 months 2, >24 months 3 (§3.2)."""
    if months <= 12:
        return 1
    if months <= 24:
        return 2
    return 3


def msm_ad_score(failed: int) -> int:
    """MSM antidepressant level: 1–2 → 1, 3–4 → 2, 5–6 → 3, 7–10 → 4, >10 → 5 (§3.2)."""
    if failed <= 2:
        return 1
    if failed <= 4:
        return 2
    if failed <= 6:
        return 3
    if failed <= 10:
        return 4
    return 5


_MSM_SEVERITY = {
    Severity.subsyndromal: 1,
    Severity.mild: 2,
    Severity.moderate: 3,
    Severity.severe: 4,
}


def msm_band(total: int) -> str:
    """Bands: mild 3–6, moderate 7–10, severe 11–15 (§3.2)."""
    if total <= 6:
        return "mild"
    if total <= 10:
        return "moderate"
    return "severe"


def thase_rush_stage(failed_classes: set[DrugClass], failed_bilateral_ect: bool) -> int | None:
    """Thase–Rush stage (§3.1, §10 implementation); ``None`` without an adequate failure."""
    if not failed_classes:
        return None
    stage = 1
    if len(failed_classes) >= 2:
        stage = 2
    non_tca_maoi = failed_classes - {DrugClass.tca, DrugClass.maoi}
    if len(non_tca_maoi) >= 2 and DrugClass.tca in failed_classes:
        stage = 3
        if DrugClass.maoi in failed_classes:
            stage = 4
            if failed_bilateral_ect:
                stage = 5
    return stage


#: Recorded episode states each response status agrees with; anything else is a conflict
#: to show (§11.5: "never silently resolved"). ``partial_remission`` is compatible with any
#: status short of remission.
_STATE_AGREES: dict[str, frozenset[EpisodeState]] = {
    "remission": frozenset({EpisodeState.remission}),
    "response_without_remission": frozenset(
        {EpisodeState.response_without_remission, EpisodeState.partial_remission}
    ),
    "partial_response": frozenset({EpisodeState.depressed, EpisodeState.partial_remission}),
    "no_response": frozenset({EpisodeState.depressed, EpisodeState.partial_remission}),
}


def state_conflict(status: str | None, state: EpisodeState | None) -> bool:
    """True when a score's response status contradicts the recorded episode state; never
    when no state is recorded (nothing to contradict, review case 26)."""
    return status is not None and state is not None and state not in _STATE_AGREES[status]


# --------------------------------------------------------------------------- risk


def within_months(when: date, at: date, months: int) -> bool:
    """``when`` falls on or after the date ``months`` calendar months before ``at``; safe in
    year 1 (a window that starts before 0001-01-01 contains every date)."""
    if at.year * 12 + (at.month - 1) - months < 12:
        return True
    return when >= months_before(at, months)


def cssrs_level(cssrs: Cssrs, at: date, settings: Settings) -> tuple[str, bool | None]:
    """C-SSRS screener triage level (§6.2) and whether behaviour falls in the window."""
    recent: bool | None = None
    if cssrs.behaviour:
        if cssrs.last_behaviour_date is not None:
            window_start = months_before(at, settings.cssrs_behaviour_window_months)
            recent = cssrs.last_behaviour_date >= window_start
        else:
            recent = cssrs.behaviour_within_3_months
    if cssrs.intent or cssrs.plan or (cssrs.behaviour and recent):
        return "high", recent
    if cssrs.method or cssrs.behaviour:
        return "moderate", recent
    if cssrs.wish_to_be_dead or cssrs.active_suicidal_thoughts:
        return "low", recent
    return "none", recent


# --------------------------------------------------------------------------- the whole case


@dataclass
class _Sheet:
    """What the sections write: assessment-fact values and the findings that explain them."""

    values: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def put(
        self,
        name: str,
        value: Any,
        inputs: tuple[Input, ...] = (),
        detail: str | None = None,
    ) -> None:
        """A value rules can see (``assessment.<name>``) and its finding."""
        self.values[name] = value
        self.findings.append(Finding(name, value, inputs, detail=detail))

    def note(self, finding: Finding) -> None:
        """A finding only (per-item findings, context for the reader)."""
        self.findings.append(finding)


def _counted(prefix: str, idx: list[int]) -> tuple[Input, ...]:
    return tuple((f"/{prefix}/{i}", "counted") for i in idx)


def scope_section(case: Case, settings: Settings, out: _Sheet) -> None:
    """Unipolar scope (§6.3), adults only (§11.2), older age, life-threatening state."""
    in_scope = case.diagnosis.primary is PrimaryDiagnosis.mdd
    out.put(
        "in_scope_unipolar",
        in_scope,
        (("/diagnosis/primary", case.diagnosis.primary.value),),
        None if in_scope else "the TRD ladder is for unipolar MDD (§6.3)",
    )
    age = (("/patient/age", case.patient.age),)
    out.put(
        "under_18",
        case.patient.age < 18,
        age,
        "NICE NG222 covers adults aged 18 and over; under 18 is outside the adult ladder (§11.2)",
    )
    out.put(
        "under_12",
        case.patient.age < 12,
        age,
        "NICE NG134: antidepressants only from 12; ECT never at 5–11 (§11.2)",
    )
    older = case.patient.age >= settings.older_age_years
    out.put("older_age", older, age, f"age ≥ {settings.older_age_years} (setting older_age_years)")
    dx = case.diagnosis
    out.put(
        "life_threatening",
        bool(dx.catatonic_features or dx.not_eating_or_drinking),
        (
            ("/diagnosis/catatonic_features", dx.catatonic_features),
            ("/diagnosis/not_eating_or_drinking", dx.not_eating_or_drinking),
        ),
        "catatonia or not eating/drinking (§6.3)",
    )


def episode_section(case: Case, at: date, out: _Sheet) -> int:
    """Completed months of the current episode and NICE chronicity; returns the months."""
    ep = case.episode
    if ep.onset_date is not None:
        months = completed_months(ep.onset_date, at)
        detail: str | None = f"completed months from onset to {at.isoformat()}"
    else:
        months = ep.duration_months or 0
        detail = None
    inputs = month_inputs_for(case, months)
    out.note(Finding("episode_months", months, inputs, detail=detail))
    out.put(
        "chronic",
        months >= 24,
        inputs,
        "at least 2 years (NICE NG222 'chronic depressive symptoms', §11.1); MSM's duration "
        "band (> 24 months) is scored separately",
    )
    return months


@dataclass(frozen=True)
class TrialSummary:
    ad: list[TrialAssessment]
    pt: list[TrialAssessment]
    current_ad: list[int]
    adequate_failed: list[int]
    pt_failed: list[int]


def trials_section(case: Case, settings: Settings, out: _Sheet) -> TrialSummary:
    """Adequacy of every trial and the counts rules use (§2.1–§2.2, §10)."""
    ad = [assess_ad_trial(t, i, settings) for i, t in enumerate(case.antidepressant_trials)]
    pt = [
        assess_psychotherapy_trial(t, i, settings) for i, t in enumerate(case.psychotherapy_trials)
    ]
    for a in (*ad, *pt):
        out.note(a.finding)
    ad_items = list(zip(case.antidepressant_trials, ad, strict=True))
    pt_items = list(zip(case.psychotherapy_trials, pt, strict=True))
    current_ad = [i for i, (t, _) in enumerate(ad_items) if t.episode is EpisodeRef.current]
    current_pt = [i for i, (t, _) in enumerate(pt_items) if t.episode is EpisodeRef.current]
    adequate_failed = [i for i in current_ad if ad[i].adequate and ad[i].failed]
    inadequate_failed = [i for i in current_ad if not ad[i].adequate and ad[i].failed]
    intolerance = [
        i for i in current_ad if ad_items[i][0].outcome is TrialOutcome.stopped_intolerance
    ]
    dropped = [i for i in current_ad if ad_items[i][0].outcome is TrialOutcome.dropped_out]
    pt_failed = [i for i, (_, a) in enumerate(pt_items) if a.adequate and a.failed]
    pt_inadequate = [i for i in current_pt if not pt[i].adequate]

    ads = "antidepressant_trials"
    pts = "psychotherapy_trials"
    out.put(
        "ad_trials_current_episode",
        len(current_ad),
        _counted(ads, current_ad),
        "antidepressant trials recorded in the current episode",
    )
    out.put(
        "adequate_failed_ad_trials",
        len(adequate_failed),
        _counted(ads, adequate_failed),
        "adequate antidepressant trials in the current episode without response",
    )
    out.put(
        "inadequate_failed_ad_trials",
        len(inadequate_failed),
        _counted(ads, inadequate_failed),
        "current-episode trials that failed but were not adequate (pseudo-resistance)",
    )
    out.put(
        "intolerance_ad_trials",
        len(intolerance),
        _counted(ads, intolerance),
        "stopped early for intolerance: not failures",
    )
    out.put("adequate_failed_psychotherapy_trials", len(pt_failed), _counted(pts, pt_failed))
    out.put("inadequate_psychotherapy_trials", len(pt_inadequate), _counted(pts, pt_inadequate))
    failed_modality: dict[str, list[int]] = {
        m: [] for m in ("cbt", "dbt", "psychodynamic", "ipt", "mbct", "act", "emdr")
    }
    for i in pt_failed:
        modality = case.psychotherapy_trials[i].modality.value
        if modality in failed_modality:
            failed_modality[modality].append(i)
    for modality, idx in failed_modality.items():
        out.put(
            f"{modality}_failed",
            bool(idx),
            _counted(pts, idx),
            f"adequate {modality} trial failed in the current episode",
        )
    in_scope = out.values["in_scope_unipolar"]
    scope_input = ("/diagnosis/primary", case.diagnosis.primary.value)
    out.put(
        "trd_2",
        in_scope and len(adequate_failed) >= 2,
        (scope_input, *_counted(ads, adequate_failed)),
        "≥2 adequate failed antidepressant trials in the current episode, unipolar MDD",
    )
    out.put(
        "inadequate_response",
        in_scope and (len(adequate_failed) + len(pt_failed)) >= 1,
        (scope_input, *_counted(ads, adequate_failed), *_counted(pts, pt_failed)),
        "the seed's notion (SEED L9): ≥1 adequate failed standard treatment",
    )
    not_counted = sorted(
        {*inadequate_failed, *intolerance, *dropped},
    )
    out.put(
        "treated_without_adequate_failure",
        in_scope and not adequate_failed and not pt_failed and bool(not_counted or pt_inadequate),
        (*_counted(ads, not_counted), *_counted(pts, pt_inadequate)),
        "treated in this episode, but every trial was stopped for intolerance, dropped out "
        "of or inadequate: no treatment has failed yet (NG222 1.9.1, 1.9.6)",
    )
    return TrialSummary(ad, pt, current_ad, adequate_failed, pt_failed)


@dataclass(frozen=True)
class TreatmentSummary:
    ect_failed: list[bool]
    ect_current: list[int]
    bilateral_failed: list[int]
    aug_current: list[int]


def treatment_section(case: Case, trials: TrialSummary, out: _Sheet) -> TreatmentSummary:
    """Augmentation and ECT in this episode, an ECT response, current medications."""
    ect_failed: list[bool] = []
    bilateral: list[int] = []
    ect_current: list[int] = []
    ect_responded: list[int] = []
    for i, course in enumerate(case.ect_courses):
        current = course.episode is EpisodeRef.current
        failed = current and course.outcome in FAILED_OUTCOMES
        ect_failed.append(failed)
        if current:
            ect_current.append(i)
            if course.outcome in (
                TrialOutcome.remission,
                TrialOutcome.response_without_remission,
            ):
                ect_responded.append(i)
        if failed and course.laterality is EctLaterality.bilateral:
            bilateral.append(i)
    aug_current = [i for i, a in enumerate(case.augmentations) if a.episode is EpisodeRef.current]
    out.put("augmentation_used", bool(aug_current), _counted("augmentations", aug_current))
    out.put("ect_used", bool(ect_current), _counted("ect_courses", ect_current))
    failed_idx = [i for i, f in enumerate(ect_failed) if f]
    out.put("failed_ect", bool(failed_idx), _counted("ect_courses", failed_idx))
    out.put(
        "ect_response",
        bool(ect_responded),
        _counted("ect_courses", ect_responded),
        "a course of ECT in this episode led to response or remission (NG222 1.13.9)",
    )
    current_pt = [
        i for i, t in enumerate(case.psychotherapy_trials) if t.episode is EpisodeRef.current
    ]
    out.put(
        "any_treatment_current_episode",
        bool(trials.current_ad or current_pt or ect_current or aug_current),
        (
            *_counted("antidepressant_trials", trials.current_ad),
            *_counted("psychotherapy_trials", current_pt),
            *_counted("ect_courses", ect_current),
            *_counted("augmentations", aug_current),
        ),
        "any antidepressant, psychotherapy, ECT or augmentation in this episode",
    )
    meds = case.current_medications
    ad_idx = [i for i, m in enumerate(meds) if m.drug_class in ANTIDEPRESSANT_CLASSES]
    am_idx = [i for i, m in enumerate(meds) if m.drug_class in ANTIMANIC_CLASSES]
    out.put(
        "current_antidepressant",
        bool(ad_idx),
        tuple((f"/current_medications/{i}/drug_class", meds[i].drug_class.value) for i in ad_idx),
        "an antidepressant among the current medications",
    )
    out.put(
        "current_antimanic",
        bool(am_idx),
        tuple((f"/current_medications/{i}/drug_class", meds[i].drug_class.value) for i in am_idx),
        "lithium, valproate or an antipsychotic among the current medications (§11.7)",
    )
    return TreatmentSummary(ect_failed, ect_current, bilateral, aug_current)


@dataclass(frozen=True)
class _Scored:
    index: int
    measurement: Measurement
    currency: str


@dataclass(frozen=True)
class Scores:
    """The case's scores with their currency (§11.5)."""

    by_key: dict[tuple[Instrument, Timepoint], _Scored]
    #: current-timepoint scores that have a total, in instrument-priority order
    current: list[_Scored]


def scores_section(case: Case, at: date, settings: Settings, out: _Sheet) -> Scores:
    """The band and currency of every score (§2.4, §11.5)."""
    max_days = settings.score_current_max_days
    by_key: dict[tuple[Instrument, Timepoint], _Scored] = {}
    for i, m in enumerate(case.measurements):
        currency = score_currency(m.date, at, max_days)
        by_key[(m.instrument, m.timepoint)] = _Scored(i, m, currency)
        if m.score is None:
            continue
        band = severity_band(m.instrument, m.score)
        detail = f"{m.instrument.value} {m.timepoint.value}"
        if m.timepoint is Timepoint.current:
            detail += f", {currency}"
        out.note(
            Finding(
                "severity_band",
                band,
                ((f"/measurements/{i}/score", m.score),),
                subject=f"/measurements/{i}",
                detail=detail,
            )
        )

    scored_current = [
        by_key[(inst, Timepoint.current)]
        for inst in settings.instrument_priority
        if (inst, Timepoint.current) in by_key
        and by_key[(inst, Timepoint.current)].measurement.score is not None
    ]
    return Scores(by_key, scored_current)


def response_section(case: Case, at: date, settings: Settings, scores: Scores, out: _Sheet) -> None:
    """Response status from the deciding score, the recorded state and their conflicts
    (§2.3, §11.5). The deciding score is the first instrument in priority order with a
    current-enough current score; a stale or undated one is reported, never used."""
    ep = case.episode
    max_days = settings.score_current_max_days
    by_key, scored_current = scores.by_key, scores.current
    usable = [s for s in scored_current if s.currency == "current"]
    currency = (
        usable[0].currency if usable else (scored_current[0].currency if scored_current else "none")
    )
    shown = usable[0] if usable else (scored_current[0] if scored_current else None)
    status: str | None = None
    shown_status: str | None = None
    status_inputs: tuple[Input, ...] = ()
    if shown is not None:
        inst = shown.measurement.instrument
        base = by_key.get((inst, Timepoint.baseline))
        shown_status, reduction = response_status(
            base.measurement if base else None, shown.measurement, settings
        )
        ptr = f"/measurements/{shown.index}"
        inputs: list[Input] = [(f"{ptr}/score", shown.measurement.score)]
        if shown.measurement.date is not None:
            inputs.append((f"{ptr}/date", shown.measurement.date.isoformat()))
        if base is not None and base.measurement.score is not None:
            inputs.insert(0, (f"/measurements/{base.index}/score", base.measurement.score))
        status_inputs = tuple(inputs)
        detail = inst.value + (
            f": {round(reduction * 100, 1)}% reduction" if reduction is not None else ""
        )
        if shown.currency == "current":
            status = shown_status
            out.note(Finding("response_status", status, status_inputs, detail=detail))
        else:
            out.note(
                Finding(
                    "score_not_current",
                    shown_status,
                    status_inputs,
                    detail=f"{detail}; {shown.currency} (not within "
                    f"{max_days} days before {at.isoformat()}): shown, not used; re-measure",
                )
            )
    out.values["response_status"] = status
    out.put(
        "score_currency",
        currency,
        status_inputs,
        f"the deciding current score must be dated within {max_days} days before the "
        "evaluation time (setting score_current_max_days, §11.5)",
    )
    state = ep.state
    state_input: Input = ("/episode/state", state.value if state is not None else None)
    conflict = state_conflict(shown_status, state)
    if conflict:
        conflict_detail: str | None = (
            f"score says {shown_status}, recorded state is {state.value if state else None}: "
            "shown, not resolved"
        )
    elif state is None:
        conflict_detail = "episode state not recorded: nothing to conflict with"
    else:
        conflict_detail = None
    out.put("state_conflict", conflict, (*status_inputs, state_input), conflict_detail)
    # Without a current-enough score the recorded state decides; an unrecorded state is
    # neither remission nor response, so nothing is withheld (never read as "well").
    in_remission = status == "remission" if status is not None else state is EpisodeState.remission
    responding = (
        status == "response_without_remission"
        if status is not None
        else state is EpisodeState.response_without_remission
    )
    if status is not None:
        source = "from the current score"
    elif state is not None:
        source = "from the recorded episode state"
    else:
        source = (
            "episode state not recorded and no current-enough score: not taken as remission "
            "or response"
        )
    out.put("in_remission", in_remission, () if status is not None else (state_input,), source)
    out.put(
        "responding",
        responding,
        status_inputs if status is not None else (state_input,),
        f"response without remission, {source}",
    )


def severity_section(case: Case, at: date, scores: Scores, out: _Sheet) -> Severity | None:
    """Baseline severity (the MSM input, §3.2) and current severity (what severity-bound
    options read: NG222 1.13.1 "severe depression"); returns the baseline severity."""
    ep = case.episode
    by_key = scores.by_key
    # Baseline severity: clinician-rated, else the HAM-D17 crosswalk (§3.2, MSM input).
    baseline: Severity | None = ep.baseline_severity
    baseline_inputs: tuple[Input, ...] = ()
    if baseline is not None:
        baseline_inputs = (("/episode/baseline_severity", baseline.value),)
    else:
        ham = by_key.get((Instrument.hamd17, Timepoint.baseline)) or by_key.get(
            (Instrument.hamd17, Timepoint.current)
        )
        if ham is not None and ham.measurement.score is not None:
            baseline = hamd17_crosswalk(ham.measurement.score)
            baseline_inputs = ((f"/measurements/{ham.index}/score", ham.measurement.score),)
    out.put(
        "baseline_severity",
        baseline.value if baseline else None,
        baseline_inputs,
        "at episode baseline: clinician-rated, else HAM-D17 crosswalk (§3.2)",
    )

    # Current severity: clinician-rated now, else the band of the latest current-enough
    # score, else not recorded. The baseline is never carried forward as if current (issue 8
    # point 7): "severe at baseline" says nothing about now; not recorded asks to re-measure.
    current: Severity | None = ep.current_severity
    if current is not None:
        cur_inputs: tuple[Input, ...] = (("/episode/current_severity", current.value),)
        cur_detail = "clinician-rated now"
    else:
        dated = [s for s in scores.current if s.currency == "current"]
        latest = max(dated, key=lambda s: s.measurement.date or at, default=None)
        if latest is not None and latest.measurement.score is not None:
            current = band_severity(
                severity_band(latest.measurement.instrument, latest.measurement.score)
            )
            cur_inputs = (
                (f"/measurements/{latest.index}/score", latest.measurement.score),
                (f"/measurements/{latest.index}/date", (latest.measurement.date or at).isoformat()),
            )
            cur_detail = (
                f"band of the latest current-enough score ({latest.measurement.instrument.value})"
            )
        else:
            cur_inputs = (
                ("/episode/current_severity", None),
                *((f"/measurements/{s.index}/score", s.measurement.score) for s in scores.current),
            )
            cur_detail = (
                "not recorded: no clinician rating now and no score within the currency window"
                + (
                    f"; the baseline ({baseline.value}) is not carried forward: re-measure"
                    if baseline is not None
                    else "; re-measure"
                )
            )
    out.put("current_severity", current.value if current else None, cur_inputs, cur_detail)
    # Tri-state: None when current severity is not recorded, so "not severe" is never read
    # from missing data and a rule needing severity shows it as data needed.
    out.put(
        "severe",
        current is Severity.severe if current is not None else None,
        cur_inputs,
        "current severity is severe (§2.4; NG222 1.13.1 'severe depression')"
        if current is not None
        else "current severity not recorded: neither severe nor not severe",
    )
    return baseline


def staging_section(
    case: Case,
    months: int,
    baseline: Severity | None,
    trials: TrialSummary,
    treatment: TreatmentSummary,
    out: _Sheet,
) -> None:
    """Maudsley Staging Method (§3.2) and Thase–Rush (§3.1)."""
    in_scope = out.values["in_scope_unipolar"]
    n_failed = len(trials.adequate_failed)
    psychotic = bool(case.diagnosis.psychotic_features)
    total: int | None = None
    band: str | None = None
    if not in_scope:
        detail = "not applicable: MSM is for unipolar depression"
    elif n_failed == 0:
        detail = "not applicable: no adequate failed antidepressant trial"
    elif baseline is None and not psychotic:
        detail = "not computable: baseline severity category missing"
    else:
        sev_score = 5 if psychotic or baseline is None else _MSM_SEVERITY[baseline]
        parts = (
            msm_duration_score(months),
            sev_score,
            msm_ad_score(n_failed),
            1 if treatment.aug_current else 0,
            1 if treatment.ect_current else 0,
        )
        total = sum(parts)
        band = msm_band(total)
        detail = (
            f"duration {parts[0]} + severity {parts[1]} + antidepressants {parts[2]} + "
            f"augmentation {parts[3]} + ECT {parts[4]}"
        )
    scope_input = ("/diagnosis/primary", case.diagnosis.primary.value)
    baseline_inputs = next(f.inputs for f in out.findings if f.name == "baseline_severity")
    inputs: tuple[Input, ...] = (
        scope_input,
        *month_inputs_for(case, months),
        *baseline_inputs,
        ("/diagnosis/psychotic_features", case.diagnosis.psychotic_features),
        *_counted("antidepressant_trials", trials.adequate_failed),
        *_counted("augmentations", treatment.aug_current),
        *_counted("ect_courses", treatment.ect_current),
    )
    out.put("msm_total", total, inputs, detail)
    out.put("msm_band", band, inputs, "mild 3–6, moderate 7–10, severe 11–15")
    stage: int | None = None
    trials_ad = case.antidepressant_trials
    if in_scope:
        stage = thase_rush_stage(
            {trials_ad[i].drug_class for i in trials.adequate_failed},
            bool(treatment.bilateral_failed),
        )
    out.put(
        "thase_rush_stage",
        stage,
        (
            scope_input,
            *(
                (f"/antidepressant_trials/{i}/drug_class", trials_ad[i].drug_class.value)
                for i in trials.adequate_failed
            ),
            *_counted("ect_courses", treatment.bilateral_failed),
        ),
        "adequate failures by class; stage V needs failed bilateral ECT",
    )


_CSSRS_ITEMS = (
    "wish_to_be_dead",
    "active_suicidal_thoughts",
    "method",
    "intent",
    "plan",
    "behaviour",
    "behaviour_within_3_months",
)


def risk_section(case: Case, at: date, settings: Settings, out: _Sheet) -> dict[str, Any]:
    """C-SSRS level (§6.2), PHQ-9 item 9 (§6.1), NSSI and whether any suicide-risk data was
    recorded at all (§11.4: absence of data is a finding, never "no risk")."""
    risk: dict[str, Any] = {}
    sr = case.suicide_risk
    recorded_inputs: list[Input] = []
    if sr.cssrs is not None:
        level, recent = cssrs_level(sr.cssrs, at, settings)
        c = sr.cssrs
        risk.update(
            cssrs_level=level,
            wish_to_be_dead=c.wish_to_be_dead,
            active_suicidal_thoughts=c.active_suicidal_thoughts,
            method=c.method,
            intent=c.intent,
            plan=c.plan,
            behaviour=c.behaviour,
            behaviour_recent=recent,
        )
        cssrs_inputs: list[Input] = [
            (f"/suicide_risk/cssrs/{name}", getattr(c, name)) for name in _CSSRS_ITEMS
        ]
        if c.last_behaviour_date is not None:
            cssrs_inputs.append(
                ("/suicide_risk/cssrs/last_behaviour_date", c.last_behaviour_date.isoformat())
            )
        out.note(
            Finding("cssrs_level", level, tuple(cssrs_inputs), detail="C-SSRS screener triage")
        )
        recorded_inputs.append(("/suicide_risk/cssrs/wish_to_be_dead", c.wish_to_be_dead))
    risk["clinician_judges_imminent_risk"] = sr.clinician_judges_imminent_risk
    if sr.clinician_judges_imminent_risk is not None:
        recorded_inputs.append(
            ("/suicide_risk/clinician_judges_imminent_risk", sr.clinician_judges_imminent_risk)
        )
    for i, m in enumerate(case.measurements):
        if m.instrument is Instrument.phq9 and m.timepoint is Timepoint.current:
            if m.item9 is None:
                break
            currency = score_currency(m.date, at, settings.score_current_max_days)
            # A positive item 9 always counts (safe direction); an old "0" is no evidence
            # that the person is not at risk now (§11.4, §11.5).
            if m.item9 >= 1 or currency == "current":
                risk["phq9_item9"] = m.item9
                recorded_inputs.append((f"/measurements/{i}/item9", m.item9))
            else:
                out.note(
                    Finding(
                        "phq9_item9_not_current",
                        m.item9,
                        ((f"/measurements/{i}/item9", m.item9),),
                        detail=f"PHQ-9 item 9 is {currency}: an old 0 does not rule out risk",
                    )
                )
            break
    recorded = bool(recorded_inputs)
    risk["recorded"] = recorded
    dx = case.diagnosis
    risk["assessable"] = not (dx.catatonic_features or dx.mute)
    out.note(
        Finding(
            "suicide_risk_assessable",
            risk["assessable"],
            (
                ("/diagnosis/catatonic_features", dx.catatonic_features),
                ("/diagnosis/mute", dx.mute),
            ),
            detail="a catatonic or mute person cannot be asked directly (§11.4)",
        )
    )
    out.note(
        Finding(
            "suicide_risk_recorded",
            recorded,
            tuple(recorded_inputs),
            detail=None
            if recorded
            else "no C-SSRS, no current PHQ-9 item 9 and no clinician judgement (§11.4)",
        )
    )
    if sr.nssi is not None:
        n = sr.nssi
        if n.last_date is not None:
            nssi_recent: bool | None = within_months(n.last_date, at, settings.nssi_recent_months)
            nssi_inputs: tuple[Input, ...] = (
                ("/suicide_risk/nssi/last_date", n.last_date.isoformat()),
            )
        else:
            nssi_recent = n.within_3_months
            nssi_inputs = (("/suicide_risk/nssi/within_3_months", n.within_3_months),)
        risk["nssi_recent"] = nssi_recent
        out.note(
            Finding(
                "nssi_recent",
                nssi_recent,
                nssi_inputs,
                detail=f"non-suicidal self-injury within {settings.nssi_recent_months} months "
                "(setting nssi_recent_months; does not raise the C-SSRS level, §11.4)",
            )
        )
    return risk


def conventions_section(case: Case, settings: Settings, out: _Sheet) -> None:
    """Named settings rules depend on, as facts with their source (§11.1–§11.3)."""
    out.put(
        "ect_moderate_after_multiple_failures",
        settings.ect_moderate_after_multiple_failures,
        (),
        "setting ect_moderate_after_multiple_failures: "
        + (
            "on, the VA/DoD 2022 reading (no severity bound)"
            if settings.ect_moderate_after_multiple_failures
            else "off, NICE NG222 1.13.1 (ECT for severe depression)"
        ),
    )
    age = case.patient.age
    permitted = settings.adolescent_tms_adjunct and 15 <= age < 18
    out.put(
        "adolescent_tms_permitted",
        permitted,
        (("/patient/age", age),),
        f"setting adolescent_tms_adjunct is {'on' if settings.adolescent_tms_adjunct else 'off'}"
        " (adjunct at 15–21 for one device, FDA K231926, §11.2)",
    )
    out.put(
        "esketamine_eu_cv_event_block",
        settings.esketamine_eu_cv_event_block,
        (),
        "setting esketamine_eu_cv_event_block (EU SmPC 4.3: cardiovascular event within 6 weeks)",
    )


def assess(case: Case, at: date, settings: Settings) -> Assessment:
    """Every derived value of ``case`` as of ``at`` (the evaluation date, passed in)."""
    out = _Sheet()
    scope_section(case, settings, out)
    months = episode_section(case, at, out)
    ep = case.episode
    out.put(
        "recurrent_episodes",
        (ep.prior_episodes or 0) >= settings.mbct_min_prior_episodes,
        (("/episode/prior_episodes", ep.prior_episodes),),
        f"≥{settings.mbct_min_prior_episodes} prior episodes (CG90, §5)",
    )
    trials = trials_section(case, settings, out)
    treatment = treatment_section(case, trials, out)
    scores = scores_section(case, at, settings, out)
    response_section(case, at, settings, scores, out)
    baseline = severity_section(case, at, scores, out)
    staging_section(case, months, baseline, trials, treatment, out)
    risk = risk_section(case, at, settings, out)
    conventions_section(case, settings, out)
    return Assessment(
        values=out.values,
        findings=out.findings,
        ad_trials=trials.ad,
        psychotherapy_trials=trials.pt,
        ect_failed=treatment.ect_failed,
        episode_months=months,
        risk=risk,
    )


def month_inputs_for(case: Case, months: int) -> tuple[Input, ...]:
    ep = case.episode
    if ep.onset_date is not None:
        return (("/episode/onset_date", ep.onset_date.isoformat()),)
    return (("/episode/duration_months", months),)
