"""Expiring report links: an opaque random token per report, no patient data in the URL.

A card links to ``{base}/cds-reports/{token}``, which serves the report of that call (the HTML
page of the plan; Markdown with ``?format=markdown``, JSON with ``?format=json``) until the
token expires. The token is 32 random bytes
(URL-safe base64), unguessable and unrelated to the patient, the case or the report id; it
works as a capability (a browser cannot send the client's JWT), so it expires (``report_ttl``)
and the store is bounded (the oldest link goes first). Links live in this process's memory: a
restart ends them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from ...engine.render import markdown
from ...schemas.report import Report
from ..fhir import rewrite_report_pointers


@dataclass(frozen=True)
class StoredReport:
    """A report and where its facts came from; rendered when the link is opened (the
    explanations are computed then, not on the hook call's critical path)."""

    report: Report
    provenance: Mapping[str, str]
    expires: float

    def markdown(self) -> str:
        return markdown(self.report)

    def html(self) -> str:
        """The self-contained HTML page of the plan (no scripts, no external assets)."""
        from ...engine.render_html import html

        return html(self.report)

    def json(self) -> bytes:
        data = rewrite_report_pointers(self.report.to_dict(), self.provenance)
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


@dataclass
class ReportLinks:
    ttl: float
    max_links: int
    clock: Callable[[], float] = time.monotonic
    _items: OrderedDict[str, StoredReport] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, report: Report, provenance: Mapping[str, str]) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._items[token] = StoredReport(report, provenance, now + self.ttl)
            while len(self._items) > self.max_links:
                self._items.popitem(last=False)
            while self._items:
                first = next(iter(self._items.values()))
                if first.expires > now:
                    break
                self._items.popitem(last=False)
        return token

    def get(self, token: str) -> StoredReport | None:
        now = self.clock()
        with self._lock:
            item = self._items.get(token)
            if item is not None and item.expires <= now:
                del self._items[token]
                return None
            return item
