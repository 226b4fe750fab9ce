"""Shared fixtures and test settings.

* One Engine per test session (building it compiles the rules once), and the bundled
  examples evaluated once per session (``example_reports``).
* Hypothesis profiles: ``quick`` (the default, for every day) and ``ci`` (thorough; ``.ci/run``
  passes ``--hypothesis-profile=ci``). Tests write their example counts for the ``ci`` profile
  through :func:`examples`, which scales them down under ``quick``.
* Tests marked ``slow`` (subprocesses, a wheel build) are skipped by the everyday ``pytest``
  (``-m "not slow"`` in pyproject's addopts); ``.ci/run`` runs them with ``pytest -m slow``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings

from trd_cds import Engine, Report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

#: max_examples of the ``ci`` profile; test counts are written for it.
CI_EXAMPLES = 150
_COMMON: dict[str, Any] = {
    "deadline": None,  # a slow shared machine must not turn timing into a failure
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, **_COMMON)
settings.register_profile("quick", max_examples=15, **_COMMON)
settings.load_profile("quick")


def examples(ci_count: int) -> int:
    """``ci_count`` examples under the ``ci`` profile, proportionally fewer under ``quick``."""
    return max(2, round(ci_count * settings.default.max_examples / CI_EXAMPLES))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


@pytest.fixture(scope="session", autouse=True)
def _ruleset_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The CLI's ruleset cache (``TRD_CDS_CACHE_DIR``) in a folder of this test session, for
    in-process commands and subprocesses alike: tests never touch the user's own cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TRD_CDS_CACHE_DIR", str(tmp_path_factory.mktemp("ruleset-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="session")
def example_paths() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="session")
def example_reports(engine: Engine, example_paths: list[Path]) -> dict[str, Report]:
    """Every bundled example evaluated once per session, by file stem."""
    return {p.stem: engine.evaluate(load_yaml(p), at=AT) for p in example_paths}
