"""The report (output): recommendations that explain themselves.

Every recommendation, block, caution and gate names the rules that produced it (``id@version``,
in derivation order), the case facts they matched (JSON pointers into the input, RFC 6901, with
the values seen) and the sources cited. Derived findings carry their inputs; the trace carries
every fired rule's conditions; ``why_not`` explains every option that was not recommended.

Reports are deterministic: the same case, rules, settings and evaluation time give the same
bytes from :meth:`Report.to_json`.

Two classes: :class:`ReportDocument` is the documented schema (Pydantic; JSON Schema from
``trd-cds schema report``; every golden report is validated against it). :class:`Report` is what
the engine returns: the same document as plain data, written with orjson, with the decision
computed eagerly and the explanations (trace, why-not) computed on first use; its typed view
(``report.recommendations[0].option`` ...) is the validated :class:`ReportDocument`, built once
on first attribute access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .options import Option
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


DISCLAIMER = (
    "Decision support, not a decision: suggestions for a clinician, with reasons and "
    "sources, never an order."
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


#: The explanation parts a :class:`Report` may compute on first use.
LAZY_PARTS = ("trace", "why_not")
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


class Report:
    """An evaluated report: plain data, canonical bytes, a typed view on demand.

    ``data`` holds every part of the document except, possibly, the explanations, which
    ``explain`` computes on first use (once). ``to_json`` is canonical (sorted keys, two-space
    indent, UTF-8, a final newline): the same inputs give the same bytes.
    """

    __slots__ = ("_data", "_document", "_explain")

    def __init__(
        self,
        data: dict[str, Any],
        explain: Callable[[], Mapping[str, Any]] | None = None,
        *,
        document: ReportDocument | None = None,
    ) -> None:
        self._data = data
        self._explain = explain
        self._document = document

    # ------------------------------------------------------------------ constructors

    @classmethod
    def model_validate(cls, data: Any) -> Report:
        """Validate report data (e.g. a stored report) against the schema; the data is kept
        as given, so a valid report's bytes survive the round trip."""
        document = ReportDocument.model_validate(data)
        plain = data if isinstance(data, dict) else document.model_dump(mode="json")
        return cls(plain, document=document)

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Report:
        return cls.model_validate(orjson.loads(text))

    @staticmethod
    def model_json_schema() -> dict[str, Any]:
        return ReportDocument.model_json_schema()

    # ------------------------------------------------------------------ plain data

    def to_dict(self) -> dict[str, Any]:
        """The whole document as plain JSON data (explanations computed if still pending)."""
        if self._explain is not None:
            self._data.update(self._explain())
            self._explain = None
        return self._data

    def to_json_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=_JSON_OPTIONS) + b"\n"

    def to_json(self) -> str:
        """Canonical JSON text: byte-identical for identical inputs."""
        return self.to_json_bytes().decode("utf-8")

    def to_json_line(self) -> str:
        """Compact canonical JSON on one line (for JSON Lines output)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS).decode("utf-8")

    def part(self, name: str) -> Any:
        """One top-level part of the document as plain data (``findings``, ``plan``, ...),
        without computing the explanations unless ``name`` is one of them."""
        if name in LAZY_PARTS:
            return self.to_dict()[name]
        return self._data[name]

    def recommended(self) -> list[Option]:
        return [Option(r["option"]) for r in self._data["recommendations"]]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Report):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Report(case_id={self._data.get('case_id')!r}, id={self.report_id!r})"

    @property
    def report_id(self) -> str:
        return str(self._data["provenance"]["report_id"])

    # ------------------------------------------------------------------ typed view

    @property
    def document(self) -> ReportDocument:
        """The validated document (built once)."""
        if self._document is None:
            self._document = ReportDocument.model_validate(self.to_dict())
        return self._document

    @property
    def case_id(self) -> str:
        return str(self._data["case_id"])

    @property
    def plan(self) -> Plan:
        return self.document.plan

    @property
    def gates(self) -> list[Gate]:
        return self.document.gates

    @property
    def recommendations(self) -> list[Recommendation]:
        return self.document.recommendations

    @property
    def cautions(self) -> list[Caution]:
        return self.document.cautions

    @property
    def blocked(self) -> list[Blocked]:
        return self.document.blocked

    @property
    def findings(self) -> list[Finding]:
        return self.document.findings

    @property
    def trace(self) -> list[FiredRule]:
        return self.document.trace

    @property
    def why_not(self) -> list[WhyNot]:
        return self.document.why_not

    @property
    def provenance(self) -> Provenance:
        return self.document.provenance

    @property
    def disclaimer(self) -> str:
        return self.document.disclaimer


def rewrite_pointers(data: Any, sources: Mapping[str, str]) -> Any:
    """A copy of report data whose every ``pointer`` is looked up in ``sources`` (a case JSON
    pointer -> where its value came from), exactly or by its nearest mapped ancestor; pointers
    with no mapped ancestor stay case pointers."""

    def lookup(pointer: str) -> str:
        p = pointer
        while p:
            found = sources.get(p)
            if found:
                return found
            p = p.rsplit("/", 1)[0]
        return pointer

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (lookup(v) if k == "pointer" and isinstance(v, str) else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(data)
