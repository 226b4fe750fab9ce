"""Human-readable renderings of audit records and replay results (for ``trd-cds audit``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ..render import text
from .record import AuditRecord
from .replay import ReplayResult


def _short(values: list[str]) -> str:
    return ",".join(values) or "-"


def feedback_line(record: AuditRecord) -> str:
    """A feedback record: seq, record id, client time, case, the card and what the user did."""
    out = record.outcome
    reason = out.get("override_reason") or {}
    coding = reason.get("reason") or {}
    why = f"  reason={coding.get('system')}|{coding.get('code')}" if coding else ""
    comment = "  comment" if reason.get("user_comment") else ""
    return (
        f"{record.seq:>6}  {record.record_id}  {out.get('outcome_timestamp')}  {record.case_id}  "
        f"feedback on {record.provenance.get('links')} ({record.provenance.get('service')})  "
        f"card={out.get('card')}  outcome={out.get('outcome')}{why}{comment}"
    )


def record_line(record: AuditRecord) -> str:
    """One greppable line: seq, record id, evaluation time, case, ruleset, full outcome."""
    if record.kind == "feedback":
        return feedback_line(record)
    ruleset = record.provenance.get("ruleset", {})
    out = record.outcome
    return (
        f"{record.seq:>6}  {record.record_id}  {record.evaluated_at}  {record.case_id}  "
        f"{ruleset.get('id')}@{ruleset.get('version')}  "
        f"recommended={_short(out.get('recommended', []))}  "
        f"blocked={_short(out.get('blocked', []))}  gates={_short(out.get('gates', []))}"
    )


def record_json(record: AuditRecord) -> str:
    """The record as indented JSON, with the stored report text expanded into an object."""
    report = json.loads(record.report_json) if record.report_json else None
    data = {**record.stored(), "report": report}
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)


def record_text(record: AuditRecord) -> str:
    if record.kind == "feedback":
        body = json.dumps(record.outcome, indent=2, ensure_ascii=False, sort_keys=True)
        return f"Audit record {record.seq}  {record.record_id}\n  {feedback_line(record)}\n{body}"
    p = record.provenance
    ruleset = p.get("ruleset", {})
    subject = record.subject
    who = subject.get("pseudonym") or ("raw id stored" if subject.get("identifiers") else "none")
    lines = [
        f"Audit record {record.seq}  {record.record_id}",
        f"  hash      {record.hash}",
        f"  prev      {record.prev_hash}",
        f"  mac       {record.mac} (key {record.key_id})"
        if record.mac
        else f"  mac       none: written without a key ({record.format})",
        f"  case      {record.case_id}   patient pseudonym: {who}"
        + (f" (key {subject['key_id']})" if subject.get("key_id") else ""),
        f"  evaluated {p.get('evaluated_at')}  engine {p.get('engine_version')}",
        f"  ruleset   {ruleset.get('id')}@{ruleset.get('version')}  {ruleset.get('hash')}",
        f"  settings  {p.get('settings_hash')}",
        f"  input     {p.get('input_hash')}   report {p.get('report_id')}",
    ]
    if record.recovered_tail:
        tail = record.recovered_tail
        lines.append(
            f"  repaired  {tail.get('length')} torn bytes at offset {tail.get('offset')} "
            f"moved to {tail.get('moved_to')} ({tail.get('sha256')})"
        )
    lines += ["", text(record.report(), verbose=True)]
    return "\n".join(lines)


def replay_lines(result: ReplayResult, *, verbose: bool = False) -> Iterator[str]:
    """Each configuration change first (with how many records it concerns), then the records
    that did not reproduce or whose outcome or fired rules would change (all with
    ``verbose``), then the summary."""
    configs: dict[tuple[str, ...], int] = {}
    for item in result.items:
        if item.config:
            configs[item.config] = configs.get(item.config, 0) + 1
    for config, n in configs.items():
        for change in config:
            yield f"changed ({n} record(s)): {change}"
    for item in result.items:
        quiet = item.status == "identical" or (
            item.status == "changed" and not item.outcome and not item.rules
        )
        if quiet and not verbose:
            continue
        yield f"{item.seq:>6}  {item.record_id}  {item.case_id}: {item.status}: {item.detail}"
        for outcome in item.outcome:
            yield f"          outcome: {outcome}"
        for rule in item.rules:
            yield f"          rule:    {rule}"
    yield str(result)
