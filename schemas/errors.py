"""The error tree. Everything the package raises on purpose is a ``TrdCdsError``::

    TrdCdsError                     exit 1
    ├── RuleDefinitionError         exit 3  a rule file is invalid (file, rule id, line, hint)
    │   └── RuleLintError           exit 3  ... collected lint problems (``.problems``)
    ├── CaseError                   exit 1  a case is invalid (carries source, field path)
    ├── EvaluationError             exit 1  evaluating a valid case failed (case id, rule id)
    │   └── EngineError             exit 1  durable_rules itself failed (wrapped, never raw)
    ├── OutputError                 exit 1  a report could not be written (carries path)
    ├── AuditError                  exit 4  the audit log cannot be written or read (path)
    └── UsageError (engine.core)    exit 2  the library was called wrongly

``exit_code`` is the command line's exit status for each class (``trd-cds`` reads it; the
numbers are documented in ``cli.py``). durable_rules exceptions never escape raw: the engine
wraps them in ``EngineError``. Messages escape control characters (a newline in a file name
or a key cannot split an error line, an escape sequence cannot reach a terminal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

#: The "field path" of a problem with the input as a whole (too large, not UTF-8, ...).
WHOLE_INPUT = "(whole input)"


def printable(text: str) -> str:
    """``text`` with control characters (newline, ESC, DEL, ...) escaped as ``\\n``, ``\\x1b``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class TrdCdsError(Exception):
    """Base of every error this package raises on purpose."""

    #: Exit status of the command line when this error ends a command.
    exit_code: ClassVar[int] = 1
    #: What failed, for the command line's one-line message (``error: rules: ...``).
    label: ClassVar[str] = ""


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

    exit_code = 3
    label = "rules"

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
        path, msg = errors[0] if errors else (WHOLE_INPUT, "invalid case")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{self.line(path, msg)}{more}")

    def line(self, path: str, msg: str) -> str:
        """One problem as one line: ``source: path: message``, control characters escaped."""
        return printable(f"{self.source}: {path or '/'}: {msg}")

    def lines(self) -> list[str]:
        """Every problem, one line each."""
        return [self.line(path, msg) for path, msg in self.errors]


class EvaluationError(TrdCdsError):
    """Evaluating a valid case failed."""

    def __init__(self, message: str, *, case_id: str | None = None, rule_id: str | None = None):
        super().__init__(message)
        self.case_id = case_id
        self.rule_id = rule_id


class EngineError(EvaluationError):
    """durable_rules raised or reported an error; the original is the ``__cause__``."""


class OutputError(TrdCdsError):
    """A report could not be written (``evaluate -o``). ``path`` names the file."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(printable(f"{path}: {message}"))
        self.path = path


class AuditError(TrdCdsError):
    """The audit log cannot be written or read: no pseudonymisation key for a case with a
    patient id, a corrupt last record, an unknown file type. ``path`` names the log."""

    exit_code = 4
    label = "audit"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
