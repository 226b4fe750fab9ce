"""Case schema version 2 (issue 8 point 15) and the version-1 migration.

Version 2 adds baseline vs current severity, current medications, PHQ-9 item 9 without a
total, non-suicidal self-injury with a date, the outcome ``dropped_out`` and the episode state
``response_without_remission``; version-1 files are read through a tested migration.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AT, EXAMPLES, load_yaml
from trd_cds import Engine, parse_case
from trd_cds.engine.assessments import score_currency, within_months
from trd_cds.schemas.case import SCHEMA_VERSION, migrate
from trd_cds.schemas.errors import CaseError
from trd_cds.schemas.settings import Settings

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def _as_v1(data: dict[str, Any]) -> dict[str, Any]:
    """The same case written as a version-1 file (no version field, ``episode.severity``)."""
    v1 = copy.deepcopy(data)
    v1.pop("schema_version", None)
    episode = v1["episode"]
    if "baseline_severity" in episode:
        episode["severity"] = episode.pop("baseline_severity")
    return v1


def _base() -> dict[str, Any]:
    return {
        "schema_version": "2",
        "case_id": "schema-v2",
        "patient": {"age": 40, "sex": "female"},
        "diagnosis": {"primary": "mdd"},
        "episode": {"duration_months": 6, "baseline_severity": "moderate"},
    }


def _errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CaseError) as info:
        parse_case(data, "case.yaml")
    return info.value.errors


def test_schema_version_is_2() -> None:
    assert SCHEMA_VERSION == "2"
    assert parse_case(_base()).schema_version == "2"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_a_version_1_file_gives_the_same_report_as_its_version_2_form(
    engine: Engine, path: Path
) -> None:
    data = load_yaml(path)
    assert data.get("schema_version") == "2"
    v1 = _as_v1(data)
    assert parse_case(v1) == parse_case(data)
    assert engine.evaluate(v1, at=AT).to_json() == engine.evaluate(data, at=AT).to_json()


def test_version_1_severity_becomes_baseline_severity() -> None:
    v1 = _as_v1(_base())
    v1["schema_version"] = "1"
    case = parse_case(v1)
    assert case.episode.baseline_severity is not None
    assert case.episode.baseline_severity.value == "moderate"
    assert case.episode.current_severity is None
    assert migrate(v1) is not v1 and v1["episode"] == {"duration_months": 6, "severity": "moderate"}


def test_migration_refuses_both_spellings() -> None:
    data = _as_v1(_base())
    data["episode"]["baseline_severity"] = "severe"
    errors = _errors(data)
    assert any("not both" in msg for _, msg in errors), errors


def test_version_2_rejects_the_version_1_field() -> None:
    data = _base()
    data["episode"]["severity"] = "mild"
    assert any(path == "/episode/severity" for path, _ in _errors(data))


def test_unknown_schema_version_is_refused() -> None:
    data = _base()
    data["schema_version"] = "3"
    assert any(path == "/schema_version" for path, _ in _errors(data))


def test_phq9_item9_may_stand_without_a_total() -> None:
    data = _base()
    data["measurements"] = [{"instrument": "phq9", "timepoint": "current", "item9": 2}]
    case = parse_case(data)
    assert case.measurements[0].score is None


@pytest.mark.parametrize(
    "measurement",
    [
        {"instrument": "madrs", "timepoint": "current"},
        {"instrument": "phq9", "timepoint": "current"},
        {"instrument": "madrs", "timepoint": "current", "item9": 1},
    ],
)
def test_a_score_is_required_otherwise(measurement: dict[str, Any]) -> None:
    data = _base()
    data["measurements"] = [measurement]
    assert any(path.startswith("/measurements/0") for path, _ in _errors(data))


def test_dropped_out_is_neither_failure_nor_intolerance(engine: Engine) -> None:
    data = _base()
    data["psychotherapy_trials"] = [
        {"modality": "cbt", "sessions": 10, "weeks": 10, "outcome": "dropped_out"}
    ]
    data["antidepressant_trials"] = [
        {
            "drug": "sertraline",
            "drug_class": "ssri",
            "dose_adequate": True,
            "weeks_at_dose": 8,
            "adherence": "good",
            "outcome": "dropped_out",
        }
    ]
    report = engine.evaluate(data, at=AT)
    found = {(f.name, f.subject): f for f in report.findings}
    for ptr in ("/psychotherapy_trials/0", "/antidepressant_trials/0"):
        name = "psychotherapy_trial_adequacy" if "psycho" in ptr else "ad_trial_adequacy"
        item = found[(name, ptr)]
        assert item.value is False and "dropped out" in (item.detail or "")
    top = {f.name: f.value for f in report.findings if f.subject is None}
    assert top["inadequate_response"] is False
    assert top["intolerance_ad_trials"] == 0
    assert top["treated_without_adequate_failure"] is True


def test_nssi_needs_a_date_or_the_window_flag() -> None:
    data = _base()
    data["suicide_risk"] = {"nssi": {}}
    assert any(path.startswith("/suicide_risk/nssi") for path, _ in _errors(data))


@pytest.mark.parametrize(
    "medication",
    [
        {"drug": "sertraline", "drug_class": "snri_or_ssri"},
        {"drug": "sertraline", "drug_class": "ssri", "dose_mg_per_day": 0},
        {"drug": "", "drug_class": "ssri"},
        {"drug": "sertraline", "drug_class": "ssri", "route": "oral"},
    ],
)
def test_current_medications_are_strict(medication: dict[str, Any]) -> None:
    data = _base()
    data["current_medications"] = [medication]
    assert any(path.startswith("/current_medications/0") for path, _ in _errors(data))


def test_response_state_is_a_recorded_state(engine: Engine) -> None:
    data = _base()
    data["episode"]["state"] = "response_without_remission"
    top = {f.name: f.value for f in engine.evaluate(data, at=AT).findings if f.subject is None}
    assert top["responding"] is True and top["in_remission"] is False


# --------------------------------------------------------------------------- currency


def test_score_currency_boundaries() -> None:
    at = date(2026, 11, 24)
    assert score_currency(None, at, 28) == "undated"
    assert score_currency(date(2026, 10, 27), at, 28) == "current"  # 28 days
    assert score_currency(date(2026, 10, 26), at, 28) == "stale"  # 29 days
    assert score_currency(date(2026, 11, 25), at, 28) == "stale"  # after the evaluation
    assert score_currency(date(2026, 10, 26), at, 56) == "current"


def test_lenient_currency_setting_lets_an_older_score_decide() -> None:
    data = _base()
    data["measurements"] = [
        {"instrument": "phq9", "timepoint": "baseline", "score": 20},
        {"instrument": "phq9", "timepoint": "current", "score": 3, "date": "2026-10-10"},
    ]
    default = Engine().evaluate(data, at=AT)
    lenient = Engine(settings=Settings(score_current_max_days=56)).evaluate(data, at=AT)

    def top(report: Any) -> dict[str, Any]:
        return {f.name: f.value for f in report.findings if f.subject is None}

    assert "response_status" not in top(default) and top(default)["in_remission"] is False
    assert top(lenient)["response_status"] == "remission" and top(lenient)["in_remission"]


def test_nssi_window_is_safe_in_year_one() -> None:
    assert within_months(date(1, 1, 5), date(1, 2, 1), 3) is True
    data = _base()
    data["episode"] = {"onset_date": "0001-01-01", "baseline_severity": "moderate"}
    data["suicide_risk"] = {"nssi": {"last_date": "0001-01-05"}}
    report = Engine().evaluate(data, at=datetime(1, 2, 1, tzinfo=timezone.utc))
    top = {f.name: f.value for f in report.findings if f.subject is None}
    assert top["nssi_recent"] is True


# --------------------------------------------------------------------------- issue-8 follow-up


def test_episode_state_is_not_recorded_by_default(engine: Engine) -> None:
    """Point 1: no default state. Not recorded is neither remission nor response (nothing is
    withheld) and nothing a score could conflict with."""
    data = _base()
    assert parse_case(data).episode.state is None
    data["measurements"] = [
        {"instrument": "phq9", "timepoint": "baseline", "score": 20, "date": "2026-09-01"},
        {"instrument": "phq9", "timepoint": "current", "score": 18, "date": "2026-11-20"},
    ]
    top = {f.name: f.value for f in engine.evaluate(data, at=AT).findings if f.subject is None}
    assert top["response_status"] == "no_response"
    assert top["state_conflict"] is False
    assert top["in_remission"] is False and top["responding"] is False
    data["episode"]["state"] = "remission"  # a recorded state still conflicts
    top = {f.name: f.value for f in engine.evaluate(data, at=AT).findings if f.subject is None}
    assert top["state_conflict"] is True


def test_a_version_1_file_without_a_state_migrates_to_state_not_recorded() -> None:
    """Decision (schemas.case.migrate_v1): version 1's default "depressed" was never a
    clinician's record, so the migration does not write it; a given state is kept."""
    v1 = _as_v1(_base())
    assert "state" not in migrate(v1)["episode"]  # type: ignore[index]
    assert parse_case(v1).episode.state is None
    v1["episode"]["state"] = "depressed"
    state = parse_case(v1).episode.state
    assert state is not None and state.value == "depressed"


