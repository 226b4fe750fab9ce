"""A throwaway PostgreSQL server for the tests and the benchmark (Debian's ``postgresql``).

``initdb`` + ``pg_ctl`` in a fresh temporary folder, listening on a Unix socket in that folder
only (no TCP port to collide with). PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` user (``runuser``) and the folder is handed to it. ``find_bin`` returns
None when the binaries are absent (the tests then skip, saying so).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

RUN_AS = "postgres"


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def missing_reason() -> str | None:
    """Why no server can be started here, or None."""
    for name in ("initdb", "pg_ctl"):
        if find_bin(name) is None:
            return f"PostgreSQL binaries ({name}) not found: apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root and there is no {RUN_AS!r} user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class PgServer:
    """A running server; ``url(db)`` connects as the superuser ``postgres`` over the socket.

    ``durable=False`` (the tests) turns fsync off: they kill clients, not the server, so it
    changes nothing they check and makes ``CREATE DATABASE`` fast. The benchmark keeps it on.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="trd-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            entry = pwd.getpwnam(RUN_AS)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                find_bin("initdb") or "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        options = f"-k {self.base} -c listen_addresses='' -c max_connections=60"
        if not durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            [
                find_bin("pg_ctl") or "pg_ctl",
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self._counter = 0

    def _run(self, argv: list[str]) -> None:
        if self._as_root:
            argv = ["runuser", "-u", RUN_AS, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.base)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {done.stderr}\n{log}")

    def url(self, db: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{db}?host={self.base}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL (as the superuser)."""
        import psycopg

        self._counter += 1
        name = f"t{os.getpid()}_{self._counter}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run([find_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "fast", "stop"])
        shutil.rmtree(self.base, ignore_errors=True)
