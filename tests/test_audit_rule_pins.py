"""Rule versions: a rule's behaviour cannot change without a version bump (see tests/pin_rules.py).

An audit record names rules as ``id@version``; if a rule's condition or action changed under
the same version, that name would point at two different rules and a replay could not say
which rule changed an outcome.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.pin_rules import PINS, REGENERATE, check_pins, compute_pins, read_pins
from trd_cds.rules.loader import bundled_rules_dir, load_ruleset

RULE = "neuromod.tms_after_medication_and_therapy"


def test_every_rule_is_pinned_at_its_current_behaviour() -> None:
    problems = check_pins(compute_pins(load_ruleset()), read_pins())
    assert not problems, "\n".join(str(p) for p in problems)


def _edited_rules(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(
        bundled_rules_dir(), target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    for path in target.glob("*.yaml"):
        text = path.read_text("utf-8")
        start = text.find(f"  - id: {RULE}\n")
        if start != -1:
            end = text.find("\n  - id: ", start + 1)
            end = len(text) if end == -1 else end
            block = text[start:end]
            assert old in block, old
            path.write_text(text[:start] + block.replace(old, new, 1) + text[end:], "utf-8")
            return target
    raise AssertionError(f"{RULE} not found")


def _problems(rules: Path) -> list[tuple[str, str]]:
    pinned = compute_pins(load_ruleset(bundled_rules_dir()))
    return [(p.kind, p.rule_id) for p in check_pins(compute_pins(load_ruleset(rules)), pinned)]


def test_a_condition_change_without_a_bump_is_caught(tmp_path: Path) -> None:
    rules = _edited_rules(
        tmp_path, "adequate_failed_ad_trials >= 1", "adequate_failed_ad_trials >= 2"
    )
    assert _problems(rules) == [("unversioned_change", RULE)]
    problem = check_pins(compute_pins(load_ruleset(rules)), compute_pins(load_ruleset()))[0]
    assert "bump `version`" in str(problem) and REGENERATE in str(problem)


def test_a_strength_change_without_a_bump_is_caught(tmp_path: Path) -> None:
    rules = _edited_rules(tmp_path, "strength: offer", "strength: consider")
    assert _problems(rules) == [("unversioned_change", RULE)]


def test_a_bumped_change_only_asks_for_new_pins(tmp_path: Path) -> None:
    rules = _edited_rules(tmp_path, "version: 1\n", "version: 2\n")
    assert _problems(rules) == [("stale", RULE)]


def test_respelling_a_condition_needs_no_bump(tmp_path: Path) -> None:
    """Pins are taken over the compiled condition: the same condition written another way
    (parentheses, a comparison spelled out, a derived binding name written) pins the same."""
    rules = _edited_rules(
        tmp_path,
        "and adequate_failed_ad_trials >= 1 and adequate_failed_psychotherapy_trials >= 1 and not in_remission",
        "and not adequate_failed_ad_trials < 1 and adequate_failed_psychotherapy_trials >= 1 and in_remission == false",
    )
    assert _problems(rules) == []
    assert load_ruleset(rules).content_hash == load_ruleset().content_hash


def test_rewording_needs_no_bump(tmp_path: Path) -> None:
    rules = _edited_rules(tmp_path, "title: TMS when", "title: rTMS when")
    assert _problems(rules) == []


def test_the_generator_refuses_an_unversioned_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tests.pin_rules as pin_rules

    rules = _edited_rules(tmp_path, "strength: offer", "strength: consider")
    pins = tmp_path / "rule_pins.json"
    pins.write_text(PINS.read_text("utf-8"), "utf-8")
    monkeypatch.setattr(pin_rules, "PINS", pins)
    monkeypatch.setattr(pin_rules, "load_ruleset", lambda: load_ruleset(rules))
    monkeypatch.setattr(pin_rules, "read_pins", lambda: read_pins(pins))
    assert pin_rules.main() == 1
    assert f"refused: {RULE}" in capsys.readouterr().err
    assert pins.read_text("utf-8") == PINS.read_text("utf-8")

    bumped = _edited_rules(tmp_path / "b", "version: 1\n", "version: 2\n")
    monkeypatch.setattr(pin_rules, "load_ruleset", lambda: load_ruleset(bumped))
    assert pin_rules.main() == 0
    assert json.loads(pins.read_text("utf-8"))["rules"][RULE]["version"] == 2
