"""Evaluation settings: every threshold that is a convention, by name.

Defaults are the project conventions of ``shared/domain-reference.md`` §10 and §11 (and the
§2 sources they rest on). Each field says where its default comes from; ``[C]`` marks a project
convention rather than a published standard. The settings used, and their hash, are recorded in
every report's provenance.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .case import Instrument


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    min_ad_weeks: float = Field(
        default=4,
        gt=0,
        le=52,
        description="Weeks at therapeutic dose for an adequate antidepressant trial "
        "(NG222 1.9.1, §2.2; strict mode uses 6, MGH-ATRQ).",
    )
    psychotherapy_min_sessions: int = Field(
        default=8, ge=1, le=100, description="Sessions for an adequate psychotherapy trial [C] §10."
    )
    psychotherapy_min_weeks: float = Field(
        default=6,
        gt=0,
        le=104,
        description="Weeks for an adequate psychotherapy trial [C] §10 (NG222 1.9.1: 4–6 weeks).",
    )
    response_min_reduction: float = Field(
        default=0.50,
        gt=0,
        le=1,
        description="Fractional score reduction that counts as response (§2.3).",
    )
    partial_response_min_reduction: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Fractional reduction that counts as partial response (ICSI, §2.3).",
    )
    remission_max_phq9: int = Field(
        default=4, ge=0, le=27, description="PHQ-9 remission: total < 5 (§2.3)."
    )
    remission_max_madrs: int = Field(
        default=10, ge=0, le=60, description="MADRS remission ≤ 10 (Hawley 2002; some use 12)."
    )
    remission_max_hamd17: int = Field(
        default=7, ge=0, le=52, description="HAM-D17 remission ≤ 7 (§2.3)."
    )
    remission_max_qids_sr16: int = Field(
        default=5, ge=0, le=27, description="QIDS-SR16 remission ≤ 5 (STAR*D, §2.3)."
    )
    instrument_priority: tuple[Instrument, ...] = Field(
        default=(Instrument.madrs, Instrument.hamd17, Instrument.qids_sr16, Instrument.phq9),
        min_length=1,
        strict=False,
        description="[C] Which instrument decides response/remission when several are "
        "given: clinician-rated scales first.",
    )
    mbct_min_prior_episodes: int = Field(
        default=3, ge=1, le=20, description="MBCT for relapse prevention: ≥3 prior episodes (CG90)."
    )
    older_age_years: int = Field(
        default=65,
        ge=18,
        le=120,
        description="[C] Age from which the 'older age' ECT caution applies (NG222 1.13.2 "
        "names older age as a risk without a threshold).",
    )
    cssrs_behaviour_window_months: int = Field(
        default=3,
        ge=1,
        le=24,
        description="Suicidal behaviour within this many months is high risk (C-SSRS triage).",
    )

    score_current_max_days: int = Field(
        default=28,
        ge=1,
        le=365,
        description="[C] §11.5: a 'current' score older than this many days before the "
        "evaluation time, or undated, never sets response, remission or non-response "
        "(strict 14, lenient 56; NG222 1.4.3, 1.5.1, 1.9.1 review at 2–4 weeks).",
    )
    nssi_recent_months: int = Field(
        default=3,
        ge=1,
        le=24,
        description="[C] §11.4: non-suicidal self-injury this recent triggers a safety "
        "assessment (does not raise the C-SSRS level).",
    )
    ect_moderate_after_multiple_failures: bool = Field(
        default=False,
        description="[C] §11.1: off (default) follows NICE NG222 1.13.1, ECT for severe "
        "depression only; on follows the VA/DoD 2022 reading (poor response to multiple "
        "antidepressants, no severity bound).",
    )
    adolescent_tms_adjunct: bool = Field(
        default=False,
        description="[C] §11.2: allow TMS as an adjunct at ages 15–17 (one device, FDA "
        "510(k) K231926, 2024); off by default: TMS is blocked under 18.",
    )
    esketamine_eu_cv_event_block: bool = Field(
        default=False,
        description="[C] §11.3: block esketamine after a cardiovascular event within 6 "
        "weeks (EU SmPC 4.3; not in the US label).",
    )

    @model_validator(mode="after")
    def _partial_below_response(self) -> Settings:
        # at or above the response reduction, partial response could never be reported:
        # every such setting silently disables it
        if self.partial_response_min_reduction >= self.response_min_reduction:
            raise ValueError("partial_response_min_reduction must be below response_min_reduction")
        if len(set(self.instrument_priority)) != len(self.instrument_priority):
            raise ValueError("instrument_priority names an instrument twice")
        return self

    def remission_max(self, instrument: Instrument) -> int:
        return {
            Instrument.phq9: self.remission_max_phq9,
            Instrument.madrs: self.remission_max_madrs,
            Instrument.hamd17: self.remission_max_hamd17,
            Instrument.qids_sr16: self.remission_max_qids_sr16,
        }[instrument]
