"""Floor 1, the contract: Pydantic v2 models of the case (input), the rule file format, the
report (output) and settings; the error tree (:mod:`.errors`); canonical JSON and hashes
(:mod:`.canonical`). Imports nothing of ours.

Import the module you need (``trd_cds.schemas.case``, ``trd_cds.schemas.errors`` ...): this
package re-exports nothing, so the light modules (errors, canonical JSON) do not pull in every
model. The public face is the package root (``from trd_cds import Case, Report``).
"""
