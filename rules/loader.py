"""Loading rule files: parse YAML, validate with the rule model, lint, compile, hash.

``load_ruleset()`` reads the bundled rules (this folder); ``load_ruleset(path)`` reads another
folder laid out the same way: ``ruleset.yaml`` (the header) and any number of ``*.yaml`` rule
files, read in file-name order. The content hash covers the header and every rule (sorted by
id) in the compiled form (:func:`compiled_rule`: the condition as durable_rules JSON, the action
as one flat dict), so it changes exactly when the rules do, and not when files are reordered,
reformatted or a condition is re-spelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schemas.canonical import canonical_json, sha256
from ..schemas.errors import LintProblem, RuleDefinitionError, RuleLintError
from ..schemas.files import UnreadableFileError, read_regular_file
from ..schemas.rule import ActionKind, Rule, RulesetHeader, RuleStatus
from .conditions import Condition, compile_condition

if TYPE_CHECKING:  # pragma: no cover
    import yaml

    from .lint import Locator, RuleEntry

# PyYAML, the linter (and through it Lark) are imported only when rule files are read: an
# engine built from a cached ruleset (``rules/cache.py``) never needs them.

HEADER_FILE = "ruleset.yaml"


def _safe_loader() -> Any:
    """libyaml's loader when PyYAML was built with it (6x faster; same data), else pure Python."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def __getattr__(name: str) -> Any:
    """``SafeLoader`` (:func:`_safe_loader`), resolved on first use: importing this module
    does not load PyYAML."""
    if name == "SafeLoader":
        return _safe_loader()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class LoadedRule:
    """A linted rule: the validated model, its parsed condition and where it is written."""

    rule: Rule
    condition: Condition
    file: str
    line: int | None

    @cached_property
    def compiled(self) -> dict[str, Any]:
        """The condition in durable_rules' JSON syntax (what the engine registers)."""
        return compile_condition(self.condition)


def compiled_rule(rule: Rule, condition: Condition) -> dict[str, Any]:
    """The rule as plain data in its compiled form: what the ruleset hash and the rule pins
    cover. ``when`` is durable_rules JSON, ``action`` the flat ``{kind, options, finding, tier}``
    dict every kind of action compiles to."""
    data = rule.model_dump(mode="json")
    data["when"] = compile_condition(condition)
    data["action"] = rule.action.compiled()
    return data


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


def _mark(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index of ``text``."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _scalar_position(text: str, node: yaml.ScalarNode, offset: int | None) -> tuple[int, int]:
    """Line and column in the file of character ``offset`` of a scalar's value.

    Plain, quoted and block scalars fold or keep whitespace, but keep every other character in
    order: walk the value and the source text side by side, skipping whitespace.
    """
    start, end = node.start_mark.index, node.end_mark.index
    if offset is None:
        return _mark(text, start)
    source = text[start:end]
    j = 0
    if node.style in ('"', "'"):
        j = 1
    elif node.style in ("|", ">"):
        j = source.find("\n") + 1
    for k, char in enumerate(node.value):
        if char.isspace():
            if k == offset:
                break
            continue
        while j < len(source) and source[j].isspace():
            j += 1
        if k == offset:
            break
        if j >= len(source) or source[j] != char:  # an escape sequence: give up precision
            return _mark(text, start)
        j += 1
    return _mark(text, start + j)


def _when_locator(text: str, rule: yaml.Node) -> Locator | None:
    """Where each pattern of a rule's ``when`` is written (``None`` if it is not a list)."""
    import yaml

    if not isinstance(rule, yaml.MappingNode):
        return None
    when = next((v for k, v in rule.value if k.value == "when"), None)
    if not isinstance(when, yaml.MappingNode) or len(when.value) != 1:
        return None
    items = when.value[0][1]
    if not isinstance(items, yaml.SequenceNode):
        return None
    scalars: list[yaml.Node] = []
    for item in items.value:
        if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
            item = item.value[0][1]
        scalars.append(item)
    when_line = when.start_mark.line + 1

    def locate(pattern: int | None, offset: int | None) -> tuple[int | None, int | None]:
        if pattern is None or pattern >= len(scalars):
            return when_line, None
        node = scalars[pattern]
        if not isinstance(node, yaml.ScalarNode):
            return node.start_mark.line + 1, node.start_mark.column + 1
        return _scalar_position(text, node, offset)

    return locate


def _parse(text: str) -> tuple[Any, list[yaml.Node]]:
    """The data of a rule file and the YAML node of each item of its top-level ``rules`` list
    (for positions), from one parse: the data is constructed from the composed nodes, as
    ``yaml.load`` does."""
    import yaml

    loader = _safe_loader()(text)
    try:
        node = loader.get_single_node()
        duplicate = _duplicate_key(node)
        if duplicate is not None:
            key, line = duplicate
            error = yaml.YAMLError(f"duplicate key {key!r} on line {line} (each key once)")
            error.problem_mark = yaml.Mark("", 0, line - 1, 0, None, 0)  # type: ignore[attr-defined]
            raise error
        try:
            data = loader.construct_document(node) if node is not None else None
        except ValueError as exc:  # int() of a number of more than 4,300 digits
            raise yaml.YAMLError(str(exc)) from None
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode):
        return data, []
    for key, value in node.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return data, list(value.value)
    return data, []


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


