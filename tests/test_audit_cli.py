"""``trd-cds evaluate --audit`` and ``trd-cds audit list|show|verify|replay``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.audit_support import (
    EXAMPLE_FILES,
    KEY,
    STORES,
    TMS_CASE,
    TMS_RULE,
    edit_record,
    rewrite,
    rules_with_retired_tms,
)
from tests.conftest import EXAMPLES, ROOT, load_yaml
from trd_cds.cli import EXIT_AUDIT, main
from trd_cds.engine.audit import ENV_KEY, open_log

AT = ["--at", "2026-11-24T09:00:00Z"]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv(ENV_KEY, KEY.decode())
    return CliRunner()


@pytest.fixture(params=STORES)
def log_path(request: pytest.FixtureRequest, runner: CliRunner, tmp_path: Path) -> Path:
    path = tmp_path / f"audit.{request.param}"
    result = runner.invoke(
        main, ["evaluate", str(EXAMPLES), "--format", "jsonl", "--audit", str(path), *AT]
    )
    assert result.exit_code == 0, result.output
    return path


def test_evaluate_appends_one_record_per_case(log_path: Path) -> None:
    with open_log(log_path) as log:
        records = list(log.records())
    assert len(records) == len(EXAMPLE_FILES)
    ids = [load_yaml(p)["patient"].get("id") for p in EXAMPLE_FILES]
    raw = log_path.read_bytes()
    assert all(pid.encode() not in raw for pid in ids if pid)


def test_evaluate_without_a_key_stops_before_the_report(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_KEY)
    path = tmp_path / "audit.jsonl"
    example = str(EXAMPLE_FILES[0])
    result = runner.invoke(
        main, ["evaluate", example, "--format", "json", "--audit", str(path), *AT]
    )
    assert result.exit_code == EXIT_AUDIT
    assert "error: audit:" in result.stderr and ENV_KEY in result.stderr
    assert result.stdout == ""  # no unaudited report
    assert not path.exists()


def test_evaluate_refuses_an_unknown_log_type(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main, ["evaluate", str(EXAMPLE_FILES[0]), "--audit", str(tmp_path / "a.txt"), *AT]
    )
    assert result.exit_code == EXIT_AUDIT
    assert ".jsonl, .sqlite or .db" in result.stderr


def test_list_and_show(runner: CliRunner, log_path: Path) -> None:
    listed = runner.invoke(main, ["audit", "list", str(log_path)])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == len(EXAMPLE_FILES)
    line = next(x for x in lines if TMS_CASE in x)
    seq, record_id = line.split()[:2]
    assert "tms" in line and "trd-cds-core@" in line

    shown = runner.invoke(main, ["audit", "show", str(log_path), seq])
    assert shown.exit_code == 0, shown.output
    assert record_id in shown.stdout and f"{TMS_RULE}@1" in shown.stdout
    assert "psn-" in shown.stdout and "ruleset" in shown.stdout
    assert "mac       hmac-sha256:" in shown.stdout

    as_json = runner.invoke(main, ["audit", "show", str(log_path), record_id, "--format", "json"])
    data = json.loads(as_json.stdout)
    assert data["record_id"] == record_id
    assert data["report"]["case_id"] == TMS_CASE
    assert any(t["rule"] == f"{TMS_RULE}@1" for t in data["report"]["trace"])

    missing = runner.invoke(main, ["audit", "show", str(log_path), "rec-nope"])
    assert missing.exit_code == 2 and "no record" in missing.stderr


def test_list_one_patient(runner: CliRunner, log_path: Path) -> None:
    patient = load_yaml(EXAMPLE_FILES[0])["patient"]["id"]
    result = runner.invoke(main, ["audit", "list", str(log_path), "--patient", patient])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert load_yaml(EXAMPLE_FILES[0])["case_id"] in result.stdout


def test_verify_ok_then_tampered(runner: CliRunner, log_path: Path) -> None:
    ok = runner.invoke(main, ["audit", "verify", str(log_path)])
    assert ok.exit_code == 0, ok.output
    first, second = ok.stdout.splitlines()
    assert first.startswith(f"ok: {len(EXAMPLE_FILES)} records, head sha256:")
    assert second.startswith("authenticity: verified with key key-")
    head = first.split()[-1]
    anchored = runner.invoke(main, ["audit", "verify", str(log_path), "--anchor", head])
    assert anchored.exit_code == 0

    def downgrade(data: dict[str, object]) -> None:
        data["case_id"] = "someone-else"

    rewrite(log_path, lambda t: [*t[:3], edit_record(t[3], downgrade), *t[4:]])
    bad = runner.invoke(main, ["audit", "verify", str(log_path)])
    assert bad.exit_code == 1
    assert "FAILED: record 4" in bad.stdout and "tampered" in bad.stdout

    without_key = runner.invoke(main, ["audit", "verify", str(log_path)], env={ENV_KEY: None})
    assert without_key.exit_code == 1
    assert "authenticity: NOT checked (no key)" in without_key.stdout


def test_verify_reports_truncation(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    runner.invoke(main, ["evaluate", str(EXAMPLE_FILES[0]), "--audit", str(path), *AT])
    runner.invoke(main, ["evaluate", str(EXAMPLE_FILES[1]), "--audit", str(path), *AT])
    path.write_bytes(path.read_bytes()[:-10])
    result = runner.invoke(main, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert "truncated" in result.stdout and "(1 records before it verified)" in result.stdout


@pytest.mark.parametrize("name", ["junk.sqlite", "junk.jsonl"])
def test_verify_a_file_that_is_no_log(runner: CliRunner, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("hello\n", "utf-8")
    result = runner.invoke(main, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert "not a database" in result.stderr or "malformed" in result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_replay_same_rules_is_identical(runner: CliRunner, log_path: Path) -> None:
    result = runner.invoke(main, ["audit", "replay", str(log_path)])
    assert result.exit_code == 0, result.output
    assert f"{len(EXAMPLE_FILES)} replayed: {len(EXAMPLE_FILES)} identical" in result.stdout


def test_replay_changed_rules_names_the_rule(
    runner: CliRunner, log_path: Path, tmp_path: Path
) -> None:
    rules = rules_with_retired_tms(tmp_path)
    result = runner.invoke(main, ["audit", "replay", str(log_path), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"changed ({len(EXAMPLE_FILES)} record(s)): ruleset trd-cds-core@")
    assert f"recommended tms: removed: no rule recommends it now [{TMS_RULE}@1 → -]" in out
    assert f"{TMS_RULE}@1 no longer fires (now {TMS_RULE}@2, retired)" in out
    assert "0 mismatch" in out


def test_replay_changed_settings_are_named(
    runner: CliRunner, log_path: Path, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("min_ad_weeks: 6\n", "utf-8")
    result = runner.invoke(main, ["audit", "replay", str(log_path), "--settings", str(settings)])
    assert result.exit_code == 0, result.output
    assert (
        f"changed ({len(EXAMPLE_FILES)} record(s)): setting min_ad_weeks: 4.0 → 6.0"
        in result.stdout
    )
    assert f"{len(EXAMPLE_FILES)} replayed: 0 identical" in result.stdout


def test_replay_mismatch_exits_1(runner: CliRunner, log_path: Path) -> None:
    def drift(data: dict[str, object]) -> None:
        from trd_cds.engine.audit.record import body_hash, record_id_for

        report = json.loads(str(data["report"]))
        report["disclaimer"] = "something the engine never wrote"
        data["report"] = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        body = {k: v for k, v in data.items() if k not in ("hash", "record_id")}
        data["hash"] = body_hash(body)
        data["record_id"] = record_id_for(str(data["hash"]))

    rewrite(log_path, lambda t: [*t[:-1], edit_record(t[-1], drift)])
    result = runner.invoke(main, ["audit", "replay", str(log_path)])
    assert result.exit_code == 1
    assert "mismatch" in result.stdout and "something the engine never wrote" in result.stdout


def test_audit_commands_are_in_the_help(runner: CliRunner) -> None:
    result = runner.invoke(main, ["audit", "--help"])
    for command in ("list", "show", "verify", "replay"):
        assert command in result.stdout
    assert (ROOT / "cli.py").read_text("utf-8").count("@audit_group.command") == 4
