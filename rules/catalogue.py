"""The rule catalogue: every rule as Markdown for clinical reviewers (``trd-cds rules doc``).

For each rule: id, version, status, title, where it is written, its condition in readable form,
its action, the rationale template, the citations, and the golden cases that fire it. The
golden cases are computed, not written by hand: :func:`golden_coverage` evaluates a folder of
golden case files (``tests/cases/*.yaml``: a mapping with ``case`` and ``at``, see
``tests/test_golden_cases.py``) and records which rules each case fired (``report.trace``).

The output is deterministic: rules in ruleset order (file name, then position), cases sorted
by name, no paths, clock readings or other machine-specific text, so the rendered catalogue
can be committed (``docs/rule-catalogue.md``) and checked for drift by a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..engine.core import Engine, parse_case
from ..schemas.errors import CaseError
from ..schemas.facts import SINGLETON_TYPES
from ..schemas.report import Report
from ..schemas.rule import ActionKind, Rule
from .conditions import Condition, Pattern, leaf_of
from .loader import LoadedRule, Ruleset

#: Where ``trd-cds rules doc`` looks for golden cases when ``--cases`` is not given.
DEFAULT_CASES_DIR = Path("tests") / "cases"

REGENERATE_COMMAND = "trd-cds rules doc --cases tests/cases -o docs/rule-catalogue.md"

CaseCoverage = Mapping[str, Sequence[str]]


# ---------------------------------------------------------------------- golden cases


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
        for entry in report.trace:
            rule_id = entry.rule.rpartition("@")[0]
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


# ---------------------------------------------------------------------- rendering


def _expr(expr: Mapping[str, Any]) -> str | None:
    """Readable form of one pattern expression; ``None`` when it is only the type pin."""
    ((key, body),) = expr.items()
    if key in ("$and", "$or"):
        parts = [p for p in (_expr(sub) for sub in body) if p is not None]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        if key == "$and":
            return " and ".join(parts)
        return "(" + " or ".join(parts) + ")"
    leaf = leaf_of(expr)
    if leaf.field == "type" and leaf.op == "$eq":
        return None
    return f"`{leaf.render()}`"


def _pattern(pattern: Pattern) -> str:
    fact_type = pattern.fact_type or "fact"
    ((key, body),) = pattern.expr.items()
    subs = body if key == "$and" else [pattern.expr]
    rest = [sub for sub in subs if _equality(sub) != ("type", fact_type)]
    if fact_type in ("gate", "finding") and len(rest) == 1:
        leaf = _equality(rest[0])
        if leaf is not None and leaf[0] == "name":
            verb = "is raised" if fact_type == "gate" else "is derived"
            return f"`{pattern.name}`: {fact_type} `{leaf[1]}` {verb}"
    readable = _expr(pattern.expr)
    if readable is None:
        always = " (always present)" if fact_type in SINGLETON_TYPES else ""
        return f"`{pattern.name}`: any {fact_type}{always}"
    return f"`{pattern.name}`: {fact_type} with {readable}"


def _equality(expr: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(field, value)`` of an equality leaf, ``None`` for anything else."""
    ((key, _),) = expr.items()
    if key in ("$and", "$or"):
        return None
    leaf = leaf_of(expr)
    return (leaf.field, leaf.value) if leaf.op == "$eq" else None


def render_condition(condition: Condition) -> list[str]:
    """The condition as Markdown lines: a heading line, then one bullet per pattern."""
    head = "all of:" if condition.mode == "all" else "any of:"
    return [head, *(f"- {_pattern(p)}" for p in condition.patterns)]


