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


# ---------------------------------------------------------------------- the plan table


def _words(option: str) -> str:
    return option.replace("_", " ")


def plan_table() -> str:
    """The README's one-line plan of each bundled example, from the engine."""
    from tests.conftest import AT, EXAMPLES, load_yaml
    from trd_cds import Engine

    engine = Engine()
    rows = [
        "| example | next step | now | next (offers) | overridden |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(EXAMPLES.glob("*.yaml")):
        plan = engine.evaluate(load_yaml(path), at=AT).to_dict()["plan"]
        step = plan["next_step"]
        cells = [
            path.stem.replace("_", " "),
            _words(step["option"]) if step else "—",
            ", ".join(_words(i["option"]) for i in plan["now"]) or "—",
            ", ".join(_words(i["option"]) for i in plan["next"] if i["strength"] == "offer") or "—",
            ", ".join(_words(o["option"]) for o in plan["overridden"]) or "—",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def test_the_plan_table_is_current() -> None:
    import os

    readme = ROOT / "README.md"
    text = readme.read_text("utf-8")
    start, end = "<!-- plan-table:start -->\n", "<!-- plan-table:end -->"
    before, rest = text.split(start)
    current, after = rest.split(end)
    table = plan_table()
    if os.environ.get("TRD_CDS_REGENERATE"):
        readme.write_text(before + start + table + end + after, "utf-8")
        return
    assert current == table, (
        "README plan table is stale: TRD_CDS_REGENERATE=1 pytest tests/test_readme.py"
    )
