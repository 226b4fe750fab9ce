"""The CDS Hooks service in-process: discovery, cards, order checks, 4xx, feedback, audit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from tests.cds_support import (
    BASE,
    bundle,
    client_keys,
    engine,
    hook_body,
    make_app,
    med_order,
    patient_id,
    service_order,
)
from trd_cds.cli import main
from trd_cds.engine.audit import open_log
from trd_cds.interop.cds_hooks.services import prefetch_templates
from trd_cds.interop.cds_hooks.uuids import parse_card_uuid

KEY = "k" * 32


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(make_app(tmp_path))


@pytest.fixture
def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("TRD_CDS_AUDIT_KEY", KEY)
    return TestClient(make_app(tmp_path, audit=True))


def post(client: TestClient, path: str, body: Any) -> Any:
    headers = client_keys().bearer(BASE + path)
    return client.post(path, json=body, headers=headers)


def cards_of(client: TestClient, body: dict[str, Any], service: str = "trd-plan") -> list[Any]:
    resp = post(client, f"/cds-services/{service}", body)
    assert resp.status_code == 200, resp.text
    return resp.json()["cards"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------- discovery


def test_discovery_lists_three_services_with_the_adapters_prefetch(client: TestClient) -> None:
    resp = client.get("/cds-services", headers=client_keys().bearer(BASE + "/cds-services"))
    assert resp.status_code == 200
    services = {s["id"]: s for s in resp.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    prefetch = services["trd-plan"]["prefetch"]
    assert prefetch == prefetch_templates()
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert "http://loinc.org|44261-6" in prefetch["observations"]  # PHQ-9 total
    assert "http://loinc.org|93246-7" in prefetch["observations"]  # C-SSRS wish to be dead
    assert "http://snomed.info/sct|23835007" in prefetch["procedures"]  # ECT
    for key in ("medicationRequests", "medicationStatements", "questionnaireResponses"):
        assert key in prefetch


# ----------------------------------------------------------------------- patient-view


def test_safety_gate_gives_a_critical_card_first(client: TestClient) -> None:
    cards = cards_of(client, hook_body("02"))
    assert cards[0]["indicator"] == "critical"
    assert "safety" in cards[0]["summary"].lower()
    assert "`safety.high_suicide_risk_gate@1`" in cards[0]["detail"]
    (suggestion,) = cards[0]["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "ServiceRequest"
    assert cards[0]["selectionBehavior"] == "at-most-one"


def test_no_safety_card_without_a_safety_gate(client: TestClient) -> None:
    cards = cards_of(client, hook_body("01"))
    assert [c["indicator"] for c in cards] == ["info"]


def test_plan_card_names_the_next_step_ruleset_and_links_the_report(client: TestClient) -> None:
    (plan,) = cards_of(client, hook_body("01"))
    assert plan["summary"].startswith("TRD plan — next: ")
    assert len(plan["summary"]) <= 140
    assert re.fullmatch(r"trd-cds ruleset [\w.-]+@[\w.-]+", plan["source"]["label"])
    assert "### Sources" in plan["detail"] and "NICE" in plan["detail"]
    # the TRD questionnaire answered everything FHIR lacks: what is left is the plan's own
    # data needed (facts not recorded that would change an option)
    needed = plan["detail"].split("### Data needed", 1)[-1].split("###", 1)[0]
    lines = [line for line in needed.splitlines() if line.startswith("- ")]
    assert lines and all("(`" in line or "not recorded" in line for line in lines), lines
    (link,) = plan["links"]
    assert link["type"] == "absolute"
    token = link["url"].rsplit("/", 1)[1]
    assert patient_id(bundle("01")) not in link["url"]
    page = client.get(f"/cds-reports/{token}")
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    assert "<script" not in page.text
    md = client.get(f"/cds-reports/{token}?format=markdown")
    assert md.status_code == 200 and md.text.startswith("# Decision support report")
    js = client.get(f"/cds-reports/{token}?format=json").json()
    assert js["provenance"]["ruleset"]["id"] in plan["source"]["label"]
    # evidence points into the FHIR resources the facts came from
    pointers = [e["pointer"] for r in js["recommendations"] for e in r["evidence"] if e["pointer"]]
    assert any(p.startswith(("Condition/", "Observation/", "urn:")) for p in pointers), pointers


def test_data_needed_lists_what_fhir_could_not_supply(client: TestClient) -> None:
    body = hook_body("01")
    body["prefetch"]["questionnaireResponses"]["entry"] = []  # no TRD questionnaire answers
    (plan,) = cards_of(client, body)
    needed = plan["detail"].split("### Data needed", 1)[1].split("###", 1)[0]
    assert "`/" in needed, plan["detail"]  # case pointers of the fields to record


def test_report_link_expires(tmp_path: Path) -> None:
    client = TestClient(make_app(tmp_path, report_ttl=0.001))
    (plan,) = cards_of(client, hook_body("01"))
    import time

    time.sleep(0.01)
    resp = client.get(plan["links"][0]["url"].replace(BASE, ""))
    assert resp.status_code == 404 and "expired" in resp.json()["error"]


def test_same_call_same_cards(client: TestClient) -> None:
    """Deterministic: same data and evaluation time give the same cards (the link token aside)."""

    def strip(cards: list[Any]) -> list[Any]:
        for c in cards:
            c.pop("links", None)
        return cards

    body = hook_body("03")
    assert strip(cards_of(client, body)) == strip(cards_of(client, body))


# ------------------------------------------------------------------------- order hooks


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_blocked_antidepressant_order_in_bipolar_depression(client: TestClient, hook: str) -> None:
    pid = patient_id(bundle("04"))
    draft = [med_order("draft-1", "36437", "sertraline", pid)]
    service = "trd-order-sign" if hook == "order-sign" else "trd-order-select"
    cards = cards_of(client, hook_body("04", hook, draft=draft), service)
    (card,) = [c for c in cards if "sertraline" in c["summary"]]
    assert card["indicator"] == "critical"
    assert "pathway.bipolar_no_antidepressant_monotherapy@1" in card["summary"]
    assert "`pathway.bipolar_no_antidepressant_monotherapy@1`" in card["detail"]
    assert {r["code"] for r in card["overrideReasons"]} >= {"patient-refuses"}
    assert all(
        r["system"] == "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
        for r in card["overrideReasons"]
    )
    remove = card["suggestions"][0]
    assert remove["isRecommended"] is True
    assert remove["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft order MedicationRequest/draft-1",
            "resourceId": "MedicationRequest/draft-1",
        }
    ]
    assert not any(c["summary"].startswith("TRD plan") for c in cards)  # no plan on order hooks


def test_preference_block_is_a_warning_and_contraindication_critical(client: TestClient) -> None:
    pid = patient_id(bundle("08"))
    draft = [
        med_order("d-ssri", "36437", "sertraline", pid),
        service_order("d-tms", "Transcranial magnetic stimulation", pid),
        service_order("d-ect", "Electroconvulsive therapy", pid, snomed="23835007"),
    ]
    cards = cards_of(client, hook_body("08", "order-sign", draft=draft), "trd-order-sign")
    by_ref = {c["suggestions"][0]["actions"][0]["resourceId"]: c for c in cards}
    assert by_ref["MedicationRequest/d-ssri"]["indicator"] == "warning"
    assert "preference.declines_medication@1" in by_ref["MedicationRequest/d-ssri"]["detail"]
    assert by_ref["ServiceRequest/d-tms"]["indicator"] == "critical"
    assert "contra.tms_head_implant@1" in by_ref["ServiceRequest/d-tms"]["detail"]
    assert by_ref["ServiceRequest/d-ect"]["indicator"] == "warning"


def test_unblocked_order_gives_no_card(client: TestClient) -> None:
    pid = patient_id(bundle("01"))
    draft = [med_order("d-1", "36437", "sertraline", pid)]
    assert cards_of(client, hook_body("01", "order-sign", draft=draft), "trd-order-sign") == []


def test_order_select_checks_only_the_selected_orders(client: TestClient) -> None:
    pid = patient_id(bundle("04"))
    draft = [med_order("a", "36437", "sertraline", pid), med_order("b", "4493", "fluoxetine", pid)]
    body = hook_body("04", "order-select", draft=draft)
    body["context"]["selections"] = ["MedicationRequest/b"]
    cards = cards_of(client, body, "trd-order-select")
    assert [c["suggestions"][0]["actions"][0]["resourceId"] for c in cards] == [
        "MedicationRequest/b"
    ]


# ------------------------------------------------------------------------- 4xx answers


BAD_BODIES: list[tuple[str, Any]] = [
    ("not an object", []),
    ("no hook", {"hookInstance": "x", "context": {}}),
    ("context not an object", {"hook": "patient-view", "hookInstance": "x", "context": "p"}),
    ("hook of another service", {**hook_body("01"), "hook": "order-sign"}),
    ("no patientId", {**hook_body("01"), "context": {"userId": "Practitioner/1"}}),
    (
        "patientId not a FHIR id",
        {**hook_body("01"), "context": {"userId": "P/1", "patientId": "../../x"}},
    ),
    ("prefetch not FHIR", {**hook_body("01"), "prefetch": {"patient": {"id": "x"}}}),
    ("fhirServer not a URL", {**hook_body("01"), "fhirServer": "file:///etc/passwd"}),
]


@pytest.mark.parametrize(("why", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_get_400_with_a_reason(client: TestClient, why: str, body: Any) -> None:
    resp = post(client, "/cds-services/trd-plan", body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] and resp.json()["status"] == 400


def test_not_json_is_400(client: TestClient) -> None:
    headers = {**client_keys().bearer(BASE + "/cds-services/trd-plan")}
    headers["Content-Type"] = "application/json"
    resp = client.post("/cds-services/trd-plan", content=b"{not json", headers=headers)
    assert resp.status_code == 400 and resp.json()["error"]


def test_invalid_fhir_resource_is_400_naming_the_path(client: TestClient) -> None:
    body = hook_body("01")
    body["prefetch"]["conditions"]["entry"][0]["resource"]["onsetDateTime"] = "yesterday"
    resp = post(client, "/cds-services/trd-plan", body)
    assert resp.status_code == 400
    assert any("onsetDateTime" in d for d in resp.json()["details"])


def test_unknown_service_is_404(client: TestClient) -> None:
    resp = post(client, "/cds-services/nope", hook_body("01"))
    assert resp.status_code == 404 and "nope" in resp.json()["error"]


@pytest.mark.parametrize("missing", ["conditions", "observations", "patient"])
def test_missing_prefetch_without_fhir_server_is_412(client: TestClient, missing: str) -> None:
    """Missing data is never read as 'none': a prefetch key left out (or null) must be fetched."""
    body = hook_body("01")
    body["prefetch"][missing] = None
    resp = post(client, "/cds-services/trd-plan", body)
    assert resp.status_code == 412
    assert repr(missing) in resp.json()["error"]


def test_oversized_body_is_413(tmp_path: Path) -> None:
    client = TestClient(make_app(tmp_path, max_body_bytes=1000))
    resp = post(client, "/cds-services/trd-plan", hook_body("01"))
    assert resp.status_code == 413


# ----------------------------------------------------------------------------- feedback


def _feedback(client: TestClient, entries: list[dict[str, Any]], service: str = "trd-plan") -> Any:
    return post(client, f"/cds-services/{service}/feedback", {"feedback": entries})


def test_feedback_is_recorded_and_linked_to_the_evaluation(
    audited: TestClient, tmp_path: Path
) -> None:
    pid = patient_id(bundle("04"))
    draft = [med_order("d-1", "36437", "sertraline", pid)]
    (card,) = cards_of(audited, hook_body("04", "order-sign", draft=draft), "trd-order-sign")
    reason_only = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
                "code": "patient-refuses",
            }
        },
        "outcomeTimestamp": "2026-11-24T09:05:00Z",
    }
    accepted = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-11-24T09:06:00Z",
    }
    resp = _feedback(audited, [reason_only, accepted], "trd-order-sign")
    assert resp.status_code == 200, resp.text
    log = open_log(tmp_path / "audit.jsonl", key=KEY.encode())
    records = list(log.records())
    assert [r.kind for r in records] == ["evaluation", "feedback", "feedback"]
    evaluation, fb, _ = records
    assert parse_card_uuid(card["uuid"]).record_id == evaluation.record_id  # type: ignore[union-attr]
    assert fb.provenance["links"] == evaluation.record_id
    assert fb.provenance["service"] == "trd-order-sign"
    assert fb.outcome["override_reason"]["reason"]["code"] == "patient-refuses"
    assert fb.subject == evaluation.subject and fb.subject["pseudonym"] != pid
    result = log.verify()
    assert result.ok and result.authenticated, str(result)
    out = CliRunner().invoke(main, ["audit", "list", str(tmp_path / "audit.jsonl")])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert any(
        f"feedback on {evaluation.record_id}" in ln
        and "outcome=overridden" in ln
        and "reason=http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes|patient-refuses"
        in ln
        for ln in lines
    ), out.output
    assert any("outcome=accepted" in ln for ln in lines)
    replay = log.replay(engine())  # feedback records are not evaluations to replay
    assert replay.ok and len(replay.items) == 1, str(replay)


@pytest.mark.parametrize(
    ("why", "entry"),
    [
        ("not our uuid", {"card": "0b0b0b0b-0000-4000-8000-000000000000", "outcome": "overridden"}),
        ("accepted without suggestions", {"outcome": "accepted"}),
        ("override reason empty", {"outcome": "overridden", "overrideReason": {}}),
        ("bad outcome", {"outcome": "ignored"}),
        ("bad timestamp", {"outcome": "overridden", "outcomeTimestamp": "yesterday"}),
    ],
)
def test_bad_feedback_is_400(audited: TestClient, why: str, entry: dict[str, Any]) -> None:
    (card,) = cards_of(audited, hook_body("01"))
    full = {"card": card["uuid"], "outcomeTimestamp": "2026-11-24T09:05:00Z", **entry}
    resp = _feedback(audited, [full])
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]


def test_feedback_on_a_card_from_another_log_is_400(audited: TestClient, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = TestClient(make_app(tmp_path / "other"))
    (card,) = cards_of(other, hook_body("01"))  # no audit log: nothing to link to
    entry = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-24T09:05:00Z",
        "overrideReason": {"userComment": "n/a"},
    }
    resp = _feedback(audited, [entry])
    assert resp.status_code == 400 and "no evaluation" in resp.json()["error"]


def test_feedback_without_audit_log_is_refused_with_a_reason(client: TestClient) -> None:
    (card,) = cards_of(client, hook_body("01"))
    entry = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-24T09:05:00Z",
        "overrideReason": {"userComment": "n/a"},
    }
    resp = _feedback(client, [entry])
    assert resp.status_code == 503 and "audit log" in resp.json()["error"]


def test_audit_log_needs_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRD_CDS_AUDIT_KEY", raising=False)
    with pytest.raises(ValueError, match="key"):
        make_app(tmp_path, audit=True)


def test_auth_is_required_by_default(tmp_path: Path) -> None:
    from trd_cds.interop.cds_hooks import ServiceSettings, create_app

    with pytest.raises(ValueError, match="trusted issuers"):
        create_app(engine(), ServiceSettings())


def test_cors_is_configurable(tmp_path: Path) -> None:
    client = TestClient(make_app(tmp_path, cors_origins=("https://ehr.example.org",)))
    resp = client.options(
        "/cds-services/trd-plan",
        headers={
            "Origin": "https://ehr.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert resp.headers["access-control-allow-origin"] == "https://ehr.example.org"
    plain = TestClient(make_app(tmp_path))
    resp = plain.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in resp.headers


def test_logs_name_no_patient(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    body = hook_body("02")
    cards_of(client, body)
    post(client, "/cds-services/trd-plan", {**body, "context": {"userId": "x", "patientId": "zz"}})
    post(client, "/cds-services/Jane-Doe-1970", body)  # a made-up path is not logged as is
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(r.getMessage() for r in ours)  # the test client's own httpx log aside
    assert "POST /cds-services/trd-plan -> 200" in text
    assert patient_id(bundle("02")) not in text and "zz" not in text
    assert "Jane" not in text and "POST (other path) -> 404" in text


def test_warm_up_evaluates_its_synthetic_patient() -> None:
    from trd_cds.interop.cds_hooks.calls import warm_up

    warm_up(engine())  # raises if the synthetic bundle stops being a valid case


def test_prefetch_of_another_patient_is_refused(client: TestClient) -> None:
    """The context names one patient, the prefetch holds another: never evaluate a mix."""
    body = hook_body("01")
    body["prefetch"] = hook_body("02")["prefetch"]
    resp = post(client, "/cds-services/trd-plan", body)
    assert resp.status_code == 400, resp.text
    assert "other patient" in resp.json()["error"]
    mixed = hook_body("01")
    mixed["prefetch"]["conditions"] = hook_body("02")["prefetch"]["conditions"]
    resp = post(client, "/cds-services/trd-plan", mixed)
    assert resp.status_code == 400 and "1 other patient" in resp.json()["error"]
