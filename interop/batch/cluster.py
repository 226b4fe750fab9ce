"""Many machines on Dask: the work travels, the engines stay.

durable_rules hosts cannot be pickled, so no engine crosses the wire: :class:`EnginePlugin`,
a named ``WorkerPlugin``, builds one engine inside each worker from an :class:`EngineSpec`
(registered before the cluster scales, so every worker, present or future, has it). The
client sends partitions of :class:`CaseItem` with the evaluation time as an argument to
:func:`evaluate_partition`, a pure function; workers never read the clock. Results come back
in input order with a bounded number of partitions in flight, so the client's memory does not
grow with the input. Writing (reports, decisions, the audit log) stays with the client.

Run workers single-threaded and as many as there are cores (``dask worker tcp://... --nworkers
auto --nthreads 1``): an engine evaluates one case at a time (durable_rules holds the GIL and
the engine a lock), so extra threads in one worker add nothing.

>>> from distributed import Client
>>> with Client("tcp://scheduler:8786") as client:
...     for outcome in evaluate_on_client(client, items, at, EngineSpec()):
...         ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from ...engine.core import Engine
from .work import CaseItem, EngineSpec, Failure, Outcome, evaluate_items

if TYPE_CHECKING:
    from distributed import Client

PLUGIN_NAME = "trd-cds-engine"

try:  # the base class when distributed is installed; a plain class keeps imports light
    from distributed.diagnostics.plugin import WorkerPlugin as _Base
except ImportError:  # pragma: no cover - the scale extra is not installed
    _Base = object  # type: ignore[misc,assignment]


class EnginePlugin(_Base):
    """Builds the engine once inside each worker (``name`` = :data:`PLUGIN_NAME`)."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.engine: Engine | None = None

    def setup(self, worker: Any) -> None:
        self.engine = self.spec.build()

    def teardown(self, worker: Any) -> None:
        self.engine = None


def worker_engine() -> Engine:
    """The engine :class:`EnginePlugin` built in this worker."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(PLUGIN_NAME)
    engine = getattr(plugin, "engine", None)
    if not isinstance(engine, Engine):
        raise RuntimeError(f"no {PLUGIN_NAME} plugin on this worker: register it first")
    return engine


def evaluate_partition(items: list[CaseItem], at: datetime) -> list[Outcome]:
    """What runs on a worker: evaluate a partition with the worker's engine at ``at``."""
    return evaluate_items(worker_engine(), items, at)


def register(client: Client, spec: EngineSpec) -> None:
    """Register the engine plugin (workers that join later get it too)."""
    client.register_plugin(EnginePlugin(spec), name=PLUGIN_NAME)


def _lost(items: list[CaseItem], exc: BaseException) -> list[Outcome]:
    why = f"the partition failed on the cluster: {type(exc).__name__}: {exc}"
    return [
        Outcome(item.name, failure=Failure("evaluation", f"{item.name}: {why}", item.name))
        for item in items
    ]


def evaluate_on_client(
    client: Client,
    items: Iterable[CaseItem],
    at: datetime,
    spec: EngineSpec,
    *,
    partition_size: int = 64,
    in_flight: int | None = None,
    register_plugin: bool = True,
) -> Iterator[Outcome]:
    """Evaluate ``items`` on the workers of ``client``; outcomes in input order.

    Registers :class:`EnginePlugin` (unless ``register_plugin=False``: already done before
    scaling), then keeps at most ``in_flight`` partitions (default: 2 per worker thread, at
    least 4) on the cluster. A partition lost to the cluster (a worker killed twice, ...)
    gives an ``EvaluationError`` per case; the batch goes on.
    """
    if register_plugin:
        register(client, spec)
    if in_flight is None:
        nthreads = client.nthreads()  # type: ignore[no-untyped-call]
        threads = sum(nthreads.values()) if nthreads else 1
        in_flight = max(4, 2 * threads)
    source = iter(items)
    pending: deque[tuple[list[CaseItem], Any]] = deque()
    while True:
        while len(pending) < in_flight:
            part = list(islice(source, partition_size))
            if not part:
                break
            pending.append((part, client.submit(evaluate_partition, part, at, pure=False)))
        if not pending:
            return
        part, future = pending.popleft()
        try:
            results: list[Outcome] = future.result()
        except Exception as exc:  # KilledWorker, CommClosedError, ...: the batch goes on
            results = _lost(part, exc)
        finally:
            future.release()
        yield from results


@contextmanager
def local_client(workers: int = 2, spec: EngineSpec | None = None) -> Iterator[Client]:
    """A LocalCluster of ``workers`` single-threaded processes and its client; with ``spec``
    the engine plugin is registered before the cluster scales."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=0,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        if spec is not None:
            register(client, spec)
        cluster.scale(workers)
        client.wait_for_workers(workers)
        yield client
