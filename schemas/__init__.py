"""Pydantic v2 models: the case (input), the rule file format, the report (output), settings."""

from .case import Case
from .options import Option, Tier
from .report import Report
from .rule import Rule
from .settings import Settings

__all__ = ["Case", "Option", "Report", "Rule", "Settings", "Tier"]
