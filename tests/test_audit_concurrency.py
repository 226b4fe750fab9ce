"""The audit log under concurrency and crashes: threads, 4 processes, SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.audit_support import KEY, STORES, check_threads_lose_nothing, small_case, writer
from tests.conftest import AT
from trd_cds import Engine
from trd_cds.engine.audit import open_log


@pytest.mark.parametrize("store", STORES)
def test_threads_lose_nothing(tmp_path: Path, engine: Engine, store: str) -> None:
    check_threads_lose_nothing(str(tmp_path / f"audit.{store}"), engine)


@pytest.mark.slow
@pytest.mark.parametrize("store", STORES)
def test_four_processes_lose_nothing(tmp_path: Path, store: str) -> None:
    path = tmp_path / f"audit.{store}"
    procs = [writer(path, f"p{n}", 25) for n in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with open_log(path) as log:
        result = log.verify()
        records = list(log.records())
    assert result.ok, result
    assert [r.seq for r in records] == list(range(1, 101))  # one linear chain
    assert sorted(r.case_id for r in records) == sorted(
        f"p{n}-{i}" for n in range(4) for i in range(25)
    )


@pytest.mark.slow
@pytest.mark.parametrize("store", STORES)
def test_sigkill_mid_run_leaves_every_completed_record(tmp_path: Path, store: str) -> None:
    path = tmp_path / f"audit.{store}"
    procs = [writer(path, f"k{n}", -1) for n in range(2)]
    acknowledged: set[int] = set()
    try:
        assert procs[0].stdout is not None
        for line in procs[0].stdout:  # let both write until the first has 40 records
            if line.startswith("ready"):
                continue
            acknowledged.add(int(line.split()[0]))
            if len(acknowledged) >= 40:
                break
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
    for proc in procs:
        out, _ = proc.communicate(timeout=30)
        acknowledged |= {int(line.split()[0]) for line in out.splitlines() if line[0].isdigit()}
        assert proc.returncode == -signal.SIGKILL

    with open_log(path) as log:
        result = log.verify()
        seqs = [r.seq for r in log.records()]
    # every acknowledged record is there and verifies; a write cut by the kill may leave a
    # torn last line, which verify reports as truncation and nothing else
    assert result.ok or result.problem.kind == "truncated", result
    assert seqs == list(range(1, result.count + 1))
    assert acknowledged <= set(seqs)

    case = small_case("after-kill")
    with open_log(path, key=KEY) as log:
        engine = Engine()
        record = log.append(engine.evaluate(case, at=AT), case)
        after = log.verify()
    assert after.ok, after
    assert record.seq == result.count + 1
    assert (record.recovered_tail is not None) == (not result.ok)
