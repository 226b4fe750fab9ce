"""The readable rule language: grammar, typed tree, compiled JSON, converter, errors, rendering.

``tests/compiled_rules.json`` was generated once from the rule files as they were written in
durable_rules JSON, before the conversion to the readable syntax; the tests below prove the
readable rules compile to exactly that JSON (so the engine runs the same conditions), that the
ruleset hash and the rule pins did not move, and that the converter reproduces the conversion.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pin_rules import ABOUT, PINS, compute_pins
from trd_cds import RuleLintError, load_ruleset
from trd_cds.cli import main
from trd_cds.engine.explain import compile_test
from trd_cds.rules import bundled_rules_dir
from trd_cds.rules.conditions import (
    MISSING,
    ConditionSyntaxError,
    Leaf,
    Pattern,
    check_leaf,
    compile_condition,
    compile_expr,
    evaluate,
    evaluate_with,
    first_failure,
    first_failure_with,
)
from trd_cds.rules.convert import convert_text
from trd_cds.rules.convert import main as convert_main
from trd_cds.rules.grammar import parse_condition, parse_pattern
from trd_cds.rules.loader import Ruleset
from trd_cds.schemas.rule import Rule

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = json.loads((ROOT / "tests" / "compiled_rules.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset()


# ---------------------------------------------------------------------- same compiled form


def test_every_rule_compiles_to_the_json_it_had(ruleset: Ruleset) -> None:
    assert sorted(r.rule.id for r in ruleset.rules) == sorted(FIXTURE["rules"])
    for loaded in ruleset.rules:
        before = FIXTURE["rules"][loaded.rule.id]
        assert loaded.compiled == before["when"], loaded.rule.id
        assert loaded.rule.action.compiled() == before["action"], loaded.rule.id


def test_ruleset_hash_is_unchanged(ruleset: Ruleset) -> None:
    assert ruleset.content_hash == FIXTURE["content_hash"]


def test_rule_pins_regenerate_byte_for_byte(ruleset: Ruleset) -> None:
    regenerated = json.dumps(
        {"about": ABOUT, "rules": compute_pins(ruleset)}, indent=2, ensure_ascii=False
    )
    assert regenerated + "\n" == PINS.read_text("utf-8")


def test_no_rule_file_holds_json_conditions() -> None:
    for path in sorted(bundled_rules_dir().glob("[0-9]*.yaml")):
        for raw in yaml.safe_load(path.read_text("utf-8"))["rules"]:
            for items in raw["when"].values():
                for item in items:
                    text = item if isinstance(item, str) else next(iter(item.values()))
                    assert isinstance(text, str), (path.name, raw["id"])


# ---------------------------------------------------------------------- the converter


def _json_rules_folder(tmp_path: Path) -> Path:
    """The bundled rules with every ``when`` written back in durable_rules JSON (flow style)."""
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    for path in folder.glob("[0-9]*.yaml"):
        data = yaml.safe_load(path.read_text("utf-8"))
        for raw in data["rules"]:
            raw["when"] = FIXTURE["rules"][raw["id"]]["when"]
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return folder


def test_converter_reproduces_the_conversion(tmp_path: Path) -> None:
    folder = _json_rules_folder(tmp_path)
    with pytest.raises(RuleLintError, match=r"python -m trd_cds\.rules\.convert"):
        load_ruleset(folder)
    files = sorted(str(p) for p in folder.glob("*.yaml"))
    assert convert_main(files) == 0
    converted = load_ruleset(folder)
    assert converted.content_hash == FIXTURE["content_hash"]
    assert {r.rule.id: r.compiled for r in converted.rules} == {
        k: v["when"] for k, v in FIXTURE["rules"].items()
    }
    # the same readable patterns as the bundled files
    bundled = load_ruleset()
    for loaded in converted.rules:
        ours = [p.render() for p in bundled.get(loaded.rule.id).condition.patterns]
        assert [p.render() for p in loaded.condition.patterns] == ours
    # idempotent: a second run converts nothing and changes no byte
    before = {p: p.read_text("utf-8") for p in folder.glob("*.yaml")}
    assert convert_main(files) == 0
    assert {p: p.read_text("utf-8") for p in folder.glob("*.yaml")} == before


OLD_STYLE = """\
# A comment above the rules stays.
rules:
  - id: safety.high_suicide_risk_gate
    version: 1   # so does a comment on a line
    title: High suicide risk puts safety escalation first
    status: active
    when:
      all:
        - r: {$and: [{type: risk}, {$or: [{cssrs_level: high}, {clinician_judges_imminent_risk: true}]}]}
    action: {kind: gate, finding: safety_escalation_first}
    rationale: >-
      High suicide risk (C-SSRS level {r.cssrs_level}).
    citations:
      - {kind: seed, ref: L18}

  - id: x.two_gates
    version: 1
    title: t
    status: active
    when: {any: [{h: {$and: [{type: gate}, {name: a}]}}, {g: {$and: [{type: gate}, {name: b}]}}]}
    action: {kind: caution, options: [tms]}
    rationale: r
    citations: [{kind: seed, ref: L1}]
