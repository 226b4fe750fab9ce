"""Verifying an audit log: is every record intact, in place, and written by the key holder?

``verify`` reads the stored records in order and stops at the first problem. For each record:

1. the entry is complete (``truncated``: a torn last line) and UTF-8 JSON with no duplicate key
   and exactly the fields of its format (``malformed``);
2. its stored bytes are exactly its canonical form, and its hash and id match its body
   (``tampered``); in a database, the indexed columns agree with the record (``tampered``);
3. it follows the record before it: next ``seq``, ``prev_hash`` = that record's hash
   (``sequence_gap``, ``broken_link``);
4. authenticity (:mod:`.keys`): a record without a MAC may not follow one with a MAC, and the
   MAC key may not change (``unauthenticated``, checked with or without the key). With the key,
   every MAC must be made by this key (``wrong_key``) and be valid (``forged``), and a non-empty
   log must carry at least one MAC (``unauthenticated``); records before the first MAC are
   covered by its chain. Without the key authenticity is *not checked*, and the result says so;
5. its parts agree: report vs summary vs stored case vs pseudonym (``inconsistent``); a
   feedback record links to an evaluation record earlier in the log (``inconsistent``).

Then the ``anchor`` (a head hash kept elsewhere) must be one of the records (``anchor``).

What no chain or MAC can show: records cut off at the end, at a record boundary (keep the
``head`` elsewhere and pass it as ``anchor``), or a whole log swapped for another valid log
written with the same key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from ...schemas.errors import AuditError, CaseError
from ..core import case_input_hash
from .keys import ENV_KEY, AuditKey
from .record import (
    GENESIS,
    AuditRecord,
    RawEntry,
    RecordFormatError,
    body_hash,
    outcome_of,
    parse_record,
    record_id_for,
)

ProblemKind = Literal[
    "tampered",
    "broken_link",
    "sequence_gap",
    "truncated",
    "malformed",
    "inconsistent",
    "unauthenticated",
    "wrong_key",
    "forged",
    "anchor",
]
Authenticity = Literal["verified", "failed", "not_checked"]


@dataclass(frozen=True)
class VerifyProblem:
    """The first problem found. ``position`` 0 means the log as a whole (``anchor``, or no
    record carries a MAC), not one entry."""

    kind: ProblemKind
    position: int
    detail: str
    seq: int | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        if self.position == 0:
            return f"the log: {self.kind}: {self.detail}"
        what = f"record {self.seq}" if self.seq is not None else "entry"
        rid = f" {self.record_id}" if self.record_id else ""
        return f"{what}{rid} (position {self.position}): {self.kind}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` when every record is intact and in place (and, with a key, authenticated).

    ``count`` records verified (before ``problem``, if any); ``head`` is the hash of the last
    verified record (:data:`GENESIS` for an empty log): keep a copy elsewhere and pass it as
    ``anchor`` later to prove the log was not cut short or swapped from that point on.
    ``authenticity`` is ``verified`` only when a key was used and every MAC checked under it
    (``failed``: a key was used and there is a problem); ``not_checked`` means no (usable)
    key: only the unkeyed chain was checked, which anyone who can write the log can rebuild.
    ``key_id`` is the fingerprint of the key used, ``key_problem`` why a given key was not
    used, ``unkeyed`` how many records carry no MAC (format 1, or written without a key; all
    before the first MAC when ``ok``).
    """

    ok: bool
    count: int
    head: str
    problem: VerifyProblem | None = None
    repairs: tuple[int, ...] = field(default=())
    authenticity: Authenticity = "not_checked"
    key_id: str | None = None
    key_problem: str | None = None
    unkeyed: int = 0

    @property
    def authenticated(self) -> bool:
        return self.ok and self.authenticity == "verified"

    def authenticity_line(self) -> str:
        if self.authenticity == "verified":
            covered = (
                f"; records 1–{self.unkeyed} carry no MAC and are vouched for by the chain of "
                f"record {self.unkeyed + 1}"
                if self.unkeyed and self.count > self.unkeyed
                else ""
            )
            return f"authenticity: verified with key {self.key_id}: every MAC checks{covered}"
        if self.authenticity == "failed":
            return f"authenticity: checked with key {self.key_id} up to the problem above"
        why = f"the key was not used: {self.key_problem}" if self.key_problem else "no key"
        return (
            f"authenticity: NOT checked ({why}): only the unkeyed hash chain was checked, which "
            f"anyone who can write the log can rebuild; set {ENV_KEY} to check who wrote it"
        )

    def __str__(self) -> str:
        if self.ok:
            first = f"ok: {self.count} records, head {self.head}"
        else:
            where = "otherwise" if self.problem and self.problem.position == 0 else "before it"
            first = f"{self.problem} ({self.count} records {where} verified)"
        return f"{first}\n{self.authenticity_line()}"


