"""Rule pins: a rule's behaviour may change only together with its ``version``.

``tests/rule_pins.json`` records, for every rule id, its ``version`` and the sha256 of its
*behaviour*: the canonical JSON of ``when`` (the condition, compiled to durable_rules JSON, so
re-spelling a condition changes no pin), ``action`` (compiled to its flat dict), ``strength``
and ``status``. Title, rationale, citations and notes are left out: rewording them changes no
recommendation. ``tests/test_audit_rule_pins.py`` fails when a rule's behaviour changed but its
version did not (an audit trail naming ``id@version`` would then name two different rules with
one reference), and when the pins are out of date.

After changing a rule's behaviour, bump its ``version`` in the rule file, then run from the
repository root::

    python -m tests.pin_rules

and commit ``tests/rule_pins.json`` with the rule. The command refuses to pin a behaviour change
whose version was not bumped, so regenerating cannot hide one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trd_cds.rules.loader import LoadedRule, Ruleset, compiled_rule, load_ruleset
from trd_cds.schemas.canonical import canonical_json, sha256

PINS = Path(__file__).with_name("rule_pins.json")
REGENERATE = "python -m tests.pin_rules"
ABOUT = (
    "Rule id -> version and sha256 of its behaviour (when, action, strength, status). "
    f"Bump a rule's version when its behaviour changes, then run `{REGENERATE}`."
)
BEHAVIOUR = ("when", "action", "strength", "status")


def behaviour_hash(loaded: LoadedRule) -> str:
    compiled = compiled_rule(loaded.rule, loaded.condition)
    return sha256(canonical_json({key: compiled[key] for key in BEHAVIOUR}))


def compute_pins(ruleset: Ruleset) -> dict[str, dict[str, Any]]:
    return {
        loaded.rule.id: {"version": loaded.rule.version, "sha256": behaviour_hash(loaded)}
        for loaded in sorted(ruleset.rules, key=lambda r: r.rule.id)
    }


@dataclass(frozen=True)
class PinProblem:
    kind: Literal["unversioned_change", "version_down", "stale", "new", "removed"]
    rule_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.message}"


def check_pins(
    current: dict[str, dict[str, Any]], pinned: dict[str, dict[str, Any]]
) -> list[PinProblem]:
    problems = []
    for rule_id, now in current.items():
        pin = pinned.get(rule_id)
        if pin is None:
            problems.append(PinProblem("new", rule_id, f"new rule, not pinned: run `{REGENERATE}`"))
        elif now["version"] == pin["version"] and now["sha256"] != pin["sha256"]:
            problems.append(
                PinProblem(
                    "unversioned_change",
                    rule_id,
                    f"behaviour (when/action/strength/status) changed but version is still "
                    f"{now['version']}: bump `version` in the rule file to {now['version'] + 1}, "
                    f"then run `{REGENERATE}`",
                )
            )
        elif now["version"] < pin["version"]:
            problems.append(
                PinProblem(
                    "version_down",
                    rule_id,
                    f"version went down from {pin['version']} to {now['version']}: versions "
                    "only go up (an audit log may already name the higher one)",
                )
            )
        elif now != pin:
            problems.append(
                PinProblem(
                    "stale",
                    rule_id,
                    f"version {pin['version']} -> {now['version']}: pin it with `{REGENERATE}`",
                )
            )
    for rule_id in sorted(set(pinned) - set(current)):
        problems.append(
            PinProblem(
                "removed",
                rule_id,
                "pinned but gone from the rules (audit logs may name it: prefer status: retired); "
                f"if the removal is intended, run `{REGENERATE}`",
            )
        )
    return problems


def read_pins(path: Path = PINS) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    pins: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8"))["rules"]
    return pins


def main() -> int:
    """Regenerate the pins of the bundled rules; refuse an unversioned behaviour change."""
    current = compute_pins(load_ruleset())
    refused = [
        p
        for p in check_pins(current, read_pins())
        if p.kind in ("unversioned_change", "version_down")
    ]
    for problem in refused:
        print(f"refused: {problem}", file=sys.stderr)
    if refused:
        return 1
    PINS.write_text(
        json.dumps({"about": ABOUT, "rules": current}, indent=2, ensure_ascii=False) + "\n",
        "utf-8",
    )
    print(f"pinned {len(current)} rules in {PINS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
