"""Tamper evidence: every manipulation of a stored log, on both stores, verified with and
without the key. ``TAMPERS`` is the table the README's "Audit trail" section shows
(``python -m tests.test_audit_tamper`` prints it as Markdown)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.audit_support import (
    KEY,
    OTHER_KEY,
    STORES,
    canonical,
    edit_record,
    fill_with_examples,
    rechain,
    reseal,
    rewrite,
    stored_texts,
)
from trd_cds import Engine
from trd_cds.engine.audit import ENV_KEY, open_log

Texts = list[str]


def _note(data: dict[str, Any]) -> None:
    """An edit no cross-check inside the record covers."""
    data["recovered_tail"] = {"note": "planted"}


def _edit_case_id(data: dict[str, Any]) -> None:
    data["case_id"] = "someone-else"


def _resealed_note(texts: Texts) -> Texts:
    return [*texts[:2], edit_record(texts[2], lambda d: (_note(d), reseal(d))), *texts[3:]]


def _forged_append(texts: Texts) -> Texts:
    """A copy of the last record, numbered, linked and resealed as the next one; its MAC is
    the last record's (an intruder cannot compute a new one)."""
    data = json.loads(texts[-1])
    data["seq"] += 1
    data["prev_hash"] = data["hash"]
    reseal(data)
    return [*texts, canonical(data)]


def _unkeyed_append(texts: Texts) -> Texts:
    data = json.loads(texts[-1])
    data.update(seq=data["seq"] + 1, prev_hash=data["hash"], mac=None, key_id=None)
    data["subject"]["key_id"] = None
    reseal(data)
    return [*texts, canonical(data)]


def _strip_macs(texts: Texts) -> Texts:
    def strip(data: dict[str, Any]) -> None:
        data.update(mac=None, key_id=None)

    return rechain([edit_record(t, strip) for t in texts])


def _other_key(texts: Texts) -> Texts:
    from trd_cds.engine.audit.keys import key_id

    def rekey(data: dict[str, Any]) -> None:
        data["key_id"] = key_id(OTHER_KEY)
        if data["subject"]["key_id"]:
            data["subject"]["key_id"] = key_id(OTHER_KEY)

    return rechain([edit_record(t, rekey) for t in texts], key=OTHER_KEY)


def _inject_duplicate_key(texts: Texts) -> Texts:
    return [*texts[:2], '{"case_id":"EVIL-CASE",' + texts[2][1:], *texts[3:]]


def _not_canonical(texts: Texts) -> Texts:
    return [*texts[:2], texts[2].replace('"seq":', '"seq": ', 1), *texts[3:]]


def _new_mac(texts: Texts) -> Texts:
    def change(data: dict[str, Any]) -> None:
        data["mac"] = "hmac-sha256:" + "0" * 64

    return [*texts[:-1], edit_record(texts[-1], change)]


def _insert_forged(texts: Texts) -> Texts:
    return rechain([*texts[:3], edit_record(texts[2], _note), *texts[3:]], start=3)


@dataclass(frozen=True)
class Tamper:
    """One manipulation; ``with_key``/``without_key``: the problem kind ``verify`` reports in
    that mode, or None when that mode cannot see it."""

    what: str
    edit: Callable[[Texts], Texts] | None
    with_key: str | None
    without_key: str | None
    stores: tuple[str, ...] = tuple(STORES)
    sql: str | None = None  # instead of ``edit``: an UPDATE on the SQLite table
    torn: bool = False  # instead of ``edit``: cut the JSONL file inside its last line


