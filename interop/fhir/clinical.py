"""Patient, Conditions, scores (Observations and QuestionnaireResponses) and the C-SSRS.

Only what is recorded becomes a fact: an absent Condition leaves its case field *not recorded*
(``None``), never ``false``. Current disorders need an active, not refuted Condition; a history
(seizures, implants, haemorrhage) counts whatever its clinical status. Where the date decides
(schema v2: non-suicidal self-injury, a cardiovascular event within 6 weeks) the Condition's
dates are read as :func:`map_nssi` and :func:`map_cardiovascular_events` say, and an undated
one is data needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ...engine.assessments import months_before
from .builder import Builder
from .errors import FhirError, location
from .resources import PatientData, Resource
from .terminology import LOINC, Terminology
from .util import codings, completed_years, fhir_date, recorded_at, status_code

#: case pointer set to true by an active Condition in the ValueSet
ACTIVE_CONDITION_FIELDS: dict[str, str] = {
    "anxiety": "/comorbidities/anxiety_disorder",
    "ptsd": "/comorbidities/ptsd",
    "substance-use": "/comorbidities/substance_use_disorder",
    "alcohol-use": "/comorbidities/alcohol_use_disorder",
    "chronic-pain": "/comorbidities/chronic_pain_or_illness",
    "catatonia": "/diagnosis/catatonic_features",
    "social-isolation": "/psychosocial/social_isolation",
    "pregnancy": "/patient/pregnant",
    "mutism": "/diagnosis/mute",
    "weight-loss": "/clinical_features/significant_weight_loss",
}
#: ... by any Condition in the ValueSet (a history counts)
HISTORY_CONDITION_FIELDS: dict[str, str] = {
    "seizure-history": "/comorbidities/seizure_history",
    "cochlear-implant": "/contraindications/cochlear_implant",
    "pacemaker-or-icd": "/contraindications/cardiac_pacemaker_or_icd",
    "implanted-stimulator": "/contraindications/implanted_stimulator",
    "aneurysmal-vascular-disease": "/contraindications/aneurysmal_vascular_disease",
    "arteriovenous-malformation": "/contraindications/arteriovenous_malformation",
    "intracerebral-haemorrhage": "/contraindications/intracerebral_haemorrhage_history",
}
_GENDER = {"female": "female", "male": "male", "other": "intersex", "unknown": "unknown"}
_LOINC_LINK = re.compile(r"(\d{4,6}-\d)$")


def map_patient(b: Builder, pd: PatientData, patient_id: str) -> None:
    """Age (completed years at the evaluation date), sex and id from the Patient resource."""
    p = pd.patient
    if p is None:
        raise FhirError(
            f"Patient/{patient_id}",
            [(f"Patient/{patient_id}", "no Patient resource: age cannot be derived")],
        )
    if not isinstance(p.get("id"), str):  # null or absent: nothing can refer to it
        raise FhirError(f"Patient/{patient_id}", [(location(p, "/id"), "a Patient needs an id")])
    b.set("/patient/id", str(p["id"]), location(p, "/id"))
    born = fhir_date(p.get("birthDate"))
    if born is None:
        raise FhirError(
            f"Patient/{p['id']}",
            [(location(p, "/birthDate"), "birthDate (full date) is needed to derive the age")],
        )
    died = fhir_date(p.get("deceasedDateTime"))
    if p.get("deceasedBoolean") is True or (died is not None and died <= b.today):
        raise FhirError(
            f"Patient/{p['id']}",
            [(location(p, "/deceasedDateTime"), "the patient is recorded as deceased")],
        )
    age = completed_years(born, b.today)
    b.derive(
        "/patient/age",
        age,
        f"completed years from {born} to {b.today}",
        [location(p, "/birthDate")],
    )
    b.set("/patient/age", age, location(p, "/birthDate"))
    if isinstance(p.get("gender"), str) and p["gender"] in _GENDER:
        b.set("/patient/sex", _GENDER[p["gender"]], location(p, "/gender"))


def _recorded_by(c: Mapping[str, Any], today: date) -> bool:
    """False for a Condition whose onset or record date lies after the evaluation date."""
    days = [fhir_date(c.get("onsetDateTime")), fhir_date(c.get("recordedDate"))]
    return not any(d is not None and d > today for d in days)


def _active(c: Mapping[str, Any], today: date) -> bool:
    clinical = status_code(c.get("clinicalStatus"))
    if clinical is not None and clinical not in ("active", "recurrence", "relapse"):
        return False
    ended = fhir_date(c.get("abatementDateTime"))
    return ended is None or ended > today


def _usable(c: Mapping[str, Any]) -> bool:
    return status_code(c.get("verificationStatus")) not in ("refuted", "entered-in-error")


@dataclass(frozen=True)
class Diagnosis:
    primary: str
    resource: Resource | None
    onset: date | None


def map_conditions(b: Builder, pd: PatientData, term: Terminology) -> Diagnosis:
    """Primary diagnosis, episode onset/severity/state, comorbidities and contraindications."""
    primary: list[tuple[int, date | None, Resource, str]] = []  # (rank, onset, res, dx)
    nssi: list[tuple[Resource, str]] = []
    cv_events: list[tuple[Resource, str]] = []
    for c in pd.of("Condition"):
        if not _usable(c) or not _recorded_by(c, b.today):
            continue
        active = _active(c, b.today)
        for i, coding in codings(c.get("code")):
            system, code = coding.get("system"), coding.get("code")
            where = location(c, f"/code/coding/{i}/code")
            if active:
                for vs, pointer in ACTIVE_CONDITION_FIELDS.items():
                    if term.member(vs, system, code):
                        b.set(pointer, True, where)
                if term.member("borderline-personality-disorder", system, code):
                    b.set("/comorbidities/personality_disorder", "borderline", where)
                elif (
                    term.member("personality-disorder", system, code)
                    and b.get("/comorbidities/personality_disorder") != "borderline"
                ):
                    b.set("/comorbidities/personality_disorder", "other", where)
                onset = fhir_date(c.get("onsetDateTime")) or fhir_date(
                    (c.get("onsetPeriod") or {}).get("start")
                )
                if term.member("bipolar", system, code):
                    primary.append((0, onset, c, "bipolar"))
                elif term.member("depression", system, code):
                    primary.append((1, onset, c, "mdd"))
            for vs, pointer in HISTORY_CONDITION_FIELDS.items():
                if term.member(vs, system, code):
                    b.set(pointer, True, where)
            if term.member("nssi", system, code):
                nssi.append((c, where))
            if term.member("cardiovascular-event", system, code):
                cv_events.append((c, where))
    map_nssi(b, nssi)
    map_cardiovascular_events(b, cv_events)
    if not primary:
        b.need(
            "/diagnosis/primary",
            "the primary diagnosis (an active depression or bipolar "
            "Condition, or /diagnosis/primary in the TRD questionnaire)",
            "no active depressive or bipolar disorder is coded",
        )
        return Diagnosis("other", None, None)
    # bipolar before unipolar; then the most recent onset (the current episode)
    primary.sort(key=lambda t: (t[0], -(t[1].toordinal() if t[1] else 0)))
    _, onset, res, dx = primary[0]
    b.set("/diagnosis/primary", dx, location(res, "/code"))
    _episode_from_condition(b, res, onset, term)
    for _, _, c, _ in primary:
        for i, coding in codings(c.get("code")):
            if term.member("psychotic-depression", coding.get("system"), coding.get("code")):
                b.set("/diagnosis/psychotic_features", True, location(c, f"/code/coding/{i}/code"))
    return Diagnosis(dx, res, onset)


def _episode_from_condition(
    b: Builder, res: Resource, onset: date | None, term: Terminology
) -> None:
    if onset is not None:
        path = "/onsetDateTime" if "onsetDateTime" in res else "/onsetPeriod/start"
        b.set("/episode/onset_date", onset.isoformat(), location(res, path))
    for i, coding in codings(res.get("code")):
        target = term.target("depression-severity", coding.get("system"), coding.get("code"))
        field = str(target.get("group_target", "")).rsplit("/", 1)[-1]
        if field in ("severity", "state") and target.get("code"):
            # a coded severity is the episode's severity at diagnosis: its baseline (schema v2)
            name = "baseline_severity" if field == "severity" else field
            b.set(f"/episode/{name}", target["code"], location(res, f"/code/coding/{i}/code"))


def _onset(c: Mapping[str, Any]) -> tuple[date | None, str]:
    if "onsetDateTime" in c:
        return fhir_date(c.get("onsetDateTime")), "/onsetDateTime"
    return fhir_date((c.get("onsetPeriod") or {}).get("start")), "/onsetPeriod/start"


def map_nssi(b: Builder, conditions: list[tuple[Resource, str]]) -> None:
    """Non-suicidal self-injury Conditions (any clinical status) → ``/suicide_risk/nssi``.

    The date of the latest self-injury is the abatement date when given; else, for a Condition
    that is not ongoing (resolved, inactive, or no status: one event), its onset. An ongoing
    one (active, recurrence, relapse) has no date of its latest episode: it sets
    ``within_3_months`` only when its onset already falls inside the last 3 months (then the
    latest episode surely does); otherwise the date is data needed, never guessed."""
    if not conditions:
        return
    dated: list[tuple[date, str]] = []
    recent_onsets: list[tuple[date, str]] = []
    undated: list[str] = []
    three_months_ago = months_before(b.today, 3)
    for c, where in conditions:
        ended = fhir_date(c.get("abatementDateTime"))
        onset, onset_path = _onset(c)
        ongoing = status_code(c.get("clinicalStatus")) in ("active", "recurrence", "relapse")
        if ended is not None and ended <= b.today:
            dated.append((ended, location(c, "/abatementDateTime")))
        elif not ongoing and onset is not None:
            dated.append((onset, location(c, onset_path)))
        elif ongoing and onset is not None and onset >= three_months_ago:
            recent_onsets.append((onset, location(c, onset_path)))
        else:
            undated.append(where)
    if recent_onsets:  # surely recent, whatever older dated episodes say
        day, at = max(recent_onsets)
        b.derive(
            "/suicide_risk/nssi/within_3_months",
            True,
            f"ongoing self-injury since {day}, inside the 3 months before {b.today}",
            [at],
        )
        b.set("/suicide_risk/nssi/within_3_months", True, at)
    elif undated:  # an older date would understate how recent the latest episode is
        b.need(
            "/suicide_risk/nssi/last_date",
            "the date of the most recent non-suicidal self-injury",
            "a self-injury Condition is ongoing or undated: its latest episode is not dated",
        )
    else:
        day, at = max(dated)
        b.derive(
            "/suicide_risk/nssi/last_date",
            day.isoformat(),
            "the latest self-injury Condition (abatement, else the onset of a past event)",
            [at],
        )
        b.set("/suicide_risk/nssi/last_date", day.isoformat(), at)


#: the EU esketamine SmPC 4.3 window for a recent cardiovascular event
CV_EVENT_DAYS = 42


def map_cardiovascular_events(b: Builder, conditions: list[tuple[Resource, str]]) -> None:
    """A myocardial infarction or stroke whose onset lies within 6 weeks before the evaluation
    date → ``cardiovascular_event_within_6_weeks`` true. An older event is no evidence that
    none happened since (stays not recorded); an undated one is data needed."""
    undated: list[str] = []
    for c, where in conditions:
        onset, path = _onset(c)
        if onset is None:  # a recordedDate does not date the event itself
            undated.append(where)
            continue
        if 0 <= (b.today - onset).days <= CV_EVENT_DAYS:
            at = location(c, path)
            b.derive(
                "/contraindications/cardiovascular_event_within_6_weeks",
                True,
                f"cardiovascular event on {onset}, within {CV_EVENT_DAYS} days before {b.today}",
                [at],
            )
            b.set("/contraindications/cardiovascular_event_within_6_weeks", True, at)
            return
    if undated:
        b.need(
            "/contraindications/cardiovascular_event_within_6_weeks",
            "the date of the cardiovascular event (myocardial infarction, stroke)",
            "a cardiovascular event Condition has no onset date",
        )


@dataclass(frozen=True)
class Score:
    """One PHQ-9 total (or item 9 alone) with where it came from."""

    day: date | None
    total: int | None
    total_at: str
    item9: int | None = None
    item9_at: str = ""
    key: str = ""
    date_at: str = ""


def _int_value(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*\d+(\.0+)?\s*", v):
        return int(float(v))
    return None


#: units a score may carry (UCUM ``{score}``, a dimensionless ``1``, or none); any other unit
#: (``%``, ``mg``) says the value is not the score and is refused, never read as one
SCORE_UNITS = frozenset({"", "1", "{score}", "score", "{points}", "points", "{total}"})


def observation_value(
    o: Mapping[str, Any], term: Terminology, *, total: bool = False
) -> tuple[int | None, str]:
    """An integer score from ``valueQuantity``, ``valueInteger``, ``valueString`` or a LOINC
    answer code (``valueCodeableConcept``), with the path it was read from.

    A ``total`` is a number: an answer code (0–3, an item's answer) is not one, and a value
    that is there but is not a whole number ('12.5', 'severe', an answer code) is a
    :class:`FhirError` naming it; it was skipped, and an older total became the current one."""
    if total:
        for key in ("valueQuantity", "valueInteger", "valueString", "valueCodeableConcept"):
            if key in o:
                value, path = observation_value({key: o[key], **_ids(o)}, term)
                if value is None or key == "valueCodeableConcept":
                    raise FhirError(
                        "<fhir>",
                        [(location(o, f"/{key}"), "not a PHQ-9 total score (a whole number)")],
                    )
                return value, path
        return None, ""
    if "valueQuantity" in o:
        quantity = o["valueQuantity"]
        for key in ("code", "unit"):
            unit = quantity.get(key)
            if isinstance(unit, str) and unit.strip().lower() not in SCORE_UNITS:
                raise FhirError(
                    "<fhir>",
                    [(location(o, f"/valueQuantity/{key}"), f"{unit!r} is not a score unit")],
                )
        return _int_value(quantity.get("value")), "/valueQuantity/value"
    if "valueInteger" in o:
        return _int_value(o["valueInteger"]), "/valueInteger"
    if "valueString" in o:
        return _int_value(o["valueString"]), "/valueString"
    for i, c in codings(o.get("valueCodeableConcept")):
        score = term.translate("phq-answer-score", c.get("system"), c.get("code"))
        if score is not None:
            return int(score), f"/valueCodeableConcept/coding/{i}/code"
    return None, ""


def _ids(o: Mapping[str, Any]) -> dict[str, Any]:
    return {k: o[k] for k in ("resourceType", "id") if k in o}


def _final(o: Mapping[str, Any]) -> bool:
    return o.get("status") in ("final", "amended", "corrected", "completed")


def phq9_scores(pd: PatientData, term: Terminology) -> list[Score]:
    """PHQ-9 totals (44261-6, PHQ-A 89204-2) and item 9 (44260-8) from Observations, paired by
    their panel (44249-1 ``hasMember``) or else by effective date-time; and from
    QuestionnaireResponses (answers by LOINC linkId; the total is summed from the nine items
    only when the response has no total)."""
    panel_of: dict[str, str] = {}
    for o in pd.of("Observation"):
        if any(
            term.member("phq9-panel", c.get("system"), c.get("code"))
            for _, c in codings(o.get("code"))
        ):
            for m in o.get("hasMember") or []:
                panel_of[str(m.get("reference"))] = f"panel:{o.get('id')}"
    totals: dict[str, tuple[date | None, int, str, str]] = {}
    items: dict[str, tuple[int, str, date | None, str]] = {}
    for o in pd.of("Observation"):
        if not _final(o):
            continue
        when = o.get("effectiveDateTime") or (o.get("effectivePeriod") or {}).get("start")
        key = panel_of.get(f"Observation/{o.get('id')}") or f"time:{when}"
        when_path = "/effectiveDateTime" if "effectiveDateTime" in o else "/effectivePeriod/start"
        for _, c in codings(o.get("code")):
            system, code = c.get("system"), c.get("code")
            if term.member("phq9-total", system, code):
                value, path = observation_value(o, term, total=True)
                if value is not None:
                    earlier_total = totals.get(key)
                    _same_value(
                        None if earlier_total is None else earlier_total[1:3],
                        value,
                        location(o, path),
                        "PHQ-9 totals",
                    )
                    totals[key] = (
                        fhir_date(when),
                        value,
                        location(o, path),
                        location(o, when_path),
                    )
            elif term.member("phq9-item9", system, code):
                value, path = observation_value(o, term)
                given = [k for k in o if k.startswith("value")]
                if value is None and given:  # a suicidal-thoughts answer is never skipped
                    raise FhirError(
                        "<fhir>", [(location(o, f"/{given[0]}"), "not a PHQ-9 item 9 answer (0–3)")]
                    )
                if value is not None:
                    earlier = items.get(key)
                    _same_value(
                        None if earlier is None else earlier[0:2],
                        value,
                        location(o, path),
                        "PHQ-9 item 9 answers",
                    )
                    items[key] = (value, location(o, path), fhir_date(when), location(o, when_path))
    scores = [
        Score(
            day,
            total,
            at,
            item9=items[key][0] if key in items else None,
            item9_at=items[key][1] if key in items else "",
            key=key,
            date_at=date_at,
        )
        for key, (day, total, at, date_at) in totals.items()
    ]
    scores += [
        Score(day, None, "", item9=value, item9_at=at, key=key, date_at=date_at)
        for key, (value, at, day, date_at) in items.items()
        if key not in totals
    ]
    for qr in pd.of("QuestionnaireResponse"):
        s = _phq9_from_response(qr, term)
        if s is not None:
            scores.append(s)
    return scores


def _same_value(earlier: tuple[Any, ...] | None, value: int, at: str, what: str) -> None:
    """Two values for one administration (same panel or same date-time) must agree: which one
    holds is not for the adapter to guess (``earlier``: the value read first, and where)."""
    if earlier is not None and earlier[0] != value:
        raise FhirError(
            "<fhir>",
            [(at, f"two {what} for one administration disagree ({earlier[0]} at {earlier[1]})")],
        )


def _answers(qr: Mapping[str, Any]) -> dict[str, tuple[Mapping[str, Any], str]]:
    """First answer per LOINC code of the linkId, with its path (nested items included)."""
    out: dict[str, tuple[Mapping[str, Any], str]] = {}

    def walk(items: list[Any], path: str) -> None:
        for i, item in enumerate(items):
            here = f"{path}/item/{i}"
            m = _LOINC_LINK.search(str(item.get("linkId", "")))
            answers = item.get("answer") or []
            if m and answers and m[1] not in out:
                out[m[1]] = (answers[0], f"{here}/answer/0")
            walk(item.get("item") or [], here)
            for j, a in enumerate(answers):
                walk(a.get("item") or [], f"{here}/answer/{j}")

    walk(qr.get("item") or [], "")
    return out


def answer_int(answer: Mapping[str, Any], term: Terminology) -> tuple[int | None, str]:
    for key in ("valueInteger", "valueDecimal", "valueString"):
        if key in answer:
            return _int_value(answer[key]), f"/{key}"
    if "valueQuantity" in answer:
        return _int_value(answer["valueQuantity"].get("value")), "/valueQuantity/value"
    c = answer.get("valueCoding")
    if isinstance(c, Mapping):
        score = term.translate("phq-answer-score", c.get("system"), c.get("code"))
        return (int(score) if score is not None else None), "/valueCoding/code"
    return None, ""


PHQ9_ITEMS = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)


def _phq9_from_response(qr: Resource, term: Terminology) -> Score | None:
    if qr.get("status") not in ("completed", "amended"):
        return None
    answers = _answers(qr)
    day = fhir_date(qr.get("authored"))
    item9: tuple[int | None, str] = (None, "")
    if "44260-8" in answers:
        a, path = answers["44260-8"]
        value, sub = answer_int(a, term)
        item9 = (value, location(qr, path + sub))
    for code in ("44261-6", "89204-2"):
        if code in answers:
            a, path = answers[code]
            value, sub = answer_int(a, term)
            if sub == "/valueCoding/code" or (value is None and sub):
                raise FhirError(
                    "<fhir>",
                    [(location(qr, path + sub), "not a PHQ-9 total score (a whole number)")],
                )
            if value is not None:
                return Score(
                    day,
                    value,
                    location(qr, path + sub),
                    item9=item9[0],
                    item9_at=item9[1],
                    key=f"qr:{qr['id']}",
                    date_at=location(qr, "/authored"),
                )
    if all(code in answers for code in PHQ9_ITEMS):
        values = [answer_int(answers[c][0], term)[0] for c in PHQ9_ITEMS]
        for c, v in zip(PHQ9_ITEMS, values, strict=True):
            if v is not None and not 0 <= v <= 3:
                a, path = answers[c]
                raise FhirError(
                    "<fhir>",
                    [
                        (
                            location(qr, path + answer_int(a, term)[1]),
                            f"a PHQ-9 item answer of {v} (items score 0–3)",
                        )
                    ],
                )
        if all(v is not None for v in values):
            total = sum(v for v in values if v is not None)
            return Score(
                day, total, location(qr, answers[PHQ9_ITEMS[0]][1]), *item9, key=f"qr:{qr['id']}"
            )
    if item9[0] is not None:
        return Score(
            day,
            None,
            "",
            item9=item9[0],
            item9_at=item9[1],
            key=f"qr:{qr['id']}",
            date_at=location(qr, "/authored"),
        )
    return None


def map_cssrs(b: Builder, pd: PatientData, term: Terminology) -> None:
    """The most recent C-SSRS screener (QuestionnaireResponse or Observations) → the case.

    "Most recent" is by the instant recorded (time zones applied); a screener dated after the
    evaluation date is not read (it is kept aside), undated ones rank below dated ones."""
    best: tuple[datetime, dict[str, tuple[bool, str]]] | None = None
    for qr in pd.of("QuestionnaireResponse"):
        if qr.get("status") not in ("completed", "amended"):
            continue
        found: dict[str, tuple[bool, str]] = {}
        for code, (answer, path) in _answers(qr).items():
            field = term.translate("cssrs-screener", LOINC, code)
            value, sub = _yes_no(answer, term)
            if field and value is not None:
                found[field] = (value, location(qr, path + sub))
        if not found:
            continue
        when = recorded_at(qr.get("authored"), b.today)
        if when is None:
            _future(b, "cssrs", location(qr, "/authored"))
        elif best is None or when > best[0]:
            best = (when, found)
    obs: dict[str, tuple[datetime, bool, str]] = {}
    for o in pd.of("Observation"):
        for _, c in codings(o.get("code")):
            field = term.translate("cssrs-screener", c.get("system"), c.get("code"))
            if not field or not _final(o):
                continue
            observed = _observed_yes_no(o, term)
            if observed is None:
                continue
            yes, at = observed
            when = recorded_at(o.get("effectiveDateTime"), b.today)
            if when is None:
                _future(b, "cssrs", location(o, "/effectiveDateTime"))
            elif field not in obs or when > obs[field][0]:
                obs[field] = (when, yes, at)
    if obs:
        when = max(w for w, _, _ in obs.values())
        if best is None or when > best[0]:
            best = (when, {f: (v, at) for f, (_, v, at) in obs.items()})
    if best is None:
        return
    found = best[1]
    if not all(k in found for k in ("wish_to_be_dead", "active_suicidal_thoughts", "behaviour")):
        b.need(
            "/suicide_risk/cssrs",
            "C-SSRS screener items 1, 2 and 6",
            "the recorded C-SSRS lacks a required item",
        )
        return
    for field, (value, at) in found.items():
        if field == "behaviour_within_3_months" and not found["behaviour"][0]:
            continue  # not asked after 'no' to item 6
        if field in ("method", "intent", "plan") and not found["active_suicidal_thoughts"][0]:
            continue  # skip logic: asked only after 'yes' to item 2
        b.set(f"/suicide_risk/cssrs/{field}", value, at)


def _observed_yes_no(o: Mapping[str, Any], term: Terminology) -> tuple[bool, str] | None:
    """The yes/no of a C-SSRS item Observation (a yes/no answer code, or valueBoolean) with
    where it was read; ``None`` without a value. A value that is neither is a FhirError: a
    newer screener skipped for its form left an older 'no' standing."""
    if isinstance(o.get("valueBoolean"), bool):
        return bool(o["valueBoolean"]), location(o, "/valueBoolean")
    for i, v in codings(o.get("valueCodeableConcept")):
        yes = term.translate("yes-no", v.get("system"), v.get("code"))
        if yes is not None:
            return yes == "true", location(o, f"/valueCodeableConcept/coding/{i}/code")
    given = [k for k in o if k.startswith("value")]
    if given:
        raise FhirError("<fhir>", [(location(o, f"/{given[0]}"), "not a yes/no answer")])
    return None


def _future(b: Builder, kind: str, at: str) -> None:
    item = {"source": at, "why": "dated after the evaluation date"}
    if item not in b.unmapped.get(kind, []):
        b.keep_unmapped(kind, item)


def _yes_no(answer: Mapping[str, Any], term: Terminology) -> tuple[bool | None, str]:
    if isinstance(answer.get("valueBoolean"), bool):
        return answer["valueBoolean"], "/valueBoolean"
    c = answer.get("valueCoding")
    if isinstance(c, Mapping):
        yes = term.translate("yes-no", c.get("system"), c.get("code"))
        if yes is not None:
            return yes == "true", "/valueCoding/code"
    return None, ""


def map_pregnancy_status(b: Builder, pd: PatientData, term: Terminology) -> None:
    """The latest pregnancy status Observation (82810-3) not dated after the evaluation date;
    'unknown' stays not recorded."""
    latest: tuple[datetime, Resource] | None = None
    for o in pd.of("Observation"):
        if _final(o) and any(
            term.member("pregnancy-status", c.get("system"), c.get("code"))
            for _, c in codings(o.get("code"))
        ):
            when = recorded_at(o.get("effectiveDateTime"), b.today)
            if when is None:
                _future(b, "pregnancy_status", location(o, "/effectiveDateTime"))
            elif latest is None or when > latest[0]:
                latest = (when, o)
    if latest is None:
        return
    o = latest[1]
    for i, c in codings(o.get("valueCodeableConcept")):
        value = term.translate("pregnancy-status", c.get("system"), c.get("code"))
        if value is not None:
            b.set(
                "/patient/pregnant",
                value == "true",
                location(o, f"/valueCodeableConcept/coding/{i}/code"),
            )
            return
