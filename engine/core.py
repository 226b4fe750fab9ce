"""The :class:`Engine`: parse once, evaluate many.

Building an engine loads, lints and compiles the rules into its own durable_rules host.
``evaluate`` validates the case (if given as data), derives the assessments, asserts the
facts in an isolated session, applies the conflict policy and returns a :class:`Report`.
Nothing is global: two engines share nothing, and an engine may be shared by threads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ..rules.loader import LoadedRule, Ruleset, load_ruleset
from ..schemas.canonical import canonical_json, sha256
from ..schemas.case import Case
from ..schemas.errors import EvaluationError, TrdCdsError
from ..schemas.report import Report
from ..schemas.settings import Settings
from .assessments import Assessment, assess
from .explain import build_context, build_index, derived_id, firing_conditions, why_not
from .facts import FactSet, build_facts
from .intake import parse_case as parse_case
from .policy import POLICY, apply
from .session import Firing, RuleHost


class UsageError(TrdCdsError, ValueError):
    """The library was called wrongly (e.g. a naive evaluation time)."""


def case_input_hash(case: Case) -> str:
    """sha256 of the validated case's canonical JSON, leaving out ``patient.id``.

    The patient id is an identifier, not a clinical fact (no rule can see it), so it stays out
    of the hash: the audit log's pseudonymised copy of a case reproduces the report byte for byte.
    """
    return sha256(canonical_json(case.model_dump(mode="json", exclude={"patient": {"id"}})))


def engine_version() -> str:
    try:
        return metadata.version("trd-cds")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class Engine:
    """A compiled ruleset, ready to evaluate cases.

    >>> engine = Engine()                                     # the bundled rules
    >>> report = engine.evaluate(case, at=datetime(2026, 11, 24, tzinfo=timezone.utc))
    """

    def __init__(
        self,
        ruleset: Ruleset | str | Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.ruleset = ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset)
        self.settings = settings or Settings()
        self._settings_json = json.loads(self.settings.model_dump_json())
        self._settings_hash = sha256(canonical_json(self._settings_json))
        self._version = engine_version()
        self._rules: dict[str, LoadedRule] = {r.rule.id: r for r in self.ruleset.active}
        definitions: dict[str, tuple[dict[str, Any], Any]] = {}
        for loaded in self.ruleset.active:
            fact_id = derived_id(loaded)
            derived = None
            if fact_id is not None:
                kind = "finding" if fact_id.startswith("finding-") else "gate"
                derived = (fact_id, {"type": kind, "name": loaded.rule.action.finding})
            definitions[loaded.rule.id] = (loaded.rule.when, derived)
        self._host = RuleHost(definitions)
        self._index = build_index(self.ruleset)

    @property
    def version(self) -> str:
        return self._version

    def evaluate(self, case: Case | Mapping[str, Any], at: datetime) -> Report:
        """Evaluate one case as of ``at`` (timezone-aware; never read from the clock here)."""
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise UsageError("evaluate(at=...) needs a timezone-aware datetime")
        model = parse_case(case)
        assessment = assess(model, at.date(), self.settings)
        factset = build_facts(model, assessment)
        firings, derived = self._host.run(factset.facts, model.case_id)
        try:
            return self._report(model, at, assessment, factset, firings, derived)
        except TrdCdsError:
            raise
        except Exception as exc:  # a bug in report building must still name the case
            raise EvaluationError(
                f"building the report failed: {type(exc).__name__}: {exc}", case_id=model.case_id
            ) from exc

    # ------------------------------------------------------------------ report

    def _report(
        self,
        case: Case,
        at: datetime,
        assessment: Assessment,
        factset: FactSet,
        firings: list[Firing],
        derived: dict[str, dict[str, Any]],
    ) -> Report:
        ctx = build_context(self._index, factset, derived, firings)
        outcome = apply(ctx)
        recommended = {r["option"] for r in outcome["recommendations"]}
        findings: list[dict[str, Any]] = [
            {
                "name": f.name,
                "value": f.value,
                "subject": f.subject,
                "detail": f.detail,
                "inputs": [{"pointer": p, "value": v} for p, v in f.inputs],
                "rules": [],
            }
            for f in assessment.findings
        ]
        for name, rules in sorted(outcome["derived_by"].items()):
            findings.append(
                {
                    "name": name,
                    "value": True,
                    "subject": None,
                    "detail": "derived by rules",
                    "inputs": [],
                    "rules": rules,
                }
            )
        trace = [
            {
                "rule": self._rules[f.rule_id].rule.ref,
                "action": self._rules[f.rule_id].rule.action.kind.value,
                "produces": _produces(self._rules[f.rule_id]),
                "conditions": firing_conditions(ctx, f),
            }
            for f in firings
        ]
        input_hash = case_input_hash(case)
        evaluated_at = at.isoformat()
        report_id = sha256(
            canonical_json(
                [
                    self._version,
                    self.ruleset.content_hash,
                    self._settings_hash,
                    input_hash,
                    evaluated_at,
                ]
            )
        ).replace("sha256:", "rpt-")[:36]
        data = {
            "case_id": case.case_id,
            "gates": outcome["gates"],
            "recommendations": outcome["recommendations"],
            "cautions": outcome["cautions"],
            "blocked": outcome["blocked"],
            "findings": findings,
            "trace": trace,
            "why_not": why_not(ctx, recommended, outcome["blocked_map"]),
            "provenance": {
                "report_id": report_id,
                "engine_version": self._version,
                "ruleset": {
                    "id": self.ruleset.header.id,
                    "version": self.ruleset.header.version,
                    "hash": self.ruleset.content_hash,
                },
                "settings": self._settings_json,
                "settings_hash": self._settings_hash,
                "input_hash": input_hash,
                "evaluated_at": evaluated_at,
                "conflict_policy": list(POLICY),
            },
        }
        return Report.model_validate(data)


def _produces(loaded: LoadedRule) -> list[str]:
    action = loaded.rule.action
    if action.options:
        return [o.value for o in action.options]
    return [f"{action.kind.value}:{action.finding}"]
