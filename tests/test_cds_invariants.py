"""The CDS Hooks 2.0 FSH invariants, checked on every response this service gives for the
examples, and on the request models.

Response (CDSHooksResponse):

* cds-resp-1 (error): "only one action can be suggested if selectionBehavior = at-most-one" —
  ``(selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1``
* cds-resp-2 (warning): "A resourceId not a resource must be provided when type = delete" —
  ``(type = 'delete') implies (resourceId.exists() and resource.empty())``
* cds-resp-3 (error): "AppContext only for smart Apps" —
  ``(type != 'smart') implies (appContext.empty())``
* cds-resp-4 (error): "the CDS Service MUST populate a display value for each reason's Coding" —
  ``overrideReasons.all(display.exists())``
* cds-resp-5 (error): "All suggestion actions must have a description" —
  ``actions.all(description.exists())``
* cds-resp-6 (error): "If suggestions are present, selectionBehavior MUST also be provided." —
  ``suggestions.exists() implies selectionBehavior.exists()``
* cds-resp-7 (error): "actionSelectionBehavior must be 'all', 'any', or 'at-most-one'"

Feedback (CDSHooksFeedback): cds-fb-1 (the outcome is ``accepted`` or ``overridden``, and an
overrideReason goes with ``overridden`` only — paraphrased: the FSH text was not at hand),
cds-fb-2 "If outcome is 'accepted', acceptedSuggestions SHALL be provided", cds-fb-3 "An
overrideReason must contain a reason, a userComment, or both".

Request (CDSHooksRequest): cds-r-1 "if fhirAuthorization details are provided, a fhirServer
SHALL be specified"; cds-r-2 (warning) "If the granted SMART scopes include patient scopes
(i.e. 'patient/'), the patient field SHOULD be populated".

Plus the spec's conventions: no null attribute, no empty optional string/array/object;
``summary`` < 140 characters; ``detail`` GitHub-flavoured Markdown (here: without raw HTML).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.cds_support import (
    BASE,
    FHIR_EXAMPLES,
    bundle,
    client_keys,
    hook_body,
    make_app,
    med_order,
    patient_id,
    service_order,
)
from trd_cds.interop.cds_hooks.models import Action, Card, FeedbackEntry, HookRequest, Link, Source

EXAMPLES = sorted(p.name[:2] for p in FHIR_EXAMPLES.glob("*.fhir"))
RAW_HTML = re.compile(r"<[A-Za-z!/?]")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(make_app(tmp_path_factory.mktemp("inv")))


def _responses(client: TestClient, name: str) -> list[dict[str, Any]]:
    pid = patient_id(bundle(name))
    draft = [
        med_order("d-ad", "36437", "sertraline", pid),
        med_order("d-esk", "2119365", "esketamine 28 MG nasal spray", pid),
        service_order("d-ect", "Electroconvulsive therapy", pid, snomed="23835007"),
        service_order("d-tms", "rTMS course", pid),
    ]
    out = []
    for service, hook in [
        ("trd-plan", "patient-view"),
        ("trd-order-sign", "order-sign"),
        ("trd-order-select", "order-select"),
    ]:
        path = f"/cds-services/{service}"
        body = hook_body(name, hook, draft=draft)
        resp = client.post(path, json=body, headers=client_keys().bearer(BASE + path))
        assert resp.status_code == 200, resp.text
        out.append(resp.json())
    return out


def _no_null_or_empty(node: Any, where: str = "") -> None:
    if isinstance(node, dict):
        assert node or where == "", f"empty object at {where}"
        for k, v in node.items():
            assert v is not None, f"null at {where}/{k}"
            if k != "cards":  # `cards` is REQUIRED and may be empty
                assert v not in ("", [], {}), f"empty value at {where}/{k}"
            _no_null_or_empty(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_null_or_empty(v, f"{where}/{i}")


def check_response(resp: dict[str, Any]) -> None:
    """Every response-side invariant, on the JSON as sent (independent of the models)."""
    _no_null_or_empty(resp)
    assert isinstance(resp["cards"], list)
    for card in resp["cards"]:
        assert len(card["summary"]) < 141
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        assert not RAW_HTML.search(card.get("detail", "")), card["detail"]
        suggestions = card.get("suggestions", [])
        if suggestions:  # cds-resp-6
            assert card["selectionBehavior"] in ("at-most-one", "any")
        if card.get("selectionBehavior") == "at-most-one":  # cds-resp-1
            assert sum(1 for s in suggestions if s.get("isRecommended")) <= 1
        for reason in card.get("overrideReasons", []):  # cds-resp-4
            assert reason["display"] and reason["code"] and reason["system"]
        for link in card.get("links", []):  # cds-resp-3
            assert link["type"] in ("absolute", "smart")
            if link["type"] != "smart":
                assert "appContext" not in link
        for s in suggestions:
            assert s["label"]
            assert "actionSelectionBehavior" not in s  # cds-resp-7: we never send it
            for action in s.get("actions", []):
                assert action["description"]  # cds-resp-5
                assert action["type"] in ("create", "update", "delete")
                if action["type"] == "delete":  # cds-resp-2
                    assert action["resourceId"] and "resource" not in action
                else:
                    assert action["resource"]["resourceType"]
        uuids = [card.get("uuid")] + [s.get("uuid") for s in suggestions]
        assert all(uuids) and len(set(uuids)) == len(uuids)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_response_keeps_the_invariants(client: TestClient, name: str) -> None:
    for resp in _responses(client, name):
        check_response(resp)


def test_the_order_examples_exercise_suggestions_and_override_reasons(client: TestClient) -> None:
    """The parametrized check above is not vacuous: blocked orders give full order cards."""
    sign = _responses(client, "08")[1]
    assert len(sign["cards"]) >= 3
    assert all(c.get("overrideReasons") and c.get("suggestions") for c in sign["cards"])


# ------------------------------------------------------------------ the models refuse


SRC = Source(label="trd-cds ruleset x@1")


def test_cds_resp_1_model() -> None:
    s = {"label": "a", "isRecommended": True}
    with pytest.raises(ValidationError, match="cds-resp-1"):
        Card.model_validate(
            {
                "summary": "s",
                "indicator": "info",
                "source": SRC.model_dump(),
                "suggestions": [s, s],
                "selectionBehavior": "at-most-one",
            }
        )


def test_cds_resp_2_model() -> None:
    with pytest.raises(ValidationError, match="cds-resp-2"):
        Action(type="delete", description="d", resource={"resourceType": "X"})
    with pytest.raises(ValidationError, match="cds-resp-2"):
        Action(type="delete", description="d")


def test_cds_resp_3_model() -> None:
    with pytest.raises(ValidationError, match="cds-resp-3"):
        Link(label="l", url="https://x", type="absolute", appContext="c")
    assert Link(label="l", url="https://x", type="smart", appContext="c")


def test_cds_resp_4_model() -> None:
    with pytest.raises(ValidationError):
        Card.model_validate(
            {
                "summary": "s",
                "indicator": "info",
                "source": SRC.model_dump(),
                "overrideReasons": [{"system": "s", "code": "c"}],
            }
        )


def test_cds_resp_5_model() -> None:
    with pytest.raises(ValidationError):
        Action.model_validate({"type": "create", "resource": {"resourceType": "X"}})


def test_cds_resp_6_model() -> None:
    with pytest.raises(ValidationError, match="cds-resp-6"):
        Card(summary="s", indicator="info", source=SRC, suggestions=[{"label": "a"}])  # type: ignore[list-item]


def test_summary_over_140_is_refused() -> None:
    with pytest.raises(ValidationError):
        Card(summary="x" * 141, indicator="info", source=SRC)


# ------------------------------------------------------------------ requests and feedback

FB = {"card": "c", "outcomeTimestamp": "2026-11-24T09:05:00Z"}


def test_cds_fb_1() -> None:
    with pytest.raises(ValidationError):
        FeedbackEntry.model_validate({**FB, "outcome": "dismissed"})
    with pytest.raises(ValidationError, match="cds-fb-1"):
        FeedbackEntry.model_validate(
            {
                **FB,
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s"}],
                "overrideReason": {"userComment": "x"},
            }
        )


def test_cds_fb_2() -> None:
    with pytest.raises(ValidationError, match="cds-fb-2"):
        FeedbackEntry.model_validate({**FB, "outcome": "accepted"})


def test_cds_fb_3_and_a_reason_coding_alone_is_enough() -> None:
    with pytest.raises(ValidationError, match="cds-fb-3"):
        FeedbackEntry.model_validate({**FB, "outcome": "overridden", "overrideReason": {}})
    ok = FeedbackEntry.model_validate(
        {
            **FB,
            "outcome": "overridden",
            "overrideReason": {"reason": {"system": "http://x", "code": "patient-refuses"}},
        }
    )
    assert ok.overrideReason and ok.overrideReason.reason and not ok.overrideReason.reason.display


def test_cds_r_1(client: TestClient) -> None:
    auth = {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds",
        "patient": "p",
    }
    body = {**hook_body("01"), "fhirAuthorization": auth}
    with pytest.raises(ValidationError, match="cds-r-1"):
        HookRequest.model_validate(body)
    path = "/cds-services/trd-plan"
    resp = client.post(path, json=body, headers=client_keys().bearer(BASE + path))
    assert resp.status_code == 400 and any("cds-r-1" in d for d in resp.json()["details"])


def test_cds_r_2_is_a_warning_only(client: TestClient) -> None:
    """A patient scope without ``patient`` is accepted (SHOULD, not SHALL)."""
    auth = {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds",
    }
    body = {**hook_body("01"), "fhirAuthorization": auth, "fhirServer": "https://fhir.example"}
    path = "/cds-services/trd-plan"
    resp = client.post(path, json=body, headers=client_keys().bearer(BASE + path))
    assert resp.status_code == 200, resp.text
