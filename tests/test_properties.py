"""Hypothesis properties of the engine over generated cases (``tests/strategies.py``).

1. determinism: the same case gives byte-identical reports (same engine, another engine);
2. fact-order independence: shuffling the case's lists changes nothing but the pointers;
3. every recommendation, block and caution carries its reasons, rules and sources;
4. the input model round-trips through JSON and its exported JSON Schema accepts it;
5. invalid input always fails as ``CaseError`` with a field path, never anything else;
6. the Python condition evaluator (explanations, why-not) agrees with durable_rules.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import examples
from tests.strategies import MUTATIONS, Json, case_dicts, invalid_case_dicts
from trd_cds import Case, CaseError, Engine, Report, parse_case
from trd_cds.engine.assessments import assess
from trd_cds.engine.explain import derived_id
from trd_cds.engine.facts import build_facts
from trd_cds.rules import conditions as cond
from trd_cds.schemas.rule import ActionKind

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

#: Evaluations take a few milliseconds; generation dominates. Example counts come from the
#: Hypothesis profile (``quick`` by default, ``ci`` in CI; see ``tests/conftest.py``).
PROPS = settings(max_examples=examples(150))

LISTS = {
    # case list -> fact type of its items (None: not a fact, only pointers)
    "antidepressant_trials": "ad_trial",
    "psychotherapy_trials": "psychotherapy_trial",
    "ect_courses": "ect_course",
    "augmentations": "augmentation",
    "measurements": None,
}
RULE_REF = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+@\d+$")


@pytest.fixture(scope="module")
def prop_engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def other_engine() -> Engine:
    return Engine()


# --------------------------------------------------------------------------- 1. determinism


@PROPS
@given(case_dicts())
def test_same_case_gives_byte_identical_report(
    prop_engine: Engine, other_engine: Engine, data: Json
) -> None:
    first = prop_engine.evaluate(data, at=AT).to_json()
    assert prop_engine.evaluate(data, at=AT).to_json() == first
    assert other_engine.evaluate(data, at=AT).to_json() == first
    # the validated model gives the same report as the raw data
    assert prop_engine.evaluate(parse_case(data), at=AT).to_json() == first


@settings(PROPS, max_examples=3)
@given(case_dicts())
def test_fresh_engine_gives_byte_identical_report(prop_engine: Engine, data: Json) -> None:
    assert Engine().evaluate(data, at=AT).to_json() == prop_engine.evaluate(data, at=AT).to_json()


# --------------------------------------------------------------------------- 2. fact order

_POINTER = re.compile(r"^/(" + "|".join(LISTS) + r")/(\d+)(?=/|$)")
_FACT_ID = re.compile(r"^(" + "|".join(t for t in LISTS.values() if t) + r")-(\d+)$")
_FACT_TYPE_LIST = {t: name for name, t in LISTS.items() if t}

#: Lists whose order follows the order in which facts matched (firing order), so a
#: permutation of the input legitimately reorders them; everything else keeps its order.
_UNORDERED_KEYS = frozenset({"evidence", "inputs", "conditions", "rationale", "reasons"})


def _remap(value: Any, perms: dict[str, list[int]]) -> Any:
    """Rewrite pointers and fact ids of a shuffled case back to the original indices."""
    if isinstance(value, dict):
        return {k: _remap(v, perms) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, perms) for v in value]
    if isinstance(value, str):
        m = _POINTER.match(value)
        if m:
            original = perms[m.group(1)][int(m.group(2))]
            return f"/{m.group(1)}/{original}{value[m.end() :]}"
        m = _FACT_ID.match(value)
        if m:
            return f"{m.group(1)}-{perms[_FACT_TYPE_LIST[m.group(1)]][int(m.group(2))]}"
    return value


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _normalise(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normalise(v) for v in value]
        return sorted(items, key=_canon) if key in _UNORDERED_KEYS else items
    return value


def _comparable(report: Report, perms: dict[str, list[int]] | None = None) -> Json:
    data: Json = report.to_dict()
    if perms is not None:
        data = _remap(data, perms)
    del data["provenance"]["input_hash"], data["provenance"]["report_id"]
    data = _normalise(data)
    # findings and the trace are listed in input order / firing order (fact ids): compare
    # them as sets
    data["findings"] = sorted(data["findings"], key=_canon)
    data["trace"] = sorted(data["trace"], key=_canon)
    # data needed is listed by pointer within a rank (input order) and its labels number list
    # items as the input does ("antidepressant trial 2"): compare as a set, without labels
    needed = [{k: v for k, v in e.items() if k != "label"} for e in data["plan"]["data_needed"]]
    data["plan"]["data_needed"] = sorted(needed, key=_canon)
    return data


@PROPS
@given(case_dicts(), st.data())
def test_fact_order_does_not_change_the_report(
    prop_engine: Engine, data: Json, draw: st.DataObject
) -> None:
    shuffled = dict(data)
    perms: dict[str, list[int]] = {}
    for name in LISTS:
        items = data.get(name, [])
        # perm[new index] = original index
        perm = draw.draw(st.permutations(range(len(items))), label=name)
        perms[name] = list(perm)
        if name in data:
            shuffled[name] = [items[i] for i in perm]
    original = _comparable(prop_engine.evaluate(data, at=AT))
    permuted = _comparable(prop_engine.evaluate(shuffled, at=AT), perms)
    for part in ("recommendations", "blocked", "cautions", "gates", "findings", "trace"):
        assert permuted[part] == original[part], part
    # why-not names the first list item that fails a condition when several fail at the
    # same condition (a tie broken by input order): compare it without naming the item
    assert _why_not_shape(permuted.pop("why_not")) == _why_not_shape(original.pop("why_not"))
    assert permuted == original


def _why_not_shape(why_not: list[Json]) -> list[Json]:
    item_keys = ("fact_id", "pointer", "value")
    return [
        {
            **w,
            "candidates": [
                {
                    **c,
                    "unmet": c["unmet"]
                    and {k: v for k, v in c["unmet"].items() if k not in item_keys},
                }
                for c in w["candidates"]
            ],
        }
        for w in why_not
    ]


# --------------------------------------------------------------------------- 3. explanations


@PROPS
@given(case_dicts())
def test_every_output_names_its_rules_and_sources(prop_engine: Engine, data: Json) -> None:
    report = prop_engine.evaluate(data, at=AT)
    fired = {t.rule for t in report.trace}
    produced_by_trace: dict[str, set[str]] = {}
    for t in report.trace:
        for option in t.produces:
            produced_by_trace.setdefault(option, set()).add(t.rule)
    for rec in report.recommendations:
        assert rec.rules, rec.option
        assert rec.citations, rec.option
        assert rec.rationale, rec.option
        # the recommending rule itself fired and produces this option
        assert produced_by_trace.get(rec.option.value, set()) & set(rec.rules), rec.option
    for block in report.blocked:
        assert block.rules and block.reasons and block.citations, block.option
        assert set(block.rules) <= fired
        assert block.option.value in set().union(
            *(set(t.produces) for t in report.trace if t.rule in block.rules)
        )
    for caution in report.cautions:
        assert caution.rules and caution.rationale and caution.citations, caution.option
    for gate in report.gates:
        assert gate.rules and gate.citations, gate.gate
    refs = [
        *fired,
        *(r for rec in report.recommendations for r in rec.rules),
        *(r for b in report.blocked for r in (*b.rules, *b.overrode)),
        *(r for c in report.cautions for r in c.rules),
        *(r for g in report.gates for r in g.rules),
        *(r for f in report.findings for r in f.rules),
    ]
    assert all(RULE_REF.match(r) for r in refs), refs
    assert set(refs) <= fired
    # recommended and blocked options are disjoint; why-not covers every other option
    recommended = {r.option for r in report.recommendations}
    assert recommended.isdisjoint(b.option for b in report.blocked)
    assert [r.order for r in report.recommendations] == list(
        range(1, len(report.recommendations) + 1)
    )
    assert recommended.isdisjoint(w.option for w in report.why_not)


# --------------------------------------------------------------------------- 4. schema


@PROPS
@given(case_dicts())
def test_case_round_trips_through_json(data: Json) -> None:
    case = parse_case(data)
    assert Case.model_validate_json(case.model_dump_json()) == case
    assert parse_case(json.loads(case.model_dump_json())) == case


@pytest.fixture(scope="module")
def case_schema_validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = Case.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@PROPS
@given(case_dicts())
def test_json_schema_accepts_every_valid_case(case_schema_validator: Any, data: Json) -> None:
    case = parse_case(data)
    case_schema_validator.validate(json.loads(case.model_dump_json()))
    case_schema_validator.validate(json.loads(json.dumps(data)))


# --------------------------------------------------------------------------- 5. invalid cases


def _assert_case_error(prop_engine: Engine, data: Json, kind: str) -> None:
    for call in (lambda: parse_case(data), lambda: prop_engine.evaluate(data, at=AT)):
        with pytest.raises(CaseError) as info:
            call()
        assert info.value.errors, kind
        assert all(path.startswith("/") for path, _ in info.value.errors), (
            kind,
            info.value.errors,
        )


@pytest.mark.parametrize("kind", MUTATIONS)
@settings(PROPS, max_examples=examples(60))
@given(draw=st.data())
def test_invalid_case_raises_case_error_with_a_field_path(
    prop_engine: Engine, kind: str, draw: st.DataObject
) -> None:
    data, _ = draw.draw(invalid_case_dicts(kinds=(kind,)))
    _assert_case_error(prop_engine, data, kind)


@pytest.mark.parametrize(
    "value", [0, 1735689600, 0.0, True, "0", "1735689600", "2025-01-01T00:00:00Z", "2025-1-1"]
)
def test_dates_refuse_timestamps_and_datetimes(prop_engine: Engine, value: Any) -> None:
    """Calendar dates only: no Unix timestamps (numbers or digit strings), no date-times."""
    _assert_case_error(prop_engine, _dated_case(value), "date")


def _dated_case(onset: Any) -> Json:
    return {
        "case_id": "c",
        "patient": {"age": 40},
        "diagnosis": {"primary": "mdd"},
        "episode": {"onset_date": onset},
    }


def test_deeply_nested_garbage_is_a_case_error(prop_engine: Engine) -> None:
    nested: Any = []
    for _ in range(10_000):
        nested = [nested]
    data = {"case_id": "c", "patient": {"age": nested}}
    with pytest.raises(CaseError):
        prop_engine.evaluate(data, at=AT)


@PROPS
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_arbitrary_json_is_refused_as_case_error(prop_engine: Engine, garbage: Any) -> None:
    with pytest.raises(CaseError):
        prop_engine.evaluate(garbage, at=AT)


# --------------------------------------------------------------------------- 6. evaluator


def _any_combinations(
    pattern_matches: list[list[tuple[str, str]]],
) -> list[tuple[tuple[str, str], ...]]:
    """How durable_rules fires ``any``: once per non-empty subset of the patterns, with one
    matching fact per chosen pattern, no fact used twice (so two true branches on two facts
    fire three times: each alone and both together)."""
    out = []
    for size in range(1, len(pattern_matches) + 1):
        for chosen in itertools.combinations(pattern_matches, size):
            for combo in itertools.product(*chosen):
                if len({fact_id for _, fact_id in combo}) == len(combo):
                    out.append(tuple(sorted(combo)))
    return out


def _python_firings(engine: Engine, case: Case) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every (rule ref, matched (pattern, fact id) pairs) the Python evaluator fires."""
    assessment = assess(case, AT.date(), engine.settings)
    facts = list(build_facts(case, assessment).facts)
    derived: dict[str, Json] = {}
    rules = engine.ruleset.active
    while True:  # forward-chain derived finding/gate facts to a fixpoint
        firings = set()
        for loaded in rules:
            pattern_matches = [
                [(p.name, str(f["id"])) for f in facts if cond.evaluate(p.expr, f)]
                for p in loaded.condition.patterns
            ]
            if loaded.condition.mode == "all":
                combos = [tuple(sorted(c)) for c in itertools.product(*pattern_matches)]
            else:
                combos = _any_combinations(pattern_matches)
            for combo in combos:
                firings.add((loaded.rule.ref, combo))
                fact_id = derived_id(loaded)
                if fact_id is not None and fact_id not in derived:
                    kind = "finding" if loaded.rule.action.kind is ActionKind.derive else "gate"
                    derived[fact_id] = {
                        "id": fact_id,
                        "type": kind,
                        "name": loaded.rule.action.finding,
                    }
        grown = [f for i, f in derived.items() if all(g["id"] != i for g in facts)]
        if not grown:
            return firings
        facts.extend(grown)


