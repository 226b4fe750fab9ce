"""Canonical JSON and content hashes: the one definition every floor uses.

Canonical JSON is compact (no spaces), keys sorted, non-ASCII as UTF-8. Hashes are written
``sha256:<hex>``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(data: Any) -> str:
    """``data`` as canonical JSON text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))
