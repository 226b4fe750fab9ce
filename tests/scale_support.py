"""Helpers that worker processes import by reference (so they live in a module, not a test)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from trd_cds.interop.batch import CaseItem
from trd_cds.schemas.case import Case


@dataclass(frozen=True)
class CrashItem(CaseItem):
    """An item whose loading kills the worker process outright (as a C-level crash would)."""

    def load(self) -> Case:
        os._exit(70)
