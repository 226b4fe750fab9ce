"""Trusting CDS clients (CDS Hooks 2.0 §Trusting CDS Clients): a JWT on every call.

"The CDS Client MUST ... sign the JWT using an asymmetric algorithm (ES384 or RS384), ... `iss`
the URI of the issuer, `aud` the CDS Service endpoint, `exp` ... `iat` ... `jti` a nonce".
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from tests.cds_support import BASE, ISS, client_keys, hook_body, make_app, verifier
from trd_cds.interop.cds_hooks import AuthError, Verifier
from trd_cds.interop.cds_hooks.auth import Issuer

AUD = BASE + "/cds-services/trd-plan"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(make_app(tmp_path))


def call(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    return client.post("/cds-services/trd-plan", json=hook_body("01"), headers=headers)


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_es384_and_rs384_are_accepted(client: TestClient, alg: str) -> None:
    assert call(client, client_keys().bearer(AUD, alg=alg)).status_code == 200


def test_every_route_but_the_report_link_needs_a_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/cds-services"),
        ("POST", "/cds-services/trd-plan"),
        ("POST", "/cds-services/trd-order-sign"),
        ("POST", "/cds-services/trd-plan/feedback"),
    ]:
        resp = client.request(method, path, json=hook_body("01"))
        assert resp.status_code == 401, path
        assert resp.headers["www-authenticate"] == "Bearer"
        assert "JWT" in resp.json()["error"]


def _hmac_token(claims: dict[str, object], alg: str, key: bytes) -> str:
    """An HMAC-signed JWT made by hand (PyJWT refuses to use a public key as the secret)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "es-1"}).encode())
    body = b64(json.dumps(claims).encode())
    digest = hashlib.sha384 if alg == "HS384" else hashlib.sha256
    sig = b64(hmac.new(key, head + b"." + body, digest).digest())
    return (head + b"." + body + b"." + sig).decode()


def test_symmetric_and_none_algorithms_are_refused(client: TestClient, tmp_path: Path) -> None:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    # HS384 keyed with the issuer's *public* JWKS text: the classic algorithm-confusion attack
    public = (tmp_path / "ehr-jwks.json").read_bytes()
    for token in (_hmac_token(claims, "HS384", public), _hmac_token(claims, "HS256", b"k" * 32)):
        resp = call(client, {"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401 and "not allowed" in resp.json()["error"]
    none = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    assert call(client, {"Authorization": f"Bearer {none}"}).status_code == 401


def test_es256_is_refused(client: TestClient) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 60, "jti": "a"}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "es-1"})
    assert call(client, {"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize(
    ("why", "kw", "reason"),
    [
        (
            "audience is another endpoint",
            {"aud": BASE + "/cds-services/trd-order-sign"},
            "audience",
        ),
        ("untrusted issuer", {"iss": "https://evil.example"}, "not trusted"),
        ("expired", {"now": time.time() - 3600}, "expired"),
        ("issued in the future", {"now": time.time() + 3600}, "not valid yet"),
        ("no jti", {"drop": ("jti",)}, "jti"),
        ("no exp", {"drop": ("exp",)}, "exp"),
        ("no iat", {"drop": ("iat",)}, "iat"),
        ("empty jti", {"jti": ""}, "jti"),
        ("blank jti", {"jti": "  "}, "jti"),
        ("iat as a string", {"iat": str(int(time.time()))}, "iat"),
        ("exp as a string", {"exp": str(int(time.time()) + 300)}, "exp"),
        ("iat as a boolean", {"iat": True}, "iat"),
    ],
)
def test_bad_claims_are_refused(client: TestClient, why: str, kw: dict, reason: str) -> None:
    aud = kw.pop("aud", AUD)
    resp = call(client, client_keys().bearer(aud, **kw))
    assert resp.status_code == 401, why
    assert reason in resp.json()["error"], resp.json()


def test_a_token_is_used_once(client: TestClient) -> None:
    headers = client_keys().bearer(AUD)
    assert call(client, headers).status_code == 200
    replay = call(client, headers)
    assert replay.status_code == 401 and "already used" in replay.json()["error"]


def test_old_token_is_refused_even_if_not_expired(tmp_path: Path) -> None:
    v = verifier(tmp_path, max_age=60, leeway=0)
    token = client_keys().token(AUD, now=time.time() - 120)  # exp = iat + 300: still valid
    with pytest.raises(AuthError, match="too old"):
        v.verify(f"Bearer {token}", AUD)


def test_a_far_expiry_is_remembered_only_while_the_token_is_usable(tmp_path: Path) -> None:
    # a jti was kept until exp + leeway: tokens with exp ten years out filled the table (at
    # 100,000 entries every call is refused) although max_age refuses them after minutes
    now = time.time()
    v = verifier(tmp_path, max_age=60, leeway=5, clock=lambda: now)
    token = client_keys().token(AUD, now=now, exp=int(now) + 10 * 365 * 86400)
    v.verify(f"Bearer {token}", AUD)
    (until,) = v._seen.values()
    assert until <= int(now) + 60 + 5
    with pytest.raises(AuthError, match="already used"):
        v.verify(f"Bearer {token}", AUD)


def test_signature_by_another_key_is_refused(tmp_path: Path) -> None:
    from tests.cds_support import ClientKeys

    v = verifier(tmp_path)
    stranger = ClientKeys(rs=client_keys().rs)  # same kid es-1, different EC key
    with pytest.raises(AuthError, match="does not verify"):
        v.verify(f"Bearer {stranger.token(AUD)}", AUD)


def test_unknown_kid_is_refused(tmp_path: Path) -> None:
    v = verifier(tmp_path)
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 60, "jti": "x"}
    token = jwt.encode(claims, client_keys().es, algorithm="ES384", headers={"kid": "other"})
    with pytest.raises(AuthError, match="no key 'other'"):
        v.verify(f"Bearer {token}", AUD)


def test_jwks_from_a_url_is_fetched_once_and_cached() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=client_keys().jwks())

    url = "https://ehr.example.org/.well-known/jwks.json"
    v = Verifier({ISS: Issuer(ISS, url)}, transport=httpx.MockTransport(handler))
    for _ in range(3):
        v.verify(f"Bearer {client_keys().token(AUD)}", AUD)
    assert calls == [url]


def test_unreachable_jwks_url_is_a_401_not_a_crash() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    v = Verifier({ISS: Issuer(ISS, "https://x/jwks")}, transport=httpx.MockTransport(handler))
    with pytest.raises(AuthError, match="cannot be read"):
        v.verify(f"Bearer {client_keys().token(AUD)}", AUD)


def test_public_url_sets_the_audience(tmp_path: Path) -> None:
    client = TestClient(make_app(tmp_path, public_url="https://cds.example.org/trd"))
    ok = client_keys().bearer("https://cds.example.org/trd/cds-services/trd-plan")
    assert call(client, ok).status_code == 200
    assert call(client, client_keys().bearer(AUD)).status_code == 401


def test_garbage_authorization_headers(client: TestClient) -> None:
    for value in ("Basic abc", "Bearer", "Bearer not.a.jwt", "Bearer " + "a" * 5000):
        resp = call(client, {"Authorization": value})
        assert resp.status_code == 401, value
        assert json.dumps(resp.json()).count("a" * 100) == 0  # the token is never echoed
