"""The public surface, import side effects and the installed layout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import trd_cds
from tests.conftest import ROOT

PUBLIC = [
    "AuditError",
    "Case",
    "CaseError",
    "Engine",
    "EngineError",
    "EvaluationError",
    "Option",
    "Report",
    "RuleDefinitionError",
    "RuleLintError",
    "Ruleset",
    "Settings",
    "TrdCdsError",
    "UsageError",
    "load_ruleset",
    "parse_case",
]


def test_public_surface_is_pinned() -> None:
    # httpx's tests/test_exported_members.py: __all__ is exactly the documented surface
    assert sorted(trd_cds.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(trd_cds, name) is not None
    namespace: dict[str, object] = {}
    exec("from trd_cds import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


def test_error_tree() -> None:
    from trd_cds.schemas import errors

    assert issubclass(errors.RuleLintError, errors.RuleDefinitionError)
    assert issubclass(errors.EngineError, errors.EvaluationError)
    for cls in (errors.RuleDefinitionError, errors.CaseError, errors.EvaluationError):
        assert issubclass(cls, errors.TrdCdsError)


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    return done.stdout


def test_import_has_no_side_effects() -> None:
    out = _run(
        "import logging, sys, threading\n"
        "before = threading.active_count()\n"
        "import trd_cds.engine\n"
        "print(threading.active_count() - before)\n"
        "print(len(logging.getLogger().handlers))\n"
        "print('click' in sys.modules, 'trd_cds.cli' in sys.modules)\n"
    )
    assert out.split() == ["0", "0", "False", "False"]


def test_nothing_generic_is_importable() -> None:
    out = _run(
        "import importlib.util as u\n"
        "print([n for n in ('engine', 'rules', 'schemas', 'cli') if u.find_spec(n)])"
    )
    assert out.strip() == "[]"


@pytest.mark.slow
def test_wheel_installs_only_trd_cds(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {done.stderr[-300:]}")
    wheel = next(tmp_path.glob("trd_cds-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top <= {"trd_cds", next(n for n in top if n.endswith(".dist-info"))}
    for needed in (
        "trd_cds/cli.py",
        "trd_cds/engine/core.py",
        "trd_cds/py.typed",
        "trd_cds/rules/ruleset.yaml",
        "trd_cds/schemas/case.py",
    ):
        assert needed in names
    assert not any(n.startswith("trd_cds/tests/") for n in names)
    meta = next(n for n in names if n.endswith("entry_points.txt"))
    assert "trd-cds = trd_cds.cli:main" in zipfile.ZipFile(wheel).read(meta).decode()


def test_json_schema_export_is_valid_json() -> None:
    """The exported case schema is a valid JSON Schema that accepts a real case and refuses
    a broken one (a schema that accepts everything would pass a mere ``json.dumps``)."""
    import jsonschema
    import yaml

    from trd_cds.schemas.case import Case

    schema = json.loads(json.dumps(Case.model_json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = ROOT / "examples" / "01_trd_medication_and_therapy_failed.yaml"
    case = json.loads(json.dumps(yaml.safe_load(example.read_text("utf-8")), default=str))
    validator.validate(case)
    assert not validator.is_valid({**case, "patient": {"age": "forty"}})


def test_one_version_for_the_distribution_and_the_reports(engine: trd_cds.Engine) -> None:
    """pyproject.toml reads the version from schemas/version.py; reports carry the same."""
    from importlib import metadata

    from tests.conftest import AT, load_yaml
    from trd_cds.schemas.version import VERSION

    assert metadata.version("trd-cds") == VERSION
    report = engine.evaluate(
        load_yaml(ROOT / "examples" / "01_trd_medication_and_therapy_failed.yaml"), at=AT
    )
    assert report.part("provenance")["engine_version"] == VERSION
