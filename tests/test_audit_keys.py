"""The audit key: refused keys stop only what needs them, wrong keys are named, the MAC is the
documented formula; file modes; logs written by the previous release (format 1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.audit_support import (
    KEY,
    OTHER_KEY,
    SECRET_ID,
    STORES,
    edit_record,
    rewrite,
    small_case,
    stored_texts,
    to_format_1,
)
from tests.conftest import AT
from trd_cds import Engine
from trd_cds.cli import EXIT_AUDIT, main
from trd_cds.engine.audit import ENV_KEY, FORMAT, FORMAT_V1, AuditError, open_log

ENVB = ENV_KEY.encode()


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)


@pytest.fixture(params=STORES)
def keyed(request: pytest.FixtureRequest, tmp_path: Path, engine: Engine) -> Path:
    """A log of three cases written with KEY (two patients, one anonymous)."""
    path = tmp_path / f"audit.{request.param}"
    with open_log(path, key=KEY) as log:
        for i, pid in enumerate((SECRET_ID, None, "MRN-0002")):
            case = small_case(f"c{i}", pid)
            log.append(engine.evaluate(case, at=AT), case)
    return path


def _append(path: Path, engine: Engine, key: bytes | None, case_id: str = "more") -> Any:
    case = small_case(case_id, None)
    with open_log(path, key=key) as log:
        return log.append(engine.evaluate(case, at=AT), case)


# ------------------------------------------------------------------------- the MAC


def test_each_record_carries_the_documented_mac(keyed: Path) -> None:
    """mac = HMAC-SHA256(HKDF-SHA256(key, salt, info), hash); key_id its fingerprint."""
    prk = hmac.new(b"trd-cds/audit-key/v2", KEY, hashlib.sha256).digest()
    subkey = hmac.new(prk, b"trd-cds/audit/chain-mac/v2\x01", hashlib.sha256).digest()
    fingerprint = "key-" + hmac.new(KEY, b"trd-cds/audit-key-id/v1", "sha256").hexdigest()[:16]
    with open_log(keyed) as log:
        records = list(log.records())
    for record in records:
        assert record.format == FORMAT and record.kind == "evaluation"
        assert record.key_id == fingerprint
        want = hmac.new(subkey, record.hash.encode(), hashlib.sha256).hexdigest()
        assert record.mac == "hmac-sha256:" + want
    assert subkey not in b"".join(p.read_bytes() for p in keyed.parent.iterdir())
    pseudonym = records[0].subject["pseudonym"]  # the pseudonym subkey is another value
    assert (
        pseudonym.removeprefix("psn-") != hmac.new(subkey, SECRET_ID.encode(), "sha256").hexdigest()
    )


def test_the_audited_case_is_hashed_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
) -> None:
    from trd_cds.engine.audit import record as record_module

    calls: list[object] = []
    real = record_module.case_input_hash

    def counting(case: Any) -> str:
        calls.append(case)
        return real(case)

    monkeypatch.setattr(record_module, "case_input_hash", counting)
    case = small_case("once")
    report = engine.evaluate(case, at=AT)
    with open_log(tmp_path / "a.jsonl", key=KEY) as log:
        log.append(report, case)
    assert len(calls) == 1


def test_an_unknown_record_kind_is_malformed(keyed: Path) -> None:
    # ("feedback" was unknown before CDS Hooks feedback records; "opinion" still is)
    rewrite(keyed, lambda t: [*t[:-1], edit_record(t[-1], lambda d: d.update(kind="opinion"))])
    with open_log(keyed, key=KEY) as log:
        result = log.verify()
    assert result.problem is not None and result.problem.kind == "malformed"
    assert "unknown record kind 'opinion'" in result.problem.detail


# ------------------------------------------------------------------ refused keys


@pytest.mark.parametrize(
    ("env", "why"),
    [
        (b"short", "at least 16 bytes (got 5)"),
        (KEY + b"\n", "whitespace or a newline"),
        (b" " + KEY, "whitespace or a newline"),
    ],
)
def test_a_refused_key_stops_only_what_needs_it(
    monkeypatch: pytest.MonkeyPatch, keyed: Path, engine: Engine, env: bytes, why: str
) -> None:
    monkeypatch.setitem(os.environb, ENVB, env)
    with open_log(keyed) as log:
        assert log.key_problem is not None and why in log.key_problem
        assert any(why in w for w in log.warnings)
        assert len(list(log.records())) == 3  # reading needs no key
        assert log.get(1).seq == 1
        result = log.verify()
        assert result.ok and result.authenticity == "not_checked"
        assert why in str(result) and "NOT checked (the key was not used" in str(result)
        with pytest.raises(AuditError, match=re.escape(why)):
            list(log.for_patient(SECRET_ID))
        case = small_case("refused", None)
        with pytest.raises(AuditError, match=f"cannot append: .*{re.escape(why)}"):
            log.append(engine.evaluate(case, at=AT), case)


def test_a_short_library_key_is_refused_on_append(tmp_path: Path, engine: Engine) -> None:
    log = open_log(tmp_path / "a.jsonl", key=b"short")  # opening is fine
    case = small_case("short", None)
    with pytest.raises(AuditError, match="at least 16 bytes"):
        log.append(engine.evaluate(case, at=AT), case)
    assert not (tmp_path / "a.jsonl").exists()


def test_a_library_key_is_used_byte_for_byte(tmp_path: Path, engine: Engine) -> None:
    """Only an environment key is refused for surrounding whitespace: random bytes may end
    in a newline."""
    key = KEY + b"\n"
    record = _append(tmp_path / "a.jsonl", engine, key)
    with open_log(tmp_path / "a.jsonl", key=key) as log:
        assert log.verify().authenticated
    assert record.mac is not None


def test_a_non_utf8_key_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
) -> None:
    key = b"\xff\xfe\x80 not utf-8 \xc3\x28 key"
    monkeypatch.setitem(os.environb, ENVB, key)
    path = tmp_path / "audit.jsonl"
    case = small_case("latin")
    with open_log(path) as log:
        record = log.append(engine.evaluate(case, at=AT), case)
        assert log.verify().authenticated
        assert [r.case_id for r in log.for_patient(SECRET_ID)] == ["latin"]
    want = hmac.new(key, b"trd-cds/patient.id/v1\x00" + SECRET_ID.encode(), "sha256")
    assert record.subject["pseudonym"] == "psn-" + want.hexdigest()
    result = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "authenticity: verified" in result.stdout


# -------------------------------------------------------------------- wrong keys


def test_a_wrong_key_is_named_not_silent(keyed: Path) -> None:
    with open_log(keyed, key=OTHER_KEY) as log:
        with pytest.raises(AuditError, match="the key does not match this log"):
            log.for_patient(SECRET_ID)
        result = log.verify()
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == ("wrong_key", 1)


def test_a_keyed_log_takes_appends_only_with_its_key(keyed: Path, engine: Engine) -> None:
    before = stored_texts(keyed)
    with pytest.raises(AuditError, match="appending needs its key"):
        _append(keyed, engine, None)
    with pytest.raises(AuditError, match="the key does not match this log"):
        _append(keyed, engine, OTHER_KEY)
    assert stored_texts(keyed) == before

    def forge(data: dict[str, Any]) -> None:
        data["mac"] = "hmac-sha256:" + "0" * 64

    rewrite(keyed, lambda t: [*t[:-1], edit_record(t[-1], forge)])
    with pytest.raises(AuditError, match="MAC that does not verify"):
        _append(keyed, engine, KEY)


def test_cli_keys(monkeypatch: pytest.MonkeyPatch, keyed: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for env in (b"short", KEY + b"\n"):
        monkeypatch.setitem(os.environb, ENVB, env)
        for args in (["verify", str(keyed)], ["list", str(keyed)], ["show", str(keyed), "1"]):
            result = runner.invoke(main, ["audit", *args])
            assert result.exit_code == 0, (env, args, result.output)
            assert "warning: the audit key is not used" in result.stderr
        patient = runner.invoke(main, ["audit", "list", str(keyed), "--patient", SECRET_ID])
        assert patient.exit_code == 1 and "finding a patient needs the key" in patient.stderr
        example = Path(__file__).resolve().parent.parent / "examples"
        evaluated = runner.invoke(
            main,
            [
                "evaluate",
                str(example),
                "--audit",
                str(tmp_path / "x.jsonl"),
                "--at",
                AT.isoformat(),
            ],
        )
        assert evaluated.exit_code == EXIT_AUDIT and "cannot append" in evaluated.stderr
    monkeypatch.setitem(os.environb, ENVB, OTHER_KEY)
    wrong = runner.invoke(main, ["audit", "list", str(keyed), "--patient", SECRET_ID])
    assert wrong.exit_code == 1
    assert "the key does not match this log" in wrong.stderr and wrong.stdout == ""
    verify = runner.invoke(main, ["audit", "verify", str(keyed)])
    assert verify.exit_code == 1 and "wrong_key" in verify.stdout
    monkeypatch.delitem(os.environb, ENVB)
    unkeyed = runner.invoke(main, ["audit", "verify", str(keyed)])
    assert unkeyed.exit_code == 0
    assert "authenticity: NOT checked (no key)" in unkeyed.stdout


# ----------------------------------------------------------------------- file modes


def test_an_open_log_file_gets_a_warning(keyed: Path) -> None:
    assert stat.S_IMODE(keyed.stat().st_mode) == 0o600
    with open_log(keyed) as log:
        assert log.warnings == ()
    keyed.chmod(0o644)
    with open_log(keyed) as log:
        (warning,) = log.warnings
    assert "mode 0644" in warning and "chmod 600" in warning and str(keyed) in warning
    result = CliRunner().invoke(main, ["audit", "list", str(keyed)])
    assert result.exit_code == 0 and "warning: " in result.stderr and "0644" in result.stderr


# ------------------------------------------------------------ format 1 (previous release)


def test_format_1_logs_are_read_verified_and_continued(keyed: Path, engine: Engine) -> None:
    rewrite(keyed, to_format_1)
    with open_log(keyed) as log:
        records = list(log.records())
        plain = log.verify()
        assert log.replay(engine).ok
    assert [r.format for r in records] == [FORMAT_V1] * 3 and not any(r.keyed for r in records)
    assert plain.ok and plain.unkeyed == 3 and plain.authenticity == "not_checked"
    with open_log(keyed, key=KEY) as log:
        keyed_check = log.verify()
        assert [r.case_id for r in log.for_patient(SECRET_ID)] == ["c0"]  # pseudonyms link
    assert not keyed_check.ok and keyed_check.problem is not None
    assert keyed_check.problem.kind == "unauthenticated"
    assert "no record carries a MAC" in str(keyed_check)

    record = _append(keyed, engine, KEY)
    assert (record.format, record.seq, record.prev_hash) == (FORMAT, 4, records[-1].hash)
    with open_log(keyed, key=KEY) as log:
        after = log.verify()
    assert after.authenticated and after.unkeyed == 3
    assert "records 1–3 carry no MAC and are vouched for by the chain of record 4" in str(after)
    data = json.loads(stored_texts(keyed)[0])
    assert data["format"] == FORMAT_V1 and "mac" not in data
