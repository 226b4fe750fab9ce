"""The ruleset cache (``rules/cache.py``): a hit is the ruleset a cold load builds, byte for
byte in every report; a damaged, foreign or unsafe entry is rebuilt, never trusted."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trd_cds import Engine, Report, Ruleset, load_ruleset
from trd_cds.cli import main
from trd_cds.rules import bundled_rules_dir
from trd_cds.rules.cache import MAGIC, MAX_ENTRIES, cache_dir_from_env, cache_key, load_cached

from .conftest import AT, EXAMPLES, load_yaml

EXAMPLE = EXAMPLES / "01_trd_medication_and_therapy_failed.yaml"


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*")) if cache_dir.exists() else []


def _fail_build(folder: Path) -> Ruleset:
    raise AssertionError(f"the cache should have answered for {folder}")


class _Counting:
    """A build function that counts its calls (and builds for real)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, folder: Path) -> Ruleset:
        self.calls += 1
        return load_ruleset(folder)


def _pins(ruleset: Ruleset) -> list[tuple[str, int, Any]]:
    return [(r.rule.id, r.rule.version, r.compiled) for r in ruleset.rules]


def _reports(ruleset: Ruleset) -> dict[str, str]:
    engine = Engine(ruleset)
    return {
        path.name: engine.evaluate(load_yaml(path), at=AT).to_json()
        for path in sorted(EXAMPLES.glob("*.yaml"))
    }


def _python_json(code: str, cache: Path | None = None) -> Any:
    """Run ``code`` in a fresh interpreter (with ``cache`` as TRD_CDS_CACHE_DIR) and read the
    JSON it prints."""
    env = {**os.environ, "TRD_CDS_CACHE_DIR": str(cache)} if cache else None
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    return json.loads(done.stdout)


def test_a_hit_gives_byte_identical_reports(tmp_path: Path) -> None:
    cold = load_ruleset()
    stored = load_ruleset(cache_dir=tmp_path)  # a miss: built and stored
    assert len(_entries(tmp_path)) == 1
    hit = load_cached(bundled_rules_dir(), tmp_path, _fail_build)
    assert hit is not stored
    assert hit.content_hash == cold.content_hash
    assert hit.header == cold.header
    assert _pins(hit) == _pins(cold)
    assert hit.warnings == cold.warnings
    assert [r.rule.id for r in hit.active] == [r.rule.id for r in cold.active]
    cold_reports, hit_reports = _reports(cold), _reports(hit)
    assert hit_reports == cold_reports
    for text in hit_reports.values():  # the provenance names this ruleset and its hash
        assert json.loads(text)["provenance"]["ruleset"]["hash"] == cold.content_hash
    assert len(cold_reports) >= 5


