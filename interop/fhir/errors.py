"""FHIR input errors: a :class:`~trd_cds.schemas.errors.CaseError` whose paths name the resource.

Every path reads ``ResourceType/id#/json/pointer`` (e.g. ``Observation/abc#/valueQuantity/value``)
so a bad EHR export can be traced to the one element that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...schemas.errors import CaseError


class FhirError(CaseError):
    """FHIR content cannot become a case: invalid resources, no patient, or required facts
    (age, episode onset) missing. ``errors`` holds (FHIR location, message) pairs."""


def location(resource: Mapping[str, Any], path: str = "") -> str:
    """``ResourceType/id#/path`` for an element of a resource."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    return (
        f"{rtype if isinstance(rtype, str) else '?'}/{rid if isinstance(rid, str) else '?'}#{path}"
    )
