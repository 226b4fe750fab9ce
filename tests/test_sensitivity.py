"""Threshold sensitivity (issue 10 item 4): the plan under documented alternative conventions."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from tests.conftest import AT, EXAMPLES, load_yaml
from tests.strategies import case_dicts
from trd_cds import Engine, Report
from trd_cds.cli import main
from trd_cds.engine.render import text
from trd_cds.engine.render_html import html
from trd_cds.engine.render_plan import sensitivity_sentence
from trd_cds.engine.sensitivity import Sensitivity, decide, differences, summary
from trd_cds.schemas.settings import Settings


def _borderline() -> dict[str, Any]:
    """Example 01 with its second trial at 5 weeks: adequate under 4 weeks, not under 6."""
    case: dict[str, Any] = load_yaml(EXAMPLES / "01_trd_medication_and_therapy_failed.yaml")
    case["antidepressant_trials"][1]["weeks_at_dose"] = 5
    return case


def test_six_week_convention_would_undo_trd(engine: Engine) -> None:
    case = _borderline()
    report = engine.evaluate(case, at=AT)
    found = [
        e for e in Sensitivity(engine).check(case, AT, report) if e["setting"] == "min_ad_weeks"
    ]
    assert [(e["setting"], e["value"], e["in_force"]) for e in found] == [
        ("min_ad_weeks", 6.0, 4.0)
    ]
    sentence = sensitivity_sentence(found[0])
    assert sentence.startswith(
        "Under the 6-week adequacy convention (MGH-ATRQ) (min_ad_weeks 6 instead of 4): "
        "TRD would not be established;"
    )
    assert "Esketamine" in sentence and "would not be recommended" in sentence
    # the report itself is unchanged by asking
    assert engine.evaluate(case, at=AT).to_json() == report.to_json()


def test_alternative_runs_the_other_way(engine: Engine) -> None:
    """An engine on the strict convention hears about the default one."""
    strict = Engine(engine.ruleset, Settings(min_ad_weeks=6))
    case = _borderline()
    found = Sensitivity(strict).check(case, AT, strict.evaluate(case, at=AT))
    assert (
        found and found[0]["value"] == 4.0 and "TRD would be established" in found[0]["differences"]
    )


def test_no_difference_no_entry(engine: Engine) -> None:
    case = load_yaml(EXAMPLES / "07_remission_relapse_prevention.yaml")
    assert Sensitivity(engine).check(case, AT, engine.evaluate(case, at=AT)) == []


def test_madrs_remission_twelve(engine: Engine) -> None:
    case = load_yaml(EXAMPLES / "01_trd_medication_and_therapy_failed.yaml")
    case["measurements"][3]["score"] = 11  # MADRS 30 -> 11: remission only at <= 12
    found = Sensitivity(engine).check(case, AT, engine.evaluate(case, at=AT))
    madrs = [e for e in found if e["setting"] == "remission_max_madrs"]
    assert madrs and "the person would count as in remission" in madrs[0]["differences"]


def test_ect_under_the_va_dod_reading(engine: Engine) -> None:
    """Moderate TRD after multiple failures: no ECT under NICE NG222 1.13.1 (the default),
    ECT to consider under the VA/DoD 2022 reading (domain-reference §11.1)."""
    case = load_yaml(EXAMPLES / "01_trd_medication_and_therapy_failed.yaml")
    report = engine.evaluate(case, at=AT)
    assert "ect" not in {r["option"] for r in report.to_dict()["recommendations"]}
    found = Sensitivity(engine).check(case, AT, report)
    ect = [e for e in found if e["setting"] == "ect_moderate_after_multiple_failures"]
    assert ect, found
    assert ect[0]["value"] is True and ect[0]["in_force"] is False
    assert "ECT" in sensitivity_sentence(ect[0])


def test_renderings_and_cli(engine: Engine, tmp_path: Any) -> None:
    case = _borderline()
    report = engine.evaluate(case, at=AT)
    found = Sensitivity(engine).check(case, AT, report)
    out = text(report, sensitivity=found)
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "SENSITIVITY" in out and "TRD would not be" in " ".join(out.split())
    assert "TRD would not be established" in html(report, found)
    assert "SENSITIVITY" not in text(report)  # opt-in
    import yaml

    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(case), "utf-8")
    runner = CliRunner()
    on = runner.invoke(main, ["evaluate", str(path), "--at", AT.isoformat()])
    assert on.exit_code == 0 and "Under the 6-week adequacy convention" in " ".join(
        on.output.split()
    )
    off = runner.invoke(main, ["evaluate", str(path), "--at", AT.isoformat(), "--no-sensitivity"])
    assert off.exit_code == 0 and "SENSITIVITY" not in off.output
    assert "SETTINGS IN FORCE" in off.output  # the settings are always shown


def test_the_check_compares_decisions_without_building_reports(engine: Engine) -> None:
    """The alternatives are compared from the decision alone (no data-needed list, ladder or
    explanations: most of a report's cost), yet the differences are those of whole reports."""
    case = _borderline()
    report = engine.evaluate(case, at=AT)
    check = Sensitivity(engine)
    found = check.check(case, AT, report)
    assert found
    expected = []
    for alt in check.alternatives:
        alternative = check._engine(alt)
        other = alternative.evaluate(case, at=AT)
        assert decide(alternative, case, AT) == summary(other)
        diff = differences(report, other)
        if diff:
            expected.append(diff)
    assert expected == [e["differences"] for e in found]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=case_dicts())
def test_a_decision_summary_is_the_reports(engine: Engine, case: Any) -> None:
    assert decide(engine, case, AT) == summary(engine.evaluate(case, at=AT))


def test_a_report_part_computes_explanations_only_when_asked() -> None:
    calls: list[int] = []

    def explain() -> dict[str, Any]:
        calls.append(1)
        return {"trace": ["t"], "why_not": ["w"]}

    report = Report({"findings": ["f"], "plan": {"next_step": None}}, explain)
    assert report.part("findings") == ["f"] and report.part("plan") == {"next_step": None}
    assert calls == []
    assert report.part("trace") == ["t"] and calls == [1]
    assert report.part("why_not") == ["w"] and calls == [1]
