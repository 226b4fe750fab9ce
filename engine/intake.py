"""Case intake: bytes, text or data in, a validated :class:`Case` or a :class:`CaseError` out.

Every way a case enters the engine (a file, standard input, a dict from code) ends here, so
every limit is enforced once and every error reads the same way: the source, then a JSON
pointer into what the caller gave (``/antidepressant_trials/0/weeks_at_dose``), or a
position in the caller's own text (``line 3 column 5``), or :data:`WHOLE_INPUT` when the
problem is the input as a whole (too large, not UTF-8, an alias bomb).

The input is bounded *before* anything expensive happens:

* at most :data:`MAX_CASE_BYTES` bytes of text (a real case is a few kilobytes);
* the decoded data is walked once, iteratively (no recursion, no ``RecursionError``):
  at most :data:`MAX_DEPTH` levels, :data:`MAX_VALUES` values counted *with* YAML alias
  expansion (a 560-byte alias bomb stops after 100,000 values, not at 6 GB), lists no longer
  than the case model allows (a 500,000-item list is refused by its length, before a single
  item is validated), string keys only, finite numbers, integers of at most
  :data:`~trd_cds.engine.yaml12.MAX_INT_DIGITS` digits, no lone surrogates, no duplicate keys.
  (JSON text gets the shape checks only, unless the parser's hooks saw NaN, Infinity, an
  over-long integer or a lone surrogate: its keys are strings by construction and Pydantic's
  JSON parser refuses its other scalars with a line and column.)

Only then is the case validated by the Pydantic model in JSON mode (strict: no string to
number coercion, enum values and dates as their JSON strings), so JSON, YAML and dicts from
code are judged alike. JSON text (``str``/``bytes``) is validated as written with
``Case.model_validate_json``. Dicts and YAML data are serialised once with
``pydantic_core.to_json`` and validated the same way: Pydantic's strict *Python* mode wants
enum instances instead of their JSON strings, so a dict cannot keep JSON-mode semantics without
that one dump; the walk above guarantees the dump cannot fail, and no position from it is
ever shown (Pydantic's errors carry field paths only).

One byte-order-mark rule for JSON and YAML: a single leading UTF-8 BOM is ignored; any other
encoding (UTF-16, Latin-1, ...) is refused as "not UTF-8".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import pydantic_core
import yaml
from pydantic import ValidationError

from ..schemas.case import Case
from ..schemas.errors import WHOLE_INPUT, CaseError
from .yaml12 import MAX_INT_DIGITS, load_yaml

#: Largest case text accepted (bytes of UTF-8). The bundled examples are 1-4 kB.
MAX_CASE_BYTES = 1 << 20
#: Deepest nesting accepted; the case model itself is 4 levels deep.
MAX_DEPTH = 32
#: Most values (mapping entries and list items, aliases counted each time) in one case.
MAX_VALUES = 100_000
#: Longest list accepted anywhere the case model sets no tighter bound.
MAX_LIST_ITEMS = 1_000
#: At most this many problems are listed for one case.
MAX_ERRORS = 50

Format = Literal["json", "yaml"]
Duplicates = dict[int, tuple[dict[Any, Any], list[Any]]]
Problems = list[tuple[str, str]]

_BOM = "\ufeff"
_NESTED = (dict, list)
#: Bits of the largest integer of MAX_INT_DIGITS decimal digits.
_MAX_INT_BITS = (10**MAX_INT_DIGITS).bit_length()


def pointer(parts: tuple[Any, ...] | list[Any]) -> str:
    """RFC 6901 JSON pointer of a path (``~`` and ``/`` escaped in keys)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_AT_POSITION = re.compile(r"^(?P<msg>.*) at (?P<where>line \d+ column \d+)$")


def validation_errors(exc: ValidationError) -> Problems:
    """Pydantic errors as (JSON pointer, message) pairs; Pydantic's own JSON parser's errors
    (the caller's text is the only JSON it parses) as (``line L column C``, message)."""
    out: Problems = []
    for err in exc.errors():
        found = _AT_POSITION.match(err["msg"]) if err["type"] == "json_invalid" else None
        if found and not err["loc"]:
            out.append((found["where"], found["msg"]))
        else:
            out.append((pointer(err["loc"]), err["msg"]))
    return out


@lru_cache(maxsize=1)
def _list_caps() -> dict[str, int]:
    """Top-level list fields of the case and their ``max_length``."""
    caps: dict[str, int] = {}
    for name, info in Case.model_fields.items():
        for meta in info.metadata:
            limit = getattr(meta, "max_length", None)
            if isinstance(limit, int):
                caps[name] = limit
    return caps


