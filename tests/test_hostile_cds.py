"""Hostile CDS Hooks calls: a malformed prefetch or draft-order bundle is a 4xx naming the
problem, never a 500 and never a card computed from data that was quietly left out.
(JWT edge cases that held are in tests/test_cds_auth.py; this file pins what was broken.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.cds_support import (
    BASE,
    client_keys,
    fhir_routes,
    hook_body,
    make_app,
    med_order,
    mock_fhir,
)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(make_app(tmp_path), raise_server_exceptions=False)


def _call(client: TestClient, body: dict[str, Any], service: str = "trd-plan") -> Any:
    headers = client_keys().bearer(f"{BASE}/cds-services/{service}")
    return client.post(f"/cds-services/{service}", json=body, headers=headers)


def _order_body(**changes: Any) -> dict[str, Any]:
    body = hook_body("02", "order-select", draft=[med_order("m1", "36437", "sertraline", "x")])
    pid = body["context"]["patientId"]
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["subject"]["reference"] = f"Patient/{pid}"
    order.update(changes)
    return body


@pytest.mark.parametrize(
    ("entry", "detail"),
    [
        (5, "Bundle/?#/entry: entry is not a list"),
        ([5], "Bundle/?#/entry/0: not an object"),
        ([{"resource": "Condition/1"}], "Bundle/?#/entry/0/resource: not an object"),
    ],
)
def test_a_prefetch_bundle_of_the_wrong_shape_is_a_400(
    client: TestClient, entry: Any, detail: str
) -> None:
    body = hook_body("02")
    body["prefetch"]["conditions"]["entry"] = entry
    resp = _call(client, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["details"] == [detail]


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("observations", {"resourceType": "Bogus"}, "is a Bogus, not the Bundle"),
        ("observations", {"resourceType": "Patient", "id": "x"}, "is a Patient, not the Bundle"),
        (
            "patient",
            {"resourceType": "Bundle", "type": "searchset", "entry": []},
            "is a Bundle, not the Patient",
        ),
    ],
)
def test_a_prefetch_key_holding_another_resource_type_is_a_400(
    client: TestClient, key: str, value: Any, reason: str
) -> None:
    # the Observations (PHQ-9, C-SSRS) replaced by anything else used to give 200 and cards
    # computed as if the patient had no scores and no screener
    body = hook_body("02")
    body["prefetch"][key] = value
    resp = _call(client, body)
    assert resp.status_code == 400, resp.text
    assert reason in resp.json()["error"]


_AUTH = {
    "access_token": "t",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "trd-cds",
}


def test_a_fetched_answer_of_another_type_is_a_412(client: TestClient) -> None:
    routes = fhir_routes("02")
    obs_route = next(r for r in routes if r.startswith("/fhir/Observation?"))
    routes[obs_route] = (200, {"resourceType": "Patient", "id": "x"})
    with mock_fhir(routes) as fhir:
        body = hook_body("02", fhirServer=fhir.url, fhirAuthorization=_AUTH)
        body["prefetch"]["observations"] = None
        resp = _call(client, body)
    assert resp.status_code == 412, resp.text
    assert "answered a Patient, not a Bundle" in resp.json()["error"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"medicationCodeableConcept": {"coding": 5}}, "medicationCodeableConcept/coding"),
        ({"contained": 5}, "MedicationRequest/m1#/contained"),
        ({"status": 7}, "MedicationRequest/m1#/status"),
    ],
)
def test_a_malformed_draft_order_is_a_400_not_a_500(
    client: TestClient, change: dict[str, Any], detail: str
) -> None:
    resp = _call(client, _order_body(**change), "trd-order-select")
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "context.draftOrders holds invalid FHIR"
    assert detail in resp.json()["details"][0]


def test_draft_orders_that_are_not_a_list_are_a_400(client: TestClient) -> None:
    body = _order_body()
    body["context"]["draftOrders"]["entry"] = 5
    resp = _call(client, body, "trd-order-select")
    assert resp.status_code == 400 and "entry is not a list" in resp.json()["details"][0]


def test_a_draft_order_for_another_patient_is_refused(client: TestClient) -> None:
    body = _order_body(subject={"reference": "Patient/someone-else"})
    resp = _call(client, body, "trd-order-select")
    assert resp.status_code == 400
    assert resp.json()["error"] == "context.draftOrders: an order is for another patient"


def test_a_well_formed_order_check_still_answers(client: TestClient) -> None:
    resp = _call(client, copy.deepcopy(_order_body()), "trd-order-select")
    assert resp.status_code == 200 and resp.json()["cards"]


def test_a_chunked_body_over_the_limit_is_a_413(tmp_path: Path) -> None:
    # no Content-Length for the guard to check: the body was read whole, whatever its size
    client = TestClient(make_app(tmp_path, max_body_bytes=100_000))
    data = json.dumps({**hook_body("02"), "pad": "x" * 1_000_000}).encode()
    chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
    headers = {
        **client_keys().bearer(f"{BASE}/cds-services/trd-plan"),
        "content-type": "application/json",
    }
    resp = client.post("/cds-services/trd-plan", content=chunks, headers=headers)
    assert resp.status_code == 413
    assert resp.json()["error"] == "the request body is over 100000 bytes"
    small = json.dumps(hook_body("02")).encode()
    headers = {
        **client_keys().bearer(f"{BASE}/cds-services/trd-plan"),
        "content-type": "application/json",
    }
    resp = client.post("/cds-services/trd-plan", content=iter([small]), headers=headers)
    assert resp.status_code == 200, resp.text


def test_a_prefetch_that_is_one_page_of_several_is_not_read_as_all(client: TestClient) -> None:
    # page 1 of the Observations (PHQ-9, C-SSRS) was taken for all of them: the rest unread
    body = hook_body("02")
    body["prefetch"]["observations"]["link"] = [
        {"relation": "next", "url": "https://ehr.example.org/fhir/Observation?page=2"}
    ]
    resp = _call(client, body)
    assert resp.status_code == 412
    assert "'observations' missing (or one page of several)" in resp.json()["error"]


def test_a_paged_prefetch_is_fetched_whole(client: TestClient) -> None:
    with mock_fhir(fhir_routes("02")) as fhir:
        body = hook_body("02", fhirServer=fhir.url, fhirAuthorization=_AUTH)
        body["prefetch"]["observations"]["link"] = [
            {"relation": "next", "url": f"{fhir.url}/Observation?page=2"}
        ]
        resp = _call(client, body)
        assert resp.status_code == 200, resp.text
        assert [p.split("?")[0] for p, _ in fhir.seen] == ["/fhir/Observation"]
