"""Case files in, report files out: folders, standard input, bounded reads, safe writes.

Reading: every problem becomes a :class:`CaseError` naming the file (and, from
:mod:`.intake`, the field path), so a batch reports it in one line and carries on. Only
regular files are read (a FIFO or a link to ``/dev/zero`` is refused without blocking), and
never more than :data:`~.intake.MAX_CASE_BYTES` bytes. A folder that holds no case file, a
path that does not exist and a file with another suffix are errors too: nothing given is
skipped in silence.

Writing (``evaluate -o``): :func:`report_names` gives every case its own report name (a second
``case.yaml`` from another folder becomes ``case-2.report.json``), and :func:`write_report`
creates a new file exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600) beside the
target and renames it into place, so a symbolic link planted in the output folder is replaced,
never followed, and a reader never sees half a report.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..schemas.case import Case
from ..schemas.errors import WHOLE_INPUT, CaseError, EvaluationError, OutputError, TrdCdsError
from ..schemas.files import UnreadableFileError, read_regular_file
from ..schemas.report import Report
from .core import Engine
from .intake import MAX_CASE_BYTES, parse_case_text, too_large

if TYPE_CHECKING:
    from ..schemas.settings import Settings

CASE_SUFFIXES = (".json", ".yaml", ".yml")
STDIN = "-"
STDIN_NAME = "<stdin>"


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from: a file, or ``-`` with the bytes read from standard input.

    ``problem`` is set when the input cannot be a case before anything is read (an empty
    folder, a missing path); ``root`` is the folder the file was found in, if any.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None
    problem: str | None = None


def evaluation_time(value: str | None) -> datetime:
    """The evaluation time a caller gave (ISO 8601 with a timezone; ``Z`` allowed), or, for a
    command-line caller who gave none, the current UTC time to the second. ``ValueError`` with
    a message for the user when the text is not a timezone-aware date-time."""
    if value is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("give a timezone, e.g. 2026-11-24T09:00:00Z")
    return at


def read_stdin(stream: BinaryIO) -> bytes:
    """Standard input as bytes, at most one byte past the size limit (decoded later)."""
    return stream.read(MAX_CASE_BYTES + 1)


def expand(inputs: Iterable[str], stdin_data: bytes | None = None) -> Iterator[CaseSource]:
    """Files as given, folders as their case files (recursively, sorted), ``-`` as stdin.

    Symbolic links to folders are not followed inside a folder (no loops, no escapes); a
    linked file is listed and read only if it resolves to a regular file.
    """
    for item in inputs:
        if item == STDIN:
            yield CaseSource(STDIN_NAME, data=stdin_data or b"")
            continue
        path = Path(item)
        if not path.is_dir():
            yield CaseSource(str(path), path)
            continue
        found = sorted(_case_files(path))
        if not found:
            suffixes = ", ".join(CASE_SUFFIXES)
            yield CaseSource(str(path), path, problem=f"a folder with no case files ({suffixes})")
        for p in found:
            yield CaseSource(str(p), p)


def _case_files(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in filenames:
            if Path(name).suffix.lower() in CASE_SUFFIXES:
                yield here / name
        # a linked folder is not walked; a linked *file* listed by os.walk is in filenames


def read_bytes(path: Path, name: str, limit: int = MAX_CASE_BYTES) -> bytes:
    """At most ``limit`` bytes of a regular file; anything else is a CaseError."""
    try:
        return read_regular_file(path, limit)
    except UnreadableFileError as exc:
        if exc.why == "too_large":
            raise too_large(name, limit) from None
        problem = {
            "missing": "no such file",
            "folder": "a folder, not a case file",
            "special": "not a regular file (a device, FIFO or socket)",
        }.get(exc.why, f"cannot read: {exc.detail}")
        raise CaseError(name, [(WHOLE_INPUT, problem)]) from None


#: Largest settings file read (a real one is a few hundred bytes).
MAX_SETTINGS_BYTES = 64 << 10


def load_settings(path: str | Path) -> Settings:
    """Settings from a YAML 1.2 (or JSON) file, bounded like a case: a regular file (a FIFO
    would block, /dev/zero never ends) of at most :data:`MAX_SETTINGS_BYTES`, UTF-8, no
    duplicate keys, alias expansion and nesting capped, finite numbers. Raises
    :class:`CaseError` naming the file and the field path."""
    import pydantic_core
    from pydantic import ValidationError

    from ..schemas.settings import Settings
    from .intake import _load_yaml, check_tree, decode, validation_errors

    name = str(path)
    text = decode(read_bytes(Path(path), name, MAX_SETTINGS_BYTES), name, MAX_SETTINGS_BYTES)
    data, duplicates = _load_yaml(text, name)
    problems = check_tree(data, duplicates)
    if problems:
        raise CaseError(name, problems)
    try:  # JSON mode, as for a case: enum values as their strings (instrument_priority)
        return Settings.model_validate_json(pydantic_core.to_json(data if data is not None else {}))
    except ValidationError as exc:
        raise CaseError(name, validation_errors(exc)) from None


def load_case(source: CaseSource | str | Path) -> Case:
    """Read and validate one case; :class:`CaseError` names the file and the field path.

    ``.json`` files are JSON; ``.yaml``/``.yml`` files and standard input are YAML 1.2 (a
    superset of JSON).
    """
    if not isinstance(source, CaseSource):
        source = CaseSource(str(source), Path(source))
    if source.problem is not None:
        raise CaseError(source.name, [(WHOLE_INPUT, source.problem)])
    if source.data is not None:
        return parse_case_text(source.data, source.name, "yaml")
    assert source.path is not None  # a CaseSource has data, a path or a problem
    suffix = source.path.suffix.lower()
    if suffix not in CASE_SUFFIXES:
        raise CaseError(
            source.name, [(WHOLE_INPUT, f"not a case file (use {', '.join(CASE_SUFFIXES)})")]
        )
    raw = read_bytes(source.path, source.name)
    return parse_case_text(raw, source.name, "json" if suffix == ".json" else "yaml")


#: Reads one source into a case and, for a case derived from other data (FHIR), the map of
#: case pointers to where each value came from (see ``Engine.evaluate(sources=...)``).
Reader = Callable[[CaseSource], tuple[Case, Mapping[str, str] | None]]


def read_case(source: CaseSource) -> tuple[Case, Mapping[str, str] | None]:
    """The default :data:`Reader`: a case file, nothing derived."""
    return load_case(source), None


def evaluate_each(
    engine: Engine, sources: Iterable[CaseSource], at: datetime, read: Reader = read_case
) -> Iterator[tuple[CaseSource, Case | None, Report | TrdCdsError]]:
    """Read and evaluate every source in turn: ``(source, case, report or error)``.

    One bad case never stops the batch: its :class:`CaseError` or :class:`EvaluationError` is
    yielded in its place. An unexpected exception (a bug) is yielded as an
    ``EvaluationError`` naming the source and the exception type, for the same reason.
    """
    for source in sources:
        case: Case | None = None
        try:
            case, input_sources = read(source)
            yield source, case, engine.evaluate(case, at=at, sources=input_sources)
        except TrdCdsError as exc:
            yield source, case, exc
        except Exception as exc:  # a bug must not cost the rest of the batch
            error = EvaluationError(
                f"{source.name}: internal error: {type(exc).__name__}: {exc}",
                case_id=case.case_id if case is not None else None,
            )
            error.__cause__ = exc
            yield source, case, error


# --------------------------------------------------------------------------- reports out


def report_names(sources: Iterable[CaseSource]) -> dict[str, str]:
    """A distinct report file name for every source name, in the order given.

    ``<stem>.report.json``; a stem met again (case-insensitively, for case-folding file
    systems) gets ``-2``, ``-3``, ...; standard input is ``stdin``.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for source in sources:
        if source.name in names:
            continue
        stem = source.path.stem if source.path is not None else "stdin"
        stem = stem.lstrip(".") or "case"
        candidate, n = stem, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate.casefold())
        names[source.name] = f"{candidate}.report.json"
    return names


