"""The fetch path: prefetch keys the client did not fill come from ``fhirServer`` (a mock FHIR
server on loopback), with the ``fhirAuthorization`` bearer token; 412 when they cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.cds_support import (
    BASE,
    bundle,
    client_keys,
    fhir_routes,
    hook_body,
    make_app,
    mock_fhir,
    patient_id,
)

PATH = "/cds-services/trd-plan"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(make_app(tmp_path, fhir_timeout=1.0))


def auth(token: str = "fhir-token-1") -> dict[str, Any]:
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "trd-cds",
    }


def call(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post(PATH, json=body, headers=client_keys().bearer(BASE + PATH))


def test_everything_fetched_gives_the_same_cards_as_full_prefetch(client: TestClient) -> None:
    with mock_fhir(fhir_routes("02")) as fhir:
        body = hook_body("02", prefetch=False, fhirServer=fhir.url, fhirAuthorization=auth())
        fetched = call(client, body)
        assert fetched.status_code == 200, fetched.text
        assert len(fhir.seen) == 8
        assert {h for _, h in fhir.seen} == {"Bearer fhir-token-1"}
        pid = patient_id(bundle("02"))
        assert f"/fhir/Patient/{pid}" in {p for p, _ in fhir.seen}
    prefetched = call(client, hook_body("02"))

    def strip(resp: Any) -> list[Any]:
        cards = resp.json()["cards"]
        for c in cards:
            c.pop("links", None)
        return cards

    assert strip(fetched) == strip(prefetched)


def test_only_the_missing_keys_are_fetched(client: TestClient) -> None:
    with mock_fhir(fhir_routes("01")) as fhir:
        body = hook_body("01", fhirServer=fhir.url, fhirAuthorization=auth())
        body["prefetch"]["observations"] = None
        del body["prefetch"]["procedures"]
        assert call(client, body).status_code == 200
        fetched = sorted(p.split("?")[0] for p, _ in fhir.seen)
        assert fetched == ["/fhir/Observation", "/fhir/Procedure"]


def test_search_pages_are_followed_on_the_same_server_only(client: TestClient) -> None:
    routes = fhir_routes("01")
    pid = patient_id(bundle("01"))
    cond_key = f"/fhir/Condition?patient={pid}"
    first = dict(routes[cond_key][1])
    entries = first["entry"]
    with mock_fhir(routes) as fhir:
        page1 = {
            **first,
            "entry": entries[:1],
            "link": [{"relation": "next", "url": f"{fhir.url}/Condition?page=2"}],
        }
        page2 = {
            **first,
            "entry": entries[1:],
            "link": [{"relation": "next", "url": "https://elsewhere.example/steal"}],
        }
        routes[cond_key] = (200, page1)
        routes["/fhir/Condition?page=2"] = (200, page2)
        body = hook_body("01", fhirServer=fhir.url, fhirAuthorization=auth())
        body["prefetch"]["conditions"] = None
        assert call(client, body).status_code == 200
        paths = [p for p, _ in fhir.seen]
        assert paths == [cond_key, "/fhir/Condition?page=2"]


@pytest.mark.parametrize(
    ("status", "answer", "reason"),
    [
        (401, {"resourceType": "OperationOutcome"}, "answered 401"),
        (200, {"resourceType": "OperationOutcome"}, "OperationOutcome"),
        (200, ["not", "fhir"], "did not answer FHIR"),
        (200, "slow", "in time"),
    ],
)
def test_fhir_server_failures_are_412(
    client: TestClient, status: int, answer: Any, reason: str
) -> None:
    routes = fhir_routes("01")
    pid = patient_id(bundle("01"))
    routes[f"/fhir/Condition?patient={pid}"] = (status, answer)
    with mock_fhir(routes) as fhir:
        body = hook_body("01", fhirServer=fhir.url, fhirAuthorization=auth())
        body["prefetch"]["conditions"] = None
        resp = call(client, body)
    assert resp.status_code == 412, resp.text
    assert "'conditions'" in resp.json()["error"] and reason in resp.json()["error"]


def test_unreachable_fhir_server_is_412(client: TestClient) -> None:
    body = hook_body("01", fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization=auth())
    body["prefetch"]["patient"] = None
    resp = call(client, body)
    assert resp.status_code == 412 and "cannot be reached" in resp.json()["error"]


def test_missing_keys_and_no_authorization_is_412(client: TestClient) -> None:
    body = hook_body("01", fhirServer="http://127.0.0.1:9/fhir")
    body["prefetch"]["conditions"] = None
    resp = call(client, body)
    assert resp.status_code == 412 and "fhirAuthorization" in resp.json()["error"]


def test_client_side_prefetch_failure_is_fetched_again(client: TestClient) -> None:
    """A prefetch value that is an OperationOutcome means the client could not fetch it."""
    body = hook_body("01")
    body["prefetch"]["conditions"] = {"resourceType": "OperationOutcome", "issue": []}
    resp = call(client, body)
    assert resp.status_code == 412 and "'conditions'" in resp.json()["error"]
    with mock_fhir(fhir_routes("01")) as fhir:
        body |= {"fhirServer": fhir.url, "fhirAuthorization": auth()}
        assert call(client, body).status_code == 200
        assert [p.split("?")[0] for p, _ in fhir.seen] == ["/fhir/Condition"]


def test_fhir_servers_can_be_restricted(tmp_path: Path) -> None:
    client = TestClient(make_app(tmp_path, fhir_servers=("https://fhir.example.org/r4",)))
    for url, status in [
        ("https://fhir.example.org/r4", 200),
        ("https://fhir.example.org/r4/", 200),
        ("https://fhir.example.org/r4-evil", 400),
        ("http://169.254.169.254/latest", 400),
    ]:
        resp = call(client, hook_body("01", fhirServer=url, fhirAuthorization=auth()))
        assert resp.status_code == status, (url, resp.text)
