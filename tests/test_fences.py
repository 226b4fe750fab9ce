"""One regression test per durable_rules behaviour the engine must fence (DESIGN.md #1–#14).

Each test fails if its fence is removed.
"""

from __future__ import annotations

import copy
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from durable import engine as durable_engine

from tests.conftest import AT, EXAMPLES, load_yaml
from trd_cds import Engine, EngineError, EvaluationError, RuleLintError, load_ruleset
from trd_cds.engine import session as session_mod
from trd_cds.engine.facts import coerce, fact_id_vocabulary, fnv1_32
from trd_cds.rules import bundled_rules_dir
from trd_cds.schemas.facts import FACT_MODELS, field_specs

CASE_01 = EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"
CASE_03 = EXAMPLES / "03_psychotic_depression.yaml"
CASE_07 = EXAMPLES / "07_remission_relapse_prevention.yaml"


def _case(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(path)
    return data


# 1. state deleted after each case; the 1,025th live session would raise MemoryError.
def test_state_is_deleted_after_every_evaluation(engine: Engine) -> None:
    engine.evaluate(_case(CASE_01), at=AT)
    assert not engine._host.has_state()
    assert engine._host.live_facts() == []


def test_state_is_deleted_when_evaluation_fails(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(run: Any, name: str, matched: Any) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(session_mod.RuleHost, "_record", staticmethod(boom))
    with pytest.raises(EvaluationError):
        engine.evaluate(_case(CASE_01), at=AT)
    assert not engine._host.has_state()


def test_many_evaluations_do_not_accumulate_sessions() -> None:
    engine = Engine()
    case = _case(CASE_07)
    for i in range(1100):  # more than the 1,024 live sessions durable_rules can hold
        case["case_id"] = f"many-{i}"
        engine.evaluate(case, at=AT)
    assert not engine._host.has_state()


# 2. no cross-case leakage (one live session per host, fixed vocabulary of fact ids).
def test_no_fact_leaks_from_one_case_into_the_next(engine: Engine) -> None:
    fresh = Engine().evaluate(_case(CASE_07), at=AT).to_json()
    engine.evaluate(_case(CASE_03), at=AT)  # psychotic features, risk, gates
    after = engine.evaluate(_case(CASE_07), at=AT).to_json()
    assert after == fresh
    assert "psychotic_depression" not in [
        g.gate for g in Engine().evaluate(_case(CASE_07), at=AT).gates
    ]


def test_threads_sharing_an_engine_get_their_own_results(engine: Engine) -> None:
    paths = sorted(EXAMPLES.glob("0*.yaml"))
    expected = {p.name: engine.evaluate(_case(p), at=AT).to_json() for p in paths}
    errors: list[str] = []

    def worker() -> None:
        for _ in range(10):
            for p in paths:
                if engine.evaluate(_case(p), at=AT).to_json() != expected[p.name]:
                    errors.append(p.name)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# 3. fact ids from a fixed vocabulary, tested free of durable_rules hash collisions.
def test_fnv_matches_the_reference_vectors() -> None:
    # durable_rules xors then multiplies (FNV-1a, 32 bit): state.c fnv1Hash32
    assert fnv1_32("") == 0x811C9DC5
    assert fnv1_32("a") == 0xE40C292C
    assert fnv1_32("foobar") == 0xBF9CF968


def test_fact_id_vocabulary_is_collision_free() -> None:
    ruleset = load_ruleset()
    gates = field_specs("gate")["name"].choices or ()
    ids = fact_id_vocabulary(ruleset.findings, gates)
    assert len(set(ids)) == len(ids)
    for keyed in (ids, [f"{session_mod.SESSION_ID}!{i}" for i in ids]):
        hashes = [fnv1_32(i) for i in keyed]
        assert len(set(hashes)) == len(hashes)


def test_fact_field_names_are_collision_free() -> None:
    # durable_rules finds a property by its 32-bit hash alone
    names = {name for t in FACT_MODELS for name in field_specs(t)} | {"id", "sid"}
    hashes = {fnv1_32(n) for n in names}
    assert len(hashes) == len(names)


# 4. every fact is handled: the sink rule. No rule matches augmentation facts.
def test_facts_no_rule_matches_are_handled(engine: Engine) -> None:
    case = _case(CASE_01)
    case["augmentations"] = [{"agent": "lithium"}]
    report = engine.evaluate(case, at=AT)
    assert report.recommendations


def test_without_the_sink_unhandled_facts_are_an_engine_error() -> None:
    # the fence's reason: durable_rules raises for a batch containing an unhandled fact
    host = session_mod.SyncHost(
        {"t": {"r": {"all": [{"m": {"type": "x"}}], "run": lambda c: None}}}
    )
    with pytest.raises(durable_engine.MessageNotHandledException):
        host.assert_facts("t", [{"id": "a", "sid": "s", "type": "unmatched"}])


# 5. action exceptions are raised to the caller as the project's error type.
def test_action_exception_reaches_the_caller(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(run: Any, name: str, matched: Any) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(session_mod.RuleHost, "_record", staticmethod(boom))
    with pytest.raises(EvaluationError) as info:
        engine.evaluate(_case(CASE_01), at=AT)
    assert info.value.rule_id is not None
    assert info.value.case_id == "example-01-trd"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


# 14. BaseException (Ctrl-C) raised in an action is not swallowed.
def test_keyboard_interrupt_in_an_action_propagates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(run: Any, name: str, matched: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(session_mod.RuleHost, "_record", staticmethod(interrupt))
    with pytest.raises(KeyboardInterrupt):
        engine.evaluate(_case(CASE_01), at=AT)
    monkeypatch.undo()
    assert engine.evaluate(_case(CASE_01), at=AT).recommendations


def test_durable_errors_never_escape_raw(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise durable_engine.MessageObservedException({"id": "x"})

    monkeypatch.setattr(engine._host._host, "assert_facts", fail)
    with pytest.raises(EngineError):
        engine.evaluate(_case(CASE_01), at=AT)


# 6. numbers are asserted as numbers; string/number comparisons are refused.
def test_facts_carry_typed_values(engine: Engine) -> None:
    from trd_cds.engine.assessments import assess
    from trd_cds.engine.core import parse_case
    from trd_cds.engine.facts import build_facts

    case = parse_case(_case(CASE_01))
    facts = build_facts(case, assess(case, AT.date(), engine.settings)).facts
    for fact in facts:
        specs = field_specs(fact["type"])
        for name, value in fact.items():
            if name == "id":
                continue
            kind = specs[name].kind
            if kind in ("int", "number"):
                assert isinstance(value, (int, float)) and not isinstance(value, bool), name
    with pytest.raises(EvaluationError):
        coerce("patient", "age", "52")
    with pytest.raises(EvaluationError):
        coerce("ad_trial", "weeks_at_dose", float("inf"))


def _rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(
        bundled_rules_dir(), target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return target


def _add_rule(folder: Path, when: str) -> None:
    (folder / "99_extra.yaml").write_text(
        "rules:\n"
        "  - id: test.extra\n    version: 1\n    title: extra\n    status: active\n"
        f"    when: {when}\n"
        "    action: {kind: caution, options: [tms]}\n"
        "    rationale: extra\n"
        "    citations: [{kind: seed, ref: L1}]\n",
        "utf-8",
    )


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("{all: ['patient where age == \"52\"']}", "compare them as text"),
        ("{all: [patient where sex > a]}", "ordering comparison"),
        ("{none: [patient]}", "none(...) is unreliable"),
        ("{all: [patient where age + 1 > 5]}", "arithmetic"),
        ("{all: [patient where age > b.age]}", "cross-pattern"),
        ("{all: [patient where agee == 5]}", "did you mean 'age'"),
        ("{all: [patinet where age == 5]}", "did you mean 'patient'"),
        ("{all: [age == 5]}", "start the pattern with its fact type"),
        ("{all: [finding nope]}", "no active derive rule"),
        ("{all: [{a: {$and: [{type: patient}, {age: 5}]}}]}", "python -m trd_cds.rules.convert"),
    ],
)
def test_unsafe_or_wrong_conditions_are_refused(tmp_path: Path, when: str, message: str) -> None:
    folder = _rules_copy(tmp_path)
    _add_rule(folder, when)
    with pytest.raises(RuleLintError) as info:
        load_ruleset(folder)
    assert any(p.rule_id == "test.extra" for p in info.value.problems)
    assert message in str(info.value) or any(
        message in f"{p} {p.hint}" for p in info.value.problems
    ), [str(p) for p in info.value.problems]


# 7. `$or` fires once per true branch: firings are de-duplicated.
def test_or_firings_are_deduplicated(engine: Engine) -> None:
    case = _case(CASE_07)
    case["diagnosis"] = {
        "primary": "mdd",
        "catatonic_features": True,
        "not_eating_or_drinking": True,
    }
    report = engine.evaluate(case, at=AT)
    fired = [t.rule for t in report.trace]
    assert fired.count("pathway.life_threatening_gate@1") == 1
    assert len(fired) == len(set((t.rule, str(t.conditions)) for t in report.trace))


# 10. firing order never shows: reordering the rule files changes nothing.
def test_rule_file_order_does_not_change_the_report(tmp_path: Path) -> None:
    folder = _rules_copy(tmp_path)
    files = sorted(p for p in folder.glob("*.yaml") if p.name != "ruleset.yaml")
    for i, p in enumerate(reversed(files)):
        p.rename(folder / f"{i:02d}_{p.name}")
    reordered = Engine(folder)
    assert reordered.ruleset.content_hash == load_ruleset().content_hash
    for path in sorted(EXAMPLES.glob("0*.yaml")):
        assert (
            reordered.evaluate(_case(path), at=AT).to_json()
            == Engine().evaluate(_case(path), at=AT).to_json()
        )


# 12. registration deletes `run` from the dict passed in: definitions are deep-copied.
def test_registration_does_not_mutate_the_rules() -> None:
    ruleset = load_ruleset()
    before = copy.deepcopy([r.compiled for r in ruleset.active])
    Engine(ruleset)
    Engine(ruleset)  # a second host from the same rules still works
    assert [r.compiled for r in ruleset.active] == before


# 13. no background timer threads; evaluation is synchronous.
def test_engine_starts_no_threads() -> None:
    before = threading.active_count()
    engine = Engine()
    engine.evaluate(_case(CASE_01), at=AT)
    assert threading.active_count() == before
    assert not hasattr(engine._host._host, "_d_timer")
