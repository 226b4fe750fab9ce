"""Golden reports of the bundled examples: byte-identical JSON, pinned in tests/golden/.

After an intended change to rules, assessments or the report format, regenerate with::

    TRD_CDS_REGENERATE=1 pytest tests/test_examples.py

and review the diff: it is exactly what changed for a clinician.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from trd_cds import Report

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
