"""Helpers for the audit-log tests: example evaluations and raw edits of a stored log."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import AT, EXAMPLES, load_yaml
from trd_cds import Engine, Report
from trd_cds.engine.audit import ENV_KEY, GENESIS, AuditLog, open_log
from trd_cds.rules.loader import bundled_rules_dir

KEY = b"audit-test-key-0123456789abcdef"
OTHER_KEY = b"another-audit-key-9876543210fedcba"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
STORES = ["jsonl", "sqlite"]

#: A small case with an identifier that must never reach the log in clear.
SECRET_ID = "MRN-SECRET-4711"
SMALL_CASE: dict[str, Any] = {
    "case_id": "small-1",
    "patient": {"id": SECRET_ID, "age": 45, "sex": "female"},
    "diagnosis": {"primary": "mdd"},
    "episode": {"duration_months": 14, "severity": "moderate"},
    "antidepressant_trials": [
        {
            "drug": "sertraline",
            "drug_class": "ssri",
            "dose_adequate": True,
            "weeks_at_dose": 8,
            "adherence": "good",
            "outcome": "no_response",
        },
        {
            "drug": "mirtazapine",
            "drug_class": "other",
            "dose_adequate": True,
            "weeks_at_dose": 6,
            "adherence": "good",
            "outcome": "partial_response",
        },
    ],
}

#: The rule the modified-ruleset tests retire, and the example case it recommends TMS for.
TMS_RULE = "neuromod.tms_after_medication_and_therapy"
TMS_CASE = "example-01-trd"


def small_case(case_id: str, patient_id: str | None = SECRET_ID) -> dict[str, Any]:
    case = json.loads(json.dumps(SMALL_CASE))
    case["case_id"] = case_id
    if patient_id is None:
        del case["patient"]["id"]
    else:
        case["patient"]["id"] = patient_id
    return case


def fill_with_examples(log: AuditLog, engine: Engine) -> list[tuple[Report, dict[str, Any]]]:
    """Append one record per bundled example; return what was appended."""
    done = []
    for path in EXAMPLE_FILES:
        case = load_yaml(path)
        report = engine.evaluate(case, at=AT)
        log.append(report, case)
        done.append((report, case))
    return done


# ------------------------------------------------------------- raw access to a stored log


def stored_texts(path: Path) -> list[str]:
    """The stored record texts in storage order (JSONL lines / SQLite rows by seq)."""
    if path.suffix == ".jsonl":
        return path.read_text("utf-8").splitlines()
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT record FROM audit_records ORDER BY seq")]


def intruder_row(position: int, text: str) -> tuple[Any, ...]:
    """A database row an intruder writes for a record text: the position as ``seq``, the
    text's own ids where it has them (so the columns look plausible), junk where it has not."""
    try:
        data = json.loads(text)
    except ValueError:
        data = {}
    return (
        position,
        data.get("record_id", f"junk-{position}"),
        data.get("hash", ""),
        data.get("case_id", ""),
        data.get("provenance", {}).get("report_id", ""),
        data.get("subject", {}).get("pseudonym"),
        text,
    )


