"""One self-contained HTML page per report: the plan first, the escalation ladder drawn as an
inline SVG, then the evidence, citations and why-not per option behind ``<details>``.

No external assets and no JavaScript. Every value that comes from a case, a rule or a setting
goes through :func:`html.escape` (``_e``): a drug name cannot inject markup.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from ..schemas.options import OPTION_MEANING, Option
from .render_plan import (
    Json,
    data_needed_sentence,
    numbered,
    option_label,
    overridden_sentence,
    plan_groups,
    sensitivity_sentence,
    tier_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..schemas.report import Report

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;
background:#f6f7f9}
main{max-width:60rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:.2rem 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
.step{background:#fff;border-left:6px solid #1f6feb;padding:.8rem 1rem;border-radius:6px;
box-shadow:0 1px 3px #0002}
.step p{margin:.2rem 0}.meta{color:#57606a;font-size:.85rem}
.groups{display:grid;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr));gap:.8rem}
.group{background:#fff;border-radius:6px;padding:.6rem .9rem;box-shadow:0 1px 3px #0002}
.group h3{margin:.2rem 0 .4rem;font-size:1rem}.group h3 small{font-weight:normal;color:#57606a}
.group ol,.group ul{margin:0;padding-left:1.3rem}.group li{margin:.35rem 0}
.tag{display:inline-block;font-size:.75rem;padding:0 .4rem;border-radius:.6rem;margin-left:.3rem}
.offer{background:#dafbe1;color:#116329}.consider{background:#fff8c5;color:#7d4e00}
.after{background:#eaeef2;color:#57606a}
.reason{color:#424a53;font-size:.9rem}
.monitor{color:#0a3069;font-size:.82rem;margin-top:.15rem;padding-left:.5rem;
border-left:2px solid #54aeff}
.warn li{margin:.3rem 0}.over{color:#a40e26}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #d0d7de;padding:.2rem .4rem;
text-align:left;vertical-align:top}
details{background:#fff;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem;
box-shadow:0 1px 2px #0002}
summary{cursor:pointer;font-weight:600}code{font-size:.85em}
svg text{font-family:system-ui,sans-serif}
"""

_STEP_H = 46
_SVG_W = 900


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _tag(strength: str, after: bool = False) -> str:
    out = f'<span class="tag {_e(strength)}">{_e(strength)}</span>'
    if after:
        out += '<span class="tag after">after stabilisation</span>'
    return out


def _monitoring(item: Json) -> str:
    return "".join(f"<div class=monitor>Monitor: {_e(m)}</div>" for m in item.get("monitoring", []))


def _items(items: list[Json], start: int | None) -> str:
    """A plan group as a list; numbered groups continue the plan's numbering from ``start``."""
    tag = "ol" if start is not None else "ul"
    lis = "".join(
        f'<li data-option="{_e(i["option"])}"><strong>{_e(option_label(i["option"]))}'
        f"</strong>{_tag(i['strength'], i['after_stabilisation'])}"
        f'<div class="reason">{_e(i["reason"])}</div>'
        f"{_monitoring(i)}</li>"
        for i in items
    )
    first = f' start="{start}"' if start is not None and start != 1 else ""
    return f"<{tag}{first}>{lis}</{tag}>"


