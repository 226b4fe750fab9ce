"""FHIR → case: :func:`case_from_fhir`, and report pointers rewritten into FHIR.

The case is built from the selected resources of one patient (see :mod:`.resources`), then
the TRD QuestionnaireResponse (if any) fills what FHIR has no place for, and the result is
validated by the case schema like any case file. Alongside the case come its provenance (case
JSON pointer → ``ResourceType/id#/path``), the derivations (values computed from several
elements, with their inputs) and the data-needed items (what FHIR could not supply).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ...engine.core import parse_case
from ...schemas.case import Case
from ...schemas.errors import CaseError
from ...schemas.report import rewrite_pointers
from ...schemas.settings import Settings
from .builder import Builder, DataNeeded, Derivation
from .clinical import (
    Score,
    map_conditions,
    map_cssrs,
    map_patient,
    map_pregnancy_status,
    phq9_scores,
)
from .errors import FhirError, location
from .questionnaire import apply_response, is_trd_response
from .resources import group_by_patient, iter_resources, select
from .terminology import terminology
from .trials import map_procedures, map_trials
from .util import recorded_at


@dataclass(frozen=True)
class FhirCase:
    """A case derived from FHIR, with where each value came from and what is missing."""

    case: Case
    provenance: dict[str, str]
    data_needed: list[DataNeeded]
    derivations: list[Derivation] = field(default_factory=list)
    #: FHIR facts read but not put in the case (by kind), with their source and why
    unmapped: dict[str, list[Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case.model_dump(mode="json", exclude_none=True),
            "provenance": dict(sorted(self.provenance.items())),
            "derivations": [d.to_json() for d in self.derivations],
            "data_needed": [n.to_json() for n in self.data_needed],
            "not_used": self.unmapped,
        }


def patient_ids(data: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the patients in FHIR content (Patient resources and subject references)."""
    return sorted(k for k in group_by_patient(iter_resources(data)) if k)


def case_from_fhir(
    data: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    at: datetime,
    patient: str | None = None,
    settings: Settings | None = None,
    source: str = "<fhir>",
) -> FhirCase:
    """A case from a FHIR Bundle, a single resource or a list of resources.

    ``at`` is the evaluation time (ages, open medication periods and 'future' scores are judged
    against its date; never the clock). ``patient`` picks one patient from multi-patient
    content; with several patients and no ``patient`` a :class:`FhirError` lists them.
    """
    try:
        groups = group_by_patient(iter_resources(data))
    except FhirError as exc:
        raise FhirError(source, exc.errors) from None
    ids = sorted(k for k in groups if k)
    if patient is None:
        if len(ids) != 1:
            raise FhirError(
                source,
                [
                    (
                        "/",
                        f"{len(ids)} patients ({', '.join(ids[:10])}"
                        f"{', …' if len(ids) > 10 else ''}): pick one with patient=",
                    )
                ],
            )
        patient = ids[0]
    elif patient not in groups:
        raise FhirError(source, [("/", f"no patient {patient!r} (patients: {', '.join(ids)})")])
    return case_from_resources(
        groups[patient], patient, groups.get("", []), at=at, settings=settings, source=source
    )


def case_from_resources(
    resources: list[dict[str, Any]],
    patient: str,
    shared: list[dict[str, Any]],
    *,
    at: datetime,
    settings: Settings | None = None,
    source: str = "<fhir>",
) -> FhirCase:
    """The case of one patient from that patient's resources (plus shared Medications)."""
    try:
        return _case(resources, patient, shared, at, settings or Settings(), source)
    except FhirError as exc:
        if exc.source in ("<fhir>", f"Patient/{patient}") and source != "<fhir>":
            raise FhirError(source, exc.errors) from None
        raise


def _case(
    resources: list[dict[str, Any]],
    patient: str,
    shared: list[dict[str, Any]],
    at: datetime,
    settings: Settings,
    source: str,
) -> FhirCase:
    term = terminology()
    pd = select(resources, patient, shared)
    b = Builder(today=at.date())
    b.set("/case_id", "fhir-" + re.sub(r"[^A-Za-z0-9._:-]", "-", patient)[:120], "")
    b.provenance.pop("/case_id")
    map_patient(b, pd, patient)
    dx = map_conditions(b, pd, term)
    scores = phq9_scores(pd, term)
    map_measurements(b, scores, dx.onset)
    map_cssrs(b, pd, term)
    map_pregnancy_status(b, pd, term)
    map_trials(b, pd, term, dx.onset, scores, settings)
    map_procedures(b, pd, term, scores, settings, dx.onset)
    responses = [
        (recorded_at(qr.get("authored"), b.today), i, qr)
        for i, qr in enumerate(pd.of("QuestionnaireResponse"))
        if is_trd_response(qr) and qr.get("status") in ("completed", "amended")
    ]
    for _when, _, qr in sorted((r for r in responses if r[0] is not None), key=lambda r: r[:2]):
        apply_response(b, qr)
    for when, _, qr in responses:
        if when is None:  # answered after the evaluation date: not known then
            b.keep_unmapped(
                "trd_questionnaire",
                {"source": location(qr, "/authored"), "why": "dated after the evaluation date"},
            )
    _required_and_safety(b)
    try:
        case = parse_case(b.data, source=source)
    except CaseError as exc:
        raise FhirError(
            source, [(b.provenance.get(path) or f"case{path}", msg) for path, msg in exc.errors]
        ) from None
    return FhirCase(case, b.provenance, b.needed, b.derivations, b.unmapped)


def score_usable(day: date | None, onset: date | None, today: date) -> bool:
    """A score can stand for the episode: dated, not after the evaluation date, not before the
    episode onset (when known). Whether it is *current enough* is not judged here: the score
    keeps its date and the engine compares it with the evaluation time
    (``score_current_max_days``, §11.5), so an old score is shown, never used as current."""
    return day is not None and day <= today and (onset is None or day >= onset)


