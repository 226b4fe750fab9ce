"""The :class:`Engine`: parse once, evaluate many.

Building an engine loads, lints and compiles the rules into its own durable_rules host.
``evaluate`` validates the case (if given as data), derives the assessments, asserts the
facts in an isolated session, applies the conflict policy and returns a :class:`Report`.
Nothing is global: two engines share nothing, and an engine may be shared by threads.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..rules.loader import Ruleset, load_ruleset
from ..schemas.canonical import canonical_json, sha256, sha256_bytes
from ..schemas.case import Case
from ..schemas.errors import EvaluationError, TrdCdsError
from ..schemas.report import DISCLAIMER, LAZY_PARTS, Report, rewrite_pointers
from ..schemas.settings import Settings
from ..schemas.version import VERSION
from .assessments import Assessment, assess
from .explain import Context, build_index, derived_id
from .facts import build_facts
from .intake import parse_case as parse_case
from .plan import build_plan
from .policy import POLICY, Outcome, apply
from .session import RuleHost


class UsageError(TrdCdsError, ValueError):
    """The library was called wrongly (e.g. a naive evaluation time)."""

    exit_code = 2


def case_input_hash(case: Case) -> str:
    """sha256 of the validated case's canonical JSON, leaving out ``patient.id``.

    The patient id is an identifier, not a clinical fact (no rule can see it), so it stays out
    of the hash: the audit log's pseudonymised copy of a case reproduces the report byte for byte.
    """
    text = case.model_dump_json(exclude={"patient": {"id"}})
    try:
        return sha256_bytes(orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS))
    except orjson.JSONDecodeError:  # an integer beyond 64 bits: the standard library's form
        return sha256(canonical_json(json.loads(text)))


@contextlib.contextmanager
def _naming(case_id: str, what: str) -> Iterator[None]:
    """A bug while ``what`` still names the case (our own errors pass as they are)."""
    try:
        yield
    except TrdCdsError:
        raise
    except Exception as exc:
        raise EvaluationError(
            f"{what} failed: {type(exc).__name__}: {exc}", case_id=case_id
        ) from exc


def report_findings(assessment: Assessment, outcome: Outcome) -> list[dict[str, Any]]:
    """The report's findings: the assessments', then those derived by rules."""
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
    for name, rules in sorted(outcome.derived_by.items()):
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
    return findings


def engine_version() -> str:
    """The trd-cds version written into each report (the distribution's version too)."""
    return VERSION


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
        self._ruleset_ref = {
            "id": self.ruleset.header.id,
            "version": self.ruleset.header.version,
            "hash": self.ruleset.content_hash,
        }
        definitions: dict[str, tuple[dict[str, Any], Any]] = {}
        for loaded in self.ruleset.active:
            fact_id = derived_id(loaded)
            derived = None
            if fact_id is not None:
                kind = "finding" if fact_id.startswith("finding-") else "gate"
                derived = (fact_id, {"type": kind, "name": loaded.rule.action.finding})
            definitions[loaded.rule.id] = (loaded.compiled, derived)
        self._host = RuleHost(definitions)
        self._index = build_index(self.ruleset)

    @property
    def version(self) -> str:
        return self._version

    def with_settings(self, settings: Settings) -> Engine:
        """An engine over the same compiled rules with other settings. Settings change only
        the assessments (thresholds), never the compiled conditions, so the durable_rules host
        and the rule index are shared (the host's lock keeps one live session at a time)."""
        other = copy.copy(self)
        other.settings = settings
        other._settings_json = json.loads(settings.model_dump_json())
        other._settings_hash = sha256(canonical_json(other._settings_json))
        return other

    def evaluate(
        self,
        case: Case | Mapping[str, Any],
        at: datetime,
        *,
        sources: Mapping[str, str] | None = None,
    ) -> Report:
        """Evaluate one case as of ``at`` (timezone-aware; never read from the clock here).

        The decision (gates, recommendations, cautions, blocks, findings, provenance) is
        computed now; the condition-level trace and why-not when first asked for.

        ``sources`` (for a case derived from other data, e.g. FHIR): case JSON pointer ->
        where the value came from; every evidence pointer in the report is rewritten through
        it, and the map is recorded in ``provenance.input_sources`` (so a replay reproduces it).
        """
        model, assessment, outcome, ctx = self._decide(case, at)
        with _naming(model.case_id, "building the report"):
            data = self._decision(model, at, assessment, outcome, ctx, sources)

        def explain() -> dict[str, Any]:
            with _naming(model.case_id, "building the explanation"):
                parts = {
                    "trace": ctx.trace(),
                    "why_not": ctx.why_not(outcome.recommended(), outcome.blocked_map),
                }
            assert tuple(parts) == LAZY_PARTS
            return parts if not sources else rewrite_pointers(parts, sources)

        if sources:
            data = rewrite_pointers(data, sources)
            data["provenance"]["input_sources"] = dict(sorted(sources.items()))
        return Report(data, explain)

    def _decide(
        self, case: Case | Mapping[str, Any], at: datetime
    ) -> tuple[Case, Assessment, Outcome, Context]:
        """The pipeline up to the conflict policy: validated case, assessments, outcome and
        the evaluation context (what :meth:`evaluate` builds its report from, and what
        threshold sensitivity compares without building a plan)."""
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise UsageError("evaluate(at=...) needs a timezone-aware datetime")
        model = parse_case(case)
        assessment = assess(model, at.date(), self.settings)
        factset = build_facts(model, assessment)
        firings, derived = self._host.run(factset.facts, model.case_id)
        with _naming(model.case_id, "building the report"):
            ctx = Context(self._index, factset, derived, firings)
            return model, assessment, apply(ctx), ctx

    # ------------------------------------------------------------------ report

    def _decision(
        self,
        case: Case,
        at: datetime,
        assessment: Assessment,
        outcome: Outcome,
        ctx: Context,
        sources: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        findings = report_findings(assessment, outcome)
        input_hash = case_input_hash(case)
        evaluated_at = at.isoformat()
        identity: list[Any] = [
            self._version,
            self.ruleset.content_hash,
            self._settings_hash,
            input_hash,
            evaluated_at,
        ]
        if sources:  # the same case from other data is another report
            identity.append(dict(sorted(sources.items())))
        report_id = sha256(canonical_json(identity)).replace("sha256:", "rpt-")[:36]
        return {
            "case_id": case.case_id,
            "plan": build_plan(outcome, ctx, findings),
            "gates": outcome.gates,
            "recommendations": outcome.recommendations,
            "cautions": outcome.cautions,
            "blocked": outcome.blocked,
            "findings": findings,
            "provenance": {
                "report_id": report_id,
                "engine_version": self._version,
                "ruleset": dict(self._ruleset_ref),
                "settings": self._settings_json,
                "settings_hash": self._settings_hash,
                "input_hash": input_hash,
                "evaluated_at": evaluated_at,
                "conflict_policy": list(POLICY),
            },
            "disclaimer": DISCLAIMER,
        }
