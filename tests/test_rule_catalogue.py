"""The rule catalogue (``trd-cds rules doc``) and its committed rendering, docs/rule-catalogue.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trd_cds import Engine
from trd_cds.cli import main
from trd_cds.engine.coverage import (
    catalogue_for,
    coverage_from_reports,
    default_cases_dir,
    evaluate_golden_cases,
    read_golden_cases,
)
from trd_cds.rules.catalogue import REGENERATE_COMMAND, render_catalogue, render_condition

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
DOC = ROOT / "docs" / "rule-catalogue.md"


@pytest.fixture(scope="module")
def catalogue(engine: Engine) -> str:
    return catalogue_for(engine.ruleset, CASES)


def test_committed_catalogue_is_current(catalogue: str) -> None:
    committed = DOC.read_text("utf-8") if DOC.exists() else ""
    assert committed == catalogue, (
        f"docs/rule-catalogue.md is out of date with the rules or golden cases; regenerate it "
        f"from the repository root with:\n    {REGENERATE_COMMAND}"
    )


def test_cli_renders_the_same_catalogue(catalogue: str, tmp_path: Path) -> None:
    out = tmp_path / "catalogue.md"
    result = CliRunner().invoke(main, ["rules", "doc", "--cases", str(CASES), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text("utf-8") == catalogue
    printed = CliRunner().invoke(main, ["rules", "doc", "--cases", str(CASES)])
    assert printed.exit_code == 0 and printed.stdout == catalogue


def test_every_rule_is_documented_with_its_golden_cases(engine: Engine, catalogue: str) -> None:
    reports = evaluate_golden_cases(engine, read_golden_cases(CASES))
    coverage = coverage_from_reports(reports)
    for loaded in engine.ruleset.rules:
        rule = loaded.rule
        section = catalogue.split(f"### `{rule.id}`\n", 1)[1].split("\n### ", 1)[0]
        assert f"version: {rule.version}" in section and rule.title in section
        for citation in rule.citations:
            assert citation.render().split()[0] in section
        names = coverage.get(rule.id, [])
        assert names, f"{rule.id} is fired by no golden case"
        if len(names) == len(reports):
            assert f"- all {len(reports)} golden cases" in section
            continue
        for name in names:
            assert f"- `{name}`" in section, (rule.id, name)


def test_coverage_is_sorted_and_deterministic(engine: Engine) -> None:
    goldens = read_golden_cases(CASES)
    first = coverage_from_reports(evaluate_golden_cases(engine, goldens))
    second = coverage_from_reports(evaluate_golden_cases(engine, list(reversed(goldens))))
    assert first == second
    assert all(names == sorted(names) for names in first.values())
    assert list(first) == sorted(first)


def test_catalogue_without_cases_says_so(engine: Engine) -> None:
    text = render_catalogue(engine.ruleset)
    assert "golden cases: not computed" in text
    assert "_not computed (no golden case folder given)_" in text


def test_readable_condition(engine: Engine) -> None:
    loaded = engine.ruleset.get("safety.high_suicide_risk_gate")
    assert render_condition(loaded.condition) == [
        "all of:",
        "- `r: risk where cssrs_level == high or clinician_judges_imminent_risk`",
    ]
    gated = engine.ruleset.get("safety.crisis_referral")
    assert render_condition(gated.condition)[1] == "- `gate safety_escalation_first`"
    always = engine.ruleset.get("always.holistic_adjuncts")
    assert render_condition(always.condition)[1] == "- `patient` (always present)"


def test_default_cases_dir(tmp_path: Path) -> None:
    assert default_cases_dir(tmp_path) is None
    (tmp_path / "tests" / "cases").mkdir(parents=True)
    assert default_cases_dir(tmp_path) == tmp_path / "tests" / "cases"


def test_bad_golden_case_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("case: {case_id: x}\nat: '2026-11-24T09:00:00Z'\n")
    result = CliRunner().invoke(main, ["rules", "doc", "--cases", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad" in result.stderr and "error:" in result.stderr
