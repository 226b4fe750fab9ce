"""Helpers for the CDS Hooks tests: client keys and JWTs, hook bodies, a mock FHIR server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trd_cds import Engine
from trd_cds.interop.cds_hooks import ServiceSettings, TrustedIssuer, Verifier, create_app
from trd_cds.interop.cds_hooks.auth import Issuer
from trd_cds.interop.cds_hooks.services import prefetch_from_bundle

ROOT = Path(__file__).resolve().parent.parent
FHIR_EXAMPLES = ROOT / "examples" / "fhir"
AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
ISS = "https://ehr.example.org"
BASE = "http://testserver"


@dataclass
class ClientKeys:
    """An EHR's signing keys (ES384 and RS384) and its public JWKS."""

    es: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )
    rs: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwks(self) -> dict[str, Any]:
        es = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.es.public_key()))
        rs = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rs.public_key()))
        es |= {"kid": "es-1", "alg": "ES384", "use": "sig"}
        rs |= {"kid": "rs-1", "alg": "RS384", "use": "sig"}
        return {"keys": [es, rs]}

    def token(
        self,
        aud: str,
        *,
        alg: str = "ES384",
        iss: str = ISS,
        now: float | None = None,
        jti: str | None = None,
        drop: tuple[str, ...] = (),
        **extra: Any,
    ) -> str:
        now = time.time() if now is None else now
        claims: dict[str, Any] = {
            "iss": iss,
            "sub": "ehr-client",
            "aud": aud,
            "iat": int(now),
            "exp": int(now) + 300,
            "jti": str(uuid.uuid4()) if jti is None else jti,
            **extra,
        }
        for name in drop:
            claims.pop(name, None)
        key = self.es if alg == "ES384" else self.rs
        kid = "es-1" if alg == "ES384" else "rs-1"
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def bearer(self, aud: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(aud, **kw)}"}


_KEYS: ClientKeys | None = None


def client_keys() -> ClientKeys:
    """One key pair per test session (RSA key generation is slow)."""
    global _KEYS
    if _KEYS is None:
        _KEYS = ClientKeys()
    return _KEYS


def write_jwks(tmp_path: Path, keys: ClientKeys) -> Path:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(keys.jwks()), encoding="utf-8")
    return path


def make_app(
    tmp_path: Path,
    *,
    audit: bool = False,
    auth: bool = True,
    audit_key: bytes | None = None,
    **settings: Any,
) -> Any:
    """An app with a fixed clock, trusting :data:`ISS` with the session keys (a JWKS file)."""
    jwks = write_jwks(tmp_path, client_keys())
    opts: dict[str, Any] = {
        "trusted_issuers": (TrustedIssuer(iss=ISS, jwks=str(jwks)),),
        "require_auth": auth,
        **settings,
    }
    if audit:
        opts["audit_log"] = tmp_path / "audit.jsonl"
    return create_app(engine(), ServiceSettings(**opts), clock=lambda: AT, audit_key=audit_key)


_ENGINE: Engine | None = None


def engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine()
    return _ENGINE


def verifier(tmp_path: Path, **kw: Any) -> Verifier:
    jwks = write_jwks(tmp_path, client_keys())
    return Verifier({ISS: Issuer(ISS, str(jwks))}, **kw)


def bundle(name: str) -> dict[str, Any]:
    path = next(FHIR_EXAMPLES.glob(f"{name}*.fhir"))
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def patient_id(b: dict[str, Any]) -> str:
    return next(
        str(e["resource"]["id"]) for e in b["entry"] if e["resource"]["resourceType"] == "Patient"
    )


def hook_body(
    name: str,
    hook: str = "patient-view",
    *,
    prefetch: bool = True,
    draft: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A hook call for the example bundle ``name`` (e.g. ``"02"``), with its full prefetch."""
    b = bundle(name)
    pid = patient_id(b)
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": pid}
    if hook in ("order-select", "order-sign"):
        entries = [{"resource": r} for r in draft or []]
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        if hook == "order-select":
            context["selections"] = [f"{r['resourceType']}/{r['id']}" for r in draft or []]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch:
        body["prefetch"] = prefetch_from_bundle(b)
    body.update(extra)
    return body


def med_order(rid: str, rxnorm: str, display: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": rxnorm,
                    "display": display,
                }
            ]
        },
    }


def service_order(rid: str, text: str, pid: str, snomed: str | None = None) -> dict[str, Any]:
    code: dict[str, Any] = {"text": text}
    if snomed:
        code["coding"] = [{"system": "http://snomed.info/sct", "code": snomed, "display": text}]
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "code": code,
    }


# ------------------------------------------------------------------- a mock FHIR server


@dataclass
class MockFhir:
    """A FHIR server on loopback answering the prefetch queries from one example bundle."""

    url: str
    seen: list[tuple[str, str | None]]  # (path?query, Authorization header)
    routes: dict[str, tuple[int, Any]]


def fhir_routes(name: str, base_path: str = "/fhir") -> dict[str, tuple[int, Any]]:
    """path?query (templates filled for the example's patient) -> (status, JSON body)."""
    from trd_cds.interop.cds_hooks.services import fill, prefetch_templates

    b = bundle(name)
    pid = patient_id(b)
    prefetch = prefetch_from_bundle(b)
    return {
        f"{base_path}/{fill(t, pid)}": (200, prefetch[key])
        for key, t in prefetch_templates().items()
    }


@contextmanager
def mock_fhir(routes: dict[str, tuple[int, Any]]) -> Iterator[MockFhir]:
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            status, body = routes.get(self.path, (404, {"resourceType": "OperationOutcome"}))
            if body == "slow":
                time.sleep(3)
                status, body = 200, {"resourceType": "Bundle", "type": "searchset"}
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the service gave up waiting (the timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield MockFhir(f"http://127.0.0.1:{server.server_address[1]}/fhir", seen, routes)
    finally:
        server.shutdown()
        server.server_close()


def example_requests() -> dict[str, dict[str, Any]]:
    """The request bodies shipped under examples/cds-hooks/ (regenerated from the FHIR
    examples: ``TRD_CDS_REGENERATE=1 pytest tests/test_cds_examples.py``)."""
    b02, b04 = bundle("02"), bundle("04")
    pv = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": patient_id(b02)},
        "prefetch": prefetch_from_bundle(b02),
    }
    draft = med_order("draft-sertraline", "36437", "sertraline", patient_id(b04))
    sign = {
        "hook": "order-sign",
        "hookInstance": "5b8fb2a1-5f5e-4c4e-9c1e-2f0f8a4b7e11",
        "context": {
            "userId": "Practitioner/example",
            "patientId": patient_id(b04),
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": draft}],
            },
        },
        "prefetch": prefetch_from_bundle(b04),
    }
    return {"patient-view.cdshook": pv, "order-sign.cdshook": sign}


# --------------------------------------------------------------------------- a served process


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serving(
    args: list[str], env: dict[str, str], port: int, *, timeout: float = 60
) -> subprocess.Popen[str]:
    """Start ``trd-cds serve <args>`` on ``port`` and wait until it answers (an unauthenticated
    discovery request gets 401). Raises RuntimeError with the server's stderr if it exits or
    does not answer within ``timeout`` seconds (the process is killed then)."""
    cmd = [sys.executable, "-c", "from trd_cds.cli import main; main()", "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/cds-services"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 401:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"trd-cds serve did not start: {proc.communicate()[1]}")
        time.sleep(0.2)


def stop_serving(proc: subprocess.Popen[str]) -> None:
    """Terminate a served process (kill it if it does not stop within 20 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
