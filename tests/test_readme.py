"""The README's library example runs as written (docs that cannot rot)."""

from __future__ import annotations

import contextlib
import io
import json
import re

from tests.conftest import ROOT


def test_the_library_example_runs_and_recommends() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"## Library\n\n```python\n(.*?)```", text, re.S)
    assert block is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), "README.md", "exec"), {})
    printed = out.getvalue()
    report = json.loads(printed[printed.index("{") :])
    assert report["case_id"] == "demo-1"
    assert report["recommendations"], "the example recommends nothing"
    assert printed.splitlines()[0].startswith("1 ")
