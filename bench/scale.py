"""trd-cds population-scale benchmark: processes, Dask workers, streaming memory, PostgreSQL.

A benchmark, not a test: it prints figures (and ``--json``) and always exits 0. Figures from a
machine shared with other work are only indicative: the load average before and after each
run is printed beside it, so a reader can tell. Run it on an otherwise idle machine::

    python bench/scale.py                         # small: 4,000 cases, 20,000 streamed
    python bench/scale.py --cases 200000 --stream 1000000     # the full figures

What is measured (the same seeded generated cases, given as case data, for every runner):

* **--jobs 1 vs 2**: ``evaluate_parallel`` (a process pool, one engine per worker), wall time
  from the first item to the last outcome, pool start-up and engine builds included, and the
  CPU time per case of the client and of the workers (``RUSAGE_CHILDREN`` once the pool has
  joined them): on a loaded machine, equal worker CPU per case for 1 and 2 processes says the
  lost speed-up is the machine's, not the pool's;
* **Dask 1 vs 2 workers**: ``evaluate_on_client`` on a LocalCluster of 1 or 2 single-threaded
  worker processes (cluster start excluded, plugin registration and engine builds included);
* **streaming memory**: the client's resident set size (``/proc/self/statm``) while ``--stream``
  cases flow through a 2-process pool from a lazy generator, sampled at 10 checkpoints, and its
  peak (``ru_maxrss``); bounded means the samples do not grow with the number of cases;
* **PostgreSQL appends**: 4 writer processes appending pre-evaluated reports to one keyed log on
  a local server (fsync on, synchronous commit; the server started here as in the tests),
  records/s over the wall time of all four, then ``verify`` of the whole chain.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(ROOT))  # tests.pg_support, tests.audit_support (bench/ stays first)

from bench import CaseGenerator  # noqa: E402  (bench/bench.py: the seeded case generator)
from trd_cds.interop.batch import CaseItem, EngineSpec  # noqa: E402
from trd_cds.interop.batch.pool import evaluate_parallel  # noqa: E402

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
SEED = 20261124


def items(n: int, seed: int = SEED) -> Iterator[CaseItem]:
    """``n`` generated cases as work items, lazily (nothing held but the current one)."""
    gen = CaseGenerator(seed)
    for i in range(n):
        yield CaseItem(f"gen-{i}", data=gen.case(i))


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its reaped child processes."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _timed(label: str, run: Any, n: int) -> dict[str, Any]:
    before = load()
    cpu_before = _cpu()
    t = time.perf_counter()
    count = failed = 0
    for outcome in run():
        count += 1
        failed += outcome.failure is not None
    seconds = time.perf_counter() - t
    cpu_after = _cpu()  # a finished pool has joined its workers: their CPU is counted
    after = load()
    client_ms = (cpu_after[0] - cpu_before[0]) * 1000 / n
    workers_ms = (cpu_after[1] - cpu_before[1]) * 1000 / n
    assert count == n, (label, count, n)
    row = {
        "runner": label,
        "cases": n,
        "failed": failed,
        "seconds": round(seconds, 2),
        "cases_per_s": round(n / seconds, 1),
        "load_before": [round(x, 2) for x in before],
        "load_after": [round(x, 2) for x in after],
        "client_cpu_ms_per_case": round(client_ms, 2),
        "worker_cpu_ms_per_case": round(workers_ms, 2) if workers_ms else None,
    }
    cpu = f"CPU/case: client {client_ms:.1f} ms" + (
        f", workers {workers_ms:.1f} ms" if workers_ms else ""
    )
    print(
        f"  {label:<16} {n:>8} cases {seconds:8.1f} s {n / seconds:9.1f} cases/s   "
        f"load {before[0]:.2f} -> {after[0]:.2f}   {cpu}   ({failed} failed)",
        flush=True,
    )
    return row


def bench_jobs(n: int) -> list[dict[str, Any]]:
    spec = EngineSpec()
    return [
        _timed(f"--jobs {jobs}", lambda j=jobs: evaluate_parallel(items(n), AT, spec, jobs=j), n)
        for jobs in (1, 2)
    ]


def bench_dask(n: int) -> list[dict[str, Any]]:
    from trd_cds.interop.batch.cluster import evaluate_on_client, local_client

    spec = EngineSpec()
    rows = []
    for workers in (1, 2):
        with local_client(workers) as client:

            def run(c: Any = client) -> Iterator[Any]:
                return evaluate_on_client(c, items(n), AT, spec, partition_size=128)

            rows.append(_timed(f"dask {workers} worker(s)", run, n))
    return rows


def bench_stream(n: int) -> dict[str, Any]:
    checkpoints = {max(1, n * k // 10) for k in range(1, 11)}
    samples: list[tuple[int, float]] = [(0, round(rss_mb(), 1))]
    before = load()
    t = time.perf_counter()
    count = 0
    for _ in evaluate_parallel(items(n), AT, EngineSpec(), jobs=2, chunk_size=32):
        count += 1
        if count in checkpoints:
            samples.append((count, round(rss_mb(), 1)))
    seconds = time.perf_counter() - t
    growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else 0.0
    print(
        f"  streamed {count} cases in {seconds:.0f} s; client RSS (MB) at checkpoints: "
        + ", ".join(f"{c}:{m}" for c, m in samples)
        + f"; growth after the first 10%: {growth:+.1f} MB; peak {peak_rss_mb():.0f} MB; "
        f"load {before[0]:.2f} -> {load()[0]:.2f}",
        flush=True,
    )
    return {
        "cases": count,
        "seconds": round(seconds, 1),
        "rss_mb_at": samples,
        "growth_after_first_tenth_mb": round(growth, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _pg_writer(url: str, who: int, count: int, start: Any, ready: Any, done: Any) -> None:
    from tests.audit_support import KEY, small_case
    from trd_cds import Engine
    from trd_cds.engine.audit import open_log

    engine = Engine()
    pairs = []
    for i in range(count):
        case = small_case(f"w{who}-{i}")
        pairs.append((engine.evaluate(case, at=AT), case))
    with open_log(url, key=KEY) as log:
        ready.put(who)
        start.wait()
        for report, case in pairs:
            log.append(report, case)
    done.put(who)


def bench_pg(per_writer: int, writers: int = 4) -> dict[str, Any]:
    from tests.audit_support import KEY
    from tests.pg_support import PgServer, missing_reason
    from trd_cds.engine.audit import open_log
    from trd_cds.engine.audit.pg_store import PostgresStore

    reason = missing_reason()
    if reason is not None:
        print(f"  PostgreSQL: skipped ({reason})")
        return {"skipped": reason}
    server = PgServer(durable=True)
    try:
        url = server.new_database()
        owner = PostgresStore(url)
        owner.create_schema()
        owner.close()
        ctx = multiprocessing.get_context("spawn")
        start, ready, done = ctx.Event(), ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(target=_pg_writer, args=(url, w, per_writer, start, ready, done))
            for w in range(writers)
        ]
        for p in procs:
            p.start()
        for _ in procs:  # every writer has evaluated its reports and opened the log
            ready.get(timeout=1800)
        before = load()
        t = time.perf_counter()
        start.set()
        for _ in procs:
            done.get(timeout=1800)
        seconds = time.perf_counter() - t
        for p in procs:
            p.join()
        total = per_writer * writers
        with open_log(url, key=KEY) as log:
            result = log.verify()
        print(
            f"  PostgreSQL {writers} writers x {per_writer}: {total / seconds:.0f} appends/s "
            f"({seconds:.1f} s); verify ok={result.ok} count={result.count}; "
            f"load {before[0]:.2f} -> {load()[0]:.2f}",
            flush=True,
        )
        return {
            "writers": writers,
            "appends": total,
            "seconds": round(seconds, 2),
            "appends_per_s": round(total / seconds, 1),
            "verify_ok": result.ok,
            "count": result.count,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=4000, help="cases per throughput run")
    parser.add_argument("--stream", type=int, default=20000, help="cases for the memory run")
    parser.add_argument("--pg-appends", type=int, default=250, help="appends per PG writer")
    parser.add_argument("--skip", nargs="*", default=[], choices=["jobs", "dask", "stream", "pg"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"cpus": os.cpu_count(), "load_at_start": load()}
    print(f"trd-cds scale benchmark: {os.cpu_count()} CPUs, load {load()} (shared machine?)")
    if "jobs" not in args.skip:
        out["jobs"] = rows = bench_jobs(args.cases)
        out["jobs_ratio"] = round(rows[1]["cases_per_s"] / rows[0]["cases_per_s"], 2)
        print(f"  --jobs 2 / --jobs 1 = {out['jobs_ratio']}x (target >= 1.8x on an idle 2-core)")
    if "dask" not in args.skip:
        out["dask"] = rows = bench_dask(args.cases)
        out["dask_ratio"] = round(rows[1]["cases_per_s"] / rows[0]["cases_per_s"], 2)
        print(f"  dask 2 / dask 1 workers = {out['dask_ratio']}x (target >= 1.8x when idle)")
    if "stream" not in args.skip:
        out["stream"] = bench_stream(args.stream)
    if "pg" not in args.skip:
        out["postgresql"] = bench_pg(args.pg_appends)
    out["load_at_end"] = load()
    if args.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
