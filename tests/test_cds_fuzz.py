"""Property-based API fuzz: schemathesis generates requests from the service's own OpenAPI.

Properties: no server error (5xx) for any generated request, and every 4xx names its reason
(a JSON body with a non-empty ``error``). Each request carries a fresh valid JWT for the
endpoint it calls, so the fuzz reaches the body handling rather than stopping at 401.
Bounded for CI: a fixed number of examples per operation, no deadline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.cds_support import BASE, client_keys, make_app

# one app for the module (the JWKS file lives in a temporary folder)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    make_app(Path(tempfile.mkdtemp(prefix="cds-fuzz")), audit=True, audit_key=b"f" * 32),
)


def reason_given(ctx: Any, response: Any, case: Any) -> bool:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and body.get("error"), response.text
    return True


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_fuzz(case: Any) -> None:
    params = case.path_parameters or {}
    if "service_id" in params:  # three in four calls go to a real service, past the 404
        known = ("trd-plan", "trd-order-select", "trd-order-sign", None)
        pick = known[len(str(params["service_id"])) % 4]
        if pick:
            params["service_id"] = pick
    # the JWT audience is the URL as sent: encoded as the HTTP client will encode it
    headers = client_keys().bearer(str(httpx.URL(BASE + case.formatted_path)))
    response = case.call(headers=headers)
    case.validate_response(response, checks=(not_a_server_error, reason_given))
