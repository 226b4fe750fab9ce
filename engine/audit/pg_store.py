"""The audit log in PostgreSQL (psycopg 3), for many writers on many machines.

Selected by a URL: ``open_log("postgresql://writer@db.example/audit")`` (``postgres://`` too;
libpq's parameters such as ``?host=/run/postgresql`` or ``sslmode=verify-full`` pass through,
and a password is best kept in ``~/.pgpass``, never in the URL). Rows hold the same canonical
record text as the JSONL lines and SQLite rows, plus the same indexed columns (seq, record_id,
hash, case_id, report_id, pseudonym), which ``verify`` checks against the record.

**Appends are serialised** across processes and machines: each append is one transaction that
first takes a transaction-scoped advisory lock (``pg_advisory_xact_lock``, released at commit
or rollback, also when the client dies), then reads the last record, builds the next one and
inserts it. Under READ COMMITTED each statement sees everything committed before it started,
so the next writer to take the lock sees the record just committed; ``seq`` is the primary key
and ``record_id`` unique, so even a writer that skipped the lock could not fork the chain. A
client killed mid-append leaves nothing: the server rolls the transaction back.

**Least privilege.** The tables are created once by their owner (``PostgresStore.create_schema``
or the owner's first append); writers need no more than this (the advisory lock needs no grant),
and a trigger refuses UPDATE, DELETE and TRUNCATE even to the owner's everyday sessions::

    -- as the owner, once (or let the owner's first append do it)
    CREATE ROLE trd_cds_writer LOGIN;                -- password in ~/.pgpass of the service
    GRANT CONNECT ON DATABASE audit TO trd_cds_writer;
    GRANT USAGE ON SCHEMA public TO trd_cds_writer;
    GRANT SELECT, INSERT ON trd_cds_audit_records TO trd_cds_writer;
    GRANT SELECT ON trd_cds_audit_meta TO trd_cds_writer;
    -- readers (audit verify / show / replay): SELECT only
    CREATE ROLE trd_cds_reader LOGIN;
    GRANT CONNECT ON DATABASE audit TO trd_cds_reader;
    GRANT USAGE ON SCHEMA public TO trd_cds_reader;
    GRANT SELECT ON trd_cds_audit_records, trd_cds_audit_meta TO trd_cds_reader;

(:data:`WRITER_GRANTS` holds the writer's grants for a role name.) The writer can read the
log (the chain needs the last record) and add to it; it cannot change, delete or truncate
records, create objects or disable the trigger. The hash chain and MACs still detect an edit
made by someone who can (a superuser), as for the other stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...schemas.errors import AuditError
from .record import FORMAT, AuditRecord, RawEntry
from .store import ROW_COLUMNS, MakeRecord, paged_entries, row_entry, row_values
from .verify import last_record

URL_SCHEMES = ("postgresql://", "postgres://")

#: The advisory lock key of the chain head: one per database (the tables live in one schema).
LOCK_KEY = 0x7472_645F_6364_73  # "trd_cds" in hex

RECORDS = "trd_cds_audit_records"
META = "trd_cds_audit_meta"

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS {META} (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {RECORDS} (
    seq bigint PRIMARY KEY,
    record_id text NOT NULL UNIQUE,
    hash text NOT NULL,
    case_id text NOT NULL,
    report_id text NOT NULL,
    pseudonym text,
    record text NOT NULL
);
CREATE INDEX IF NOT EXISTS {RECORDS}_case ON {RECORDS} (case_id);
CREATE INDEX IF NOT EXISTS {RECORDS}_pseudonym ON {RECORDS} (pseudonym);
CREATE OR REPLACE FUNCTION trd_cds_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the trd-cds audit log is append-only (% refused)', TG_OP;
END $$;
DROP TRIGGER IF EXISTS {RECORDS}_no_change ON {RECORDS};
CREATE TRIGGER {RECORDS}_no_change BEFORE UPDATE OR DELETE ON {RECORDS}
    FOR EACH ROW EXECUTE FUNCTION trd_cds_audit_append_only();
DROP TRIGGER IF EXISTS {RECORDS}_no_truncate ON {RECORDS};
CREATE TRIGGER {RECORDS}_no_truncate BEFORE TRUNCATE ON {RECORDS}
    FOR EACH STATEMENT EXECUTE FUNCTION trd_cds_audit_append_only();
"""

