"""Loading rule files: parse YAML, validate with the rule model, lint, hash.

``load_ruleset()`` reads the bundled rules (this folder); ``load_ruleset(path)`` reads another
folder laid out the same way: ``ruleset.yaml`` (the header) and any number of ``*.yaml`` rule
files, read in file-name order. The content hash covers the header and every rule (sorted by
id), so it changes exactly when the rules do, and not when files are reordered or reformatted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..schemas.errors import LintProblem, RuleDefinitionError, RuleLintError
from ..schemas.rule import ActionKind, Rule, RulesetHeader, RuleStatus
from .conditions import Condition
from .lint import RuleLinter

HEADER_FILE = "ruleset.yaml"

#: libyaml's loader when PyYAML was built with it (6x faster; same data), else pure Python.
SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    condition: Condition
    file: str
    line: int | None


@dataclass(frozen=True, eq=False)
class Ruleset:
    """A validated, linted ruleset: what an :class:`~trd_cds.engine.Engine` compiles."""

    header: RulesetHeader
    rules: tuple[LoadedRule, ...]
    content_hash: str
    warnings: tuple[LintProblem, ...] = field(default=())

    @cached_property
    def active(self) -> tuple[LoadedRule, ...]:
        return tuple(r for r in self.rules if r.rule.status is RuleStatus.active)

    @property
    def findings(self) -> frozenset[str]:
        """Finding names that active derive rules can assert."""
        return frozenset(
            r.rule.action.finding
            for r in self.active
            if r.rule.action.kind is ActionKind.derive and r.rule.action.finding
        )

    def get(self, rule_id: str) -> LoadedRule:
        for r in self.rules:
            if r.rule.id == rule_id:
                return r
        raise KeyError(rule_id)


def bundled_rules_dir() -> Path:
    return Path(str(resources.files("trd_cds.rules")))


def _yaml_error(path: Path, exc: yaml.YAMLError) -> RuleDefinitionError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    return RuleDefinitionError(f"{path.name}: invalid YAML: {exc}", file=path.name, line=line)


def _rule_lines(text: str) -> list[int | None]:
    """Line of each item of the top-level ``rules`` list (for error messages)."""
    node = yaml.compose(text, Loader=SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def read_rule_files(directory: Path) -> tuple[RulesetHeader, list[tuple[Rule, str, int | None]]]:
    """Parse and validate the files of a rules folder (no linting yet)."""
    header_path = directory / HEADER_FILE
    if not header_path.is_file():
        raise RuleDefinitionError(f"{header_path}: missing ruleset header", file=HEADER_FILE)
    try:
        header = RulesetHeader.model_validate(
            yaml.load(header_path.read_text("utf-8"), Loader=SafeLoader)
        )
    except yaml.YAMLError as exc:
        raise _yaml_error(header_path, exc) from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RuleDefinitionError(
            f"{HEADER_FILE}: {_loc(err['loc'])}: {err['msg']}", file=HEADER_FILE
        ) from exc

    problems: list[LintProblem] = []
    rules: list[tuple[Rule, str, int | None]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == HEADER_FILE:
            continue
        text = path.read_text("utf-8")
        try:
            data = yaml.load(text, Loader=SafeLoader)
            lines = _rule_lines(text)
        except yaml.YAMLError as exc:
            raise _yaml_error(path, exc) from exc
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            problems.append(LintProblem(path.name, None, "expected a mapping with a 'rules' list"))
            continue
        extra = set(data) - {"rules"}
        if extra:
            problems.append(
                LintProblem(path.name, None, f"unknown top-level keys: {sorted(extra)}")
            )
        for i, raw in enumerate(data["rules"]):
            line = lines[i] if i < len(lines) else None
            rule_id = raw.get("id") if isinstance(raw, dict) else None
            try:
                rules.append((Rule.model_validate(raw), path.name, line))
            except ValidationError as exc:
                for err in exc.errors():
                    problems.append(
                        LintProblem(
                            path.name,
                            rule_id if isinstance(rule_id, str) else None,
                            f"{_loc(err['loc'])}: {err['msg']}",
                            line,
                        )
                    )
    if problems:
        raise RuleLintError(problems)
    return header, rules


def ruleset_hash(header: RulesetHeader, rules: list[Rule]) -> str:
    """sha256 over the canonical JSON of the header and all rules sorted by id."""
    payload = {
        "header": header.model_dump(mode="json"),
        "rules": [r.model_dump(mode="json") for r in sorted(rules, key=lambda r: r.id)],
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lint_rules(
    directory: Path | None = None,
) -> tuple[RulesetHeader | None, list[tuple[Rule, str, int | None]], list[LintProblem]]:
    """Every problem in a rules folder, errors and warnings, without raising for lint errors."""
    directory = directory or bundled_rules_dir()
    try:
        header, rules = read_rule_files(directory)
    except RuleLintError as exc:
        return None, [], list(exc.problems)
    linter = RuleLinter()
    linter.check(rules)
    return header, rules, linter.problems


def load_ruleset(directory: str | Path | None = None) -> Ruleset:
    """Load, validate and lint a rules folder (default: the bundled rules).

    Raises :class:`RuleLintError` listing every problem when any rule is unusable.
    """
    folder = Path(directory) if directory is not None else bundled_rules_dir()
    header, rules = read_rule_files(folder)
    linter = RuleLinter()
    conditions = linter.check(rules)
    errors = [p for p in linter.problems if p.severity == "error"]
    if errors:
        raise RuleLintError(errors)
    loaded = tuple(LoadedRule(rule, conditions[rule.id], file, line) for rule, file, line in rules)
    warnings = tuple(p for p in linter.problems if p.severity != "error")
    return Ruleset(header, loaded, ruleset_hash(header, [r for r, _, _ in rules]), warnings)
