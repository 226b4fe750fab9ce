"""Replaying an audit log: would this engine say the same today, and if not, why not?

Each stored input is evaluated again at its recorded ``evaluated_at``. When the engine,
ruleset and settings are the recorded ones, the new report must be the stored one byte for
byte (anything else is a ``mismatch``: an unexplained change, e.g. engine code changed without
a version bump). When they differ, the result says what changed (``config``), which outcomes
would change (recommended / blocked options, gates, cautions, strength, order) with the rules
behind them before and after, and which fired rules appeared, disappeared or changed version.
Replay does not check the hash chain: run ``verify`` for that.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from ...schemas.errors import TrdCdsError
from ...schemas.report import Report
from ...schemas.report_document import Provenance
from ..core import Engine
from .record import AuditRecord

Status = Literal["identical", "changed", "mismatch", "error"]


@dataclass(frozen=True)
class OutcomeChange:
    """One outcome that differs, with the rules behind it before and after (``id@version``)."""

    what: Literal["recommended", "blocked", "gate", "caution"]
    item: str
    change: Literal["added", "removed", "strength", "order"]
    detail: str
    old_rules: tuple[str, ...] = ()
    new_rules: tuple[str, ...] = ()

    def __str__(self) -> str:
        rules = f" [{', '.join(self.old_rules) or '-'} → {', '.join(self.new_rules) or '-'}]"
        return f"{self.what} {self.item}: {self.change}: {self.detail}{rules}"


@dataclass(frozen=True)
class RuleChange:
    """A fired rule that appeared, disappeared or fired at another version."""

    rule_id: str
    old: str | None
    new: str | None
    now: str = ""  # the rule in the replaying ruleset: "now id@2, active", "not in the ruleset"

    def __str__(self) -> str:
        if self.old and self.new:
            return f"{self.old} → {self.new}"
        if self.old:
            return f"{self.old} no longer fires ({self.now})"
        return f"{self.new} now fires"


@dataclass(frozen=True)
class ReplayItem:
    seq: int
    record_id: str
    case_id: str
    status: Status
    detail: str
    config: tuple[str, ...] = ()
    outcome: tuple[OutcomeChange, ...] = ()
    rules: tuple[RuleChange, ...] = ()


@dataclass(frozen=True)
class ReplayResult:
    items: tuple[ReplayItem, ...]

    @property
    def ok(self) -> bool:
        """True when every report reproduced, or differs only because the configuration did."""
        return all(i.status in ("identical", "changed") for i in self.items)

    def count(self, status: Status) -> int:
        return sum(1 for i in self.items if i.status == status)

    def __str__(self) -> str:
        differ = sum(1 for i in self.items if i.status == "changed" and i.outcome)
        return (
            f"{len(self.items)} replayed: {self.count('identical')} identical, "
            f"{self.count('changed')} under another engine/ruleset/settings ({differ} with "
            f"different outcomes), {self.count('mismatch')} mismatch, {self.count('error')} error"
        )


def replay(records: Iterable[AuditRecord], engine: Engine) -> ReplayResult:
    """Replay the evaluation records (feedback records hold no evaluation to replay)."""
    return ReplayResult(tuple(replay_one(r, engine) for r in records if r.kind == "evaluation"))


def replay_one(record: AuditRecord, engine: Engine) -> ReplayItem:
    here = (record.seq, record.record_id, record.case_id)
    try:
        old = record.report()
        at = datetime.fromisoformat(record.evaluated_at)
        new = engine.evaluate(
            record.input_case(), at=at, sources=record.provenance.get("input_sources")
        )
    except (ValidationError, ValueError, TrdCdsError) as exc:
        return ReplayItem(*here, "error", f"cannot replay: {type(exc).__name__}: {exc}")
    config = tuple(config_changes(old.provenance, new.provenance))
    outcome = outcome_changes(old, new)
    rules = rule_changes(old, new, engine)
    if config:
        detail = f"{len(outcome)} outcome change(s)" if outcome else "no outcome changed"
        return ReplayItem(*here, "changed", detail, config, outcome, rules)
    new_json = new.to_json()
    if new_json == record.report_json:
        return ReplayItem(*here, "identical", "byte-identical report")
    detail = _first_difference(record.report_json, new_json)
    return ReplayItem(*here, "mismatch", detail, config, outcome, rules)


def config_changes(old: Provenance, new: Provenance) -> list[str]:
    """What differs in engine, ruleset, conflict policy and settings (empty: a byte-identical
    replay is due)."""
    out = []
    if old.engine_version != new.engine_version:
        out.append(f"engine {old.engine_version} → {new.engine_version}")
    if old.ruleset.hash != new.ruleset.hash:
        out.append(
            f"ruleset {old.ruleset.id}@{old.ruleset.version} ({old.ruleset.hash}) → "
            f"{new.ruleset.id}@{new.ruleset.version} ({new.ruleset.hash})"
        )
    if old.conflict_policy != new.conflict_policy:  # the engine's policy steps, by name
        added = [p for p in new.conflict_policy if p not in old.conflict_policy]
        removed = [p for p in old.conflict_policy if p not in new.conflict_policy]
        words = [*(f"+{p}" for p in added), *(f"-{p}" for p in removed)] or ["reordered"]
        out.append(f"conflict policy: {', '.join(words)}")
    if old.settings_hash != new.settings_hash:
        keys = sorted(set(old.settings) | set(new.settings))
        for key in keys:
            if old.settings.get(key) != new.settings.get(key):
                out.append(f"setting {key}: {old.settings.get(key)!r} → {new.settings.get(key)!r}")
    return out


def _why_now(report: Report, option: str) -> str:
    for w in report.why_not:
        if w.option.value == option:
            if w.status == "blocked":
                return "now blocked by " + ", ".join(w.blocked_by)
            if w.status == "no_rule":
                return "no active rule recommends it now"
            return "no rule recommends it now"
    return "no longer recommended"


def outcome_changes(old: Report, new: Report) -> tuple[OutcomeChange, ...]:
    out: list[OutcomeChange] = []
    old_rec = {r.option.value: r for r in old.recommendations}
    new_rec = {r.option.value: r for r in new.recommendations}
    for option, rec in old_rec.items():
        if option not in new_rec:
            why = _why_now(new, option)
            out.append(OutcomeChange("recommended", option, "removed", why, tuple(rec.rules)))
        elif rec.strength != new_rec[option].strength:
            now = new_rec[option]
            detail = f"{rec.strength.value} → {now.strength.value}"
            out.append(
                OutcomeChange(
                    "recommended", option, "strength", detail, tuple(rec.rules), tuple(now.rules)
                )
            )
    for option, rec in new_rec.items():
        if option not in old_rec:
            detail = f"now recommended ({rec.strength.value}, order {rec.order})"
            out.append(OutcomeChange("recommended", option, "added", detail, (), tuple(rec.rules)))
    old_order = [o for o in old_rec if o in new_rec]
    new_order = [o for o in new_rec if o in old_rec]
    if old_order != new_order:
        detail = f"{', '.join(old_order)} → {', '.join(new_order)}"
        out.append(OutcomeChange("recommended", "order", "order", detail))
    pairs: tuple[
        tuple[Literal["blocked", "gate", "caution"], dict[str, list[str]], dict[str, list[str]]],
        ...,
    ] = (
        ("blocked", _rules_by(old, "blocked"), _rules_by(new, "blocked")),
        ("gate", _rules_by(old, "gate"), _rules_by(new, "gate")),
        ("caution", _rules_by(old, "caution"), _rules_by(new, "caution")),
    )
    for what, before, after in pairs:
        for name in sorted(set(before) - set(after)):
            out.append(OutcomeChange(what, name, "removed", "no longer", tuple(before[name])))
        for name in sorted(set(after) - set(before)):
            out.append(OutcomeChange(what, name, "added", "now", (), tuple(after[name])))
    return tuple(out)


def _rules_by(report: Report, what: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if what == "blocked":
        for b in report.blocked:
            out.setdefault(b.option.value, []).extend(b.rules)
    elif what == "gate":
        for g in report.gates:
            out.setdefault(g.gate, []).extend(g.rules)
    else:
        for c in report.cautions:
            out.setdefault(c.option.value, []).extend(c.rules)
    return out


def _split_ref(ref: str) -> tuple[str, str]:
    rule_id, _, version = ref.rpartition("@")
    return (rule_id, version) if rule_id else (ref, "")


def rule_changes(old: Report, new: Report, engine: Engine) -> tuple[RuleChange, ...]:
    """Fired rules (the trace) that appeared, disappeared or changed ``id@version``."""
    before = {_split_ref(t.rule)[0]: t.rule for t in old.trace}
    after = {_split_ref(t.rule)[0]: t.rule for t in new.trace}
    out = []
    for rule_id in sorted(set(before) | set(after)):
        was, now = before.get(rule_id), after.get(rule_id)
        if was == now:
            continue
        try:
            loaded = engine.ruleset.get(rule_id).rule
            state = f"now {loaded.ref}, {loaded.status.value}"
        except KeyError:
            state = "not in the ruleset"
        out.append(RuleChange(rule_id, was, now, state))
    return tuple(out)


def _first_difference(old: str, new: str) -> str:
    diff = list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), "recorded", "replayed", n=0)
    )
    shown = "\n".join(diff[2:8])
    return f"the same engine, ruleset and settings gave a different report:\n{shown}"
