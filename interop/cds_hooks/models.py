"""The project's own Pydantic models of HL7 CDS Hooks 2.0.1 (https://cds-hooks.hl7.org/2.0/).

Requests (hook call, feedback) are validated strictly enough to answer 400 with a reason;
responses (discovery, cards) are built only from these models and serialised without null or
empty optional attributes, as the spec asks ("OPTIONAL JSON string and array attributes should
be omitted rather than having a null or empty value"). The spec's FSH invariants that concern a
service are enforced here and pinned by ``tests/test_cds_invariants.py``:

* cds-resp-1: ``selectionBehavior = at-most-one`` implies at most one recommended suggestion;
* cds-resp-2: a ``delete`` action names a ``resourceId`` and carries no ``resource``;
* cds-resp-3: ``appContext`` only on ``smart`` links;
* cds-resp-4: every override reason has a ``display``;
* cds-resp-5: every suggestion action has a ``description``;
* cds-resp-6: suggestions imply ``selectionBehavior``;
* cds-resp-7: ``actionSelectionBehavior`` is ``all``, ``any`` or ``at-most-one`` (this service
  never sends it: it is not in CDS Hooks 2.0.1);
* cds-fb-1/2/3 (feedback) and cds-r-1 (request) on the request models below.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: "Unless otherwise specified, JSON attributes SHALL NOT be null" (CDS Hooks 2.0 §Conventions).
_NON_EMPTY = r"\S"


class _In(BaseModel):
    """A request part: unknown attributes are kept (extensions), wrong types refused."""

    model_config = ConfigDict(extra="allow", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- requests


class FhirAuthorization(_In):
    """``fhirAuthorization``: an OAuth 2.0 bearer token for the CDS service to call the
    client's FHIR server (CDS Hooks 2.0 §Passing the Access Token to the CDS Service)."""

    access_token: str = Field(min_length=1, pattern=_NON_EMPTY)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    patient: str | None = None


class HookRequest(_In):
    """The body of ``POST {baseUrl}/cds-services/{service.id}`` (CDS Hooks 2.0 §HTTP Request).

    cds-r-1: "if fhirAuthorization details are provided, a fhirServer SHALL be specified".
    """

    hook: str = Field(min_length=1, pattern=_NON_EMPTY)
    hookInstance: str = Field(min_length=1, max_length=200, pattern=_NON_EMPTY)
    fhirServer: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2000)
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None

    @model_validator(mode="after")
    def _cds_r_1(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("cds-r-1: fhirAuthorization is given, so fhirServer is required")
        return self


class FeedbackCoding(_In):
    """A Coding as a client sends it back: ``system`` and ``code``; ``display`` optional."""

    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class OverrideReason(_In):
    """cds-fb-3: "An overrideReason must contain a reason, a userComment, or both"."""

    reason: FeedbackCoding | None = None
    userComment: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _cds_fb_3(self) -> OverrideReason:
        if self.reason is None and not self.userComment:
            raise ValueError("cds-fb-3: an overrideReason needs a reason, a userComment or both")
        return self


class AcceptedSuggestion(_In):
    id: str = Field(min_length=1, max_length=200)


class FeedbackEntry(_In):
    """One entry of a feedback request (CDS Hooks 2.0 §Feedback).

    cds-fb-1: an ``overrideReason`` belongs to an ``overridden`` outcome only.
    cds-fb-2: "If outcome is 'accepted', acceptedSuggestions SHALL be provided".
    """

    card: str = Field(min_length=1, max_length=200)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
    )

    @model_validator(mode="after")
    def _cds_fb_1_2(self) -> FeedbackEntry:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("cds-fb-2: an accepted outcome needs acceptedSuggestions")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("cds-fb-1: overrideReason is only for an overridden outcome")
        return self


class FeedbackRequest(_In):
    feedback: list[FeedbackEntry] = Field(min_length=1, max_length=100)


# ---------------------------------------------------------------------------- responses


class Coding(_Out):
    """A Coding in a response: cds-resp-4 asks for a ``display`` on every override reason."""

    system: str
    code: str
    display: str = Field(min_length=1)


class Source(_Out):
    label: str = Field(min_length=1)
    url: str | None = None
    topic: Coding | None = None


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)  # cds-resp-5
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _cds_resp_2(self) -> Action:
        if self.type == "delete" and (self.resourceId is None or self.resource is not None):
            raise ValueError("cds-resp-2: a delete action names resourceId and no resource")
        if self.type != "delete" and self.resource is None:
            raise ValueError(f"a {self.type} action carries a resource")
        return self


class Suggestion(_Out):
    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Out):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    appContext: str | None = None

    @model_validator(mode="after")
    def _cds_resp_3(self) -> Link:
        if self.type != "smart" and self.appContext is not None:
            raise ValueError("cds-resp-3: appContext only for smart links")
        return self


class Card(_Out):
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=140)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _cds_resp_1_6(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("cds-resp-6: suggestions need a selectionBehavior")
        if self.selectionBehavior == "at-most-one" and self.suggestions:
            recommended = sum(1 for s in self.suggestions if s.isRecommended)
            if recommended > 1:
                raise ValueError("cds-resp-1: at-most-one allows one recommended suggestion")
        return self


class CdsResponse(_Out):
    cards: list[Card]
    systemActions: list[Action] | None = None


class ServiceDefinition(_Out):
    """One entry of the discovery response (CDS Hooks 2.0 §Discovery)."""

    hook: str
    title: str
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Out):
    services: list[ServiceDefinition]


class Problem(_Out):
    """Every 4xx/5xx answer of this service: what went wrong, in words (no patient data)."""

    error: str = Field(description="the reason, one sentence")
    status: int
    details: list[str] | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON data with null attributes omitted (the spec's rule for optional attributes)."""
    return model.model_dump(mode="json", exclude_none=True)