def _store(tmp_path: Path) -> Path:
    load_ruleset(cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    assert entry.name == f"ruleset-{cache_key(bundled_rules_dir())[:32]}.pickle"
    return entry


def _damage_payload(entry: Path) -> None:
    blob = bytearray(entry.read_bytes())
    blob[-100] ^= 0xFF
    entry.write_bytes(bytes(blob))


def _truncate(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[: len(MAGIC) + 40])


def _garbage(entry: Path) -> None:
    entry.write_bytes(b"\x00not a cache entry\n" * 10)


def _foreign_key(entry: Path) -> None:  # a well-formed entry stored under another key
    blob = entry.read_bytes()
    entry.write_bytes(MAGIC + b"0" * 64 + blob[len(MAGIC) + 64 :])


def _not_a_ruleset(entry: Path) -> None:  # digest right, content wrong
    import hashlib

    head = entry.read_bytes()[: len(MAGIC) + 65]
    payload = pickle.dumps({"rules": []})
    digest = hashlib.sha256(payload).hexdigest().encode()
    entry.write_bytes(head + digest + b"\n" + payload)


def _bad_pickle(entry: Path) -> None:  # digest right, pickle broken
    import hashlib

    head = entry.read_bytes()[: len(MAGIC) + 65]
    payload = b"\x80\x05not really a pickle"
    digest = hashlib.sha256(payload).hexdigest().encode()
    entry.write_bytes(head + digest + b"\n" + payload)


def _group_writable(entry: Path) -> None:
    entry.chmod(0o664)


@pytest.mark.parametrize(
    "spoil",
    [
        _damage_payload,
        _truncate,
        _garbage,
        _foreign_key,
        _not_a_ruleset,
        _bad_pickle,
        _group_writable,
    ],
)
def test_an_untrustworthy_entry_is_rebuilt(tmp_path: Path, spoil: Any) -> None:
    entry = _store(tmp_path)
    spoil(entry)
    build = _Counting()
    ruleset = load_cached(bundled_rules_dir(), tmp_path, build)
    assert build.calls == 1
    assert ruleset.content_hash == load_ruleset().content_hash
    # ... and stored afresh, so the next load is a hit again
    again = load_cached(bundled_rules_dir(), tmp_path, _fail_build)
    assert again.content_hash == ruleset.content_hash
    assert oct(entry.stat().st_mode & 0o777) == oct(0o600)


def test_an_unreadable_or_unwritable_cache_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    build = _Counting()
    ruleset = load_cached(bundled_rules_dir(), blocker / "cache", build)  # cannot mkdir
    assert build.calls == 1
    assert ruleset.content_hash == load_ruleset().content_hash
    entry = _store(tmp_path / "c")
    entry.unlink()
    entry.mkdir()  # the entry's name is a folder: cannot be read, nor replaced
    build = _Counting()
    load_cached(bundled_rules_dir(), tmp_path / "c", build)
    assert build.calls == 1


def test_writes_are_atomic_and_private(tmp_path: Path) -> None:
    load_ruleset(cache_dir=tmp_path / "cache")
    (entry,) = _entries(tmp_path / "cache")  # no temporary file left behind
    assert entry.name.startswith("ruleset-") and entry.suffix == ".pickle"
    assert entry.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    assert entry.read_bytes().startswith(MAGIC)


def test_an_edited_rule_file_is_never_served_stale(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    first = load_ruleset(folder, cache_dir=tmp_path / "cache")
    path = folder / "90_remission_and_always.yaml"
    text = path.read_text("utf-8")
    assert "version: 1\n" in text
    path.write_text(text.replace("version: 1\n", "version: 7\n", 1), "utf-8")
    second = load_ruleset(folder, cache_dir=tmp_path / "cache")
    assert second.content_hash != first.content_hash
    assert second.content_hash == load_ruleset(folder).content_hash
    assert len(_entries(tmp_path / "cache")) == 2


def test_a_folder_that_does_not_load_raises_as_without_a_cache(tmp_path: Path) -> None:
    from trd_cds import RuleDefinitionError

    with pytest.raises(RuleDefinitionError, match="missing ruleset header"):
        load_ruleset(tmp_path, cache_dir=tmp_path / "cache")
    assert _entries(tmp_path / "cache") == []


def test_where_the_cache_lives() -> None:
    home = Path.home()
    assert cache_dir_from_env({}) == home / ".cache" / "trd-cds"
    assert cache_dir_from_env({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/trd-cds")
    assert cache_dir_from_env({"XDG_CACHE_HOME": "relative"}) == home / ".cache" / "trd-cds"
    assert cache_dir_from_env({"TRD_CDS_CACHE_DIR": "/y", "XDG_CACHE_HOME": "/x"}) == Path("/y")
    assert cache_dir_from_env({"TRD_CDS_CACHE_DIR": "~/c"}) == home / "c"
    # relative: it would depend on where the command runs
    assert cache_dir_from_env({"TRD_CDS_CACHE_DIR": "cache"}) is None
    assert cache_dir_from_env({"TRD_CDS_CACHE_DIR": "./cache"}) is None
    for off in ("off", "OFF", " off ", "0", "false"):
        assert cache_dir_from_env({"TRD_CDS_CACHE_DIR": off}) is None


def test_no_home_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: Path("~")))
    assert cache_dir_from_env({}) is None
    assert cache_dir_from_env({"XDG_CACHE_HOME": "/x"}) == Path("/x/trd-cds")


def _cli(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_the_cli_uses_the_cache_unless_told_not_to(tmp_path: Path) -> None:
    args = ["evaluate", str(EXAMPLE), "--at", AT.isoformat(), "--format", "json"]
    cache = tmp_path / "cache"
    off = _cli(args, {"TRD_CDS_CACHE_DIR": "off"})
    assert off.exit_code == 0
    assert _entries(cache) == []
    no_cache = _cli([*args, "--no-cache"], {"TRD_CDS_CACHE_DIR": str(cache)})
    assert _entries(cache) == []
    miss = _cli(args, {"TRD_CDS_CACHE_DIR": str(cache)})
    assert len(_entries(cache)) == 1
    hit = _cli(args, {"TRD_CDS_CACHE_DIR": str(cache)})
    assert off.output == no_cache.output == miss.output == hit.output
    Report.model_validate_json(hit.output)


@pytest.mark.slow
def test_a_hit_imports_neither_lark_nor_the_linter_nor_the_report_models(tmp_path: Path) -> None:
    """``trd-cds evaluate CASE`` (text) on a cache hit: no grammar, no linter, no Pydantic
    report document (the renderers read plain data)."""
    load_ruleset(cache_dir=tmp_path)
    code = (
        "import json, sys, contextlib, io\n"
        "from trd_cds.cli import main\n"
        f"sys.argv = ['trd-cds', 'evaluate', {str(EXAMPLE)!r}, '--at', {AT.isoformat()!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "assert 'NEXT STEP' in out.getvalue()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(_python_json(code, tmp_path))
    assert "trd_cds.engine.core" in loaded and "trd_cds.engine.render" in loaded  # it ran
    unwanted = {"lark", "trd_cds.rules.lint", "trd_cds.rules.grammar"}
    unwanted |= {"trd_cds.schemas.report_document", "trd_cds.interop.batch"}
    assert not loaded & unwanted


def test_the_cache_keeps_only_the_most_recently_used_entries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_ruleset(cache_dir=cache)
    (bundled,) = _entries(cache)
    stale = []
    for i in range(MAX_ENTRIES + 3):  # older entries of other rule sets
        entry = cache / f"ruleset-{i:032x}.pickle"
        entry.write_bytes(b"old")
        os.utime(entry, ns=(i, i))
        stale.append(entry)
    os.utime(bundled, ns=(0, 0))  # the oldest of all ...
    load_cached(bundled_rules_dir(), cache, _fail_build)  # ... until a hit marks it used
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    with (folder / "ruleset.yaml").open("a", encoding="utf-8") as f:
        f.write("\n# a comment: another key\n")
    load_ruleset(folder, cache_dir=cache)  # a miss: written, then the cache is pruned
    left = _entries(cache)
    assert len(left) == MAX_ENTRIES
    assert bundled in left
    assert stale[0] not in left and stale[-1] in left


def test_rules_edited_while_being_read_are_not_stored(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__*"))

    def build_then_edit(path: Path) -> Ruleset:
        ruleset = load_ruleset(path)
        with (path / "ruleset.yaml").open("a", encoding="utf-8") as f:
            f.write("\n# edited while the cache was being filled\n")
        return ruleset

    load_cached(folder, tmp_path / "cache", build_then_edit)
    assert _entries(tmp_path / "cache") == []


# --------------------------------------------------------------------------- review (issue 7)
# A cache entry is code (a pickle): only the user's own entries, in the user's own folder, are
# ever loaded; the key covers everything the loaded ruleset is built from.


def test_a_folder_others_can_write_to_is_not_used(tmp_path: Path) -> None:
    """``TRD_CDS_CACHE_DIR=/tmp`` and the like: anyone could plant an entry there."""
    cache = tmp_path / "cache"
    _store(cache)
    for mode in (0o777, 0o1777, 0o770):
        cache.chmod(mode)
        build = _Counting()
        load_cached(bundled_rules_dir(), cache, build)
        assert build.calls == 1, oct(mode)
    (entry,) = _entries(cache)
    entry.unlink()
    load_ruleset(cache_dir=cache)  # nor written to
    assert _entries(cache) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_a_folder_owned_by_someone_else_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _store(cache)
    os.chown(cache, 65534, 65534)
    build = _Counting()
    load_cached(bundled_rules_dir(), cache, build)
    assert build.calls == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_root_creates_no_cache_folder_in_someone_elses_home(tmp_path: Path) -> None:
    """``sudo`` keeping the invoking user's HOME: no root-owned folder left in their home."""
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    cache = home / ".cache" / "trd-cds"
    assert load_ruleset(cache_dir=cache).content_hash == load_ruleset().content_hash
    assert not (home / ".cache").exists()
    own = tmp_path / "own" / ".cache" / "trd-cds"  # under root's own folder: created
    load_ruleset(cache_dir=own)
    assert len(_entries(own)) == 1


def test_an_entry_owned_by_someone_else_is_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    build = _Counting()
    load_cached(bundled_rules_dir(), tmp_path, build)
    assert build.calls == 1


def test_a_symlinked_entry_is_not_followed(tmp_path: Path) -> None:
    """The link's target is the user's own file, but not one the cache wrote there."""
    elsewhere = _store(tmp_path / "elsewhere")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / elsewhere.name).symlink_to(elsewhere)
    build = _Counting()
    load_cached(bundled_rules_dir(), cache, build)
    assert build.calls == 1
    assert not (cache / elsewhere.name).is_symlink()  # replaced by a real entry


def test_a_symlinked_folder_of_ones_own_is_used(tmp_path: Path) -> None:
    """``~/.cache`` is often a link to another disk: the folder reached must be private."""
    real = tmp_path / "real"
    _store(real)
    (tmp_path / "link").symlink_to(real)
    load_cached(bundled_rules_dir(), tmp_path / "link", _fail_build)


def test_a_fifo_in_place_of_an_entry_does_not_hang(tmp_path: Path) -> None:
    import threading

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    fifo = cache / f"ruleset-{cache_key(bundled_rules_dir())[:32]}.pickle"
    os.mkfifo(fifo, 0o600)
    done: list[Ruleset] = []
    worker = threading.Thread(
        target=lambda: done.append(load_cached(bundled_rules_dir(), cache, load_ruleset)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=20)
    hung = worker.is_alive()
    if hung:  # blocked opening the fifo: release it, then fail
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=60)
    assert not hung, "loading hung on a fifo"
    assert done and done[0].content_hash == load_ruleset().content_hash


def test_an_entry_that_cannot_be_pickled_is_not_an_error(tmp_path: Path) -> None:
    def unpicklable(folder: Path) -> Ruleset:
        r = load_ruleset(folder)
        return Ruleset(r.header, r.rules, r.content_hash, (lambda: None,))  # type: ignore[arg-type]

    ruleset = load_cached(bundled_rules_dir(), tmp_path / "cache", unpicklable)
    assert ruleset.content_hash == load_ruleset().content_hash
    assert [p.name for p in _entries(tmp_path / "cache")] == []


@pytest.mark.parametrize("distribution", ["lark", "PyYAML", "pydantic", "trd-cds"])
def test_the_key_names_the_versions_the_ruleset_is_built_with(
    distribution: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grammar's parser (Lark) and the YAML reader build the ruleset as much as Pydantic."""
    from trd_cds.rules import cache

    before = cache_key(bundled_rules_dir())
    real = cache._version
    monkeypatch.setattr(
        cache, "_version", lambda name: "0.0.0" if name == distribution else real(name)
    )
    if distribution == "pydantic":
        monkeypatch.setattr(cache.pydantic, "VERSION", "0.0.0")
    assert cache_key(bundled_rules_dir()) != before


@pytest.mark.slow
def test_the_key_covers_every_module_a_cold_load_imports() -> None:
    """Every trd_cds module a cold load runs is in the key's sources, and every third-party
    distribution it imports is in the key's versions (or is one of Pydantic's own helpers)."""
    code = (
        "import json, sys\n"
        "from trd_cds.rules import cache, loader\n"
        "before = set(sys.modules)\n"
        "loader._build(loader.bundled_rules_dir())\n"
        "new = set(sys.modules) - before\n"
        "mods = [sys.modules[m] for m in sorted(sys.modules) if m.startswith('trd_cds.')]\n"
        "files = [m.__file__ for m in mods if getattr(m, '__file__', None)]\n"
        "print(json.dumps([sorted(new), files, [str(p) for p in cache._language_sources()],"
        " cache._KEYED_DISTRIBUTIONS]))\n"
    )
    new, files, sources, keyed = _python_json(code)
    assert [f for f in files if Path(f).resolve() not in {Path(s) for s in sources}] == []
    third_party = {m.split(".")[0] for m in new} - set(sys.stdlib_module_names) - {"trd_cds"}
    imports = {"lark": "lark", "yaml": "PyYAML"}
    # Pydantic and pydantic-core are keyed by version; the rest are its typing helpers
    helpers = {"pydantic", "pydantic_core", "typing_extensions", "annotated_types"}
    helpers.add("typing_inspection")
    for module in third_party - helpers:
        if module.startswith("_cython") or module == "cython_runtime":  # PyYAML's C loader
            continue
        assert imports.get(module) in keyed, module


def test_the_cli_reads_a_hit_without_loading_rule_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trd_cds.rules import loader

    args = ["evaluate", str(EXAMPLE), "--at", AT.isoformat(), "--format", "json"]
    env = {"TRD_CDS_CACHE_DIR": str(tmp_path / "cache")}
    miss = _cli(args, env)
    monkeypatch.setattr(loader, "_build", _fail_build)
    hit = _cli(args, env)
    assert hit.exit_code == 0 and hit.output == miss.output
    with pytest.raises(AssertionError, match="the cache should have answered"):
        _cli([*args, "--no-cache"], env)


def test_an_unusable_cache_folder_never_fails_the_cli(tmp_path: Path) -> None:
    args = ["evaluate", str(EXAMPLE), "--at", AT.isoformat(), "--format", "json"]
    expected = _cli(args, {"TRD_CDS_CACHE_DIR": "off"}).output
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    for folder in (blocker, blocker / "cache", shared):
        done = _cli(args, {"TRD_CDS_CACHE_DIR": str(folder)})
        assert (done.exit_code, done.output) == (0, expected), folder
    assert _entries(shared) == []


_HAMMER = """
import sys
from pathlib import Path
from trd_cds import load_ruleset
from trd_cds.rules import bundled_rules_dir, cache

folder, role = Path(sys.argv[1]), sys.argv[2]
key = cache.cache_key(bundled_rules_dir())
name = cache._entry_name(key)
ruleset = load_ruleset()
fd = cache._open_folder(folder, create=False)
assert fd is not None
while not (folder.parent / "go").exists():
    pass
for _ in range(40 if role == "write" else 150):
    if role == "write":
        cache._write(fd, name, key, ruleset)
        cache._prune(fd, keep=name)
    else:
        assert cache._read(fd, name, key) is not None, "a reader saw no whole entry"
"""


@pytest.mark.slow
def test_concurrent_writers_never_leave_a_torn_entry(tmp_path: Path) -> None:
    """Three processes rewrite the entry while a fourth reads it: every read is whole."""
    cache = tmp_path / "cache"
    _store(cache)
    procs = [
        subprocess.Popen([sys.executable, "-c", _HAMMER, str(cache), role])
        for role in ("write", "write", "write", "read")
    ]
    (tmp_path / "go").touch()
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    assert [p.name for p in _entries(cache)] == [_store(cache).name]  # no temporary files
    load_cached(bundled_rules_dir(), cache, _fail_build)


@pytest.mark.slow
def test_a_hit_in_a_fresh_process_gives_the_same_bytes(tmp_path: Path) -> None:
    """Unpickled in a process where no rule or report model was built yet (their Pydantic
    schemas are deferred): every output format is the cold load's, byte for byte."""
    load_ruleset(cache_dir=tmp_path)
    formats = ["json", "text", "markdown", "html"]
    args = ["evaluate", str(EXAMPLE), "--at", AT.isoformat(), "--format"]
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from trd_cds.cli import main\n"
        "from trd_cds.rules import loader\n"
        "def fail(folder): raise AssertionError('not a hit')\n"
        "loader._build = fail\n"
        "out = {}\n"
        f"for fmt in {formats!r}:\n"
        f"    done = CliRunner().invoke(main, [*{args!r}, fmt], catch_exceptions=False)\n"
        "    assert done.exit_code == 0, done.output\n"
        "    out[fmt] = done.output\n"
        "print(json.dumps(out))\n"
    )
    hit = _python_json(code, tmp_path)
    cold = {fmt: _cli([*args, fmt, "--no-cache"], {}).output for fmt in formats}
    assert hit == cold


def test_temporary_files_of_killed_runs_are_cleared(tmp_path: Path) -> None:
    import time

    cache = tmp_path / "cache"
    _store(cache)
    old, fresh = cache / ".ruleset-killed.tmp", cache / ".ruleset-writing.tmp"
    for tmp in (old, fresh):
        tmp.write_bytes(b"half an entry")
    hours_ago = time.time_ns() - 2 * 3600 * 10**9
    os.utime(old, ns=(hours_ago, hours_ago))
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    with (folder / "ruleset.yaml").open("a", encoding="utf-8") as f:
        f.write("\n# a comment: another key\n")
    load_ruleset(folder, cache_dir=cache)  # a miss, so a write: the folder is tidied
    assert not old.exists()
    assert fresh.exists()  # another run may be writing it right now