"""


def test_converter_keeps_the_rest_of_the_file() -> None:
    text, count, problems = convert_text(OLD_STYLE)
    assert (count, problems) == (2, [])
    assert text.startswith("# A comment above the rules stays.\n")
    assert "    version: 1   # so does a comment on a line\n" in text
    assert (
        "    when:\n      all:\n"
        "        - r: risk where cssrs_level == high or clinician_judges_imminent_risk\n"
        "    action: {kind: gate, finding: safety_escalation_first}\n"
    ) in text
    # h differs from the derived name (g) and is kept; g then is what `gate b` derives
    assert "    when:\n      any:\n        - h: gate a\n        - gate b\n    action:" in text
    before = {r["id"]: r["when"] for r in yaml.safe_load(OLD_STYLE)["rules"]}
    for raw in yaml.safe_load(text)["rules"]:
        assert compile_condition(parse_condition(raw["when"])) == before[raw["id"]]
    assert convert_text(text) == (text, 0, [])


def test_converter_leaves_what_it_cannot_spell(tmp_path: Path) -> None:
    unpinned = OLD_STYLE.replace("{$and: [{type: risk}, ", "{$and: [")
    text, count, problems = convert_text(unpinned)
    assert count == 1
    assert len(problems) == 1 and problems[0].startswith("safety.high_suicide_risk_gate:")
    assert "{$and: [{$or: [{cssrs_level: high}" in text
    path = tmp_path / "r.yaml"
    path.write_text(unpinned, "utf-8")
    assert convert_main([str(path)]) == 1


# ---------------------------------------------------------------------- grammar and tree


@pytest.mark.parametrize(
    ("text", "compiled"),
    [
        ("patient", {"type": "patient"}),
        (
            "gate safety_escalation_first",
            {"$and": [{"type": "gate"}, {"name": "safety_escalation_first"}]},
        ),
        (
            "assessment where in_scope_unipolar and adequate_failed_ad_trials >= 1 and not in_remission",
            {
                "$and": [
                    {"type": "assessment"},
                    {"in_scope_unipolar": True},
                    {"$gte": {"adequate_failed_ad_trials": 1}},
                    {"in_remission": False},
                ]
            },
        ),
        (
            "risk where cssrs_level == high or phq9_item9 >= 1",
            {
                "$and": [
                    {"type": "risk"},
                    {"$or": [{"cssrs_level": "high"}, {"$gte": {"phq9_item9": 1}}]},
                ]
            },
        ),
        (
            "contraindication where cochlear_implant is missing and not (seizure is present)",
            {
                "$and": [
                    {"type": "contraindication"},
                    {"$nex": {"cochlear_implant": 1}},
                    {"$nex": {"seizure": 1}},
                ]
            },
        ),
        (  # not pushed down: De Morgan, operators inverted, yes/no flipped
            "patient where not (age < 18 or pregnant)",
            {"$and": [{"type": "patient"}, {"$gte": {"age": 18}}, {"pregnant": False}]},
        ),
        (  # parentheses keep a nested group; text in quotes; floats stay floats
            'patient where (age > 1.5 and sex != "two words")',
            {
                "$and": [
                    {"type": "patient"},
                    {"$and": [{"$gt": {"age": 1.5}}, {"$neq": {"sex": "two words"}}]},
                ]
            },
        ),
    ],
)
def test_patterns_compile(text: str, compiled: dict[str, Any]) -> None:
    pattern = parse_pattern(text, "p")
    assert compile_expr(pattern.expr) == compiled
    assert [leaf.index for leaf in pattern.leaves] == list(range(len(pattern.leaves)))
    again = parse_pattern(pattern.render(), "p")
    assert compile_expr(again.expr) == compiled


def test_binding_names_are_derived_unless_written() -> None:
    condition = parse_condition(
        {"any": ["gate a", {"g": "gate b"}, "gate c", "risk where phq9_item9 >= 1"]}
    )
    assert [(p.name, p.bound) for p in condition.patterns] == [
        ("g2", False),
        ("g", True),
        ("g3", False),
        ("r", False),
    ]


def test_leaves_render_in_the_authors_words() -> None:
    pattern = parse_pattern(
        "assessment where not in_remission and adequate_failed_ad_trials >= 1 "
        "and response_status == response_without_remission and weight is missing"
    )
    assert [leaf.render() for leaf in pattern.leaves] == [
        "assessment",
        "not in_remission",
        "adequate_failed_ad_trials >= 1",
        "response_status == response_without_remission",
        "weight is missing",
    ]
    gate = parse_pattern("gate safety_escalation_first")
    assert gate.leaves[1].render() == "gate safety_escalation_first"
    assert Leaf("name", "$eq", "x").render("finding") == "finding x"  # fact type passed in
    assert Leaf("sex", "$eq", "and").render() == 'sex == "and"'  # keywords are quoted


def test_every_bundled_pattern_reads_back_to_itself(ruleset: Ruleset) -> None:
    for loaded in ruleset.rules:
        for pattern in loaded.condition.patterns:
            again = parse_pattern(pattern.render(binding=False), pattern.name)
            assert again == pattern, (loaded.rule.id, pattern.render())


_VALUES = st.sampled_from([MISSING, True, False, 0, 1, 2, 18, -1, 0.5, "high", "low", "x"])


def _facts(pattern: Pattern) -> st.SearchStrategy[dict[str, Any]]:
    fields = sorted({leaf.field for leaf in pattern.leaves if leaf.field != "type"})
    return st.fixed_dictionaries({f: _VALUES for f in fields}).map(
        lambda d: {"type": pattern.fact_type, **{k: v for k, v in d.items() if v is not MISSING}}
    )


_PATTERNS = [p for r in load_ruleset().rules for p in r.condition.patterns] + [
    parse_pattern("patient where not (age < 18 or pregnant) and (sex == x or age is missing)"),
    parse_pattern("risk where (cssrs_level == high and phq9_item9 > 0) or phq9_item9 >= 2"),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_PATTERNS).flatmap(lambda p: st.tuples(st.just(p), _facts(p))))
def test_tree_evaluated_from_leaf_results_agrees(case: tuple[Pattern, dict[str, Any]]) -> None:
    pattern, fact = case
    results = [check_leaf(leaf, fact).ok for leaf in pattern.leaves]
    assert evaluate_with(pattern.expr, results) == evaluate(pattern.expr, fact)
    failure = first_failure(pattern.expr, fact)
    expected = None if failure is None else failure.leaf.index
    assert first_failure_with(pattern.expr, results) == expected
    if failure is not None:
        assert pattern.leaves[failure.leaf.index] == failure.leaf


@given(st.sampled_from(_PATTERNS).flatmap(lambda p: st.tuples(st.just(p), _facts(p))))
def test_compiled_leaf_tests_agree_with_check_leaf(case: tuple[Pattern, dict[str, Any]]) -> None:
    """The engine's compiled leaf tests (used for evidence, trace, why-not and data needed)
    decide exactly as the reference ``check_leaf``."""
    pattern, fact = case
    for leaf in pattern.leaves:
        assert compile_test(leaf)(fact) is check_leaf(leaf, fact).ok, leaf.render()


# ---------------------------------------------------------------------- errors name the spot

RULE = """\
rules:
  - id: test.extra
    version: 1
    title: extra
    status: active
    when:
      all:
        - gate safety_escalation_first
        - p: patient where pregnant and
            agee >= 5
    action: {kind: caution, options: [tms]}
    rationale: "{p.age}"
    citations: [{kind: seed, ref: L1}]
