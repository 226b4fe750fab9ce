"""Population scale: one batch on N processes or on a Dask cluster, Parquet decisions out.

>>> spec = EngineSpec.of(rules=None, settings=Settings())
>>> items = items_from_inputs(["registry.jsonl", "bulk-export/"], at=at)
>>> for outcome in evaluate_batch(items, at, spec, jobs=4):          # processes, or
...     ...                                                           # client=Client(...)

Every item gives one :class:`Outcome`, in input order: the canonical report bytes (identical
to a serial run's: ``Outcome.to_report().to_json()``) and the validated case data, or a
:class:`Failure` (``Outcome.error()`` is the error a serial run raises). A bad case never
stops a batch. Engines are built where they run (once per worker process or Dask worker);
only plain data travels, with the evaluation time. Writing stays with the caller: reports,
:class:`DecisionWriter` (Parquet) and the audit log (``AuditLog.append(outcome.to_report(),
outcome.case)``), so no two workers race on a file.

Modules: :mod:`.work` (what travels), :mod:`.sources` (inputs: case files, JSONL, Parquet,
Bulk FHIR NDJSON), :mod:`.pool` (processes), :mod:`.cluster` (Dask), :mod:`.decisions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from .decisions import DecisionWriter, decision_row
from .sources import items_from_inputs
from .work import CaseItem, EngineSpec, Failure, Outcome, evaluate_items

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "CaseItem",
    "DecisionWriter",
    "EngineSpec",
    "Failure",
    "Outcome",
    "decision_row",
    "evaluate_batch",
    "evaluate_items",
    "items_from_inputs",
]


def evaluate_batch(
    items: Iterable[CaseItem],
    at: datetime,
    spec: EngineSpec,
    *,
    jobs: int = 1,
    client: Client | None = None,
) -> Iterator[Outcome]:
    """Outcomes in input order: on ``client``'s Dask cluster if given, else on ``jobs``
    processes (``jobs=1``: in this process, one engine)."""
    if client is not None:
        from .cluster import evaluate_on_client

        return evaluate_on_client(client, items, at, spec)
    if jobs > 1:
        from .pool import evaluate_parallel

        return evaluate_parallel(items, at, spec, jobs=jobs)
    return _serial(items, at, spec)


def _serial(items: Iterable[CaseItem], at: datetime, spec: EngineSpec) -> Iterator[Outcome]:
    engine = spec.build()
    from .work import evaluate_item

    for item in items:
        yield evaluate_item(engine, item, at)
