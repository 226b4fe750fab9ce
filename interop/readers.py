"""Readers that turn one input into a case for ``trd-cds evaluate``, recognising FHIR.

A ``.json`` source whose top level has a ``resourceType`` is FHIR R4 (a Bundle or a resource):
it becomes a case through :func:`trd_cds.interop.fhir.case_from_fhir`, with the provenance map
that points every case field back into its resource; anything else is a case file. The FHIR
stack is imported only when FHIR arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ..engine.intake import MAX_CASE_BYTES, decode, load_json, parse_case_text, too_large
from ..engine.io import CaseSource, Reader, load_case, read_bytes
from ..schemas.case import Case
from ..schemas.errors import WHOLE_INPUT, CaseError
from ..schemas.settings import Settings

#: A FHIR Bundle is larger than a case file (Synthea patients run to a few MB).
MAX_FHIR_BYTES = 64 << 20


def case_reader(at: datetime, settings: Settings | None = None) -> Reader:
    """A reader for case files and FHIR JSON, judging FHIR ages and periods at ``at``."""

    def read(source: CaseSource) -> tuple[Case, Mapping[str, str] | None]:
        path = source.path
        if source.problem is not None or path is None or path.suffix.lower() != ".json":
            return load_case(source), None
        raw = read_bytes(path, source.name, limit=MAX_FHIR_BYTES)
        data, duplicates, _ = load_json(decode(raw, source.name, MAX_FHIR_BYTES), source.name)
        if not (isinstance(data, dict) and "resourceType" in data):
            if len(raw) > MAX_CASE_BYTES:
                raise too_large(source.name)
            return parse_case_text(raw, source.name, "json"), None
        if duplicates:
            keys = sorted({k for _, dups in duplicates.values() for k in dups})
            raise CaseError(source.name, [(WHOLE_INPUT, f"duplicate keys in FHIR JSON: {keys}")])
        from .fhir.mapping import case_from_fhir

        derived = case_from_fhir(data, at=at, settings=settings, source=source.name)
        return derived.case, derived.provenance

    return read
