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
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...engine.audit import open_log
from ...engine.core import Engine, engine_version
from .auth import AuthError, Issuer, Verifier
from .calls import HookError, State, call_hook, record_feedback, utc_now
from .links import ReportLinks
from .models import (
    CdsResponse,
    Discovery,
    FeedbackRequest,
    HookRequest,
    Problem,
    dump,
)
from .services import SERVICES
from .settings import ServiceSettings

log = logging.getLogger("trd_cds.cds_hooks")


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


def _endpoint(state: State, request: Request) -> str:
    """The URL the client called (the JWT ``aud``): the base URL and the path exactly as
    sent (percent-encoding kept), without the query."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    return _base(state, request) + path.split("?", 1)[0]


def _base(state: State, request: Request) -> str:
    if state.settings.public_url:
        return state.settings.public_url.rstrip("/")
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
    state = State(
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
    # added before the guard, so inside it (a later middleware wraps the earlier ones): an
    # exception from a receive the guard wraps reaches FastAPI in an exception group, a 400
    app.add_middleware(_BodyLimit, max_body=settings.max_body_bytes)
    _install_handlers(app, settings.max_body_bytes)
    app.include_router(_router(state))
    return app


class _BodyLimit:
    """Counts the body as it arrives and stops at ``max_body`` bytes: a chunked request has no
    Content-Length for the guard to check, and was read whole whatever its size. The 413 is
    raised as an HTTPException from the body read, which FastAPI passes on as is."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413, f"the request body is over {self.max_body} bytes")
            return message

        await self.app(scope, counted, send)


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


_KNOWN_PATHS = frozenset(
    ["/cds-services", "/openapi.json"]
    + [f"/cds-services/{s}" for s in SERVICES]
    + [f"/cds-services/{s}/feedback" for s in SERVICES]
)


def _route(request: Request) -> str:
    """The path for the log: a known route as is; a report token (a capability) or any other
    path a client made up (it could hold anything) masked."""
    path = request.url.path
    if path in _KNOWN_PATHS:
        return path
    return "/cds-reports/…" if path.startswith("/cds-reports/") else "(other path)"


def _router(state: State) -> APIRouter:
    router = APIRouter()

    def authenticated(request: Request) -> None:
        if state.verifier is None:
            return
        try:
            state.verifier.verify(request.headers.get("authorization"), _endpoint(state, request))
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
        cards = call_hook(state, service_id, body, _base(state, request))
        return Response(orjson.dumps(cards), media_type="application/json")

    @router.post(
        "/cds-services/{service_id}/feedback",
        responses={c: _ERRORS[c] for c in (400, 401, 404, 413, 503)},
        dependencies=[Depends(authenticated)],
    )
    def feedback(service_id: str, body: FeedbackRequest) -> dict[str, Any]:
        return record_feedback(state, service_id, body)

    @router.get(
        "/cds-reports/{token}",
        responses={404: {"model": Problem, "description": "unknown or expired link"}},
        response_class=PlainTextResponse,
    )
    def report_link(token: str, format: str = "html") -> Response:
        item = state.links.get(token)
        if item is None:
            raise HookError(404, "this report link is unknown or has expired")
        if format == "json":
            return Response(item.json(), media_type="application/json")
        if format == "markdown":
            return PlainTextResponse(item.markdown(), media_type="text/markdown; charset=utf-8")
        if format != "html":
            raise HookError(400, "format is html, markdown or json")
        return Response(item.html(), media_type="text/html; charset=utf-8")

    return router
