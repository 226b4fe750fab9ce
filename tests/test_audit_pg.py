"""The PostgreSQL audit store against a real server: same records and checks as SQLite,
least privilege, concurrent writers (threads; 4 processes x 500), a kill mid-append, tampering.

The server is started here (``tests/pg_support.py``: initdb + pg_ctl in a temporary folder);
the tests skip, saying why, only when the PostgreSQL binaries are not installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.audit_support import (
    KEY,
    check_threads_lose_nothing,
    fill_with_examples,
    intruder_row,
    small_case,
    writer,
)
from tests.conftest import AT
from tests.pg_support import PgServer, missing_reason
from tests.test_audit_tamper import TAMPERS, Tamper
from trd_cds import AuditError, Engine
from trd_cds.engine.audit import ENV_KEY, open_log
from trd_cds.engine.audit.pg_store import META, RECORDS, PostgresStore, redact

psycopg = pytest.importorskip("psycopg")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    pg = PgServer()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def url(server: PgServer) -> str:
    return server.new_database()


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)


def _rows(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT seq, record FROM {RECORDS} ORDER BY seq").fetchall()


def test_same_records_and_checks_as_sqlite(url: str, engine: Engine, tmp_path: Path) -> None:
    with open_log(url, key=KEY) as pg, open_log(tmp_path / "a.sqlite", key=KEY) as lite:
        done = fill_with_examples(pg, engine)
        for report, case in done:
            lite.append(report, case)
        assert pg.verify().ok and pg.verify().authenticated
        assert pg.verify().count == len(done)
        ours, theirs = list(pg.records()), list(lite.records())
        assert [r.report_id for r in ours] == [r.report_id for r in theirs]
        assert [r.hash for r in ours] == [r.hash for r in theirs]  # same bytes, same chain
        assert pg.replay(engine).ok
        assert list(pg.for_patient("nobody")) == []
    assert "postgresql://" in pg.path.as_posix() or str(pg.path).startswith("postgresql:")


def test_url_password_is_never_shown() -> None:
    url = "postgresql://writer:s3cret@db.example:5433/audit?sslmode=verify-full"
    assert redact(url) == "postgresql://writer@db.example:5433/audit?sslmode=verify-full"
    store = PostgresStore(url)
    assert "s3cret" not in store.name
    assert store.warnings() and "s3cret" not in store.warnings()[0]


def test_unreachable_server_is_an_audit_error(tmp_path: Path) -> None:
    with (
        open_log(f"postgresql://nobody@/x?host={tmp_path}", key=KEY) as log,
        pytest.raises(AuditError, match="cannot connect"),
    ):
        log.verify()


def test_least_privilege_writer(url: str, server: PgServer, engine: Engine) -> None:
    owner = PostgresStore(url)
    owner.create_schema()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS trd_writer_t")
        conn.execute("CREATE ROLE trd_writer_t LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    owner.grant_writer("trd_writer_t")
    owner.close()
    writer_url = url.replace("postgres@", "trd_writer_t@", 1)
    with open_log(writer_url, key=KEY) as log:
        for i in range(3):
            case = small_case(f"w-{i}")
            log.append(engine.evaluate(case, at=AT), case)
        assert log.verify().ok and log.verify().count == 3
    with psycopg.connect(writer_url, autocommit=True) as conn:
        for statement in (
            f"UPDATE {RECORDS} SET case_id = 'x'",
            f"DELETE FROM {RECORDS}",
            f"TRUNCATE {RECORDS}",
            f"UPDATE {META} SET value = 'x'",
            f"ALTER TABLE {RECORDS} DISABLE TRIGGER ALL",
            "CREATE TABLE sneaky (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    # even the owner's everyday session cannot rewrite history: the trigger refuses
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in (f"UPDATE {RECORDS} SET case_id = 'x'", f"DELETE FROM {RECORDS}"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    assert len(_rows(url)) == 3


def test_a_writer_without_tables_is_told(url: str, engine: Engine) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS trd_nobody_t")
        conn.execute("CREATE ROLE trd_nobody_t LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    case = small_case("n-1")
    with open_log(url.replace("postgres@", "trd_nobody_t@", 1), key=KEY) as log:
        with pytest.raises(AuditError, match="permission denied"):
            log.append(engine.evaluate(case, at=AT), case)
        with pytest.raises(AuditError, match="no such audit log"):
            log.verify()


def test_a_record_is_found_by_its_index(url: str, engine: Engine) -> None:
    with open_log(url, key=KEY) as log:
        fill_with_examples(log, engine)
        records = list(log.records())
        log.records = None  # type: ignore[method-assign]  # a scan would fail
        assert log.get(records[2].record_id) == records[2]
        with pytest.raises(KeyError):
            log.get("rec-000000000000000000000000")


def test_threads_lose_nothing(url: str, engine: Engine) -> None:
    check_threads_lose_nothing(url, engine)


def _create_schema(url: str) -> None:
    owner = PostgresStore(url)
    try:
        owner.create_schema()
    finally:
        owner.close()


@pytest.mark.slow
def test_four_processes_500_appends_each(url: str) -> None:
    _create_schema(url)  # as in production: the owner creates the tables once
    procs = [writer(url, f"p{n}", 500) for n in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    with open_log(url, key=KEY) as log:
        result = log.verify()
        records = list(log.records())
    assert result.ok and result.authenticated, result
    assert [r.seq for r in records] == list(range(1, 2001))  # one chain: 0 lost, 0 forked
    ids = [r.case_id for r in records]
    assert len(set(ids)) == len(ids) == 2000  # 0 duplicated
    assert set(ids) == {f"p{n}-{i}" for n in range(4) for i in range(500)}


@pytest.mark.slow
def test_sigkill_mid_append_loses_nothing_acknowledged(url: str, engine: Engine) -> None:
    _create_schema(url)
    procs = [writer(url, f"k{n}", -1) for n in range(2)]
    acknowledged: set[int] = set()
    try:
        assert procs[0].stdout is not None
        for line in procs[0].stdout:
            if line.startswith("ready"):
                continue
            acknowledged.add(int(line.split()[0]))
            if len(acknowledged) >= 40:
                break
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
    for proc in procs:
        out, _ = proc.communicate(timeout=30)
        acknowledged |= {int(line.split()[0]) for line in out.splitlines() if line[0].isdigit()}
        assert proc.returncode == -signal.SIGKILL
    with open_log(url, key=KEY) as log:
        result = log.verify()
        seqs = [r.seq for r in log.records()]
        assert result.ok, result  # a transaction cut by the kill was rolled back: no torn row
        assert seqs == list(range(1, result.count + 1))
        assert acknowledged <= set(seqs)
        case = small_case("after-kill")
        record = log.append(engine.evaluate(case, at=AT), case)
        assert record.seq == result.count + 1
        assert log.verify().ok


# --------------------------------------------------------------------------- tampering

PG_TAMPERS = [t for t in TAMPERS if t.edit is not None and "sqlite" in t.stores] + [
    Tamper(
        f"change the index column {column}",
        None,
        "tampered",
        "tampered",
        sql=f"UPDATE {RECORDS} SET {column} = 'EVIL' WHERE seq = 3",
    )
    for column in ("case_id", "report_id", "pseudonym")
]


@pytest.fixture(scope="module")
def template(server: PgServer, engine: Engine) -> str:
    """A keyed log of every bundled example, written once; tests copy the database."""
    url = server.new_database()
    with open_log(url, key=KEY) as log:
        fill_with_examples(log, engine)
    return url


def _copy(server: PgServer, template: str) -> str:
    name = urlsplit(template).path.lstrip("/")
    copy = f"{name}_copy_{os.urandom(4).hex()}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    return server.url(copy)


def _tamper(url: str, tamper: Tamper) -> None:
    """As an intruder with superuser rights: triggers off (replica role), rows rewritten."""
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        if tamper.sql is not None:
            conn.execute(tamper.sql)
            return
        assert tamper.edit is not None
        texts = [
            text for _, text in conn.execute(f"SELECT seq, record FROM {RECORDS} ORDER BY seq")
        ]
        edited = tamper.edit(texts)
        assert edited != texts
        conn.execute(f"DELETE FROM {RECORDS}")
        for position, text in enumerate(edited, start=1):
            conn.execute(
                f"INSERT INTO {RECORDS} (seq, record_id, hash, case_id, report_id, pseudonym,"
                " record) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                intruder_row(position, text),
            )


@pytest.mark.parametrize("tamper", PG_TAMPERS, ids=[t.what for t in PG_TAMPERS])
def test_verify_detects_tampering(tamper: Tamper, server: PgServer, template: str) -> None:
    with open_log(template, key=KEY) as log:
        assert log.verify().authenticated
    url = _copy(server, template)
    _tamper(url, tamper)
    for key, expected in ((KEY, tamper.with_key), (None, tamper.without_key)):
        with open_log(url, key=key) as log:
            result = log.verify()
        if expected is None:
            assert result.ok, str(result)
        else:
            assert not result.ok and result.problem is not None
            assert result.problem.kind == expected, str(result)


def test_cli_writes_and_verifies_a_postgres_log(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from tests.conftest import EXAMPLES
    from trd_cds.cli import main

    monkeypatch.setenv(ENV_KEY, KEY.decode())
    runner = CliRunner()
    at = ["--at", "2026-11-24T09:00:00Z"]
    wrote = runner.invoke(
        main, ["evaluate", str(EXAMPLES), "--format", "jsonl", "--audit", url, *at]
    )
    assert wrote.exit_code == 0, wrote.stderr
    verified = runner.invoke(main, ["audit", "verify", url])
    assert verified.exit_code == 0, verified.stderr
    listed = runner.invoke(main, ["audit", "list", url])
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) >= len(
        list(EXAMPLES.glob("*.yaml"))
    )


#: Half an append, then wait to be killed: the chain lock taken and a row inserted, no commit.
HALF_APPEND = """
import sys, time
import psycopg
from trd_cds.engine.audit.pg_store import LOCK_KEY, RECORDS
conn = psycopg.connect(sys.argv[1])
conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
conn.execute(
    f"INSERT INTO {RECORDS} (seq, record_id, hash, case_id, report_id, record)"
    " VALUES (999, 'half', 'h', 'c', 'r', '{}')"
)
print("inside", flush=True)
time.sleep(600)
"""


def test_a_writer_killed_inside_its_transaction_leaves_nothing(url: str, engine: Engine) -> None:
    with open_log(url, key=KEY) as log:
        case = small_case("before")
        log.append(engine.evaluate(case, at=AT), case)
    proc = subprocess.Popen(
        [sys.executable, "-c", HALF_APPEND, url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "inside"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    with open_log(url, key=KEY) as log:  # the lock died with the client: this does not wait
        case = small_case("after")
        record = log.append(engine.evaluate(case, at=AT), case)
        assert record.seq == 2
        result = log.verify()
        assert result.ok and result.count == 2, result
    assert [seq for seq, _ in _rows(url)] == [1, 2]  # the half-written row was rolled back
