"""Hypothesis strategies for trd-cds cases.

:func:`case_dicts` draws *valid* cases as plain JSON data (what a case file holds: enums and
dates as strings, optional fields sometimes omitted and sometimes ``null``), covering the whole
input model of ``schemas/case.py``: every enum value, tri-state booleans (None / True / False),
lists of up to a few trials, measurements inside their instrument range with unique
(instrument, timepoint), the C-SSRS skip logic, pregnancy only when sex is not male, and an
episode with ``onset_date`` *or* ``duration_months``.

:func:`invalid_case_dicts` draws a valid case and breaks it in one way that the schema must
refuse (wrong type, out-of-range number, unknown field, string for a number, missing required
field, skip-logic violation, garbage value), returning the broken data and the kind of
mutation.
"""

from __future__ import annotations

import copy
import math
import unicodedata
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from trd_cds.schemas.case import (
    INSTRUMENT_RANGES,
    Adherence,
    AugmentationAgent,
    DrugClass,
    EctLaterality,
    EpisodeRef,
    EpisodeState,
    Instrument,
    MedicationClass,
    PersonalityDisorder,
    PrimaryDiagnosis,
    PsychotherapyModality,
    Severity,
    Sex,
    Timepoint,
    TrialOutcome,
)

Json = dict[str, Any]

#: Evaluation date the strategies are built around (dates fall before and around it).
AT_DATE = date(2026, 11, 24)
_FIRST_DATE = date(1990, 1, 1)
_LAST_DATE = AT_DATE + timedelta(days=60)  # a few dates in the future are still valid input

_MISSING = object()


def _enum(enum: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([e.value for e in enum])


tri_state: st.SearchStrategy[bool | None] = st.sampled_from([None, True, False])
iso_dates: st.SearchStrategy[str] = st.dates(_FIRST_DATE, _LAST_DATE).map(date.isoformat)
case_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,40}\Z")


def _visible(text: str) -> bool:
    """A valid free-text name has a visible character (not only whitespace, control or
    format characters; issue-8 follow-up point 5)."""
    return any(unicodedata.category(ch)[0] not in ("Z", "C") for ch in text)


drug_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80
).filter(_visible)
weeks = st.one_of(
    st.integers(0, 520),
    # includes floats Python writes in exponent notation (5e-324, 1e-05), which durable_rules
    # cannot read (test_float_in_exponent_notation_reaches_durable_rules)
    st.floats(0, 520, allow_nan=False, allow_infinity=False),
)


