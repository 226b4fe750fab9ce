"""CDS Hooks load: p50/p95/p99 of patient-view calls with full prefetch, over HTTP, loopback.

A benchmark, not a test: it starts ``trd-cds serve`` on 127.0.0.1 (a free port; nothing else
is ever called), sends ``--requests`` sequential (or ``--concurrency`` parallel) patient-view
calls with the full prefetch of ``examples/cds-hooks/patient-view.cdshook``, each with its own
ES384 JWT (signed before timing starts, so the client's signing is not measured and the
server's verification is), and prints the latency percentiles next to the target
(p95 ≤ 50 ms on the 2-core machine). Bounded: at most 5,000 requests and ``--max-seconds``
of wall time. Always exits 0 unless the server cannot start::

    python bench/cds_load.py                    # 500 requests, 1 client
    python bench/cds_load.py --requests 2000 --concurrency 2 --audit
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cds_support import (  # noqa: E402
    ISS,
    ClientKeys,
    free_port,
    start_serving,
    stop_serving,
    write_jwks,
)

TARGET_P95_MS = 50.0


def pct(sorted_ms: list[float], p: float) -> float:
    k = max(0, min(len(sorted_ms) - 1, round(p / 100 * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=1, choices=range(1, 9))
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--audit", action="store_true", help="serve with an audit log (SQLite)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = max(1, min(args.requests, 5000))
    tmp = Path(tempfile.mkdtemp(prefix="cds-load-"))
    keys = ClientKeys()
    jwks = write_jwks(tmp, keys)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_args = ["--trust", f"{ISS}={jwks}", "--log-level", "warning"]
    env = dict(os.environ)
    if args.audit:
        serve_args += ["--audit-log", str(tmp / "audit.sqlite")]
        env["TRD_CDS_AUDIT_KEY"] = "bench-" + "k" * 32
    try:
        proc = start_serving(serve_args, env, port)
    except RuntimeError as exc:
        print(exc)
        return 1
    try:
        path = "/cds-services/trd-plan"
        body = (ROOT / "examples" / "cds-hooks" / "patient-view.cdshook").read_bytes()
        tokens = [keys.token(base + path) for _ in range(n + args.warmup)]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        stop_at = time.monotonic() + args.max_seconds

        def one(client: httpx.Client, token: str, timed: bool) -> None:
            if time.monotonic() > stop_at:
                return
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            t0 = time.perf_counter()
            resp = client.post(base + path, content=body, headers=headers)
            ms = (time.perf_counter() - t0) * 1000
            if timed:
                latencies.append(ms)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

        with httpx.Client(timeout=30) as client:
            for t in tokens[: args.warmup]:
                one(client, t, False)
            started = time.perf_counter()
            if args.concurrency == 1:
                for t in tokens[args.warmup :]:
                    one(client, t, True)
            else:
                with ThreadPoolExecutor(args.concurrency) as pool:
                    list(pool.map(lambda t: one(client, t, True), tokens[args.warmup :]))
            wall = time.perf_counter() - started
    finally:
        stop_serving(proc)
    ms = sorted(latencies)
    result = {
        "requests": len(ms),
        "concurrency": args.concurrency,
        "audit": args.audit,
        "statuses": statuses,
        "body_bytes": len(body),
        "p50_ms": round(pct(ms, 50), 2),
        "p95_ms": round(pct(ms, 95), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(ms[-1], 2),
        "requests_per_s": round(len(ms) / wall, 1),
        "target_p95_ms": TARGET_P95_MS,
        "pass": pct(ms, 95) <= TARGET_P95_MS,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"patient-view, full prefetch ({len(body)} bytes), {len(ms)} requests, "
            f"concurrency {args.concurrency}, audit {'on' if args.audit else 'off'}: "
            f"statuses {statuses}"
        )
        print(
            f"p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  p99 {result['p99_ms']} ms  "
            f"mean {result['mean_ms']} ms  max {result['max_ms']} ms  "
            f"{result['requests_per_s']} req/s"
        )
        print(f"target p95 ≤ {TARGET_P95_MS:.0f} ms: {'PASS' if result['pass'] else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
