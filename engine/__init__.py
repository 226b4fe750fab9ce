"""trd-cds: rule-based clinical decision support for treatment-resistant depression.

This module is the public surface (the repository root holds no ``__init__.py``, so the
``trd_cds`` package is a namespace and its public names live here)::

    from trd_cds.engine import Engine, Case, Report
    report = Engine().evaluate(case, at=datetime(2026, 11, 24, tzinfo=timezone.utc))

Decision support, not a decision: every output is a suggestion for a clinician.
"""

from ..rules.loader import Ruleset, load_ruleset
from ..schemas.case import Case
from ..schemas.options import Option
from ..schemas.report import Report
from ..schemas.settings import Settings
from .core import Engine, UsageError, parse_case
from .errors import (
    AuditError,
    CaseError,
    EngineError,
    EvaluationError,
    RuleDefinitionError,
    RuleLintError,
    TrdCdsError,
)

__all__ = [
    "AuditError",
    "Case",
    "CaseError",
    "Engine",
    "EngineError",
    "EvaluationError",
    "Option",
    "Report",
    "RuleDefinitionError",
    "RuleLintError",
    "Ruleset",
    "Settings",
    "TrdCdsError",
    "UsageError",
    "load_ruleset",
    "parse_case",
]