WRITER_GRANTS = """
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT ON {records} TO {role};
GRANT SELECT ON {meta} TO {role};
"""

_BATCH = 256


def is_postgres_url(path: object) -> bool:
    return isinstance(path, str) and path.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password (what logs and messages show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{user}{host}", parts.path, parts.query, parts.fragment))


class PostgresStore:
    """A PostgreSQL-backed store (see the module docstring). Thread-safe: one connection,
    used under a lock; open a new store in each process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = redact(url)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._schema_ready = False

    def warnings(self) -> list[str]:
        if urlsplit(self.url).password is not None:
            return [f"{self.name}: the URL holds a password; keep it in ~/.pgpass instead"]
        return []

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            try:
                self._conn = psycopg.connect(self.url, autocommit=False)
            except psycopg.Error as exc:
                raise AuditError(f"cannot connect: {_one_line(exc)}", path=self.name) from exc
            self._schema_ready = False
        return self._conn

    def _ensure_schema(self, conn: Any) -> None:
        if self._schema_ready:
            return
        with conn.transaction():
            exists = conn.execute("SELECT to_regclass(%s)", (RECORDS,)).fetchone()[0]
        if exists is None:
            self._create(conn)
        self._schema_ready = True

    def _create(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            conn.execute(SCHEMA_SQL)
            conn.execute(
                f"INSERT INTO {META} VALUES ('format', %s) ON CONFLICT DO NOTHING", (FORMAT,)
            )

    def create_schema(self) -> None:
        """Create the tables and the append-only trigger (as their owner; idempotent)."""
        import psycopg

        with self._lock:
            try:
                self._create(self._connect())
            except psycopg.Error as exc:
                why = f"cannot create the tables: {_one_line(exc)}"
                raise AuditError(why, path=self.name) from exc
            self._schema_ready = True

    def grant_writer(self, role: str) -> None:
        """Grant ``role`` what appending needs (:data:`WRITER_GRANTS`), as the owner."""
        from psycopg import sql

        statement = WRITER_GRANTS.format(role="{role}", records=RECORDS, meta=META)
        with self._lock:
            conn = self._connect()
            with conn.transaction():
                conn.execute(sql.SQL(statement).format(role=sql.Identifier(role)))

    def append(self, make: MakeRecord) -> AuditRecord:
        import psycopg

        with self._lock:
            try:
                conn = self._connect()
                self._ensure_schema(conn)
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                    row = conn.execute(
                        f"SELECT record FROM {RECORDS} ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                    prev = None
                    if row is not None:
                        prev = last_record(row[0] if isinstance(row[0], str) else None, self.name)
                    record = make(prev, None)  # may refuse: the transaction rolls back
                    conn.execute(
                        f"INSERT INTO {RECORDS} ({ROW_COLUMNS})"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        row_values(record),
                    )
                return record
            except psycopg.Error as exc:
                raise AuditError(f"cannot write: {_one_line(exc)}", path=self.name) from exc

    def _read(self, query: str, args: tuple[Any, ...]) -> list[Any]:
        """The rows of one read, in a transaction that first checks the log exists."""
        import psycopg

        with self._lock:
            try:
                conn = self._connect()
                with conn.transaction():
                    if conn.execute("SELECT to_regclass(%s)", (RECORDS,)).fetchone()[0] is None:
                        raise AuditError("no such audit log (no tables)", path=self.name)
                    rows: list[Any] = conn.execute(query, args).fetchall()
                    return rows
            except psycopg.Error as exc:
                raise AuditError(f"cannot read: {_one_line(exc)}", path=self.name) from exc

    def entries(self) -> Iterator[RawEntry]:
        """Rows in ``seq`` order, fetched in batches (appends may go on meanwhile)."""
        query = f"SELECT {ROW_COLUMNS} FROM {RECORDS} WHERE seq > %s ORDER BY seq LIMIT {_BATCH}"
        return paged_entries(lambda last: self._read(query, (last,)))

    def find(self, record_id: str) -> RawEntry | None:
        """One record by its id, through the indexed column (``None`` if there is none)."""
        rows = self._read(f"SELECT {ROW_COLUMNS} FROM {RECORDS} WHERE record_id = %s", (record_id,))
        return row_entry(rows[0][0], rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._schema_ready = False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
