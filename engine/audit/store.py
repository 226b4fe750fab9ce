"""Where audit records live: a JSON Lines file or an SQLite database.

Both stores append under an exclusive lock that spans *read the last record → build the next
one → write → fsync*, so concurrent writers (threads, processes) keep one linear chain and an
append that returned is on disk.

**JSON Lines** (``.jsonl``): one record per line. The lock is ``fcntl.flock`` on the log file
itself (per open file, so it also separates writers inside one process; POSIX only). A writer
killed mid-write can leave a *torn* last line (no trailing newline). Readers skip it and
``verify`` reports it as ``truncated``. The next writer repairs it, safely and visibly: it
copies the torn bytes to ``<log>.torn`` (appended, fsynced), cuts the log back to the last
complete line, and its own record notes the repair in ``recovered_tail`` (offset, length and
sha256 of the moved bytes), which the hash chain then protects. A torn line was never
acknowledged (``append`` returns only after fsync of the whole line), so no completed record
is lost; a crash during the repair at worst copies the same bytes to ``.torn`` twice.
New log files are created with mode 0600.

**SQLite** (``.sqlite``, ``.db``): stdlib ``sqlite3`` in WAL mode with ``synchronous=FULL``;
each append is one ``BEGIN IMMEDIATE`` transaction. Rows hold the same canonical record text
as the JSONL lines, plus indexed columns (seq, record_id, hash, case_id, report_id, pseudonym)
that ``verify`` checks against the record (a query on a column sees what the record says).

Both stores warn (:meth:`Store.warnings`, printed by the CLI) when an existing log file is open
to group or others.

A store object may be shared by threads; open a new one in each process (after ``fork``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from ...schemas.canonical import canonical_json, sha256_bytes
from ...schemas.errors import AuditError
from .record import FORMAT, AuditRecord, RawEntry
from .verify import last_record

#: Builds the next record from the last one (None for an empty log) and a repair note.
MakeRecord = Callable[[AuditRecord | None, dict[str, Any] | None], AuditRecord]

_CHUNK = 1 << 16


class Store(Protocol):
    """Where records live; the log above it does the keys, checks and rendering.

    ``append`` is one critical section across threads, processes and (for a server database)
    machines: read the last record (checked with :func:`.verify.last_record`), call ``make``,
    store the result, make it durable, return it. ``make`` may raise (then nothing is written).
    ``entries`` yields every stored record in chain order, with a row's indexed columns.
    A PostgreSQL store fits this shape: ``append`` is one transaction that locks the chain head
    (``SELECT ... FOR UPDATE`` on a one-row head table, or an advisory lock) under an
    insert-only role; ``entries`` streams rows by ``seq``; ``name`` is the URL without password.
    """

    name: str

    def append(self, make: MakeRecord) -> AuditRecord: ...

    def entries(self) -> Iterator[RawEntry]: ...

    def warnings(self) -> list[str]:
        """Problems worth telling the user that do not stop reading (e.g. file modes)."""
        ...

    def close(self) -> None: ...


def loose_permissions(paths: Iterable[Path]) -> list[str]:
    """A warning for each existing file that group or others may read or write."""
    out = []
    for path in paths:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue
        if mode & 0o077:
            out.append(
                f"{path} is open to group or others (mode {mode:04o}) but holds clinical "
                f"data: restrict it (chmod 600)"
            )
    return out


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: The indexed columns a database store keeps beside each record, in select order.
INDEX_COLUMNS = ("seq", "record_id", "hash", "case_id", "report_id", "pseudonym")


def row_entry(position: int, row: Sequence[Any]) -> RawEntry:
    """A database row (the index columns, then the record text) as a :class:`RawEntry`."""
    *values, text = row
    columns = dict(zip(INDEX_COLUMNS, values, strict=True))
    return RawEntry(position, text if isinstance(text, str) else None, True, columns)


#: The columns a database store reads back, in :func:`row_entry`'s order (``seq`` first).
ROW_COLUMNS = "seq, record_id, hash, case_id, report_id, pseudonym, record"


def row_values(record: AuditRecord) -> tuple[Any, ...]:
    """What a database store writes for a record, in :data:`ROW_COLUMNS` order."""
    return (
        record.seq,
        record.record_id,
        record.hash,
        record.case_id,
        record.report_id,
        record.subject.get("pseudonym"),
        record.to_json(),
    )


def paged_entries(fetch: Callable[[int], Sequence[Sequence[Any]]]) -> Iterator[RawEntry]:
    """Every row of a database store in ``seq`` order, read a page at a time: ``fetch(last)``
    returns the next rows (``ROW_COLUMNS``) after ``seq`` ``last`` (appends may go on
    meanwhile; each page is one short read)."""
    last, position = -(2**63), 0
    while True:
        rows = fetch(last)
        if not rows:
            return
        for row in rows:
            position += 1
            yield row_entry(position, row)
        last = rows[-1][0]


class JsonlStore:
    """An append-only JSON Lines file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.torn_path = path.with_name(path.name + ".torn")
        self._lock = threading.Lock()

    def warnings(self) -> list[str]:
        return loose_permissions((self.path, self.torn_path))

    def append(self, make: MakeRecord) -> AuditRecord:
        with self._lock:
            created = not self.path.exists()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise AuditError(f"cannot open: {exc}", path=str(self.path)) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return self._append_locked(fd, make, created)
            finally:
                os.close(fd)  # releases the lock

    def _append_locked(self, fd: int, make: MakeRecord, created: bool) -> AuditRecord:
        size = os.fstat(fd).st_size
        last, end = _last_line(fd, size)
        prev = last_record(_decode(last), self.name) if last is not None else None
        torn = os.pread(fd, size - end, end) if end < size else b""
        recovered = None
        if torn:
            recovered = {
                "offset": end,
                "length": len(torn),
                "sha256": sha256_bytes(torn),
                "moved_to": self.torn_path.name,
            }
        record = make(prev, recovered)  # may refuse (e.g. no key): then nothing is touched
        if torn:
            self._move_aside(fd, torn, end)
        data = (record.to_json() + "\n").encode("utf-8")
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # leave no torn line behind if we can
                os.ftruncate(fd, end)
                os.fsync(fd)
            raise AuditError(f"cannot write: {exc}", path=str(self.path)) from exc
        if created:
            _fsync_dir(self.path.parent)
        return record

    def _move_aside(self, fd: int, torn: bytes, end: int) -> None:
        """Copy a torn last line to ``<log>.torn`` (durably), then cut it from the log."""
        aside = os.open(self.torn_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(aside, torn + b"\n")
            os.fsync(aside)
        finally:
            os.close(aside)
        os.ftruncate(fd, end)
        os.fsync(fd)

    def entries(self) -> Iterator[RawEntry]:
        """Lines up to the size seen under a shared lock (so no half-written append)."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            raise AuditError("no such audit log", path=str(self.path)) from None
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            size = os.fstat(handle.fileno()).st_size
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            pos, position = 0, 0
            while pos < size:
                line = handle.readline(size - pos)
                if not line:
                    return
                pos += len(line)
                position += 1
                complete = line.endswith(b"\n")
                yield RawEntry(position, _decode(line.rstrip(b"\n")), complete)

    def find(self, record_id: str) -> RawEntry | None:
        """The first line holding ``"record_id":"<id>"`` as a record writes it: a text search,
        no record parsed on the way (the caller parses and checks the one found)."""
        needle = canonical_json({"record_id": record_id})[1:-1]
        for entry in self.entries():
            if entry.text is not None and needle in entry.text:
                return entry
        return None

    def close(self) -> None:
        return None


def _last_line(fd: int, size: int) -> tuple[bytes | None, int]:
    """The last complete line (without newline) and the offset just after it."""
    buf, start = b"", size
    while True:
        if start > 0:
            step = min(_CHUNK + len(buf), start)  # read more each time: long lines stay cheap
            start -= step
            buf = os.pread(fd, step, start) + buf
        last_nl = buf.rfind(b"\n")
        if last_nl != -1:
            prev_nl = buf.rfind(b"\n", 0, last_nl)
            if prev_nl != -1 or start == 0:
                return buf[prev_nl + 1 : last_nl], start + last_nl + 1
        elif start == 0:
            return None, 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    case_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    pseudonym TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_case ON audit_records (case_id);
CREATE INDEX IF NOT EXISTS audit_records_pseudonym ON audit_records (pseudonym);
"""


_BUSY_TIMEOUT = 60.0


def _wal_mode(conn: sqlite3.Connection, path: str) -> None:
    """Switch to WAL. The switch does not wait on SQLite's busy handler (a new database opened
    by several writers at once answers "database is locked"), so retry it until the timeout."""
    deadline = time.monotonic() + _BUSY_TIMEOUT
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode != "wal":
                mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    if mode != "wal":
        raise AuditError(f"cannot switch to WAL mode (got {mode})", path=path)


class SqliteStore:
    """An SQLite database in WAL mode (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._schema_ready = False

    def warnings(self) -> list[str]:
        siblings = (self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))
        return loose_permissions((self.path, *siblings))

    def _connect(self, create: bool) -> sqlite3.Connection:
        if self._conn is None:
            existed = self.path.exists()
            if not existed and not create:
                raise AuditError("no such audit log", path=str(self.path))
            # Never open/close the database file ourselves: closing any descriptor of it drops
            # this process's POSIX locks, SQLite's included.
            conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            try:
                if not existed:
                    os.chmod(self.path, 0o600)  # before any data; -wal/-shm inherit it
                _wal_mode(conn, str(self.path))
                conn.execute("PRAGMA synchronous=FULL")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        if create and not self._schema_ready:
            self._transaction(self._conn, self._create_schema)
            self._schema_ready = True
        return self._conn

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO audit_meta VALUES ('format', ?)", (FORMAT,))

    @staticmethod
    def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], Any]) -> Any:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def append(self, make: MakeRecord) -> AuditRecord:
        def work(conn: sqlite3.Connection) -> AuditRecord:
            row = conn.execute(
                "SELECT record FROM audit_records ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            prev = None
            if row is not None:
                text = row[0] if isinstance(row[0], str) else None
                prev = last_record(text, self.name)
            record = make(prev, None)
            conn.execute(
                f"INSERT INTO audit_records ({ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row_values(record),
            )
            return record

        with self._lock:
            try:
                result: AuditRecord = self._transaction(self._connect(create=True), work)
            except sqlite3.Error as exc:
                raise AuditError(f"cannot write: {exc}", path=str(self.path)) from exc
            return result

    def _read(self, query: str, args: tuple[Any, ...]) -> list[Any]:
        """The rows of one read (the database must exist; errors name the log)."""
        with self._lock:
            try:
                return self._connect(create=False).execute(query, args).fetchall()
            except sqlite3.Error as exc:
                raise AuditError(f"cannot read: {exc}", path=str(self.path)) from exc

    def entries(self) -> Iterator[RawEntry]:
        """Rows in ``seq`` order, fetched in batches (appends may go on meanwhile)."""
        query = f"SELECT {ROW_COLUMNS} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT 256"
        return paged_entries(lambda last: self._read(query, (last,)))

    def find(self, record_id: str) -> RawEntry | None:
        """One record by its id, through the indexed column (``None`` if there is none)."""
        query = f"SELECT {ROW_COLUMNS} FROM audit_records WHERE record_id = ?"
        rows = self._read(query, (record_id,))
        return row_entry(rows[0][0], rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._schema_ready = False
