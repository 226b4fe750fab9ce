"""``trd-cds``: the command line, thin wrappers over the library.

Exit codes:

* 0 — everything given was valid and evaluated;
* 1 — at least one case (or rule file, for ``rules lint``) was invalid or failed to evaluate;
  every other case was still evaluated and reported;
* 2 — usage error (bad option, unknown rule id or option code, naive ``--at``);
* 3 — the rules themselves could not be loaded (lint errors in a rules folder);
* 4 — ``evaluate --audit``: the audit log could not be written (e.g. a case with a patient id
  and no ``TRD_CDS_AUDIT_KEY``); the run stops there, before that case's report is shown.

``audit verify`` exits 1 at the first bad record; ``audit replay`` exits 1 when a report does
not reproduce under the recorded engine, ruleset and settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import yaml

from .engine import Engine
from .engine.io import STDIN, CaseSource, expand, load_case
from .engine.render import markdown, text, why_not_text
from .engine.render_html import html
from .engine.sensitivity import Sensitivity
from .rules.loader import bundled_rules_dir, lint_rules, load_ruleset
from .schemas.case import Case
from .schemas.errors import AuditError, CaseError, EvaluationError, RuleDefinitionError, TrdCdsError
from .schemas.options import Option
from .schemas.report import Report
from .schemas.report import Report as ReportModel
from .schemas.rule import Rule
from .schemas.settings import Settings

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE, EXIT_RULES, EXIT_AUDIT = 0, 1, 2, 3, 4
F = TypeVar("F", bound=Callable[..., Any])


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time") from exc
    if at.tzinfo is None:
        raise click.BadParameter("give a timezone, e.g. 2026-11-24T09:00:00Z")
    return at


def _engine(rules: str | None, settings_file: str | None) -> Engine:
    try:
        settings = Settings()
        if settings_file:
            data = yaml.safe_load(Path(settings_file).read_text("utf-8")) or {}
            settings = Settings.model_validate(data)
        return Engine(rules, settings)
    except RuleDefinitionError as exc:
        click.echo(f"error: rules: {exc}", err=True)
        sys.exit(EXIT_RULES)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise click.BadParameter(f"settings: {exc}", param_hint="--settings") from exc


def engine_options(func: F) -> F:
    func = click.option(
        "--rules",
        "rules",
        type=click.Path(exists=True, file_okay=False),
        help="Rules folder (default: the bundled rules).",
    )(func)
    func = click.option(
        "--settings",
        "settings_file",
        type=click.Path(exists=True, dir_okay=False),
        help="YAML/JSON file of settings (thresholds) to override.",
    )(func)
    func = click.option(
        "--at",
        "at",
        metavar="ISO-DATETIME",
        help="Evaluation time (timezone-aware). Default: now, in UTC. Give it for "
        "reproducible reports.",
    )(func)
    return func


def _error_line(exc: TrdCdsError) -> str:
    return f"error: {exc}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trd-cds", prog_name="trd-cds")
def main() -> None:
    """Rule-based clinical decision support for treatment-resistant depression.

    Decision support, not a decision: every output is a suggestion for a clinician, with the
    rules, case facts and sources behind it.
    """


@main.command()
@click.argument("cases", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl", "markdown", "html"]),
    default="text",
    show_default=True,
    help="json: one report (an array for several); jsonl: one line per case; html: one "
    "self-contained page per case (use with one case, or redirect per case).",
)
@click.option("-v", "--verbose", is_flag=True, help="Text format: show facts and sources too.")
@click.option(
    "--sensitivity/--no-sensitivity",
    default=True,
    show_default=True,
    help="Text and HTML: also evaluate under documented alternative conventions (4/6 weeks, "
    "MADRS 10/12, ...) and say where the plan would differ.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Write one <case file stem>.report.json per case here instead of printing reports.",
)
@click.option(
    "--audit",
    "audit_path",
    type=click.Path(dir_okay=False),
    help="Append one audit record per evaluation to this log (.sqlite or .jsonl).",
)
@engine_options
def evaluate(
    cases: tuple[str, ...],
    fmt: str,
    verbose: bool,
    sensitivity: bool,
    output_dir: str | None,
    audit_path: str | None,
    rules: str | None,
    settings_file: str | None,
    at: str | None,
) -> None:
    """Evaluate case files (JSON/YAML), folders of them, or - for standard input."""
    when = _parse_at(at)
    engine = _engine(rules, settings_file)
    stdin_text = sys.stdin.read() if STDIN in cases else None
    sources = list(expand(cases, stdin_text))
    audit = _open_audit(audit_path)
    out_dir = Path(output_dir) if output_dir else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    reports: list[str] = []
    sens = Sensitivity(engine) if sensitivity and fmt in ("text", "html") and not out_dir else None
    show_bar = len(sources) > 1 and sys.stderr.isatty()
    with (
        click.progressbar(sources, label="evaluating", file=sys.stderr)
        if show_bar
        else (_NullBar(sources)) as bar
    ):
        for source in bar:
            try:
                case = load_case(source)
                report = engine.evaluate(case, at=when)
            except (CaseError, EvaluationError) as exc:
                failed += 1
                click.echo(_error_line(exc), err=True)
                if fmt == "jsonl" and not out_dir:
                    click.echo(json.dumps({"source": source.name, "error": str(exc)}))
                continue
            if audit is not None:
                try:
                    audit.append(report, case)
                except AuditError as exc:
                    click.echo(f"error: audit: {exc}", err=True)
                    sys.exit(EXIT_AUDIT)
            if out_dir:
                name = Path(source.name).stem if source.path else "stdin"
                (out_dir / f"{name}.report.json").write_text(report.to_json(), "utf-8")
            elif fmt == "json":
                reports.append(report.to_json().rstrip("\n"))
            elif fmt == "jsonl":
                click.echo(report.to_json_line())
            else:
                alternatives = sens.check(case, when, report) if sens is not None else None
                rendered = _render(report, fmt, verbose, alternatives)
                if fmt == "text" and sys.stdout.isatty():
                    from .engine.render_terminal import print_styled

                    print_styled(rendered)
                else:
                    click.echo(rendered, nl=False)
    if fmt == "json" and not out_dir:
        if len(sources) == 1 and reports:
            click.echo(reports[0])
        elif len(sources) > 1:
            click.echo("[\n" + ",\n".join(reports) + "\n]")
    if audit is not None:
        audit.close()
    if len(sources) > 1 or failed:
        click.echo(f"{len(sources) - failed} evaluated, {failed} failed", err=True)
    sys.exit(EXIT_CASE_FAILED if failed else EXIT_OK)


class _NullBar:
    def __init__(self, items: list[CaseSource]) -> None:
        self.items = items

    def __enter__(self) -> list[CaseSource]:
        return self.items

    def __exit__(self, *args: object) -> None:
        return None


def _open_audit(path: str | None) -> Any:
    if path is None:
        return None
    from .engine.audit import open_log

    try:
        return open_log(path)
    except AuditError as exc:
        click.echo(f"error: audit: {exc}", err=True)
        sys.exit(EXIT_AUDIT)


def _render(
    report: Report, fmt: str, verbose: bool, sensitivity: list[dict[str, Any]] | None = None
) -> str:
    if fmt == "markdown":
        return markdown(report) + "\n"
    if fmt == "html":
        return html(report, sensitivity)
    return text(report, verbose=verbose, sensitivity=sensitivity) + "\n"


@main.command()
@click.argument("cases", nargs=-1, required=True)
def validate(cases: tuple[str, ...]) -> None:
    """Check case files against the schema without evaluating them."""
    stdin_text = sys.stdin.read() if STDIN in cases else None
    failed = 0
    sources = list(expand(cases, stdin_text))
    for source in sources:
        try:
            load_case(source)
        except CaseError as exc:
            failed += 1
            for path, msg in exc.errors:
                click.echo(f"error: {exc.source}: {path or '/'}: {msg}", err=True)
            continue
        click.echo(f"ok: {source.name}")
    if len(sources) > 1 or failed:
        click.echo(f"{len(sources) - failed} valid, {failed} invalid", err=True)
    sys.exit(EXIT_CASE_FAILED if failed else EXIT_OK)


@main.command()
@click.argument("case")
@click.option(
    "--option",
    "option",
    required=True,
    type=click.Choice([o.value for o in Option]),
    help="Option code (§10 vocabulary).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@engine_options
def explain(
    case: str, option: str, fmt: str, rules: str | None, settings_file: str | None, at: str | None
) -> None:
    """Explain why one option was, or was not, recommended for a case."""
    when = _parse_at(at)
    engine = _engine(rules, settings_file)
    stdin_text = sys.stdin.read() if case == STDIN else None
    try:
        report = engine.evaluate(load_case(next(expand([case], stdin_text))), at=when)
    except (CaseError, EvaluationError) as exc:
        click.echo(_error_line(exc), err=True)
        sys.exit(EXIT_CASE_FAILED)
    if fmt == "json":
        rec = [r for r in report.recommendations if r.option.value == option]
        data = (
            rec[0].model_dump(mode="json")
            if rec
            else next(w.model_dump(mode="json") for w in report.why_not if w.option.value == option)
        )
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(why_not_text(report, option), nl=False)


@main.group()
def rules() -> None:
    """Inspect and check the rules."""


@rules.command("list")
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False))
def rules_list(rules_dir: str | None) -> None:
    """One line per rule: id@version, status, action, title."""
    ruleset = _ruleset(rules_dir)
    for loaded in sorted(ruleset.rules, key=lambda r: r.rule.id):
        r = loaded.rule
        what = ",".join(o.value for o in r.action.options) or (r.action.finding or "")
        click.echo(f"{r.ref:<55} {r.status.value:<7} {r.action.kind.value:<9} {what:<40} {r.title}")


@rules.command("show")
@click.argument("rule_id")
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False))
def rules_show(rule_id: str, rules_dir: str | None) -> None:
    """Show one rule as written, with its file and line."""
    ruleset = _ruleset(rules_dir)
    try:
        loaded = ruleset.get(rule_id)
    except KeyError:
        from .rules.lint import suggest

        hint = suggest(rule_id, [r.rule.id for r in ruleset.rules])
        raise click.BadParameter(
            f"no rule {rule_id!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
            param_hint="RULE_ID",
        ) from None
    click.echo(f"# {loaded.file}:{loaded.line}  {loaded.rule.ref}")
    data = loaded.rule.model_dump(mode="json", exclude_none=True)
    click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), nl=False)


@rules.command("lint")
@click.argument("rules_dir", required=False, type=click.Path(exists=True, file_okay=False))
def rules_lint(rules_dir: str | None) -> None:
    """Lint a rules folder (default: the bundled rules)."""
    try:
        _header, loaded, problems = lint_rules(Path(rules_dir) if rules_dir else None)
    except RuleDefinitionError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CASE_FAILED)
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = [p for p in problems if p.severity == "error"]
    click.echo(f"{len(loaded)} rules, {len(errors)} errors, {len(problems) - len(errors)} warnings")
    sys.exit(EXIT_CASE_FAILED if errors else EXIT_OK)


@rules.command("doc")
@click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--cases",
    "cases_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Golden case folder whose firings are listed per rule (default: ./tests/cases if "
    "it exists).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
def rules_doc(rules_dir: str | None, cases_dir: str | None, output: str | None) -> None:
    """Render the rule catalogue as Markdown for clinical reviewers."""
    from .engine.coverage import catalogue_for, default_cases_dir

    ruleset = _ruleset(rules_dir)
    try:
        doc = catalogue_for(ruleset, Path(cases_dir) if cases_dir else default_cases_dir())
    except (CaseError, EvaluationError) as exc:
        click.echo(_error_line(exc), err=True)
        sys.exit(EXIT_CASE_FAILED)
    if output:
        Path(output).write_text(doc, "utf-8")
    else:
        click.echo(doc, nl=False)


def _ruleset(rules_dir: str | None) -> Any:
    try:
        return load_ruleset(rules_dir or bundled_rules_dir())
    except RuleDefinitionError as exc:
        click.echo(f"error: rules: {exc}", err=True)
        sys.exit(EXIT_RULES)


@main.command()
@click.argument("which", type=click.Choice(["case", "report", "rule"]), default="case")
def schema(which: str) -> None:
    """Print the JSON Schema of case files (or of reports, or of rules)."""
    model: Any = {"case": Case, "report": ReportModel, "rule": Rule}[which]
    click.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


@main.group("audit")
def audit_group() -> None:
    """Inspect, verify and replay an audit log (.jsonl, .sqlite or .db).

    TRD_CDS_AUDIT_KEY: writing needs it (for cases with a patient id, and for a log whose
    records carry MACs); finding a patient (list --patient) needs it; verify uses it to check
    who wrote each record (without it, verify says that authenticity was not checked).
    Reading and replaying need no key.
    """


def _audit_log(path: str) -> Any:
    from .engine.audit import open_log

    try:
        log = open_log(path)
    except AuditError as exc:
        raise click.BadParameter(str(exc), param_hint="PATH") from exc
    for warning in log.warnings:
        click.echo(f"warning: {warning}", err=True)
    return log


def _audit_failed(exc: AuditError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_CASE_FAILED)


_AUDIT_PATH = click.argument("path", type=click.Path(exists=True, dir_okay=False))


@audit_group.command("list")
@_AUDIT_PATH
@click.option("--patient", metavar="ID", help="Only this patient's records (needs the key).")
def audit_list(path: str, patient: str | None) -> None:
    """One line per record: seq, record id, evaluation time, case, ruleset, outcome."""
    from .engine.audit.render import record_line

    log = _audit_log(path)
    try:
        for record in log.for_patient(patient) if patient else log.records():
            click.echo(record_line(record))
    except AuditError as exc:
        _audit_failed(exc)
    finally:
        log.close()


@audit_group.command("show")
@_AUDIT_PATH
@click.argument("ref", metavar="SEQ|RECORD_ID")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def audit_show(path: str, ref: str, fmt: str) -> None:
    """Show one record: provenance, pseudonym, outcome and the full report with its rules."""
    from .engine.audit.render import record_json, record_text

    log = _audit_log(path)
    try:
        record = log.get(int(ref) if ref.isdigit() else ref)
    except KeyError:
        raise click.BadParameter(f"no record {ref!r} in {path}", param_hint="REF") from None
    except AuditError as exc:
        _audit_failed(exc)
    finally:
        log.close()
    click.echo(record_json(record) if fmt == "json" else record_text(record))


@audit_group.command("verify")
@_AUDIT_PATH
@click.option(
    "--anchor",
    metavar="HASH",
    help="A head hash kept elsewhere earlier: the log must still contain that record.",
)
def audit_verify(path: str, anchor: str | None) -> None:
    """Check each record's bytes, hash, chain link and MAC; exit 1 at the first bad record.

    With TRD_CDS_AUDIT_KEY, every record's MAC must check under that key (a log without any
    MAC then fails). Without it, only the unkeyed hash chain is checked, and the output says
    that authenticity was not checked.
    """
    log = _audit_log(path)
    try:
        result = log.verify(anchor)
    except AuditError as exc:
        _audit_failed(exc)
    finally:
        log.close()
    for seq in result.repairs:
        click.echo(f"note: record {seq} moved the torn end of an interrupted write aside")
    click.echo(str(result) if result.ok else f"FAILED: {result}")
    sys.exit(EXIT_OK if result.ok else EXIT_CASE_FAILED)


@audit_group.command("replay")
@_AUDIT_PATH
@click.option("--rules", type=click.Path(exists=True, file_okay=False), help="Rules folder.")
@click.option(
    "--settings", "settings_file", type=click.Path(exists=True, dir_okay=False), help="Settings."
)
@click.option("-v", "--verbose", is_flag=True, help="Also list records that reproduced.")
def audit_replay(path: str, rules: str | None, settings_file: str | None, verbose: bool) -> None:
    """Evaluate every stored case again at its recorded time and compare.

    Same engine, ruleset and settings: the report must be byte-identical (exit 1 if not).
    Otherwise: what changed, which outcomes would change and which rules caused it (exit 0).
    """
    from .engine.audit.render import replay_lines

    engine = _engine(rules, settings_file)
    log = _audit_log(path)
    try:
        result = log.replay(engine)
    except AuditError as exc:
        _audit_failed(exc)
    finally:
        log.close()
    for line in replay_lines(result, verbose=verbose):
        click.echo(line)
    sys.exit(EXIT_OK if result.ok else EXIT_CASE_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