def rewrite(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    """Replace the stored records as an intruder with write access would.

    SQLite rows get their position as ``seq`` column (a row's content moved, not renumbered
    rows) and their own record's id and hash, so the row columns look plausible.
    """
    texts = edit(stored_texts(path))
    if path.suffix == ".jsonl":
        path.write_text("".join(t + "\n" for t in texts), "utf-8")
        return
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM audit_records")
        for position, text in enumerate(texts, start=1):
            conn.execute(
                "INSERT INTO audit_records (seq, record_id, hash, case_id, report_id, pseudonym,"
                " record) VALUES (?, ?, ?, ?, ?, ?, ?)",
                intruder_row(position, text),
            )
    conn.close()


def edit_record(text: str, change: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(text)
    change(data)
    return canonical(data)


def reseal(data: dict[str, Any], key: bytes | None = None) -> None:
    """Recompute a record's hash and id after an edit, as a careful intruder would. Only a
    holder of ``key`` can also recompute the MAC; otherwise the stale one stays."""
    from trd_cds.engine.audit.keys import AuditKey
    from trd_cds.engine.audit.record import body_hash, record_id_for

    body = {k: v for k, v in data.items() if k not in ("hash", "record_id", "mac")}
    data["hash"] = body_hash(body)
    data["record_id"] = record_id_for(data["hash"])
    if key is not None:
        data["mac"] = AuditKey.of(key).chain_mac(data["hash"])


def rechain(texts: list[str], start: int = 0, key: bytes | None = None) -> list[str]:
    """Renumber and relink every record from index ``start`` on, resealing each: a rewrite of
    the log's tail that leaves a valid hash chain (and valid MACs only with ``key``)."""
    out = list(texts)
    for i in range(start, len(out)):
        data = json.loads(out[i])
        data["seq"] = i + 1
        data["prev_hash"] = json.loads(out[i - 1])["hash"] if i else GENESIS
        reseal(data, key)
        out[i] = canonical(data)
    return out


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_format_1(texts: list[str]) -> list[str]:
    """The same records as the previous release (format 1: no kind, key_id, mac) wrote them."""
    out: list[str] = []
    for text in texts:
        data = json.loads(text)
        for name in ("kind", "key_id", "mac"):
            del data[name]
        data["format"] = "trd-cds-audit/1"
        data["seq"] = len(out) + 1
        data["prev_hash"] = json.loads(out[-1])["hash"] if out else GENESIS
        reseal(data)
        out.append(canonical(data))
    return out


def log_bytes(directory: Path) -> bytes:
    """Every byte the log left in ``directory`` (SQLite's -wal/-shm files included)."""
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def rules_with_retired_tms(tmp_path: Path) -> Path:
    """A copy of the bundled rules with the TMS rule retired and bumped to version 2."""
    target = tmp_path / "rules"
    shutil.copytree(
        bundled_rules_dir(), target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    for path in target.glob("*.yaml"):
        text = path.read_text("utf-8")
        head = f"  - id: {TMS_RULE}\n    version: 1\n"
        if head in text:
            start = text.index(head)
            block_end = text.find("\n  - id: ", start + 1)
            block_end = len(text) if block_end == -1 else block_end
            block = text[start:block_end]
            assert "status: active" in block
            new = block.replace("version: 1", "version: 2").replace(
                "status: active", "status: retired"
            )
            path.write_text(text[:start] + new + text[block_end:], "utf-8")
            return target
    raise AssertionError(f"{TMS_RULE} not found in the bundled rules")


def check_threads_lose_nothing(target: str, engine: Engine, threads: int = 8) -> None:
    """``threads`` threads append 10 records each to one log (half share one ``AuditLog``,
    half open their own on the same target): every record is there once, the chain verifies."""
    shared = open_log(target, key=KEY)
    errors: list[BaseException] = []

    def work(who: int) -> None:
        log = shared if who % 2 else open_log(target, key=KEY)
        try:
            for i in range(10):
                case = small_case(f"t{who}-{i}")
                log.append(engine.evaluate(case, at=AT), case)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            if log is not shared:
                log.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors
    result = shared.verify()
    ids = sorted(r.case_id for r in shared.records())
    shared.close()
    assert result.ok, result
    assert result.count == 10 * threads
    assert ids == sorted(f"t{w}-{i}" for w in range(threads) for i in range(10))


#: A writer process: appends to the log given in argv (a file or a PostgreSQL URL), printing
#: each acknowledged record. ``count`` < 0 means "until killed". The key comes from the
#: environment, as in production.
WRITER = """
import sys
from datetime import datetime, timezone
from tests.audit_support import small_case
from trd_cds import Engine
from trd_cds.engine.audit import open_log

target, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = Engine()
at = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)
print("ready", flush=True)
with open_log(target) as log:
    i = 0
    while count < 0 or i < count:
        case = small_case(f"{who}-{i}")
        record = log.append(engine.evaluate(case, at=at), case)
        print(record.seq, record.case_id, flush=True)
        i += 1
"""


def writer(target: str | Path, who: str, count: int) -> subprocess.Popen[str]:
    """Start :data:`WRITER` on ``target`` in a process of its own."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, ENV_KEY: KEY.decode(), "PYTHONPATH": str(root)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), who, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
