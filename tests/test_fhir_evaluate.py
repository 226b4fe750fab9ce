"""``trd-cds evaluate`` on FHIR R4 JSON: recognised by resourceType, evidence points into the
FHIR resources, the provenance map is recorded, and the audit log replays it byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import ROOT
from trd_cds.cli import main
from trd_cds.engine.audit import open_log

FIXTURES = ROOT.parent / "shared" / "fixtures" / "fhir"
MILAN = FIXTURES / "synthea-bundles" / "Milan_Beatty_e78d0ed2-1b54-4c30-90ae-f7405af1e402.json"
AT = ["--at", "2026-11-24T09:00:00Z"]


def _pointers(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "pointer" and isinstance(v, str)]
        return found + [p for v in node.values() for p in _pointers(v)]
    if isinstance(node, list):
        return [p for v in node for p in _pointers(v)]
    return []


def test_a_fhir_bundle_is_evaluated_with_pointers_into_its_resources() -> None:
    result = CliRunner().invoke(main, ["evaluate", str(MILAN), "--format", "json", *AT])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    sources = report["provenance"]["input_sources"]
    assert sources["/antidepressant_trials/0/drug"].startswith("MedicationRequest/")
    pointers = _pointers(report)
    assert any(p.startswith(("MedicationRequest/", "Condition/", "Patient/")) for p in pointers)
    # a case pointer that FHIR supplied never survives the rewrite
    assert "/antidepressant_trials/0/drug" not in pointers


def test_the_same_case_as_a_case_file_gives_the_same_decision(tmp_path: Path) -> None:
    derived = CliRunner().invoke(main, ["fhir", "case", str(MILAN), *AT])
    assert derived.exit_code == 0, derived.output
    case_file = tmp_path / "milan.json"
    case_file.write_text(json.dumps(json.loads(derived.output)["case"]), "utf-8")
    runs = [
        json.loads(CliRunner().invoke(main, ["evaluate", str(p), "--format", "json", *AT]).output)
        for p in (MILAN, case_file)
    ]
    options = [[r["option"] for r in run["recommendations"]] for run in runs]
    assert options[0] == options[1]
    assert "input_sources" not in runs[1]["provenance"]
    assert runs[0]["provenance"]["report_id"] != runs[1]["provenance"]["report_id"]


def test_an_audited_fhir_evaluation_replays_identically(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        main,
        ["evaluate", str(MILAN), "--format", "jsonl", "--audit", str(log_path), *AT],
        env={"TRD_CDS_AUDIT_KEY": "k" * 32},
    )
    assert result.exit_code == 0, result.output
    from trd_cds import Engine

    with open_log(log_path, key=b"k" * 32) as log:
        items = log.replay(Engine()).items
    assert [item.status for item in items] == ["identical"]
