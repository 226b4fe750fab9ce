"""Small helpers over raw (already validated) FHIR JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def fhir_date(value: object) -> date | None:
    """The calendar date of a FHIR ``date``/``dateTime``; partial dates (``2024``,
    ``2024-02``) are too coarse to place a score or a trial and give ``None``."""
    if not isinstance(value, str):
        return None
    m = _FULL_DATE.match(value)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def codings(concept: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(index, coding) pairs of a CodeableConcept."""
    if isinstance(concept, Mapping):
        for i, c in enumerate(concept.get("coding") or []):
            if isinstance(c, Mapping):
                yield i, c


def status_code(concept: object) -> str | None:
    """The first code of a status CodeableConcept (``clinicalStatus``, ``verificationStatus``)."""
    for _, c in codings(concept):
        if isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def completed_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