@settings(PROPS, max_examples=examples(400))
@given(case_dicts())
def test_python_evaluator_agrees_with_durable_rules(prop_engine: Engine, data: Json) -> None:
    case = parse_case(data)
    report = prop_engine.evaluate(case, at=AT)
    durable = {
        (t.rule, tuple(sorted({(c.pattern, c.fact_id) for c in t.conditions})))
        for t in report.trace
    }
    python = _python_firings(prop_engine, case)
    assert {r for r, _ in python} == {r for r, _ in durable}
    assert python == durable


def test_an_any_rule_gives_one_caution_per_option(prop_engine: Engine) -> None:
    data = {
        "case_id": "any-combinations",
        "patient": {"age": 40},
        "diagnosis": {"primary": "mdd", "not_eating_or_drinking": True},
        "episode": {"duration_months": 0},
        "suicide_risk": {
            "cssrs": {
                "wish_to_be_dead": True,
                "active_suicidal_thoughts": False,
                "behaviour": False,
            }
        },
    }
    # durable_rules fires an `any` rule once per non-empty subset of its matching patterns:
    # with both safety gates, safety.overdose_toxicity_caution fires three times
    report = prop_engine.evaluate(data, at=AT)
    assert {g.gate for g in report.gates} >= {
        "safety_escalation_first",
        "suicide_risk_assessment_required",
    }
    texts = [(c.option, c.rationale) for c in report.cautions]
    assert len(texts) == len(set(texts)), texts


# durable_rules' C JSON reader cannot parse floats in exponent notation (Python writes 1e-05):
# the fact silently lost the fields after the number and its rules did not fire (raw
# durable_rules even segfaults), found by test_python_evaluator_agrees_with_durable_rules.
@pytest.mark.parametrize("weeks", [1e-05, 5e-324, 0.00012345])
def test_float_in_exponent_notation_reaches_durable_rules(
    prop_engine: Engine, weeks: float
) -> None:
    data = {
        "case_id": "tiny-float",
        "patient": {"age": 40},
        "diagnosis": {"primary": "mdd"},
        "episode": {"duration_months": 3},
        "antidepressant_trials": [
            {"drug": "x", "drug_class": "ssri", "outcome": "no_response", "weeks_at_dose": weeks}
        ],
    }
    fired = {t.rule.partition("@")[0] for t in prop_engine.evaluate(data, at=AT).trace}
    assert "verify.pseudo_resistance_trial" in fired
