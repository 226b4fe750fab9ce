"""The error tree. Everything the package raises on purpose is a ``TrdCdsError``::

    TrdCdsError
    ├── RuleDefinitionError         a rule file is invalid (carries file, rule id, line, hint)
    │   └── RuleLintError           ... collected lint problems (``.problems``)
    ├── CaseError                   a case is invalid (carries source, field path)
    ├── EvaluationError             evaluating a valid case failed (carries case id, rule id)
    │   └── EngineError             durable_rules itself failed (wrapped, never raw)
    └── AuditError                  the audit log cannot be written or read (carries path)

durable_rules exceptions never escape raw: the engine wraps them in ``EngineError``.
"""

from __future__ import annotations

from dataclasses import dataclass


class TrdCdsError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class LintProblem:
    """One problem in a rule file. ``hint`` carries a "did you mean" where there is one."""

    file: str
    rule_id: str | None
    message: str
    line: int | None = None
    hint: str | None = None
    severity: str = "error"
    column: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        where += f":{self.column}" if self.line and self.column else ""
        who = f" [{self.rule_id}]" if self.rule_id else ""
        hint = f" (did you mean {self.hint!r}?)" if self.hint else ""
        return f"{where}{who}: {self.severity}: {self.message}{hint}"


class RuleDefinitionError(TrdCdsError):
    """A rule file cannot be used."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        rule_id: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.rule_id = rule_id
        self.line = line
        self.hint = hint
        self.column = column


class RuleLintError(RuleDefinitionError):
    """The linter found errors; ``problems`` lists them all."""

    def __init__(self, problems: list[LintProblem]) -> None:
        first = problems[0]
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{first}{more}",
            file=first.file,
            rule_id=first.rule_id,
            line=first.line,
            hint=first.hint,
            column=first.column,
        )
        self.problems = problems


class CaseError(TrdCdsError):
    """A case is invalid. ``errors`` holds (field path, message) pairs, path like ``/a/0/b``."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        path, msg = errors[0] if errors else ("", "invalid case")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{source}: {path or '/'}: {msg}{more}")


class EvaluationError(TrdCdsError):
    """Evaluating a valid case failed."""

    def __init__(self, message: str, *, case_id: str | None = None, rule_id: str | None = None):
        super().__init__(message)
        self.case_id = case_id
        self.rule_id = rule_id


class EngineError(EvaluationError):
    """durable_rules raised or reported an error; the original is the ``__cause__``."""


class AuditError(TrdCdsError):
    """The audit log cannot be written or read: no pseudonymisation key for a case with a
    patient id, a corrupt last record, an unknown file type. ``path`` names the log."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
