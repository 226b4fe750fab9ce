"""The HTML page as a person sees it: rendered by a real headless browser (Debian's chromium).

The DOM is the one chromium built (``--dump-dom``), not our own string; the screenshot of
example 08 is the README's image (regenerate with ``TRD_CDS_SCREENSHOT=1``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AT, EXAMPLES, ROOT, load_yaml
from trd_cds import Engine
from trd_cds.engine.render_html import html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "docs" / "plan-example.png"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
    ),
]


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {**dict(attrs), "_in": tuple(self.stack)}))
        if tag not in {"meta", "rect", "path", "br"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=90, check=True
    )


@pytest.mark.parametrize(
    "name", ["08_declines_medication_cochlear_implant", "02_high_suicide_risk"]
)
def test_page_in_a_real_browser(engine: Engine, tmp_path: Path, name: str) -> None:
    report = engine.evaluate(load_yaml(EXAMPLES / f"{name}.yaml"), at=AT)
    page = tmp_path / "report.html"
    page.write_text(html(report), "utf-8")
    dom_text = _chromium("--dump-dom", page.as_uri()).stdout
    dom = _Dom()
    dom.feed(dom_text)
    # the next step is the first heading
    headings = [(t, a) for t, a in dom.tags if t in {"h1", "h2", "h3"}]
    assert headings[0][0] == "h1"
    assert headings[0][1]["data-option"] == report.plan.next_step.option.value  # type: ignore[union-attr]
    # every recommended option appears once in the plan
    in_plan = [
        a["data-option"]
        for t, a in dom.tags
        if t == "li" and "data-option" in a and "div" in a["_in"] and a.get("class") != "over"
    ]
    assert sorted(in_plan) == sorted(r.option.value for r in report.recommendations)
    # the ladder marks the step reached, and only that one
    steps = [a for t, a in dom.tags if t == "g" and a.get("class") == "ladder-step"]
    assert [s["data-tier"] for s in steps if s["data-status"] == "reached"] == [report.plan.reached]
    assert not [t for t, _ in dom.tags if t == "script"]
    shot = tmp_path / "page.png"
    _chromium("--window-size=1100,2200", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if name.startswith("08") and os.environ.get("TRD_CDS_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
