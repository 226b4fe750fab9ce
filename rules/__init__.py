"""The declarative rule files (``*.yaml`` in this folder) and their loader."""

# Import order: the loader needs trd_cds.engine (conditions, errors), whose __init__ re-exports
# the loader; importing the engine package first keeps `import trd_cds.rules` alone working.
from .. import engine as _engine  # noqa: F401
from .loader import LoadedRule, Ruleset, bundled_rules_dir, lint_rules, load_ruleset

__all__ = ["LoadedRule", "Ruleset", "bundled_rules_dir", "lint_rules", "load_ruleset"]