#: Largest rule file read (the bundled ones are under 16 kB).
MAX_RULE_FILE_BYTES = 1 << 20


def read_rule_bytes(path: Path) -> bytes:
    """A rule file's bytes: a regular file of at most :data:`MAX_RULE_FILE_BYTES`, opened
    without blocking (:func:`~trd_cds.schemas.files.read_regular_file`); anything else is a
    rule-definition error naming it."""
    try:
        return read_regular_file(path, MAX_RULE_FILE_BYTES)
    except UnreadableFileError as exc:
        problem = {
            "missing": "cannot be read: No such file or directory",
            "folder": "cannot be read: Is a directory",
            "special": "not a regular file (a device, FIFO or socket)",
            "too_large": f"larger than {MAX_RULE_FILE_BYTES:,} bytes: not a rule file",
        }.get(exc.why, f"cannot be read: {exc.detail}")
        raise RuleDefinitionError(f"{path.name}: {problem}", file=path.name) from None


def _read_text(path: Path) -> str:
    """A rule file's text; a file that is not readable UTF-8 text is a rule-definition error
    naming it (a folder called ``x.yaml``, no permission, another encoding)."""
    data = read_rule_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleDefinitionError(
            f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start})",
            file=path.name,
        ) from None


def _duplicate_key(root: yaml.Node | None) -> tuple[str, int] | None:
    """The first key written twice in one mapping (PyYAML keeps the last silently: a second
    ``status: retired`` would retire a safety gate unseen), with its line; each node once, so
    aliases cannot blow the walk up."""
    import yaml

    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys and key.value != "<<":
                        return key.value, key.start_mark.line + 1
                    keys.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def read_rule_files(directory: Path) -> tuple[RulesetHeader, list[RuleEntry]]:
    """Parse and validate the files of a rules folder (no linting yet)."""
    import yaml
    from pydantic import ValidationError

    from .lint import RuleEntry

    header_path = directory / HEADER_FILE
    if not header_path.is_file():
        raise RuleDefinitionError(f"{header_path}: missing ruleset header", file=HEADER_FILE)
    try:
        header = RulesetHeader.model_validate(_parse(_read_text(header_path))[0])
    except yaml.YAMLError as exc:
        raise _yaml_error(header_path, exc) from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RuleDefinitionError(
            f"{HEADER_FILE}: {_loc(err['loc'])}: {err['msg']}", file=HEADER_FILE
        ) from exc

    problems: list[LintProblem] = []
    rules: list[RuleEntry] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == HEADER_FILE:
            continue
        text = _read_text(path)
        try:
            data, nodes = _parse(text)
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
            node = nodes[i] if i < len(nodes) else None
            line = node.start_mark.line + 1 if node is not None else None
            locate = _when_locator(text, node) if node is not None else None
            rule_id = raw.get("id") if isinstance(raw, dict) else None
            try:
                rules.append(RuleEntry(Rule.model_validate(raw), path.name, line, locate))
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


def ruleset_hash(header: RulesetHeader, rules: Iterable[LoadedRule]) -> str:
    """sha256 over the canonical JSON of the header and all rules, compiled, sorted by id."""
    payload = {
        "header": header.model_dump(mode="json"),
        "rules": [
            compiled_rule(r.rule, r.condition) for r in sorted(rules, key=lambda r: r.rule.id)
        ],
    }
    return sha256(canonical_json(payload))


def lint_rules(
    directory: Path | None = None,
) -> tuple[RulesetHeader | None, list[RuleEntry], list[LintProblem]]:
    """Every problem in a rules folder, errors and warnings, without raising for lint errors."""
    from .lint import RuleLinter

    directory = directory or bundled_rules_dir()
    try:
        header, rules = read_rule_files(directory)
    except RuleLintError as exc:
        return None, [], list(exc.problems)
    linter = RuleLinter()
    linter.check(rules)
    return header, rules, linter.problems


def load_ruleset(
    directory: str | Path | None = None, *, cache_dir: str | Path | None = None
) -> Ruleset:
    """Load, validate and lint a rules folder (default: the bundled rules).

    Raises :class:`RuleLintError` listing every problem when any rule is unusable.

    ``cache_dir``: keep the loaded ruleset in this folder and reuse it while the rule files
    and the rule language are unchanged (:mod:`trd_cds.rules.cache`; the command line passes
    :func:`~trd_cds.rules.cache.cache_dir_from_env`). The result is the same either way.
    """
    folder = Path(directory) if directory is not None else bundled_rules_dir()
    if cache_dir is not None:
        from .cache import load_cached

        return load_cached(folder, Path(cache_dir), _build)
    return _build(folder)


def _build(folder: Path) -> Ruleset:
    """Read, validate, lint, compile and hash the rules of ``folder`` (no cache)."""
    from .lint import RuleLinter

    header, rules = read_rule_files(folder)
    linter = RuleLinter()
    conditions = linter.check(rules)
    errors = [p for p in linter.problems if p.severity == "error"]
    if errors:
        raise RuleLintError(errors)
    loaded = tuple(LoadedRule(e.rule, conditions[e.rule.id], e.file, e.line) for e in rules)
    warnings = tuple(p for p in linter.problems if p.severity != "error")
    return Ruleset(header, loaded, ruleset_hash(header, loaded), warnings)
