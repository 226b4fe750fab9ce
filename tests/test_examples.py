"""Golden reports of the bundled examples: byte-identical JSON, pinned in tests/golden/.

After an intended change to rules, assessments or the report format, regenerate with::

    TRD_CDS_REGENERATE=1 pytest tests/test_examples.py

and review the diff: it is exactly what changed for a clinician.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import AT, EXAMPLES, ROOT, load_yaml
from trd_cds import Engine, Report

GOLDEN = ROOT / "tests" / "golden"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_report_matches_golden(example_reports: dict[str, Report], path: Path) -> None:
    report = example_reports[path.stem].to_json()
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("TRD_CDS_REGENERATE"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(report, "utf-8")
        # a regenerated golden file proves nothing: never count it as a pass
        pytest.skip(f"regenerated {golden.name}: review the diff, then run without the variable")
    assert golden.exists(), f"no golden report: run TRD_CDS_REGENERATE=1 pytest {__file__}"
    assert report == golden.read_text("utf-8"), (
        f"{path.name} changed; if intended: TRD_CDS_REGENERATE=1 pytest tests/test_examples.py"
    )


def test_every_golden_report_has_an_example() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == [p.stem for p in EXAMPLE_FILES]


def test_every_example_explains_itself(example_reports: dict[str, Report]) -> None:
    assert len(example_reports) == len(EXAMPLE_FILES) > 0
    for name, report in example_reports.items():
        fired = {t.rule for t in report.trace}
        for rec in report.recommendations:
            assert rec.rules and rec.citations and rec.rationale, (name, rec.option)
            assert set(rec.rules) <= fired
        for block in report.blocked:
            assert block.rules and block.reasons and block.citations
        for caution in report.cautions:
            assert caution.rules and caution.citations


@pytest.mark.parametrize("path", EXAMPLE_FILES[:4], ids=lambda p: p.stem)
def test_decision_is_the_report_without_the_explanations(engine: Engine, path: Path) -> None:
    """``Report.decision()`` is what cards and batch rows read: the golden report without
    the trace and why-not, and asking for it does not build them."""
    report = engine.evaluate(load_yaml(path), at=AT)
    decision = report.decision()
    assert "trace" not in decision and "why_not" not in decision
    assert report._explain is not None  # an internal on purpose: still pending
    golden = json.loads((GOLDEN / f"{path.stem}.json").read_text("utf-8"))
    assert decision == {k: v for k, v in golden.items() if k not in ("trace", "why_not")}
    assert report.decision() == decision  # unchanged once the explanations exist
    report.to_dict()
    assert report.decision() == decision
