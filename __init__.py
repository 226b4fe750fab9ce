"""trd-cds: rule-based clinical decision support for treatment-resistant depression.

The public face. Everything a library user touches is importable from here::

    from datetime import datetime, timezone
    from trd_cds import Engine

    report = Engine().evaluate(case, at=datetime(2026, 11, 24, tzinfo=timezone.utc))

Decision support, not a decision: every output is a suggestion for a clinician.

Floors (imports run one way, down): ``schemas`` (the contract and the error tree) ←
``rules`` (the rule language) ← ``engine`` (evaluation, explanations, audit) ← ``cli`` and
``interop``. Names are resolved lazily, so ``import trd_cds`` loads nothing heavy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .engine.core import Engine, UsageError
    from .engine.intake import parse_case
    from .rules.loader import Ruleset, load_ruleset
    from .schemas.case import Case
    from .schemas.errors import (
        AuditError,
        CaseError,
        EngineError,
        EvaluationError,
        RuleDefinitionError,
        RuleLintError,
        TrdCdsError,
    )
    from .schemas.options import Option
    from .schemas.report import Report
    from .schemas.settings import Settings

#: public name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    "AuditError": ".schemas.errors",
    "Case": ".schemas.case",
    "CaseError": ".schemas.errors",
    "Engine": ".engine.core",
    "EngineError": ".schemas.errors",
    "EvaluationError": ".schemas.errors",
    "Option": ".schemas.options",
    "Report": ".schemas.report",
    "RuleDefinitionError": ".schemas.errors",
    "RuleLintError": ".schemas.errors",
    "Ruleset": ".rules.loader",
    "Settings": ".schemas.settings",
    "TrdCdsError": ".schemas.errors",
    "UsageError": ".engine.core",
    "load_ruleset": ".rules.loader",
    "parse_case": ".engine.intake",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trd_cds' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