# --------------------------------------------------------------------- single records


def canonical_problem(record: AuditRecord, text: str) -> str | None:
    """Why the stored text is not exactly the record's canonical form, or None."""
    if record.to_json() != text:
        return "the stored bytes are not the record's canonical form (edited or injected)"
    return None


def seal_problem(record: AuditRecord) -> str | None:
    """Why the record's own hash or id does not match its content, or None."""
    actual = body_hash(record.body())
    if actual != record.hash:
        return f"content does not match its hash (stored {record.hash}, computed {actual})"
    if record.record_id != record_id_for(record.hash):
        return f"record id {record.record_id!r} does not match its hash"
    return None


def feedback_problem(record: AuditRecord, evaluations: dict[str, AuditRecord]) -> str | None:
    """Why a feedback record does not answer an evaluation earlier in the log, or None."""
    links = record.provenance.get("links")
    target = evaluations.get(links) if isinstance(links, str) else None
    if target is None:
        return f"feedback links to {links!r}, which is no evaluation record before it"
    if record.report_id != target.report_id or record.case_id != target.case_id:
        return f"feedback names another report or case than the record it links to ({links})"
    if record.subject != target.subject:
        return f"feedback names another subject than the record it links to ({links})"
    if record.case or record.report_json or not isinstance(record.outcome.get("card"), str):
        return "a feedback record carries a case or report, or names no card"
    return None


def consistency_problem(record: AuditRecord) -> str | None:
    """Why the record's parts disagree with each other (report vs case vs summary), or None."""
    if record.kind == "feedback":
        return None  # checked against the log by feedback_problem
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
    pseudonym_key = record.subject.get("key_id")
    if record.keyed and pseudonym_key is not None and pseudonym_key != record.key_id:
        return f"the pseudonym's key {pseudonym_key} is not the MAC's key {record.key_id}"
    return None


def column_problem(record: AuditRecord, columns: dict[str, Any]) -> str | None:
    """Why a database row's indexed columns disagree with its record, or None."""
    for name, value in (
        ("seq", record.seq),
        ("hash", record.hash),
        ("record_id", record.record_id),
        ("case_id", record.case_id),
        ("report_id", record.report_id),
        ("pseudonym", record.subject.get("pseudonym")),
    ):
        if name in columns and columns[name] != value:
            return f"row column {name}={columns[name]!r} disagrees with the record ({value!r})"
    return None


def last_record(text: str | None, path: str) -> AuditRecord:
    """The last stored record, for an append: refuse to chain onto one that does not verify."""
    advice = "refusing to append; run `trd-cds audit verify`"
    try:
        if text is None:
            raise RecordFormatError("not UTF-8 text")
        record = parse_record(text)
    except RecordFormatError as exc:
        raise AuditError(
            f"the last record is not an audit record ({exc}): {advice}", path=path
        ) from exc
    why = canonical_problem(record, text) or seal_problem(record)
    if why:
        raise AuditError(
            f"the last record ({record.seq}) does not verify: {why}: {advice}", path=path
        )
    return record


# ----------------------------------------------------------------------------- the log


def _link_problem(record: AuditRecord, prev: AuditRecord | None, pos: int) -> VerifyProblem | None:
    want_seq = prev.seq + 1 if prev else 1
    want_prev = prev.hash if prev else GENESIS
    after = f"record {prev.seq}" if prev else "the start of the log"
    here = (record.seq, record.record_id)
    if record.seq > want_seq:
        missing = f"{want_seq}" if record.seq == want_seq + 1 else f"{want_seq}–{record.seq - 1}"
        detail = f"follows {after}: record(s) {missing} missing (deleted or moved)"
        return VerifyProblem("sequence_gap", pos, detail, *here)
    if record.seq < want_seq:
        detail = f"follows {after}: out of order or duplicated (reordered records)"
        return VerifyProblem("broken_link", pos, detail, *here)
    if record.prev_hash != want_prev:
        detail = f"prev_hash does not match {after}: a record was replaced, deleted or reordered"
        return VerifyProblem("broken_link", pos, detail, *here)
    return None