class _LongInt:
    """Stands in for a JSON integer too long to convert (reported with its path)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _json_int(text: str) -> int | _LongInt:
    digits = len(text.lstrip("-"))
    return _LongInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_tree(
    data: Any, duplicates: Duplicates | None = None, *, scalars: bool = True
) -> Problems:
    """Everything that must hold before the model sees ``data`` (see the module docstring).

    Iterative over containers (scalars are checked in place), bounded by :data:`MAX_VALUES`
    values, so it terminates on self-referencing and exponentially aliased YAML too.
    Problems are listed in document order, at most :data:`MAX_ERRORS`. ``scalars=False``
    checks only the shape (depth, list lengths, duplicates, the value budget): for data
    fresh from ``json.loads`` whose hooks saw nothing odd, keys are strings and every scalar
    is one Pydantic's JSON parser judges with a position in the caller's text.
    """
    problems: Problems = []
    if not isinstance(data, (Mapping, list, tuple)):
        problem = _value_problem(data) if data is not None else ""
        return [(WHOLE_INPUT, problem)] if problem else []
    caps = _list_caps()
    budget = MAX_VALUES
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack and len(problems) < MAX_ERRORS:
        node, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            problems.append((pointer(path), f"nested more than {MAX_DEPTH} levels deep"))
            continue
        items: Any
        is_map = isinstance(node, Mapping)
        if is_map:
            if duplicates and id(node) in duplicates:
                for key in duplicates[id(node)][1]:
                    problems.append((pointer((*path, key)), "duplicate key (each field once)"))
            items = node.items()
        else:
            cap = caps.get(path[0], MAX_LIST_ITEMS) if len(path) == 1 else MAX_LIST_ITEMS
            if len(node) > cap:
                problems.append(
                    (pointer(path), f"List should have at most {cap} items, not {len(node)}")
                )
                continue
            items = enumerate(node)
        budget -= len(node)
        if budget < 0:
            problems.append((WHOLE_INPUT, f"more than {MAX_VALUES:,} values (an alias bomb?)"))
            break
        children: list[tuple[Any, tuple[Any, ...]]] = []
        if not scalars:
            stack.extend(reversed([(v, (*path, k)) for k, v in items if type(v) in _NESTED]))
            continue
        for key, value in items:
            kind = type(value)
            if is_map and (type(key) is not str or not key.isascii()):
                problem = _key_problem(key)
                if problem:
                    problems.append((pointer(path), problem))
                    continue
            if kind is dict or kind is list:
                children.append((value, (*path, key)))
            elif kind is str:
                if not value.isascii() and _has_lone_surrogate(value):
                    problems.append((pointer((*path, key)), "text with a lone surrogate"))
            elif kind is int:
                if value.bit_length() > _MAX_INT_BITS:
                    problems.append((pointer((*path, key)), "the integer is too large"))
            elif kind is float:
                if not math.isfinite(value):
                    problems.append((pointer((*path, key)), f"{value} is not a finite number"))
            elif value is not None and kind is not bool:
                problem = _value_problem(value)
                if problem == "container":
                    children.append((value, (*path, key)))
                elif problem:
                    problems.append((pointer((*path, key)), problem))
        stack.extend(reversed(children))
    return problems


def _key_problem(key: Any) -> str:
    if not isinstance(key, str):
        return f"keys must be strings, not {type(key).__name__}"
    return "a key with a lone surrogate" if _has_lone_surrogate(key) else ""


def _value_problem(value: Any) -> str:
    """The uncommon types: subclasses, tuples, other mappings, dates, what JSON cannot hold."""
    if isinstance(value, (Mapping, list, tuple)):
        return "container"
    if isinstance(value, str):
        return "text with a lone surrogate" if _has_lone_surrogate(value) else ""
    if isinstance(value, (bool, date)):
        return ""
    if isinstance(value, int):
        return "the integer is too large" if value.bit_length() > _MAX_INT_BITS else ""
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, _LongInt):
        return f"an integer of {value.digits} digits is too large"
    return f"not JSON data: {type(value).__name__}"


# --------------------------------------------------------------------------- text


def decode(raw: bytes | bytearray | memoryview, source: str, limit: int = MAX_CASE_BYTES) -> str:
    """UTF-8 text of at most ``limit`` bytes, one leading BOM dropped."""
    if len(raw) > limit:
        raise too_large(source, limit)
    data = bytes(raw)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CaseError(source, [(WHOLE_INPUT, "UTF-16 text: save the file as UTF-8")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        raise CaseError(
            source, [(WHOLE_INPUT, f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start})")]
        ) from None
    return text[1:] if text.startswith(_BOM) else text


def too_large(source: str, limit: int = MAX_CASE_BYTES) -> CaseError:
    name = "MAX_CASE_BYTES" if limit == MAX_CASE_BYTES else "the input limit"
    return CaseError(source, [(WHOLE_INPUT, f"larger than {limit:,} bytes ({name})")])


def load_json(text: str, source: str) -> tuple[Any, Duplicates, bool]:
    """JSON text as data, with its duplicate keys and whether a scalar looked odd (NaN,
    Infinity, a lone surrogate, an integer too long to convert: the caller then checks every
    scalar); syntax errors name line and column."""
    duplicates: Duplicates = {}
    odd: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            dups = [k for k, _ in items if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
            duplicates[id(obj)] = (obj, dups)
        return obj

    def constant(name: str) -> float:
        odd.append(True)
        return float(name)

    def loads(parse_int: Any) -> Any:
        return json.loads(
            text, object_pairs_hook=pairs, parse_constant=constant, parse_int=parse_int
        )

    try:
        try:
            data = loads(None)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            # int() refused a number of more than 4,300 digits: parse again, marking it
            duplicates.clear()
            odd.append(True)
            data = loads(_json_int)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise CaseError(source, [(where, f"invalid JSON: {exc.msg}")]) from None
    except RecursionError:
        raise _too_deep(source, text) from None
    return data, duplicates, bool(odd) or _has_lone_surrogate(text)


def _too_deep(source: str, text: str) -> CaseError:
    """The parser ran out of stack: find where the text first nests too deeply."""
    return CaseError(source, [(_deep_position(text), f"nested more than {MAX_DEPTH} levels deep")])


def _deep_position(text: str) -> str:
    """``line L column C`` of the first bracket nested deeper than :data:`MAX_DEPTH`
    (strings skipped), or :data:`WHOLE_INPUT` when brackets do not explain it."""
    depth, line, col, quote, escaped = 0, 1, 0, "", False
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return f"line {line} column {col}"
        elif ch in "]}":
            depth -= 1
    return WHOLE_INPUT


def _load_yaml(text: str, source: str) -> tuple[Any, Duplicates]:
    try:
        return load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else WHOLE_INPUT
        problem = exc.problem or exc.context or "cannot parse"
        raise CaseError(source, [(where, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CaseError(source, [(WHOLE_INPUT, f"invalid YAML: {first}")]) from None
    except RecursionError:
        raise _too_deep(source, text) from None


def parse_case_text(content: str | bytes, source: str = "<case>", fmt: Format = "json") -> Case:
    """Validate case text (JSON, or YAML 1.2 with ``fmt="yaml"``) from bytes or str."""
    if isinstance(content, str):
        if len(content) > MAX_CASE_BYTES:
            raise too_large(source)
        text = content[1:] if content.startswith(_BOM) else content
    else:
        text = decode(content, source)
    if fmt == "yaml":
        data, duplicates = _load_yaml(text, source)
        _check(data, source, duplicates)
        return _validate(_dump(data), source)
    data, duplicates, odd = load_json(text, source)
    _check(data, source, duplicates, scalars=odd)
    return _validate(text, source)


def _check(data: Any, source: str, duplicates: Duplicates | None, *, scalars: bool = True) -> None:
    if not isinstance(data, Mapping):
        kind = "nothing" if data is None else type(data).__name__
        raise CaseError(source, [(WHOLE_INPUT, f"a case must be a mapping, got {kind}")])
    problems = check_tree(data, duplicates, scalars=scalars)
    if problems:
        raise CaseError(source, problems)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)  # pragma: no cover - check_tree refused it


def _dump(data: Any) -> bytes:
    return pydantic_core.to_json(data, fallback=_plain)


def _validate(json_text: str | bytes, source: str) -> Case:
    try:
        return Case.model_validate_json(json_text)
    except ValidationError as exc:
        raise CaseError(source, validation_errors(exc)) from exc


def parse_case(
    data: Mapping[str, Any] | str | bytes | Case,
    source: str = "<case>",
) -> Case:
    """Validate a case; raise :class:`CaseError` naming the source and field paths.

    ``str`` and ``bytes`` are JSON text, validated as written; a mapping (from YAML, JSON or
    code) is checked by :func:`check_tree` and validated in the same strict JSON mode; a
    :class:`Case` is returned as is.
    """
    if isinstance(data, Case):
        return data
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        return parse_case_text(data if isinstance(data, str) else bytes(data), source, "json")
    _check(data, source, None)
    return _validate(_dump(data), source)
