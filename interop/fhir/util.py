"""Small helpers over raw (already validated) FHIR JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timezone
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


#: the sort key of an undated record: before every dated one
UNDATED = datetime.min.replace(tzinfo=timezone.utc)


def recorded_at(value: object, today: date) -> datetime | None:
    """When a record (a screener, a status) was made, as a UTC instant to order records by;
    a bare date counts from its midnight (UTC), an undated record is :data:`UNDATED`. ``None``
    for a record dated after ``today`` (the evaluation date): it was not there yet, and is
    never read as the current one."""
    day = fhir_date(value)
    if day is None:
        return UNDATED
    if day > today:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before datetime.min in UTC
        return UNDATED


def codings(concept: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(index, coding) pairs of a CodeableConcept."""
    if isinstance(concept, Mapping) and isinstance(concept.get("coding"), list):
        for i, c in enumerate(concept["coding"]):
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
