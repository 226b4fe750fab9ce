"""The plan in words: shared by the text, Markdown and HTML renderings.

Renderings read the report as plain data (:meth:`Report.part`): rendering never builds the
Pydantic document (:mod:`trd_cds.schemas.report_document`) nor the explanations it does not show.

Plain language for a clinician: option names as words ("TMS", "Diagnostic and adherence
review"), strengths as "offer"/"consider", overridden indications as one sentence with what to
do. Text output is wrapped to 80 columns (:func:`wrap`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..schemas.report import Report

WIDTH = 80
Json = dict[str, Any]

_ACRONYMS = {"cbt", "dbt", "ipt", "mbct", "act", "emdr", "tms", "ect"}

#: Group headings and what each group means.
GROUP_TITLES = {
    "now": ("NOW", "safety and stabilisation"),
    "next": ("NEXT", "the step the ladder has reached"),
    "later": ("LATER", "if that does not help"),
    "throughout": ("THROUGHOUT", "always-on care"),
}


def option_label(code: str) -> str:
    """``tms`` → ``TMS``; ``diagnostic_and_adherence_review`` → ``Diagnostic and adherence
    review``."""
    words = [w.upper() if w in _ACRONYMS else w for w in code.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def plan_groups(plan: Json) -> Iterator[tuple[str, str, str, list[Json]]]:
    """The plan's non-empty groups in reading order: (group, title, meaning, items); the
    meaning of ``next`` names the ladder step reached."""
    for group in ("now", "next", "later", "throughout"):
        items: list[Json] = plan[group]
        if not items:
            continue
        title, meaning = GROUP_TITLES[group]
        if group == "next" and plan["reached"]:
            meaning = f"the ladder has reached {tier_label(plan['reached'])}"
        yield group, title, meaning, items


def tier_label(tier: str | None) -> str:
    """``ect_and_esketamine`` → ``ECT and esketamine``."""
    return " ".join(w.upper() if w in _ACRONYMS else w for w in (tier or "").split("_"))


def numbered(report: Report) -> list[tuple[str, Json]]:
    """The recommendations in plan order with the plan's numbers (``-`` for always-on care),
    so the details below a plan use the same numbers as the plan."""
    recs = {r["option"]: r for r in report.part("recommendations")}
    plan = report.part("plan")
    out: list[tuple[str, Json]] = []
    n = 0
    for group in ("now", "next", "later", "throughout"):
        for item in plan[group]:
            if group == "throughout":
                out.append(("-", recs[item["option"]]))
            else:
                n += 1
                out.append((f"{n}.", recs[item["option"]]))
    return out


def overridden_sentence(o: Json, *, with_reason: bool = True) -> str:
    """``ECT indicated (indication) — blocked: reason (rule) — declined: record capacity, ...``:
    the indication, why it was blocked and by which rule (``with_reason=False``: left out,
    where the block's reasons are printed just above), and what to do."""
    why = (o["indication"][0] if o["indication"] else "").rstrip(".")
    indicated = f"{option_label(o['option'])} indicated" + (f" ({why})" if why else "")
    reason = (o["reasons"][0] if o["reasons"] else "").rstrip(".")
    rules = ", ".join(o["blocked_by"])
    if not with_reason:
        return f"{indicated} — {o['advice']}"
    blocked = f"blocked: {reason} ({rules})" if reason else f"blocked by {rules}"
    return f"{indicated} — {blocked} — {o['advice']}"


def data_needed_sentence(d: Json) -> str:
    affects = ", ".join(option_label(o) for o in d["affects"])
    parts = [d["label"]]
    if d["gates"]:
        parts.append("could raise: " + ", ".join(tier_label(g) for g in d["gates"]))
    if affects:
        parts.append("could change: " + affects)
    return "; ".join(parts)


def wrap(line: str, width: int = WIDTH) -> list[str]:
    """One line wrapped to ``width`` columns, continuation lines indented under the text."""
    if len(line) <= width:
        return [line]
    stripped = line.lstrip(" ")
    indent = " " * (len(line) - len(stripped))
    bullet = stripped.split(" ", 1)[0]
    is_marker = (
        bullet in {"-", "x", "?", "!", "*", "~"}
        or (bullet.endswith(".") and bullet[:-1].isdigit())
        or bullet in {"monitor:", "fact:", "rules:", "caution:", "source:"}
    )
    hang = indent + " " * (len(bullet) + 1) if is_marker else (indent or "  ")
    return textwrap.wrap(
        stripped,
        width=width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_on_hyphens=False,
        break_long_words=True,
    )


def _item_line(n: int | None, item: Json) -> list[str]:
    mark = f"{n}." if n is not None else "-"
    flag = ", after stabilisation" if item["after_stabilisation"] else ""
    return [
        f"  {mark} {option_label(item['option'])} ({item['strength']}{flag})",
        f"     {item['reason']}",
        *(f"     monitor: {m}" for m in item.get("monitoring", [])),
    ]


def plan_text(report: Report, sensitivity: list[Json] | None = None) -> list[str]:
    """The plan as text lines (not yet wrapped); ``sensitivity`` from
    :class:`trd_cds.engine.sensitivity.Sensitivity`, when asked for."""
    plan: Json = report.part("plan")
    lines: list[str] = []
    step = plan["next_step"]
    if step is not None:
        lines += [
            f"NEXT STEP: {option_label(step['option'])} ({step['strength']})",
            f"  {step['reason']}",
            "",
        ]
    n = 0
    for group, title, meaning, items in plan_groups(plan):
        lines.append(f"{title} — {meaning}")
        for item in items:
            if group == "throughout":
                lines += _item_line(None, item)
            else:
                n += 1
                lines += _item_line(n, item)
        lines.append("")
    if plan["overridden"]:
        lines.append("OVERRIDDEN — indicated but not recommended")
        lines += [f"  x {overridden_sentence(o)}" for o in plan["overridden"]]
        lines.append("")
    if plan["data_needed"]:
        lines.append("DATA NEEDED — not recorded, would change the advice")
        for d in plan["data_needed"]:
            where = f" [{d['pointer']}]" if d["pointer"] else ""
            lines.append(f"  ? {data_needed_sentence(d)}{where}")
        lines.append("")
    settings = report.part("provenance")["settings"]
    lines.append(
        "SETTINGS IN FORCE: " + ", ".join(f"{k} {_setting(v)}" for k, v in sorted(settings.items()))
    )
    lines.append("")
    if sensitivity is not None:
        lines.append("SENSITIVITY — the plan under documented alternative conventions")
        lines += [f"  ~ {sensitivity_sentence(e)}" for e in sensitivity]
        if not sensitivity:
            lines.append("  ~ no documented alternative would change the plan")
        lines.append("")
    return lines


def sensitivity_sentence(entry: Json) -> str:
    """``Under the 6-week adequacy convention (min_ad_weeks 6 instead of 4): TRD would not be
    established; Esketamine would not be recommended.``"""
    return (
        f"Under {entry['label']} ({entry['setting']} {_setting(entry['value'])} instead of "
        f"{_setting(entry['in_force'])}): " + "; ".join(entry["differences"]) + "."
    )


def _setting(value: object) -> str:
    if isinstance(value, list):
        return "/".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or list item."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def plan_markdown(report: Report) -> list[str]:
    """The plan as Markdown lines."""
    plan = report.part("plan")
    out: list[str] = []
    step = plan["next_step"]
    if step is not None:
        out += [
            f"## Next step: {option_label(step['option'])} ({step['strength']})",
            "",
            _md(step["reason"]),
            "",
        ]
    for group, title, meaning, items in plan_groups(plan):
        out += [f"### {title.capitalize()} — {meaning}", ""]
        for item in items:
            bullet = "-" if group == "throughout" else "1."
            flag = ", after stabilisation" if item["after_stabilisation"] else ""
            out.append(
                f"{bullet} **{option_label(item['option'])}** ({item['strength']}{flag}) — "
                f"{_md(item['reason'])} ({', '.join(f'`{r}`' for r in item['rules'])})"
            )
            out += [f"   - *Monitor:* {_md(m)}" for m in item.get("monitoring", [])]
        out.append("")
    if plan["overridden"]:
        out += ["### Overridden — indicated but not recommended", ""]
        out += [
            f"- {_md(overridden_sentence(o))} ({', '.join(f'`{r}`' for r in o['blocked_by'])})"
            for o in plan["overridden"]
        ]
        out.append("")
    if plan["data_needed"]:
        out += ["### Data needed", ""]
        for d in plan["data_needed"]:
            where = f" `{d['pointer']}`" if d["pointer"] else ""
            out.append(f"- {_md(data_needed_sentence(d))}{where}")
        out.append("")
    settings = report.part("provenance")["settings"]
    out += [
        "Settings in force: "
        + ", ".join(f"`{k}` {_md(_setting(v))}" for k, v in sorted(settings.items())),
        "",
    ]
    return out
