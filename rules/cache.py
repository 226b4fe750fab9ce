"""An on-disk cache of loaded rulesets, keyed by content: parse, validate and lint once.

Loading the bundled rules (YAML, the rule model, the condition grammar, lint, compile, hash)
costs more than evaluating a case. The command line therefore keeps the finished
:class:`~trd_cds.rules.loader.Ruleset` in a cache folder and reuses it while nothing it was
built from has changed. The key is a sha256 over

* every ``*.yaml`` file of the rules folder (names and bytes: the header and the rules), so
  two folders with the same file names and other content never share an entry,
* the source of the rule language: every ``*.py`` under ``rules/`` and ``schemas/`` and the
  grammar file ``condition.lark`` (so an edited checkout never reads a stale entry, even when
  the package version stays the same),
* the trd-cds, Pydantic and pydantic-core versions, Lark's and PyYAML's package
  ``__init__.py`` (which holds their version), and the Python version and implementation
  (``tests/test_ruleset_cache.py`` checks that a cold load imports nothing else unkeyed).

Where: ``$TRD_CDS_CACHE_DIR``, else ``$XDG_CACHE_HOME/trd-cds``, else ``~/.cache/trd-cds``.
``TRD_CDS_CACHE_DIR=off`` (or the CLI's ``--no-cache``) disables it, and so does a relative
folder (it would depend on where the command runs). A missing folder is created (mode 0700)
only under a folder owned by the user or by root (under ``sudo`` with the invoking user's
``HOME``, root never leaves a root-owned folder in that home). The folder holds at most
:data:`MAX_ENTRIES` entries (the most recently used). The library never uses it
unless asked (``load_ruleset(cache_dir=...)``).

Format: pickle. Loading a pickle runs code chosen by whoever wrote the file, which is
acceptable here only because nobody but the user can have written it: the folder (created
mode 0700) must be owned by the user and writable by no one else, or it is neither read nor
written (``TRD_CDS_CACHE_DIR=/tmp`` means no cache); an entry is opened relative to the
folder checked, never through a link, and must be a regular file owned by the user and
writable by no one else. Such a writer could equally edit the installed package. Each entry
starts with a magic line, its key and the sha256 of its payload; an entry whose magic, key or
digest does not match, that cannot be read or unpickled, or that holds anything but a
:class:`Ruleset`, is ignored and rebuilt. Writes are atomic (a private temporary file in the
same folder, then a rename), so concurrent runs never see half an entry. Without POSIX file
owners and ``openat``-style calls (Windows) the cache is not used.

A hit yields the very ruleset a cold load builds (same rules, compiled conditions, warnings and
content hash), so reports are byte-identical; ``tests/test_ruleset_cache.py`` proves it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pickle
import stat
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pydantic
import pydantic_core

from ..schemas.errors import RuleDefinitionError
from ..schemas.version import VERSION
from .loader import Ruleset, read_rule_bytes

#: Environment variable naming the cache folder (``off`` disables the cache).
CACHE_ENV = "TRD_CDS_CACHE_DIR"
#: Values of :data:`CACHE_ENV` that disable the cache.
OFF = frozenset({"off", "0", "no", "false", "none", "disabled"})
#: First line of every entry; bump the number when the layout of an entry changes.
MAGIC = b"trd-cds ruleset cache 1\n"
#: Entries kept (the most recently used); older ones are deleted when a new one is written.
MAX_ENTRIES = 16
#: A temporary file older than this was left by a killed run (a write takes milliseconds).
_TMP_AGE_NS = 3600 * 10**9

#: Distributions whose code builds the ruleset: their versions are part of the key.
_KEYED_DISTRIBUTIONS = ("trd-cds", "lark", "PyYAML")
#: The cache needs ``openat``-style calls, ``O_NOFOLLOW`` and file owners (POSIX); elsewhere
#: it is not used.
_SAFE_FILES = (
    hasattr(os, "getuid")
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
    and {os.open, os.rename, os.unlink} <= os.supports_dir_fd
    and {os.scandir, os.utime} <= os.supports_fd
)

_RULES_PKG = Path(__file__).resolve().parent
_SCHEMAS_PKG = _RULES_PKG.parent / "schemas"


def cache_dir_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache folder the environment asks for, or ``None`` when the cache is off."""
    env = os.environ if environ is None else environ
    value = env.get(CACHE_ENV)
    if value is not None and value.strip():
        if value.strip().lower() in OFF:
            return None
        folder = Path(value).expanduser()
        # a relative folder would depend on where the command runs: no cache (as for XDG)
        return folder if folder.is_absolute() else None
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


#: The import package of each keyed third-party distribution.
_PACKAGES = {"lark": "lark", "PyYAML": "yaml"}


def _version(distribution: str) -> str:
    """What identifies a keyed distribution's code: trd-cds's version; for a third-party one,
    the sha256 of its package ``__init__.py`` (which holds its ``__version__``), found without
    importing it and without :mod:`importlib.metadata` (both cost more than a cache hit)."""
    if distribution == "trd-cds":
        return VERSION
    try:
        spec = importlib.util.find_spec(_PACKAGES[distribution])
        origin = spec.origin if spec is not None else None
        data = Path(origin).read_bytes() if origin else b""
    except (ImportError, OSError, ValueError):
        data = b""
    return "sha256:" + hashlib.sha256(data).hexdigest() if data else "unknown"


def _language_sources() -> list[Path]:
    """The files the rule language is built from (their bytes are part of the key)."""
    return sorted(
        [
            *_RULES_PKG.rglob("*.py"),
            *_RULES_PKG.rglob("*.lark"),
            *_SCHEMAS_PKG.rglob("*.py"),
        ]
    )


