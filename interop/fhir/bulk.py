"""Bulk Data NDJSON folders (one file per resource type), grouped by patient and streamed.

Pass 1 reads each ``*.ndjson`` line by line and keeps only the byte offset of every line under
its patient id (ints, not resources); pass 2 seeks to one patient's lines at a time, so memory
holds one patient's resources, not the export. Resources without a subject (Medication) are
shared by every patient. Errors are yielded per patient: one bad patient never stops the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ...schemas.settings import Settings
from .errors import FhirError
from .mapping import FhirCase, case_from_resources
from .resources import patient_key, subject_ref


@dataclass(frozen=True)
class BulkCase:
    """One patient of a Bulk export: its case, or the error that kept it from being one."""

    patient: str
    result: FhirCase | None
    error: FhirError | None


def index_ndjson(
    folder: Path,
) -> tuple[list[Path], dict[str, list[tuple[int, int, int]]], list[dict[str, Any]]]:
    """(files, patient → [(file index, offset, length)], shared resources)."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".ndjson")
    index: dict[str, list[tuple[int, int, int]]] = {}
    shared: list[dict[str, Any]] = []
    for fi, path in enumerate(files):
        offset = 0
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                length = len(line)
                if line.strip():
                    try:
                        res = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise FhirError(
                            str(path), [(f"{path.name}:{lineno}", f"not JSON: {exc.msg}")]
                        ) from None
                    if res.get("resourceType") == "Patient":
                        key: str | None = str(res.get("id"))
                    else:
                        ref = subject_ref(res)
                        key = None if ref is None else patient_key(ref, {})
                    if key is None:
                        shared.append(res)
                    else:
                        index.setdefault(key, []).append((fi, offset, length))
                offset += length
    return files, index, shared


def _read(handles: Sequence[IO[bytes]], spans: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    out = []
    for fi, offset, length in spans:
        fh = handles[fi]
        fh.seek(offset)
        out.append(json.loads(fh.read(length)))
    return out


def iter_ndjson_patients(
    folder: str | Path, *, at: datetime, settings: Settings | None = None
) -> Iterator[BulkCase]:
    """One :class:`BulkCase` per patient of a Bulk Data export folder, in patient-id order."""
    files, index, shared = index_ndjson(Path(folder))
    handles = [p.open("rb") for p in files]
    try:
        for patient in sorted(index):
            resources = _read(handles, index[patient])
            try:
                result = case_from_resources(
                    resources,
                    patient,
                    shared,
                    at=at,
                    settings=settings,
                    source=f"Patient/{patient}",
                )
            except FhirError as exc:
                yield BulkCase(patient, None, exc)
            else:
                yield BulkCase(patient, result, None)
    finally:
        for fh in handles:
            fh.close()


def read_json_file(path: Path) -> Any:
    """A FHIR JSON file (Bundle, resource or list), or an ``.ndjson`` file as a list."""
    try:
        text = path.read_text("utf-8")
        if path.suffix == ".ndjson":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FhirError(str(path), [("/", f"cannot read FHIR JSON: {exc}")]) from None


def cases_from_path(
    path: str | Path,
    *,
    at: datetime,
    patient: str | None = None,
    settings: Settings | None = None,
) -> Iterator[BulkCase]:
    """Cases from a FHIR JSON file (one patient, or ``patient``) or a Bulk NDJSON folder (every
    patient, or only ``patient``)."""
    p = Path(path)
    if p.is_dir():
        for bc in iter_ndjson_patients(p, at=at, settings=settings):
            if patient is None or bc.patient == patient:
                yield bc
        return
    from .mapping import case_from_fhir

    try:
        result = case_from_fhir(
            read_json_file(p), at=at, patient=patient, settings=settings, source=str(p)
        )
    except FhirError as exc:
        yield BulkCase(patient or "", None, exc)
    else:
        yield BulkCase(result.case.patient.id or "", result, None)