"""


def _lint(tmp_path: Path, text: str) -> RuleLintError:
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    (folder / "99_extra.yaml").write_text(text, "utf-8")
    with pytest.raises(RuleLintError) as info:
        load_ruleset(folder)
    return info.value


def test_unknown_field_names_line_column_and_a_suggestion(tmp_path: Path) -> None:
    error = _lint(tmp_path, RULE)
    (problem,) = [p for p in error.problems if p.rule_id == "test.extra"]
    assert (problem.file, problem.line, problem.column, problem.hint) == (
        "99_extra.yaml",
        10,
        13,
        "age",
    )
    assert str(problem).startswith("99_extra.yaml:10:13 [test.extra]: error: `agee >= 5`:")


@pytest.mark.parametrize(
    ("pattern", "spot", "message"),
    [
        ("risk where cssrs_level = high", "= high", "compare with =="),
        ("risk where cssrs_level == high or", None, "ends too early"),
        ("risk where cssrs_level == hihg", "cssrs_level", "hihg is not a value of cssrs_level"),
        ("risk wher cssrs_level == high", "wher", "unexpected 'cssrs_level' after `risk wher`"),
        ("risk where id == 3", "id ==", "'id' is not a field a rule can test"),
        ("risk where phq9_item9 + 1 > 2", "+ 1", "arithmetic"),
    ],
)
def test_syntax_errors_point_at_the_spot(
    tmp_path: Path, pattern: str, spot: str | None, message: str
) -> None:
    text = RULE.replace("p: patient where pregnant and\n            agee >= 5", pattern)
    text = text.replace('"{p.age}"', "r")
    error = _lint(tmp_path, text)
    (problem,) = [p for p in error.problems if p.rule_id == "test.extra"]
    start = len("        - ") + 1  # the pattern's first column on line 9
    column = start + (len(pattern) if spot is None else pattern.index(spot))
    assert (problem.line, problem.column) == (9, column), str(problem)
    assert message in problem.message


def test_lint_speaks_the_authors_words(tmp_path: Path) -> None:
    bad = [
        "patient where age == high",
        "patient where sex > a",
        "patient where age is missing",
        "finding nope",
        "gate nope",
        "patinet",
    ]
    text = RULE.replace(
        "        - p: patient where pregnant and\n            agee >= 5\n",
        "".join(f"        - {b}\n" for b in bad),
    ).replace('"{p.age}"', "r")
    error = _lint(tmp_path, text)
    messages = [p.message for p in error.problems if p.rule_id == "test.extra"]
    assert len(messages) == len(bad), messages
    assert "`age == high`" in messages[0] and "`sex > a`" in messages[1]
    assert "`finding nope`" in messages[3] and "`gate nope`" in messages[4]
    for message in messages:
        assert "$" not in message and "{type" not in message and ".type ==" not in message


def test_rationale_needs_a_written_binding(tmp_path: Path) -> None:
    text = RULE.replace("p: patient where pregnant and\n            agee >= 5", "patient")
    error = _lint(tmp_path, text)
    (problem,) = [p for p in error.problems if p.rule_id == "test.extra"]
    assert "{p.age} needs a binding name written in `when`: `p: patient`" in problem.message


def test_condition_errors_are_value_errors() -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition({"all": ["patient", {"p": "patient"}, {"p": "risk"}]})
    assert info.value.pattern == 2 and "repeats" in info.value.reason


# ---------------------------------------------------------------------- the action union


def test_schema_tells_which_keys_each_action_kind_takes() -> None:
    result = CliRunner().invoke(main, ["schema", "rule"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    mapping = schema["properties"]["action"]["discriminator"]["mapping"]
    assert sorted(mapping) == ["block", "caution", "derive", "gate", "recommend"]
    keys = {
        kind: sorted(schema["$defs"][ref.rpartition("/")[2]]["properties"])
        for kind, ref in mapping.items()
    }
    assert keys == {
        "recommend": ["kind", "options", "tier"],
        "block": ["kind", "options"],
        "caution": ["kind", "options"],
        "derive": ["finding", "kind"],
        "gate": ["finding", "kind"],
    }


def test_an_action_refuses_keys_of_another_kind() -> None:
    raw = yaml.safe_load(OLD_STYLE)["rules"][0]
    raw["when"] = {"all": ["patient"]}
    raw["action"] = {"kind": "gate", "finding": "x", "options": ["tms"]}
    with pytest.raises(ValueError, match=r"action\.gate\.options"):
        Rule.model_validate(raw)
