"""Dask: a 2-worker LocalCluster gives the local run's reports, survives bad cases, and runs the
Bulk FHIR fixture end to end (reports, Parquet decisions, the audit log written by the client).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.audit_support import KEY
from tests.conftest import AT, EXAMPLES, ROOT
from tests.scale_support import bulk_export
from trd_cds.cli import main
from trd_cds.engine.audit import ENV_KEY, open_log
from trd_cds.interop.batch import CaseItem, EngineSpec, evaluate_batch, items_from_inputs
from trd_cds.interop.batch.cluster import PLUGIN_NAME, evaluate_on_client, local_client

distributed = pytest.importorskip("distributed")

BULK = ROOT.parent / "shared" / "fixtures" / "fhir" / "synthea-bulk-10"
AT_ARGS = ["--at", "2026-11-24T09:00:00Z"]


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with local_client(2, EngineSpec()) as c:
        yield c


def _items(tmp_path: Path) -> list[CaseItem]:
    bad = tmp_path / "bad.yaml"
    bad.write_text("case_id: [\n")
    paths = [str(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    paths.insert(4, str(bad))
    return list(items_from_inputs(paths, at=AT, read=True))


def test_every_worker_built_its_engine_through_the_named_plugin(client: distributed.Client) -> None:
    def has_engine(dask_worker: distributed.Worker) -> bool:
        plugin = dask_worker.plugins.get(PLUGIN_NAME)
        return getattr(plugin, "engine", None) is not None

    answers = client.run(has_engine)
    assert len(answers) == 2 and all(answers.values())


def test_same_reports_as_a_local_run_and_a_bad_case_does_not_stop_it(
    client: distributed.Client, tmp_path: Path
) -> None:
    items = _items(tmp_path)
    local = list(evaluate_batch(items, AT, EngineSpec()))
    remote = list(
        evaluate_on_client(client, items, AT, EngineSpec(), partition_size=3, register_plugin=False)
    )
    assert [o.name for o in remote] == [i.name for i in items]  # input order
    assert [o.report for o in remote] == [o.report for o in local]  # byte-identical
    assert [o.failure for o in remote] == [o.failure for o in local]
    failed = [o for o in remote if o.failure is not None]
    assert len(failed) == 1 and failed[0].name.endswith("bad.yaml")
    assert all(
        json.loads(o.report)["provenance"]["evaluated_at"] == AT.isoformat()
        for o in remote
        if o.report is not None
    )


def test_bulk_export_end_to_end(
    client: distributed.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI against the running cluster's scheduler (tcp://): a Bulk export of example
    cases in, JSONL reports, Parquet decisions and the audit log (written by the client) out."""
    monkeypatch.setenv(ENV_KEY, KEY.decode())
    folder = bulk_export(tmp_path / "bulk", sorted(EXAMPLES.glob("0[1-4]*.yaml")))
    table, log_path = tmp_path / "decisions.parquet", tmp_path / "audit.jsonl"
    remote = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(folder),
            "--format",
            "jsonl",
            *AT_ARGS,
            "--decisions",
            str(table),
            "--audit",
            str(log_path),
            "--scheduler",
            client.scheduler.address,
        ],
    )
    local = list(evaluate_batch(items_from_inputs([str(folder)], at=AT), AT, EngineSpec()))
    expected = [json.loads(o.report) for o in local if o.report is not None]
    assert len(expected) == 4, [o.failure for o in local]
    lines = [json.loads(line) for line in remote.stdout.splitlines()]
    assert lines == expected and remote.exit_code == 0, remote.stderr
    rows = pq.read_table(table).to_pylist()
    assert [r["report_id"] for r in rows] == [r["provenance"]["report_id"] for r in expected]
    assert all(r["error"] is None and r["recommended"] for r in rows)
    with open_log(log_path, key=KEY) as log:
        result = log.verify()
        recorded = [r.report_id for r in log.records()]
    assert result.ok and result.authenticated
    assert recorded == [r["provenance"]["report_id"] for r in expected]  # in input order


def test_synthea_bulk_fixture_end_to_end(client: distributed.Client, tmp_path: Path) -> None:
    """The shared Synthea export: no patient there is a TRD case (deceased, or no depressive
    disorder coded); each gets one row saying why, none stops the batch."""
    table = tmp_path / "decisions.parquet"
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(BULK),
            "--format",
            "jsonl",
            *AT_ARGS,
            "--decisions",
            str(table),
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    patients = sorted(
        json.loads(line)["id"]
        for line in (BULK / "Patient.ndjson").read_text().splitlines()
        if line.strip()
    )
    assert [line["source"].rsplit("/", 1)[1] for line in lines] == patients
    assert all(
        "deceased" in line["error"] or "no active depressive" in line["error"] for line in lines
    )
    rows = pq.read_table(table).to_pylist()
    assert [r["source"] for r in rows] == [line["source"] for line in lines]
    assert f"0 evaluated, {len(patients)} failed" in result.stderr


def test_a_lost_partition_is_reported_per_case(client: distributed.Client) -> None:
    """A partition the cluster cannot run (here: no plugin under that name) fails its cases,
    not the batch."""
    from trd_cds.interop.batch.cluster import evaluate_partition

    future = client.submit(evaluate_partition, [], AT, pure=False)
    assert future.result() == []
    items = [CaseItem("x", problem="nothing")]
    out = list(evaluate_on_client(client, items, AT, EngineSpec(), register_plugin=False))
    assert out[0].failure is not None and out[0].failure.kind == "case"


@pytest.mark.slow
def test_scheduler_local_starts_and_stops_its_own_cluster(tmp_path: Path) -> None:
    args = ["evaluate", str(EXAMPLES), "--format", "jsonl", *AT_ARGS]
    serial = CliRunner().invoke(main, args)
    local = CliRunner().invoke(main, [*args, "--scheduler", "local", "--jobs", "2"])
    assert local.exit_code == serial.exit_code == 0
    assert local.stdout == serial.stdout
