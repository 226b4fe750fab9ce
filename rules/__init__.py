"""The declarative rule files (``*.yaml`` in this folder) and their loader."""

from .loader import LoadedRule, Ruleset, bundled_rules_dir, lint_rules, load_ruleset

__all__ = ["LoadedRule", "Ruleset", "bundled_rules_dir", "lint_rules", "load_ruleset"]