def ladder_svg(steps: list[Json]) -> str:
    """The escalation ladder, bottom step first at the top: failed steps red, the step reached
    blue, blocked options named with their reason."""
    height = _STEP_H * len(steps) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {_SVG_W} {height}" '
        f'width="100%" aria-label="Escalation ladder">'
    ]
    for i, step in enumerate(steps):
        y = 5 + i * _STEP_H
        x = 10 + i * 14
        if step["reached"]:
            fill, stroke, status = "#ddf4ff", "#1f6feb", "reached"
        elif step["failed"]:
            fill, stroke, status = "#ffebe9", "#cf222e", "tried"
        elif step["recommended"]:
            fill, stroke, status = "#ffffff", "#8c959f", "open"
        else:
            fill, stroke, status = "#f6f8fa", "#d0d7de", "none"
        width = 340
        parts.append(
            f'<g class="ladder-step" data-tier="{_e(step["tier"])}" data-status="{status}">'
            f'<rect x="{x}" y="{y}" width="{width}" height="{_STEP_H - 8}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{3 if step["reached"] else 1.5}"/>'
            f'<text x="{x + 10}" y="{y + 16}" font-size="13" font-weight="600">'
            f"{i + 1}. {_e(_capital(tier_label(step['tier'])))}</text>"
        )
        note = "; ".join(step["failed"]) if step["failed"] else ""
        if step["reached"]:
            note = ("reached — " + note) if note else "reached — the next step"
        parts.append(
            f'<text x="{x + 10}" y="{y + 32}" font-size="11" fill="#424a53">{_e(note)}</text>'
        )
        blocked = "; ".join(
            f"blocked: {option_label(b['option'])} ({b['reasons'][0] if b['reasons'] else ''})"
            for b in step["blocked"]
        )
        rec = ", ".join(option_label(o) for o in step["recommended"])
        right = x + width + 12
        room = (_SVG_W - right) // 6  # characters that fit at 11px
        if rec:
            parts.append(
                f'<text x="{right}" y="{y + 16}" font-size="11" fill="#116329">'
                f"<title>{_e(rec)}</title>{_e(_clip(rec, room))}</text>"
            )
        if blocked:
            parts.append(
                f'<text x="{right}" y="{y + 32}" font-size="11" fill="#a40e26">'
                f"<title>{_e(blocked)}</title>{_e(_clip(blocked, room))}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _evidence_table(rows: list[tuple[str, object, str]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td><code>{_e(f)}</code></td><td>{_e(v)}</td><td><code>{_e(w)}</code></td></tr>"
        for f, v, w in rows
    )
    return f"<table><tr><th>fact</th><th>value</th><th>from</th></tr>{body}</table>"


def _why_not(w: Json) -> str:
    if w["status"] == "blocked":
        reasons = "".join(f"<li>{_e(r)}</li>" for r in w.get("reasons", []))
        return f"<p>Blocked by {_e(', '.join(w.get('blocked_by', [])))}</p><ul>{reasons}</ul>"
    if w["status"] == "no_rule":
        return "<p>No active rule recommends it.</p>"
    lis: list[str] = []
    for c in w.get("candidates", []):
        unmet = c["unmet"]
        if unmet is None:
            lis.append(f"<li><code>{_e(c['rule'])}</code>: {_e(c.get('note') or '')}</li>")
            continue
        seen = "not recorded" if unmet.get("missing", False) else unmet["value"]
        where = unmet.get("pointer") or unmet.get("finding") or ""
        lis.append(
            f"<li><code>{_e(c['rule'])}</code>: needs <code>{_e(unmet['condition'])}</code>; "
            f"saw {_e(seen)} <span class=meta>{_e(where)}</span></li>"
        )
    return f"<ul>{''.join(lis)}</ul>"


