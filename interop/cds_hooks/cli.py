"""``trd-cds serve``: the CDS Hooks service on uvicorn (registered lazily by the main CLI)."""

from __future__ import annotations

import ipaddress
import logging
import sys

import click

from ...schemas.errors import TrdCdsError
from .settings import ServiceSettings, TrustedIssuer


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _issuer(value: str) -> TrustedIssuer:
    iss, sep, jwks = value.rpartition("=")
    if not sep or not iss or not jwks:
        raise click.BadParameter(f"{value!r}: give ISS=JWKS (a JWKS file path or URL)")
    return TrustedIssuer(iss=iss, jwks=jwks)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--trust",
    "trust",
    multiple=True,
    metavar="ISS=JWKS",
    help="A trusted client: its JWT iss and its JWKS (file path or URL). Repeatable.",
)
@click.option("--public-url", help="Base URL as clients call it (JWT aud and report links).")
@click.option(
    "--fhir-server",
    "fhir_servers",
    multiple=True,
    help="A FHIR base URL the service may fetch from. Repeatable; default: any.",
)
@click.option("--cors-origin", "cors", multiple=True, help="Allowed browser origin. Repeatable.")
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False),
    help="Audit log (.jsonl/.sqlite): evaluations and feedback; key from TRD_CDS_AUDIT_KEY.",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Accept calls without a JWT (local demo; refused unless --host is a loopback address).",
)
@click.option("--rules", type=click.Path(exists=True, file_okay=False), help="Rules folder.")
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    trust: tuple[str, ...],
    public_url: str | None,
    fhir_servers: tuple[str, ...],
    cors: tuple[str, ...],
    audit_log: str | None,
    no_auth: bool,
    rules: str | None,
    log_level: str,
) -> None:
    """Serve the CDS Hooks 2.0 service (patient-view plan, order-select/order-sign checks)."""
    import uvicorn

    from ...engine.core import Engine
    from .app import create_app
    from .calls import warm_up

    if no_auth and not _loopback(host):
        raise click.BadParameter("--no-auth only on a loopback address", param_hint="--host")
    try:
        settings = ServiceSettings(
            trusted_issuers=tuple(_issuer(t) for t in trust),
            require_auth=not no_auth,
            public_url=public_url,
            cors_origins=cors,
            fhir_servers=fhir_servers,
            audit_log=audit_log,
        )
        engine = Engine(rules)
        app = create_app(engine, settings)
        warm_up(engine)
    except (ValueError, TrdCdsError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO: FHIR queries name the patient; keep them out
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    click.echo(f"trd-cds CDS Hooks service on http://{host}:{port}/cds-services", err=True)
    # no access log: it would hold client addresses and paths; the app logs its own lines
    uvicorn.run(app, host=host, port=port, access_log=False, log_level=log_level)
