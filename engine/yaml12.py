"""A YAML 1.2 core-schema loader for case files, on PyYAML's libyaml parser.

PyYAML resolves plain scalars by YAML 1.1 rules: ``1:20`` is the sexagesimal 80, ``yes``,
``no``, ``on`` and ``off`` are booleans, ``017`` is octal 15 and ``2026-01-01`` a date. For a
clinical case file each of those is a quietly wrong answer, so this loader uses the YAML 1.2
core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution) instead:

* null: ``~``, ``null``, ``Null``, ``NULL`` and the empty scalar;
* bool: ``true``/``True``/``TRUE``, ``false``/``False``/``FALSE``;
* int: ``[-+]?[0-9]+``, ``0o[0-7]+``, ``0x[0-9a-fA-F]+``;
* float: ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?``, ``.inf``, ``.nan``;
* everything else is a string (dates stay ISO strings: the case model reads them).

No merge keys (``<<``, YAML 1.1 only). Duplicate keys are recorded, not silently
overwritten (:attr:`Yaml12Loader.duplicates`), so the caller can name the field path.
Integers with more than :data:`MAX_INT_DIGITS` digits are refused before ``int()`` sees them.
Aliases are built as shared objects (no expansion here); whoever walks the result must bound
the walk (``intake`` counts every visited value, aliases included).

Rule files keep their own loader (``rules.loader``): their hash must not change.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from typing import Any, ClassVar

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

#: libyaml's parser when PyYAML was built with it, else the pure-Python one (same data).
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: No field of a case needs more; Python refuses ``int()`` of > 4,300 digits with ValueError.
MAX_INT_DIGITS = 40

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"

_CORE: list[tuple[str, re.Pattern[str], str]] = [
    (_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), "~nN"),
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    (_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), "-+0123456789"),
    (
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        "-+.0123456789",
    ),
]


class Yaml12Loader(_Base):  # type: ignore[misc]  # PyYAML's loaders are untyped
    """Safe loader with YAML 1.2 core-schema scalars and recorded duplicate keys."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}
    yaml_constructors: ClassVar[dict[str | None, Any]] = {}

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        #: id(mapping) -> (the mapping, its duplicated keys in document order)
        self.duplicates: dict[int, tuple[dict[Any, Any], list[Any]]] = {}

    def construct_yaml_map(self, node: MappingNode) -> Iterator[dict[Any, Any]]:
        data: dict[Any, Any] = {}
        yield data
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=False)
            if not isinstance(key, Hashable):
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found a key that is not a string",
                    key_node.start_mark,
                )
            if key in data:
                self.duplicates.setdefault(id(data), (data, []))[1].append(key)
            data[key] = self.construct_object(value_node, deep=False)

    def construct_core_int(self, node: ScalarNode) -> int:
        value: str = node.value
        digits = value.lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None, f"an integer of {len(digits)} digits is too large", node.start_mark
            )
        if digits.startswith(("0o", "0x")):
            return int(digits[2:], 8 if digits[1] == "o" else 16)
        return int(value, 10)

    def construct_core_float(self, node: ScalarNode) -> float:
        value: str = node.value.lower()
        if value.endswith(".inf"):
            return float("-inf") if value.startswith("-") else float("inf")
        if value == ".nan":
            return float("nan")
        if len(value) > 4 * MAX_INT_DIGITS:
            raise ConstructorError(None, None, "a number this long is not a case value", None)
        return float(value)

    def construct_undefined(self, node: Node) -> Any:
        raise ConstructorError(
            None, None, f"the tag {node.tag!r} is not allowed in a case file", node.start_mark
        )


for _tag, _regexp, _first in _CORE:
    for _ch in [*_first, ""] if _tag == _NULL else _first:
        Yaml12Loader.yaml_implicit_resolvers.setdefault(_ch, []).append((_tag, _regexp))
# Only the core schema's tags: no !!timestamp, !!binary, !!set, !!omap, !!python/...
_Safe = yaml.constructor.SafeConstructor
Yaml12Loader.add_constructor(_NULL, _Safe.construct_yaml_null)
Yaml12Loader.add_constructor(_BOOL, _Safe.construct_yaml_bool)
Yaml12Loader.add_constructor("tag:yaml.org,2002:str", _Safe.construct_yaml_str)
Yaml12Loader.add_constructor("tag:yaml.org,2002:seq", _Safe.construct_yaml_seq)
Yaml12Loader.add_constructor("tag:yaml.org,2002:map", Yaml12Loader.construct_yaml_map)
Yaml12Loader.add_constructor(_INT, Yaml12Loader.construct_core_int)
Yaml12Loader.add_constructor(_FLOAT, Yaml12Loader.construct_core_float)
Yaml12Loader.add_constructor(None, Yaml12Loader.construct_undefined)


def load_yaml(text: str) -> tuple[Any, dict[int, tuple[dict[Any, Any], list[Any]]]]:
    """One YAML document as data, with the duplicate keys found on the way."""
    loader = Yaml12Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()