def html(report: Report, sensitivity: list[dict[str, Any]] | None = None) -> str:
    """The report as one self-contained HTML page (with threshold sensitivity when given)."""
    plan = report.part("plan")
    p = report.part("provenance")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Plan — case {_e(report.case_id)}</title>",
        f"<style>{CSS}</style></head><body><main>",
    ]
    step = plan["next_step"]
    out.append('<section class="step" id="next-step">')
    if step is not None:
        out.append(
            f'<h1 data-option="{_e(step["option"])}">Next step: '
            f"{_e(option_label(step['option']))}{_tag(step['strength'])}</h1>"
            f"<p>{_e(step['reason'])}</p>"
        )
    else:
        out.append("<h1>Next step: none recommended</h1>")
    out.append(
        f'<p class="meta">Case <code>{_e(report.case_id)}</code> · evaluated '
        f"{_e(p['evaluated_at'])} · {_e(report.part('disclaimer'))}</p></section>"
    )
    out.append('<h2>Plan</h2><div class="groups">')
    start = 1
    for group, title, meaning, items in plan_groups(plan):
        out.append(
            f'<div class="group" id="plan-{group}"><h3>{title.capitalize()} '
            f"<small>{_e(meaning)}</small></h3>"
            f"{_items(items, start if group != 'throughout' else None)}</div>"
        )
        start += len(items)
    out.append("</div>")
    if plan["overridden"]:
        out.append('<h2>Overridden</h2><ul class="warn" id="overridden">')
        out += [
            f'<li class="over" data-option="{_e(o["option"])}">{_e(overridden_sentence(o))}</li>'
            for o in plan["overridden"]
        ]
        out.append("</ul>")
    if plan["data_needed"]:
        out.append('<h2>Data needed</h2><ul class="warn" id="data-needed">')
        for d in plan["data_needed"]:
            where = f" <code>{_e(d['pointer'])}</code>" if d["pointer"] else ""
            out.append(f"<li>{_e(data_needed_sentence(d))}{where}</li>")
        out.append("</ul>")
    if sensitivity is not None:
        out.append('<h2>Sensitivity</h2><ul class="warn" id="sensitivity">')
        out += [f"<li>{_e(sensitivity_sentence(s))}</li>" for s in sensitivity]
        if not sensitivity:
            out.append("<li>No documented alternative convention would change the plan.</li>")
        out.append("</ul>")
    out.append(f'<h2>Escalation ladder</h2><div id="ladder">{ladder_svg(plan["ladder"])}</div>')
    gates = report.part("gates")
    if gates:
        out.append("<h2>Gates</h2><ul>")
        out += [
            f"<li><strong>{_e(g['gate'])}</strong> — {_e(' '.join(g['rationale']))} "
            f"<span class=meta>{_e(', '.join(g['rules']))}</span></li>"
            for g in gates
        ]
        out.append("</ul>")
    out.append('<h2>Options in detail</h2><div id="details">')
    for mark, rec in numbered(report):
        rows = [
            (e["fact"], e["value"], e.get("pointer") or e.get("finding") or "")
            for e in rec["evidence"]
        ]
        rationale = "".join(f"<li>{_e(r)}</li>" for r in rec["rationale"])
        cautions = "".join(f"<li><em>Caution:</em> {_e(c)}</li>" for c in rec.get("cautions", []))
        out.append(
            f'<details data-option="{_e(rec["option"])}"><summary>{_e(mark)} '
            f"{_e(option_label(rec['option']))}{_tag(rec['strength'])}</summary>"
            f"<p>{_e(OPTION_MEANING[Option(rec['option'])])}</p>"
            f"<ul>{rationale}{cautions}</ul>"
            f"<p class=meta>Rules: {_e(', '.join(rec['rules']))}</p>"
            f"{_evidence_table(rows)}"
            f"<p class=meta>Sources: {_e('; '.join(rec['citations']))}</p></details>"
        )
    out.append('</div><h2>Why not</h2><div id="why-not">')
    for w in report.part("why_not"):
        out.append(
            f'<details data-option="{_e(w["option"])}"><summary>'
            f"{_e(option_label(w['option']))} — {_e(w['status'].replace('_', ' '))}</summary>"
            f"{_why_not(w)}</details>"
        )
    settings = ", ".join(f"{k} = {v}" for k, v in sorted(p["settings"].items()))
    ruleset = p["ruleset"]
    out.append(
        f'</div><h2>Provenance</h2><p class="meta">Report <code>{_e(p["report_id"])}</code>; '
        f"ruleset {_e(ruleset['id'])} {_e(ruleset['version'])} <code>{_e(ruleset['hash'])}</code>;"
        f" engine {_e(p['engine_version'])}; settings in force: {_e(settings)}</p>"
        "</main></body></html>"
    )
    return "\n".join(out) + "\n"
