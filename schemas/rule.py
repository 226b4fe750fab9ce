"""The rule file format: declarative rules as data.

A rule file (``rules/*.yaml``) holds a ``ruleset`` header and a list of rules. Each rule has a
stable ``id`` written in the file (never derived from position), a ``version`` that is bumped
whenever behaviour changes, a condition in durable_rules' own JSON condition syntax
(``all`` / ``any`` of named patterns built from ``$and`` / ``$or`` / ``$gte`` ...), one action,
a rationale template filled from the matched facts, and its citations: seed line ranges
(``shared/seed/000_c5ab72b13a3ba75d.txt``) and guideline references from
``shared/domain-reference.md``.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .options import Option, Tier

#: The source document rules cite by line range, and its length in lines.
SEED_DOCUMENT = "000_c5ab72b13a3ba75d"
SEED_LINES = 137

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
FINDING_PATTERN = r"^[a-z][a-z0-9_]*$"
_SEED_REF = re.compile(r"^L(\d+)(?:[-–]L?(\d+))?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Action(_Model):
    kind: ActionKind
    options: tuple[Option, ...] = ()
    finding: str | None = Field(default=None, pattern=FINDING_PATTERN)
    tier: Tier | None = None

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

    @model_validator(mode="after")
    def _shape(self) -> Action:
        needs_options = self.kind in (ActionKind.recommend, ActionKind.block, ActionKind.caution)
        if needs_options and not self.options:
            raise ValueError(f"a {self.kind.value} action needs options")
        if not needs_options and self.options:
            raise ValueError(f"a {self.kind.value} action takes no options")
        needs_finding = self.kind in (ActionKind.derive, ActionKind.gate)
        if needs_finding and self.finding is None:
            raise ValueError(f"a {self.kind.value} action needs a finding name")
        if not needs_finding and self.finding is not None:
            raise ValueError(f"a {self.kind.value} action takes no finding")
        if (self.kind is ActionKind.recommend) != (self.tier is not None):
            raise ValueError("a recommend action needs a tier, and only it takes one")
        if len(set(self.options)) != len(self.options):
            raise ValueError("options repeat")
        return self


class Rule(_Model):
    id: str = Field(pattern=RULE_ID_PATTERN, description="Stable id, e.g. safety.high_risk.")
    version: int = Field(ge=1, description="Bumped whenever the rule's behaviour changes.")
    title: str = Field(min_length=1, max_length=200)
    status: RuleStatus
    when: dict[str, Any] = Field(description="durable_rules JSON condition (all/any).")
    action: Action
    rationale: str = Field(min_length=1, description="Template: {pattern.field} from matches.")
    citations: tuple[Citation, ...] = ()
    strength: Strength | None = None
    notes: str | None = None

    @property
    def ref(self) -> str:
        """``id@version``, the way reports and audit records name a rule."""
        return f"{self.id}@{self.version}"

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
