"""Audit records: what one evaluation leaves in the audit log.

A record is one line of canonical JSON (sorted keys, no spaces, UTF-8); format 2::

    {"case": {...}, "case_id": "...", "format": "trd-cds-audit/2", "hash": "sha256:...",
     "key_id": "key-..." | null, "kind": "evaluation", "mac": "hmac-sha256:..." | null,
     "outcome": {...}, "prev_hash": "sha256:...", "provenance": {...}, "record_id": "rec-...",
     "recovered_tail": null, "report": "<the report's to_json() text>", "seq": 1,
     "subject": {...}}

* ``hash`` is the sha256 of the canonical JSON of the *body*: every field except ``hash``,
  ``record_id`` and ``mac`` (so it includes ``prev_hash``, ``key_id`` and ``kind``). Each record
  thereby seals its predecessor: editing, deleting or reordering a record breaks the chain after
  it. ``record_id`` is ``rec-`` and the first 24 hex digits of ``hash``. The first record's
  ``prev_hash`` is :data:`GENESIS`. The stored bytes must be exactly the canonical form of the
  record (``verify`` refuses anything else, e.g. an injected duplicate key).
* ``mac`` authenticates the record: HMAC-SHA256 of ``hash`` under a subkey of the audit key
  (:mod:`.keys`); ``key_id`` is that key's fingerprint. A record written without a key has
  both null. Since the hash covers ``prev_hash``, one valid MAC vouches for every record before
  it; a log never goes from keyed back to unkeyed (``append`` refuses, ``verify`` reports it).
* ``kind`` is ``evaluation`` or ``feedback``. A **feedback** record (CDS Hooks feedback on a
  card, :func:`build_feedback_record`) has the same fields: ``provenance`` holds ``links`` (the
  record id of the evaluation whose card it answers), that evaluation's ``report_id`` and the
  CDS service id; ``outcome`` holds the card uuid, ``accepted``/``overridden``, the override
  reason coding and comment, the accepted suggestions and the client's timestamp; ``subject`` and
  ``case_id`` repeat the evaluation's; ``case`` is ``{}`` and ``report`` is ``""``.
* ``report`` is the exact text of :meth:`Report.to_json` (it holds the trace and ``why_not``),
  so a replay can be compared byte for byte. ``provenance`` and ``outcome`` (recommended
  options in order, blocked options, gates, cautions) repeat what an auditor searches for.
* ``case`` is the validated input case. Its ``patient.id`` is replaced by a keyed pseudonym
  unless identifiers are stored on purpose; ``subject`` says which (``pseudonym``, ``key_id``,
  ``identifiers``). The report's ``input_hash`` leaves ``patient.id`` out, so the stored case
  still hashes to it and replays to the same bytes.
* ``recovered_tail`` is null, or notes that this writer found the torn end of an interrupted
  write and moved it aside (see :mod:`.store`).

**Format 1** (``trd-cds-audit/1``, the previous release) had no ``kind``, ``key_id`` or ``mac``.
Such records are still read, verified (their hash chain) and replayed; they count as records
without a MAC. New records are always format 2 and chain onto format-1 records.

Nothing in a record depends on the wall clock, the host or the process: the same evaluations
appended in the same order with the same key give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from ...schemas.canonical import canonical_json, sha256
from ...schemas.case import Case
from ...schemas.errors import AuditError
from ...schemas.report import Report
from ..core import case_input_hash, parse_case
from .keys import ENV_KEY, MAC_PREFIX, AuditKey

FORMAT = "trd-cds-audit/2"
FORMAT_V1 = "trd-cds-audit/1"
GENESIS = "sha256:" + "0" * 64
Kind = Literal["evaluation", "feedback"]
KINDS = ("evaluation", "feedback")
_V1_BODY_KEYS = frozenset(
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
_V2_BODY_KEYS = _V1_BODY_KEYS | {"kind", "key_id"}
_RECORD_KEYS = {
    FORMAT_V1: _V1_BODY_KEYS | {"hash", "record_id"},
    FORMAT: _V2_BODY_KEYS | {"hash", "record_id", "mac"},
}
_TYPES: dict[str, type | tuple[type, ...]] = {
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
    "kind": str,
    "key_id": (str, type(None)),
    "mac": (str, type(None)),
}


def record_provenance(report: Report) -> dict[str, Any]:
    """The report's provenance as the record keeps it: the schema's form, absent optional
    fields as null (validates the provenance alone, not the whole report)."""
    from ...schemas.report_document import Provenance

    return Provenance.model_validate(report.part("provenance")).model_dump(mode="json")


def outcome_of(report: Report) -> dict[str, list[str]]:
    """What the log indexes of a report (read from its plain data: no typed view built)."""
    return {
        "recommended": [r["option"] for r in report.part("recommendations")],
        "blocked": [b["option"] for b in report.part("blocked")],
        "gates": [g["gate"] for g in report.part("gates")],
        "cautions": [c["option"] for c in report.part("cautions")],
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
    key_id: str | None = None
    mac: str | None = None
    kind: Kind = "evaluation"
    format: str = FORMAT

    @property
    def report_id(self) -> str:
        return str(self.provenance.get("report_id", ""))

    @property
    def evaluated_at(self) -> str:
        return str(self.provenance.get("evaluated_at", ""))

    @property
    def keyed(self) -> bool:
        """Whether the record carries a MAC (format 2, written with a key)."""
        return self.mac is not None

    def body(self) -> dict[str, Any]:
        """Everything the record hash covers."""
        body: dict[str, Any] = {
            "format": self.format,
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
        if self.format != FORMAT_V1:
            body["kind"] = self.kind
            body["key_id"] = self.key_id
        return body

    def stored(self) -> dict[str, Any]:
        """The whole record as stored (the body, its hash, id and MAC)."""
        out = {**self.body(), "hash": self.hash, "record_id": self.record_id}
        if self.format != FORMAT_V1:
            out["mac"] = self.mac
        return out

    def to_json(self) -> str:
        """The stored form: one line of canonical JSON, without the newline."""
        return canonical_json(self.stored())

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


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise RecordFormatError(f"duplicate key {name!r} (an injected field?)")
        out[name] = value
    return out


def parse_record(text: str) -> AuditRecord:
    """Read a stored record (format 1 or 2) without checking its hash or bytes (see
    :mod:`.verify`). Duplicate keys anywhere are refused: JSON readers disagree on them."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecordFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        raise RecordFormatError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordFormatError("not a JSON object")
    fmt = data.get("format")
    if fmt not in _RECORD_KEYS:
        raise RecordFormatError(f"unknown format {fmt!r} (expected {FORMAT!r} or {FORMAT_V1!r})")
    wanted, keys = _RECORD_KEYS[fmt], set(data)
    if keys != wanted:
        missing, extra = sorted(wanted - keys), sorted(keys - wanted)
        raise RecordFormatError(f"not an audit record (missing {missing}, unknown {extra})")
    for name in sorted(keys - {"format"}):
        kind = _TYPES[name]
        if not isinstance(data[name], kind) or isinstance(data[name], bool):
            raise RecordFormatError(f"field {name!r} has the wrong type")
    if fmt == FORMAT:
        if data["kind"] not in KINDS:
            raise RecordFormatError(f"unknown record kind {data['kind']!r}")
        if (data["mac"] is None) != (data["key_id"] is None):
            raise RecordFormatError("a record has both a MAC and a key id, or neither")
        if data["mac"] is not None and not data["mac"].startswith(MAC_PREFIX):
            raise RecordFormatError(f"unknown MAC scheme (expected {MAC_PREFIX!r})")
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
        key_id=data.get("key_id"),
        mac=data.get("mac"),
        kind=data.get("kind", "evaluation"),
        format=fmt,
    )


