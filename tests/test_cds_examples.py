"""The CDS Hooks request examples under examples/cds-hooks/ (used by the README's curl lines)
are current, and the service answers them as the README says."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.cds_support import BASE, ROOT, client_keys, example_requests, make_app

FOLDER = ROOT / "examples" / "cds-hooks"


@pytest.mark.parametrize("name", sorted(example_requests()))
def test_example_request_is_current(name: str) -> None:
    text = json.dumps(example_requests()[name], indent=2, ensure_ascii=False) + "\n"
    path = FOLDER / name
    if os.environ.get("TRD_CDS_REGENERATE"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, (
        f"{name} is stale: TRD_CDS_REGENERATE=1 pytest tests/test_cds_examples.py"
    )


def test_the_examples_give_the_cards_the_readme_shows(tmp_path: Path) -> None:
    client = TestClient(make_app(tmp_path))

    def post(service: str, name: str) -> list[dict]:
        path = f"/cds-services/{service}"
        body = json.loads((FOLDER / name).read_text(encoding="utf-8"))
        resp = client.post(path, json=body, headers=client_keys().bearer(BASE + path))
        assert resp.status_code == 200, resp.text
        return resp.json()["cards"]

    view = post("trd-plan", "patient-view.cdshook")
    assert [c["indicator"] for c in view] == ["critical", "info"]
    (sign,) = post("trd-order-sign", "order-sign.cdshook")
    assert sign["indicator"] == "critical"
    assert "pathway.bipolar_no_antidepressant_monotherapy@1" in sign["summary"]
