"""CDS Hooks 2.0 service: the TRD plan as cards in the EHR, order checks, feedback.

::

    from trd_cds import Engine
    from trd_cds.interop.cds_hooks import ServiceSettings, TrustedIssuer, create_app

    ehr = TrustedIssuer(iss="https://ehr.example", jwks="ehr-jwks.json")
    settings = ServiceSettings(trusted_issuers=(ehr,))
    app = create_app(Engine(), settings)      # a FastAPI app; run it with uvicorn

or ``trd-cds serve``. Written directly on HL7 CDS Hooks 2.0.1 with the project's own models of
its requests and responses (:mod:`.models`).
"""

from __future__ import annotations

from .app import create_app
from .auth import AuthError, Verifier
from .cards import build_cards
from .models import Card, CdsResponse, FeedbackRequest, HookRequest
from .services import SERVICES, prefetch_templates
from .settings import ServiceSettings, TrustedIssuer

__all__ = [
    "SERVICES",
    "AuthError",
    "Card",
    "CdsResponse",
    "FeedbackRequest",
    "HookRequest",
    "ServiceSettings",
    "TrustedIssuer",
    "Verifier",
    "build_cards",
    "create_app",
    "prefetch_templates",
]
