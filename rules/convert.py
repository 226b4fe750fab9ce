"""Rewrite rule files from durable_rules JSON conditions to the readable syntax, in place.

Run from the repository root::

    python -m trd_cds.rules.convert rules/*.yaml

For every rule whose ``when`` is still durable_rules JSON (``{all: [{r: {$and: [{type: risk},
...]}}]}``) the converter writes the same condition in the readable syntax (``all: [r: risk
where ...]``), keeping a binding name only where the rationale uses it or where the derived
name (the fact type's first letter) would differ from the name the rule had, so the compiled
JSON stays identical. It checks that by parsing what it wrote and compiling it; a rule that
would not compile back to the same JSON is left as it is and reported (exit status 1). Rules
already in the readable syntax, comments and all other text of the file are left alone, so
running it twice changes nothing.
"""

from __future__ import annotations

import json
import string
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .conditions import (
    COMPARISONS,
    EXISTENCE,
    UNSAFE,
    And,
    ConditionSyntaxError,
    Expr,
    Leaf,
    Or,
    Pattern,
    compile_condition,
)
from .grammar import default_name, parse_condition

#: libyaml's loader when PyYAML was built with it, else pure Python.
SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConversionError(ValueError):
    """A JSON condition that has no readable spelling compiling to the same JSON."""


# ---------------------------------------------------------------------- JSON -> tree


def _json_expr(expr: Any, path: str) -> Expr:
    if not isinstance(expr, Mapping) or len(expr) != 1:
        raise ConversionError(f"{path}: an expression is one mapping with one key")
    ((key, body),) = expr.items()
    if key in UNSAFE:
        raise ConversionError(f"{path}: {UNSAFE[key]}")
    if key in ("$and", "$or"):
        if not isinstance(body, list) or not body:
            raise ConversionError(f"{path}: {key} takes a non-empty list")
        items = tuple(_json_expr(sub, f"{path}.{key}[{i}]") for i, sub in enumerate(body))
        return And(items) if key == "$and" else Or(items)
    if key in COMPARISONS or key in EXISTENCE:
        if not isinstance(body, Mapping) or len(body) != 1:
            raise ConversionError(f"{path}: {key} takes one {{field: value}} mapping")
        ((field, value),) = body.items()
        return _leaf(str(field), key, None if key in EXISTENCE else value, path)
    if isinstance(key, str) and key.startswith("$"):
        raise ConversionError(f"{path}: unknown operator {key!r}")
    return _leaf(str(key), "$eq", body, path)


def _leaf(field: str, op: str, value: Any, path: str) -> Leaf:
    if op not in EXISTENCE and not isinstance(value, (bool, int, float, str)):
        raise ConversionError(f"{path}: compare {field} with a literal, not {value!r}")
    return Leaf(field, op, value)


def _json_pattern(name: str, expr: Any, path: str) -> Pattern:
    tree = _json_expr(expr, path)
    first = tree.items[0] if isinstance(tree, And) else tree
    if not (isinstance(first, Leaf) and first.field == "type" and first.op == "$eq"):
        raise ConversionError(f"{path}: the pattern does not start with its {{type: ...}} pin")
    if not isinstance(first.value, str):
        raise ConversionError(f"{path}: the fact type must be a name")
    return Pattern(name, first.value, tree)


def _placeholders(rationale: str) -> set[str]:
    names: set[str] = set()
    for _, field_name, _, _ in string.Formatter().parse(rationale):
        if field_name:
            names.add(field_name.partition(".")[0])
    return names


def _kept_bindings(patterns: Sequence[Pattern], used: set[str]) -> list[bool]:
    """Which patterns keep their binding name: the rationale names them, or the derived name
    would differ from theirs (the compiled JSON carries the names)."""
    keep = [p.name in used for p in patterns]
    while True:
        taken = {p.name for p, k in zip(patterns, keep, strict=True) if k}
        changed = False
        for i, pattern in enumerate(patterns):
            if keep[i]:
                continue
            derived = default_name(pattern.fact_type, taken)
            taken.add(derived)
            if derived != pattern.name:
                keep[i] = changed = True
                break
        if not changed:
            return keep


