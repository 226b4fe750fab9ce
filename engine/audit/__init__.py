"""The audit trail: which rule produced this recommendation, from which facts, under which
rule version — answerable months later by someone who was not there.

>>> log = open_log("audit.sqlite")            # or "audit.jsonl"; key from TRD_CDS_AUDIT_KEY
>>> record = log.append(report, case)         # one record per evaluation, hash-chained
>>> log.verify()                              # tampered / deleted / reordered / truncated?
>>> log.replay(Engine())                      # same bytes again, or what changed and why

Each record (:mod:`.record`) holds the report's provenance, its outcome, the full report
JSON (with the condition-level trace), the input case with ``patient.id`` replaced by a keyed
HMAC-SHA256 pseudonym, and the hash chain. Storage (:mod:`.store`) is a JSON Lines file
or an SQLite database, written atomically and durably by concurrent threads and processes.

**The key.** Pseudonyms are keyed with ``key`` or, if not given, the UTF-8 bytes of the
environment variable ``TRD_CDS_AUDIT_KEY`` (at least 16 bytes; e.g. ``python -c "import
secrets; print(secrets.token_hex(32))"``). The key is never written to the log; records carry
only its fingerprint (``subject.key_id``). Without a key the log refuses to append a case that
has a patient id (:class:`AuditError`), unless ``store_identifiers=True`` asks it to keep raw
ids. Reading, verifying and replaying need no key; finding a patient's records does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ...schemas.case import Case
from ...schemas.errors import AuditError
from ...schemas.report import Report
from ..core import Engine, parse_case
from .record import (
    GENESIS,
    AuditRecord,
    VerifyProblem,
    VerifyResult,
    build_record,
    check_appendable,
    iter_records,
    pseudonym,
    verify_entries,
)
from .replay import OutcomeChange, ReplayItem, ReplayResult, RuleChange, replay
from .store import JsonlStore, SqliteStore, Store

__all__ = [
    "ENV_KEY",
    "GENESIS",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "OutcomeChange",
    "ReplayItem",
    "ReplayResult",
    "RuleChange",
    "VerifyProblem",
    "VerifyResult",
    "open_log",
]

ENV_KEY = "TRD_CDS_AUDIT_KEY"
MIN_KEY_BYTES = 16
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
JSONL_SUFFIXES = (".jsonl",)


def resolve_key(key: bytes | None) -> bytes | None:
    """The pseudonymisation key: ``key``, else ``$TRD_CDS_AUDIT_KEY``, else None."""
    if key is None:
        env = os.environ.get(ENV_KEY)
        key = env.encode("utf-8") if env else None
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise AuditError(
            f"the audit key must be at least {MIN_KEY_BYTES} bytes (got {len(key)}); "
            'make one with: python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return key


def open_log(
    path: str | Path, *, key: bytes | None = None, store_identifiers: bool = False
) -> AuditLog:
    """Open (creating on first append) an audit log: ``.sqlite``/``.db`` or ``.jsonl``."""
    p = Path(path)
    suffix = p.suffix.lower()
    store: Store
    if suffix in SQLITE_SUFFIXES:
        store = SqliteStore(p)
    elif suffix in JSONL_SUFFIXES:
        store = JsonlStore(p)
    else:
        raise AuditError(
            f"unknown audit log type {suffix or '(no suffix)'!r}: use .jsonl, .sqlite or .db",
            path=str(p),
        )
    return AuditLog(store, key=resolve_key(key), store_identifiers=store_identifiers)


class AuditLog:
    """An append-only, hash-chained log of evaluations. Thread-safe; one per process."""

    def __init__(self, store: Store, *, key: bytes | None, store_identifiers: bool) -> None:
        self._store = store
        self._key = key
        self.store_identifiers = store_identifiers

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def pseudonymising(self) -> bool:
        return self._key is not None

    def __repr__(self) -> str:  # never show the key
        return f"AuditLog({str(self.path)!r}, pseudonymising={self.pseudonymising})"

    def append(self, report: Report, case: Case | Mapping[str, Any]) -> AuditRecord:
        """Record one evaluation; returns once the record is durably stored.

        Raises :class:`AuditError` when ``report`` was not computed from ``case``, when the
        case has a patient id and there is no key (and identifiers may not be stored), or when
        the log cannot be written or its last record does not verify.
        """
        model = parse_case(case)
        where, key, raw = str(self.path), self._key, self.store_identifiers
        check_appendable(report, model, key=key, store_identifiers=raw, path=where)  # no I/O yet

        def make(prev: AuditRecord | None, recovered: dict[str, Any] | None) -> AuditRecord:
            return build_record(
                report,
                model,
                prev,
                key=key,
                store_identifiers=raw,
                recovered_tail=recovered,
                path=where,
            )

        return self._store.append(make)

    def records(self) -> Iterator[AuditRecord]:
        """Every complete record in log order (a torn last line is skipped)."""
        return iter_records(self._store.entries(), str(self.path))

    def get(self, ref: str | int) -> AuditRecord:
        """A record by sequence number (int) or record id; ``KeyError`` if there is none."""
        for record in self.records():
            if record.seq == ref if isinstance(ref, int) else record.record_id == ref:
                return record
        raise KeyError(ref)

    def pseudonym(self, patient_id: str) -> str:
        """The pseudonym this log's key gives ``patient_id`` (needs the key)."""
        if self._key is None:
            raise AuditError(f"finding a patient needs the key: set {ENV_KEY}", path=str(self.path))
        return pseudonym(self._key, patient_id)

    def for_patient(self, patient_id: str) -> Iterator[AuditRecord]:
        """The records about one patient, found by pseudonym (or raw id where stored)."""
        wanted = self.pseudonym(patient_id)
        for record in self.records():
            raw = (
                record.case.get("patient", {}).get("id")
                if record.subject.get("identifiers")
                else None
            )
            if record.subject.get("pseudonym") == wanted or raw == patient_id:
                yield record

    def verify(self, anchor: str | None = None) -> VerifyResult:
        """Check every record's hash, the chain links, the sequence and each record's parts.

        ``anchor``: a record hash kept elsewhere earlier (a past ``head``); the log must still
        contain it, which proves it was not rewritten or cut short before that point.
        """
        return verify_entries(self._store.entries(), anchor)

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
