"""Renderings of the plan: text at 80 columns, Markdown, HTML (escaped, self-contained)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import AT, EXAMPLES, load_yaml
from trd_cds import Engine, Report
from trd_cds.cli import main
from trd_cds.engine.render import markdown, text, why_not_text
from trd_cds.engine.render_html import html
from trd_cds.engine.render_plan import option_label, wrap
from trd_cds.engine.render_terminal import styled

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("verbose", [False, True])
def test_text_fits_80_columns_and_starts_with_the_plan(
    engine: Engine, path: Path, verbose: bool
) -> None:
    report = engine.evaluate(load_yaml(path), at=AT)
    out = text(report, verbose=verbose)
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide
    plan = report.plan
    assert plan.next_step is not None
    first = out.index("NEXT STEP: " + option_label(plan.next_step.option.value))
    assert first < out.index("DETAILS") < out.index("RECOMMENDATIONS")
    # every recommended option is in the plan part once, by its plain name
    plan_part = out[: out.index("DETAILS")]
    for rec in report.recommendations:
        assert re.search(
            rf"^\s+(\d+\.|-) {re.escape(option_label(rec.option.value))} \(", plan_part, re.M
        )
    assert "SETTINGS IN FORCE: " in plan_part


def test_wrap_keeps_words_and_indent() -> None:
    line = "  ? " + " ".join(["word"] * 40)
    lines = wrap(line)
    assert all(len(x) <= 80 for x in lines)
    assert all(x.startswith("    ") for x in lines[1:])
    assert " ".join(x.strip() for x in lines).replace("? ", "", 1) == " ".join(["word"] * 40)


def test_overridden_indication_in_every_rendering(engine: Engine) -> None:
    case = load_yaml(EXAMPLES / "08_declines_medication_cochlear_implant.yaml")
    case["episode"]["current_severity"] = "severe"  # ECT is for severe depression (NG222 1.13.1)
    report = engine.evaluate(case, at=AT)
    sentence = "ECT indicated (Following NICE NG222 1.13.1: currently severe depression"
    flat = " ".join(text(report).split())
    assert sentence in flat and "declined: record capacity, explore the reasons, revisit" in flat
    assert sentence in markdown(report)
    assert sentence in html(report)
    assert "declined: record capacity" in " ".join(why_not_text(report, "ect").split())
    # why it was ruled out, and by which rule, at a glance
    (ect,) = [o for o in report.part("plan")["overridden"] if o["option"] == "ect"]
    blocked = f"blocked: {ect['reasons'][0].rstrip('.')} ({', '.join(ect['blocked_by'])})"
    assert ect["blocked_by"] and blocked in flat
    assert blocked in " ".join(markdown(report).split())


def test_markdown_starts_with_the_plan(engine: Engine) -> None:
    report = engine.evaluate(load_yaml(EXAMPLES / "02_high_suicide_risk.yaml"), at=AT)
    md = markdown(report)
    assert md.index("## Next step: Urgent crisis referral") < md.index("## Details")
    assert "### Now — safety and stabilisation" in md


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


_FREE_TEXT = {"reason", "rationale", "value", "label", "indication", "reasons", "advice", "note"}


def _poison(value: Any, key: str | None = None) -> Any:
    """Every free-text value of a report replaced by markup (as a drug name could carry)."""
    if isinstance(value, dict):
        return {k: _poison(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, key) for v in value]
    if isinstance(value, str) and key in _FREE_TEXT:
        return EVIL + value
    return value


def test_html_escapes_every_value(engine: Engine) -> None:
    data = engine.evaluate(
        load_yaml(EXAMPLES / "08_declines_medication_cochlear_implant.yaml"), at=AT
    ).to_dict()
    data["findings"][0]["value"] = EVIL
    data["recommendations"][0]["evidence"][0]["value"] = EVIL  # a drug name, say
    report = Report.model_validate(_poison(data))
    page = html(report)
    dom = _Dom()
    dom.feed(page)
    assert not [t for t, _ in dom.tags if t in {"script", "img", "iframe", "link"}]
    assert "<script" not in page
    assert sum(EVIL in t for t in dom.texts) > 10  # shown, as text
    # self-contained: no external reference of any kind
    assert not re.search(r"""(src|href)\s*=\s*["']""", page)
    assert "@import" not in page and "url(" not in page


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_html_structure(engine: Engine, path: Path) -> None:
    report = engine.evaluate(load_yaml(path), at=AT)
    page = html(report)
    dom = _Dom()
    dom.feed(page)
    headings = [(t, a) for t, a in dom.tags if t in {"h1", "h2", "h3"}]
    assert headings[0][0] == "h1"
    assert headings[0][1]["data-option"] == report.plan.next_step.option.value  # type: ignore[union-attr]
    plan_options = [
        a["data-option"]
        for t, a in dom.tags
        if t == "li" and "data-option" in a and a.get("class") != "over"
    ]
    assert sorted(plan_options) == sorted(r.option.value for r in report.recommendations)
    steps = [a for t, a in dom.tags if t == "g" and a.get("class") == "ladder-step"]
    reached = [s["data-tier"] for s in steps if s["data-status"] == "reached"]
    assert reached == ([report.plan.reached] if report.plan.reached else [])
    details = [a["data-option"] for t, a in dom.tags if t == "details"]
    assert len(details) == len(report.recommendations) + len(report.why_not)


def test_terminal_styles_do_not_change_the_words(engine: Engine) -> None:
    report = engine.evaluate(
        load_yaml(EXAMPLES / "08_declines_medication_cochlear_implant.yaml"), at=AT
    )
    plain = text(report)
    rich_text = styled(plain)
    assert rich_text.plain == plain
    assert rich_text.spans  # something is styled


def test_cli_html_and_piped_text(tmp_path: Path) -> None:
    runner = CliRunner()
    path = str(EXAMPLES / "05_pregnancy_trd.yaml")
    at = ["--at", AT.isoformat()]
    out = runner.invoke(main, ["evaluate", path, "--format", "html", *at])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("<!DOCTYPE html>") and "Next step: Perinatal" in out.output
    piped = runner.invoke(main, ["evaluate", path, *at])
    assert piped.exit_code == 0 and "\x1b[" not in piped.output  # plain when piped
    assert piped.output.index("NEXT STEP:") < piped.output.index("DETAILS")


def test_explain_speaks_plain_language(engine: Engine) -> None:
    report = engine.evaluate(
        load_yaml(EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"), at=AT
    )
    dbt = why_not_text(report, "dbt")
    assert dbt.startswith("DBT: NOT RECOMMENDED")
    assert "emotion_dysregulation; not recorded" in dbt and "saw missing" not in dbt
    assert "? data needed: clinical features: emotion dysregulation not recorded" in dbt
    tms = why_not_text(report, "tms")
    assert tms.startswith("TMS: RECOMMENDED (offer) — in the plan under NEXT, item 6")
    assert all(len(line) <= 80 for text_ in (dbt, tms) for line in text_.splitlines())
    assert "Maudsley resistance stage" in text(report)


def test_rendering_reads_plain_data_only(engine: Engine) -> None:
    """Text and Markdown build neither the Pydantic document nor the explanations (they do
    not show them), and give the same text as before either was computed."""
    case = load_yaml(EXAMPLES / "01_trd_medication_and_therapy_failed.yaml")
    report = engine.evaluate(case, at=AT)
    first_text, first_md = text(report), markdown(report)
    assert report._document is None and report._explain is not None
    report.document  # noqa: B018 - now materialise both
    assert report._explain is None
    assert (text(report), markdown(report)) == (first_text, first_md)
