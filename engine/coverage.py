"""Golden-case coverage: which golden cases fire which rule (for ``trd-cds rules doc``).

A golden case file (``tests/cases/*.yaml``) is a mapping with ``case`` and ``at`` (see
``tests/test_golden_cases.py``). :func:`golden_coverage` evaluates a folder of them and records
which rules each case fired (``report.trace``); :func:`catalogue_for` hands that to the rule
catalogue (:mod:`trd_cds.rules.catalogue`), which only renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..rules.catalogue import render_catalogue
from ..rules.loader import Ruleset
from ..schemas.errors import CaseError
from ..schemas.report import Report
from .core import Engine, parse_case

#: Where ``trd-cds rules doc`` looks for golden cases when ``--cases`` is not given.
DEFAULT_CASES_DIR = Path("tests") / "cases"


@dataclass(frozen=True)
class GoldenCase:
    """One golden case file: its name (file stem), the case data and the evaluation time."""

    name: str
    path: Path
    case: Mapping[str, Any]
    at: datetime
    document: Mapping[str, Any]


def _parse_at(value: Any, source: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CaseError(source, [("/at", f"not an ISO 8601 date-time: {exc}")]) from exc
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise CaseError(
            source, [("/at", "give a timezone-aware date-time, e.g. 2026-11-24T09:00Z")]
        )
    return value


def read_golden_case(path: Path) -> GoldenCase:
    """Read one golden case file; :class:`CaseError` names the file and the problem."""
    source = str(path)
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CaseError(source, [("", f"cannot read golden case: {exc}")]) from exc
    if not isinstance(document, dict):
        raise CaseError(source, [("", "a golden case file is a mapping with 'case' and 'at'")])
    case = document.get("case")
    if not isinstance(case, dict):
        raise CaseError(source, [("/case", "missing or not a mapping")])
    return GoldenCase(path.stem, path, case, _parse_at(document.get("at"), source), document)


def read_golden_cases(directory: Path) -> list[GoldenCase]:
    """Every ``*.yaml`` golden case in ``directory``, sorted by name."""
    return [read_golden_case(p) for p in sorted(directory.glob("*.yaml"))]


def coverage_from_reports(reports: Iterable[tuple[str, Report]]) -> dict[str, list[str]]:
    """Rule id → sorted names of the cases whose trace shows the rule fired."""
    fired: dict[str, set[str]] = {}
    for name, report in reports:
        for entry in report.part("trace"):  # plain data: no typed view built
            rule_id = str(entry["rule"]).rpartition("@")[0]
            fired.setdefault(rule_id, set()).add(name)
    return {rule_id: sorted(names) for rule_id, names in sorted(fired.items())}


def engine_for(engine: Engine, golden: GoldenCase) -> Engine:
    """``engine``, or an engine over the same ruleset with the settings the golden case
    overrides (its optional ``settings`` mapping, e.g. an opt-in convention of §11)."""
    overrides = golden.document.get("settings")
    if not overrides:
        return engine
    if not isinstance(overrides, Mapping):
        raise CaseError(str(golden.path), [("/settings", "must be a mapping of setting names")])
    settings = engine.settings.model_validate(
        {**engine.settings.model_dump(), **overrides}, strict=False
    )
    return Engine(engine.ruleset, settings)


def evaluate_golden_cases(
    engine: Engine, goldens: Iterable[GoldenCase]
) -> list[tuple[str, Report]]:
    """(case name, report) for each golden case, evaluated at its own ``at`` (with its own
    settings overrides, if any)."""
    return [
        (g.name, engine_for(engine, g).evaluate(parse_case(g.case, str(g.path)), at=g.at))
        for g in goldens
    ]


def golden_coverage(engine: Engine, directory: Path) -> dict[str, list[str]]:
    """Evaluate every golden case in ``directory``; rule id → the cases that fire it."""
    return coverage_from_reports(evaluate_golden_cases(engine, read_golden_cases(directory)))


def default_cases_dir(cwd: Path | None = None) -> Path | None:
    """``tests/cases`` under ``cwd`` (default: the current directory) when it exists."""
    candidate = (cwd or Path.cwd()) / DEFAULT_CASES_DIR
    return candidate if candidate.is_dir() else None


def catalogue_for(ruleset: Ruleset, cases_dir: Path | None) -> str:
    """The catalogue with the coverage of the golden cases in ``cases_dir`` (if given)."""
    if cases_dir is None:
        return render_catalogue(ruleset)
    goldens = read_golden_cases(cases_dir)
    reports = evaluate_golden_cases(Engine(ruleset), goldens)
    return render_catalogue(ruleset, coverage_from_reports(reports), case_count=len(goldens))
