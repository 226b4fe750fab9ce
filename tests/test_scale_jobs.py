"""``evaluate --jobs N``: a process pool gives the serial run's bytes, in order, and finishes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.audit_support import KEY
from tests.conftest import AT, EXAMPLES
from tests.scale_support import CrashItem, bulk_export
from trd_cds.cli import main
from trd_cds.engine.audit import ENV_KEY
from trd_cds.interop.batch import (
    CaseItem,
    EngineSpec,
    Failure,
    evaluate_batch,
    items_from_inputs,
)
from trd_cds.interop.batch.decisions import COLUMNS
from trd_cds.interop.batch.pool import evaluate_parallel
from trd_cds.schemas.errors import CaseError, EvaluationError

AT_ARGS = ["--at", "2026-11-24T09:00:00Z"]


@pytest.fixture
def batch_dir(tmp_path: Path) -> Path:
    """The examples plus a bad case in the middle (sorted names)."""
    folder = tmp_path / "cases"
    folder.mkdir()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "05b_bad.yaml").write_text("case_id: x\npatient: {age_years: -3}\n")
    return folder


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "json", "text"])
def test_jobs_output_is_byte_identical_to_serial(batch_dir: Path, fmt: str) -> None:
    serial = _run(["evaluate", str(batch_dir), "--format", fmt, *AT_ARGS])
    parallel = _run(["evaluate", str(batch_dir), "--format", fmt, "--jobs", "2", *AT_ARGS])
    assert serial[0] == parallel[0] == 1  # the bad case fails, the batch goes on
    assert parallel[1] == serial[1]
    assert parallel[2] == serial[2]
    assert "05b_bad.yaml" in parallel[2]
    assert "12 evaluated, 1 failed" in parallel[2]


def test_jobs_output_dir_and_decisions(batch_dir: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    table = tmp_path / "decisions.parquet"
    serial = _run(["evaluate", str(batch_dir), "-o", str(one), *AT_ARGS])
    parallel = _run(
        ["evaluate", str(batch_dir), "-o", str(two), "-j", "2", "--decisions", str(table), *AT_ARGS]
    )
    assert serial[0] == parallel[0] == 1
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    assert len(names) == 12
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes()
    rows = pq.read_table(table).to_pylist()
    assert list(rows[0]) == list(COLUMNS)
    assert [Path(r["source"]).name for r in rows] == sorted(p.name for p in batch_dir.iterdir())
    bad = next(r for r in rows if r["source"].endswith("05b_bad.yaml"))
    assert bad["error"] and bad["report_id"] is None
    first = json.loads((one / "01_trd_medication_and_therapy_failed.report.json").read_text())
    good = rows[0]
    assert good["report_id"] == first["provenance"]["report_id"]
    assert good["recommended"] == [r["option"] for r in first["recommendations"]]
    assert good["gates"] == [g["gate"] for g in first["gates"]]
    assert good["ruleset_hash"] == first["provenance"]["ruleset"]["hash"]


def test_jsonl_and_parquet_inputs(tmp_path: Path) -> None:
    import pyarrow as pa

    from trd_cds.engine.io import load_case

    texts = [
        load_case(p).model_dump_json(exclude_none=True) for p in sorted(EXAMPLES.glob("0*.yaml"))
    ]
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text(texts[0] + "\n\n" + "{not json\n" + texts[1] + "\n")
    parquet = tmp_path / "cases.parquet"
    pq.write_table(pa.table({"case": texts[:2], "name": ["a", "b"]}), parquet)
    serial = _run(["evaluate", str(jsonl), str(parquet), "--format", "jsonl", *AT_ARGS])
    code, out, err = _run(
        ["evaluate", str(jsonl), str(parquet), "--format", "jsonl", "-j", "2", *AT_ARGS]
    )
    assert (code, out, err) == serial
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("source") for line in lines] == [None, f"{jsonl}:3", None, None, None]
    assert lines[0]["provenance"]["report_id"] == lines[3]["provenance"]["report_id"]
    assert "cases.jsonl:3" in err


def test_failures_travel_as_their_error_class() -> None:
    case_error = CaseError("a.yaml", [("/patient/age_years", "too small"), ("/x", "extra")])
    back = Failure.of(case_error, "a.yaml").to_error()
    assert type(back) is CaseError and str(back) == str(case_error)
    assert back.exit_code == case_error.exit_code
    evaluation = EvaluationError("a: boom", case_id="c1", rule_id="r1")
    again = Failure.of(evaluation, "a").to_error()
    assert isinstance(again, EvaluationError)
    assert (str(again), again.case_id, again.rule_id) == ("a: boom", "c1", "r1")


def test_pool_reads_its_input_lazily() -> None:
    pulled = 0
    example = str(sorted(EXAMPLES.glob("*.yaml"))[0])

    def items() -> Iterator[CaseItem]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield CaseItem(f"{example}#{i}", path=example)

    outcomes = evaluate_parallel(items(), AT, EngineSpec(), jobs=2, chunk_size=4, in_flight=3)
    first = next(outcomes)
    assert first.failure is None
    assert pulled <= 4 * 4  # the window and one chunk being formed, not the input
    outcomes.close()  # type: ignore[attr-defined]


def test_a_dead_worker_costs_only_its_chunk() -> None:
    example = str(sorted(EXAMPLES.glob("*.yaml"))[0])
    items: list[CaseItem] = [CaseItem(f"ok-{i}", path=example) for i in range(6)]
    items.insert(3, CrashItem("crash", path=example))
    serial = list(evaluate_batch(items[:3] + items[4:], AT, EngineSpec()))
    parallel = list(evaluate_parallel(items, AT, EngineSpec(), jobs=2, chunk_size=1))
    assert [o.name for o in parallel] == [i.name for i in items]
    crash = parallel.pop(3)
    assert crash.failure is not None and "worker process died" in crash.failure.message
    assert [o.report for o in parallel] == [o.report for o in serial]


def test_decisions_to_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "d.parquet"
    code, _, err = _run(
        ["evaluate", str(EXAMPLES), "--decisions", str(target), "-j", "2", *AT_ARGS]
    )
    assert code == 1
    assert err.startswith("error: ") and "d.parquet" in err and "Traceback" not in err


def test_decision_row_reads_the_plan_next_step_when_there_is_one() -> None:
    from trd_cds.interop.batch import decision_row

    base = {
        "case_id": "c1",
        "recommendations": [{"option": "tms"}, {"option": "cbt"}],
        "blocked": [{"option": "ect"}],
        "gates": [{"gate": "safety_escalation_first"}],
        "provenance": {
            "report_id": "rpt-1",
            "evaluated_at": "2026-11-24T09:00:00+00:00",
            "ruleset": {"id": "core", "version": "1", "hash": "sha256:x"},
        },
    }
    plain = decision_row("a.yaml", base)
    assert plain["next_step"] is None
    assert (plain["recommended"], plain["blocked"], plain["gates"]) == (
        ["tms", "cbt"],
        ["ect"],
        ["safety_escalation_first"],
    )
    planned = {**base, "plan": {"next_step": {"option": "tms", "group": "next", "reason": "r"}}}
    assert decision_row("a.yaml", planned)["next_step"] == "tms"
    assert decision_row("a.yaml", {**base, "plan": {"next_step": None}})["next_step"] is None


def test_bulk_fhir_reports_point_into_the_resources_and_replay(tmp_path: Path) -> None:
    """A Bulk Data export evaluated as a batch (serially and on processes) gives reports whose
    evidence points into the FHIR resources, with the provenance map recorded, as one FHIR
    file does; the audit log replays them byte for byte."""
    folder = bulk_export(
        tmp_path / "bulk", [EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"]
    )
    items = list(items_from_inputs([str(folder)], at=AT))
    assert len(items) == 1 and items[0].sources
    serial = list(evaluate_batch(items, AT, EngineSpec()))
    parallel = list(evaluate_parallel(items, AT, EngineSpec(), jobs=2))
    assert [o.report for o in parallel] == [o.report for o in serial]
    report = json.loads(serial[0].report or b"{}")
    sources = report["provenance"]["input_sources"]
    assert sources["/antidepressant_trials/0/drug"].startswith("MedicationStatement/")
    pointers = [i["pointer"] for f in report["findings"] for i in f["inputs"]]
    assert any(p.startswith("MedicationStatement/") for p in pointers), pointers
    assert "/antidepressant_trials/0/drug" not in pointers  # FHIR supplied it: rewritten
    log_path = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        main,
        ["evaluate", str(folder), "--format", "jsonl", *AT_ARGS, "--audit", str(log_path)],
        env={ENV_KEY: KEY.decode()},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0]) == report
    replay = CliRunner().invoke(
        main, ["audit", "replay", str(log_path)], env={ENV_KEY: KEY.decode()}
    )
    assert replay.exit_code == 0, replay.output
