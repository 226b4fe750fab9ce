"""Hostile input (issue 9): every reproducer as a regression test, plus bounded fuzzing.

The contract under test: no input crashes the library or the command line, nothing hangs,
every error names its source and a field path (or a position in the caller's text, or says
the input as a whole is the problem), and a batch always finishes and reports every file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import AT, EXAMPLES, examples, load_yaml
from tests.strategies import SPLICES, case_dicts
from trd_cds import CaseError, Engine, parse_case
from trd_cds.cli import main
from trd_cds.engine.intake import MAX_CASE_BYTES, MAX_VALUES, parse_case_text
from trd_cds.engine.io import load_case
from trd_cds.schemas.errors import WHOLE_INPUT, printable

EX1 = EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"
AT_ARGS = ["--at", "2026-11-24T09:00:00Z"]
PATH_FORM = re.compile(r"^(/.*|line \d+ column \d+)$", re.S)

FUZZ = settings()  # deadline and health checks from the profile (tests/conftest.py)


def _valid_path(path: str) -> bool:
    return path == WHOLE_INPUT or bool(PATH_FORM.match(path))


def _case_error(call: Any) -> CaseError:
    with pytest.raises(CaseError) as info:
        call()
    err = info.value
    assert err.errors, "a CaseError lists its problems"
    assert all(_valid_path(p) for p, _ in err.errors), err.errors
    assert "\n" not in str(err)
    return err


def _outcome(call: Any) -> CaseError | None:
    """None when ``call`` validates, its CaseError otherwise; anything else propagates."""
    try:
        call()
    except CaseError as err:
        return err
    return None


def _base() -> dict[str, Any]:
    data = load_yaml(EX1)
    assert isinstance(data, dict)
    return data


def _cli(args: list[str], **kw: Any) -> Result:
    return CliRunner().invoke(main, args, catch_exceptions=False, **kw)


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- crashes


def test_json_nested_a_thousand_deep_is_a_clean_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"case_id": ' + "[" * 1000 + "]" * 1000 + "}", "utf-8")
    deeper = tmp_path / "deeper.json"
    deeper.write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    good = tmp_path / "z_good.yaml"
    good.write_text(EX1.read_text("utf-8"), "utf-8")
    result = _cli(["evaluate", str(tmp_path), "--format", "jsonl", *AT_ARGS])
    assert result.exit_code == 1
    assert "1 evaluated, 2 failed" in result.stderr
    lines = _error_lines(result)
    # the parser's own stack or the walk stops it, at a position or path in the file
    assert re.search(r"deep\.json: (/case_id(/0)+|line 1 column 44): nested more than", lines[0])
    assert "deeper.json: line 1 column 33: nested more than" in lines[1]


def test_library_nesting_1500_deep_is_a_case_error(engine: Engine) -> None:
    nested: Any = {}
    for _ in range(1500):
        nested = {"a": nested}
    err = _case_error(lambda: engine.evaluate({"case_id": "c", "patient": nested}, at=AT))
    assert "nested more than" in err.errors[0][1]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_integer_of_5000_digits_is_a_clean_error(fmt: str) -> None:
    text = '{"case_id": "c", "patient": {"age": 1' + "0" * 5000 + "}}"
    err = _case_error(lambda: parse_case_text(text, "big", fmt))  # type: ignore[arg-type]
    path, msg = err.errors[0]
    assert "too large" in msg
    assert path == "/patient/age" if fmt == "json" else path.startswith("line 1 column")


def test_huge_python_int_from_code_is_a_clean_error() -> None:
    data = _base()
    data["patient"] = {**data["patient"], "age": 10**5000}
    err = _case_error(lambda: parse_case(data))
    assert err.errors[0][0] == "/patient/age"


def test_yaml_alias_referring_to_itself() -> None:
    err = _case_error(lambda: parse_case_text("case_id: &a [*a]\n", "self", "yaml"))
    assert "nested more than" in err.errors[0][1]


def test_evaluation_at_year_one_with_a_behaviour_date(engine: Engine) -> None:
    data = _base()
    data["suicide_risk"] = {
        "cssrs": {
            "wish_to_be_dead": True,
            "active_suicidal_thoughts": True,
            "method": False,
            "intent": False,
            "plan": False,
            "behaviour": True,
            "last_behaviour_date": "0001-01-15",
        }
    }
    at = datetime(1, 2, 1, tzinfo=timezone.utc)
    report = engine.evaluate(data, at=at)
    assert report.provenance.evaluated_at.startswith("0001-02-01")
    engine.evaluate(data, at=datetime(1, 1, 1, tzinfo=timezone.utc))
    result = _cli(
        ["evaluate", "-", "--format", "json", "--at", "0001-02-01T00:00:00Z"],
        input=json.dumps(data, default=str),
    )
    assert result.exit_code == 0, result.stderr


def test_non_utf8_stdin_is_a_clean_error() -> None:
    result = _cli(["evaluate", "-", *AT_ARGS], input=b"case_id: \xff\xfe\n")
    assert result.exit_code == 1
    assert _error_lines(result) == [
        "error: <stdin>: (whole input): not UTF-8 text (byte 0xff at offset 9)"
    ]


def test_failed_output_write_is_one_line_and_nothing_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.audit_support import KEY
    from trd_cds.engine.audit import ENV_KEY

    monkeypatch.setenv(ENV_KEY, KEY.decode())
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{EX1.stem}.report.json").mkdir()  # a directory in the way
    log = tmp_path / "audit.jsonl"
    result = _cli(["evaluate", str(EX1), "-o", str(out), "--audit", str(log), *AT_ARGS])
    assert result.exit_code == 1
    lines = _error_lines(result)
    assert len(lines) == 1 and "cannot write" in lines[0]
    assert "Traceback" not in result.output
    assert not log.exists() or log.read_bytes() == b""
    assert [p.name for p in out.iterdir()] == [f"{EX1.stem}.report.json"]  # no stray temp file


def test_output_dir_that_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("", "utf-8")
    result = _cli(["evaluate", str(EX1), "-o", str(out), *AT_ARGS])
    assert result.exit_code == 2  # click checks the option: a usage error
    assert "is a file" in result.stderr and "Traceback" not in result.output


# --------------------------------------------------------------------------- hangs and memory


def test_yaml_alias_bomb_stops_early() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    lines.append("case_id: *i")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 600
    err = _case_error(lambda: parse_case_text(bomb, "bomb.yaml", "yaml"))
    assert err.errors == [(WHOLE_INPUT, f"more than {MAX_VALUES:,} values (an alias bomb?)")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_and_device_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        err = _case_error(lambda p=path: load_case(p))  # type: ignore[misc]
        assert "not a regular file" in err.errors[0][1]
    result = _cli(["validate", str(tmp_path)])
    assert result.exit_code == 1 and "0 valid, 2 invalid" in result.stderr


def test_oversized_file_is_refused_by_size(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_CASE_BYTES + 1) + b"{}")
    err = _case_error(lambda: load_case(big))
    assert err.errors[0][0] == WHOLE_INPUT and "MAX_CASE_BYTES" in err.errors[0][1]


def test_half_a_million_trials_are_refused_by_length_before_validation() -> None:
    data = _base()
    data["antidepressant_trials"] = [{"not": "a trial"}] * 500_000
    err = _case_error(lambda: parse_case(data))
    # one problem: the length; not 500,000 item errors
    assert err.errors == [
        ("/antidepressant_trials", "List should have at most 40 items, not 500000")
    ]


# --------------------------------------------------------------------------- wrong answers


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("yaml", "diagnosis: {primary: mdd, psychotic_features: true, psychotic_features: false}"),
        (
            "json",
            '{"diagnosis": {"primary": "mdd", "psychotic_features": true, '
            '"psychotic_features": false}}',
        ),
    ],
)
def test_duplicate_keys_are_errors(fmt: str, text: str) -> None:
    err = _case_error(lambda: parse_case_text(text, "dup", fmt))  # type: ignore[arg-type]
    assert err.errors == [("/diagnosis/psychotic_features", "duplicate key (each field once)")]


@pytest.mark.parametrize(
    ("yaml_value", "read_as"),
    [("1:20", "1:20"), ("yes", "yes"), ("off", "off"), ("017", 17), ("0o17", 15), ("~", None)],
)
def test_yaml_is_read_by_the_1_2_core_schema(yaml_value: str, read_as: Any) -> None:
    from trd_cds.engine.yaml12 import load_yaml

    assert load_yaml(f"v: {yaml_value}\n")[0] == {"v": read_as}


def test_sexagesimal_age_is_not_80() -> None:
    text = EX1.read_text("utf-8")
    text = text.replace("age: 52", "age: 1:20")
    assert "age: 1:20" in text
    err = _case_error(lambda: parse_case_text(text, "age.yaml", "yaml"))
    assert err.errors[0][0] == "/patient/age"


def test_yes_is_not_a_boolean() -> None:
    text = EX1.read_text("utf-8").replace("behaviour: false", "behaviour: no")
    assert "behaviour: no" in text
    err = _case_error(lambda: parse_case_text(text, "no.yaml", "yaml"))
    assert err.errors[0][0].endswith("/behaviour")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_one_byte_order_mark_rule(tmp_path: Path, suffix: str) -> None:
    data = _base()
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data, default=str).encode())
    assert load_case(path).case_id == data["case_id"]
    path.write_bytes(b"\xff\xfe" + json.dumps(data, default=str).encode("utf-16-le"))
    assert "UTF-16" in _case_error(lambda: load_case(path)).errors[0][1]


@pytest.mark.parametrize("name", ["empty", "x.json"])
def test_a_folder_without_cases_is_an_error(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    result = _cli(["evaluate", str(folder), *AT_ARGS])
    assert result.exit_code == 1
    assert _error_lines(result) == [
        printable(
            f"error: {folder}: (whole input): a folder with no case files (.json, .yaml, .yml)"
        )
    ]


def test_output_names_never_collide(tmp_path: Path) -> None:
    for sub in ("a", "b", "c/A"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        (tmp_path / "in" / sub / "case.yaml").write_text(EX1.read_text("utf-8"), "utf-8")
    out = tmp_path / "out"
    result = _cli(["evaluate", str(tmp_path / "in"), "-o", str(out), *AT_ARGS])
    assert result.exit_code == 0, result.stderr
    assert "3 evaluated, 0 failed" in result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["case-2.report.json", "case-3.report.json", "case.report.json"]
    assert result.stdout.count("wrote: ") == 3
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_output_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", "utf-8")
    (out / f"{EX1.stem}.report.json").symlink_to(victim)
    result = _cli(["evaluate", str(EX1), "-o", str(out), *AT_ARGS])
    assert result.exit_code == 0, result.stderr
    assert victim.read_text("utf-8") == "precious"
    written = out / f"{EX1.stem}.report.json"
    assert not written.is_symlink()
    assert json.loads(written.read_text("utf-8"))["case_id"] == "example-01-trd"


# --------------------------------------------------------------------------- error messages


def test_a_newline_in_a_file_name_does_not_split_the_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "evil\nerror: forged.yaml"
    bad.write_text("case_id: [\n", "utf-8")
    result = _cli(["validate", str(bad)])
    assert result.exit_code == 1
    lines = _error_lines(result)
    assert len(lines) == 1 and "evil\\nerror: forged.yaml" in lines[0]


@pytest.mark.parametrize(
    ("data", "path", "needle"),
    [
        ({"case_id": "c", "patient": {1: 2}}, "/patient", "keys must be strings"),
        ({"case_id": "\ud800"}, "/case_id", "lone surrogate"),
        ({"case_id": "c", "patient": {"age": float("nan")}}, "/patient/age", "finite"),
        ({"case_id": "c", "patient": {"age": {1, 2}}}, "/patient/age", "not JSON data: set"),
        ({"case_id": "c", "patient": {"a/b~c\n": 1}}, "/patient/a~1b~0c\n", "Extra inputs"),
    ],
)
def test_library_errors_name_the_field(data: Any, path: str, needle: str) -> None:
    err = _case_error(lambda: parse_case(data, "lib"))
    assert any(p == path and needle in m for p, m in err.errors), err.errors


def test_json_syntax_error_positions_are_the_callers() -> None:
    text = '{\n  "case_id": "c",\n  "patient": {"age": 4O}\n}'
    err = _case_error(lambda: parse_case(text, "t.json"))
    assert err.errors[0][0] == "line 3 column 23"  # the "4O": line and column as written


def test_text_and_bytes_are_validated_as_written() -> None:
    data = json.loads(json.dumps(_base(), default=str))
    text = json.dumps(data)
    assert parse_case(text) == parse_case(text.encode()) == parse_case(data)


# --------------------------------------------------------------------------- fuzzing


@st.composite
def mutated_case_bytes(draw: st.DrawFn) -> tuple[bytes, str]:
    """A valid case as JSON or YAML text with a few byte-level mutations."""
    case = draw(case_dicts())
    fmt = draw(st.sampled_from(["json", "yaml"]))
    if fmt == "json":
        raw = json.dumps(case, indent=draw(st.sampled_from([None, 2]))).encode()
    else:
        import yaml

        raw = yaml.safe_dump(case, sort_keys=False).encode()
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 3))
        raw = raw[:at] + draw(st.sampled_from(SPLICES)) + raw[at + cut :]
    return raw, fmt


@settings(FUZZ, max_examples=examples(300))
@given(mutated_case_bytes())
def test_fuzzed_text_is_a_case_or_a_case_error(data: tuple[bytes, str]) -> None:
    raw, fmt = data
    err = _outcome(lambda: parse_case_text(raw, "fuzz", fmt))  # type: ignore[arg-type]
    if err is not None:
        assert err.errors and all(_valid_path(p) for p, _ in err.errors), err.errors
        assert "\n" not in str(err)


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=3)
    | st.dates()
    | st.just(10**60)
    | st.just("\udc80")
)


@settings(FUZZ, max_examples=examples(300))
@given(
    st.recursive(
        _LEAVES,
        lambda kids: (
            st.lists(kids, max_size=3)
            | st.dictionaries(st.text(max_size=4) | st.integers(), kids, max_size=3)
            | st.tuples(kids)
        ),
        max_leaves=15,
    ),
    st.sampled_from(["case_id", "patient", "antidepressant_trials", "suicide_risk", "x"]),
)
def test_fuzzed_data_is_a_case_error_with_paths(garbage: Any, key: str) -> None:
    data = {**_base(), key: garbage}
    err = _outcome(lambda: parse_case(data, "fuzz"))
    if err is not None:
        assert err.errors and all(_valid_path(p) for p, _ in err.errors), err.errors


@settings(FUZZ, max_examples=examples(20))
@given(st.lists(mutated_case_bytes(), min_size=2, max_size=6))
def test_a_fuzzed_batch_reports_every_file(files: list[tuple[bytes, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for i, (raw, fmt) in enumerate(files):
            (Path(folder) / f"{i:02d}.{fmt}").write_bytes(raw)
        result = CliRunner().invoke(main, ["evaluate", folder, "--format", "jsonl", *AT_ARGS])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(files)  # one line per file: a report or an error
    failed = [o for o in map(json.loads, lines) if set(o) == {"source", "error"}]
    assert f"{len(files) - len(failed)} evaluated, {len(failed)} failed" in result.stderr
    assert "internal error" not in result.stderr
    for line in _error_lines(result):
        rest = line.split(": ", 2)
        assert len(rest) == 3 and _valid_path(rest[2].split(": ", 1)[0]), line


def test_help_does_not_import_the_engine() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from trd_cds.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('trd_cds.engine', 'pydantic', "
        "'yaml', 'durable', 'trd_cds.schemas', 'trd_cds.rules')))\n"
        "print(bad, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"


# ------------------------------------------------------------------ settings files

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: os.mkfifo(p), "(whole input): not a regular file (a device, FIFO or socket)"),
        (lambda p: p.symlink_to("/dev/zero"), "(whole input): not a regular file"),
        (lambda p: p.write_text(_BOMB), "(whole input): more than 100,000 values (an alias bomb?)"),
        (lambda p: p.write_text("min_ad_weeks: .nan"), "/min_ad_weeks: nan is not a finite number"),
        (lambda p: p.write_text("older_age_years: 1:05"), "/older_age_years: Input should be"),
        (lambda p: p.write_text("a: b\na: c"), "/a: duplicate key (each field once)"),
        # partial response at or above response: it could never be reported (silently off)
        (
            lambda p: p.write_text(
                "response_min_reduction: 0.3\npartial_response_min_reduction: 0.9"
            ),
            "/: Value error, partial_response_min_reduction must be below response_min_reduction",
        ),
        (
            lambda p: p.write_text("instrument_priority: [phq9, phq9]"),
            "/: Value error, instrument_priority names an instrument twice",
        ),
    ],
    ids=["fifo", "dev-zero", "alias-bomb", "nan", "sexagesimal", "duplicate", "partial", "twice"],
)
def test_a_hostile_settings_file_is_a_clean_error(tmp_path: Path, make: Any, message: str) -> None:
    path = tmp_path / "settings.yaml"
    make(path)
    case = EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"
    result = _cli(["evaluate", *AT_ARGS, "--settings", str(path), str(case)])
    assert result.exit_code == 2, result.output
    assert f"settings: {path}: {message}" in result.output
    assert "Traceback" not in result.output


def test_a_settings_file_can_set_the_instrument_priority(tmp_path: Path) -> None:
    # strict Python-mode validation refused every enum string: the field could not be set
    path = tmp_path / "settings.yaml"
    path.write_text("instrument_priority: [phq9, madrs]\n", "utf-8")
    case = EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"
    result = _cli(["evaluate", *AT_ARGS, "--format", "json", "--settings", str(path), str(case)])
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.output)["provenance"]["settings"]["instrument_priority"]
    assert recorded == ["phq9", "madrs"]
