"""``trd-cds fhir …``: FHIR commands, a click group the main CLI registers.

* ``trd-cds fhir case PATH [--patient ID] [--at TIME]`` prints, per patient, the derived case
  with its provenance, derivations and data-needed list (JSON; one line per patient for a Bulk
  NDJSON folder). Exit 1 when a patient could not become a case (the others still print).
* ``trd-cds fhir questionnaire`` prints the TRD treatment-history Questionnaire.
* ``trd-cds fhir export CASE --at TIME`` prints a case file as a FHIR Bundle.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from ...engine.io import evaluation_time
from ...schemas.errors import CaseError
from .bulk import cases_from_path
from .export import case_to_bundle
from .questionnaire import build_questionnaire


def _at(value: str | None) -> datetime:
    try:
        return evaluation_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


_AT_HELP = "Evaluation time (ISO 8601 with timezone); ages and open periods are judged at it."


@click.group("fhir")
def fhir() -> None:
    """FHIR R4 in: derive cases from Bundles, resources and Bulk NDJSON folders."""


@fhir.command("case")
@click.argument("path", type=click.Path(exists=True))
@click.option("--patient", help="Patient id (multi-patient bundles and Bulk folders).")
@click.option("--at", "at_text", help=_AT_HELP)
def case_command(path: str, patient: str | None, at_text: str | None) -> None:
    """Print the case derived from FHIR, with provenance and data needed."""
    at = _at(at_text)
    indent = None if Path(path).is_dir() else 2
    failed = False
    for bc in cases_from_path(path, at=at, patient=patient):
        if bc.error is not None:
            failed = True
            click.echo(f"error: {bc.error}", err=True)
            continue
        if bc.result is not None:
            out = bc.result.to_json()
            click.echo(json.dumps(out, ensure_ascii=False, indent=indent))
    sys.exit(1 if failed else 0)


@fhir.command("questionnaire")
def questionnaire_command() -> None:
    """Print the TRD treatment-history Questionnaire (FHIR R4, SDC)."""
    click.echo(json.dumps(build_questionnaire(), ensure_ascii=False, indent=2))


@fhir.command("export")
@click.argument("case_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--at", "at_text", required=True, help=_AT_HELP)
def export_command(case_file: str, at_text: str) -> None:
    """Print a case file as a FHIR Bundle (native resources + TRD questionnaire answers)."""
    from ...engine.io import load_case

    try:
        case = load_case(case_file)
    except CaseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(case_to_bundle(case, at=_at(at_text)), ensure_ascii=False, indent=2))
