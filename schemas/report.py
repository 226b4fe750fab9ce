"""The report (output): recommendations that explain themselves.

Every recommendation, block, caution and gate names the rules that produced it (``id@version``,
in derivation order), the case facts they matched (JSON pointers into the input, RFC 6901, with
the values seen) and the sources cited. Derived findings carry their inputs; the trace carries
every fired rule's conditions; ``why_not`` explains every option that was not recommended.

Reports are deterministic: the same case, rules, settings and evaluation time give the same
bytes from :meth:`Report.to_json`.

Two modules: :class:`ReportDocument` (:mod:`trd_cds.schemas.report_document`) is the documented
schema (Pydantic; JSON Schema from ``trd-cds schema report``; every golden report is validated
against it). :class:`Report` (here) is what the engine returns: the same document as plain
data, written with orjson, with the decision computed eagerly and the explanations (trace,
why-not) computed on first use; its typed view (``report.recommendations[0].option`` ...) is
the validated :class:`ReportDocument`, built once on first attribute access. This module does
not import Pydantic: evaluating and writing a report never builds the document models (the
model names are still importable from here, resolved on first use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from .options import Option

if TYPE_CHECKING:  # pragma: no cover
    from .report_document import (
        Blocked,
        Caution,
        Finding,
        FiredRule,
        Gate,
        Plan,
        Provenance,
        Recommendation,
        ReportDocument,
        WhyNot,
    )

JsonValue = Any

DISCLAIMER = (
    "Decision support, not a decision: suggestions for a clinician, with reasons and "
    "sources, never an order."
)

#: The document models (:mod:`trd_cds.schemas.report_document`), importable from here too.
_DOCUMENT_MODELS = frozenset(
    {
        "Blocked",
        "BlockedStep",
        "Caution",
        "ConditionResult",
        "DataNeeded",
        "Evidence",
        "Finding",
        "FindingInput",
        "FiredRule",
        "Gate",
        "LadderStep",
        "NextStep",
        "Overridden",
        "Plan",
        "PlanItem",
        "Provenance",
        "Recommendation",
        "ReportDocument",
        "RulesetRef",
        "UnmetRule",
        "WhyNot",
    }
)


def __getattr__(name: str) -> Any:
    if name in _DOCUMENT_MODELS:
        from . import report_document

        return getattr(report_document, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        from .report_document import ReportDocument

        document = ReportDocument.model_validate(data)
        plain = data if isinstance(data, dict) else document.model_dump(mode="json")
        return cls(plain, document=document)

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Report:
        return cls.model_validate(orjson.loads(text))

    @staticmethod
    def model_json_schema() -> dict[str, Any]:
        from .report_document import ReportDocument

        return ReportDocument.model_json_schema()

    # ------------------------------------------------------------------ plain data

    def to_dict(self) -> dict[str, Any]:
        """The whole document as plain JSON data (explanations computed if still pending)."""
        if self._explain is not None:
            self._data.update(self._explain())
            self._explain = None
        return self._data

    def decision(self) -> dict[str, Any]:
        """The decision parts as plain JSON data: everything but the explanations (the trace
        and why-not), which are not computed here. For callers that act on the decision and
        the plan (e.g. CDS Hooks cards) and do not show the explanations."""
        return {k: v for k, v in self._data.items() if k not in LAZY_PARTS}

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
            from .report_document import ReportDocument

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
