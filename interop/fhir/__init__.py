"""FHIR R4 in: Bundles, single resources, QuestionnaireResponses and Bulk NDJSON become cases.

What FHIR can give is mapped with a pointer back to its resource; what it cannot stays *not
recorded* and is listed as data needed, never guessed::

    from trd_cds.interop.fhir import case_from_fhir, rewrite_report_pointers

    derived = case_from_fhir(bundle, at=evaluation_time)
    report = engine.evaluate(derived.case, at=evaluation_time)
    fhir_report = rewrite_report_pointers(report.to_dict(), derived.provenance)
"""

from __future__ import annotations

from .builder import DataNeeded, Derivation
from .bulk import iter_ndjson_patients
from .errors import FhirError
from .export import case_to_bundle
from .mapping import FhirCase, case_from_fhir, patient_ids, rewrite_report_pointers
from .questionnaire import build_questionnaire
from .resources import is_fhir

__all__ = [
    "DataNeeded",
    "Derivation",
    "FhirCase",
    "FhirError",
    "build_questionnaire",
    "case_from_fhir",
    "case_to_bundle",
    "is_fhir",
    "iter_ndjson_patients",
    "patient_ids",
    "rewrite_report_pointers",
]
