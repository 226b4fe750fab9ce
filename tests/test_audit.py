"""The audit log: chain, verification, pseudonymisation, keys and replay (both stores)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.audit_support import (
    EXAMPLE_FILES,
    KEY,
    OTHER_KEY,
    SECRET_ID,
    STORES,
    TMS_CASE,
    TMS_RULE,
    edit_record,
    fill_with_examples,
    log_bytes,
    reseal,
    rewrite,
    rules_with_retired_tms,
    small_case,
    stored_texts,
)
from tests.conftest import AT
from trd_cds import Engine, Report, TrdCdsError
from trd_cds.engine.audit import ENV_KEY, GENESIS, AuditError, AuditLog, open_log


@pytest.fixture(params=STORES)
def log_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    directory.mkdir()
    return directory / f"audit.{request.param}"


@pytest.fixture
def filled(log_path: Path, engine: Engine) -> Path:
    with open_log(log_path, key=KEY) as log:
        fill_with_examples(log, engine)
    return log_path


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)


def _verify(path: Path, anchor: str | None = None) -> Any:
    with open_log(path) as log:
        return log.verify(anchor)


# --------------------------------------------------------------------------- the chain


def test_records_form_a_verified_chain(filled: Path) -> None:
    with open_log(filled) as log:
        records = list(log.records())
        result = log.verify()
        assert log.get(3) == records[2]
        assert log.get(records[4].record_id) == records[4]
        with pytest.raises(KeyError):
            log.get("rec-000000000000000000000000")
    assert [r.seq for r in records] == list(range(1, len(EXAMPLE_FILES) + 1))
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert len({r.record_id for r in records}) == len(records)
    assert result.ok and result.problem is None
    assert result.count == len(EXAMPLE_FILES)
    assert result.head == records[-1].hash


def test_a_record_is_found_without_parsing_the_log(
    log_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looking a record id up (what CDS feedback does per entry) is one indexed query in a
    database log and a text search in a JSON Lines log, never a parse of every record; the
    record is the one the log holds, and feedback naming it does not stand in for it."""
    with open_log(log_path, key=KEY) as log:
        fill_with_examples(log, engine)
        records = list(log.records())

        def no_scan() -> Any:
            raise AssertionError("the whole log was read")

        log.append_feedback(records[4].record_id, {"outcome": "accepted"}, "trd-plan")
        monkeypatch.setattr(log, "records", no_scan)
        assert log.get(records[4].record_id) == records[4]
        with pytest.raises(KeyError):
            log.get("rec-000000000000000000000000")


def test_a_record_says_what_an_auditor_asks(filled: Path) -> None:
    with open_log(filled) as log:
        record = next(r for r in log.records() if r.case_id == TMS_CASE)
    report = record.report()
    assert record.report_json == report.to_json()
    assert record.provenance == report.provenance.model_dump(mode="json")
    assert record.outcome["recommended"] == [r.option.value for r in report.recommendations]
    assert "tms" in record.outcome["recommended"]
    assert any(t.rule == f"{TMS_RULE}@1" for t in report.trace)  # which rule, which version
    assert record.report_id == report.provenance.report_id
    assert record.evaluated_at == AT.isoformat()


def test_identical_evaluations_give_identical_bytes(tmp_path: Path, engine: Engine) -> None:
    """Nothing from the clock, host or process: two logs of the same work are the same."""
    for name in ("a.jsonl", "b.jsonl", "c.sqlite"):
        with open_log(tmp_path / name, key=KEY) as log:
            fill_with_examples(log, engine)
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    assert stored_texts(tmp_path / "c.sqlite") == first.decode("utf-8").splitlines()


# ------------------------------------------------------------------ tamper detection


def _set_outcome(data: dict[str, Any]) -> None:
    data["outcome"]["recommended"] = ["tms"]


