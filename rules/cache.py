"""An on-disk cache of loaded rulesets, keyed by content: parse, validate and lint once.

Loading the bundled rules (YAML, the rule model, the condition grammar, lint, compile, hash)
costs more than evaluating a case. The command line therefore keeps the finished
:class:`~trd_cds.rules.loader.Ruleset` in a cache folder and reuses it while nothing it was
built from has changed. The key is a sha256 over

* every ``*.yaml`` file of the rules folder (names and bytes: the header and the rules),
* the source of the rule language: every ``*.py`` of ``rules/`` and ``schemas/`` and the
  grammar file ``condition.lark`` (so an edited checkout never reads a stale entry, even when
  the package version stays the same),
* the trd-cds, Pydantic and pydantic-core versions and the Python version and implementation.

Where: ``$TRD_CDS_CACHE_DIR``, else ``$XDG_CACHE_HOME/trd-cds``, else ``~/.cache/trd-cds``.
``TRD_CDS_CACHE_DIR=off`` (or the CLI's ``--no-cache``) disables it. The folder holds at most
:data:`MAX_ENTRIES` entries (the most recently used). The library never uses it
unless asked (``load_ruleset(cache_dir=...)``).

Format: pickle. Loading a pickle runs code chosen by whoever wrote the file, which is
acceptable here only because the cache is the user's own folder (created mode 0700; a file
owned by someone else, or writable by group or others, is refused) and every file is keyed by
the hash above: a writer able to forge an entry there could equally edit the installed package.
Each entry starts with a magic line, its key and the sha256 of its payload; an entry whose
magic, key or digest does not match, that cannot be read or unpickled, or that holds anything
but a :class:`Ruleset`, is ignored and rebuilt. Writes are atomic (a private temporary file in
the same folder, then ``os.replace``), so concurrent runs never see half an entry.

A hit yields the very ruleset a cold load builds (same rules, compiled conditions, warnings and
content hash), so reports are byte-identical; ``tests/test_ruleset_cache.py`` proves it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path

import pydantic
import pydantic_core

from .loader import Ruleset

#: Environment variable naming the cache folder (``off`` disables the cache).
CACHE_ENV = "TRD_CDS_CACHE_DIR"
#: Values of :data:`CACHE_ENV` that disable the cache.
OFF = frozenset({"off", "0", "no", "false", "none", "disabled"})
#: First line of every entry; bump the number when the layout of an entry changes.
MAGIC = b"trd-cds ruleset cache 1\n"
#: Entries kept (the most recently used); older ones are deleted when a new one is written.
MAX_ENTRIES = 16

_RULES_PKG = Path(__file__).resolve().parent
_SCHEMAS_PKG = _RULES_PKG.parent / "schemas"


def cache_dir_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache folder the environment asks for, or ``None`` when the cache is off."""
    env = os.environ if environ is None else environ
    value = env.get(CACHE_ENV)
    if value is not None and value.strip():
        if value.strip().lower() in OFF:
            return None
        return Path(value).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "trd-cds"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no home directory to be found
        return None
    if not home.is_absolute():  # HOME unset and no password entry: never a relative folder
        return None
    return home / ".cache" / "trd-cds"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def _language_sources() -> list[Path]:
    """The files the rule language is built from (their bytes are part of the key)."""
    return sorted(
        [
            *_RULES_PKG.glob("*.py"),
            *_RULES_PKG.glob("*.lark"),
            *_SCHEMAS_PKG.glob("*.py"),
        ]
    )


def cache_key(folder: Path) -> str:
    """sha256 (hex) over everything a loaded ruleset depends on (see the module docstring)."""
    digest = hashlib.sha256(MAGIC)

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("python", f"{sys.implementation.cache_tag} {sys.version}".encode())
    add("trd-cds", _version("trd-cds").encode())
    # the pickled rules are Pydantic models: their layout is Pydantic's (already imported)
    add("pydantic", f"{pydantic.VERSION} {pydantic_core.__version__}".encode())
    for path in _language_sources():
        add(f"source:{path.relative_to(_RULES_PKG.parent).as_posix()}", path.read_bytes())
    for path in sorted(folder.glob("*.yaml")):
        add(f"rules:{path.name}", path.read_bytes())
    return digest.hexdigest()


def _entry_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"ruleset-{key[:32]}.pickle"


def _read(path: Path, key: str) -> Ruleset | None:
    """The ruleset stored in ``path`` under ``key``, or ``None`` if it is missing or not
    trustworthy (see the module docstring)."""
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o022:
                return None
            if hasattr(os, "getuid") and info.st_uid != os.getuid():
                return None
            blob = f.read()
    except OSError:
        return None
    head = MAGIC + key.encode("ascii") + b"\n"
    if not blob.startswith(head):
        return None
    rest = blob[len(head) :]
    stored_digest, sep, payload = rest.partition(b"\n")
    if not sep or hashlib.sha256(payload).hexdigest().encode("ascii") != stored_digest:
        return None
    try:
        ruleset = pickle.loads(payload)
    except Exception:  # a foreign or damaged entry: rebuild it
        return None
    return ruleset if isinstance(ruleset, Ruleset) else None


def _write(path: Path, key: str, ruleset: Ruleset) -> None:
    """Store ``ruleset`` atomically; a cache that cannot be written is simply not used."""
    payload = pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL)
    blob = b"".join(
        [
            MAGIC,
            key.encode("ascii"),
            b"\n",
            hashlib.sha256(payload).hexdigest().encode("ascii"),
            b"\n",
            payload,
        ]
    )
    tmp: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ruleset-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:  # mkstemp creates the file with mode 0600
            f.write(blob)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def load_cached(folder: Path, cache_dir: Path, build: Callable[[Path], Ruleset]) -> Ruleset:
    """The ruleset of ``folder`` from the cache, or ``build(folder)`` stored there.

    A folder whose rules do not load raises from ``build`` as without a cache (nothing is
    stored). Reading the key's files may raise :class:`OSError` as loading them would.
    """
    key = cache_key(folder)
    path = _entry_path(cache_dir, key)
    found = _read(path, key)
    if found is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by _prune
        return found
    ruleset = build(folder)
    for loaded in ruleset.rules:  # computed once, stored with the entry
        _ = loaded.compiled
    _ = ruleset.active
    if cache_key(folder) == key:  # not stored if a file changed while it was being read
        _write(path, key, ruleset)
        _prune(cache_dir, keep=path)
    return ruleset


def _prune(cache_dir: Path, keep: Path, limit: int = MAX_ENTRIES) -> None:
    """Delete all but the ``limit`` most recently used entries (every edit of a rule file
    makes a new one; the old ones would otherwise stay for ever)."""
    try:
        entries = [(e.stat().st_mtime_ns, e) for e in cache_dir.glob("ruleset-*.pickle")]
    except OSError:
        return
    entries.sort(reverse=True)
    for _, entry in entries[limit:]:
        if entry != keep:
            with contextlib.suppress(OSError):
                entry.unlink()
