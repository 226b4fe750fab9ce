"""Bulk Data NDJSON folders (one file per resource type), grouped by patient and streamed.

Pass 1 reads each ``*.ndjson`` line by line and keeps only the byte offset of every line under
its patient id (ints, not resources); pass 2 seeks to one patient's lines at a time, so memory
holds one patient's resources, not the export. Resources without a subject (Medication) are
shared by every patient. Errors are yielded per patient: one bad patient never stops the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ...engine.intake import decode, load_json
from ...engine.io import read_bytes
from ...schemas.errors import WHOLE_INPUT, CaseError
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


#: Longest NDJSON line read (one resource); the same bound as one FHIR JSON file.
MAX_LINE_BYTES = 64 << 20


def _ndjson_files(folder: Path) -> list[Path]:
    """The ``*.ndjson`` files of a folder; one that is not a regular file (a folder, a FIFO,
    a device) is an error naming it, never opened (a FIFO would block, /dev/zero never ends)."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".ndjson")
    for path in files:
        if not path.is_file():
            raise FhirError(
                str(path), [(str(path), "not a regular file (a folder, device or FIFO)")]
            )
    return files


def parse_line(line: bytes, name: str, lineno: int) -> dict[str, Any]:
    """One NDJSON line as a resource: UTF-8 JSON text holding an object, each key once, nested
    at most as deep as the intake allows; anything else is a :class:`FhirError` naming
    ``file:line`` (never a traceback: no RecursionError, no over-long integer ValueError)."""
    where = f"{name}:{lineno}"
    try:
        data, duplicates, _ = load_json(decode(line, where, MAX_LINE_BYTES), where)
    except CaseError as exc:
        detail = "; ".join(m if p == WHOLE_INPUT else f"{p}: {m}" for p, m in exc.errors)
        raise FhirError(name, [(where, detail)]) from None
    if not isinstance(data, dict):
        raise FhirError(name, [(where, f"not a FHIR resource (a JSON {type(data).__name__})")])
    if duplicates:
        keys = sorted({str(k) for _, dups in duplicates.values() for k in dups})
        raise FhirError(name, [(where, f"duplicate keys: {keys}")])
    return data


def _lines(fh: IO[bytes], name: str) -> Iterator[tuple[int, int, bytes]]:
    """(line number, offset, line) of a file, each line at most :data:`MAX_LINE_BYTES`."""
    offset = 0
    lineno = 0
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_LINE_BYTES:
            raise FhirError(name, [(f"{name}:{lineno}", f"a line over {MAX_LINE_BYTES:,} bytes")])
        yield lineno, offset, line
        offset += len(line)


def index_ndjson(
    folder: Path,
) -> tuple[list[Path], dict[str, list[tuple[int, int, int]]], list[dict[str, Any]]]:
    """(files, patient → [(file index, offset, length)], shared resources)."""
    files = _ndjson_files(folder)
    index: dict[str, list[tuple[int, int, int]]] = {}
    shared: list[dict[str, Any]] = []
    for fi, path in enumerate(files):
        with path.open("rb") as fh:
            for lineno, offset, line in _lines(fh, str(path)):
                if not line.strip():
                    continue
                res = parse_line(line, str(path), lineno)
                rtype = res.get("resourceType")
                if not isinstance(rtype, str) or rtype == "Bundle":
                    # it would be shared with every patient and then never read
                    raise FhirError(
                        str(path),
                        [
                            (
                                f"{path}:{lineno}",
                                "not one FHIR resource (no resourceType, or a Bundle)",
                            )
                        ],
                    )
                if rtype == "Patient":
                    key: str | None = str(res.get("id"))
                else:
                    ref = subject_ref(res)
                    key = None if ref is None else patient_key(ref, {})
                if key is None:
                    shared.append(res)
                else:
                    index.setdefault(key, []).append((fi, offset, len(line)))
    return files, index, shared


def _read(
    handles: Sequence[IO[bytes]], files: Sequence[Path], spans: list[tuple[int, int, int]]
) -> list[dict[str, Any]]:
    out = []
    for fi, offset, length in spans:
        fh = handles[fi]
        fh.seek(offset)
        out.append(parse_line(fh.read(length), str(files[fi]), 0))
    return out


def iter_ndjson_patients(
    folder: str | Path, *, at: datetime, settings: Settings | None = None
) -> Iterator[BulkCase]:
    """One :class:`BulkCase` per patient of a Bulk Data export folder, in patient-id order."""
    files, index, shared = index_ndjson(Path(folder))
    handles = [p.open("rb") for p in files]
    try:
        for patient in sorted(index):
            resources = _read(handles, files, index[patient])
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
    """A FHIR JSON file (Bundle, resource or list), or an ``.ndjson`` file as a list: a regular
    file of at most :data:`MAX_LINE_BYTES`, UTF-8, each key once."""
    name = str(path)
    try:
        raw = read_bytes(path, name, limit=MAX_LINE_BYTES)
    except CaseError as exc:
        raise FhirError(name, exc.errors) from None
    if path.suffix == ".ndjson":
        return [
            parse_line(line, name, lineno)
            for lineno, line in enumerate(raw.splitlines(keepends=True), 1)
            if line.strip()
        ]
    try:
        data, duplicates, _ = load_json(decode(raw, name, MAX_LINE_BYTES), name)
    except CaseError as exc:
        raise FhirError(name, exc.errors) from None
    if duplicates:
        keys = sorted({str(k) for _, dups in duplicates.values() for k in dups})
        raise FhirError(name, [(WHOLE_INPUT, f"duplicate keys in FHIR JSON: {keys}")])
    return data


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
