"""Audit records: what one evaluation leaves in the audit log, and how the chain is checked.

A record is one line of canonical JSON (sorted keys, no spaces, UTF-8)::

    {"case": {...}, "case_id": "...", "format": "trd-cds-audit/1", "hash": "sha256:...",
     "outcome": {...}, "prev_hash": "sha256:...", "provenance": {...}, "record_id": "rec-...",
     "recovered_tail": null, "report": "<the report's to_json() text>", "seq": 1,
     "subject": {...}}

* ``hash`` is the sha256 of the canonical JSON of every other field except ``record_id``
  (the *body*, which includes ``prev_hash``), so each record seals its predecessor: editing,
  deleting or reordering a record breaks the chain after it. ``record_id`` is ``rec-`` and the
  first 24 hex digits of ``hash``. The first record's ``prev_hash`` is :data:`GENESIS`.
* ``report`` is the exact text of :meth:`Report.to_json` (it holds the trace and ``why_not``),
  so a replay can be compared byte for byte. ``provenance`` and ``outcome`` (recommended
  options in order, blocked options, gates, cautions) repeat what an auditor searches for.
* ``case`` is the validated input case. Its ``patient.id`` is replaced by a keyed pseudonym
  (``psn-`` + HMAC-SHA256 of the id under the audit key) unless identifiers are stored on
  purpose; ``subject`` says which (``pseudonym``, ``key_id`` — a fingerprint of the key, never
  the key — and ``identifiers``). The report's ``input_hash`` leaves ``patient.id`` out, so the
  stored case still hashes to it and replays to the same bytes.
* ``recovered_tail`` is null, or notes that this writer found the torn end of an interrupted
  write and moved it aside (see :mod:`.store`).

Nothing in a record depends on the wall clock, the host or the process: the same evaluations
appended in the same order give the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from ...schemas.canonical import canonical_json, sha256
from ...schemas.case import Case
from ...schemas.errors import AuditError, CaseError
from ...schemas.report import Report
from ..core import case_input_hash, parse_case

FORMAT = "trd-cds-audit/1"
GENESIS = "sha256:" + "0" * 64
PSEUDONYM_PREFIX = "psn-"
_BODY_KEYS = frozenset(
    {
        "format",
        "seq",
        "prev_hash",
        "case_id",
        "provenance",
        "outcome",
        "subject",
        "case",
        "report",
        "recovered_tail",
    }
)
_RECORD_KEYS = _BODY_KEYS | {"hash", "record_id"}


def pseudonym(key: bytes, patient_id: str) -> str:
    """The keyed pseudonym of a patient id: stable for one key, unlinkable without it."""
    mac = hmac.new(key, b"trd-cds/patient.id/v1\x00" + patient_id.encode("utf-8"), "sha256")
    return PSEUDONYM_PREFIX + mac.hexdigest()


def key_id(key: bytes) -> str:
    """A fingerprint that tells which key made a pseudonym (for key rotation), not the key."""
    return "key-" + hmac.new(key, b"trd-cds/audit-key-id/v1", "sha256").hexdigest()[:16]


def outcome_of(report: Report) -> dict[str, list[str]]:
    return {
        "recommended": [r.option.value for r in report.recommendations],
        "blocked": [b.option.value for b in report.blocked],
        "gates": [g.gate for g in report.gates],
        "cautions": [c.option.value for c in report.cautions],
    }


@dataclass(frozen=True)
class AuditRecord:
    """One evaluation in the audit log (see the module docstring for the fields)."""

    seq: int
    record_id: str
    hash: str
    prev_hash: str
    case_id: str
    provenance: dict[str, Any]
    outcome: dict[str, Any]
    subject: dict[str, Any]
    case: dict[str, Any]
    report_json: str
    recovered_tail: dict[str, Any] | None = None

    @property
    def report_id(self) -> str:
        return str(self.provenance.get("report_id", ""))

    @property
    def evaluated_at(self) -> str:
        return str(self.provenance.get("evaluated_at", ""))

    def body(self) -> dict[str, Any]:
        """Everything the record hash covers."""
        return {
            "format": FORMAT,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "case_id": self.case_id,
            "provenance": self.provenance,
            "outcome": self.outcome,
            "subject": self.subject,
            "case": self.case,
            "report": self.report_json,
            "recovered_tail": self.recovered_tail,
        }

    def to_json(self) -> str:
        """The stored form: one line of canonical JSON, without the newline."""
        return canonical_json({**self.body(), "hash": self.hash, "record_id": self.record_id})

    def report(self) -> Report:
        return Report.model_validate_json(self.report_json)

    def input_case(self) -> Case:
        """The stored input (patient id pseudonymised), ready for ``Engine.evaluate``."""
        return parse_case(self.case, f"audit record {self.seq}")


def body_hash(body: dict[str, Any]) -> str:
    return sha256(canonical_json(body))


def record_id_for(record_hash: str) -> str:
    return "rec-" + record_hash.removeprefix("sha256:")[:24]


class RecordFormatError(ValueError):
    """A stored line or row is not an audit record."""


def parse_record(text: str) -> AuditRecord:
    """Read a stored record without checking its hash (see :func:`seal_problem`)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordFormatError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordFormatError("not a JSON object")
    keys = set(data)
    if keys != _RECORD_KEYS:
        missing, extra = sorted(_RECORD_KEYS - keys), sorted(keys - _RECORD_KEYS)
        raise RecordFormatError(f"not an audit record (missing {missing}, unknown {extra})")
    if data["format"] != FORMAT:
        raise RecordFormatError(f"unknown format {data['format']!r} (expected {FORMAT!r})")
    expected: dict[str, type | tuple[type, ...]] = {
        "seq": int,
        "prev_hash": str,
        "case_id": str,
        "provenance": dict,
        "outcome": dict,
        "subject": dict,
        "case": dict,
        "report": str,
        "recovered_tail": (dict, type(None)),
        "hash": str,
        "record_id": str,
    }
    for name, kind in expected.items():
        if not isinstance(data[name], kind) or isinstance(data[name], bool):
            raise RecordFormatError(f"field {name!r} has the wrong type")
    return AuditRecord(
        seq=data["seq"],
        record_id=data["record_id"],
        hash=data["hash"],
        prev_hash=data["prev_hash"],
        case_id=data["case_id"],
        provenance=data["provenance"],
        outcome=data["outcome"],
        subject=data["subject"],
        case=data["case"],
        report_json=data["report"],
        recovered_tail=data["recovered_tail"],
    )


