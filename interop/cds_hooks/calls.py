"""What a hook call and a feedback call do, apart from HTTP (:mod:`.app` routes them here).

A hook call: the context checked, the prefetch gathered (or fetched), the case derived from
FHIR, evaluated, recorded in the audit log, and the cards built from the report's decision.
A feedback call: each entry's card uuid names its evaluation record; all are checked, then
appended. Every refusal is a :class:`HookError` with a status and a reason that names no
patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ...engine.audit import AuditLog, AuditRecord
from ...engine.core import Engine
from ...schemas.errors import AuditError, CaseError
from ..fhir import FhirError, case_from_fhir, patient_ids, rewrite_report_pointers
from ..fhir.resources import iter_resources, patient_key, subject_ref, validate
from .auth import Verifier
from .cards import build_cards
from .fetch import BadPrefetchError, DataUnavailableError, gather
from .links import ReportLinks
from .models import CdsResponse, FeedbackEntry, FeedbackRequest, HookRequest, Link, dump
from .services import FHIR_ID, ORDER_SELECT, ORDER_SIGN, SERVICES, draft_orders
from .settings import ServiceSettings
from .uuids import card_uuid, parse_card_uuid, record_bits

log = logging.getLogger("trd_cds.cds_hooks")


class HookError(Exception):
    """An answer other than 200: status and reason (never patient data in ``reason``)."""

    def __init__(self, status: int, reason: str, details: list[str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.details = details


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass
class State:
    """What one app owns: the engine, settings, verifier, audit log, report links, clock."""

    engine: Engine
    settings: ServiceSettings
    verifier: Verifier | None
    audit: AuditLog | None
    links: ReportLinks
    clock: Callable[[], datetime]


def _context(body: HookRequest, hook: str) -> tuple[str, Mapping[str, Any] | None, list[str]]:
    """(patient id, draftOrders bundle or None, selections) from the hook's context."""
    ctx = body.context
    patient_id = ctx.get("patientId")
    if not isinstance(patient_id, str) or not FHIR_ID.match(patient_id):
        raise HookError(400, "context.patientId is required and must be a FHIR id")
    if not isinstance(ctx.get("userId"), str) or not ctx["userId"].strip():
        raise HookError(400, "context.userId is required")
    if hook not in (ORDER_SELECT, ORDER_SIGN):
        return patient_id, None, []
    orders = ctx.get("draftOrders")
    if not isinstance(orders, Mapping) or orders.get("resourceType") != "Bundle":
        raise HookError(400, "context.draftOrders is required and must be a FHIR Bundle")
    _check_orders(orders, patient_id)
    selections: list[str] = []
    if hook == ORDER_SELECT:
        raw = ctx.get("selections")
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
            raise HookError(400, "context.selections is required: a non-empty list of references")
        selections = raw
    return patient_id, orders, selections


def _check_orders(orders: Mapping[str, Any], patient_id: str) -> None:
    """Draft orders are valid FHIR resources of the patient in context: an order checked
    against this patient's blocks must be this patient's (and a malformed one is a 400 naming
    it, never a 500 or an order silently left unchecked)."""
    try:
        resources = iter_resources(orders)
        for r in resources:
            validate(r)
    except FhirError as exc:
        details = [f"context.draftOrders: {p}: {m}" for p, m in exc.errors[:20]]
        raise HookError(400, "context.draftOrders holds invalid FHIR", details) from None
    for r in resources:
        ref = subject_ref(r)
        if ref is not None and patient_key(ref, {}) != patient_id:
            raise HookError(400, "context.draftOrders: an order is for another patient")


def call_hook(state: State, service_id: str, body: HookRequest, base: str) -> dict[str, Any]:
    """The cards for one hook call (``base``: the service's base URL, for report links)."""
    service = SERVICES.get(service_id)
    if service is None:
        raise HookError(404, f"no CDS service {service_id!r} (see GET /cds-services)")
    if body.hook != service.hook:
        raise HookError(400, f"service {service_id!r} answers hook {service.hook!r}, not another")
    patient_id, bundle, selections = _context(body, service.hook)
    settings = state.settings
    if body.fhirServer is not None and settings.fhir_servers:
        allowed = (u.rstrip("/") for u in settings.fhir_servers)
        if not any(
            body.fhirServer.rstrip("/") == u or body.fhirServer.startswith(u + "/") for u in allowed
        ):
            raise HookError(400, "fhirServer is not one this service may fetch from")
    at = state.clock()
    try:
        resources = gather(
            body, patient_id, timeout=settings.fhir_timeout, max_pages=settings.fhir_max_pages
        )
    except DataUnavailableError as exc:
        raise HookError(412, str(exc)) from None
    except BadPrefetchError as exc:
        raise HookError(400, str(exc)) from None
    try:
        others = [p for p in patient_ids(resources) if p != patient_id]
        if others:  # never evaluate one patient with (or without) another's data silently
            raise HookError(400, f"the prefetch holds data of {len(others)} other patient(s)")
        derived = case_from_fhir(resources, at=at, patient=patient_id, source="prefetch")
    except (FhirError, CaseError) as exc:
        details = [f"{p}: {m}" for p, m in exc.errors[:20]]
        raise HookError(400, "the FHIR data does not give a valid case", details) from None
    report = state.engine.evaluate(derived.case, at=at)
    record: AuditRecord | None = None
    if state.audit is not None:
        try:
            record = state.audit.append(report, derived.case)
        except AuditError as exc:
            log.error("audit append failed (%s)", type(exc).__name__)
            raise HookError(503, "the audit log cannot record this evaluation") from None
    data = rewrite_report_pointers(report.decision(), derived.provenance)
    token = state.links.add(report, derived.provenance)
    link = Link(label="Full report", url=f"{base}/cds-reports/{token}", type="absolute")
    bits = record_bits(record.record_id if record else None, report.report_id)
    orders = []
    if bundle is not None:
        medications = {
            f"Medication/{r.get('id')}": r
            for r in resources
            if r.get("resourceType") == "Medication"
        }
        orders = draft_orders(bundle, medications)
        if selections:
            orders = [o for o in orders if o.reference in selections]
    cards = build_cards(
        data,
        patient_id=patient_id,
        orders=orders,
        fhir_needed=[n.to_json() for n in derived.data_needed],
        uuid_for=lambda card, suggestion: card_uuid(bits, card, suggestion),
        link=link,
        with_plan=bundle is None,
    )
    return dump(CdsResponse(cards=cards))


