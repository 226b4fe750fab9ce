"""The case under construction: data, provenance and what FHIR could not supply.

Every value set on the case records where it came from (``ResourceType/id#/path``); a value
derived from several elements (weeks on drug, dose adequacy, a trial outcome) also records the
derivation in words with all its inputs. What FHIR cannot supply is a :class:`DataNeeded` item
naming the case field and what to record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class DataNeeded:
    """A case field FHIR could not supply, and what a clinician should record."""

    pointer: str
    record: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "record": self.record, "reason": self.reason}


@dataclass(frozen=True)
class Derivation:
    """A value computed from several FHIR elements, in words, with its inputs."""

    pointer: str
    value: Any
    rule: str
    inputs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "pointer": self.pointer,
            "value": self.value,
            "rule": self.rule,
            "inputs": list(self.inputs),
        }


@dataclass
class Builder:
    today: date
    data: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    derivations: list[Derivation] = field(default_factory=list)
    needed: list[DataNeeded] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: FHIR facts read but not put in the case (an older item 9, undated procedures, an
    #: augmenting agent outside any antidepressant course), by kind, with their source
    unmapped: dict[str, list[Any]] = field(default_factory=dict)

    def set(self, pointer: str, value: Any, source: str) -> None:
        """Set ``value`` at a JSON pointer of the case (creating objects on the way)."""
        parts = pointer.strip("/").split("/")
        node: Any = self.data
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[parts[-1]] = value
        self.provenance[pointer] = source

    def get(self, pointer: str) -> Any:
        node: Any = self.data
        for part in pointer.strip("/").split("/"):
            if isinstance(node, list):
                idx = int(part)
                node = node[idx] if idx < len(node) else None
            elif isinstance(node, dict):
                node = node.get(part)
            else:
                return None
        return node

    def data_at(self, pointer: str) -> dict[str, Any]:
        """The object at ``pointer`` (which must exist)."""
        node = self.get(pointer)
        if not isinstance(node, dict):  # pragma: no cover - callers create it first
            raise KeyError(pointer)
        return node

    def derive(self, pointer: str, value: Any, rule: str, inputs: list[str]) -> None:
        self.derivations.append(Derivation(pointer, value, rule, tuple(inputs)))
        if inputs:
            self.provenance[pointer] = inputs[0]

    def need(self, pointer: str, record: str, reason: str) -> None:
        item = DataNeeded(pointer, record, reason)
        if item not in self.needed:
            self.needed.append(item)

    def keep_unmapped(self, key: str, item: Any) -> None:
        self.unmapped.setdefault(key, []).append(item)
