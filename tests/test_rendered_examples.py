"""The bundled examples' text and HTML renderings, committed under docs/examples/ so a reader
can see them without running anything; this test keeps them current.

Regenerate after an intended change with ``TRD_CDS_REGENERATE=1 pytest tests/test_rendered_examples.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import AT, EXAMPLES, ROOT, load_yaml
from trd_cds import Engine
from trd_cds.engine.render import text
from trd_cds.engine.render_html import html
from trd_cds.engine.sensitivity import Sensitivity

OUT = ROOT / "docs" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def sensitivity(engine: Engine) -> Sensitivity:
    return Sensitivity(engine)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_rendered_example_is_current(engine: Engine, sensitivity: Sensitivity, path: Path) -> None:
    case = load_yaml(path)
    report = engine.evaluate(case, at=AT)
    found = sensitivity.check(case, AT, report)
    rendered = {"txt": text(report, sensitivity=found), "html": html(report, found)}
    for ext, content in rendered.items():
        target = OUT / f"{path.stem}.{ext}"
        if os.environ.get("TRD_CDS_REGENERATE"):
            OUT.mkdir(parents=True, exist_ok=True)
            target.write_text(content, "utf-8")
        assert target.exists(), f"run TRD_CDS_REGENERATE=1 pytest {__file__}"
        assert target.read_text("utf-8") == content, (
            f"{target.name} is stale: TRD_CDS_REGENERATE=1 pytest tests/test_rendered_examples.py"
        )
