"""Feedback records in the audit log (kind ``feedback``): linked, chained, MACed, verified.

Built with the library (no HTTP) so each property is checked in both stores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cds_support import AT, bundle, engine
from trd_cds.engine.audit import open_log
from trd_cds.engine.audit.render import record_line, record_text
from trd_cds.interop.fhir import case_from_fhir
from trd_cds.schemas.errors import AuditError

KEY = b"a" * 32
FEEDBACK: dict[str, Any] = {
    "card": "6f723696-1fb9-8000-acd5-cbc70d9636f9",
    "outcome": "overridden",
    "accepted_suggestions": [],
    "override_reason": {
        "reason": {
            "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
            "code": "patient-refuses",
            "display": None,
        },
        "user_comment": None,
    },
    "outcome_timestamp": "2026-11-24T09:05:00Z",
}


@pytest.fixture(params=["jsonl", "sqlite"])
def log_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return tmp_path / f"audit.{request.param}"


def _evaluate_into(path: Path) -> str:
    derived = case_from_fhir(bundle("02"), at=AT)
    report = engine().evaluate(derived.case, at=AT)
    with open_log(path, key=KEY) as log:
        return log.append(report, derived.case).record_id


def test_feedback_record_links_chains_and_verifies(log_path: Path) -> None:
    rec = _evaluate_into(log_path)
    with open_log(log_path, key=KEY) as log:
        fb = log.append_feedback(rec, FEEDBACK, "trd-plan")
        assert fb.kind == "feedback" and fb.seq == 2 and fb.keyed
        assert fb.provenance == {
            "links": rec,
            "report_id": log.get(rec).report_id,
            "service": "trd-plan",
        }
        assert fb.case == {} and fb.report_json == ""
        result = log.verify()
        assert result.ok and result.authenticated and result.count == 2, str(result)
        again = log.get(fb.record_id)
        assert again == fb  # read back exactly (kind included)
        assert "feedback on " + rec in record_line(again)
        assert "patient-refuses" in record_text(again)
        replay = log.replay(engine())
        assert replay.ok and [i.record_id for i in replay.items] == [rec]


def test_feedback_needs_an_evaluation_record(log_path: Path) -> None:
    rec = _evaluate_into(log_path)
    with open_log(log_path, key=KEY) as log:
        with pytest.raises(AuditError, match="no evaluation record"):
            log.append_feedback("rec-" + "0" * 24, FEEDBACK, "trd-plan")
        fb = log.append_feedback(rec, FEEDBACK, "trd-plan")
        with pytest.raises(AuditError, match="not an evaluation record"):
            log.append_feedback(fb.record_id, FEEDBACK, "trd-plan")


def test_feedback_without_the_key_is_refused_on_a_keyed_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    rec = _evaluate_into(path)
    with open_log(path, key=None) as log, pytest.raises(AuditError, match="keyed"):
        log.append_feedback(rec, FEEDBACK, "trd-plan")


def _resealed(path: Path, change: dict[str, Any]) -> None:
    """Rewrite the last JSONL record with ``change`` and a correct hash (an insider without
    the key): the chain holds, so only the consistency check can catch it."""
    from dataclasses import replace

    from trd_cds.engine.audit.record import body_hash, parse_record, record_id_for

    lines = path.read_text(encoding="utf-8").splitlines()
    record = replace(parse_record(lines[-1]), **change)
    digest = body_hash(record.body())
    record = replace(record, hash=digest, record_id=record_id_for(digest))
    lines[-1] = record.to_json()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"provenance": {"links": "rec-" + "1" * 24, "report_id": "x", "service": "s"}}, "links"),
        ({"subject": {"pseudonym": "other", "key_id": None, "identifiers": False}}, "subject"),
        ({"case": {"case_id": "smuggled"}}, "carries a case"),
    ],
)
def test_verify_catches_a_feedback_record_that_does_not_fit(
    tmp_path: Path, change: dict[str, Any], why: str
) -> None:
    path = tmp_path / "audit.jsonl"
    rec = _evaluate_into(path)
    with open_log(path, key=KEY) as log:
        log.append_feedback(rec, FEEDBACK, "trd-plan")
    _resealed(path, change)
    result = open_log(path).verify()  # without the key: the chain is intact
    assert not result.ok and result.problem is not None
    assert result.problem.kind == "inconsistent" and why in result.problem.detail, str(result)


def test_unknown_record_kind_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _evaluate_into(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["kind"] = "opinion"
    path.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    result = open_log(path).verify()
    assert result.problem is not None and result.problem.kind == "malformed"


def test_an_evaluation_relabelled_as_feedback_does_not_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _evaluate_into(path)
    _evaluate_into(path)
    _resealed(path, {"kind": "feedback"})  # even with a fresh hash: it links to nothing
    result = open_log(path).verify()
    assert result.problem is not None and result.problem.kind == "inconsistent", str(result)
