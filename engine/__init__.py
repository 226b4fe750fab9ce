"""Floor 3, evaluation: assessments, facts, the durable_rules session, the conflict policy,
explanations and the report; :mod:`.audit` is the verifiable log. Imports ``rules`` and
``schemas`` only. The public face is the package root (``from trd_cds import Engine``).
"""

from .core import Engine, UsageError, parse_case

__all__ = ["Engine", "UsageError", "parse_case"]
