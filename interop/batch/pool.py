"""One machine, N processes: ``trd-cds evaluate --jobs N``.

A :class:`~concurrent.futures.ProcessPoolExecutor` whose initializer builds the engine once per
worker process (durable_rules hosts cannot be pickled, and building is the slow part). Work is
sent in chunks with a bounded number of chunks in flight, so memory does not grow with the
input, and results come back in input order. Workers start with ``spawn`` (a forked copy of a
process that runs durable_rules' timer threads is not safe).

If a worker process dies (a crash in the C core), the pool is rebuilt, the oldest chunk in
flight is sent again on its own and the others wait; if it kills that pool too, each of its
cases is reported as an ``EvaluationError`` and the batch goes on.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from itertools import islice

from ...engine.core import Engine
from .work import CaseItem, EngineSpec, Failure, Outcome, evaluate_items

#: The engine of this worker process, built by :func:`_init_worker` (one per process).
_WORKER_ENGINE: Engine | None = None


def _init_worker(spec: EngineSpec) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = spec.build()


def _run_chunk(items: list[CaseItem], at: datetime) -> list[Outcome]:
    if _WORKER_ENGINE is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker engine not built")
    return evaluate_items(_WORKER_ENGINE, items, at)


def _chunks(items: Iterable[CaseItem], size: int) -> Iterator[list[CaseItem]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _died(chunk: list[CaseItem]) -> list[Outcome]:
    message = "a worker process died while evaluating this chunk (tried twice)"
    return [
        Outcome(
            item.name,
            failure=Failure("evaluation", f"{item.name}: {message}", item.name),
        )
        for item in chunk
    ]


def evaluate_parallel(
    items: Iterable[CaseItem],
    at: datetime,
    spec: EngineSpec,
    *,
    jobs: int,
    chunk_size: int = 8,
    in_flight: int | None = None,
) -> Iterator[Outcome]:
    """Evaluate ``items`` on ``jobs`` worker processes; outcomes in input order.

    ``items`` is read lazily: at most ``in_flight`` chunks (default ``4 * jobs``) of
    ``chunk_size`` items are held at once. Every item gives exactly one outcome.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    window = in_flight or 4 * jobs
    context = multiprocessing.get_context("spawn")

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(spec,)
        )

    pool = new_pool()
    # (chunk, future or None when not sent yet, how many pools it was in when one broke)
    pending: deque[tuple[list[CaseItem], Future[list[Outcome]] | None, int]] = deque()
    source = _chunks(items, chunk_size)
    try:
        while True:
            if pending and pending[0][1] is None and pending[0][2] >= 1:
                # suspected after a crash: run it alone, so a second crash convicts it
                chunk, _, tries = pending[0]
                pending[0] = (chunk, pool.submit(_run_chunk, chunk, at), tries)
            else:
                for i, (chunk, future, tries) in enumerate(pending):
                    if future is None:
                        pending[i] = (chunk, pool.submit(_run_chunk, chunk, at), tries)
                while len(pending) < window:
                    fresh = next(source, None)
                    if fresh is None:
                        break
                    pending.append((fresh, pool.submit(_run_chunk, fresh, at), 0))
            if not pending:
                return
            chunk, future, tries = pending[0]
            assert future is not None  # the head was sent above
            try:
                results = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
                alone = all(f is None for _, f, _ in list(pending)[1:])
                if tries >= 1 and alone:
                    pending.popleft()
                    results = _died(chunk)
                else:
                    pending = deque((c, None, t) for c, _, t in pending)
                    pending[0] = (chunk, None, tries + 1)
                    continue
            else:
                pending.popleft()
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
