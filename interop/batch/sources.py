"""Inputs of a batch, streamed as :class:`~.work.CaseItem` (never all in memory at once).

* case files, folders of them and ``-`` (standard input), as ``trd-cds evaluate`` reads them;
* ``*.jsonl``: one case (JSON) per line, named ``FILE:LINE``; blank lines are skipped;
* ``*.parquet``: a table of cases with a string column ``case`` (the case as JSON text) and
  optionally a string column ``name``; rows are named by ``name`` or ``FILE#ROW``;
* a Bulk Data NDJSON folder (holding ``*.ndjson``): one case per patient, grouped once by
  :func:`~trd_cds.interop.fhir.iter_ndjson_patients` (an index of byte offsets, then one
  patient's resources at a time), named ``FOLDER/Patient/ID``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import orjson

from ...engine.intake import MAX_CASE_BYTES
from ...engine.io import STDIN, expand
from ...schemas.errors import CaseError
from ...schemas.settings import Settings
from .work import CaseItem

PARQUET_BATCH = 1024


def is_bulk_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix == ".ndjson" for p in path.iterdir())


def items_from_inputs(
    inputs: Iterable[str],
    *,
    at: datetime,
    read: bool = False,
    settings: Settings | None = None,
    stdin_data: bytes | None = None,
) -> Iterator[CaseItem]:
    """Every case of every input, in the order given (see the module docstring).

    ``read=True`` ships file contents instead of paths (workers on other machines). ``at``
    is needed to derive cases from FHIR (ages, open periods).
    """
    for item in inputs:
        path = Path(item)
        suffix = path.suffix.lower()
        if item != STDIN and path.is_file() and suffix == ".jsonl":
            yield from jsonl_items(path)
        elif item != STDIN and path.is_file() and suffix == ".parquet":
            yield from parquet_items(path)
        elif item != STDIN and is_bulk_folder(path):
            yield from bulk_fhir_items(path, at=at, settings=settings)
        else:
            for source in expand([item], stdin_data):
                yield CaseItem.from_source(source, read=read)


def jsonl_items(path: Path) -> Iterator[CaseItem]:
    """One item per non-blank line; a line over the size limit is an error item."""
    with path.open("rb") as handle:
        lineno = 0
        while True:
            line = handle.readline(MAX_CASE_BYTES + 1)
            if not line:
                return
            lineno += 1
            name = f"{path}:{lineno}"
            if len(line) > MAX_CASE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of the long line
                    line = handle.readline(1 << 20)
                yield CaseItem(name, problem=f"larger than {MAX_CASE_BYTES} bytes")
                continue
            if line.strip():
                yield CaseItem(name, text=line.rstrip(b"\r\n"), fmt="json")


def parquet_items(path: Path) -> Iterator[CaseItem]:
    """One item per row of a Parquet table of cases (column ``case``, optional ``name``)."""
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        yield CaseItem(str(path), problem=f"not a Parquet file: {exc}")
        return
    columns = table.schema_arrow.names
    if "case" not in columns:
        yield CaseItem(str(path), problem="a Parquet table of cases needs a column 'case'")
        return
    wanted = ["case", "name"] if "name" in columns else ["case"]
    row = 0
    for batch in table.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
        texts = batch.column("case").to_pylist()
        names = batch.column("name").to_pylist() if "name" in wanted else [None] * len(texts)
        for text, name in zip(texts, names, strict=True):
            label = str(name) if name is not None else f"{path}#{row}"
            row += 1
            if text is None:
                yield CaseItem(label, problem="the 'case' column is empty")
            elif isinstance(text, bytes):
                yield CaseItem(label, text=text, fmt="json")
            else:
                yield CaseItem(label, text=str(text).encode("utf-8"), fmt="json")


def bulk_fhir_items(
    folder: Path, *, at: datetime, settings: Settings | None = None
) -> Iterator[CaseItem]:
    """One item per patient of a Bulk Data export, as case data with its provenance map (the
    report's pointers point into the FHIR resources, as for one FHIR file), or the mapping
    error."""
    from ..fhir import iter_ndjson_patients

    try:
        for bulk in iter_ndjson_patients(folder, at=at, settings=settings):
            name = f"{folder}/Patient/{bulk.patient}"
            if bulk.error is not None:
                detail = "; ".join(f"{p}: {m}" for p, m in bulk.error.errors) or str(bulk.error)
                yield CaseItem(name, problem=f"cannot derive a case from FHIR: {detail}")
            elif bulk.result is not None:
                data = orjson.loads(bulk.result.case.model_dump_json())
                yield CaseItem(name, data=data, sources=dict(bulk.result.provenance))
    except CaseError as exc:  # the folder itself (a line that is not JSON)
        detail = "; ".join(f"{p}: {m}" for p, m in exc.errors) or str(exc)
        yield CaseItem(str(folder), problem=detail)
