"""Floor 2, the rule language: the rule files (``*.yaml`` in this folder), their parser,
linter and loader. Imports only :mod:`trd_cds.schemas`."""

from .loader import LoadedRule, Ruleset, bundled_rules_dir, lint_rules, load_ruleset

__all__ = ["LoadedRule", "Ruleset", "bundled_rules_dir", "lint_rules", "load_ruleset"]
