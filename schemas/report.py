"""The report (output): recommendations that explain themselves.

Every recommendation, block, caution and gate names the rules that produced it (``id@version``,
in derivation order), the case facts they matched (JSON pointers into the input, RFC 6901, with
the values seen) and the sources cited. Derived findings carry their inputs; the trace carries
every fired rule's conditions; ``why_not`` explains every option that was not recommended.

Reports are deterministic: the same case, rules, settings and evaluation time give the same
bytes from :meth:`Report.to_json`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .options import Option
from .rule import Strength

JsonValue = Any


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        description="true when a safety gate puts this after crisis management and stabilisation"
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


class Report(_Out):
    case_id: str
    gates: list[Gate]
    recommendations: list[Recommendation]
    cautions: list[Caution]
    blocked: list[Blocked]
    findings: list[Finding]
    trace: list[FiredRule]
    why_not: list[WhyNot]
    provenance: Provenance
    disclaimer: str = (
        "Decision support, not a decision: suggestions for a clinician, with reasons and "
        "sources, never an order."
    )

    def to_json(self) -> str:
        """Canonical JSON: byte-identical for identical inputs."""
        return self.model_dump_json(indent=2) + "\n"

    def recommended(self) -> list[Option]:
        return [r.option for r in self.recommendations]