def _feedback_data(entry: FeedbackEntry) -> dict[str, Any]:
    reason = None
    if entry.overrideReason is not None:
        coding = entry.overrideReason.reason
        reason = {
            "reason": None
            if coding is None
            else {"system": coding.system, "code": coding.code, "display": coding.display},
            "user_comment": entry.overrideReason.userComment,
        }
    return {
        "card": entry.card,
        "outcome": entry.outcome,
        "accepted_suggestions": [s.id for s in entry.acceptedSuggestions or []],
        "override_reason": reason,
        "outcome_timestamp": entry.outcomeTimestamp,
    }


def record_feedback(state: State, service_id: str, body: FeedbackRequest) -> dict[str, Any]:
    """Append the feedback entries to the audit log, each linked to its evaluation."""
    if service_id not in SERVICES:
        raise HookError(404, f"no CDS service {service_id!r} (see GET /cds-services)")
    if state.audit is None:
        raise HookError(503, "feedback cannot be recorded: this service runs without an audit log")
    linked: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(body.feedback):
        ref = parse_card_uuid(entry.card)
        if ref is None or ref.suggestion != 0:
            raise HookError(400, f"/feedback/{i}/card: not a card uuid issued by this service")
        for s in entry.acceptedSuggestions or []:
            sref = parse_card_uuid(s.id)
            if sref is None or (sref.record_id, sref.card) != (ref.record_id, ref.card):
                raise HookError(
                    400, f"/feedback/{i}/acceptedSuggestions: not a suggestion of the card"
                )
        linked.append((ref.record_id, _feedback_data(entry)))
    for i, (record_id, _) in enumerate(linked):
        try:
            issued = state.audit.get(record_id).kind == "evaluation"
        except (KeyError, AuditError):  # none, no log yet, or unreadable: nothing to link to
            issued = False
        if not issued:
            raise HookError(400, f"/feedback/{i}/card: no evaluation in the audit log issued it")
    try:
        for record_id, data in linked:
            state.audit.append_feedback(record_id, data, service_id)
    except AuditError as exc:
        log.error("audit append failed (%s)", type(exc).__name__)
        raise HookError(503, "the audit log cannot record this feedback") from None
    return {}


def warm_up(engine: Engine) -> None:
    """One evaluation of a small synthetic FHIR patient, so the first real call does not pay
    for loading the FHIR models (~1 s on first use). ``trd-cds serve`` calls it at startup."""
    subject = {"reference": "Patient/warm-up"}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "warm-up", "birthDate": "1980-01-01"},
        {
            "resourceType": "Condition",
            "id": "c",
            "subject": subject,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "370143000"}]},
            "onsetDateTime": "2025-06-01",
        },
        {
            "resourceType": "Observation",
            "id": "o",
            "status": "final",
            "subject": subject,
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
            "effectiveDateTime": "2026-01-01",
            "valueInteger": 12,
        },
        {
            "resourceType": "MedicationStatement",
            "id": "m",
            "status": "completed",
            "subject": subject,
            "medicationCodeableConcept": {"text": "sertraline 100 mg"},
        },
        {
            "resourceType": "Procedure",
            "id": "p",
            "status": "completed",
            "subject": subject,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "23835007"}]},
        },
        {
            "resourceType": "QuestionnaireResponse",
            "id": "q",
            "status": "completed",
            "subject": subject,
            "questionnaire": "https://example.org/none",
        },
    ]
    at = datetime(2026, 1, 2, tzinfo=timezone.utc)
    derived = case_from_fhir(resources, at=at, patient="warm-up", source="warm-up")
    engine.evaluate(derived.case, at=at).to_dict()