def check_appendable(
    report: Report,
    case: Case,
    *,
    key: AuditKey | None,
    store_identifiers: bool,
    path: str | None = None,
) -> None:
    """Refuse, before any I/O, what may not be recorded. The case is hashed here, once."""
    provenance = report.part("provenance")
    if report.case_id != case.case_id or case_input_hash(case) != provenance["input_hash"]:
        raise AuditError(
            f"report {report.report_id} was not computed from case {case.case_id!r}",
            path=path,
        )
    if case.patient.id is not None and key is None and not store_identifiers:
        raise AuditError(
            f"case {case.case_id!r} has a patient id and no pseudonymisation key is set: "
            f"set {ENV_KEY} (or pass key=...) so the id is stored as a keyed "
            "pseudonym; the log refuses to store raw identifiers unless asked to",
            path=path,
        )


def build_record(
    report: Report,
    case: Case,
    prev: AuditRecord | None,
    *,
    key: AuditKey | None,
    store_identifiers: bool,
    recovered_tail: dict[str, Any] | None = None,
) -> AuditRecord:
    """The record that follows ``prev`` for one evaluation of ``case`` into ``report``.

    Call :func:`check_appendable` first (``AuditLog.append`` does): this does not check again.
    """
    stored = case.model_dump(mode="json")
    patient_id = case.patient.id
    subject: dict[str, Any] = {"pseudonym": None, "key_id": None, "identifiers": store_identifiers}
    if patient_id is not None and key is not None:
        subject["pseudonym"] = key.pseudonym(patient_id)
        subject["key_id"] = key.key_id
    if patient_id is not None and not store_identifiers:
        stored["patient"]["id"] = subject["pseudonym"]
    draft = AuditRecord(
        seq=prev.seq + 1 if prev else 1,
        record_id="",
        hash="",
        prev_hash=prev.hash if prev else GENESIS,
        case_id=case.case_id,
        provenance=record_provenance(report),
        outcome=outcome_of(report),
        subject=subject,
        case=stored,
        report_json=report.to_json(),
        recovered_tail=recovered_tail,
        key_id=key.key_id if key else None,
    )
    digest = body_hash(draft.body())
    return replace(
        draft,
        hash=digest,
        record_id=record_id_for(digest),
        mac=key.chain_mac(digest) if key else None,
    )


