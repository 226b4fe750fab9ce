"""Floors import one way, down: schemas ← rules ← engine ← cli / interop (DESIGN.md, Layout).

Each floor is imported in a fresh interpreter and the trd_cds modules it loaded are checked:
a floor may load itself and the floors below it, never one above.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FLOORS = ["schemas", "rules", "engine", "interop", "cli"]


def _loaded_by(module: str) -> set[str]:
    code = (
        "import json, sys\n"
        f"import trd_cds.{module}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('trd_cds.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    return {name.split(".")[1] for name in json.loads(done.stdout)}


@pytest.mark.parametrize("floor", FLOORS)
def test_a_floor_imports_nothing_above_it(floor: str) -> None:
    allowed = set(FLOORS[: FLOORS.index(floor) + 1])
    loaded = _loaded_by(floor)
    assert loaded <= allowed, f"trd_cds.{floor} imports {sorted(loaded - allowed)}"


def test_the_package_root_loads_nothing_until_asked() -> None:
    code = "import sys, trd_cds; print(sorted(m for m in sys.modules if m.startswith('trd_cds.')))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert done.stdout.strip() == "[]"
