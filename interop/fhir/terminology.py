"""Terminology as data: the shipped ValueSets, ConceptMaps, drug and minimum-dose tables.

``data/terminology.json`` is a FHIR R4 Bundle of versioned ValueSets (explicit SNOMED CT / LOINC
concepts; ICD-10-CM by ``is-a`` filters, read as code-prefix hierarchy) and ConceptMaps.
``data/drugs.json`` maps antidepressant and augmenting-agent ingredients to the Thase–Rush
class / augmentation agent (domain-reference §10), and other psychotropics (valproate) to their
current-medication class (case schema v2); ``data/min_doses.json`` is the §11.8
minimum-dose table with its source label. Nothing here guesses: a code that is in no table is
simply not recognised.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
BASE = "https://trd-cds.example.org/fhir"


def load_data(name: str) -> Any:
    """A shipped JSON data file of this package."""
    return json.loads(
        resources.files(__package__).joinpath("data").joinpath(name).read_text("utf-8")
    )


def _icd_is_a(code: str, parent: str) -> bool:
    """ICD-10-CM hierarchy by code prefix: F32 covers F32.0 … F32.A; F33.4 covers F33.41."""
    if code == parent:
        return True
    if "." in parent:
        return code.startswith(parent)
    return code.startswith(parent + ".")


@dataclass(frozen=True)
class ValueSet:
    name: str
    version: str
    concepts: frozenset[tuple[str, str]]
    prefixes: tuple[tuple[str, str], ...]

    def contains(self, system: str | None, code: str | None) -> bool:
        if not system or not code:
            return False
        if (system, code) in self.concepts:
            return True
        return any(s == system and _icd_is_a(code, p) for s, p in self.prefixes)


@dataclass(frozen=True)
class Terminology:
    valuesets: dict[str, ValueSet]
    maps: dict[str, dict[tuple[str, str], dict[str, Any]]]
    antidepressants: dict[str, str]
    augmenting: dict[str, str]
    rxnorm_ingredient: dict[str, str]
    min_doses: dict[str, float]
    extended_release_min: dict[str, float]
    dose_source: str
    #: ingredient → current-medication class for drugs neither antidepressant nor augmenting
    other_psychotropics: dict[str, str] = field(default_factory=dict)
    #: a word naming an ingredient (its own name or an alias: divalproex → valproate)
    names: dict[str, str] = field(default_factory=dict)

    # system and code may come from raw JSON not validated yet (selection reads it first):
    # anything but text is no member of anything

    def member(self, valueset: str, system: object, code: object) -> bool:
        if not (isinstance(system, str) and isinstance(code, str)):
            return False
        return self.valuesets[valueset].contains(system, code)

    def translate(self, conceptmap: str, system: object, code: object) -> str | None:
        target = self.target(conceptmap, system, code)
        return target.get("code") if target else None

    def target(self, conceptmap: str, system: object, code: object) -> dict[str, Any]:
        system, code = system or "", code or ""
        if not (isinstance(system, str) and isinstance(code, str)):
            return {}
        return self.maps[conceptmap].get((system, code), {})

    def ingredient_in_text(self, text: str) -> list[str]:
        """Known ingredients named (by name or alias) as whole words in a display or text."""
        words = set(re.findall(r"[a-z]+", text.lower()))
        return sorted({n for word, n in self.names.items() if word in words})

    def medication_class(self, ingredient: str) -> str | None:
        """The current-medication class (case schema v2 ``MedicationClass``) of an ingredient:
        antidepressant classes as in the trial table (``other`` → ``other_antidepressant``),
        lithium, antipsychotics, lamotrigine, valproate; ``None`` for an unknown ingredient."""
        if ingredient in self.antidepressants:
            cls = self.antidepressants[ingredient]
            return "other_antidepressant" if cls == "other" else cls
        if ingredient in self.augmenting:
            return _AGENT_CLASS.get(self.augmenting[ingredient], "other")
        return self.other_psychotropics.get(ingredient)


#: augmentation agent → current-medication class
_AGENT_CLASS = {
    "lithium": "lithium",
    "second_generation_antipsychotic": "antipsychotic",
    "lamotrigine": "lamotrigine",
}


def _valueset(resource: dict[str, Any]) -> ValueSet:
    concepts: set[tuple[str, str]] = set()
    prefixes: list[tuple[str, str]] = []
    for inc in resource["compose"]["include"]:
        for c in inc.get("concept", []):
            concepts.add((inc["system"], c["code"]))
        for f in inc.get("filter", []):
            if f["op"] != "is-a":  # pragma: no cover - the shipped data uses is-a only
                raise ValueError(f"unsupported ValueSet filter {f['op']!r}")
            prefixes.append((inc["system"], f["value"]))
    return ValueSet(resource["id"], resource["version"], frozenset(concepts), tuple(prefixes))


def _conceptmap(resource: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for group in resource["group"]:
        for el in group["element"]:
            target = dict(el["target"][0])
            target["group_target"] = group["target"]
            out[(group["source"], el["code"])] = target
    return out


@lru_cache(maxsize=1)
def terminology() -> Terminology:
    """The shipped terminology, loaded once (immutable)."""
    bundle = load_data("terminology.json")
    valuesets: dict[str, ValueSet] = {}
    maps: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "ValueSet":
            valuesets[res["id"]] = _valueset(res)
        else:
            maps[res["id"]] = _conceptmap(res)
    drugs = load_data("drugs.json")
    doses = load_data("min_doses.json")
    rx: dict[str, str] = {}
    names: dict[str, str] = {}
    tables = ("antidepressants", "augmenting_agents", "other_psychotropics")
    for table in (drugs[t] for t in tables):
        for name, row in table.items():
            if row.get("rxnorm"):
                rx[row["rxnorm"]] = name
            for word in (name, *row.get("names", ())):
                names[word] = name
    return Terminology(
        valuesets=valuesets,
        maps=maps,
        antidepressants={n: r["class"] for n, r in drugs["antidepressants"].items()},
        augmenting={n: r["agent"] for n, r in drugs["augmenting_agents"].items()},
        rxnorm_ingredient=rx,
        min_doses={k: float(v) for k, v in doses["minimum_daily_dose_mg"].items()},
        extended_release_min={k: float(v) for k, v in doses["extended_release_minimum_mg"].items()},
        dose_source=doses["source"],
        other_psychotropics={n: r["class"] for n, r in drugs["other_psychotropics"].items()},
        names=names,
    )