@st.composite
def _section(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> Json:
    """A mapping where every optional field is either omitted, ``null`` or a value."""
    out: Json = {}
    for name, strategy in fields.items():
        value = draw(st.one_of(st.just(_MISSING), strategy))
        if value is not _MISSING:
            out[name] = value
    return out


def _tri_section(*names: str) -> st.SearchStrategy[Json]:
    return _section({name: tri_state for name in names})


@st.composite
def patients(draw: st.DrawFn) -> Json:
    sex = draw(st.one_of(st.just(_MISSING), _enum(Sex)))
    out: Json = {"age": draw(st.integers(0, 120))}
    if sex is not _MISSING:
        out["sex"] = sex
    pregnancy = st.sampled_from([None, False]) if sex == "male" else tri_state
    for name in ("pregnant", "breastfeeding"):
        value = draw(st.one_of(st.just(_MISSING), pregnancy))
        if value is not _MISSING:
            out[name] = value
    if draw(st.booleans()):
        out["id"] = draw(st.text(min_size=1, max_size=20).filter(_visible))
    return out


diagnoses = st.builds(
    lambda primary, rest: {"primary": primary, **rest},
    _enum(PrimaryDiagnosis),
    _tri_section("psychotic_features", "catatonic_features", "mute", "not_eating_or_drinking"),
)


@st.composite
def episodes(draw: st.DrawFn) -> Json:
    out: Json = draw(
        _section(
            {
                "prior_episodes": st.none() | st.integers(0, 100),
                "state": _enum(EpisodeState),
                "baseline_severity": st.none() | _enum(Severity),
                "current_severity": st.none() | _enum(Severity),
            }
        )
    )
    if draw(st.booleans()):
        out["onset_date"] = draw(iso_dates)
        if draw(st.booleans()):
            out["duration_months"] = None
    else:
        out["duration_months"] = draw(st.integers(0, 1200))
        if draw(st.booleans()):
            out["onset_date"] = None
    return out


@st.composite
def measurement_lists(draw: st.DrawFn) -> list[Json]:
    keys = draw(
        st.lists(
            st.tuples(_enum(Instrument), _enum(Timepoint)),
            unique=True,
            max_size=len(Instrument) * len(Timepoint),
        )
    )
    baseline_dates: dict[str, date] = {}
    out: list[Json] = []
    # Baselines first, so a current date can be drawn on or after its baseline date.
    for instrument, timepoint in sorted(keys, key=lambda k: k[1] != "baseline"):
        low, high = INSTRUMENT_RANGES[Instrument(instrument)]
        score = draw(st.integers(low, high))
        m: Json = {"instrument": instrument, "timepoint": timepoint, "score": score}
        if draw(st.booleans()):
            first = baseline_dates.get(instrument, _FIRST_DATE)
            if timepoint == "current":
                first = max(first, _FIRST_DATE)
            when = draw(st.dates(first, _LAST_DATE))
            if timepoint == "baseline":
                baseline_dates[instrument] = when
            m["date"] = when.isoformat()
        if instrument == "phq9" and draw(st.booleans()):
            m["item9"] = draw(st.integers(0, min(3, score)))
            if draw(st.integers(0, 4)) == 0:  # v2: item 9 recorded without a total
                del m["score"]
                m["item9"] = draw(st.integers(0, 3))
        out.append(m)
    return draw(st.permutations(out))


any_ad_trial = st.builds(
    lambda drug, cls, rest, outcome: {"drug": drug, "drug_class": cls, "outcome": outcome, **rest},
    drug_names,
    _enum(DrugClass),
    _section(
        {
            "dose_adequate": tri_state,
            "weeks_at_dose": st.none() | weeks,
            "adherence": _enum(Adherence),
            "episode": _enum(EpisodeRef),
        }
    ),
    _enum(TrialOutcome),
)


#: A trial that counts: current episode, adequate dose for >= 4 weeks, good adherence (so
#: the TRD ladder is reached often, not only by chance).
adequate_ad_trial = st.builds(
    lambda drug, cls, wk, outcome, rest: {
        "drug": drug,
        "drug_class": cls,
        "dose_adequate": True,
        "weeks_at_dose": wk,
        "adherence": "good",
        "outcome": outcome,
        **rest,
    },
    st.sampled_from(["sertraline", "venlafaxine", "mirtazapine", "nortriptyline"]),
    _enum(DrugClass),
    st.integers(4, 26) | st.floats(4, 26),
    st.sampled_from(["no_response", "partial_response"]) | _enum(TrialOutcome),
    _section({"episode": st.just("current")}),
)
ad_trials = st.one_of(any_ad_trial, adequate_ad_trial)


@st.composite
def augmentations(draw: st.DrawFn) -> Json:
    agent = draw(_enum(AugmentationAgent))
    out: Json = {"agent": agent}
    out.update(
        draw(
            _section(
                {
                    "episode": _enum(EpisodeRef),
                    "outcome": st.none() | _enum(TrialOutcome),
                }
            )
        )
    )
    if agent == "other" or draw(st.booleans()):
        out["drug"] = draw(drug_names)
    return out


ect_courses = st.builds(
    lambda lat, outcome, rest: {"laterality": lat, "outcome": outcome, **rest},
    _enum(EctLaterality),
    _enum(TrialOutcome),
    _section({"sessions": st.none() | st.integers(1, 60), "episode": _enum(EpisodeRef)}),
)

any_psychotherapy_trial = st.builds(
    lambda modality, sessions, wk, outcome, rest: {
        "modality": modality,
        "sessions": sessions,
        "weeks": wk,
        "outcome": outcome,
        **rest,
    },
    _enum(PsychotherapyModality),
    st.integers(0, 500),
    weeks,
    _enum(TrialOutcome),
    _section({"episode": _enum(EpisodeRef)}),
)


adequate_psychotherapy_trial = st.builds(
    lambda modality, sessions, wk, outcome, rest: {
        "modality": modality,
        "sessions": sessions,
        "weeks": wk,
        "outcome": outcome,
        **rest,
    },
    _enum(PsychotherapyModality),
    st.integers(8, 30),
    st.integers(6, 40),
    st.sampled_from(["no_response", "partial_response"]) | _enum(TrialOutcome),
    _section({"episode": st.just("current")}),
)
psychotherapy_trials = st.one_of(any_psychotherapy_trial, adequate_psychotherapy_trial)


@st.composite
def cssrs(draw: st.DrawFn) -> Json:
    """A C-SSRS screener that respects its skip logic."""
    active = draw(st.booleans())
    behaviour = draw(st.booleans())
    out: Json = {"wish_to_be_dead": draw(st.booleans()), "active_suicidal_thoughts": active}
    follow_up = tri_state if active else st.sampled_from([None, False])
    out.update(draw(_section({"method": follow_up, "intent": follow_up, "plan": follow_up})))
    out["behaviour"] = behaviour
    if behaviour:
        timing = draw(st.sampled_from(["flag", "date", "both"]))
        if timing in ("flag", "both"):
            out["behaviour_within_3_months"] = draw(st.booleans())
        if timing in ("date", "both"):
            out["last_behaviour_date"] = draw(iso_dates)
    else:
        out.update(draw(_section({"behaviour_within_3_months": st.sampled_from([None, False])})))
        if draw(st.booleans()):
            out["last_behaviour_date"] = None
    return out


@st.composite
def nssi(draw: st.DrawFn) -> Json:
    """Non-suicidal self-injury (v2): a date, the window flag, or both."""
    timing = draw(st.sampled_from(["flag", "date", "both"]))
    out: Json = {}
    if timing in ("flag", "both"):
        out["within_3_months"] = draw(st.booleans())
    if timing in ("date", "both"):
        out["last_date"] = draw(iso_dates)
    return out


suicide_risks = _section(
    {
        "cssrs": st.none() | cssrs(),
        "clinician_judges_imminent_risk": tri_state,
        "nssi": st.none() | nssi(),
    }
)

current_medications = st.builds(
    lambda drug, cls, rest: {"drug": drug, "drug_class": cls, **rest},
    drug_names,
    _enum(MedicationClass),
    _section({"dose_mg_per_day": st.none() | st.floats(0.5, 3000) | st.integers(1, 3000)}),
)

comorbidities = _section(
    {
        **{
            name: tri_state
            for name in (
                "anxiety_disorder",
                "substance_use_disorder",
                "alcohol_use_disorder",
                "ptsd",
                "trauma_history",
                "chronic_pain_or_illness",
                "medical_comorbidity",
                "seizure_history",
                "physical_condition_may_explain_symptoms",
            )
        },
        "personality_disorder": st.none() | _enum(PersonalityDisorder),
    }
)

clinical_features = _tri_section(
    "rumination",
    "negative_automatic_thoughts",
    "avoidance",
    "emotion_dysregulation",
    "recurrent_self_harm",
    "longstanding_relational_patterns",
    "wishes_insight",
    "experiential_avoidance",
    "values_disengagement",
    "unresolved_trauma_memories",
    "prior_good_ect_response",
    "significant_weight_loss",
)
contraindications = _tri_section(
    "metal_in_or_near_head",
    "cochlear_implant",
    "implanted_stimulator",
    "cardiac_pacemaker_or_icd",
    "aneurysmal_vascular_disease",
    "arteriovenous_malformation",
    "intracerebral_haemorrhage_history",
    "cardiovascular_event_within_6_weeks",
)
preferences = _tri_section("declines_medication", "declines_ect", "prefers_psychotherapy")
psychosocial = _tri_section("grief", "role_transition", "interpersonal_dispute", "social_isolation")


def _lists(strategy: st.SearchStrategy[Json], max_size: int = 4) -> st.SearchStrategy[list[Json]]:
    return st.lists(strategy, max_size=max_size)


@st.composite
def case_dicts(draw: st.DrawFn) -> Json:
    """A valid case as plain JSON data."""
    out: Json = {
        "case_id": draw(case_ids),
        "patient": draw(patients()),
        "diagnosis": draw(diagnoses),
        "episode": draw(episodes()),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "schema_version": st.just("2"),
        "measurements": measurement_lists(),
        "antidepressant_trials": _lists(ad_trials, 5),
        "augmentations": _lists(augmentations(), 3),
        "ect_courses": _lists(ect_courses, 3),
        "psychotherapy_trials": _lists(psychotherapy_trials, 4),
        "suicide_risk": suicide_risks,
        "comorbidities": comorbidities,
        "clinical_features": clinical_features,
        "contraindications": contraindications,
        "preferences": preferences,
        "psychosocial": psychosocial,
        "current_medications": _lists(current_medications, 3),
    }
    out.update(draw(_section(optional)))
    return out


# --------------------------------------------------------------------------- invalid cases

#: Numeric fields with their valid range: (path pattern, low, high). ``*`` is any list index.
NUMERIC_RANGES: tuple[tuple[tuple[str, ...], float, float], ...] = (
    (("patient", "age"), 0, 120),
    (("episode", "duration_months"), 0, 1200),
    (("episode", "prior_episodes"), 0, 100),
    (("antidepressant_trials", "*", "weeks_at_dose"), 0, 520),
    (("ect_courses", "*", "sessions"), 1, 60),
    (("psychotherapy_trials", "*", "sessions"), 0, 500),
    (("psychotherapy_trials", "*", "weeks"), 0, 520),
)

#: Required fields that a mutation may delete (path to the containing object, field).
REQUIRED: tuple[tuple[tuple[str, ...], str], ...] = (
    ((), "case_id"),
    ((), "patient"),
    ((), "diagnosis"),
    ((), "episode"),
    (("patient",), "age"),
    (("diagnosis",), "primary"),
    (("measurements", "*"), "instrument"),
    (("measurements", "*"), "timepoint"),
    (("measurements", "*"), "score"),
    (("antidepressant_trials", "*"), "drug"),
    (("antidepressant_trials", "*"), "drug_class"),
    (("antidepressant_trials", "*"), "outcome"),
    (("augmentations", "*"), "agent"),
    (("ect_courses", "*"), "laterality"),
    (("ect_courses", "*"), "outcome"),
    (("psychotherapy_trials", "*"), "modality"),
    (("psychotherapy_trials", "*"), "sessions"),
    (("psychotherapy_trials", "*"), "weeks"),
    (("psychotherapy_trials", "*"), "outcome"),
    (("suicide_risk", "cssrs"), "wish_to_be_dead"),
    (("suicide_risk", "cssrs"), "active_suicidal_thoughts"),
    (("suicide_risk", "cssrs"), "behaviour"),
)

# JSON values that are of the wrong kind for every field of the model (no field takes a
# list of numbers or a nested object with an unknown key).
garbage_values = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.just("zz_unknown"), st.integers(), min_size=1, max_size=1),
    st.lists(st.lists(st.none(), max_size=2), min_size=1, max_size=2),
)


