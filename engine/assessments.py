"""Derived assessments: small pure functions whose outputs become facts.

Arithmetic that rules do badly (counts, staging scores, reductions) lives here. Every function
returns :class:`Finding` objects that carry the value *and* the input values it was computed
from, as JSON pointers into the case, so the report can show why. Nothing here reads the
clock: the evaluation date is passed in.

Sources: ``shared/domain-reference.md`` §2 (adequacy, response, remission, severity), §3
(Thase–Rush, Maudsley Staging Method), §6.2 (C-SSRS) and the §10 conventions; thresholds that
are conventions come from :class:`~trd_cds.schemas.settings.Settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..schemas.case import (
    Adherence,
    AntidepressantTrial,
    Case,
    Cssrs,
    DrugClass,
    EctLaterality,
    EpisodeRef,
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


@dataclass(frozen=True)
class Finding:
    """One derived value with the inputs it came from."""

    name: str
    value: Any
    inputs: tuple[Input, ...] = ()
    subject: str | None = None  # pointer of the item the finding is about (a trial, ...)
    detail: str | None = None


@dataclass(frozen=True)
class TrialAssessment:
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
    """The date ``months`` calendar months before ``end`` (day clamped to month length)."""
    total = end.year * 12 + (end.month - 1) - months
    year, month = divmod(total, 12)
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


def response_status(
    baseline: Measurement | None, current: Measurement, settings: Settings
) -> tuple[str | None, float | None]:
    """(status, fractional reduction): remission from the current score alone (§2.3),
    response / partial / none from the reduction against baseline."""
    reduction: float | None = None
    if baseline is not None and baseline.score > 0:
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


# --------------------------------------------------------------------------- risk


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


def assess(case: Case, at: date, settings: Settings) -> Assessment:
    """Every derived value of ``case`` as of ``at``."""
    findings: list[Finding] = []
    in_scope = case.diagnosis.primary is PrimaryDiagnosis.mdd
    findings.append(
        Finding(
            "in_scope_unipolar",
            in_scope,
            (("/diagnosis/primary", case.diagnosis.primary.value),),
            detail=None if in_scope else "the TRD ladder is for unipolar MDD (§6.3)",
        )
    )

    # Episode duration
    ep = case.episode
    if ep.onset_date is not None:
        months = completed_months(ep.onset_date, at)
        findings.append(
            Finding(
                "episode_months",
                months,
                month_inputs_for(case, months),
                detail=f"completed months from onset to {at.isoformat()}",
            )
        )
    else:
        months = ep.duration_months or 0
        findings.append(Finding("episode_months", months, (("/episode/duration_months", months),)))

    # Trials
    ad = [assess_ad_trial(t, i, settings) for i, t in enumerate(case.antidepressant_trials)]
    pt = [
        assess_psychotherapy_trial(t, i, settings) for i, t in enumerate(case.psychotherapy_trials)
    ]
    findings.extend(a.finding for a in ad)
    findings.extend(a.finding for a in pt)
    current_ad = [
        (i, t, a)
        for i, (t, a) in enumerate(zip(case.antidepressant_trials, ad, strict=True))
        if t.episode is EpisodeRef.current
    ]
    adequate_failed = [(i, t) for i, t, a in current_ad if a.adequate and a.failed]
    inadequate_failed = [i for i, t, a in current_ad if not a.adequate and a.failed]
    intolerance = [i for i, t, a in current_ad if t.outcome is TrialOutcome.stopped_intolerance]
    pt_failed = [
        i
        for i, (t, a) in enumerate(zip(case.psychotherapy_trials, pt, strict=True))
        if a.adequate and a.failed
    ]
    pt_inadequate = [
        i
        for i, (t, a) in enumerate(zip(case.psychotherapy_trials, pt, strict=True))
        if t.episode is EpisodeRef.current and not a.adequate
    ]

    def trial_inputs(prefix: str, idx: list[int]) -> tuple[Input, ...]:
        return tuple((f"/{prefix}/{i}", "counted") for i in idx)

    n_failed = len(adequate_failed)
    findings.append(
        Finding(
            "ad_trials_current_episode",
            len(current_ad),
            trial_inputs("antidepressant_trials", [i for i, _, _ in current_ad]),
            detail="antidepressant trials recorded in the current episode",
        )
    )
    findings.append(
        Finding(
            "adequate_failed_ad_trials",
            n_failed,
            trial_inputs("antidepressant_trials", [i for i, _ in adequate_failed]),
            detail="adequate antidepressant trials in the current episode without response",
        )
    )
    findings.append(
        Finding(
            "inadequate_failed_ad_trials",
            len(inadequate_failed),
            trial_inputs("antidepressant_trials", inadequate_failed),
            detail="current-episode trials that failed but were not adequate (pseudo-resistance)",
        )
    )
    findings.append(
        Finding(
            "intolerance_ad_trials",
            len(intolerance),
            trial_inputs("antidepressant_trials", intolerance),
            detail="stopped early for intolerance: not failures",
        )
    )
    findings.append(
        Finding(
            "adequate_failed_psychotherapy_trials",
            len(pt_failed),
            trial_inputs("psychotherapy_trials", pt_failed),
        )
    )
    findings.append(
        Finding(
            "inadequate_psychotherapy_trials",
            len(pt_inadequate),
            trial_inputs("psychotherapy_trials", pt_inadequate),
        )
    )

    # ECT and augmentation
    ect_failed: list[bool] = []
    bilateral_failed_idx: list[int] = []
    ect_current: list[int] = []
    for i, course in enumerate(case.ect_courses):
        failed = course.episode is EpisodeRef.current and course.outcome in FAILED_OUTCOMES
        ect_failed.append(failed)
        if course.episode is EpisodeRef.current:
            ect_current.append(i)
        if failed and course.laterality is EctLaterality.bilateral:
            bilateral_failed_idx.append(i)
    aug_current = [i for i, a in enumerate(case.augmentations) if a.episode is EpisodeRef.current]
    findings.append(
        Finding("augmentation_used", bool(aug_current), trial_inputs("augmentations", aug_current))
    )
    findings.append(
        Finding("ect_used", bool(ect_current), trial_inputs("ect_courses", ect_current))
    )
    failed_ect_idx = [i for i, f in enumerate(ect_failed) if f]
    findings.append(
        Finding("failed_ect", bool(failed_ect_idx), trial_inputs("ect_courses", failed_ect_idx))
    )

    # TRD notions (§2.1, §10)
    trd_2 = in_scope and n_failed >= 2
    inadequate_response = in_scope and (n_failed + len(pt_failed)) >= 1
    scope_input = ("/diagnosis/primary", case.diagnosis.primary.value)
    findings.append(
        Finding(
            "trd_2",
            trd_2,
            (scope_input, *trial_inputs("antidepressant_trials", [i for i, _ in adequate_failed])),
            detail="≥2 adequate failed antidepressant trials in the current episode, unipolar MDD",
        )
    )
    findings.append(
        Finding(
            "inadequate_response",
            inadequate_response,
            (
                scope_input,
                *trial_inputs("antidepressant_trials", [i for i, _ in adequate_failed]),
                *trial_inputs("psychotherapy_trials", pt_failed),
            ),
            detail="the seed's notion (SEED L9): ≥1 adequate failed standard treatment",
        )
    )

    # Measurements: per-instrument bands, response status from the priority instrument.
    by_key = {(m.instrument, m.timepoint): (i, m) for i, m in enumerate(case.measurements)}
    severe_now = False
    for (inst, tp), (i, m) in sorted(by_key.items(), key=lambda kv: kv[1][0]):
        band = severity_band(inst, m.score)
        if tp is Timepoint.current and band in SEVERE_BANDS:
            severe_now = True
        findings.append(
            Finding(
                "severity_band",
                band,
                ((f"/measurements/{i}/score", m.score),),
                subject=f"/measurements/{i}",
                detail=f"{inst.value} {tp.value}",
            )
        )
    status: str | None = None
    for inst in settings.instrument_priority:
        cur = by_key.get((inst, Timepoint.current))
        if cur is None:
            continue
        base = by_key.get((inst, Timepoint.baseline))
        status, reduction = response_status(base[1] if base else None, cur[1], settings)
        inputs: list[Input] = [(f"/measurements/{cur[0]}/score", cur[1].score)]
        if base is not None:
            inputs.insert(0, (f"/measurements/{base[0]}/score", base[1].score))
        detail = f"{inst.value}" + (
            f": {round(reduction * 100, 1)}% reduction" if reduction is not None else ""
        )
        findings.append(Finding("response_status", status, tuple(inputs), detail=detail))
        break
    in_remission = status == "remission" if status is not None else (ep.state.value == "remission")
    remission_inputs: tuple[Input, ...] = (
        (("/episode/state", ep.state.value),) if status is None else ()
    )
    findings.append(
        Finding(
            "in_remission",
            in_remission,
            remission_inputs,
            detail="from response_status" if status is not None else "from episode state",
        )
    )

    # MSM severity category and overall severity.
    severity: Severity | None = ep.severity
    severity_inputs: tuple[Input, ...] = ()
    if severity is not None:
        severity_inputs = (("/episode/severity", severity.value),)
    else:
        ham = by_key.get((Instrument.hamd17, Timepoint.baseline)) or by_key.get(
            (Instrument.hamd17, Timepoint.current)
        )
        if ham is not None:
            severity = hamd17_crosswalk(ham[1].score)
            severity_inputs = ((f"/measurements/{ham[0]}/score", ham[1].score),)
    severe = severe_now or severity is Severity.severe
    findings.append(
        Finding(
            "severity",
            severity.value if severity else None,
            severity_inputs,
            detail="clinician-rated, else HAM-D17 crosswalk (§3.2)",
        )
    )
    findings.append(
        Finding(
            "severe",
            severe,
            severity_inputs,
            detail="severe category, or a current score in a severe band (§2.4)",
        )
    )

    # Maudsley Staging Method (§3.2)
    psychotic = bool(case.diagnosis.psychotic_features)
    msm_total: int | None = None
    msm_b: str | None = None
    msm_detail: str
    if not in_scope:
        msm_detail = "not applicable: MSM is for unipolar depression"
    elif n_failed == 0:
        msm_detail = "not applicable: no adequate failed antidepressant trial"
    elif severity is None and not psychotic:
        msm_detail = "not computable: severity category missing"
    else:
        sev_score = 5 if psychotic else _MSM_SEVERITY[severity]  # type: ignore[index]
        parts = (
            msm_duration_score(months),
            sev_score,
            msm_ad_score(n_failed),
            1 if aug_current else 0,
            1 if ect_current else 0,
        )
        msm_total = sum(parts)
        msm_b = msm_band(msm_total)
        msm_detail = (
            f"duration {parts[0]} + severity {parts[1]} + antidepressants {parts[2]} + "
            f"augmentation {parts[3]} + ECT {parts[4]}"
        )
    msm_inputs: tuple[Input, ...] = (
        scope_input,
        *month_inputs_for(case, months),
        *severity_inputs,
        ("/diagnosis/psychotic_features", case.diagnosis.psychotic_features),
        *trial_inputs("antidepressant_trials", [i for i, _ in adequate_failed]),
        *trial_inputs("augmentations", aug_current),
        *trial_inputs("ect_courses", ect_current),
    )
    findings.append(Finding("msm_total", msm_total, msm_inputs, detail=msm_detail))
    findings.append(
        Finding("msm_band", msm_b, msm_inputs, detail="mild 3–6, moderate 7–10, severe 11–15")
    )

    # Thase–Rush (§3.1)
    stage: int | None = None
    if in_scope:
        stage = thase_rush_stage(
            {t.drug_class for _, t in adequate_failed}, bool(bilateral_failed_idx)
        )
    findings.append(
        Finding(
            "thase_rush_stage",
            stage,
            (
                scope_input,
                *(
                    (f"/antidepressant_trials/{i}/drug_class", t.drug_class.value)
                    for i, t in adequate_failed
                ),
                *trial_inputs("ect_courses", bilateral_failed_idx),
            ),
            detail="adequate failures by class; stage V needs failed bilateral ECT",
        )
    )

    # Risk (§6.2)
    risk: dict[str, Any] = {}
    sr = case.suicide_risk
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
            (f"/suicide_risk/cssrs/{name}", getattr(c, name))
            for name in (
                "wish_to_be_dead",
                "active_suicidal_thoughts",
                "method",
                "intent",
                "plan",
                "behaviour",
                "behaviour_within_3_months",
            )
        ]
        if c.last_behaviour_date is not None:
            cssrs_inputs.append(
                ("/suicide_risk/cssrs/last_behaviour_date", c.last_behaviour_date.isoformat())
            )
        findings.append(
            Finding("cssrs_level", level, tuple(cssrs_inputs), detail="C-SSRS screener triage")
        )
    risk["clinician_judges_imminent_risk"] = sr.clinician_judges_imminent_risk
    phq_cur = by_key.get((Instrument.phq9, Timepoint.current))
    if phq_cur is not None and phq_cur[1].item9 is not None:
        risk["phq9_item9"] = phq_cur[1].item9

    # Named criteria used by rules, computed here so thresholds stay settings (§10).
    chronic = months > 24
    findings.append(
        Finding(
            "chronic",
            chronic,
            month_inputs_for(case, months),
            detail="episode longer than 24 months (MSM 'chronic', §3.2)",
        )
    )
    recurrent = (ep.prior_episodes or 0) >= settings.mbct_min_prior_episodes
    findings.append(
        Finding(
            "recurrent_episodes",
            recurrent,
            (("/episode/prior_episodes", ep.prior_episodes),),
            detail=f"≥{settings.mbct_min_prior_episodes} prior episodes (CG90, §5)",
        )
    )
    older = case.patient.age >= settings.older_age_years
    findings.append(
        Finding(
            "older_age",
            older,
            (("/patient/age", case.patient.age),),
            detail=f"age ≥ {settings.older_age_years} (setting older_age_years)",
        )
    )
    failed_modality: dict[str, list[int]] = {
        m: [] for m in ("cbt", "dbt", "psychodynamic", "ipt", "mbct", "act", "emdr")
    }
    for i in pt_failed:
        modality = case.psychotherapy_trials[i].modality.value
        if modality in failed_modality:
            failed_modality[modality].append(i)
    for modality, idx in failed_modality.items():
        findings.append(
            Finding(
                f"{modality}_failed",
                bool(idx),
                trial_inputs("psychotherapy_trials", idx),
                detail=f"adequate {modality} trial failed in the current episode",
            )
        )

    any_treatment = bool(
        current_ad
        or any(t.episode is EpisodeRef.current for t in case.psychotherapy_trials)
        or ect_current
        or aug_current
    )
    findings.append(
        Finding(
            "any_treatment_current_episode",
            any_treatment,
            (
                *trial_inputs("antidepressant_trials", [i for i, _, _ in current_ad]),
                *trial_inputs(
                    "psychotherapy_trials",
                    [
                        i
                        for i, t in enumerate(case.psychotherapy_trials)
                        if t.episode is EpisodeRef.current
                    ],
                ),
                *trial_inputs("ect_courses", ect_current),
                *trial_inputs("augmentations", aug_current),
            ),
            detail="any antidepressant, psychotherapy, ECT or augmentation in this episode",
        )
    )

    values: dict[str, Any] = {
        "in_scope_unipolar": in_scope,
        "ad_trials_current_episode": len(current_ad),
        "adequate_failed_ad_trials": n_failed,
        "inadequate_failed_ad_trials": len(inadequate_failed),
        "intolerance_ad_trials": len(intolerance),
        "adequate_failed_psychotherapy_trials": len(pt_failed),
        "inadequate_psychotherapy_trials": len(pt_inadequate),
        "any_treatment_current_episode": any_treatment,
        "inadequate_response": inadequate_response,
        "trd_2": trd_2,
        "response_status": status,
        "severity": severity.value if severity else None,
        "severe": severe,
        "msm_total": msm_total,
        "msm_band": msm_b,
        "thase_rush_stage": stage,
        "augmentation_used": bool(aug_current),
        "ect_used": bool(ect_current),
        "failed_ect": bool(failed_ect_idx),
        "in_remission": in_remission,
        "chronic": chronic,
        "recurrent_episodes": recurrent,
        "older_age": older,
        **{f"{m}_failed": bool(idx) for m, idx in failed_modality.items()},
    }
    return Assessment(
        values=values,
        findings=findings,
        ad_trials=ad,
        psychotherapy_trials=pt,
        ect_failed=ect_failed,
        episode_months=months,
        risk=risk,
    )


def month_inputs_for(case: Case, months: int) -> tuple[Input, ...]:
    ep = case.episode
    if ep.onset_date is not None:
        return (("/episode/onset_date", ep.onset_date.isoformat()),)
    return (("/episode/duration_months", months),)
