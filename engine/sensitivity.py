"""Threshold sensitivity: would the plan differ under a documented alternative convention?

Some settings are conventions with a published alternative (``domain-reference.md`` §10,
§11.1, §11.5): an adequate antidepressant trial of 4 or 6 weeks at dose; MADRS remission at
≤ 10 or ≤ 12; a "current" score no older than 14, 28 or 56 days; ECT for severe depression
only (NICE NG222 1.13.1) or after multiple failures whatever the severity (VA/DoD 2022).
:class:`Sensitivity` evaluates a case again under each alternative (sharing the engine's
compiled rules: ``Engine.with_settings``) and reports, in words, where the plan would differ.

Opt-in for library callers (the report itself is unchanged); the CLI turns it on for its text
and HTML output. Alternatives whose setting the :class:`Settings` model does not have are
skipped, so the table can name settings other work adds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..schemas.case import Case
from ..schemas.report import Report
from ..schemas.settings import Settings
from .core import Engine, report_findings
from .plan import groups, next_step
from .render_plan import option_label

Json = dict[str, Any]


@dataclass(frozen=True)
class Alternative:
    setting: str
    value: Any
    label: str  # "the 6-week adequacy convention (MGH-ATRQ)"


#: Documented alternatives to the default conventions (§10, §11.5).
ALTERNATIVES: tuple[Alternative, ...] = (
    Alternative("min_ad_weeks", 6.0, "the 6-week adequacy convention (MGH-ATRQ)"),
    Alternative("min_ad_weeks", 4.0, "the 4-week adequacy convention (NICE NG222 1.9.1)"),
    Alternative("remission_max_madrs", 12, "MADRS remission at 12 or less"),
    Alternative("remission_max_madrs", 10, "MADRS remission at 10 or less (Hawley 2002)"),
    Alternative("score_current_max_days", 14, "the strict 14-day score currency"),
    Alternative("score_current_max_days", 56, "the lenient 56-day score currency"),
    Alternative(
        "ect_moderate_after_multiple_failures",
        True,
        "the VA/DoD 2022 reading of ECT (after multiple failures, no severity bound)",
    ),
    Alternative(
        "ect_moderate_after_multiple_failures",
        False,
        "the NICE NG222 1.13.1 reading of ECT (severe depression only)",
    ),
)

#: Findings whose change is worth a sentence, with how to say it.
_FINDINGS = {
    "trd_2": ("TRD would be established", "TRD would not be established"),
    "in_remission": ("the person would count as in remission", "remission would not be met"),
    "inadequate_response": (
        "an inadequate response would be established",
        "an inadequate response would not be established",
    ),
}


class Summary(NamedTuple):
    """What a difference is read from: the key findings, the options in order, the next step."""

    findings: dict[str, Any]
    options: list[str]
    next_step: str | None


def _summary(findings: list[Json], recommendations: list[Json], step: Json | None) -> Summary:
    return Summary(
        {
            f["name"]: f["value"]
            for f in findings
            if f["subject"] is None and f["name"] in _FINDINGS
        },
        [r["option"] for r in recommendations],
        step["option"] if step else None,
    )


def summary(report: Report) -> Summary:
    """A report's summary (its plain data: no explanation is computed)."""
    return _summary(
        report.part("findings"), report.part("recommendations"), report.part("plan")["next_step"]
    )


def decide(engine: Engine, case: Case | dict[str, Any], at: datetime) -> Summary:
    """The summary of the report ``engine`` would give, without building the report: the
    decision and the plan's next step, no data-needed list, ladder or explanations."""
    _, assessment, outcome, _ = engine._decide(case, at)
    grouped, _ = groups(outcome.recommendations, outcome.deferring)
    return _summary(
        report_findings(assessment, outcome), outcome.recommendations, next_step(grouped)
    )


def differences(base: Report | Summary, other: Report | Summary) -> list[str]:
    """How ``other``'s plan differs from ``base``'s, in words (empty when it does not)."""
    before = base if isinstance(base, Summary) else summary(base)
    after = other if isinstance(other, Summary) else summary(other)
    out: list[str] = []
    for name, (yes, no) in _FINDINGS.items():
        if name not in before.findings or name not in after.findings:
            continue
        if before.findings[name] != after.findings[name]:
            out.append(yes if after.findings[name] else no)
    removed = [o for o in before.options if o not in after.options]
    added = [o for o in after.options if o not in before.options]
    if removed:
        out.append(", ".join(option_label(o) for o in removed) + " would not be recommended")
    if added:
        out.append(", ".join(option_label(o) for o in added) + " would be recommended")
    if before.next_step != after.next_step:
        out.append(
            "the next step would be "
            + (option_label(after.next_step) if after.next_step else "none")
        )
    return out


class Sensitivity:
    """Evaluate a case under each documented alternative to the engine's settings."""

    def __init__(self, engine: Engine, alternatives: tuple[Alternative, ...] = ALTERNATIVES):
        self.engine = engine
        fields = Settings.model_fields
        current = engine.settings
        self.alternatives = tuple(
            a
            for a in alternatives
            if a.setting in fields and getattr(current, a.setting) != a.value
        )
        self._engines: dict[tuple[str, Any], Engine] = {}
        self._lock = threading.Lock()

    def _engine(self, alt: Alternative) -> Engine:
        key = (alt.setting, alt.value)
        with self._lock:
            found = self._engines.get(key)
            if found is None:
                data = {**self.engine.settings.model_dump(), alt.setting: alt.value}
                settings = Settings.model_validate(data)
                found = self._engines[key] = self.engine.with_settings(settings)
            return found

    def check(self, case: Case | dict[str, Any], at: datetime, report: Report) -> list[Json]:
        """Each alternative under which the plan would differ, with the differences."""
        out: list[Json] = []
        base = summary(report)
        for alt in self.alternatives:
            diff = differences(base, decide(self._engine(alt), case, at))
            if diff:
                out.append(
                    {
                        "setting": alt.setting,
                        "value": alt.value,
                        "in_force": getattr(self.engine.settings, alt.setting),
                        "label": alt.label,
                        "differences": diff,
                    }
                )
        return out
