"""Loading and linting rule files: every problem names the file, the rule and a fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from trd_cds import RuleDefinitionError, RuleLintError, load_ruleset
from trd_cds.rules import bundled_rules_dir
from trd_cds.schemas.rule import SEED_LINES


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), target, ignore=shutil.ignore_patterns("*.py", "__*"))
    return target


RULE = """
  - id: {id}
    version: 1
    title: t
    status: active
    when: {{all: [p: patient]}}
    action: {{kind: caution, options: [tms]}}
    rationale: "{rationale}"
    citations: {citations}
"""


def _write(folder: Path, *rules: str) -> None:
    (folder / "99_test.yaml").write_text("rules:" + "".join(rules), "utf-8")


def test_bundled_rules_are_clean() -> None:
    ruleset = load_ruleset()
    assert ruleset.warnings == ()
    assert len(ruleset.active) >= 80
    assert ruleset.content_hash.startswith("sha256:")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    one = RULE.format(id="test.dup", rationale="x", citations="[{kind: seed, ref: L1}]")
    _write(folder, one, one)
    with pytest.raises(RuleLintError, match="duplicate rule id"):
        load_ruleset(folder)


def test_missing_citations_are_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _write(folder, RULE.format(id="test.nocite", rationale="x", citations="[]"))
    with pytest.raises(RuleLintError, match="no citations") as info:
        load_ruleset(folder)
    assert info.value.file == "99_test.yaml"
    assert info.value.line == 2


def test_seed_lines_must_exist(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    cite = f"[{{kind: seed, ref: L{SEED_LINES + 1}}}]"
    _write(folder, RULE.format(id="test.seed", rationale="x", citations=cite))
    with pytest.raises(RuleLintError, match="outside lines"):
        load_ruleset(folder)


def test_rationale_placeholders_are_checked(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    cite = "[{kind: seed, ref: L1}]"
    _write(folder, RULE.format(id="test.tpl", rationale="{p.agee}", citations=cite))
    with pytest.raises(RuleLintError) as info:
        load_ruleset(folder)
    assert info.value.hint == "age"


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "99_test.yaml").write_text("rules:\n  - id: [unclosed\n", "utf-8")
    with pytest.raises(RuleDefinitionError) as info:
        load_ruleset(folder)
    assert info.value.file == "99_test.yaml"
    assert info.value.line is not None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "cannot be read: Is a directory"),
        (lambda p: p.write_bytes(b"rules: []\n# caf\xe9\n"), r"not UTF-8 text \(byte 0xe9"),
        (lambda p: os.mkfifo(p), r"not a regular file \(a device, FIFO or socket\)"),
        (lambda p: p.symlink_to("/dev/zero"), r"not a regular file \(a device, FIFO or socket\)"),
        (lambda p: p.write_bytes(b"#" * (2 << 20)), "larger than 1,048,576 bytes"),
        (lambda p: p.write_text("rules:\n  - " + "9" * 5000 + "\n"), "invalid YAML: Exceeds"),
    ],
    ids=["folder", "latin-1", "fifo", "dev-zero", "huge", "long-integer"],
)
def test_an_unreadable_rule_file_is_named(tmp_path: Path, make: Any, message: str) -> None:
    """A rule file that is not readable UTF-8 text is a clear rules error (exit 3) naming
    it, with the ruleset cache and without: never a traceback."""
    folder = _copy(tmp_path / "rules")
    make(folder / "99_odd.yaml")
    for cache_dir in (None, tmp_path / "cache"):
        with pytest.raises(RuleDefinitionError, match=message) as info:
            load_ruleset(folder, cache_dir=cache_dir)
        assert info.value.file == "99_odd.yaml" and info.value.exit_code == 3


def test_hash_ignores_file_layout_but_not_content(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    original = load_ruleset().content_hash
    verify = folder / "20_verify.yaml"
    verify.write_text("# a comment changes nothing\n" + verify.read_text("utf-8"), "utf-8")
    assert load_ruleset(folder).content_hash == original
    verify.write_text(
        verify.read_text("utf-8").replace(
            "inadequate_failed_ad_trials >= 1", "inadequate_failed_ad_trials >= 2"
        ),
        "utf-8",
    )
    assert load_ruleset(folder).content_hash != original


@pytest.mark.parametrize(
    ("file", "old", "new", "key"),
    [
        # a second status would retire the high-suicide-risk gate without a word
        (
            "00_safety.yaml",
            "    status: active\n",
            "    status: active\n    status: retired\n",
            "status",
        ),
        ("ruleset.yaml", "version:", "version: evil\nversion:", "version"),
    ],
)
def test_a_key_written_twice_in_a_rule_file_is_an_error(
    tmp_path: Path, file: str, old: str, new: str, key: str
) -> None:
    folder = _copy(tmp_path)
    path = folder / file
    path.write_text(path.read_text("utf-8").replace(old, new, 1), "utf-8")
    with pytest.raises(RuleDefinitionError, match=f"duplicate key '{key}' on line") as info:
        load_ruleset(folder)
    assert info.value.file == file and info.value.line is not None