TAMPERS = [
    Tamper(
        "edit a field",
        lambda t: [*t[:2], edit_record(t[2], _edit_case_id), *t[3:]],
        "tampered",
        "tampered",
    ),
    Tamper("edit a field and recompute its hash", _resealed_note, "forged", "broken_link"),
    Tamper(
        "edit a field and rebuild the chain after it",
        lambda t: rechain([*t[:2], edit_record(t[2], _note), *t[3:]], start=2),
        "forged",
        None,
    ),
    Tamper("delete a record", lambda t: [*t[:3], *t[4:]], "sequence_gap", "sequence_gap"),
    Tamper(
        "delete a record and rebuild the chain",
        lambda t: rechain([*t[:3], *t[4:]], start=3),
        "forged",
        None,
    ),
    Tamper(
        "swap two records", lambda t: [t[0], t[2], t[1], *t[3:]], "sequence_gap", "sequence_gap"
    ),
    Tamper(
        "swap two records and rebuild the chain",
        lambda t: rechain([t[0], t[2], t[1], *t[3:]], start=1),
        "forged",
        None,
    ),
    Tamper(
        "insert a copy of a record",
        lambda t: [*t[:3], t[2], *t[3:]],
        "broken_link",
        "broken_link",
        stores=("jsonl",),  # SQLite's UNIQUE record_id refuses the row
    ),
    Tamper("insert a forged record and rebuild the chain", _insert_forged, "forged", None),
    Tamper("append a forged, correctly chained record", _forged_append, "forged", None),
    Tamper(
        "append a correctly chained record without a MAC",
        _unkeyed_append,
        "unauthenticated",
        "unauthenticated",
    ),
    Tamper("replace a MAC", _new_mac, "forged", None),
    Tamper(
        "rewrite the whole log without MACs (or as format 1)",
        _strip_macs,
        "unauthenticated",
        None,
    ),
    Tamper("rewrite the whole log under another key", _other_key, "wrong_key", None),
    Tamper(
        'inject a duplicate key ("case_id":"EVIL-CASE")',
        _inject_duplicate_key,
        "malformed",
        "malformed",
    ),
    Tamper("store non-canonical bytes (same JSON value)", _not_canonical, "tampered", "tampered"),
    Tamper("cut the last record (at a record boundary)", lambda t: t[:-1], None, None),
    Tamper(
        "cut inside the last record (torn line)",
        None,
        "truncated",
        "truncated",
        stores=("jsonl",),
        torn=True,
    ),
    *(
        Tamper(
            f"change the SQLite index column {column}",
            None,
            "tampered",
            "tampered",
            stores=("sqlite",),
            sql=f"UPDATE audit_records SET {column} = 'EVIL' WHERE seq = 3",
        )
        for column in ("case_id", "report_id", "pseudonym")
    ),
]

CASES = [pytest.param(t, store, id=f"{store}-{t.what}") for t in TAMPERS for store in t.stores]


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> dict[str, Path]:
    """A keyed log of every bundled example, per store, written once."""
    out = {}
    for store in STORES:
        path = tmp_path_factory.mktemp("template") / f"audit.{store}"
        with open_log(path, key=KEY) as log:
            fill_with_examples(log, engine)
        out[store] = path
    return out


def _tampered_copy(tamper: Tamper, template: Path, tmp_path: Path) -> Path:
    path = tmp_path / template.name
    shutil.copy(template, path)
    if tamper.edit is not None:
        rewrite(path, tamper.edit)
    elif tamper.sql is not None:
        with sqlite3.connect(path) as conn:
            conn.execute(tamper.sql)
        conn.close()
    elif tamper.torn:
        path.write_bytes(path.read_bytes()[:-100])
    return path


@pytest.mark.parametrize(("tamper", "store"), CASES)
def test_verify_detects_what_the_table_says(
    tamper: Tamper, store: str, templates: dict[str, Path], tmp_path: Path
) -> None:
    with open_log(templates[store], key=KEY) as log:
        assert log.verify().authenticated  # the untouched log
    path = _tampered_copy(tamper, templates[store], tmp_path)
    if tamper.edit is not None:  # the edit did change the log
        assert stored_texts(path) != stored_texts(templates[store])
    for key, expected in ((KEY, tamper.with_key), (None, tamper.without_key)):
        with open_log(path, key=key) as log:
            result = log.verify()
        assert result.authenticity == (
            "not_checked" if key is None else "verified" if expected is None else "failed"
        )
        if expected is None:
            assert result.ok, str(result)
        else:
            assert not result.ok and result.problem is not None
            assert result.problem.kind == expected, str(result)


def test_with_the_key_only_a_cut_at_the_end_goes_unseen() -> None:
    """The claim the README makes: with the key, verify detects any edit, insertion,
    deletion, reordering or appended forgery; only cutting records off the end needs an
    anchor (test_audit.py::test_anchor_catches_a_rewritten_or_cut_tail)."""
    unseen = [t.what for t in TAMPERS if t.with_key is None]
    assert unseen == ["cut the last record (at a record boundary)"]


def test_a_duplicate_key_injection_is_not_shown_as_a_record(
    templates: dict[str, Path], tmp_path: Path
) -> None:
    tamper = next(t for t in TAMPERS if t.edit is _inject_duplicate_key)
    for store in STORES:
        (tmp_path / store).mkdir()
        path = _tampered_copy(tamper, templates[store], tmp_path / store)
        with open_log(path) as log:
            with pytest.raises(Exception, match="duplicate key 'case_id'"):
                list(log.records())
            assert "duplicate key 'case_id'" in str(log.verify())


def markdown_table() -> str:
    """The README table: what ``verify`` reports for each manipulation, in each mode."""

    def cell(kind: str | None) -> str:
        return f"detected (`{kind}`)" if kind else "**not detected**"

    rows = [
        "| manipulation | stores | `verify` with the key | `verify` without the key |",
        "|---|---|---|---|",
    ]
    for t in TAMPERS:
        stores = ", ".join({"jsonl": "JSONL", "sqlite": "SQLite"}[s] for s in t.stores)
        rows.append(f"| {t.what} | {stores} | {cell(t.with_key)} | {cell(t.without_key)} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
