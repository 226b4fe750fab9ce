"""Case → FHIR Bundle → case gives the same recommendations and blocks.

The bundled examples are also shipped as FHIR bundles in ``examples/fhir/`` (regenerate with
``TRD_CDS_REGENERATE=1 pytest tests/test_fhir_roundtrip.py``); each gives the same plan as its
YAML case. A Hypothesis property runs the round trip over the whole case model.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import AT, EXAMPLES, load_yaml
from tests.strategies import case_dicts
from trd_cds import Engine, parse_case
from trd_cds.interop.fhir import FhirError, case_from_fhir, case_to_bundle
from trd_cds.interop.fhir.resources import iter_resources, validate

FHIR_EXAMPLES = EXAMPLES / "fhir"
YAML = sorted(EXAMPLES.glob("*.yaml"))


def _decision(report: Any) -> dict[str, Any]:
    """What a clinician acts on: options with their rules, in order; blocks; gates; cautions."""
    return {
        "gates": [(g.gate, g.rules) for g in report.gates],
        "recommendations": [
            (r.option, r.order, r.tier, r.strength, r.after_stabilisation, r.rules, r.cautions)
            for r in report.recommendations
        ],
        "blocked": [(b.option, b.rules, b.overrode) for b in report.blocked],
        "cautions": [(c.option, c.rules) for c in report.cautions],
        # list order may differ (trials come back sorted by drug): findings by name and value
        "findings": sorted((f.name, json.dumps(f.value)) for f in report.findings),
    }


#: FHIR JSON, suffixed ``.fhir`` (not ``.json``) so that ``trd-cds evaluate examples/`` (which
#: reads every .json/.yaml below it as a case file) does not pick them up until it detects FHIR.
SUFFIX = ".fhir"


def _fhir_path(case_path: Path) -> Path:
    return FHIR_EXAMPLES / (case_path.stem + SUFFIX)


@pytest.mark.parametrize("path", YAML, ids=lambda p: p.stem)
def test_example_bundle_gives_the_same_plan(path: Path, engine: Engine) -> None:
    case = parse_case(load_yaml(path), str(path))
    bundle = case_to_bundle(case, at=AT)
    target = _fhir_path(path)
    if os.environ.get("TRD_CDS_REGENERATE"):
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", "utf-8")
    assert json.loads(target.read_text("utf-8")) == bundle, "regenerate examples/fhir"
    for resource in iter_resources(bundle):
        validate(resource)  # every exported resource is valid R4(B)
    back = case_from_fhir(json.loads(target.read_text("utf-8")), at=AT)
    assert _decision(engine.evaluate(back.case, at=AT)) == _decision(engine.evaluate(case, at=AT))


def test_every_example_has_a_bundle() -> None:
    assert sorted(p.stem for p in FHIR_EXAMPLES.glob("*" + SUFFIX)) == [p.stem for p in YAML]
    assert not list(FHIR_EXAMPLES.glob("*.json"))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(case_dicts())
def test_round_trip_keeps_recommendations_and_blocks(engine: Engine, data: dict[str, Any]) -> None:
    case = parse_case(data)
    names = [
        e.drug
        for e in (*case.antidepressant_trials, *case.augmentations, *case.current_medications)
        if e.drug is not None
    ]
    if any(not re.search(r"[ \r\n\t\S]", n) for n in names):
        # the schema accepts a drug name FHIR cannot carry (only form feeds, no-break spaces…)
        with pytest.raises(FhirError, match="made only of whitespace"):
            case_to_bundle(case, at=AT)
        return
    back = case_from_fhir(case_to_bundle(case, at=AT), at=AT).case
    before, after = engine.evaluate(case, at=AT), engine.evaluate(back, at=AT)
    assert [r.option for r in after.recommendations] == [r.option for r in before.recommendations]
    assert [b.option for b in after.blocked] == [b.option for b in before.blocked]
    assert _decision(after) == _decision(before)
