"""Reading an input file safely: a regular file of bounded size, opened without blocking.

One reader for every file the project reads from a user (case files, settings files, rule
files): a FIFO named ``case.yaml`` would block, a link to ``/dev/zero`` never ends, a folder or
device is no input. Callers turn :class:`UnreadableFileError` into their own error (a
``CaseError``, a ``RuleDefinitionError``) with their own words.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

Why = Literal["missing", "folder", "special", "too_large", "error"]


class UnreadableFileError(Exception):
    """Why a file could not be read: ``why`` is the kind, ``detail`` the OS's words."""

    def __init__(self, why: Why, detail: str = "") -> None:
        super().__init__(why, detail)
        self.why = why
        self.detail = detail


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file; anything else raises :class:`UnreadableFileError`
    (also a file that grows past ``limit`` while it is read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFileError("missing") from None
    except IsADirectoryError:
        raise UnreadableFileError("folder") from None
    except OSError as exc:
        raise UnreadableFileError("error", exc.strerror or type(exc).__name__) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFileError("folder")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError("special")
        if info.st_size > limit:
            raise UnreadableFileError("too_large")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise UnreadableFileError("error", exc.strerror or type(exc).__name__) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnreadableFileError("too_large")
    return data