def _auth_problem(
    record: AuditRecord, chain_key: str | None, key: AuditKey | None, pos: int
) -> VerifyProblem | None:
    """``chain_key``: the key id of the MACs before this record (None: none had a MAC)."""
    here = (record.seq, record.record_id)
    if record.mac is None or record.key_id is None:
        if chain_key is not None:
            detail = (
                f"carries no MAC but follows records keyed with {chain_key}: "
                "appended or rewritten by someone without the key"
            )
            return VerifyProblem("unauthenticated", pos, detail, *here)
        return None
    if chain_key is not None and record.key_id != chain_key:
        detail = f"keyed with {record.key_id}, the records before it with {chain_key}"
        return VerifyProblem("unauthenticated", pos, detail, *here)
    if key is None:
        return None
    if record.key_id != key.key_id:
        detail = (
            f"keyed with {record.key_id}, but the key given is {key.key_id}: "
            "verify with the key that wrote the log"
        )
        return VerifyProblem("wrong_key", pos, detail, *here)
    if not key.mac_matches(record.hash, record.mac):
        detail = "its MAC does not verify: written or changed by someone without the key"
        return VerifyProblem("forged", pos, detail, *here)
    return None


def _entry_problem(
    entry: RawEntry,
    prev: AuditRecord | None,
    chain_key: str | None,
    key: AuditKey | None,
    evaluations: dict[str, AuditRecord],
) -> tuple[AuditRecord | None, VerifyProblem | None]:
    pos = entry.position
    if not entry.complete:
        detail = (
            "the last line is incomplete (no newline): an interrupted write or a cut file; "
            "the next append moves it aside"
        )
        return None, VerifyProblem("truncated", pos, detail)
    if entry.text is None:
        return None, VerifyProblem("malformed", pos, "not UTF-8 text")
    try:
        record = parse_record(entry.text)
    except RecordFormatError as exc:
        return None, VerifyProblem("malformed", pos, str(exc))
    here = (record.seq, record.record_id)
    why = canonical_problem(record, entry.text) or seal_problem(record)
    if why:
        return record, VerifyProblem("tampered", pos, why, *here)
    link = _link_problem(record, prev, pos)
    if link:
        return record, link
    why = column_problem(record, entry.columns) if entry.columns else None
    if why:
        return record, VerifyProblem("tampered", pos, why, *here)
    auth = _auth_problem(record, chain_key, key, pos)
    if auth:
        return record, auth
    why = consistency_problem(record)
    if record.kind == "feedback":
        why = feedback_problem(record, evaluations)
    if why:
        return record, VerifyProblem("inconsistent", pos, why, *here)
    return record, None


def verify_entries(
    entries: Iterable[RawEntry],
    anchor: str | None = None,
    *,
    key: AuditKey | None = None,
    key_problem: str | None = None,
) -> VerifyResult:
    """Check a log read in storage order; stop at the first problem (see the module doc)."""
    prev: AuditRecord | None = None
    chain_key: str | None = None
    count = unkeyed = 0
    repairs: list[int] = []
    anchor_seen = anchor is None
    evaluations: dict[str, AuditRecord] = {}

    def result(problem: VerifyProblem | None) -> VerifyResult:
        return VerifyResult(
            ok=problem is None,
            count=count,
            head=prev.hash if prev else GENESIS,
            problem=problem,
            repairs=tuple(repairs),
            authenticity=("not_checked" if key is None else "failed" if problem else "verified"),
            key_id=key.key_id if key else None,
            key_problem=key_problem,
            unkeyed=unkeyed,
        )

    for entry in entries:
        record, problem = _entry_problem(entry, prev, chain_key, key, evaluations)
        if problem or record is None:
            return result(problem)
        if record.kind == "evaluation":
            evaluations[record.record_id] = record
        if record.recovered_tail is not None:
            repairs.append(record.seq)
        if record.keyed:
            chain_key = record.key_id
        else:
            unkeyed += 1
        anchor_seen = anchor_seen or record.hash == anchor
        prev, count = record, count + 1
    if not anchor_seen:
        return result(VerifyProblem("anchor", 0, f"no record has the anchor hash {anchor}"))
    if key is not None and prev is not None and chain_key is None:
        detail = (
            "no record carries a MAC (written without a key, or by format trd-cds-audit/1): "
            "the chain is intact, but nothing shows who wrote it"
        )
        return result(VerifyProblem("unauthenticated", 0, detail))
    return result(None)


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
