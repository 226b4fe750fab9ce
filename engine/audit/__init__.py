"""The audit trail: which rule produced this recommendation, from which facts, under which
rule version — answerable months later by someone who was not there, and provably unedited.

>>> log = open_log("audit.sqlite")            # or "audit.jsonl"; key from TRD_CDS_AUDIT_KEY
>>> record = log.append(report, case)         # one record per evaluation, chained and MACed
>>> log.verify()                              # edited / deleted / reordered / forged?
>>> log.replay(Engine())                      # same bytes again, or what changed and why

Each record (:mod:`.record`) holds the report's provenance, its outcome, the full report
JSON (with the condition-level trace), the input case with ``patient.id`` replaced by a keyed
pseudonym, the hash chain and a MAC under the audit key. :mod:`.verify` checks a log,
:mod:`.store` keeps it (a JSON Lines file or an SQLite database, written atomically and
durably by concurrent threads and processes; :mod:`.pg_store` in PostgreSQL for many writers
on many machines), :mod:`.replay` evaluates it again and
:mod:`.render` shows it.

**The key** (:mod:`.keys`): ``key`` or, if not given, the bytes of the environment variable
``TRD_CDS_AUDIT_KEY`` (at least 16 bytes; e.g. ``python -c "import secrets;
print(secrets.token_hex(32))"``). It is never written to the log; records carry only its
fingerprint (``key_id``). With a key, every record carries a MAC and patient ids become
pseudonyms. Without a key, records carry no MAC and the log refuses a case that has a patient
id (:class:`AuditError`) unless ``store_identifiers=True`` asks it to keep raw ids; a log
that has MACed records refuses appends without its key. Reading, listing and showing need no
key; finding a patient does; ``verify`` checks authenticity only with the key and otherwise
says that it did not. A refused key (too short, whitespace around it) stops only what needs
it. ``AuditLog.warnings`` lists what the user should hear about (a log file open to group or
others, a refused key) without stopping anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ...schemas.case import Case
from ...schemas.errors import AuditError
from ...schemas.report import Report
from ..core import Engine, parse_case
from .keys import ENV_KEY, MIN_KEY_BYTES, AuditKey, KeyState, resolve_key
from .record import (
    FORMAT,
    FORMAT_V1,
    GENESIS,
    AuditRecord,
    build_feedback_record,
    build_record,
    check_appendable,
)
from .replay import OutcomeChange, ReplayItem, ReplayResult, RuleChange, replay
from .store import JsonlStore, SqliteStore, Store
from .verify import VerifyProblem, VerifyResult, iter_records, verify_entries

__all__ = [
    "ENV_KEY",
    "FORMAT",
    "FORMAT_V1",
    "GENESIS",
    "MIN_KEY_BYTES",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "OutcomeChange",
    "ReplayItem",
    "ReplayResult",
    "RuleChange",
    "Store",
    "VerifyProblem",
    "VerifyResult",
    "open_log",
]

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
JSONL_SUFFIXES = (".jsonl",)
PG_SCHEMES = ("postgresql://", "postgres://")


def open_log(
    path: str | Path, *, key: bytes | None = None, store_identifiers: bool = False
) -> AuditLog:
    """Open (creating on first append) an audit log: ``.sqlite``/``.db``, ``.jsonl`` or a
    ``postgresql://`` URL (:mod:`.pg_store`: many writers on many machines).

    ``key``: the audit key (default ``$TRD_CDS_AUDIT_KEY``). A refused key does not stop
    opening: see :attr:`AuditLog.warnings` and :attr:`AuditLog.key_problem`.
    """
    store: Store
    if isinstance(path, str) and path.startswith(PG_SCHEMES):
        from .pg_store import PostgresStore

        return AuditLog(PostgresStore(path), key=key, store_identifiers=store_identifiers)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in SQLITE_SUFFIXES:
        store = SqliteStore(p)
    elif suffix in JSONL_SUFFIXES:
        store = JsonlStore(p)
    else:
        raise AuditError(
            f"unknown audit log type {suffix or '(no suffix)'!r}: use .jsonl, .sqlite or .db (or a "
            "postgresql:// URL)",
            path=str(p),
        )
    return AuditLog(store, key=key, store_identifiers=store_identifiers)


class AuditLog:
    """An append-only, hash-chained, MACed log of evaluations. Thread-safe; one per process.

    ``key`` is resolved as :func:`open_log` says; ``warnings`` holds the messages the user
    should see (a log file open to group or others, a refused key), computed when opened.
    """

    def __init__(
        self, store: Store, *, key: bytes | None = None, store_identifiers: bool = False
    ) -> None:
        self._store = store
        self._keys: KeyState = resolve_key(key)
        self.store_identifiers = store_identifiers
        refused = (f"the audit key is not used: {self._keys.problem}",)
        self.warnings: tuple[str, ...] = tuple(store.warnings()) + (
            refused if self._keys.problem else ()
        )

    @property
    def path(self) -> Path:
        return Path(self._store.name)

    @property
    def pseudonymising(self) -> bool:
        return self._keys.key is not None

    @property
    def key_id(self) -> str | None:
        """The fingerprint of the usable key, if any."""
        return self._keys.key.key_id if self._keys.key else None

    @property
    def key_problem(self) -> str | None:
        """Why the key given (or in the environment) is refused, if it is."""
        return self._keys.problem

    def __repr__(self) -> str:  # never show the key
        return f"AuditLog({self._store.name!r}, pseudonymising={self.pseudonymising})"

    def _need_key(self, what: str) -> AuditKey:
        if self._keys.key is not None:
            return self._keys.key
        why = self._keys.problem or f"set {ENV_KEY}"
        raise AuditError(f"{what} needs the key: {why}", path=self._store.name)

    def append(self, report: Report, case: Case | Mapping[str, Any]) -> AuditRecord:
        """Record one evaluation; returns once the record is durably stored.

        Raises :class:`AuditError` when ``report`` was not computed from ``case``, when the
        case has a patient id and there is no key (and identifiers may not be stored), when
        the key is refused or is not the log's key, or when the log cannot be written or its
        last record does not verify.
        """
        if self._keys.problem:
            raise AuditError(f"cannot append: {self._keys.problem}", path=self._store.name)
        model = parse_case(case)
        where, key, raw = self._store.name, self._keys.key, self.store_identifiers
        check_appendable(report, model, key=key, store_identifiers=raw, path=where)  # no I/O yet

        def make(prev: AuditRecord | None, recovered: dict[str, Any] | None) -> AuditRecord:
            _check_same_key(prev, key, where)
            return build_record(
                report, model, prev, key=key, store_identifiers=raw, recovered_tail=recovered
            )

        return self._store.append(make)

    def append_feedback(
        self, evaluation: str, feedback: Mapping[str, Any], service: str
    ) -> AuditRecord:
        """Record CDS Hooks feedback on a card of the evaluation record ``evaluation`` (its
        record id); ``feedback`` (JSON data: card uuid, outcome, reason, ...) is stored as the
        record's outcome. Raises :class:`AuditError` when there is no such evaluation record."""
        if self._keys.problem:
            raise AuditError(f"cannot append: {self._keys.problem}", path=self._store.name)
        try:
            target = self.get(evaluation)
        except KeyError:
            raise AuditError(
                f"no evaluation record {evaluation!r} to attach feedback to",
                path=self._store.name,
            ) from None
        if target.kind != "evaluation":
            raise AuditError(f"{evaluation!r} is not an evaluation record", path=self._store.name)
        where, key, data = self._store.name, self._keys.key, dict(feedback)

        def make(prev: AuditRecord | None, recovered: dict[str, Any] | None) -> AuditRecord:
            _check_same_key(prev, key, where)
            return build_feedback_record(
                target, data, service, prev, key=key, recovered_tail=recovered
            )

        return self._store.append(make)

    def records(self) -> Iterator[AuditRecord]:
        """Every complete record in log order (a torn last line is skipped)."""
        return iter_records(self._store.entries(), self._store.name)

    def get(self, ref: str | int) -> AuditRecord:
        """A record by sequence number (int) or record id; ``KeyError`` if there is none.

        A database store finds a record id through its index (one query, however long the
        log); a JSON Lines log is searched as text, parsing only the line found."""
        find = getattr(self._store, "find", None)
        if isinstance(ref, str) and find is not None:
            entry = find(ref)
            if entry is None:
                raise KeyError(ref)
            found = next(iter_records([entry], self._store.name), None)
            if found is not None and found.record_id == ref:
                return found
            # the row's index column disagrees with its record: read the log as written
        for record in self.records():
            if record.seq == ref if isinstance(ref, int) else record.record_id == ref:
                return record
        raise KeyError(ref)

    def pseudonym(self, patient_id: str) -> str:
        """The pseudonym this log's key gives ``patient_id`` (needs the key)."""
        return self._need_key("finding a patient").pseudonym(patient_id)

    def for_patient(self, patient_id: str) -> Iterator[AuditRecord]:
        """The records about one patient, found by pseudonym (or raw id where stored).

        Raises :class:`AuditError` when the log's records were written with another key (so a
        wrong key is not mistaken for "no records").
        """
        key = self._need_key("finding a patient")
        wanted = key.pseudonym(patient_id)
        found, ours, others = [], False, set()
        for record in self.records():
            ids = {record.key_id, record.subject.get("key_id")} - {None}
            ours = ours or key.key_id in ids
            others |= ids - {key.key_id}
            raw = (
                record.case.get("patient", {}).get("id")
                if record.subject.get("identifiers")
                else None
            )
            if record.subject.get("pseudonym") == wanted or raw == patient_id:
                found.append(record)
        if others and not ours:
            raise AuditError(
                f"the key does not match this log: its records were written with "
                f"{', '.join(sorted(str(i) for i in others))}, the key given is {key.key_id}",
                path=self._store.name,
            )
        return iter(found)

    def verify(self, anchor: str | None = None) -> VerifyResult:
        """Check every record (see :mod:`.verify`); with the key, also who wrote it.

        ``anchor``: a record hash kept elsewhere earlier (a past ``head``); the log must still
        contain it, which proves it was not rewritten or cut short before that point.
        """
        return verify_entries(
            self._store.entries(), anchor, key=self._keys.key, key_problem=self._keys.problem
        )

    def replay(self, engine: Engine) -> ReplayResult:
        """Evaluate every stored input again with ``engine`` (see :mod:`.replay`)."""
        return replay(self.records(), engine)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_same_key(prev: AuditRecord | None, key: AuditKey | None, where: str) -> None:
    """A keyed log stays keyed, with one key: refuse to extend it otherwise."""
    if prev is None or prev.mac is None:
        return
    if key is None:
        raise AuditError(
            f"this log is keyed ({prev.key_id}): appending needs its key; set {ENV_KEY}",
            path=where,
        )
    if prev.key_id != key.key_id:
        raise AuditError(
            f"the key does not match this log: its last record is keyed with {prev.key_id}, "
            f"the key given is {key.key_id}",
            path=where,
        )
    if not key.mac_matches(prev.hash, prev.mac):
        raise AuditError(
            f"the last record ({prev.seq}) has a MAC that does not verify: refusing to "
            "append; run `trd-cds audit verify`",
            path=where,
        )
