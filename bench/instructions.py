"""Instructions per case for the three paths of ``bench.py``, counted by Valgrind.

Wall-clock ratios swing by ±30 % on a shared machine; instruction counts do not. This script
runs one small Python program per path under ``valgrind --tool=callgrind`` (every user-space
instruction: the interpreter, pydantic-core, orjson and the durable_rules C engine), once with
N cases and once with the same setup and no timed work, and prints the difference per case:

* (a) the durable_rules session alone (``RuleHost.run`` on facts built outside the count);
* (b) the decision path, ``Engine.evaluate(dict, at=...)``;
* (c) the full report, ``evaluate(...).to_json_bytes()``;

and the ratios (b)/(a) and (c)/(a) as instruction ratios (cases/s is the inverse of time per
case, so a path at 0.4 × (a) costs 2.5 × the instructions of (a)). Instructions are not time
(cache misses and branch mispredictions differ between paths), so the wall-clock figures of
``bench.py`` stay the reference; this is the noise-free check that a change helped.

    python bench/instructions.py             # 40 generated cases per path (~2 minutes, 2 cores)
    python bench/instructions.py --cases 100

Needs ``valgrind`` (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The program each count runs: ``mode`` is setup-only ("prep-a", "prep") or a path.
PROGRAM = """
import sys
sys.path.insert(0, {here!r})
from bench import AT, generate, session_inputs
from trd_cds import Engine

n, mode = {n}, {mode!r}
engine = Engine()
cases = generate(max(n, 1), {seed})[:n]
for c in generate(20, 1):  # warm-up: caches and lazy imports outside the count
    engine.evaluate(c, at=AT).to_json_bytes()
if mode in ("prep-a", "a"):
    facts = session_inputs(engine, cases)
if mode == "a":
    for item in facts:
        engine._host.run(*item)
elif mode == "b":
    for c in cases:
        engine.evaluate(c, at=AT)
elif mode == "c":
    for c in cases:
        engine.evaluate(c, at=AT).to_json_bytes()
"""

_COLLECTED = re.compile(r"Collected : (\d+)")


def count(n: int, mode: str, seed: int) -> int:
    """Instructions of one run of :data:`PROGRAM` under callgrind."""
    program = PROGRAM.format(here=str(HERE), n=n, mode=mode, seed=seed)
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable],
        input=program,
        capture_output=True,
        text=True,
        check=False,
    )
    found = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run failed ({mode}):\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=40, help="cases per path (default 40)")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    n = args.cases
    modes = ("a", "prep-a", "b", "c", "prep")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one valgrind each
        counted = dict(zip(modes, pool.map(lambda m: count(n, m, args.seed), modes), strict=True))
    per_case = {
        "a": (counted["a"] - counted["prep-a"]) / n,
        "b": (counted["b"] - counted["prep"]) / n,
        "c": (counted["c"] - counted["prep"]) / n,
    }
    print(f"trd-cds instructions per case (valgrind callgrind, {n} generated cases per path)")
    names = {
        "a": "(a) durable_rules session alone (floor)",
        "b": "(b) decision path: evaluate(dict)",
        "c": "(c) full report: evaluate(dict).to_json()",
    }
    for key, name in names.items():
        print(f"  {name:44s} {per_case[key] / 1e6:7.2f} M instructions")
    print(
        f"  ratios (instructions of (a) / instructions of the path): "
        f"(b)/(a) {per_case['a'] / per_case['b']:.2f} (target >= 0.7), "
        f"(c)/(a) {per_case['a'] / per_case['c']:.2f} (target >= 0.4)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
