"""What travels to a worker and back: plain, picklable data, never an engine.

An :class:`EngineSpec` says how to build the engine (rules folder, settings as JSON data); each
worker builds it once. A :class:`CaseItem` is one case to evaluate (a file path, case text, or
case data already derived, e.g. from FHIR). :func:`evaluate_items` is the pure function a
worker maps over a chunk: it never stops on a bad case and never reads the clock (the
evaluation time is an argument). An :class:`Outcome` carries the canonical report bytes, the
validated case as JSON data (for the audit log, written by the client), or a :class:`Failure`
that the client turns back into the error class the serial run would have raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from ...engine.core import Engine
from ...engine.intake import parse_case_text
from ...engine.io import CaseSource, load_case
from ...schemas.case import Case
from ...schemas.errors import (
    WHOLE_INPUT,
    CaseError,
    EngineError,
    EvaluationError,
    TrdCdsError,
)
from ...schemas.report import Report
from ...schemas.settings import Settings

TextFormat = Literal["json", "yaml"]


@dataclass(frozen=True)
class EngineSpec:
    """How a worker builds its engine: a rules folder (None: bundled) and settings data."""

    rules: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: str | Path | None, settings: Settings | None = None) -> EngineSpec:
        data = orjson.loads(settings.model_dump_json()) if settings is not None else {}
        return cls(str(rules) if rules is not None else None, data)

    def settings_model(self) -> Settings:
        return Settings.model_validate_json(orjson.dumps(dict(self.settings)))

    def build(self) -> Engine:
        return Engine(self.rules, self.settings_model())


@dataclass(frozen=True)
class CaseItem:
    """One case to evaluate, named as the serial run names it (a file, ``file.jsonl:7``, ...).

    Exactly one of ``path`` (read by the worker: same machine or shared storage), ``text``
    (case text in ``fmt``), ``data`` (case data, e.g. derived from FHIR) or ``problem`` (the
    input cannot be a case; reported as a :class:`CaseError`) is set.
    """

    name: str
    path: str | None = None
    text: bytes | None = None
    fmt: TextFormat = "json"
    data: Mapping[str, Any] | None = None
    problem: str | None = None
    #: For a case derived from other data (FHIR): case pointer -> where the value came from;
    #: the report's evidence then points there (``Engine.evaluate(..., sources=...)``).
    sources: Mapping[str, str] | None = None

    @classmethod
    def from_source(cls, source: CaseSource, *, read: bool = False) -> CaseItem:
        """A :class:`CaseSource` as an item; ``read=True`` ships the bytes, not the path
        (for workers on other machines). A file that cannot be read becomes a problem item."""
        if source.problem is not None:
            return cls(source.name, problem=source.problem)
        if source.data is not None:
            return cls(source.name, text=source.data, fmt="yaml")
        assert source.path is not None  # a CaseSource has data, a path or a problem
        if not read:
            return cls(source.name, path=str(source.path))
        from ...engine.io import CASE_SUFFIXES, read_bytes

        suffix = source.path.suffix.lower()
        if suffix not in CASE_SUFFIXES:
            return cls(source.name, path=str(source.path))  # the worker says why, as serially
        try:
            raw = read_bytes(source.path, source.name)
        except CaseError as exc:
            return cls(source.name, problem=exc.errors[0][1] if exc.errors else str(exc))
        return cls(source.name, text=raw, fmt="json" if suffix == ".json" else "yaml")

    def load(self) -> Case:
        """The validated case; :class:`CaseError` names the item and the field path."""
        if self.problem is not None:
            raise CaseError(self.name, [(WHOLE_INPUT, self.problem)])
        if self.path is not None:
            return load_case(CaseSource(self.name, Path(self.path)))
        if self.text is not None:
            return parse_case_text(self.text, self.name, self.fmt)
        if self.data is not None:
            from ...engine.core import parse_case

            try:
                return parse_case(self.data)
            except CaseError as exc:
                raise CaseError(self.name, exc.errors) from None
        raise CaseError(self.name, [(WHOLE_INPUT, "an empty work item")])


@dataclass(frozen=True)
class Failure:
    """A picklable error (the error classes take keyword arguments pickle does not keep)."""

    kind: Literal["case", "evaluation", "engine", "other"]
    message: str
    source: str
    errors: tuple[tuple[str, str], ...] = ()
    case_id: str | None = None
    rule_id: str | None = None
    exit_code: int = 1

    @classmethod
    def of(cls, exc: TrdCdsError, source: str) -> Failure:
        if isinstance(exc, CaseError):
            return cls("case", str(exc), exc.source, tuple(exc.errors), exit_code=exc.exit_code)
        if isinstance(exc, EvaluationError):
            kind: Literal["evaluation", "engine"] = (
                "engine" if isinstance(exc, EngineError) else "evaluation"
            )
            return cls(kind, str(exc), source, (), exc.case_id, exc.rule_id, exc.exit_code)
        return cls("other", str(exc), source, exit_code=exc.exit_code)

    def to_error(self) -> TrdCdsError:
        """The error the serial run raises for this case (same class, message, exit code)."""
        if self.kind == "case":
            return CaseError(self.source, list(self.errors))
        if self.kind in ("evaluation", "engine"):
            cls = EngineError if self.kind == "engine" else EvaluationError
            return cls(self.message, case_id=self.case_id, rule_id=self.rule_id)
        return EvaluationError(self.message, case_id=self.case_id)


@dataclass(frozen=True)
class Outcome:
    """One item's result: canonical report bytes and the case data, or a failure."""

    name: str
    report: bytes | None = None
    case: Mapping[str, Any] | None = None
    failure: Failure | None = None

    def to_report(self) -> Report:
        """The report, byte-identical to the worker's (``to_json`` is canonical)."""
        if self.report is None:
            raise ValueError(f"{self.name}: no report (the case failed)")
        return Report(orjson.loads(self.report))

    def error(self) -> TrdCdsError | None:
        return self.failure.to_error() if self.failure is not None else None


def evaluate_item(engine: Engine, item: CaseItem, at: datetime) -> Outcome:
    """Evaluate one item; every error becomes a :class:`Failure`, nothing escapes.

    Mirrors :func:`trd_cds.engine.io.evaluate_each`: an unexpected exception (a bug) is an
    ``EvaluationError`` naming the item and the exception type.
    """
    case: Case | None = None
    try:
        case = item.load()
        report = engine.evaluate(case, at=at, sources=item.sources or None)
        data = orjson.loads(case.model_dump_json())
        return Outcome(item.name, report.to_json_bytes(), data)
    except TrdCdsError as exc:
        return Outcome(item.name, failure=Failure.of(exc, item.name))
    except Exception as exc:  # a bug must not cost the rest of the batch
        error = EvaluationError(
            f"{item.name}: internal error: {type(exc).__name__}: {exc}",
            case_id=case.case_id if case is not None else None,
        )
        return Outcome(item.name, failure=Failure.of(error, item.name))


def evaluate_items(engine: Engine, items: Iterable[CaseItem], at: datetime) -> list[Outcome]:
    """:func:`evaluate_item` over a chunk, in order (what a worker maps over partitions)."""
    return [evaluate_item(engine, item, at) for item in items]
