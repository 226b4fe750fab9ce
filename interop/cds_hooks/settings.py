"""Settings of the CDS Hooks service (what ``trd-cds serve`` reads from its options)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class TrustedIssuer(BaseModel):
    """A CDS client allowed to call: its JWT ``iss`` and its JWKS (a file path or a URL)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks: str = Field(min_length=1, description="path of a JWKS JSON file, or an https URL")


class ServiceSettings(BaseModel):
    """How the service runs. Safe by default: every call needs a JWT from a trusted issuer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    require_auth: bool = Field(
        default=True,
        description="false only for a local demo on a loopback address (`serve --no-auth`)",
    )
    public_url: str | None = Field(
        default=None,
        description="the service's base URL as clients call it (JWT aud, report links); "
        "default: the URL of the request",
    )
    cors_origins: tuple[str, ...] = ()
    audit_log: Path | None = Field(
        default=None,
        description="audit log (.jsonl/.sqlite); key from TRD_CDS_AUDIT_KEY as for the CLI",
    )
    fhir_servers: tuple[str, ...] = Field(
        default=(),
        description="base URLs the service may fetch from (a call naming another fhirServer "
        "is refused with 400); empty: any fhirServer an authenticated client names",
    )
    fhir_timeout: float = Field(default=5.0, gt=0, le=60)
    fhir_max_pages: int = Field(default=20, ge=1, le=1000)
    max_body_bytes: int = Field(default=20_000_000, ge=1_000)
    report_ttl: float = Field(default=900.0, gt=0, description="seconds a report link lives")
    report_links_max: int = Field(
        default=1_000, ge=1, description="report links kept (each holds its report in memory)"
    )
    jwt_leeway: float = Field(default=30.0, ge=0, le=300)
    jwt_max_age: float = Field(default=300.0, gt=0, le=3600)
