"""The CDS Hooks 2.0 service: :func:`create_app` builds a FastAPI app for one engine.

Routes (CDS Hooks 2.0 §Discovery, §Calling a CDS Service, §Feedback):

* ``GET /cds-services`` — discovery (:mod:`.services`);
* ``POST /cds-services/{id}`` — a hook call: prefetch (or fetch from ``fhirServer``), derive
  the case (:mod:`trd_cds.interop.fhir`), evaluate, answer cards (:mod:`.cards`);
* ``POST /cds-services/{id}/feedback`` — outcomes appended to the audit log, linked to the
  evaluation record by card uuid (:mod:`.uuids`);
* ``GET /cds-reports/{token}`` — the report behind a card's link (:mod:`.links`).

Every call but the report link needs a JWT from a trusted client (:mod:`.auth`). Every
error is a JSON :class:`~.models.Problem` with a reason: 400 (bad body or context), 401 (JWT),
404, 412 (required data cannot be obtained), 413, 503 (audit log unavailable); an unexpected
failure is a 500 without details. The log lines name the service, the status and the time
taken, never a patient, a token or a resource id. (httpx logs each request URL at INFO, and
FHIR queries name the patient: ``trd-cds serve`` keeps the ``httpx`` logger at WARNING; an
application embedding the app should do the same.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...engine.audit import AuditLog, AuditRecord, open_log
from ...engine.core import Engine, engine_version
from ...schemas.errors import AuditError, CaseError
from ...schemas.report import LAZY_PARTS, Report
from ..fhir import FhirError, case_from_fhir, rewrite_report_pointers
from .auth import AuthError, Issuer, Verifier
from .cards import build_cards
from .fetch import BadPrefetchError, DataUnavailableError, gather
from .links import ReportLinks
from .models import (
    CdsResponse,
    Discovery,
    FeedbackEntry,
    FeedbackRequest,
    HookRequest,
    Link,
    Problem,
    dump,
)
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


def _problem(status: int, reason: str, details: list[str] | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = dump(Problem(error=reason, status=status, details=details or None))
    return JSONResponse(body, status_code=status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "bad request body or context (the reason says which)"),
        (401, "no valid JWT from a trusted client"),
        (404, "no such service"),
        (413, "request body too large"),
        (412, "required data cannot be obtained (prefetch missing and not fetchable)"),
        (503, "the audit log cannot record this"),
    )
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass
class _State:
    engine: Engine
    settings: ServiceSettings
    verifier: Verifier | None
    audit: AuditLog | None
    links: ReportLinks
    clock: Callable[[], datetime]

    def endpoint(self, request: Request) -> str:
        """The URL the client called (the JWT ``aud``): the base URL and the path exactly as
        sent (percent-encoding kept), without the query."""
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
        return self.base(request) + path.split("?", 1)[0]

    def base(self, request: Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")


def create_app(
    engine: Engine,
    settings: ServiceSettings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    verifier: Verifier | None = None,
    audit_key: bytes | None = None,
) -> FastAPI:
    """A FastAPI app serving CDS Hooks 2.0 for ``engine`` (no global state).

    ``clock`` gives the evaluation time of each call (the engine never reads the clock);
    ``verifier`` replaces the JWT verifier built from ``settings.trusted_issuers`` (tests);
    ``audit_key`` the audit key (default: ``TRD_CDS_AUDIT_KEY``, as for the CLI).
    Raises :class:`ValueError` for settings that cannot work (auth required and nobody
    trusted; an audit log without a usable key).
    """
    settings = settings or ServiceSettings()
    if settings.require_auth and verifier is None:
        if not settings.trusted_issuers:
            raise ValueError("no trusted issuers: give at least one (iss and JWKS) or --no-auth")
        verifier = Verifier(
            {i.iss: Issuer(i.iss, i.jwks) for i in settings.trusted_issuers},
            leeway=settings.jwt_leeway,
            max_age=settings.jwt_max_age,
        )
    audit = None
    if settings.audit_log is not None:
        audit = open_log(settings.audit_log, key=audit_key)
        if not audit.pseudonymising:
            why = audit.key_problem or "TRD_CDS_AUDIT_KEY is not set"
            raise ValueError(f"the audit log needs its key to pseudonymise patients: {why}")
    state = _State(
        engine=engine,
        settings=settings,
        verifier=verifier if settings.require_auth else None,
        audit=audit,
        links=ReportLinks(settings.report_ttl, settings.report_links_max),
        clock=clock,
    )
    app = FastAPI(
        title="trd-cds CDS Hooks service",
        version=engine_version(),
        description="HL7 CDS Hooks 2.0.1 service: the TRD plan as cards, order checks, "
        "feedback into the audit log. Decision support, not a decision.",
        docs_url=None,
        redoc_url=None,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    _install_handlers(app, settings.max_body_bytes)
    app.include_router(_router(state))
    return app


def _install_handlers(app: FastAPI, max_body: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors()[:20]:
            where = "/".join(str(p) for p in err.get("loc", ()) if p != "body")
            details.append(f"/{where}: {err.get('msg')}")
        return _problem(400, "the request body is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail))

    @app.exception_handler(HookError)
    async def refused(request: Request, exc: HookError) -> JSONResponse:
        return _problem(exc.status, exc.reason, exc.details)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            response: Response = _problem(413, f"the request body is over {max_body} bytes")
        else:
            try:
                response = await call_next(request)
            except Exception as exc:  # no traceback to the client; the log gets only the type
                # (an exception message may quote a case id or a FHIR resource)
                log.error(
                    "unexpected %s on %s %s", type(exc).__name__, request.method, _route(request)
                )
                response = _problem(500, "internal error (logged without patient data)")
        log.info(
            "%s %s -> %d in %.1f ms",
            request.method,
            _route(request),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response


def _route(request: Request) -> str:
    """The path with a report token masked (tokens are capabilities)."""
    path = request.url.path
    return "/cds-reports/…" if path.startswith("/cds-reports/") else path


def _router(state: _State) -> APIRouter:
    router = APIRouter()

    def authenticated(request: Request) -> None:
        if state.verifier is None:
            return
        try:
            state.verifier.verify(request.headers.get("authorization"), state.endpoint(request))
        except AuthError as exc:
            raise HookError(401, str(exc)) from None

    @router.get(
        "/cds-services",
        response_model=Discovery,
        response_model_exclude_none=True,
        responses={401: _ERRORS[401]},
        dependencies=[Depends(authenticated)],
    )
    def discovery() -> Response:
        body = Discovery(services=[s.definition() for s in SERVICES.values()])
        return JSONResponse(dump(body))

    @router.post(
        "/cds-services/{service_id}",
        response_model=CdsResponse,
        response_model_exclude_none=True,
        responses={c: _ERRORS[c] for c in (400, 401, 404, 412, 413, 503)},
        dependencies=[Depends(authenticated)],
    )
    def call_service(service_id: str, body: HookRequest, request: Request) -> Response:
        cards = _call(state, service_id, body, request)
        return Response(orjson.dumps(cards), media_type="application/json")

    @router.post(
        "/cds-services/{service_id}/feedback",
        responses={c: _ERRORS[c] for c in (400, 401, 404, 413, 503)},
        dependencies=[Depends(authenticated)],
    )
    def feedback(service_id: str, body: FeedbackRequest) -> dict[str, Any]:
        return _feedback(state, service_id, body)

    @router.get(
        "/cds-reports/{token}",
        responses={404: {"model": Problem, "description": "unknown or expired link"}},
        response_class=PlainTextResponse,
    )
    def report_link(token: str, format: str = "markdown") -> Response:
        item = state.links.get(token)
        if item is None:
            raise HookError(404, "this report link is unknown or has expired")
        if format == "json":
            return Response(item.json(), media_type="application/json")
        if format != "markdown":
            raise HookError(400, "format is markdown or json")
        return PlainTextResponse(item.markdown(), media_type="text/markdown; charset=utf-8")

    return router


# --------------------------------------------------------------------------- the calls


def decision(report: Report) -> dict[str, Any]:
    """The report's decision parts (everything but the trace and why-not), without computing
    the explanations: cards need only the decision, and the explanations cost as much as the
    evaluation. (``Report`` has no public accessor for this yet; ``to_dict`` computes all.)"""
    data = getattr(report, "_data", None)
    if not isinstance(data, dict):
        data = report.to_dict()
    return {k: v for k, v in data.items() if k not in LAZY_PARTS}


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
    selections: list[str] = []
    if hook == ORDER_SELECT:
        raw = ctx.get("selections")
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
            raise HookError(400, "context.selections is required: a non-empty list of references")
        selections = raw
    return patient_id, orders, selections


def _call(state: _State, service_id: str, body: HookRequest, request: Request) -> dict[str, Any]:
    service = SERVICES.get(service_id)
    if service is None:
        raise HookError(404, f"no CDS service {service_id!r} (see GET /cds-services)")
    if body.hook != service.hook:
        raise HookError(400, f"service {service_id!r} answers hook {service.hook!r}, not another")
    patient_id, bundle, selections = _context(body, service.hook)
    settings = state.settings
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
    data = rewrite_report_pointers(decision(report), derived.provenance)
    token = state.links.add(report, derived.provenance)
    link = Link(
        label="Full report", url=f"{state.base(request)}/cds-reports/{token}", type="absolute"
    )
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


def _feedback(state: _State, service_id: str, body: FeedbackRequest) -> dict[str, Any]:
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
    try:
        known = {r.record_id for r in state.audit.records() if r.kind == "evaluation"}
    except AuditError:
        known = set()  # no log yet (nothing evaluated), or unreadable: nothing to link to
    for i, (record_id, _) in enumerate(linked):
        if record_id not in known:
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
