"""A real process: ``trd-cds serve`` on uvicorn at 127.0.0.1 (a free port), called over HTTP,
with a mock FHIR server on loopback for the fetch path and the audit log checked afterwards
with ``trd-cds audit``. Marked slow (CI runs ``pytest -m slow``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cds_support import (
    ISS,
    bundle,
    client_keys,
    example_requests,
    fhir_routes,
    free_port,
    hook_body,
    mock_fhir,
    patient_id,
    start_serving,
    stop_serving,
    write_jwks,
)

pytestmark = pytest.mark.slow
KEY = "p" * 40
CLI = [sys.executable, "-c", "from trd_cds.cli import main; main()"]


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[str]
    audit: Path
    env: dict[str, str]

    def post(self, path: str, body: object) -> httpx.Response:
        headers = client_keys().bearer(self.base + path)
        return httpx.post(self.base + path, json=body, headers=headers, timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    jwks = write_jwks(tmp_path, client_keys())
    audit = tmp_path / "audit.sqlite"
    env = {**os.environ, "TRD_CDS_AUDIT_KEY": KEY}
    args = ["--trust", f"{ISS}={jwks}", "--audit-log", str(audit)]
    try:
        proc = start_serving(args, env, port)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    base = f"http://127.0.0.1:{port}"
    try:
        yield Server(base, proc, audit, env)
    finally:
        stop_serving(proc)


def test_serve_over_http_with_fetch_feedback_and_audit(server: Server) -> None:
    disc = httpx.get(
        server.base + "/cds-services",
        headers=client_keys().bearer(server.base + "/cds-services"),
        timeout=10,
    )
    assert disc.status_code == 200
    assert {s["id"] for s in disc.json()["services"]} >= {"trd-plan", "trd-order-sign"}

    # the bundled example request, as the README's curl sends it
    view = server.post("/cds-services/trd-plan", example_requests()["patient-view.cdshook"])
    assert view.status_code == 200, view.text
    cards = view.json()["cards"]
    assert cards[0]["indicator"] == "critical"
    url = cards[-1]["links"][0]["url"]
    report = httpx.get(url, timeout=10)
    assert report.status_code == 200 and report.text.startswith("<!DOCTYPE html>")
    assert "text/html" in report.headers["content-type"] and "<script" not in report.text
    markdown = httpx.get(url, params={"format": "markdown"}, timeout=10)
    assert markdown.status_code == 200 and markdown.text.startswith("# Decision support report")

    # the fetch path: no prefetch, everything from a FHIR server on loopback
    with mock_fhir(fhir_routes("02")) as fhir:
        auth = {
            "access_token": "fhir-secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "trd-cds",
        }
        body = hook_body("02", prefetch=False, fhirServer=fhir.url, fhirAuthorization=auth)
        fetched = server.post("/cds-services/trd-plan", body)
        assert fetched.status_code == 200, fetched.text
        assert {h for _, h in fhir.seen} == {"Bearer fhir-secret-token"}
    assert [c["summary"] for c in fetched.json()["cards"]] == [c["summary"] for c in cards]

    # 412 and 400 over the wire
    missing = hook_body("02")
    missing["prefetch"]["observations"] = None
    assert server.post("/cds-services/trd-plan", missing).status_code == 412
    assert server.post("/cds-services/trd-plan", {"hook": 1}).status_code == 400

    # feedback: a reason coding alone
    feedback = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
                        "code": "patient-refuses",
                    }
                },
                "outcomeTimestamp": "2026-11-24T09:05:00Z",
            }
        ]
    }
    assert server.post("/cds-services/trd-plan/feedback", feedback).status_code == 200

    server.proc.terminate()
    _, err = server.proc.communicate(timeout=20)
    assert "POST /cds-services/trd-plan -> 200" in err
    for secret in (patient_id(bundle("02")), "fhir-secret-token", "Bearer ey", KEY):
        assert secret not in err, secret

    listed = subprocess.run(
        [*CLI, "audit", "list", str(server.audit)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and "feedback on rec-" in lines[2] and "patient-refuses" in lines[2]
    verified = subprocess.run(
        [*CLI, "audit", "verify", str(server.audit)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "authenticity: verified" in verified.stdout


def test_serve_refuses_no_auth_off_loopback_and_no_trust(tmp_path: Path) -> None:
    off = subprocess.run(
        [*CLI, "serve", "--no-auth", "--host", "0.0.0.0"], capture_output=True, text=True
    )
    assert off.returncode == 2 and "loopback" in off.stderr
    untrusted = subprocess.run([*CLI, "serve"], capture_output=True, text=True)
    assert untrusted.returncode == 2 and "trusted issuers" in untrusted.stderr