def seal_problem(record: AuditRecord) -> str | None:
    """Why the record's own hash or id does not match its content, or None."""
    actual = body_hash(record.body())
    if actual != record.hash:
        return f"content does not match its hash (stored {record.hash}, computed {actual})"
    if record.record_id != record_id_for(record.hash):
        return f"record id {record.record_id!r} does not match its hash"
    return None


def consistency_problem(record: AuditRecord) -> str | None:
    """Why the record's parts disagree with each other (report vs case vs summary), or None."""
    try:
        report = record.report()
    except ValidationError as exc:
        return f"the stored report is not a valid report: {exc.errors()[0]['msg']}"
    if report.case_id != record.case_id:
        return f"the report is about case {report.case_id!r}, the record about {record.case_id!r}"
    if report.provenance.model_dump(mode="json") != record.provenance:
        return "the record's provenance differs from the report's"
    if outcome_of(report) != record.outcome:
        return "the record's outcome differs from the report's"
    try:
        case = record.input_case()
    except CaseError as exc:
        return f"the stored case is not a valid case: {exc}"
    if case_input_hash(case) != report.provenance.input_hash:
        return "the stored case does not hash to the report's input_hash"
    if not record.subject.get("identifiers") and case.patient.id not in (
        None,
        record.subject.get("pseudonym"),
    ):
        return "the stored case holds a patient id that is not the record's pseudonym"
    return None


