"""A Parquet table of decisions: one row per case, for a registry's analysts.

Columns (:data:`SCHEMA`): ``source`` (the case's input name), ``case_id``, ``report_id``,
``next_step`` (the plan's next step when the report has a plan, else null), ``recommended``
(option codes in report order), ``blocked``, ``gates``, ``ruleset_id``, ``ruleset_version``,
``ruleset_hash``, ``evaluated_at`` and ``error`` (the one-line error of a case that failed; its
other columns are null). Rows are written in input order, in row groups of
:data:`ROW_GROUP` rows, so memory stays bounded however many cases there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from ...schemas.errors import OutputError

ROW_GROUP = 4096

_STRING_COLUMNS = (
    "source",
    "case_id",
    "report_id",
    "next_step",
    "ruleset_id",
    "ruleset_version",
    "ruleset_hash",
    "evaluated_at",
    "error",
)
_LIST_COLUMNS = ("recommended", "blocked", "gates")
COLUMNS = (*_STRING_COLUMNS[:4], *_LIST_COLUMNS, *_STRING_COLUMNS[4:])


def schema() -> Any:
    """The pyarrow schema of the decisions table."""
    import pyarrow as pa

    types = {name: pa.string() for name in _STRING_COLUMNS}
    types.update({name: pa.list_(pa.string()) for name in _LIST_COLUMNS})
    return pa.schema([(name, types[name]) for name in COLUMNS])


def _next_step(plan: Any) -> str | None:
    """The plan's next step as text: its option code if it names one, else its JSON."""
    if not isinstance(plan, Mapping):
        return None
    step = plan.get("next_step")
    if step is None or isinstance(step, str):
        return step
    if isinstance(step, Mapping):
        for key in ("option", "step", "code"):
            if isinstance(step.get(key), str):
                return str(step[key])
    return orjson.dumps(step, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def decision_row(source: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The row of one report (its plain JSON data)."""
    provenance = report.get("provenance", {})
    ruleset = provenance.get("ruleset", {})
    return {
        "source": source,
        "case_id": report.get("case_id"),
        "report_id": provenance.get("report_id"),
        "next_step": _next_step(report.get("plan")),
        "recommended": [r["option"] for r in report.get("recommendations", [])],
        "blocked": [b["option"] for b in report.get("blocked", [])],
        "gates": [g["gate"] for g in report.get("gates", [])],
        "ruleset_id": ruleset.get("id"),
        "ruleset_version": ruleset.get("version"),
        "ruleset_hash": ruleset.get("hash"),
        "evaluated_at": provenance.get("evaluated_at"),
        "error": None,
    }


def failure_row(source: str, error: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(source=source, error=error)
    return row


class DecisionWriter:
    """Streams decision rows to a Parquet file (created or replaced when closed cleanly).

    Written to ``PATH.tmp`` and renamed into place on a clean close, so a reader never sees
    half a table and a failed batch leaves no table that looks complete.
    """

    def __init__(self, path: str | Path) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._schema = schema()
        try:
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        except OSError as exc:  # pyarrow's errors for paths are OSErrors
            raise OutputError(f"cannot write: {exc}", path=str(self.path)) from None
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def add_report(self, source: str, report: Mapping[str, Any]) -> None:
        self.add(decision_row(source, report))

    def add_failure(self, source: str, error: str) -> None:
        self.add(failure_row(source, error))

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self, *, commit: bool = True) -> None:
        self._flush()
        self._writer.close()
        if commit:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> DecisionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(commit=exc_type is None)
