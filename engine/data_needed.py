"""Data needed: each fact not recorded that would change an option or raise a gate.

Read off the condition tree, not kept by hand: for each rule that did not fire and would
recommend an option that is neither recommended nor blocked, or would raise a gate, the leaves
that fail *only* because their fact is not recorded, in patterns that recording those facts
could satisfy (a derived ``gate``/``finding`` pattern looks through to the rules that derive
it). A failing leaf on a derived value counts as not recorded when the value rests on items
with unrecorded inputs (``null`` or ``unknown``): a trial's adequacy when that trial's dose,
weeks or adherence is not recorded; a case-level count (adequate failed trials, TRD) when an
uncounted item of the list it counts has unrecorded inputs and the condition asks the count
to rise (``>= 2``, ``trd_2``: recording an item can only add to a count). A caution that
fired because a fact ``is missing`` also asks for it.

Facts are tested with the engine's compiled leaf tests, leaf by leaf: a fact is out at its
first leaf that fails on recorded data, so most facts cost a test or two and no result
objects. (The cautions' ``is missing`` leaves come from the evaluation's one cache,
:meth:`Context.leaf_results`, which the trace shares.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..rules.conditions import MISSING, Expr, Leaf, evaluate_with
from ..schemas.options import OPTION_RANK, Option
from ..schemas.rule import ActionKind
from .explain import DERIVED_TYPES, Context, PatternInfo, RuleInfo, unique
from .policy import Outcome

Json = dict[str, Any]
_UNRECORDED = (None, "unknown")
_RANK: dict[str, int] = {option.value: rank for option, rank in OPTION_RANK.items()}


class Need(NamedTuple):
    """One fact field whose absence keeps a rule from firing."""

    fact_id: str
    field: str
    condition: str


class _Needs:
    """Which unrecorded facts would let a rule fire (memoised per evaluation)."""

    def __init__(self, ctx: Context, findings: list[Json]) -> None:
        self.ctx = ctx
        self.fired = {f.rule_id for f in ctx.firings}
        self.producers = ctx.index.producers
        self.unrecorded_inputs: dict[str, list[str]] = {}
        self.case_level: dict[str, Json] = {}  # case-level findings by name
        for f in findings:
            if f.get("subject"):
                missing = [i["pointer"] for i in f["inputs"] if i["value"] in _UNRECORDED]
                if missing:
                    self.unrecorded_inputs[f["subject"]] = missing
            else:
                self.case_level[f["name"]] = f
        self._counted: dict[str, set[str]] = {}
        self._memo: dict[str, tuple[Need, ...] | None] = {}
        self._patterns: dict[int, tuple[Need, ...] | None] = {}
        self._derived: dict[tuple[int, str], tuple[Need, ...] | None] = {}

    def rule(self, info: RuleInfo, stack: frozenset[str] = frozenset()) -> tuple[Need, ...] | None:
        """The needs that would let a rule that did not fire fire; ``None`` if data cannot."""
        rule_id = info.id
        if rule_id in self._memo:
            return self._memo[rule_id]
        if rule_id in self.fired or rule_id in stack:
            return None
        stack = stack | {rule_id}
        result: tuple[Need, ...] | None
        if info.all_of:
            parts: list[tuple[Need, ...]] = []
            for p in info.patterns:
                part = self.pattern(p, stack)
                if part is None:  # data cannot satisfy this pattern: the rule cannot fire
                    break
                parts.append(part)
            result = _flat(parts) if len(parts) == len(info.patterns) else None
        else:
            result = _flat(p for p in (self.pattern(p, stack) for p in info.patterns) if p) or None
        if result == ():
            result = None
        self._memo[rule_id] = result
        return result

    def pattern(self, info: PatternInfo, stack: frozenset[str]) -> tuple[Need, ...] | None:
        """``()`` when some fact matches, the needs of the cheapest fact that could, or None."""
        if info.fact_type in DERIVED_TYPES and info.derived_name is not None:
            fact_id = f"{info.fact_type}-{info.derived_name}"
            derived = self.ctx.derived.get(fact_id)
            if derived is None:  # not derived: what would let a rule that derives it fire
                producers = self.producers.get(fact_id, ())
                found = [self.rule(p, stack) for p in producers]
                return _flat(n for n in found if n) or None
            key = (info.key, fact_id)
            if key not in self._derived:
                self._derived[key] = self._facts(info, [derived])
            return self._derived[key]
        if info.key not in self._patterns:
            self._patterns[info.key] = self._facts(info, self.ctx.facts_of_type(info.fact_type))
        return self._patterns[info.key]

    def _facts(self, info: PatternInfo, facts: list[Json]) -> tuple[Need, ...] | None:
        """``()`` when a fact matches; else the needs of the facts that need the fewest
        unrecorded leaves to match (any of them would do: the choice does not depend on list
        order); ``None`` when no fact could match by recording data."""
        best: list[tuple[Need, ...]] | None = None
        for fact in facts:
            open_leaves = self._open_leaves(info, fact)
            if open_leaves is None:
                continue
            if not open_leaves:
                return ()
            fact_id = str(fact["id"])
            leaves = info.pattern.leaves
            needs = tuple(Need(fact_id, leaves[i].field, info.conditions[i]) for i in open_leaves)
            if best is None or len(needs) < len(best[0]):
                best = [needs]
            elif len(needs) == len(best[0]):
                best.append(needs)
        return _flat(best) if best is not None else None

    def _open_leaves(self, info: PatternInfo, fact: Json) -> list[int] | None:
        """The leaves (indexes) that recording data would have to make true for the pattern
        to match ``fact``: ``[]`` if it matches, ``None`` if recording data cannot help."""
        leaves = info.pattern.leaves
        if info.flat:  # an 'and' of leaves: out at the first leaf failing on recorded data
            open_leaves: list[int] = []
            for i, test in enumerate(info.tests):
                if not test(fact):
                    leaf = leaves[i]
                    if not self._unknown_value(
                        str(fact["id"]), leaf, fact.get(leaf.field, MISSING)
                    ):
                        return None
                    open_leaves.append(i)
            return open_leaves
        expr = info.pattern.expr
        oks = [test(fact) for test in info.tests]
        if evaluate_with(expr, oks):
            return []
        fact_id = str(fact["id"])
        unknown = [
            not ok and self._unknown_value(fact_id, leaf, fact.get(leaf.field, MISSING))
            for ok, leaf in zip(oks, leaves, strict=True)
        ]
        if not any(unknown):
            return None
        optimistic = [ok or u for ok, u in zip(oks, unknown, strict=True)]
        if not evaluate_with(expr, optimistic):
            return None
        open_ = [i for i, u in enumerate(unknown) if u]
        # the leaves the pattern cannot do without; alternatives (``a or b``): all of them
        decisive = [i for i in open_ if _matters(expr, leaves[i], optimistic)]
        return decisive or open_

    def _unknown_value(self, fact_id: str, leaf: Leaf, actual: Any) -> bool:
        """Whether a leaf that fails on ``actual`` fails only for lack of data."""
        if actual is MISSING:
            return True
        src = self.ctx.source(fact_id, leaf.field)
        if src.pointer is not None:
            return False
        if src.subject is None and not _rises(leaf):
            return False  # recording an item can only add to a count: it cannot lower one
        return bool(self._unknown_items(fact_id, leaf.field))

    def _unknown_items(self, fact_id: str, field: str) -> list[str]:
        """Items with unrecorded inputs behind a derived value: the item the value is about,
        or, for a case-level count, the uncounted items of the collections it counts."""
        src = self.ctx.source(fact_id, field)
        if src.pointer is not None:
            return []
        if src.subject is not None:
            return [src.subject] if src.subject in self.unrecorded_inputs else []
        collections = self.counted(src.finding or "")
        return [s for s in self.unrecorded_inputs if _collection(s) in collections]

    def counted(self, finding: str) -> set[str]:
        """The case lists a case-level finding counts (``/antidepressant_trials``)."""
        found = self._counted.get(finding)
        if found is None:
            f = self.case_level.get(finding)
            found = {_collection(i["pointer"]) for i in f["inputs"]} if f else set()
            found.discard("")
            self._counted[finding] = found
        return found

    def pointers(self, need: Need) -> list[str]:
        """Where to record what is needed (JSON pointers into the case)."""
        src = self.ctx.source(need.fact_id, need.field)
        if src.pointer is not None:
            return [src.pointer]
        items = self._unknown_items(need.fact_id, need.field)
        return [p for item in items for p in self.unrecorded_inputs[item]]


def _collection(pointer: str) -> str:
    """``/antidepressant_trials`` for ``/antidepressant_trials/1`` (an item of a case list)."""
    head, _, last = pointer.rpartition("/")
    return head if last.isdigit() and head.count("/") == 1 else ""


def _rises(leaf: Leaf) -> bool:
    """Whether the leaf asks a case-level count or flag to rise (``>= 2``, ``trd_2``)."""
    if leaf.op == "$eq":
        return leaf.value is True
    return leaf.op in ("$gt", "$gte") and not isinstance(leaf.value, (bool, str))


def _matters(expr: Expr, leaf: Leaf, optimistic: list[bool]) -> bool:
    """Whether the pattern would fail with this leaf false and every other unknown true."""
    trial = list(optimistic)
    trial[leaf.index] = False
    return not evaluate_with(expr, trial)


def _flat(parts: Iterable[tuple[Need, ...] | None]) -> tuple[Need, ...]:
    return tuple(unique(n for p in parts if p for n in p))


#: Derived values with no single place in the case: what to record, in words, and where.
FINDING_RECORD: dict[str, tuple[str, str]] = {
    "cssrs_level": ("suicide risk: C-SSRS screen", "/suicide_risk/cssrs"),
    "phq9_item9": ("suicide risk: a current PHQ-9 with item 9", "/measurements"),
    "response_status": ("a current score on the baseline instrument", "/measurements"),
    "nssi_recent": (
        "suicide risk: non-suicidal self-injury (last date, or whether within 3 months)",
        "/suicide_risk/nssi",
    ),
    "severe": (
        "current severity (clinician-rated now, or a current score)",
        "/episode/current_severity",
    ),
    "current_severity": (
        "current severity (clinician-rated now, or a current score)",
        "/episode/current_severity",
    ),
    "baseline_severity": (
        "baseline severity (clinician-rated, or a baseline HAM-D17)",
        "/episode/baseline_severity",
    ),
}


@functools.lru_cache(maxsize=4096)
def _label(pointer: str, finding: str | None) -> str:
    """A plain-language label for a JSON pointer: ``antidepressant trial 2: adherence``."""
    parts = [p for p in pointer.split("/") if p]
    words: list[str] = []
    for i, part in enumerate(parts):
        if part.isdigit() and words:
            words[-1] = f"{words[-1].rstrip('s')} {int(part) + 1}:"
        elif i == 0 and len(parts) > 1 and not parts[1].isdigit():
            words.append(part.replace("_", " ") + ":")
        else:
            words.append(part.replace("_", " "))
    text = " ".join(words) if words else (finding or "").replace("_", " ")
    return f"{text} not recorded"


def data_needed(outcome: Outcome, ctx: Context, findings: list[Json]) -> list[Json]:
    """Each unrecorded fact that would change an option or a gate, and what to record."""
    needs = _Needs(ctx, findings)
    recommended = outcome.recommended()
    by_key: dict[str, Json] = {}

    def add(found: Iterable[Need], rule: str, option: str | None, gate: str | None) -> None:
        for need in found:
            pointers = needs.pointers(need)
            src = ctx.source(need.fact_id, need.field)
            finding = src.finding or need.field
            keys = pointers or [f"finding:{finding}"]
            for key in keys:
                pointer = key if key.startswith("/") else None
                label = _label(pointer or "", finding)
                if pointer is None and finding in FINDING_RECORD:
                    words, pointer = FINDING_RECORD[finding]
                    label = f"{words} not recorded"
                entry = by_key.get(key)
                if entry is None:
                    entry = by_key[key] = {
                        "pointer": pointer,
                        "label": label,
                        "conditions": [],
                        "affects": [],
                        "gates": [],
                        "rules": [],
                    }
                entry["conditions"].append(need.condition)
                entry["rules"].append(rule)
                if option is not None:
                    entry["affects"].append(option)
                if gate is not None:
                    entry["gates"].append(gate)

    for option in Option:
        if option in recommended or option in outcome.blocked_map:
            continue
        for rule in ctx.index.recommenders.get(option, ()):
            found = needs.rule(rule)
            if found:
                add(found, rule.ref, option.value, None)
    for info in ctx.index.gates:
        found = needs.rule(info)
        if found:
            add(found, info.ref, None, info.loaded.rule.action.finding)
    for firing in ctx.firings:
        info = ctx.index.rules[firing.rule_id]
        if info.kind is not ActionKind.caution:
            continue
        for name, fact_id in firing.matches:
            pattern = info.by_name[name]
            for i, r in enumerate(ctx.leaf_results(pattern, ctx.fact(fact_id))):
                if r.ok and r.leaf.op == "$nex":
                    need = Need(fact_id, r.leaf.field, pattern.conditions[i])
                    for option in info.loaded.rule.action.options:
                        add((need,), info.ref, option.value, None)
    out = []
    for key in sorted(by_key):
        entry = by_key[key]
        entry["conditions"] = unique(entry["conditions"])
        entry["affects"] = sorted(unique(entry["affects"]), key=_RANK.__getitem__)
        entry["gates"] = sorted(unique(entry["gates"]))
        entry["rules"] = sorted(unique(entry["rules"]))
        out.append((key, entry))
    # what could raise a gate first, then by the earliest option it affects (safety first)
    out.sort(
        key=lambda ke: (
            not ke[1]["gates"],
            min((_RANK[o] for o in ke[1]["affects"]), default=len(_RANK)),
            ke[0],
        )
    )
    return [entry for _, entry in out]
