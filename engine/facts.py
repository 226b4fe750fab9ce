"""Case → facts: flat, JSON-safe dicts with ids from a fixed vocabulary.

Every field of every fact remembers where it came from: a JSON pointer into the input case, or
the derived finding that computed it. That is what lets a report name, for each
recommendation, the case facts that produced it.

Fences (DESIGN.md, "durable_rules: known behaviour"):

* #2/#3 fact ids come from :func:`fact_id_vocabulary` (``patient``, ``ad_trial-0``, ...),
  which a test proves free of durable_rules' 32-bit FNV-1 hash collisions;
* #6 numbers are asserted as numbers (ints/floats, never strings, never Decimal/datetime/inf):
  :func:`coerce` enforces the kind declared in the fact model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from ..schemas.case import MAX_TRIALS, Case
from ..schemas.errors import EvaluationError
from ..schemas.facts import SINGLETON_TYPES, FieldSpec, field_specs
from .assessments import Assessment

LIST_FACTS: dict[str, str] = {
    # fact type -> case list it comes from
    "ad_trial": "antidepressant_trials",
    "psychotherapy_trial": "psychotherapy_trials",
    "ect_course": "ect_courses",
    "augmentation": "augmentations",
}

_SECTION: dict[str, str] = {
    # singleton fact type -> case section its fields come from (1:1 field names)
    "patient": "patient",
    "diagnosis": "diagnosis",
    "comorbidity": "comorbidities",
    "features": "clinical_features",
    "contraindication": "contraindications",
    "preference": "preferences",
    "psychosocial": "psychosocial",
}


class Source(NamedTuple):
    """Where a fact field's value comes from: an input pointer or a derived finding (a tuple:
    built for every fact field of every case)."""

    pointer: str | None = None
    finding: str | None = None
    subject: str | None = None


@dataclass
class FactSet:
    facts: list[dict[str, Any]]
    sources: dict[str, dict[str, Source]]
    by_id: dict[str, dict[str, Any]]


def fact_id_vocabulary(finding_names: frozenset[str], gate_names: tuple[str, ...]) -> list[str]:
    """Every fact id an evaluation can use. Fixed and finite, so it can be collision-tested."""
    ids = list(SINGLETON_TYPES)
    for fact_type in LIST_FACTS:
        ids.extend(f"{fact_type}-{i}" for i in range(MAX_TRIALS))
    ids.extend(f"finding-{name}" for name in sorted(finding_names))
    ids.extend(f"gate-{name}" for name in gate_names)
    return ids


def fnv1_32(text: str) -> int:
    """durable_rules' string hash: 32-bit FNV-1a (xor, then multiply; ``src/rules/state.c``)."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte if byte < 128 else byte - 256  # C ``char`` is signed here
        h = (h * 16777619) & 0xFFFFFFFF
    return h


@cache
def _specs(fact_type: str) -> dict[str, FieldSpec]:
    return field_specs(fact_type)


@cache
def _kinds(fact_type: str) -> dict[str, tuple[str, frozenset[str] | None]]:
    return {
        name: (spec.kind, None if spec.choices is None else frozenset(spec.choices))
        for name, spec in _specs(fact_type).items()
    }


def coerce(fact_type: str, name: str, value: Any) -> Any:
    """The value as durable_rules must see it: bool/int/float/str per the fact model."""
    kind, choices = _kinds(fact_type)[name]
    kind_of = type(value)
    if kind == "bool":
        ok = kind_of is bool
    elif kind == "int":
        ok = kind_of is int
    elif kind == "number":
        ok = kind_of is int or kind_of is float
        if ok:
            # durable_rules' C JSON reader cannot parse exponent notation (1e-05): the fact
            # would silently lose its fields. Four decimals keep every float in plain notation.
            value = round(float(value), 4)
            ok = math.isfinite(value) and "e" not in repr(value)
    else:
        if kind_of is not str and isinstance(getattr(value, "value", None), str):  # Enum
            value = value.value
        ok = type(value) is str and (choices is None or value in choices)
    if not ok:
        raise EvaluationError(
            f"fact {fact_type}.{name} would be asserted as {value!r}, expected {kind}"
        )
    return value


class _Builder:
    def __init__(self) -> None:
        self.facts: list[dict[str, Any]] = []
        self.sources: dict[str, dict[str, Source]] = {}

    def add(self, fact_id: str, fact_type: str, fields: dict[str, tuple[Any, Source]]) -> None:
        fact: dict[str, Any] = {"id": fact_id, "type": fact_type}
        sources: dict[str, Source] = {}
        for name, (value, source) in fields.items():
            sources[name] = source  # also for absent values: why-not names where data goes
            if value is None:
                continue  # absent: conditions on it do not match; why-not says "missing"
            fact[name] = coerce(fact_type, name, value)
        self.facts.append(fact)
        self.sources[fact_id] = sources

    def add_section(self, fact_type: str, model: Any, sources: dict[str, Source]) -> None:
        """A singleton fact whose fields are a case section's fields of the same names;
        ``sources`` is shared between evaluations (never mutated)."""
        fact: dict[str, Any] = {"id": fact_type, "type": fact_type}
        for name in sources:
            value = getattr(model, name)
            if value is not None:
                fact[name] = coerce(fact_type, name, value)
        self.facts.append(fact)
        self.sources[fact_type] = sources