def check_appendable(
    report: Report,
    case: Case,
    *,
    key: bytes | None,
    store_identifiers: bool,
    path: str | None = None,
) -> None:
    """Refuse, before any I/O, what :func:`build_record` would refuse."""
    if report.case_id != case.case_id or case_input_hash(case) != report.provenance.input_hash:
        raise AuditError(
            f"report {report.provenance.report_id} was not computed from case {case.case_id!r}",
            path=path,
        )
    if case.patient.id is not None and key is None and not store_identifiers:
        raise AuditError(
            f"case {case.case_id!r} has a patient id and no pseudonymisation key is set: "
            "set TRD_CDS_AUDIT_KEY (or pass key=...) so the id is stored as a keyed "
            "pseudonym; the log refuses to store raw identifiers unless asked to",
            path=path,
        )


def build_record(
    report: Report,
    case: Case,
    prev: AuditRecord | None,
    *,
    key: bytes | None,
    store_identifiers: bool,
    recovered_tail: dict[str, Any] | None = None,
    path: str | None = None,
) -> AuditRecord:
    """The record that follows ``prev`` for one evaluation of ``case`` into ``report``."""
    check_appendable(report, case, key=key, store_identifiers=store_identifiers, path=path)
    stored = case.model_dump(mode="json")
    patient_id = case.patient.id
    subject: dict[str, Any] = {"pseudonym": None, "key_id": None, "identifiers": store_identifiers}
    if patient_id is not None and key is not None:
        subject["pseudonym"] = pseudonym(key, patient_id)
        subject["key_id"] = key_id(key)
    if patient_id is not None and not store_identifiers:
        stored["patient"]["id"] = subject["pseudonym"]
    draft = AuditRecord(
        seq=prev.seq + 1 if prev else 1,
        record_id="",
        hash="",
        prev_hash=prev.hash if prev else GENESIS,
        case_id=case.case_id,
        provenance=report.provenance.model_dump(mode="json"),
        outcome=outcome_of(report),
        subject=subject,
        case=stored,
        report_json=report.to_json(),
        recovered_tail=recovered_tail,
    )
    digest = body_hash(draft.body())
    return replace(draft, hash=digest, record_id=record_id_for(digest))


# ---------------------------------------------------------------------- verification

ProblemKind = Literal[
    "tampered", "broken_link", "sequence_gap", "truncated", "malformed", "inconsistent", "anchor"
]


@dataclass(frozen=True)
class RawEntry:
    """One stored record as read back: ``position`` is the 1-based line (JSONL) or row
    (SQLite, in ``seq`` order); ``complete`` is false for a torn last line; ``columns`` holds
    an SQL row's indexed columns, which must agree with the record."""

    position: int
    text: str | None
    complete: bool = True
    columns: dict[str, Any] | None = None


