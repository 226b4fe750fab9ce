"""FHIR benchmark: a 2 MB Synthea bundle → case (mapping time), and → report.

A benchmark, not a test: prints figures next to their targets (PASS/MISS), always exits 0::

    python bench/fhir.py            # median of 20 runs after 3 warm-up runs
    python bench/fhir.py --json

The 2 MB bundle is the two largest living-or-dead Synthea fixtures joined in one collection
Bundle (1.33 MB + 0.72 MB, 20 MB of Python objects once parsed); the case is Milan Beatty's
(MDD, fluoxetine), picked with ``patient=`` so grouping runs over the whole bundle. Timed:
``case_from_fhir(parsed_json, at=..., patient=...)`` (selection by type and code, R4B validation
of the selected resources only, mapping, case validation); JSON parsing is timed separately.
Also shown: validating the whole bundle with the R4B ``Bundle`` model, the cost that selection
avoids, and the full FHIR → report path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# run as ``python bench/fhir.py``, this file's folder heads sys.path and this module would
# shadow the ``fhir`` namespace package of fhir.resources: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT.parent / "shared" / "fixtures" / "fhir" / "synthea-bundles"
AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
TARGET_MS = 50.0


def _median_ms(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from fhir.resources.R4B.bundle import Bundle

    from trd_cds import Engine
    from trd_cds.interop.fhir import case_from_fhir

    files = [p for p in sorted(SYNTHEA.glob("*.json")) if p.name.startswith(("Milan", "Roberto"))]
    parts = [json.loads(p.read_text("utf-8")) for p in files]
    disk_mb = sum(p.stat().st_size for p in files) / 1e6
    text = json.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [e for b in parts for e in b["entry"]],
        }
    )
    size_mb = len(text.encode()) / 1e6
    bundle = json.loads(text)
    pid = next(
        e["resource"]["id"] for e in parts[0]["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    engine = Engine()

    def mapping() -> Any:
        return case_from_fhir(bundle, at=AT, patient=pid)

    for _ in range(3):
        mapping()
    figures = {
        "bundle_mb": round(disk_mb, 2),
        "bundle_compact_mb": round(size_mb, 2),
        "resources": len(bundle["entry"]),
        "json_parse_ms": round(_median_ms(lambda: json.loads(text), max(3, args.runs // 4)), 1),
        "mapping_ms": round(_median_ms(mapping, args.runs), 1),
        "fhir_to_report_ms": round(
            _median_ms(lambda: engine.evaluate(mapping().case, at=AT), args.runs), 1
        ),
        "validate_whole_bundle_ms": round(_median_ms(lambda: Bundle.model_validate(bundle), 3), 1),
        "target_mapping_ms": TARGET_MS,
    }
    if args.json:
        print(json.dumps(figures))
        return
    verdict = "PASS" if figures["mapping_ms"] <= TARGET_MS else "MISS"
    print(
        f"FHIR bundle {figures['bundle_mb']} MB as shipped ({figures['bundle_compact_mb']} MB "
        f"compact JSON), {figures['resources']} resources"
    )
    print(
        f"  mapping → case      {figures['mapping_ms']:8.1f} ms   target ≤ {TARGET_MS:g} ms "
        f"{verdict}"
    )
    print(f"  FHIR → report       {figures['fhir_to_report_ms']:8.1f} ms")
    print(f"  json.loads          {figures['json_parse_ms']:8.1f} ms   (not in the mapping)")
    print(f"  R4B Bundle.validate {figures['validate_whole_bundle_ms']:8.1f} ms   (avoided)")


if __name__ == "__main__":
    main()