@cache
def _section_sources(fact_type: str, section: str) -> dict[str, Source]:
    return {
        name: Source(pointer=f"/{section}/{name}") for name in _specs(fact_type) if name != "type"
    }


def build_facts(case: Case, assessment: Assessment) -> FactSet:
    """All facts of one case, in a fixed order, with the source of every field."""
    b = _Builder()
    for fact_type, section in _SECTION.items():
        b.add_section(fact_type, getattr(case, section), _section_sources(fact_type, section))

    months_src = (
        Source(finding="episode_months")
        if case.episode.onset_date is not None
        else Source(pointer="/episode/duration_months")
    )
    b.add(
        "episode",
        "episode",
        {
            "duration_months": (assessment.episode_months, months_src),
            "prior_episodes": (case.episode.prior_episodes, Source("/episode/prior_episodes")),
            "state": (case.episode.state, Source("/episode/state")),
            "baseline_severity": (
                case.episode.baseline_severity,
                Source("/episode/baseline_severity"),
            ),
            "current_severity": (
                case.episode.current_severity,
                Source("/episode/current_severity"),
            ),
        },
    )

    risk_src = {
        "cssrs_level": Source(finding="cssrs_level"),
        "phq9_item9": Source(finding="phq9_item9"),
        "clinician_judges_imminent_risk": Source("/suicide_risk/clinician_judges_imminent_risk"),
        "behaviour_recent": Source(finding="cssrs_level"),
        "recorded": Source(finding="suicide_risk_recorded"),
        "assessable": Source(finding="suicide_risk_assessable"),
        "nssi_recent": Source(finding="nssi_recent"),
    }
    b.add(
        "risk",
        "risk",
        {
            name: (
                assessment.risk.get(name),
                risk_src.get(name, Source(f"/suicide_risk/cssrs/{name}")),
            )
            for name in _specs("risk")
            if name != "type"
        },
    )
    if "phq9_item9" in assessment.risk:
        for i, m in enumerate(case.measurements):
            if m.instrument.value == "phq9" and m.timepoint.value == "current":
                b.sources["risk"]["phq9_item9"] = Source(f"/measurements/{i}/item9")
                break

    b.add(
        "assessment",
        "assessment",
        {name: (value, Source(finding=name)) for name, value in assessment.values.items()},
    )

    for i, (trial, a) in enumerate(
        zip(case.antidepressant_trials, assessment.ad_trials, strict=True)
    ):
        ptr = f"/antidepressant_trials/{i}"
        derived = Source(finding="ad_trial_adequacy", subject=ptr)
        b.add(
            f"ad_trial-{i}",
            "ad_trial",
            {
                "drug_class": (trial.drug_class, Source(f"{ptr}/drug_class")),
                "episode": (trial.episode, Source(f"{ptr}/episode")),
                "outcome": (trial.outcome, Source(f"{ptr}/outcome")),
                "weeks_at_dose": (trial.weeks_at_dose, Source(f"{ptr}/weeks_at_dose")),
                "adherence": (trial.adherence, Source(f"{ptr}/adherence")),
                "adequate": (a.adequate, derived),
                "failed": (a.failed, derived),
                "adequacy_issue": (a.issue, derived),
            },
        )
    for i, (pt, a) in enumerate(
        zip(case.psychotherapy_trials, assessment.psychotherapy_trials, strict=True)
    ):
        ptr = f"/psychotherapy_trials/{i}"
        derived = Source(finding="psychotherapy_trial_adequacy", subject=ptr)
        b.add(
            f"psychotherapy_trial-{i}",
            "psychotherapy_trial",
            {
                "modality": (pt.modality, Source(f"{ptr}/modality")),
                "episode": (pt.episode, Source(f"{ptr}/episode")),
                "outcome": (pt.outcome, Source(f"{ptr}/outcome")),
                "sessions": (pt.sessions, Source(f"{ptr}/sessions")),
                "weeks": (pt.weeks, Source(f"{ptr}/weeks")),
                "adequate": (a.adequate, derived),
                "failed": (a.failed, derived),
                "adequacy_issue": (a.issue, derived),
            },
        )
    for i, (course, failed) in enumerate(zip(case.ect_courses, assessment.ect_failed, strict=True)):
        ptr = f"/ect_courses/{i}"
        b.add(
            f"ect_course-{i}",
            "ect_course",
            {
                "laterality": (course.laterality, Source(f"{ptr}/laterality")),
                "episode": (course.episode, Source(f"{ptr}/episode")),
                "outcome": (course.outcome, Source(f"{ptr}/outcome")),
                "failed": (failed, Source(finding="failed_ect", subject=ptr)),
            },
        )
    for i, aug in enumerate(case.augmentations):
        ptr = f"/augmentations/{i}"
        b.add(
            f"augmentation-{i}",
            "augmentation",
            {
                "agent": (aug.agent, Source(f"{ptr}/agent")),
                "episode": (aug.episode, Source(f"{ptr}/episode")),
            },
        )
    return FactSet(b.facts, b.sources, {f["id"]: f for f in b.facts})
