"""The report document: the documented schema of a report (Pydantic).

:class:`ReportDocument` is what ``trd-cds schema report`` prints and what every golden report
is validated against; :attr:`trd_cds.schemas.report.Report.document` is the same report as a
validated, typed view. The engine itself builds reports as plain data
(:mod:`trd_cds.schemas.report`) and never needs these models: they are imported on first use.

Option codes follow ``domain-reference.md`` §10 (:class:`~trd_cds.schemas.options.Option`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .options import Option
from .report import DISCLAIMER
from .rule import Strength

JsonValue = Any


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Evidence(_Out):
    """One case fact a rule matched."""

    fact: str = Field(description="fact_type.field as the rule saw it")
    value: JsonValue
    pointer: str | None = Field(default=None, description="JSON pointer into the input case")
    finding: str | None = Field(default=None, description="derived finding it came from")
    subject: str | None = Field(default=None, description="item the derived finding is about")


class Gate(_Out):
    gate: str
    rules: list[str]
    rationale: list[str]
    evidence: list[Evidence]
    citations: list[str]


class Recommendation(_Out):
    option: Option
    order: int = Field(ge=1)
    tier: str
    strength: Strength
    after_stabilisation: bool = Field(
        description="true when a safety gate puts this after crisis management and "
        "stabilisation (never the supportive therapeutic relationship)"
    )
    rationale: list[str]
    rules: list[str] = Field(description="id@version, in derivation order")
    evidence: list[Evidence]
    citations: list[str]
    cautions: list[str] = Field(default_factory=list)


class Caution(_Out):
    option: Option
    rules: list[str] = Field(description="id@version, in derivation order")
    rationale: str
    evidence: list[Evidence]
    citations: list[str]


class Blocked(_Out):
    option: Option
    rules: list[str] = Field(description="the blocking rules, id@version")
    reasons: list[str]
    evidence: list[Evidence]
    citations: list[str]
    overrode: list[str] = Field(description="rules whose recommendation the block overrode")


class FindingInput(_Out):
    pointer: str
    value: JsonValue


class Finding(_Out):
    name: str
    value: JsonValue
    subject: str | None = None
    detail: str | None = None
    inputs: list[FindingInput] = Field(default_factory=list)
    rules: list[str] = Field(
        default_factory=list, description="rules that derived it (empty for assessments)"
    )


class ConditionResult(_Out):
    pattern: str
    fact_id: str
    condition: str = Field(description="the condition in readable form")
    field: str
    value: JsonValue = Field(description="value seen; null with missing=true when absent")
    missing: bool = False
    ok: bool
    pointer: str | None = None
    finding: str | None = None


class FiredRule(_Out):
    rule: str
    action: str
    produces: list[str]
    conditions: list[ConditionResult]


class UnmetRule(_Out):
    rule: str
    unmet: ConditionResult | None = Field(
        description="first condition that was not met (missing=true: data absent)"
    )
    note: str | None = None


class WhyNot(_Out):
    option: Option
    status: Literal["blocked", "not_triggered", "no_rule"]
    blocked_by: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    candidates: list[UnmetRule] = Field(default_factory=list)


class PlanItem(_Out):
    """One recommendation as the plan shows it (the same option, strength and rules)."""

    option: Option
    strength: Strength
    tier: str
    order: int = Field(ge=1, description="the recommendation's order in the report")
    after_stabilisation: bool
    reason: str = Field(description="one rationale of the recommendation (first in text order)")
    rules: list[str] = Field(description="id@version, in derivation order")
    monitoring: list[str] = Field(
        default_factory=list, description="monitoring and review that go with it, with sources"
    )


class NextStep(_Out):
    """The one thing to do first: the first item of ``now``, else of ``next``."""

    option: Option
    strength: Strength
    group: Literal["now", "next"]
    reason: str
    rules: list[str]


class DataNeeded(_Out):
    """A fact not recorded that would change an option or a gate if it were."""

    pointer: str | None = Field(description="where to record it: JSON pointer into the case")
    label: str = Field(description="what to record, in plain words")
    conditions: list[str] = Field(description="the rule conditions waiting for it")
    affects: list[Option] = Field(description="options it could change")
    gates: list[str] = Field(description="gates it could raise")
    rules: list[str] = Field(description="the rules whose conditions wait for it, id@version")


class Overridden(_Out):
    """A recommendation a block removed: what was indicated, why not, what to do."""

    option: Option
    indicated_by: list[str] = Field(description="the recommending rules the block overrode")
    indication: list[str] = Field(description="their rationale")
    blocked_by: list[str]
    reasons: list[str]
    advice: str = Field(description="what to do about it")


class BlockedStep(_Out):
    option: Option
    reasons: list[str]
    rules: list[str]


class LadderStep(_Out):
    """One step of the escalation ladder (§4.6) as it stands for this person."""

    tier: str
    failed: list[str] = Field(description="what was tried at this step and failed")
    recommended: list[Option]
    blocked: list[BlockedStep]
    reached: bool = Field(description="the step the ladder has reached")


class Plan(_Out):
    """What a clinician reads first. Every item is a recommendation a rule produced."""

    next_step: NextStep | None
    reached: str | None = Field(description="the ladder tier reached (the furthest offered)")
    now: list[PlanItem] = Field(description="safety and stabilisation")
    next: list[PlanItem] = Field(description="the step the ladder has reached")
    later: list[PlanItem] = Field(description="what follows if that fails")
    throughout: list[PlanItem] = Field(description="always-on care, unnumbered")
    data_needed: list[DataNeeded]
    overridden: list[Overridden]
    ladder: list[LadderStep]


class RulesetRef(_Out):
    id: str
    version: str
    hash: str


class Provenance(_Out):
    report_id: str
    engine_version: str
    ruleset: RulesetRef
    settings: dict[str, JsonValue]
    settings_hash: str
    input_hash: str = Field(
        description="sha256 of the validated case's canonical JSON without patient.id (an "
        "identifier, not a clinical fact), so a pseudonymised copy of the case hashes the same"
    )
    evaluated_at: str = Field(description="evaluation time passed in by the caller (ISO 8601)")
    conflict_policy: list[str]
    input_sources: dict[str, str] | None = Field(
        default=None,
        description="for a case derived from other data (FHIR): case JSON pointer -> where its "
        "value came from (e.g. 'Observation/abc#/valueQuantity/value'); every evidence pointer "
        "in the report is rewritten through this map (nearest mapped ancestor)",
    )


class ReportDocument(_Out):
    """The report document: the schema of :meth:`Report.to_json`."""

    case_id: str
    plan: Plan
    gates: list[Gate]
    recommendations: list[Recommendation]
    cautions: list[Caution]
    blocked: list[Blocked]
    findings: list[Finding]
    trace: list[FiredRule]
    why_not: list[WhyNot]
    provenance: Provenance
    disclaimer: str = DISCLAIMER
