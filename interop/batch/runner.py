"""What ``trd-cds evaluate --jobs N`` / ``--scheduler ADDRESS`` (or an input that is a table
of cases or a Bulk export) calls: the batch as the serial loop sees it, ``(source, case,
report or error)`` in input order, streamed.

``--scheduler local`` starts a LocalCluster (``--jobs`` workers, one thread each) for the run;
``--scheduler tcp://host:8786`` connects to a running scheduler (case files are then read here
and their bytes shipped, since workers may not see this machine's files).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ...engine.core import Engine
from ...engine.io import STDIN, CaseSource
from ...schemas.errors import TrdCdsError
from ...schemas.report import Report
from .sources import is_bulk_folder, items_from_inputs
from .work import EngineSpec, evaluate_item

Result = tuple[CaseSource, Mapping[str, Any] | None, Report | TrdCdsError]


def run(
    inputs: Sequence[str],
    at: datetime,
    spec: EngineSpec,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    stdin_data: bytes | None = None,
    engine: Engine | None = None,
) -> Iterator[Result]:
    """Every case of ``inputs`` evaluated on ``jobs`` processes or on a Dask scheduler
    (``jobs=1`` and no scheduler: here, with ``engine`` or one built from ``spec``)."""
    settings = spec.settings_model()
    if scheduler is None and jobs == 1:
        local = engine if engine is not None else spec.build()
        items = items_from_inputs(inputs, at=at, settings=settings, stdin_data=stdin_data)
        yield from _adapt(evaluate_item(local, item, at) for item in items)
        return
    if scheduler is None:
        from .pool import evaluate_parallel

        items = items_from_inputs(inputs, at=at, settings=settings, stdin_data=stdin_data)
        yield from _adapt(evaluate_parallel(items, at, spec, jobs=jobs))
        return
    from .cluster import evaluate_on_client

    with connect(scheduler, jobs, spec) as client:
        items = items_from_inputs(
            inputs, at=at, read=True, settings=settings, stdin_data=stdin_data
        )
        yield from _adapt(evaluate_on_client(client, items, at, spec, register_plugin=False))


def has_containers(inputs: Sequence[str]) -> bool:
    """Whether any input is a table or export of many cases (``.jsonl``, ``.parquet``, a Bulk
    NDJSON folder), which only the batch runner reads."""
    for item in inputs:
        path = Path(item)
        if item != STDIN and (
            (path.is_file() and path.suffix.lower() in (".jsonl", ".parquet"))
            or is_bulk_folder(path)
        ):
            return True
    return False


def _adapt(outcomes: Iterator[Any]) -> Iterator[Result]:
    for outcome in outcomes:
        path = Path(outcome.name) if not outcome.name.startswith("<") else None
        source = CaseSource(outcome.name, path)
        error = outcome.error()
        yield source, outcome.case, error if error is not None else outcome.to_report()


@contextmanager
def connect(scheduler: str, workers: int, spec: EngineSpec) -> Iterator[Any]:
    """A client of ``scheduler`` (``local``: a LocalCluster of ``workers``) with the engine
    plugin registered (before scaling, for a LocalCluster)."""
    from .cluster import local_client, register

    if scheduler == "local":
        with local_client(max(1, workers), spec) as client:
            yield client
        return
    from distributed import Client

    with Client(scheduler) as client:  # type: ignore[no-untyped-call]
        register(client, spec)
        yield client


class ReportNamer:
    """Report file names for a stream of sources, as :func:`~trd_cds.engine.io.report_names`
    gives them for a list (``<stem>.report.json``, then ``-2``, ``-3``, ...)."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, source: CaseSource) -> str:
        if source.name in self._names:
            return self._names[source.name]
        stem = source.path.name if source.path is not None else "stdin"
        for suffix in (".json", ".yaml", ".yml"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        stem = stem.replace("#", "-").replace(":", "-").lstrip(".") or "case"
        candidate, n = stem, 1
        while candidate.casefold() in self._taken:
            n += 1
            candidate = f"{stem}-{n}"
        self._taken.add(candidate.casefold())
        self._names[source.name] = f"{candidate}.report.json"
        return self._names[source.name]