def cache_key(folder: Path) -> str:
    """sha256 (hex) over everything a loaded ruleset depends on (see the module docstring)."""
    digest = hashlib.sha256(MAGIC)

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("python", f"{sys.implementation.cache_tag} {sys.version}".encode())
    for distribution in _KEYED_DISTRIBUTIONS:  # trd-cds, the grammar's parser, the YAML reader
        add(distribution, _version(distribution).encode())
    # the pickled rules are Pydantic models: their layout is Pydantic's (already imported)
    add("pydantic", f"{pydantic.VERSION} {pydantic_core.__version__}".encode())
    for path in _language_sources():
        add(f"source:{path.relative_to(_RULES_PKG.parent).as_posix()}", path.read_bytes())
    for path in sorted(folder.glob("*.yaml")):
        try:
            add(f"rules:{path.name}", read_rule_bytes(path))
        except RuleDefinitionError as exc:  # a FIFO, device, folder: loading says which
            raise OSError(str(exc)) from None
    return digest.hexdigest()


def _entry_name(key: str) -> str:
    return f"ruleset-{key[:32]}.pickle"


def _private(info: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else (only then is its content ours)."""
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def _may_create_under(cache_dir: Path) -> bool:
    """Whether the nearest existing folder above ``cache_dir`` is this user's or root's.

    Under ``sudo`` ``HOME`` may still be the invoking user's: root must not leave a root-owned
    folder in that home (the user's own runs could then never use or create their cache).
    """
    parent = cache_dir.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        owner = parent.stat().st_uid
    except OSError:
        return False
    return owner in (os.getuid(), 0)


def _open_folder(cache_dir: Path, *, create: bool) -> int | None:
    """A descriptor of the cache folder if it is private (:func:`_private`), else ``None``.

    A link to a folder is followed (``~/.cache`` often is one), but the folder reached must be
    the user's own and closed to others: no one else can then add, replace or link an entry in
    it. Entries are opened relative to this descriptor, so the folder checked is the folder
    read, whatever is renamed meanwhile.
    """
    if not _SAFE_FILES:
        return None
    try:
        if create and not cache_dir.exists():
            if not _may_create_under(cache_dir):
                return None
            cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(cache_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    except OSError:
        info = None
    if info is None or not stat.S_ISDIR(info.st_mode) or not _private(info):
        os.close(fd)
        return None
    return fd


def _read(folder_fd: int, name: str, key: str) -> Ruleset | None:
    """The ruleset stored as ``name`` under ``key``, or ``None`` if it is missing or not
    trustworthy (see the module docstring). A hit is marked used (its mtime, for :func:`_prune`)."""
    try:  # never a link, and a fifo planted there does not block
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd
        )
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or not _private(info):
                return None
            blob = f.read()
            ruleset = _unpack(blob, key)
            if ruleset is not None:
                with contextlib.suppress(OSError):
                    os.utime(f.fileno())
            return ruleset
    except OSError:
        return None


def _unpack(blob: bytes, key: str) -> Ruleset | None:
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


def _write(folder_fd: int, name: str, key: str, ruleset: Ruleset) -> None:
    """Store ``ruleset`` atomically; an entry that cannot be made or written is not stored."""
    try:
        payload = pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # e.g. a condition nested too deep to pickle: no entry, no error
        return
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
    tmp = f".ruleset-{os.urandom(8).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600, dir_fd=folder_fd)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        # rename over the old entry: readers see the old one or the new one, never half
        os.rename(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder_fd)


def load_cached(folder: Path, cache_dir: Path, build: Callable[[Path], Ruleset]) -> Ruleset:
    """The ruleset of ``folder`` from the cache, or ``build(folder)`` stored there.

    A folder whose rules do not load raises from ``build`` as without a cache (nothing is
    stored), and so does a folder with a file the key cannot read. A cache folder that cannot
    be made, read or written, or that is not private, is not used.
    """
    try:
        key = cache_key(folder)
    except OSError:  # an unreadable rule file: loading it says which, and why
        return build(folder)
    name = _entry_name(key)
    folder_fd = _open_folder(cache_dir, create=False)
    if folder_fd is not None:
        try:
            found = _read(folder_fd, name, key)
        finally:
            os.close(folder_fd)
        if found is not None:
            return found
    ruleset = build(folder)
    for loaded in ruleset.rules:  # computed once, stored with the entry
        _ = loaded.compiled
    _ = ruleset.active
    if cache_key(folder) != key:  # not stored if a file changed while it was being read
        return ruleset
    folder_fd = _open_folder(cache_dir, create=True)
    if folder_fd is not None:
        try:
            _write(folder_fd, name, key, ruleset)
            _prune(folder_fd, keep=name)
        finally:
            os.close(folder_fd)
    return ruleset


def _prune(folder_fd: int, keep: str, limit: int = MAX_ENTRIES) -> None:
    """Delete all but the ``limit`` most recently used entries (every edit of a rule file
    makes a new one; the old ones would otherwise stay for ever), and temporary files left an
    hour ago or more by a run that was killed while writing."""
    entries: list[tuple[int, str]] = []
    left_over: list[str] = []
    cutoff = time.time_ns() - _TMP_AGE_NS
    try:
        with os.scandir(folder_fd) as found:
            for e in found:
                if e.name.startswith("ruleset-") and e.name.endswith(".pickle"):
                    entries.append((e.stat(follow_symlinks=False).st_mtime_ns, e.name))
                elif (
                    e.name.startswith(".ruleset-")
                    and e.name.endswith(".tmp")
                    and e.stat(follow_symlinks=False).st_mtime_ns < cutoff
                ):
                    left_over.append(e.name)
    except OSError:
        return
    entries.sort(reverse=True)
    for name in [entry for _, entry in entries[limit:] if entry != keep] + left_over:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=folder_fd)
