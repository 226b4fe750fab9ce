"""Helpers that worker processes import by reference (so they live in a module, not a test)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import AT
from trd_cds.interop.batch import CaseItem
from trd_cds.schemas.case import Case


@dataclass(frozen=True)
class CrashItem(CaseItem):
    """An item whose loading kills the worker process outright (as a C-level crash would)."""

    def load(self) -> Case:
        os._exit(70)


def bulk_export(folder: Path, examples: list[Path]) -> Path:
    """A Bulk Data export (one NDJSON file per resource type) of some example cases."""
    from trd_cds.engine.io import load_case
    from trd_cds.interop.fhir import case_to_bundle

    by_type: dict[str, list[str]] = {}
    for path in examples:
        bundle = case_to_bundle(load_case(path), at=AT)
        stem = path.stem.replace("_", "-")
        for entry in bundle["entry"]:
            resource = entry["resource"]
            resource["id"] = f"{stem}-{resource['id']}"  # ids unique across the export
            text = json.dumps(resource).replace('"Patient/p-', f'"Patient/{stem}-p-')
            by_type.setdefault(resource["resourceType"], []).append(text)
    folder.mkdir()
    for kind, lines in by_type.items():
        (folder / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
    return folder
