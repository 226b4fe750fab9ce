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
from typing import Any

from ..schemas.case import Case
from ..schemas.report import Report
from ..schemas.settings import Settings
from .core import Engine
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


def _key_findings(report: Report) -> dict[str, Any]:
    return {
        f["name"]: f["value"]
        for f in report.part("findings")
        if f["subject"] is None and f["name"] in _FINDINGS
    }


def differences(base: Report, other: Report) -> list[str]:
    """How ``other``'s plan differs from ``base``'s, in words (empty when it does not)."""
    out: list[str] = []
    before, after = _key_findings(base), _key_findings(other)
    for name, (yes, no) in _FINDINGS.items():
        if name in before and name in after and before[name] != after[name]:
            out.append(yes if after[name] else no)
    recs_before = [r["option"] for r in base.part("recommendations")]
    recs_after = [r["option"] for r in other.part("recommendations")]
    removed = [o for o in recs_before if o not in recs_after]
    added = [o for o in recs_after if o not in recs_before]
    if removed:
        out.append(", ".join(option_label(o) for o in removed) + " would not be recommended")
    if added:
        out.append(", ".join(option_label(o) for o in added) + " would be recommended")
    step_before = base.part("plan")["next_step"]
    step_after = other.part("plan")["next_step"]
    if (step_before or {}).get("option") != (step_after or {}).get("option"):
        out.append(
            "the next step would be "
            + (option_label(step_after["option"]) if step_after else "none")
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
        for alt in self.alternatives:
            other = self._engine(alt).evaluate(case, at=at)
            diff = differences(report, other)
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