@dataclass(frozen=True)
class VerifyProblem:
    kind: ProblemKind
    position: int
    detail: str
    seq: int | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        what = f"record {self.seq}" if self.seq is not None else "entry"
        rid = f" {self.record_id}" if self.record_id else ""
        return f"{what}{rid} (position {self.position}): {self.kind}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` when every record seals its content and links to the one before it.

    ``count`` records verified (before ``problem``, if any); ``head`` is the hash of the last
    verified record (:data:`GENESIS` for an empty log): keep a copy elsewhere and pass it as
    ``anchor`` later to prove the log was not rewritten from that point on (a hash chain alone
    cannot tell a consistently rewritten or cut-short log from the original).
    """

    ok: bool
    count: int
    head: str
    problem: VerifyProblem | None = None
    repairs: tuple[int, ...] = field(default=())

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.count} records, head {self.head}"
        return f"{self.problem} ({self.count} records before it verified)"


def _link_problem(record: AuditRecord, prev: AuditRecord | None, pos: int) -> VerifyProblem | None:
    want_seq = prev.seq + 1 if prev else 1
    want_prev = prev.hash if prev else GENESIS
    after = f"record {prev.seq}" if prev else "the start of the log"
    if record.seq > want_seq:
        missing = f"{want_seq}" if record.seq == want_seq + 1 else f"{want_seq}–{record.seq - 1}"
        return VerifyProblem(
            "sequence_gap",
            pos,
            f"follows {after}: record(s) {missing} missing (deleted or moved)",
            record.seq,
            record.record_id,
        )
    if record.seq < want_seq:
        return VerifyProblem(
            "broken_link",
            pos,
            f"follows {after}: out of order or duplicated (reordered records)",
            record.seq,
            record.record_id,
        )
    if record.prev_hash != want_prev:
        return VerifyProblem(
            "broken_link",
            pos,
            f"prev_hash does not match {after}: a record was replaced, deleted or reordered",
            record.seq,
            record.record_id,
        )
    return None


def _column_problem(record: AuditRecord, columns: dict[str, Any]) -> str | None:
    for name, value in (
        ("seq", record.seq),
        ("hash", record.hash),
        ("record_id", record.record_id),
    ):
        if name in columns and columns[name] != value:
            return f"row column {name}={columns[name]!r} disagrees with the record ({value!r})"
    return None


def verify_entries(entries: Iterable[RawEntry], anchor: str | None = None) -> VerifyResult:
    """Check a log read in storage order; stop at the first problem."""
    prev: AuditRecord | None = None
    count = 0
    repairs: list[int] = []
    anchor_seen = anchor is None

    def fail(problem: VerifyProblem) -> VerifyResult:
        head = prev.hash if prev else GENESIS
        return VerifyResult(False, count, head, problem, tuple(repairs))

    for entry in entries:
        if not entry.complete:
            return fail(
                VerifyProblem(
                    "truncated",
                    entry.position,
                    "the last line is incomplete (no newline): an interrupted write or a cut "
                    "file; the next append moves it aside",
                )
            )
        if entry.text is None:
            return fail(VerifyProblem("malformed", entry.position, "not UTF-8 text"))
        try:
            record = parse_record(entry.text)
        except RecordFormatError as exc:
            return fail(VerifyProblem("malformed", entry.position, str(exc)))
        why = seal_problem(record)
        if why:
            return fail(
                VerifyProblem("tampered", entry.position, why, record.seq, record.record_id)
            )
        link = _link_problem(record, prev, entry.position)
        if link:
            return fail(link)
        why = _column_problem(record, entry.columns) if entry.columns else None
        if why:
            return fail(
                VerifyProblem("tampered", entry.position, why, record.seq, record.record_id)
            )
        why = consistency_problem(record)
        if why:
            return fail(
                VerifyProblem("inconsistent", entry.position, why, record.seq, record.record_id)
            )
        if record.recovered_tail is not None:
            repairs.append(record.seq)
        anchor_seen = anchor_seen or record.hash == anchor
        prev, count = record, count + 1
    if not anchor_seen:
        return fail(VerifyProblem("anchor", count + 1, f"no record has the anchor hash {anchor}"))
    return VerifyResult(True, count, prev.hash if prev else GENESIS, None, tuple(repairs))


def iter_records(entries: Iterable[RawEntry], path: str) -> Iterator[AuditRecord]:
    """Parse stored records, skipping a torn last line; a malformed one is an AuditError."""
    for entry in entries:
        if not entry.complete:
            return
        try:
            if entry.text is None:
                raise RecordFormatError("not UTF-8 text")
            yield parse_record(entry.text)
        except RecordFormatError as exc:
            raise AuditError(
                f"position {entry.position} is not an audit record ({exc}); "
                "run `trd-cds audit verify`",
                path=path,
            ) from exc


def hash_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
