"""The data of one call: the prefetch, and what is missing fetched from ``fhirServer``.

Every prefetch key is needed (a key the client leaves out or sends as null could hide a
condition or a risk score: missing data is never read as "none"). A key the client did not
fill is fetched from ``fhirServer`` with the ``fhirAuthorization`` bearer token (httpx, with a
timeout; search pages followed on the same server up to a limit). When a key can be neither
prefetched nor fetched, :class:`DataUnavailableError` says which (the service answers 412).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from .models import HookRequest
from .services import fill, prefetch_templates


class DataUnavailableError(Exception):
    """Required data cannot be obtained: ``str(exc)`` names the prefetch key and why."""


class BadPrefetchError(ValueError):
    """A prefetched value is not FHIR content (the service answers 400)."""


def expected_type(key: str) -> str:
    """What answers the query of a prefetch key: a read (``Patient/{{id}}``) gives that
    resource, a search gives a Bundle."""
    return "Patient" if key == "patient" else "Bundle"


def _resources(key: str, value: Mapping[str, Any]) -> list[dict[str, Any]]:
    rtype = value.get("resourceType")
    if not isinstance(rtype, str):
        raise BadPrefetchError(f"prefetch {key!r} is not a FHIR resource (no resourceType)")
    if rtype != expected_type(key):
        # an Observation search answered by anything but a Bundle would leave the scores and
        # risk screeners out while the call looks complete
        raise BadPrefetchError(
            f"prefetch {key!r} is a {rtype}, not the {expected_type(key)} its query answers"
        )
    return [dict(value)]


def _get(client: httpx.Client, url: str, key: str) -> dict[str, Any]:
    try:
        resp = client.get(url)
    except httpx.TimeoutException:
        raise DataUnavailableError(
            f"prefetch {key!r}: the FHIR server did not answer in time"
        ) from None
    except httpx.HTTPError as exc:
        raise DataUnavailableError(
            f"prefetch {key!r}: the FHIR server cannot be reached ({type(exc).__name__})"
        ) from None
    if resp.status_code != 200:
        raise DataUnavailableError(f"prefetch {key!r}: the FHIR server answered {resp.status_code}")
    try:
        data = resp.json()
    except ValueError:
        raise DataUnavailableError(
            f"prefetch {key!r}: the FHIR server did not answer JSON"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise DataUnavailableError(f"prefetch {key!r}: the FHIR server did not answer FHIR")
    if data["resourceType"] == "OperationOutcome":
        raise DataUnavailableError(
            f"prefetch {key!r}: the FHIR server answered an OperationOutcome"
        )
    return data


def _next_url(value: Mapping[str, Any]) -> str | None:
    """The ``next`` link of a searchset page (more to come), as written; else None."""
    links = value.get("link") if value.get("resourceType") == "Bundle" else None
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else ""
    return None


def _next_link(bundle: Mapping[str, Any], base: str) -> str | None:
    url = _next_url(bundle)
    # follow pages on the same server only (never where a response points elsewhere)
    return url if url and url.startswith(base + "/") else None


def fetch_key(
    client: httpx.Client, base: str, key: str, query: str, max_pages: int
) -> list[dict[str, Any]]:
    """The resources of one prefetch query, fetched (with its search pages)."""
    url: str | None = f"{base}/{query}"
    out: list[dict[str, Any]] = []
    pages = 0
    while url is not None:
        pages += 1
        if pages > max_pages:
            raise DataUnavailableError(f"prefetch {key!r}: more than {max_pages} search pages")
        data = _get(client, url, key)
        if data["resourceType"] != expected_type(key):
            raise DataUnavailableError(
                f"prefetch {key!r}: the FHIR server answered a {data['resourceType']}, "
                f"not a {expected_type(key)}"
            )
        out.append(data)
        url = _next_link(data, base) if data["resourceType"] == "Bundle" else None
    return out


def gather(
    request: HookRequest, patient_id: str, *, timeout: float, max_pages: int
) -> list[dict[str, Any]]:
    """Every resource the adapter needs for ``patient_id``: prefetched, else fetched."""
    templates = prefetch_templates()
    prefetch = request.prefetch or {}
    out: list[dict[str, Any]] = []
    missing: list[str] = []
    for key in templates:
        value = prefetch.get(key)
        # null, or an OperationOutcome: the client could not prefetch it; fetch it ourselves;
        # one page of several (a 'next' link) is not the answer either: the rest is unread
        if (
            value is None
            or value.get("resourceType") == "OperationOutcome"
            or _next_url(value) is not None
        ):
            missing.append(key)
        else:
            out += _resources(key, value)
    if not missing:
        return out
    if request.fhirServer is None or request.fhirAuthorization is None:
        raise DataUnavailableError(
            f"prefetch {', '.join(repr(k) for k in missing)} missing (or one page of several), "
            "and no fhirServer with fhirAuthorization to fetch it from"
        )
    base = request.fhirServer.rstrip("/")
    headers = {
        "Authorization": f"Bearer {request.fhirAuthorization.access_token}",
        "Accept": "application/fhir+json",
    }
    with httpx.Client(headers=headers, timeout=timeout, follow_redirects=False) as client:
        for key in missing:
            out += fetch_key(client, base, key, fill(templates[key], patient_id), max_pages)
    return out