def _walk(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) in JSON data, containers included, root excluded."""
    out: list[tuple[tuple[Any, ...], Any]] = []
    items: Any = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        out.append(((*path, key), value))
        out.extend(_walk(value, (*path, key)))
    return out


def _matches(path: tuple[Any, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(
        (p == "*" and isinstance(k, int)) or p == k for k, p in zip(path, pattern, strict=True)
    )


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def _wrong_type(value: Any, field: Any) -> st.SearchStrategy[Any]:
    """A value of another JSON type than ``value`` (a present, valid value of ``field``)."""
    choices: list[st.SearchStrategy[Any]] = [garbage_values]
    if not isinstance(value, bool):
        choices.append(st.booleans())
    if not isinstance(value, str) and field not in ("case_id", "drug", "id"):
        choices.append(st.text(min_size=1, max_size=5))
    if isinstance(value, (str, bool)):
        choices.append(st.integers(-5, 5))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        choices.append(st.lists(st.integers(), min_size=1, max_size=2))
    return st.one_of(choices)


#: Mutation kinds; the schema refuses each with a field path.
MUTATIONS = (
    "wrong_type",
    "unknown_field",
    "missing_required",
    "garbage",
    "enum",
    "cross_field",
    "case_level_cross_check",
    "out_of_range",
    "string_for_number",
    "float_for_int",
    "non_finite",
    "skip_logic",
)


@st.composite
def invalid_case_dicts(draw: st.DrawFn, kinds: tuple[str, ...] = MUTATIONS) -> tuple[Json, str]:
    """(invalid case data, mutation kind): a valid case broken in exactly one way."""
    case = copy.deepcopy(draw(case_dicts()))
    leaves = [(p, v) for p, v in _walk(case) if not isinstance(v, (dict, list)) and v is not None]
    kind = draw(st.sampled_from(kinds))
    if kind == "skip_logic" and case.get("suicide_risk", {}).get("cssrs") is None:
        case.setdefault("suicide_risk", {})["cssrs"] = draw(cssrs())
    cssrs_data = case.get("suicide_risk", {}).get("cssrs")

    if kind == "wrong_type":
        path, value = draw(st.sampled_from(leaves))
        _set(case, path, draw(_wrong_type(value, path[-1])))
    elif kind == "unknown_field":
        objects = [((), case)] + [(p, v) for p, v in _walk(case) if isinstance(v, dict)]
        path, obj = draw(st.sampled_from(objects))
        name = draw(st.from_regex(r"\A[a-z_]{1,12}\Z").filter(lambda n: n not in obj))
        _get(case, path)[name] = draw(st.none() | st.integers() | st.text(max_size=3))
    elif kind == "missing_required":
        present = [
            (p, f)
            for p, _ in [((), case), *_walk(case)]
            for pat, f in REQUIRED
            if _matches(p, pat)
            and isinstance(_get(case, p), dict)
            and f in _get(case, p)
            # v2: a PHQ-9 with item 9 may omit its total, so that score is not required
            and not (f == "score" and "item9" in _get(case, p))
        ]
        path, field = draw(st.sampled_from(present))
        del _get(case, path)[field]
    elif kind == "garbage":
        path, _ = draw(st.sampled_from(_walk(case)))
        _set(case, path, draw(garbage_values))
    elif kind == "enum":
        enum_leaves = [(p, v) for p, v in leaves if isinstance(v, str) and p[-1] in _ENUM_FIELDS]
        if not enum_leaves:  # every case has diagnosis.primary, but keep the draw total
            enum_leaves = [(("diagnosis", "primary"), case["diagnosis"]["primary"])]
        path, _ = draw(st.sampled_from(enum_leaves))
        _set(case, path, draw(st.sampled_from(["", "MDD", "unknown_value", "Female", "none "])))
    elif kind in ("out_of_range", "string_for_number", "float_for_int"):
        numeric = [
            (p, v, lo, hi) for p, v in leaves for pat, lo, hi in NUMERIC_RANGES if _matches(p, pat)
        ]
        path, value, low, high = draw(st.sampled_from(numeric))
        if kind == "out_of_range":
            bad = draw(
                st.one_of(
                    st.integers(max_value=int(low) - 1),
                    st.integers(min_value=int(high) + 1),
                    st.integers(min_value=10**20, max_value=10**40),
                )
            )
        elif kind == "string_for_number":
            bad = str(value)
        else:
            is_float_field = path[-1] in ("weeks", "weeks_at_dose", "dose_mg_per_day")
            bad = str(value) if is_float_field else float(value) + draw(st.sampled_from([0.0, 0.5]))
        _set(case, path, bad)
    elif kind == "cross_field":
        _cross_field(draw, case)
    elif kind == "non_finite":
        numbers = [p for p, v in leaves if isinstance(v, (int, float)) and not isinstance(v, bool)]
        path = draw(st.sampled_from(numbers)) if numbers else ("patient", "age")
        _set(case, path, draw(st.sampled_from([math.nan, math.inf, -math.inf])))
    elif kind == "case_level_cross_check":
        _case_level(draw, case)
    else:  # skip_logic
        assert cssrs_data is not None
        if cssrs_data["behaviour"]:
            choice = draw(st.sampled_from(["item3_5", "no_timing"]))
        else:
            choice = draw(st.sampled_from(["item3_5", "timing_without_behaviour"]))
        if choice == "item3_5":
            cssrs_data["active_suicidal_thoughts"] = False
            cssrs_data[draw(st.sampled_from(["method", "intent", "plan"]))] = True
        elif choice == "no_timing":
            cssrs_data.pop("behaviour_within_3_months", None)
            cssrs_data.pop("last_behaviour_date", None)
        else:
            if draw(st.booleans()):
                cssrs_data["behaviour_within_3_months"] = True
            else:
                cssrs_data["last_behaviour_date"] = draw(iso_dates)
    return case, kind


def _cross_field(draw: st.DrawFn, case: Json) -> None:
    """Break one cross-field rule that is checked on a nested object (path: that object)."""
    options = ["episode_both", "episode_neither", "male_pregnant", "item9_not_phq9"]
    if any(
        m["instrument"] == "phq9" and m.get("score") is not None and m["score"] < 3
        for m in case.get("measurements", [])
    ):
        options.append("item9_above_score")
    if case.get("augmentations"):
        options.append("other_agent_unnamed")
    choice = draw(st.sampled_from(options))
    episode = case["episode"]
    if choice == "episode_both":
        episode["onset_date"] = draw(iso_dates)
        episode["duration_months"] = draw(st.integers(0, 1200))
    elif choice == "episode_neither":
        episode.pop("onset_date", None)
        episode.pop("duration_months", None)
    elif choice == "male_pregnant":
        case["patient"]["sex"] = "male"
        case["patient"][draw(st.sampled_from(["pregnant", "breastfeeding"]))] = True
    elif choice == "item9_not_phq9":
        inst = draw(st.sampled_from(["madrs", "hamd17", "qids_sr16"]))
        case["measurements"] = [
            m for m in case.get("measurements", []) if m["instrument"] != inst
        ] + [{"instrument": inst, "timepoint": "current", "score": 3, "item9": 0}]
    elif choice == "item9_above_score":
        m = next(
            m
            for m in case["measurements"]
            if m["instrument"] == "phq9" and m.get("score") is not None and m["score"] < 3
        )
        m["item9"] = m["score"] + 1
    else:
        aug = draw(st.sampled_from(case["augmentations"]))
        aug["agent"] = "other"
        aug.pop("drug", None)


def _case_level(draw: st.DrawFn, case: Json) -> None:
    """Break a check made on the whole case (duplicate measurement, dates out of order)."""
    phq = {"instrument": "phq9", "score": 10}
    others = [m for m in case.get("measurements", []) if m["instrument"] != "phq9"]
    if draw(st.booleans()):
        tp = draw(_enum(Timepoint))
        case["measurements"] = [*others, {**phq, "timepoint": tp}, {**phq, "timepoint": tp}]
    else:
        case["measurements"] = [
            *others,
            {**phq, "timepoint": "baseline", "date": "2026-05-02"},
            {**phq, "timepoint": "current", "date": "2026-05-01"},
        ]


_ENUM_FIELDS = frozenset(
    {
        "sex",
        "primary",
        "state",
        "baseline_severity",
        "current_severity",
        "instrument",
        "timepoint",
        "drug_class",
        "adherence",
        "outcome",
        "episode",
        "agent",
        "laterality",
        "modality",
        "personality_disorder",
        "schema_version",
    }
)


#: Byte sequences spliced into case text by the fuzzers (tests/test_hostile_input.py and
#: bench/fuzz.py): bytes JSON and YAML parsers trip on, YAML features a case must not use
#: (anchors, tags, merge keys, directives), numbers and dates read differently by YAML 1.1.
SPLICES: list[bytes] = [
    b"",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"[",
    b"{",
    b"]",
    b"}",
    b":",
    b",",
    b'"',
    b"&a ",
    b"*a",
    b"!!binary ",
    b"!!python/object:os.system ",
    b"<<: ",
    b"1:20",
    b"yes",
    b"-",
    b"\n",
    b"\t",
    b"1e999",
    b"NaN",
    b"9" * 50,
    b"\\ud800",
    b"\xed\xa0\x80",
    b"? ",
    b"---\n",
    b"...\n",
    b"\x1b[31m",
    b"\r",
    b"'",
    b"%YAML 1.1\n",
    b"&x [*x]",
]