def render_action(rule: Rule) -> str:
    action = rule.action
    options = ", ".join(f"`{o.value}`" for o in action.options)
    if action.kind is ActionKind.recommend:
        tier = action.tier.name if action.tier is not None else "?"
        strength = rule.strength.value if rule.strength is not None else "?"
        return f"recommend {options} ({strength}; tier `{tier}`)"
    if action.kind is ActionKind.block:
        return f"block {options}"
    if action.kind is ActionKind.caution:
        return f"caution on {options}"
    if action.kind is ActionKind.gate:
        return f"raise gate `{action.finding}`"
    return f"derive finding `{action.finding}`"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rule_section(
    loaded: LoadedRule, cases: Sequence[str] | None, case_count: int | None
) -> list[str]:
    rule = loaded.rule
    where = f"{loaded.file}:{loaded.line}" if loaded.line is not None else loaded.file
    lines = [
        f"### `{rule.id}`",
        "",
        f"**{_one_line(rule.title)}**",
        "",
        f"- version: {rule.version} · status: {rule.status.value} · file: `{where}`",
        f"- action: {render_action(rule)}",
        "",
        "When " + render_condition(loaded.condition)[0],
        "",
        *render_condition(loaded.condition)[1:],
        "",
        "Rationale (template, `{pattern.field}` is filled from the matched facts):",
        "",
        f"> {_one_line(rule.rationale)}",
        "",
        "Citations:",
        "",
        *(f"- {_one_line(c.render())}" for c in rule.citations),
    ]
    if rule.notes:
        lines += ["", f"Notes: {_one_line(rule.notes)}"]
    lines += ["", "Golden cases that fire it:", ""]
    if cases is None:
        lines.append("- _not computed (no golden case folder given)_")
    elif not cases:
        lines.append("- **none**")
    elif case_count is not None and case_count > 1 and len(cases) == case_count:
        lines.append(f"- all {case_count} golden cases")
    else:
        lines.extend(f"- `{name}`" for name in cases)
    lines.append("")
    return lines


def render_catalogue(
    ruleset: Ruleset,
    cases_by_rule: CaseCoverage | None = None,
    case_count: int | None = None,
) -> str:
    """The whole catalogue as Markdown.

    ``cases_by_rule`` maps rule ids to the golden cases that fire them (see
    :func:`golden_coverage`); without it the catalogue says the coverage was not computed.
    ``case_count`` is the number of golden cases evaluated, shown in the header.
    """
    header = ruleset.header
    rules = list(ruleset.rules)
    active = sum(1 for r in rules if r.rule.status.value == "active")

    def cases_of(loaded: LoadedRule) -> Sequence[str] | None:
        if cases_by_rule is None:
            return None
        return list(cases_by_rule.get(loaded.rule.id, ()))

    out = [
        "# Rule catalogue",
        "",
        "<!-- Generated by `trd-cds rules doc`; do not edit by hand. Regenerate with:",
        f"     {REGENERATE_COMMAND} -->",
        "",
        f"Ruleset `{header.id}` version {header.version}: {_one_line(header.title)}.",
        "",
        f"- content hash: `{ruleset.content_hash}`",
        f"- rules: {len(rules)} ({active} active)",
    ]
    if cases_by_rule is None:
        out.append("- golden cases: not computed")
    else:
        covered = sum(1 for r in rules if cases_by_rule.get(r.rule.id))
        count = f"{case_count} golden cases; " if case_count is not None else ""
        out.append(f"- golden cases: {count}{covered} of {len(rules)} rules fired by at least one")
    out += [
        "",
        "Decision support, not a decision: the rules suggest options for a clinician, with "
        "their reasons and sources.",
        "",
        "## Summary",
        "",
        "| rule | version | status | action | golden cases |",
        "|---|---|---|---|---|",
    ]
    for loaded in rules:
        rule = loaded.rule
        cases = cases_of(loaded)
        n = "—" if cases is None else str(len(cases))
        out.append(
            f"| `{rule.id}` | {rule.version} | {rule.status.value} | "
            f"{_cell(render_action(rule))} | {n} |"
        )
    out.append("")
    current_file: str | None = None
    for loaded in rules:
        if loaded.file != current_file:
            current_file = loaded.file
            out += [f"## {current_file}", ""]
        out += _rule_section(loaded, cases_of(loaded), case_count)
    return "\n".join(out).rstrip("\n") + "\n"


def catalogue_for(ruleset: Ruleset, cases_dir: Path | None) -> str:
    """The catalogue with the coverage of the golden cases in ``cases_dir`` (if given)."""
    if cases_dir is None:
        return render_catalogue(ruleset)
    goldens = read_golden_cases(cases_dir)
    reports = evaluate_golden_cases(Engine(ruleset), goldens)
    return render_catalogue(ruleset, coverage_from_reports(reports), case_count=len(goldens))