@dataclass
class PendingReport:
    """A report written to a private temporary file, not yet visible under its name."""

    tmp: Path
    target: Path

    def commit(self) -> Path:
        """Rename into place: replaces a file or a planted link, never follows a link."""
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write: {exc.strerror}", path=str(self.target)) from None
        return self.target

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def prepare_report(out_dir: Path, name: str, content: str) -> PendingReport:
    """Write ``content`` to a new 0600 file beside ``out_dir/name`` (see :class:`PendingReport`)."""
    target = out_dir / name
    if target.is_dir() and not target.is_symlink():  # a rename onto it would fail later
        raise OutputError("cannot write: a folder is in the way", path=str(target))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for attempt in range(100):
        tmp = out_dir / f".{name}.{os.getpid()}.{attempt}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror}", path=str(target)) from None
        break
    else:  # pragma: no cover - 100 stale temporary files of this very process id
        raise OutputError("cannot create a temporary file", path=str(target))
    pending = PendingReport(tmp, target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        pending.discard()
        raise OutputError(f"cannot write: {exc.strerror}", path=str(target)) from None
    return pending


def make_output_dir(out_dir: Path) -> None:
    """Create the folder (0700 when new); an existing non-folder is an OutputError."""
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError("exists and is not a folder", path=str(out_dir)) from None
    except OSError as exc:
        raise OutputError(f"cannot create the folder: {exc.strerror}", path=str(out_dir)) from None
    if not out_dir.is_dir():
        raise OutputError("exists and is not a folder", path=str(out_dir))
