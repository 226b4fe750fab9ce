"""Hostile input through the command line: mutated cases and special files (a script, not a test).

    python bench/fuzz.py [--cases 10000] [--batch 1000] [--seed 9] [--timeout 300]

Builds ``--cases`` mutated case files from the bundled examples and the golden cases (JSON
and YAML; byte splices, hostile values, duplicate keys, YAML 1.1 spellings, deep nesting,
oversized lists and numbers), writes them ``--batch`` per folder, and runs
``trd-cds evaluate FOLDER --format jsonl`` once per folder; then one run over the special
files (a FIFO, a link to /dev/zero, an alias bomb, 100,000-deep JSON, a 2 MB case, UTF-16,
a file name with a newline, an empty folder, a folder named ``x.json``, ...) and one over
non-UTF-8 standard input. It prints:

* tried — case inputs given to the CLI;
* crashed — inputs in a run that exited other than 0/1, printed a traceback or an "internal
  error", or left the input without its jsonl line (a report or an error);
* hung — inputs in a run that did not finish within ``--timeout`` seconds;
* errors-without-path — error lines that name no field path, position or "(whole input)".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the hostile byte sequences are the tests' (tests/strategies.py)
from tests.strategies import SPLICES  # noqa: E402

AT = "2026-11-24T09:00:00Z"
PATH_FORM = re.compile(r"^(/.*|line \d+ column \d+|\(whole input\))$", re.S)

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    121,
    10**30,
    1.5,
    -0.0,
    "",
    "x" * 300,
    "1:20",
    "yes",
    "no",
    "on",
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
    "1735689600",
    "\u202e",
    "a\nb",
    [],
    {},
    [[[[]]]],
    {"": 1},
    ["x"] * 41,
    [{}] * 3,
]


def _base_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        cases.append(yaml.safe_load(path.read_text("utf-8")))
    for path in sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("case"), dict):
            cases.append(doc["case"])
    return [json.loads(json.dumps(c, default=str)) for c in cases]


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _mutate_data(rng: random.Random, case: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(json.dumps(case))
    for _ in range(rng.randint(0, 3)):
        path = rng.choice(_paths(data)[1:] or [("case_id",)])
        parent: Any = data
        for p in path[:-1]:
            parent = parent[p]
        action = rng.random()
        if action < 0.2 and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action < 0.3 and isinstance(parent, dict):
            parent[rng.choice(["extra", "Age", "case_id ", "psychotic_features"])] = True
        else:
            value = rng.choice(VALUES)
            parent[path[-1]] = json.loads(json.dumps(value))
    return data


def _serialise(rng: random.Random, data: dict[str, Any]) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        text = json.dumps(data, indent=rng.choice([None, 2]), ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.1:  # a duplicate key
            text = text.replace("{", '{"case_id": "dup", ', 1)
        if rng.random() < 0.05:
            text = text.replace('"age": ', '"age": 1' + "0" * 5000 + ', "x": ', 1)
        return text.encode(), "json"
    text = yaml.safe_dump(data, sort_keys=rng.random() < 0.5, allow_unicode=True)
    if rng.random() < 0.1:
        text = text.replace("case_id:", "case_id: dup\ncase_id:", 1)
    return text.encode(), "yaml"


def _splice(rng: random.Random, raw: bytes) -> bytes:
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        at = rng.randint(0, len(raw))
        cut = rng.randint(0, 3)
        raw = raw[:at] + rng.choice(SPLICES) + raw[at + cut :]
    return raw


def mutated_cases(n: int, seed: int) -> list[tuple[bytes, str]]:
    rng = random.Random(seed)
    bases = _base_cases()
    out = []
    for _ in range(n):
        raw, fmt = _serialise(rng, _mutate_data(rng, rng.choice(bases)))
        out.append((_splice(rng, raw), fmt))
    return out


def special_files(folder: Path) -> int:
    """Write the special files into ``folder``; return how many inputs they are."""
    example = (ROOT / "examples" / "01_trd_medication_and_therapy_failed.yaml").read_bytes()
    files: dict[str, bytes] = {
        "bomb.yaml": (
            b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
            + b"".join(
                f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n".encode()
                for p, n in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + b"case_id: *i\n"
        ),
        "self.yaml": b"case_id: &a [*a]\n",
        "deep1000.json": b'{"case_id": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        "deep100k.json": b"[" * 100_000 + b"]" * 100_000,
        "deep.yaml": b"a: " + b"[" * 5000 + b"]" * 5000,
        "bigint.json": b'{"case_id": "c", "patient": {"age": 1' + b"0" * 5000 + b"}}",
        "bigint.yaml": b"case_id: c\npatient: {age: 1" + b"0" * 5000 + b"}\n",
        "huge.json": b'{"antidepressant_trials": [' + b'{"drug": "x"},' * 150_000 + b"{}]}",
        "bom.json": b"\xef\xbb\xbf" + json.dumps(yaml.safe_load(example), default=str).encode(),
        "bom.yaml": b"\xef\xbb\xbf" + example,
        "utf16.json": "\ufeff{}".encode("utf-16-le"),
        "latin1.yaml": b"case_id: caf\xe9\n",
        "empty.json": b"",
        "null.yaml": b"~\n",
        "list.json": b"[1, 2]",
        "nul.yaml": b"case_id: a\x00b\n",
        "dup.yaml": b"diagnosis: {primary: mdd, psychotic_features: true, psychotic_features: false}\n",
        "sexagesimal.yaml": example.replace(b"age: 52", b"age: 1:20"),
        "evil\nerror: forged.yaml": b"case_id: [\n",
        "tag.yaml": b"!!python/object/apply:os.system [echo pwned]\n",
        "ansi\x1b[31m.yaml": b"case_id: x\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    count = len(files)
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "fifo.yaml")
        count += 1
    (folder / "zero.yaml").symlink_to("/dev/zero")
    (folder / "dangling.json").symlink_to(folder / "nowhere")
    (folder / "loop").symlink_to(folder)  # a folder link: not followed
    return count + 2


def run(args: list[str], timeout: float, stdin: bytes | None = None) -> tuple[str, str, int | None]:
    cmd = [sys.executable, "-m", "trd_cds.cli", "evaluate", *args, "--format", "jsonl", "--at", AT]
    try:
        done = subprocess.run(cmd, input=stdin or b"", capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "", "", None
    return (
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
        done.returncode,
    )


class Tally:
    def __init__(self) -> None:
        self.tried = self.crashed = self.hung = self.no_path = self.evaluated = self.failed = 0
        self.examples: list[str] = []

    def add(self, inputs: int, out: tuple[str, str, int | None]) -> None:
        stdout, stderr, code = out
        self.tried += inputs
        if code is None:
            self.hung += inputs
            return
        lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        errors = [line for line in lines if set(line) == {"source", "error"}]
        self.failed += len(errors)
        self.evaluated += len(lines) - len(errors)
        bad_run = code not in (0, 1) or "Traceback" in stderr or "internal error" in stderr
        if bad_run:
            self.examples.append(stderr[-500:])
            internal = sum("internal error" in e["error"] for e in errors)
            self.crashed += max(internal, inputs - len(lines), 1)
        elif len(lines) != inputs:
            self.crashed += abs(inputs - len(lines))
            self.examples.append(f"{inputs} inputs, {len(lines)} lines")
        for entry in errors:
            from trd_cds.schemas.errors import printable

            prefix = printable(entry["source"]) + ": "
            text = entry["error"]
            path = text[len(prefix) :].split(": ", 1)[0] if text.startswith(prefix) else ""
            if not PATH_FORM.match(path):
                self.no_path += 1
                self.examples.append(text[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--timeout", type=float, default=300)
    opts = parser.parse_args()
    started = time.perf_counter()
    tally = Tally()
    work = Path(tempfile.mkdtemp(prefix="trd-fuzz-"))
    try:
        cases = mutated_cases(opts.cases, opts.seed)
        for start in range(0, len(cases), opts.batch):
            folder = work / f"batch{start // opts.batch:03d}"
            folder.mkdir()
            chunk = cases[start : start + opts.batch]
            for i, (raw, fmt) in enumerate(chunk):
                (folder / f"{i:05d}.{fmt}").write_bytes(raw)
            tally.add(len(chunk), run([str(folder)], opts.timeout))
            print(f"  {tally.tried} tried ({time.perf_counter() - started:.0f} s)", flush=True)
        special = work / "special"
        special.mkdir()
        count = special_files(special)
        (work / "empty").mkdir()
        (work / "x.json").mkdir()
        tally.add(count + 2, run([str(special), str(work / "empty"), str(work / "x.json")], 60))
        tally.add(1, run(["-"], 60, stdin=b"case_id: \xff\xfe\n"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"tried:               {tally.tried}")
    print(f"crashed:             {tally.crashed}")
    print(f"hung:                {tally.hung}")
    print(f"errors-without-path: {tally.no_path}")
    print(
        f"(evaluated {tally.evaluated}, refused {tally.failed}, "
        f"{time.perf_counter() - started:.0f} s)"
    )
    for example in tally.examples[:5]:
        print("example:", example.replace("\n", "\\n"))


if __name__ == "__main__":
    main()
