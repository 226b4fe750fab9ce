"""Trials, augmentations, psychotherapy and ECT onto the case (see :mod:`.medication`)."""

from __future__ import annotations

from datetime import date

from ...schemas.settings import Settings
from .builder import Builder
from .clinical import Score
from .errors import location
from .medication import (
    Course,
    courses,
    derive_outcome,
    ect_sessions,
    medication_uses,
    procedure_date,
    psychotherapy_sessions,
    weeks_between,
)
from .resources import PatientData
from .terminology import Terminology

MAX_WEEKS = 520


def map_trials(
    b: Builder,
    pd: PatientData,
    term: Terminology,
    onset: date | None,
    scores: list[Score],
    settings: Settings,
) -> None:
    uses = medication_uses(b, pd, term)
    all_courses = courses(uses, onset)
    trials = [c for c in all_courses if c.ingredient in term.antidepressants]
    for i, course in enumerate(trials):
        _trial(b, f"/antidepressant_trials/{i}", course, term, scores, settings)
    episodes_with_ad = {c.episode for c in trials}
    n = 0
    for course in all_courses:
        if course.ingredient not in term.augmenting:
            continue
        if course.episode not in episodes_with_ad:
            if not course.running(b.today):  # a running one is a current medication (below)
                b.keep_unmapped(
                    "medications", {"drug": course.ingredient, "source": course.uses[0].product.at}
                )
            continue
        ptr = f"/augmentations/{n}"
        b.data.setdefault("augmentations", []).append({})
        b.set(f"{ptr}/agent", term.augmenting[course.ingredient], course.uses[0].product.at)
        b.set(f"{ptr}/drug", course.ingredient, course.uses[0].product.at)
        b.set(f"{ptr}/episode", course.episode, course.uses[0].start_at)
        b.need(
            f"{ptr}/outcome",
            "the outcome of the augmentation",
            "FHIR records the order, not its effect",
        )
        n += 1
    current_medications(b, [c for c in all_courses if c.running(b.today)], term, b.today)


def current_medications(b: Builder, running: list[Course], term: Terminology, today: date) -> None:
    """Antidepressant, antipsychotic, lithium, valproate (… any classed psychotropic) courses
    still running at ``today`` → ``current_medications`` (drug, class, total daily dose): active
    orders and statements, and supplies or periods that reach past ``today`` (a 90-day
    dispense handed over last week is being taken now).

    The daily dose is the largest stated by a running resource of the course (the current
    regimen; a closed earlier order does not count); unknown unit or frequency → not recorded.
    """
    n = 0
    for c in sorted(running, key=lambda c: c.ingredient):
        cls = term.medication_class(c.ingredient)
        if cls is None:  # pragma: no cover - courses only hold classed ingredients
            continue
        ptr = f"/current_medications/{n}"
        n += 1
        first = next(u for u in c.uses if u.running(today))
        b.data.setdefault("current_medications", []).append({})
        b.set(f"{ptr}/drug", c.ingredient, first.product.at)
        b.set(f"{ptr}/drug_class", cls, first.product.at)
        dosed = [u for u in c.uses if u.running(today) and u.daily_mg is not None]
        if dosed:
            use = max(dosed, key=lambda u: u.daily_mg or 0.0)
            b.derive(f"{ptr}/dose_mg_per_day", use.daily_mg, f"dose {use.dose_rule}", [use.dose_at])
            b.set(f"{ptr}/dose_mg_per_day", use.daily_mg, use.dose_at)
        else:
            b.need(
                f"{ptr}/dose_mg_per_day",
                f"the current total daily dose of {c.ingredient}",
                "no active dosage with a known unit and frequency",
            )


def _trial(
    b: Builder,
    ptr: str,
    course: Course,
    term: Terminology,
    scores: list[Score],
    settings: Settings,
) -> None:
    b.data.setdefault("antidepressant_trials", []).append({})
    first = course.uses[0]
    b.set(f"{ptr}/drug", course.ingredient, first.product.at)
    b.set(f"{ptr}/drug_class", term.antidepressants[course.ingredient], first.product.at)
    b.set(
        f"{ptr}/episode",
        course.episode,
        first.start_at if course.start is not None else first.product.at,
    )
    if course.start is None:
        b.need(
            f"{ptr}/episode",
            f"when {course.ingredient} was taken",
            "the medication resources carry no dates: taken as the current episode",
        )
    # a supply or period reaching past the evaluation date (a 90-day dispense last week) is
    # a course still running: counted to the evaluation date, its outcome not known yet
    running = course.running(b.today)
    _weeks(b, ptr, course, running)
    _dose(b, ptr, course, term)
    adherence = [(u.adherence, u.adherence_at) for u in course.uses if u.adherence]
    if adherence:
        value, at = sorted(adherence, key=lambda t: ("good", "partial", "poor").index(t[0]))[-1]
        b.set(f"{ptr}/adherence", value, at)
    else:
        b.need(
            f"{ptr}/adherence",
            f"adherence to {course.ingredient} (≥ 80 % of doses taken?)",
            "no medication-adherence extension recorded",
        )
    outcome_field(
        b, ptr, running, course.start, course.end, scores, settings, what=course.ingredient
    )