def test_tampered_record_is_detected(filled: Path) -> None:
    rewrite(filled, lambda t: [*t[:2], edit_record(t[2], _set_outcome), *t[3:]])
    result = _verify(filled)
    assert not result.ok
    assert result.problem.kind == "tampered"
    assert (result.problem.seq, result.problem.position, result.count) == (3, 3, 2)


def test_tampered_report_text_is_detected(filled: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["report"] = data["report"].replace('"strength": "offer"', '"strength": "consider"', 1)

    rewrite(filled, lambda t: [t[0], edit_record(t[1], change), *t[2:]])
    result = _verify(filled)
    assert (result.ok, result.problem.kind, result.problem.seq) == (False, "tampered", 2)


def test_deleted_record_is_detected(filled: Path) -> None:
    rewrite(filled, lambda t: [*t[:4], *t[5:]])
    result = _verify(filled)
    assert not result.ok
    assert result.problem.kind == "sequence_gap"
    assert (result.problem.seq, result.problem.position, result.count) == (6, 5, 4)
    assert "5 missing" in result.problem.detail


def test_deleted_first_record_is_detected(filled: Path) -> None:
    rewrite(filled, lambda t: t[1:])
    result = _verify(filled)
    assert (result.ok, result.problem.kind, result.count) == (False, "sequence_gap", 0)


def test_reordered_records_are_detected(filled: Path) -> None:
    rewrite(filled, lambda t: [t[0], t[2], t[1], *t[3:]])
    result = _verify(filled)
    assert not result.ok
    assert (result.problem.position, result.problem.seq, result.count) == (2, 3, 1)
    assert result.problem.kind == "sequence_gap"
    assert "deleted or moved" in result.problem.detail


def test_duplicated_record_is_detected(tmp_path: Path, engine: Engine) -> None:
    filled = tmp_path / "audit.jsonl"  # SQLite's UNIQUE record_id refuses a duplicate row
    with open_log(filled, key=KEY) as log:
        fill_with_examples(log, engine)
    rewrite(filled, lambda t: [*t[:3], t[2], *t[3:]])
    result = _verify(filled)
    assert (result.problem.kind, result.problem.position, result.count) == ("broken_link", 4, 3)


def _reseal_outcome(data: dict[str, Any]) -> None:
    """Edit a record and recompute its own hash: what a careful intruder would do."""
    data["outcome"]["recommended"] = ["tms"]
    _reseal_body(data)


def _reseal_note(data: dict[str, Any]) -> None:
    data["recovered_tail"] = {"note": "a field no cross-check covers"}
    _reseal_body(data)


def test_a_resealed_record_breaks_the_next_link(filled: Path) -> None:
    rewrite(filled, lambda t: [t[0], edit_record(t[1], _reseal_note), *t[2:]])
    result = _verify(filled)
    assert (result.problem.kind, result.problem.seq, result.count) == ("broken_link", 3, 2)
    assert "prev_hash does not match record 2" in result.problem.detail


def test_a_resealed_summary_must_match_its_report(filled: Path) -> None:
    rewrite(filled, lambda t: [t[0], edit_record(t[1], _reseal_outcome), *t[2:]])
    result = _verify(filled)
    assert (result.problem.kind, result.problem.seq) == ("inconsistent", 2)


def test_anchor_catches_a_rewritten_or_cut_tail(filled: Path) -> None:
    head = _verify(filled).head
    rewrite(filled, lambda t: t[:-1])  # cut the last record at a line boundary
    assert _verify(filled).ok  # a hash chain alone cannot see this ...
    result = _verify(filled, anchor=head)  # ... an anchor kept elsewhere can
    assert (result.ok, result.problem.kind) == (False, "anchor")
    assert _verify(filled, anchor=_verify(filled).head).ok


def test_malformed_line_is_detected(filled: Path) -> None:
    rewrite(filled, lambda t: [*t[:2], '{"not": "a record"}', *t[2:]])
    result = _verify(filled)
    assert (result.problem.kind, result.problem.position, result.count) == ("malformed", 3, 2)
    with open_log(filled) as log, pytest.raises(AuditError, match="position 3"):
        list(log.records())


def test_append_refuses_to_chain_onto_a_bad_last_record(filled: Path, engine: Engine) -> None:
    rewrite(filled, lambda t: [*t[:-1], edit_record(t[-1], _set_outcome)])
    before = stored_texts(filled)
    case = small_case("after-tamper")
    with open_log(filled, key=KEY) as log, pytest.raises(AuditError, match="does not verify"):
        log.append(engine.evaluate(case, at=AT), case)
    assert stored_texts(filled) == before


# ------------------------------------------------------------------ torn last line (JSONL)


def test_torn_last_line_is_reported_then_repaired(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "audit.jsonl"
    with open_log(path, key=KEY) as log:
        fill_with_examples(log, engine)
    data = path.read_bytes()
    cut = len(data) - 1000  # inside the last record: what a killed writer leaves
    path.write_bytes(data[:cut])
    torn = data[data.rindex(b"\n", 0, cut) + 1 : cut]

    result = _verify(path)
    assert (result.ok, result.problem.kind, result.count) == (
        False,
        "truncated",
        len(data.splitlines()) - 1,
    )
    with open_log(path) as log:
        assert len(list(log.records())) == result.count  # readers skip the torn line

    case = small_case("after-crash")
    with open_log(path, key=KEY) as log:
        record = log.append(engine.evaluate(case, at=AT), case)
        after = log.verify()
    assert record.seq == result.count + 1
    assert record.recovered_tail is not None
    assert record.recovered_tail["length"] == len(torn)
    assert record.recovered_tail["sha256"] == "sha256:" + hashlib.sha256(torn).hexdigest()
    assert (tmp_path / "audit.jsonl.torn").read_bytes() == torn + b"\n"
    assert after.ok and after.count == record.seq and after.repairs == (record.seq,)


def test_a_refused_append_leaves_a_torn_line_untouched(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "audit.jsonl"
    with open_log(path, key=KEY) as log:
        fill_with_examples(log, engine)
    path.write_bytes(path.read_bytes()[:-50])
    before = path.read_bytes()
    case = small_case("no-key")
    with open_log(path) as log, pytest.raises(AuditError, match="no pseudonymisation key"):
        log.append(engine.evaluate(case, at=AT), case)
    assert path.read_bytes() == before
    assert not (tmp_path / "audit.jsonl.torn").exists()


# ------------------------------------------------------------------- pseudonymisation


def _append_small(path: Path, engine: Engine, key: bytes | None, **kw: Any) -> Any:
    case = small_case(kw.pop("case_id", "small-1"), kw.pop("patient_id", SECRET_ID))
    with open_log(path, key=key, **kw) as log:
        return log.append(engine.evaluate(case, at=AT), case)


def test_raw_patient_id_and_key_never_reach_the_log(log_path: Path, engine: Engine) -> None:
    record = _append_small(log_path, engine, KEY)
    written = log_bytes(log_path.parent)
    assert SECRET_ID.encode() not in written
    assert KEY not in written and KEY.hex().encode() not in written
    assert record.case["patient"]["id"] == record.subject["pseudonym"]
    assert record.subject["pseudonym"].encode() in written


def test_pseudonym_is_the_documented_keyed_hmac(tmp_path: Path, engine: Engine) -> None:
    first = _append_small(tmp_path / "a.jsonl", engine, KEY)
    again = _append_small(tmp_path / "b.sqlite", engine, KEY, case_id="other-case")
    other_key = _append_small(tmp_path / "c.jsonl", engine, OTHER_KEY)
    other_id = _append_small(tmp_path / "d.jsonl", engine, KEY, patient_id="MRN-0002")
    mac = hmac.new(KEY, b"trd-cds/patient.id/v1\x00" + SECRET_ID.encode(), "sha256")
    assert first.subject["pseudonym"] == "psn-" + mac.hexdigest()  # stable across versions
    assert again.subject["pseudonym"] == first.subject["pseudonym"]  # same id + key
    assert other_key.subject["pseudonym"] != first.subject["pseudonym"]  # different key
    assert other_key.subject["key_id"] != first.subject["key_id"]
    assert other_id.subject["pseudonym"] != first.subject["pseudonym"]


def test_key_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
) -> None:
    monkeypatch.setenv(ENV_KEY, KEY.decode())
    from_env = _append_small(tmp_path / "a.jsonl", engine, None)
    given = _append_small(tmp_path / "b.jsonl", engine, KEY)
    assert from_env.subject == given.subject
    assert KEY not in (tmp_path / "a.jsonl").read_bytes()


def test_no_key_refuses_identifiers_before_writing(log_path: Path, engine: Engine) -> None:
    with pytest.raises(AuditError, match=ENV_KEY) as info:
        _append_small(log_path, engine, None)
    assert isinstance(info.value, TrdCdsError)
    assert not log_path.exists()
    anonymous = _append_small(log_path, engine, None, patient_id=None)  # no id: fine
    assert anonymous.subject == {"pseudonym": None, "key_id": None, "identifiers": False}
    assert _verify(log_path).ok


def test_identifiers_only_when_asked(tmp_path: Path, engine: Engine) -> None:
    record = _append_small(tmp_path / "a.jsonl", engine, None, store_identifiers=True)
    assert record.case["patient"]["id"] == SECRET_ID
    assert record.subject["identifiers"] is True
    assert SECRET_ID.encode() in (tmp_path / "a.jsonl").read_bytes()


def test_unknown_log_type_and_missing_log_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"\.jsonl, \.sqlite or \.db"):
        open_log(tmp_path / "a.csv", key=KEY)
    with pytest.raises(AuditError, match="no such audit log"):
        list(open_log(tmp_path / "missing.jsonl").records())
    with pytest.raises(AuditError, match="no such audit log"):
        open_log(tmp_path / "missing.sqlite").verify()
    assert not (tmp_path / "missing.sqlite").exists()


def test_report_must_come_from_the_case(log_path: Path, engine: Engine) -> None:
    case, other = small_case("a"), small_case("a")
    other["patient"]["age"] = 46
    with open_log(log_path, key=KEY) as log, pytest.raises(AuditError, match="not computed"):
        log.append(engine.evaluate(case, at=AT), other)


def test_patient_id_does_not_change_the_report(engine: Engine) -> None:
    reports = {
        engine.evaluate(small_case("x", pid), at=AT).to_json() for pid in ("A-1", "B-2", None)
    }
    assert len(reports) == 1


def test_find_a_patients_records(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "audit.sqlite"
    with open_log(path, key=KEY) as log:
        for i, pid in enumerate((SECRET_ID, "MRN-0002", SECRET_ID, None)):
            case = small_case(f"c{i}", pid)
            log.append(engine.evaluate(case, at=AT), case)
        assert [r.case_id for r in log.for_patient(SECRET_ID)] == ["c0", "c2"]
    with open_log(path) as log, pytest.raises(AuditError, match="needs the key"):
        list(log.for_patient(SECRET_ID))


def test_repr_does_not_show_the_key(tmp_path: Path) -> None:
    log: AuditLog = open_log(tmp_path / "a.jsonl", key=KEY)
    assert KEY.decode() not in repr(log) and "pseudonymising=True" in repr(log)


# --------------------------------------------------------------------------- replay


def test_replay_reproduces_every_report_byte_for_byte(filled: Path, engine: Engine) -> None:
    with open_log(filled) as log:
        result = log.replay(engine)
    assert result.ok
    assert [i.status for i in result.items] == ["identical"] * len(EXAMPLE_FILES)


def test_replay_with_a_changed_rule_names_outcomes_and_rule(filled: Path, tmp_path: Path) -> None:
    changed = Engine(rules_with_retired_tms(tmp_path))
    with open_log(filled) as log:
        result = log.replay(changed)
    assert result.ok  # a ruleset change explains the differences
    assert {i.status for i in result.items} == {"changed"}
    item = next(i for i in result.items if i.case_id == TMS_CASE)
    assert any("ruleset" in c for c in item.config)
    tms = [o for o in item.outcome if o.item == "tms"]
    assert len(tms) == 1
    assert (tms[0].what, tms[0].change) == ("recommended", "removed")
    assert tms[0].old_rules == (f"{TMS_RULE}@1",) and tms[0].new_rules == ()
    (rule,) = [r for r in item.rules if r.rule_id == TMS_RULE]
    assert (rule.old, rule.new) == (f"{TMS_RULE}@1", None)
    assert rule.now == f"now {TMS_RULE}@2, retired"
    untouched = [i for i in result.items if not any(r.rule_id == TMS_RULE for r in i.rules)]
    assert untouched and all(not i.outcome for i in untouched)


def test_replay_reports_an_unexplained_difference(log_path: Path, engine: Engine) -> None:
    """Same engine, rules and settings but another report: e.g. code changed, no version bump."""
    case = small_case("drift")
    report = engine.evaluate(case, at=AT)
    data = json.loads(report.to_json())
    data["recommendations"][0]["rationale"] = ["a rationale the engine does not write"]
    drifted = Report.model_validate(data)
    with open_log(log_path, key=KEY) as log:
        log.append(drifted, case)
        assert log.verify().ok  # the record itself is intact ...
        result = log.replay(engine)  # ... but the engine no longer produces it
    assert not result.ok
    (item,) = result.items
    assert item.status == "mismatch"
    assert "a rationale the engine does not write" in item.detail


def test_replay_names_a_changed_conflict_policy(log_path: Path, engine: Engine) -> None:
    """A report written under an older policy (one step fewer) replays as 'changed', naming
    the policy step, not as an unexplained mismatch."""
    case = small_case("policy")
    data = json.loads(engine.evaluate(case, at=AT).to_json())
    policy = data["provenance"]["conflict_policy"]
    data["provenance"]["conflict_policy"] = [p for p in policy if p != policy[-1]]
    with open_log(log_path, key=KEY) as log:
        log.append(Report.model_validate(data), case)
        result = log.replay(engine)
    (item,) = result.items
    assert (item.status, item.config) == ("changed", (f"conflict policy: +{policy[-1]}",))
    assert result.ok


# ---------------------------------------------------------------------- SQLite specifics


def test_sqlite_row_edits_are_detected(tmp_path: Path, engine: Engine) -> None:
    import sqlite3

    path = tmp_path / "audit.sqlite"
    with open_log(path, key=KEY) as log:
        fill_with_examples(log, engine)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("DELETE FROM audit_records WHERE seq = 4")
    conn.close()
    result = _verify(path)
    assert (result.problem.kind, result.problem.seq, result.count) == ("sequence_gap", 5, 3)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE audit_records SET hash = 'sha256:00' WHERE seq = 2")
    conn.close()
    result = _verify(path)
    assert (result.problem.kind, result.problem.seq, result.count) == ("tampered", 2, 1)
    assert "row column hash" in result.problem.detail


def test_a_raw_id_slipped_into_a_record_is_inconsistent(log_path: Path, engine: Engine) -> None:
    _append_small(log_path, engine, KEY)

    def leak(data: dict[str, Any]) -> None:
        data["case"]["patient"]["id"] = SECRET_ID
        _reseal_body(data)

    rewrite(log_path, lambda t: [edit_record(t[0], leak)])
    result = _verify(log_path)
    assert (result.problem.kind, result.problem.seq) == ("inconsistent", 1)
    assert "not the record's pseudonym" in result.problem.detail


def _reseal_body(data: dict[str, Any]) -> None:
    reseal(data)