def test_current_severity_is_not_the_baseline_carried_forward(engine: Engine) -> None:
    """Point 2: severe at baseline, nothing current -> current severity not recorded (None,
    never "not severe"), the re-measure gate, and no ECT for severe depression."""
    data = _base()
    data["episode"]["baseline_severity"] = "severe"
    report = engine.evaluate(data, at=AT)
    top = {f.name: f.value for f in report.findings if f.subject is None}
    assert top["current_severity"] is None and top["severe"] is None
    assert top["remeasure_depression_score"] is True
    assert "remeasure_severity_now" in {g.gate for g in report.gates}
    data["episode"]["current_severity"] = "moderate"
    report = engine.evaluate(data, at=AT)
    top = {f.name: f.value for f in report.findings if f.subject is None}
    assert top["severe"] is False and "remeasure_depression_score" not in top
    assert "remeasure_severity_now" not in {g.gate for g in report.gates}


_INVISIBLE = ["\x0c", " ", "\t\n", "\u200b", "\u00a0\u2003", "\x00"]
_NAME_FIELDS = [
    ("antidepressant_trials", {"drug_class": "ssri", "outcome": "no_response"}, "drug"),
    ("augmentations", {"agent": "other"}, "drug"),
    ("current_medications", {"drug_class": "ssri"}, "drug"),
]


@pytest.mark.parametrize("text", _INVISIBLE, ids=repr)
@pytest.mark.parametrize(("section", "item", "name"), _NAME_FIELDS, ids=lambda v: str(v)[:24])
def test_free_text_names_need_a_visible_character(
    section: str, item: dict[str, Any], name: str, text: str
) -> None:
    """Point 5: a name made only of whitespace, control or format characters names nothing;
    the error carries the field path."""
    data = _base()
    data[section] = [{**item, name: text}]
    errors = _errors(data)
    assert any(path == f"/{section}/0/{name}" for path, _ in errors), errors
    data[section] = [{**item, name: f" {text}sertraline"}]
    parse_case(data)  # a visible character anywhere is enough


@pytest.mark.parametrize("text", _INVISIBLE, ids=repr)
def test_patient_id_needs_a_visible_character(text: str) -> None:
    data = _base()
    data["patient"]["id"] = text
    assert any(path == "/patient/id" for path, _ in _errors(data))