def readable_when(when: Mapping[str, Any], rationale: str = "") -> tuple[str, list[str]]:
    """The mode and one YAML list item per pattern (``gate x`` or ``r: risk where ...``) of a
    JSON ``when``; raises :class:`ConversionError` unless they compile to the same JSON."""
    if not isinstance(when, Mapping) or len(when) != 1:
        raise ConversionError("'when' must have exactly one key: 'all' or 'any'")
    ((mode, items),) = when.items()
    if mode not in ("all", "any") or not isinstance(items, list) or not items:
        raise ConversionError(f"'when' must be all/any of a non-empty list, not {mode!r}")
    patterns: list[Pattern] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ConversionError(f"{mode}[{i}]: a pattern is one {{name: expression}} mapping")
        ((name, expr),) = item.items()
        patterns.append(_json_pattern(str(name), expr, f"{mode}[{i}].{name}"))
    keep = _kept_bindings(patterns, _placeholders(rationale))
    lines = [
        _yaml_item(p.render_body(), p.name if k else None)
        for p, k in zip(patterns, keep, strict=True)
    ]
    written = yaml.load("\n".join(f"- {line}" for line in lines), Loader=SafeLoader)
    try:
        compiled = compile_condition(parse_condition({mode: written}))
    except ConditionSyntaxError as exc:
        raise ConversionError(f"the readable form does not parse: {exc.reason}") from exc
    if json.dumps(compiled, sort_keys=True) != json.dumps(dict(when), sort_keys=True):
        raise ConversionError(f"the readable form compiles to different JSON: {compiled}")
    return str(mode), lines


def _plain(text: str, prefix: str = "") -> str:
    """``text`` as a YAML scalar: plain when YAML reads it back unchanged, else quoted."""
    candidate = f"- {prefix}{text}"
    expected: Any = [{prefix[:-2]: text}] if prefix else [text]
    try:
        if yaml.load(candidate, Loader=SafeLoader) == expected:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)


def _yaml_item(text: str, binding: str | None) -> str:
    if binding is None:
        return _plain(text)
    return f"{binding}: {_plain(text, f'{binding}: ')}"


# ---------------------------------------------------------------------- files


def _is_json_when(when: Any) -> bool:
    if not isinstance(when, Mapping):
        return False
    return any(
        isinstance(item, Mapping) and any(isinstance(v, Mapping) for v in item.values())
        for items in when.values()
        if isinstance(items, list)
        for item in items
    )


def _last_end(node: yaml.Node) -> int:
    """Where the text of a node ends (block collections: after their last scalar)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [v for _, v in node.value]
    return _last_end(children[-1]) if children else int(node.end_mark.index)


def convert_text(text: str) -> tuple[str, int, list[str]]:
    """The file text with every JSON ``when`` rewritten; (text, converted count, problems)."""
    data = yaml.load(text, Loader=SafeLoader)
    root = yaml.compose(text, Loader=SafeLoader)
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        return text, 0, []
    rules = data.get("rules")
    nodes: list[yaml.Node] = next(
        (v.value for k, v in root.value if k.value == "rules" and isinstance(v, yaml.SequenceNode)),
        [],
    )
    if not isinstance(rules, list):
        return text, 0, []
    edits: list[tuple[int, int, str]] = []
    problems: list[str] = []
    for raw, node in zip(rules, nodes, strict=False):
        if not isinstance(raw, dict) or not _is_json_when(raw.get("when")):
            continue
        key, value = next((k, v) for k, v in node.value if k.value == "when")
        try:
            mode, items = readable_when(raw["when"], str(raw.get("rationale", "")))
        except ConversionError as exc:
            problems.append(f"{raw.get('id', '?')}: {exc}")
            continue
        indent = " " * key.start_mark.column
        block = ["when:", f"{indent}  {mode}:", *(f"{indent}    - {item}" for item in items)]
        edits.append((key.start_mark.index, _last_end(value), "\n".join(block)))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text, len(edits), problems


def convert_file(path: Path) -> tuple[int, list[str]]:
    """Rewrite one file in place; (rules converted, problems)."""
    original = path.read_text("utf-8")
    text, count, problems = convert_text(original)
    if text != original:
        path.write_text(text, "utf-8")
    return count, problems


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m trd_cds.rules.convert RULE_FILE.yaml ...", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        count, problems = convert_file(path)
        print(f"{path}: {count} rule(s) converted")
        for problem in problems:
            failed = True
            print(f"{path}: left in JSON: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
