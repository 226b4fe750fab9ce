"""The command line: click's runner for behaviour, one real subprocess for the installed script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import EXAMPLES
from trd_cds.cli import main
from trd_cds.rules import bundled_rules_dir

AT = ["--at", "2026-11-24T09:00:00Z"]
EX1 = str(EXAMPLES / "01_trd_medication_and_therapy_failed.yaml")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_evaluate_json_is_the_report(runner: CliRunner) -> None:
    result = runner.invoke(main, ["evaluate", EX1, "--format", "json", *AT])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["case_id"] == "example-01-trd"
    assert report["provenance"]["evaluated_at"] == "2026-11-24T09:00:00+00:00"


def test_evaluate_is_reproducible_with_at(runner: CliRunner) -> None:
    first = runner.invoke(main, ["evaluate", EX1, "--format", "json", *AT]).stdout
    second = runner.invoke(main, ["evaluate", EX1, "--format", "json", *AT]).stdout
    assert first == second


def test_batch_goes_on_past_a_bad_file(runner: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "a_good.yaml"
    good.write_text(Path(EX1).read_text("utf-8"), "utf-8")
    bad = tmp_path / "b_bad.yaml"
    text = Path(EX1).read_text("utf-8").replace("weeks_at_dose: 8", "weeks_at_dose: -3")
    bad.write_text(text, "utf-8")
    broken = tmp_path / "c_broken.json"
    broken.write_text("{not json", "utf-8")
    result = runner.invoke(main, ["evaluate", str(tmp_path), "--format", "jsonl", *AT])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["case_id"] == "example-01-trd"
    assert "b_bad.yaml" in lines[1]["source"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "b_bad.yaml: /antidepressant_trials/0/weeks_at_dose:" in errors[0]
    assert "c_broken.json: line 1 column 2: invalid JSON" in errors[1]
    assert "1 evaluated, 2 failed" in result.stderr


def test_stdin(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["evaluate", "-", "--format", "json", *AT], input=Path(EX1).read_text("utf-8")
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["case_id"] == "example-01-trd"


def test_text_and_markdown(runner: CliRunner) -> None:
    text = runner.invoke(main, ["evaluate", EX1, "-v", *AT]).stdout
    assert "RECOMMENDATIONS" in text and "rules: " in text and "fact: " in text
    md = runner.invoke(main, ["evaluate", EX1, "--format", "markdown", *AT]).stdout
    assert md.startswith("# Decision support report")


def test_output_dir(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["evaluate", str(EXAMPLES), "-o", str(tmp_path), *AT])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "01_trd_medication_and_therapy_failed.report.json").is_file()


def test_naive_at_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["evaluate", EX1, "--at", "2026-11-24T09:00:00"])
    assert result.exit_code == 2
    assert "timezone" in result.stderr


def test_validate(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("case_id: x\npatient: {age: 200}\n", "utf-8")
    result = runner.invoke(main, ["validate", EX1, str(bad)])
    assert result.exit_code == 1
    assert f"ok: {EX1}" in result.stdout
    assert f"error: {bad}: /patient/age:" in result.stderr
    assert f"error: {bad}: /diagnosis:" in result.stderr


def test_explain(runner: CliRunner) -> None:
    not_rec = runner.invoke(main, ["explain", EX1, "--option", "cbt", *AT])
    assert not_rec.exit_code == 0
    assert "NOT RECOMMENDED" in not_rec.stdout and "cbt_failed" in not_rec.stdout
    rec = runner.invoke(main, ["explain", EX1, "--option", "tms", *AT])
    assert (
        "RECOMMENDED" in rec.stdout and "neuromod.tms_after_medication_and_therapy@1" in rec.stdout
    )
    as_json = runner.invoke(main, ["explain", EX1, "--option", "cbt", "--format", "json", *AT])
    assert json.loads(as_json.stdout)["status"] == "not_triggered"


def test_rules_commands(runner: CliRunner) -> None:
    listed = runner.invoke(main, ["rules", "list"])
    assert listed.exit_code == 0 and "safety.high_suicide_risk_gate@1" in listed.stdout
    shown = runner.invoke(main, ["rules", "show", "verify.trd_established"])
    assert shown.exit_code == 0 and "20_verify.yaml" in shown.stdout
    typo = runner.invoke(main, ["rules", "show", "verify.trd_establishd"])
    assert typo.exit_code == 2 and "did you mean 'verify.trd_established'" in typo.stderr
    lint = runner.invoke(main, ["rules", "lint"])
    assert lint.exit_code == 0 and "0 errors" in lint.stdout


def test_broken_rules_folder_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py"))
    target = folder / "20_verify.yaml"
    text = target.read_text("utf-8")
    assert "where trd_2\n" in text
    target.write_text(text.replace("where trd_2\n", 'where trd_2 == "yes"\n'), "utf-8")
    result = runner.invoke(main, ["evaluate", EX1, "--rules", str(folder), *AT])
    assert result.exit_code == 3
    assert "verify.trd_established" in result.stderr
    lint = runner.invoke(main, ["rules", "lint", str(folder)])
    assert lint.exit_code == 1


def test_schema(runner: CliRunner) -> None:
    schema = json.loads(runner.invoke(main, ["schema"]).stdout)
    assert schema["additionalProperties"] is False
    assert "antidepressant_trials" in schema["properties"]


@pytest.mark.slow
def test_installed_console_script() -> None:
    script = Path(sys.executable).with_name("trd-cds")
    assert script.exists(), "the console script trd-cds is not installed"
    done = subprocess.run(
        [str(script), "evaluate", EX1, "--format", "json", *AT],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["case_id"] == "example-01-trd"


def test_the_command_line_loads_no_pydantic_plugins_unless_asked(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Pydantic plugin is another package's code that would see every validated case."""
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "x")  # restored (unset) after the test
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    assert runner.invoke(main, ["rules", "list"]).exit_code == 0
    assert os.environ.get("PYDANTIC_DISABLE_PLUGINS") == "__all__"
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "some_plugin")  # the operator's choice
    assert runner.invoke(main, ["rules", "list"]).exit_code == 0
    assert os.environ.get("PYDANTIC_DISABLE_PLUGINS") == "some_plugin"
