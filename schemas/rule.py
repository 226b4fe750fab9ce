"""The rule file format: declarative rules as data.

A rule file (``rules/*.yaml``) holds a ``ruleset`` header and a list of rules. Each rule has a
stable ``id`` written in the file (never derived from position), a ``version`` that is bumped
whenever behaviour changes, a condition (``when``: ``all`` / ``any`` of patterns written in the
readable syntax of ``rules/condition.lark``, e.g. ``assessment where adequate_failed_ad_trials
>= 1 and not in_remission``), one action (a union discriminated by ``kind``: each kind takes
exactly its own keys), a rationale template filled from the matched facts, and its citations:
seed line ranges (``shared/seed/000_c5ab72b13a3ba75d.txt``) and guideline references from
``shared/domain-reference.md``. The condition is parsed, checked against the fact model and
compiled to durable_rules JSON by :mod:`trd_cds.rules`; this module only checks its shape.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .options import Option, Tier

#: The source document rules cite by line range, and its length in lines.
SEED_DOCUMENT = "000_c5ab72b13a3ba75d"
SEED_LINES = 137

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
FINDING_PATTERN = r"^[a-z][a-z0-9_]*$"
_SEED_REF = re.compile(r"^L(\d+)(?:[-–]L?(\d+))?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class RuleStatus(str, Enum):
    draft = "draft"
    active = "active"
    retired = "retired"


class Strength(str, Enum):
    """NICE wording: ``offer`` (should be done) vs ``consider`` (an option to discuss)."""

    offer = "offer"
    consider = "consider"


class ActionKind(str, Enum):
    derive = "derive"
    recommend = "recommend"
    block = "block"
    caution = "caution"
    gate = "gate"


class Citation(_Model):
    kind: Literal["seed", "guideline", "domain_reference"]
    ref: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _seed_lines(self) -> Citation:
        if self.kind == "seed":
            first, last = self.seed_lines()
            if not 1 <= first <= last <= SEED_LINES:
                raise ValueError(
                    f"seed line range {self.ref!r} is outside lines 1–{SEED_LINES} "
                    f"of {SEED_DOCUMENT}"
                )
        return self

    def seed_lines(self) -> tuple[int, int]:
        match = _SEED_REF.match(self.ref)
        if match is None:
            raise ValueError(f"seed citation {self.ref!r} must look like 'L104' or 'L104-L108'")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        return first, last

    def render(self) -> str:
        if self.kind == "seed":
            return f"seed {SEED_DOCUMENT} {self.ref}"
        if self.kind == "domain_reference":
            return f"domain-reference {self.ref}"
        return self.ref


Options = Annotated[
    tuple[Option, ...],
    Field(min_length=1, description="Option codes from the vocabulary (domain-reference §10)."),
]
FindingName = Annotated[str, Field(pattern=FINDING_PATTERN)]


def _unique(options: tuple[Option, ...]) -> tuple[Option, ...]:
    if len(set(options)) != len(options):
        raise ValueError("options repeat")
    return options


class _ActionBase(_Model):
    kind: ActionKind

    def compiled(self) -> dict[str, Any]:
        """The flat dict every kind compiles to, ``{kind, options, finding, tier}`` (JSON
        values): what the ruleset hash and the rule pins cover, as before the union."""
        tier: Tier | None = getattr(self, "tier", None)
        finding: str | None = getattr(self, "finding", None)
        options: tuple[Option, ...] = getattr(self, "options", ())
        return {
            "kind": self.kind.value,
            "options": [o.value for o in options],
            "finding": finding,
            "tier": None if tier is None else int(tier),
        }


class RecommendAction(_ActionBase):
    """Recommend options at a step of the ladder; the rule also needs a ``strength``."""

    kind: Literal[ActionKind.recommend]
    options: Options
    tier: Annotated[
        Tier,
        WithJsonSchema({"type": "string", "enum": [t.name for t in Tier]}, mode="validation"),
    ] = Field(description="Ladder step by name, e.g. structured_psychotherapy.")

    @field_validator("tier", mode="before")
    @classmethod
    def _tier_by_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return Tier[value]
            except KeyError as exc:
                names = ", ".join(t.name for t in Tier)
                raise ValueError(f"unknown tier {value!r} (one of {names})") from exc
        return value

    _options = field_validator("options")(_unique)

    @property
    def finding(self) -> None:
        return None


class _OptionsAction(_ActionBase):
    options: Options

    _options = field_validator("options")(_unique)

    @property
    def finding(self) -> None:
        return None

    @property
    def tier(self) -> None:
        return None


class BlockAction(_OptionsAction):
    """Block options (the conflict policy removes them, with this rule as the reason)."""

    kind: Literal[ActionKind.block]


class CautionAction(_OptionsAction):
    """Attach a caution to options (they stay recommended)."""

    kind: Literal[ActionKind.caution]


class _FindingAction(_ActionBase):
    finding: FindingName

    @property
    def options(self) -> tuple[Option, ...]:
        return ()

    @property
    def tier(self) -> None:
        return None


class DeriveAction(_FindingAction):
    """Derive a named finding (a fact other rules can match: ``finding <name>``)."""

    kind: Literal[ActionKind.derive]


class GateAction(_FindingAction):
    """Raise a named gate (a fact other rules can match: ``gate <name>``)."""

    kind: Literal[ActionKind.gate]


Action = Annotated[
    RecommendAction | BlockAction | CautionAction | DeriveAction | GateAction,
    Field(discriminator="kind"),
]

#: A pattern of ``when``: its text, or ``{binding: text}`` when the rationale names it.
PatternSpec: TypeAlias = str | dict[str, str]


class Rule(_Model):
    id: str = Field(pattern=RULE_ID_PATTERN, description="Stable id, e.g. safety.high_risk.")
    version: int = Field(ge=1, description="Bumped whenever the rule's behaviour changes.")
    title: str = Field(min_length=1, max_length=200)
    status: RuleStatus
    when: dict[Literal["all", "any"], list[PatternSpec]] = Field(
        description=(
            "`all` or `any` of patterns in the readable syntax (rules/condition.lark), e.g. "
            "`assessment where adequate_failed_ad_trials >= 1 and not in_remission` or "
            "`gate safety_escalation_first`; `{r: risk where ...}` binds a name for the "
            "rationale."
        )
    )
    action: Action
    rationale: str = Field(min_length=1, description="Template: {name.field} from matches.")
    citations: tuple[Citation, ...] = ()
    strength: Strength | None = None
    notes: str | None = None

    @property
    def ref(self) -> str:
        """``id@version``, the way reports and audit records name a rule."""
        return f"{self.id}@{self.version}"

    @field_validator("when", mode="before")
    @classmethod
    def _readable_when(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if "none" in value:
                raise ValueError(
                    "none(...) is unreliable in durable_rules (DESIGN.md #8): derive absence "
                    "in Python"
                )
            for items in value.values():
                for item in items if isinstance(items, list) else ():
                    if isinstance(item, dict) and any(isinstance(v, dict) for v in item.values()):
                        raise ValueError(
                            "durable_rules JSON conditions are no longer written in rule files; "
                            "convert with `python -m trd_cds.rules.convert FILE`"
                        )
        return value

    @model_validator(mode="after")
    def _strength_for_recommendations(self) -> Rule:
        if (self.action.kind is ActionKind.recommend) != (self.strength is not None):
            raise ValueError("recommend rules need a strength; other rules take none")
        return self


class RulesetHeader(_Model):
    """``rules/ruleset.yaml``: the ruleset's identity."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(min_length=1)
    title: str
