"""Reading case files: JSON and YAML, single files, folders and standard input.

Every problem becomes a :class:`CaseError` that names the file and the field path, so a batch
can report it in one line and carry on with the next file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..rules.loader import SafeLoader
from ..schemas.case import Case
from ..schemas.errors import CaseError
from .core import parse_case

CASE_SUFFIXES = (".json", ".yaml", ".yml")
STDIN = "-"


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from: a path, or ``-`` with the text read from standard input."""

    name: str
    path: Path | None = None
    text: str | None = None


def expand(inputs: Iterable[str], stdin_text: str | None = None) -> Iterator[CaseSource]:
    """Files as given, folders as their case files (recursively, sorted), ``-`` as stdin."""
    for item in inputs:
        if item == STDIN:
            yield CaseSource("<stdin>", None, stdin_text or "")
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CASE_SUFFIXES
            )
            for p in found:
                yield CaseSource(str(p), p)
        else:
            yield CaseSource(str(path), path)


def _yaml_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}" if mark is not None else ""


def parse_text(text: str, name: str, suffix: str) -> Any:
    """JSON for ``.json``; YAML (a superset of JSON) otherwise."""
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CaseError(name, [(f"line {exc.lineno}", f"invalid JSON: {exc.msg}")]) from exc
    try:
        return yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CaseError(name, [(_yaml_line(exc), f"invalid YAML: {problem}")]) from exc


def read_case_data(source: CaseSource) -> Any:
    if source.text is not None:
        return parse_text(source.text, source.name, ".yaml")
    assert source.path is not None
    suffix = source.path.suffix.lower()
    if suffix not in CASE_SUFFIXES:
        raise CaseError(source.name, [("", f"not a case file (use {', '.join(CASE_SUFFIXES)})")])
    try:
        text = source.path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise CaseError(source.name, [("", "no such file")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(source.name, [("", f"cannot read: {exc}")]) from exc
    return parse_text(text, source.name, suffix)


def load_case(source: CaseSource | str | Path) -> Case:
    """Read and validate one case file; :class:`CaseError` names the file and field path."""
    if not isinstance(source, CaseSource):
        source = CaseSource(str(source), Path(source))
    return parse_case(read_case_data(source), source.name)