def outcome_field(
    b: Builder,
    ptr: str,
    is_open: bool,
    start: date | None,
    end: date | None,
    scores: list[Score],
    settings: Settings,
    what: str,
) -> None:
    """The outcome of a trial: ``ongoing`` while open; derived from scores inside a closed
    window; otherwise *not recorded*. Case schema v2 still requires the outcome of an
    antidepressant, ECT or psychotherapy trial (only an augmentation's is optional) and has no
    'not recorded' value, so it is entered as ``ongoing`` (never counted as a failure) with a
    data-needed item."""
    if is_open:
        b.set(f"{ptr}/outcome", "ongoing", "")
        b.provenance.pop(f"{ptr}/outcome")
        return
    outcome, rule, inputs = derive_outcome(scores, start, end, settings)
    if outcome is not None:
        b.derive(f"{ptr}/outcome", outcome, rule, inputs)
        b.set(f"{ptr}/outcome", outcome, inputs[-1])
        return
    b.data_at(ptr)["outcome"] = "ongoing"
    b.need(
        f"{ptr}/outcome",
        f"the outcome of {what} (response, remission, no response, stopped for intolerance)",
        "no two PHQ-9 totals inside the trial window; entered as "
        "'ongoing' (case schema v2 requires an outcome and has no 'not recorded'), which "
        "never counts as a failure",
    )


def _weeks(b: Builder, ptr: str, course: Course, running: bool) -> None:
    start = course.start
    end = b.today if running else course.end
    if start is None or end is None:
        b.need(
            f"{ptr}/weeks_at_dose",
            f"weeks on {course.ingredient} at the therapeutic dose",
            "start or end of the medication period not recorded",
        )
        return
    weeks = weeks_between(start, end)
    s = min((u for u in course.uses if u.start), key=lambda u: u.start or date.min)
    inputs = [s.start_at] + (
        []
        if course.open
        else [max((u for u in course.uses if u.end), key=lambda u: u.end or date.min).end_at]
    )
    note = ""
    if course.open:
        note = " (still active: evaluation date)"
    elif running:
        note = f" (runs to {course.end}, after the evaluation date: counted to it)"
    rule = f"{start} → {end}{note} = {weeks:g} weeks"
    if weeks > MAX_WEEKS or weeks < 0:
        b.need(
            f"{ptr}/weeks_at_dose",
            f"weeks on {course.ingredient} at the therapeutic dose",
            f"{rule}: not plausible as one trial, confirm",
        )
        return
    b.derive(f"{ptr}/weeks_at_dose", weeks, rule + " (weeks on drug)", inputs)
    b.set(f"{ptr}/weeks_at_dose", weeks, inputs[0])


def _dose(b: Builder, ptr: str, course: Course, term: Terminology) -> None:
    dosed = [u for u in course.uses if u.daily_mg is not None]
    minimum = term.min_doses.get(course.ingredient)
    if minimum is not None and any(u.product.extended_release for u in course.uses):
        minimum = term.extended_release_min.get(course.ingredient, minimum)
    if not dosed or minimum is None:
        b.need(
            f"{ptr}/dose_adequate",
            f"the total daily dose of {course.ingredient}",
            "no dose with a known unit and frequency"
            if minimum is not None
            else f"no minimum dose for {course.ingredient} in the table",
        )
        return
    use = max(dosed, key=lambda u: u.daily_mg or 0.0)
    daily = use.daily_mg or 0.0
    adequate = daily >= minimum
    rule = (
        f"dose {use.dose_rule}; {'≥' if adequate else '<'} table minimum {minimum:g} mg/day "
        f"({term.dose_source})"
    )
    b.derive(f"{ptr}/dose_adequate", adequate, rule, [use.dose_at])
    b.set(f"{ptr}/dose_adequate", adequate, use.dose_at)


def map_procedures(
    b: Builder,
    pd: PatientData,
    term: Terminology,
    scores: list[Score],
    settings: Settings,
    onset: date | None = None,
) -> None:
    n = 0
    for modality, coded in sorted(psychotherapy_sessions(pd, term).items()):
        # a session dated after the evaluation date had not happened: not counted
        later = [p for p in coded if (procedure_date(p) or date.min) > b.today]
        if later:
            b.keep_unmapped(
                "psychotherapy_procedures", [location(p, "/performedDateTime") for p in later]
            )
        procs = [p for p in coded if p not in later]
        if not procs:
            continue
        days = sorted(d for d in (procedure_date(p) for p in procs) if d)
        if not days:
            b.keep_unmapped("psychotherapy_procedures", [location(p, "/code") for p in procs])
            b.need(
                "/psychotherapy_trials",
                f"dates, weeks and outcome of {modality} psychotherapy (TRD questionnaire)",
                "the coded sessions are undated",
            )
            continue
        ptr = f"/psychotherapy_trials/{n}"
        n += 1
        b.data.setdefault("psychotherapy_trials", []).append({})
        b.set(f"{ptr}/modality", modality, location(procs[0], "/code"))
        b.derive(
            f"{ptr}/sessions",
            len(procs),
            "count of completed Procedures",
            [location(p, "/status") for p in procs],
        )
        b.set(f"{ptr}/sessions", len(procs), location(procs[0], "/status"))
        weeks = weeks_between(days[0], days[-1])
        b.derive(
            f"{ptr}/weeks",
            weeks,
            f"first session {days[0]} → last {days[-1]}",
            [location(p, "/performedDateTime") for p in procs],
        )
        b.set(f"{ptr}/weeks", weeks, location(procs[0], "/performedDateTime"))
        episode = "previous" if onset is not None and days[-1] < onset else "current"
        b.set(f"{ptr}/episode", episode, location(procs[0], "/code"))
        outcome_field(
            b, ptr, False, days[0], days[-1], scores, settings, what=f"{modality} psychotherapy"
        )
    ect = ect_sessions(pd, term)
    if ect:
        b.keep_unmapped("ect_procedures", [location(p, "/code") for p in ect])
        b.need(
            "/ect_courses",
            "ECT laterality and outcome (TRD questionnaire)",
            f"{len(ect)} ECT session(s) coded, but laterality and outcome are not",
        )