def map_measurements(b: Builder, scores: list[Score], onset: date | None) -> None:
    """PHQ-9 baseline (earliest) and current (latest) totals of the current episode, each with
    its date; item 9 on the same administration goes with its total.

    PHQ-9 item 9 recorded without a total (schema v2) is the current PHQ-9 when there is no
    usable total, or when it is newer than the latest total and positive (a positive answer
    is never dropped for an older total); otherwise it is kept aside with a note."""
    usable = sorted(
        (s for s in scores if s.total is not None and score_usable(s.day, onset, b.today)),
        key=lambda s: (s.day or date.min, s.key),
    )
    skipped = [s for s in scores if s.total is not None and s not in usable]
    if skipped:
        b.notes.append(
            f"{len(skipped)} PHQ-9 total(s) undated, in the future or before the "
            "episode onset: not used"
        )
    alone = item9_only(b, [s for s in scores if s.total is None], onset)
    if alone is not None and usable:
        latest = usable[-1]
        newer = (alone.day or date.min) > (latest.day or date.min)
        if not (newer and (alone.item9 or 0) >= 1):
            b.keep_unmapped(
                "phq9_item9_without_total",
                {
                    "item9": alone.item9,
                    "source": alone.item9_at,
                    "why": "newer than the latest total but 0: the total stays current"
                    if newer
                    else "the latest total is as recent",
                },
            )
            alone = None
    if not usable and alone is None:
        b.need(
            "/measurements",
            "a current PHQ-9 (or MADRS, HAM-D17, QIDS-SR16) score",
            "no dated PHQ-9 total in the current episode",
        )
        return
    chosen: list[tuple[str, Score]] = []
    current = alone if alone is not None else usable[-1]
    if usable and usable[0].day != current.day:
        chosen.append(("baseline", usable[0]))
    chosen.append(("current", current))
    for i, (timepoint, s) in enumerate(chosen):
        ptr = f"/measurements/{i}"
        b.data.setdefault("measurements", []).append({})
        anchor = s.total_at if s.total is not None else s.item9_at
        b.set(f"{ptr}/instrument", "phq9", anchor)
        b.set(f"{ptr}/timepoint", timepoint, anchor)
        if s.total is not None:
            b.set(f"{ptr}/score", s.total, s.total_at)
        b.set(f"{ptr}/date", (s.day or date.min).isoformat(), s.date_at or anchor)
        if s.item9 is not None and s.total is not None and s.item9 > s.total:
            # a suicidal-thoughts answer is never dropped for a total that cannot be right
            raise FhirError(
                "<fhir>",
                [(s.item9_at, f"item 9 ({s.item9}) exceeds the total {s.total} ({s.total_at})")],
            )
        if s.item9 is not None:
            b.set(f"{ptr}/item9", s.item9, s.item9_at)
    if alone is not None:
        b.need(
            "/measurements",
            "a current PHQ-9 total score",
            "the latest PHQ-9 records item 9 without a total",
        )


def item9_only(b: Builder, scores: list[Score], onset: date | None) -> Score | None:
    """The latest usable PHQ-9 item 9 recorded without a total (schema v2 holds it as a PHQ-9
    measurement without ``score``); undated or out-of-episode ones are kept aside."""
    alone = [s for s in scores if s.item9 is not None]
    usable = sorted(
        (s for s in alone if score_usable(s.day, onset, b.today)),
        key=lambda s: (s.day or date.min, s.key),
    )
    for s in alone:
        if s not in usable[-1:]:
            b.keep_unmapped(
                "phq9_item9_without_total",
                {
                    "item9": s.item9,
                    "source": s.item9_at,
                    "why": "older than another item 9"
                    if s in usable
                    else "undated, in the future or before the episode onset",
                },
            )
    return usable[-1] if usable else None


def _required_and_safety(b: Builder) -> None:
    if "primary" not in b.data.get("diagnosis", {}):
        raise FhirError(
            "<fhir>",
            [
                (
                    "Condition",
                    "no active depressive or bipolar disorder coded (and no /diagnosis/primary "
                    "in the TRD questionnaire): not a case for the TRD engine",
                )
            ],
        )
    episode = b.data.setdefault("episode", {})
    if "onset_date" not in episode and "duration_months" not in episode:
        raise FhirError(
            "<fhir>",
            [
                (
                    b.provenance.get("/diagnosis/primary") or "Condition",
                    "episode onset not recorded: give the depression Condition an onsetDateTime or "
                    "answer /episode/onset_date in the TRD questionnaire",
                )
            ],
        )
    risk = b.data.get("suicide_risk", {})
    item9 = any("item9" in m for m in b.data.get("measurements", []))
    if not risk.get("cssrs") and risk.get("clinician_judges_imminent_risk") is None and not item9:
        b.need(
            "/suicide_risk",
            "suicide risk: ask directly (C-SSRS screener or PHQ-9 item 9)",
            "no C-SSRS, PHQ-9 item 9 or clinician judgement recorded (NG222 1.2.8)",
        )


def rewrite_report_pointers(report: Any, provenance: Mapping[str, str]) -> Any:
    """A copy of a report (plain JSON data) whose evidence pointers point into the FHIR
    resources: every ``pointer`` (recommendation/block/caution/gate evidence, finding inputs,
    trace conditions, why-not) is looked up in the provenance map, exactly or by its nearest
    ancestor; pointers FHIR did not supply stay case pointers. (``Engine.evaluate(...,
    sources=provenance)`` does the same inside the engine and records the map.)"""
    return rewrite_pointers(report, provenance)
