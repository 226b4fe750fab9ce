"""Human-readable renderings of a report (plain text for terminals, Markdown for documents).

Both start with the plan (:mod:`trd_cds.engine.render_plan`), then the details. Text fits 80
columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..schemas.options import OPTION_MEANING, Option
from .render_plan import (
    Json,
    numbered,
    option_label,
    overridden_sentence,
    plan_markdown,
    plan_text,
    wrap,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..schemas.report import Report


def _evidence(e: Json) -> str:
    pointer, finding, subject = e.get("pointer"), e.get("finding"), e.get("subject")
    where = pointer or (f"finding {finding}" if finding else "derived")
    if subject and not pointer:
        where += f" of {subject}"
    return f"{e['fact']} = {_value(e['value'])}  [{where}]"


def _value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


def _overridden(report: Report) -> dict[str, Json]:
    return {o["option"]: o for o in report.part("plan")["overridden"]}


def text(
    report: Report, *, verbose: bool = False, sensitivity: list[dict[str, Any]] | None = None
) -> str:
    """Plain text for a terminal, 80 columns: the plan (with threshold sensitivity when
    given), then gates, ordered recommendations, cautions, blocks and findings."""
    p = report.part("provenance")
    ruleset = p["ruleset"]
    lines = [
        f"Case {report.case_id}",
        f"Report {p['report_id']}",
        f"Evaluated at {p['evaluated_at']} with ruleset {ruleset['id']} {ruleset['version']} "
        f"({ruleset['hash'][:19]}), engine {p['engine_version']}",
        report.part("disclaimer"),
        "",
        *plan_text(report, sensitivity),
        "DETAILS",
        "",
    ]
    gates = report.part("gates")
    if gates:
        lines.append("GATES")
        for g in gates:
            lines.append(f"  ! {g['gate']}  ({', '.join(g['rules'])})")
            for r in g["rationale"]:
                lines.append(f"      {r}")
        lines.append("")
    lines.append("RECOMMENDATIONS (numbered as in the plan)")
    for mark, rec in numbered(report):
        flag = "  [after stabilisation]" if rec["after_stabilisation"] else ""
        lines.append(f"  {mark:>3} {rec['option']}  ({rec['strength']}, {rec['tier']}){flag}")
        lines.append(f"      {OPTION_MEANING[Option(rec['option'])]}")
        for r in rec["rationale"]:
            lines.append(f"      - {r}")
        for c in rec.get("cautions", []):
            lines.append(f"      caution: {c}")
        lines.append(f"      rules: {', '.join(rec['rules'])}")
        if verbose:
            for e in rec["evidence"]:
                lines.append(f"      fact: {_evidence(e)}")
            for c in rec["citations"]:
                lines.append(f"      source: {c}")
    overridden = _overridden(report)
    blocked = report.part("blocked")
    if blocked:
        lines += ["", "NOT RECOMMENDED (blocked)"]
        for b in blocked:
            lines.append(f"  x {b['option']}  ({', '.join(b['rules'])})")
            for r in b["reasons"]:
                lines.append(f"      {r}")
            if b["option"] in overridden:
                sentence = overridden_sentence(overridden[b["option"]], with_reason=False)
                lines.append(f"      {sentence}")
    cautions = report.part("cautions")
    if cautions:
        lines += ["", "CAUTIONS"]
        for caution in cautions:
            lines.append(
                f"  * {caution['option']}: {caution['rationale']}  ({caution['rules'][-1]})"
            )
    key = {f["name"]: f["value"] for f in report.part("findings") if f.get("subject") is None}
    lines += [
        "",
        "FINDINGS",
        f"  TRD (>=2 adequate failures): {_value(key.get('trd_2'))}; inadequate response: "
        f"{_value(key.get('inadequate_response'))}; adequate failed antidepressants: "
        f"{_value(key.get('adequate_failed_ad_trials'))}",
        f"  Maudsley resistance stage: {_value(key.get('msm_total'))} "
        f"({_value(key.get('msm_band'))} resistance); "
        f"Thase-Rush stage: {_value(key.get('thase_rush_stage'))}; "
        f"C-SSRS: {_value(key.get('cssrs_level'))}; response: {_value(key.get('response_status'))}",
    ]
    return "\n".join(w for line in lines for w in (wrap(line) or [""])) + "\n"


def markdown(report: Report) -> str:
    """Markdown for notes and reviews."""
    p = report.part("provenance")
    ruleset = p["ruleset"]
    out = [
        f"# Decision support report — case `{report.case_id}`",
        "",
        f"> {report.part('disclaimer')}",
        "",
        f"- Report `{p['report_id']}`, evaluated at `{p['evaluated_at']}`",
        f"- Ruleset `{ruleset['id']}` {ruleset['version']} (`{ruleset['hash']}`), "
        f"engine {p['engine_version']}",
        "",
        *plan_markdown(report),
        "## Details",
        "",
    ]
    gates = report.part("gates")
    if gates:
        out += ["## Gates", ""]
        for g in gates:
            out.append(f"- **{g['gate']}** — {' '.join(g['rationale'])} ({', '.join(g['rules'])})")
        out.append("")
    out += [
        "## Recommendations",
        "",
        "| # | option | strength | tier | rules |",
        "|---|---|---|---|---|",
    ]
    for mark, rec in numbered(report):
        after = " (after stabilisation)" if rec["after_stabilisation"] else ""
        out.append(
            f"| {mark.rstrip('.')} | `{rec['option']}`{after} | {rec['strength']} | "
            f"{rec['tier']} | {', '.join(f'`{r}`' for r in rec['rules'])} |"
        )
    out.append("")
    for mark, rec in numbered(report):
        number = f"{mark} " if mark != "-" else ""
        out += [f"### {number}`{rec['option']}`", ""]
        out += [f"- {r}" for r in rec["rationale"]]
        out += [f"- **Caution:** {c}" for c in rec.get("cautions", [])]
        if rec["evidence"]:
            out.append("- Facts: " + "; ".join(f"`{_evidence(e)}`" for e in rec["evidence"]))
        out.append("- Sources: " + "; ".join(rec["citations"]))
        out.append("")
    blocked = report.part("blocked")
    if blocked:
        out += ["## Not recommended", ""]
        overridden = _overridden(report)
        for b in blocked:
            out.append(f"- `{b['option']}` — {' '.join(b['reasons'])} ({', '.join(b['rules'])})")
            if b["option"] in overridden:
                out.append(f"  - {overridden_sentence(overridden[b['option']], with_reason=False)}")
        out.append("")
    cautions = report.part("cautions")
    if cautions:
        out += ["## Cautions", ""]
        for c in cautions:
            out.append(f"- `{c['option']}` — {c['rationale']} ({', '.join(c['rules'])})")
        out.append("")
    out += ["## Findings", "", "| finding | value | detail |", "|---|---|---|"]
    for f in report.part("findings"):
        if f.get("subject") is None:
            out.append(f"| {f['name']} | {_value(f['value'])} | {f.get('detail') or ''} |")
    return "\n".join(out) + "\n"


def why_not_text(report: Report, option: str) -> str:
    """Why an option was, or was not, recommended, in a clinician's words (80 columns)."""
    name = option_label(option)
    lines: list[str] = []
    marks = {rec["option"]: (mark, rec) for mark, rec in numbered(report)}
    plan = report.part("plan")
    if option in marks:
        mark, rec = marks[option]
        item = next(
            (i, g)
            for g in ("now", "next", "later", "throughout")
            for i in plan[g]
            if i["option"] == option
        )
        where = f"item {mark.rstrip('.')}" if mark != "-" else "always-on care"
        lines.append(
            f"{name}: RECOMMENDED ({rec['strength']}) — in the plan under "
            f"{item[1].upper()}, {where}"
        )
        lines += [f"  - {r}" for r in rec["rationale"]]
        lines += [f"  caution: {c}" for c in rec.get("cautions", [])]
        lines += [f"  monitor: {m}" for m in item[0].get("monitoring", [])]
        lines.append(f"  rules: {', '.join(rec['rules'])}")
        lines += [f"  fact: {_evidence(e)}" for e in rec["evidence"]]
        return _wrapped(lines)
    entry: Json | None = next((w for w in report.part("why_not") if w["option"] == option), None)
    assert entry is not None
    if entry["status"] == "blocked":
        lines = [f"{name}: NOT RECOMMENDED — blocked by {', '.join(entry.get('blocked_by', []))}"]
        lines += [f"  - {r}" for r in entry.get("reasons", [])]
        overridden = _overridden(report)
        if option in overridden:
            lines.append(f"  x {overridden_sentence(overridden[option], with_reason=False)}")
        return _wrapped(lines)
    if entry["status"] == "no_rule":
        return _wrapped([f"{name}: NOT RECOMMENDED — no active rule recommends it"])
    lines = [f"{name}: NOT RECOMMENDED — none of the rules that recommend it applies"]
    for cand in entry.get("candidates", []):
        u, note = cand["unmet"], cand.get("note")
        if u is None:
            lines.append(f"  - {note}  ({cand['rule']})")
            continue
        finding = u.get("finding")
        where = u.get("pointer") or (f"finding {finding}" if finding else u["fact_id"] or "no fact")
        seen = "not recorded" if u.get("missing", False) else f"recorded: {_value(u['value'])}"
        lines.append(f"  - needs {u['condition']}; {seen}  [{where}]  ({cand['rule']})")
        if note:
            lines.append(f"    {note}")
    needed = [d for d in plan["data_needed"] if option in d["affects"]]
    for d in needed:
        at = f" [{d['pointer']}]" if d["pointer"] else ""
        lines.append(f"  ? data needed: {d['label']}{at}")
    return _wrapped(lines)


def _wrapped(lines: list[str]) -> str:
    return "\n".join(w for line in lines for w in (wrap(line) or [""])) + "\n"