@dataclass(frozen=True)
class RawEntry:
    """One stored record as read back: ``position`` is the 1-based line (JSONL) or row
    (a database, in ``seq`` order; a record found by id is at its ``seq``); ``text`` is None
    when the bytes are not UTF-8; ``complete`` is false for a torn last line; ``columns``
    holds a database row's indexed columns (``seq``, ``record_id``, ``hash``, ``case_id``,
    ``report_id``, ``pseudonym``), which must agree with the record."""

    position: int
    text: str | None
    complete: bool = True
    columns: dict[str, Any] | None = None


def build_feedback_record(
    evaluation: AuditRecord,
    feedback: dict[str, Any],
    service: str,
    prev: AuditRecord | None,
    *,
    key: AuditKey | None,
    recovered_tail: dict[str, Any] | None = None,
) -> AuditRecord:
    """The record that follows ``prev`` for CDS Hooks feedback on a card of ``evaluation``.

    ``feedback`` is the entry as JSON data (card uuid, outcome, override reason, ...); it is
    stored as the record's ``outcome``. No case and no report are stored again.
    """
    draft = AuditRecord(
        seq=prev.seq + 1 if prev else 1,
        record_id="",
        hash="",
        prev_hash=prev.hash if prev else GENESIS,
        case_id=evaluation.case_id,
        provenance={
            "links": evaluation.record_id,
            "report_id": evaluation.report_id,
            "service": service,
        },
        outcome=feedback,
        subject=dict(evaluation.subject),
        case={},
        report_json="",
        recovered_tail=recovered_tail,
        key_id=key.key_id if key else None,
        kind="feedback",
    )
    digest = body_hash(draft.body())
    return replace(
        draft,
        hash=digest,
        record_id=record_id_for(digest),
        mac=key.chain_mac(digest) if key else None,
    )
