"""``trd-cds``: the command line, thin wrappers over the library.

Each command parses its arguments, calls one library function and renders the result. The
engine, the Pydantic models and PyYAML are imported inside the commands, so ``trd-cds --help``
loads click and nothing of ours below this module.

Exit codes (each error class carries its own ``exit_code``; :class:`Failed` is the one place
that turns an error into an exit status):

* 0 — everything given was valid and evaluated;
* 1 — at least one case (or rule file, for ``rules lint``) was invalid or failed to evaluate,
  or a report could not be written (``-o``); every other case was still evaluated and reported;
* 2 — usage error (bad option, unknown rule id or option code, naive ``--at``);
* 3 — the rules themselves could not be loaded (lint errors in a rules folder);
* 4 — ``evaluate --audit``: the audit log could not be written (e.g. a case with a patient id
  and no ``TRD_CDS_AUDIT_KEY``); the run stops there, before that case's report is shown.

``audit verify`` exits 1 at the first bad record; ``audit replay`` exits 1 when a report does
not reproduce under the recorded engine, ruleset and settings.

``evaluate -o DIR --audit LOG`` keeps report and record in step: the report is first written to
a new private file in DIR (fsynced), then the audit record is appended, then the file is
renamed to its report name. A failed write leaves no record; a failed append leaves no report
(exit 4); a failed rename (rare: same folder) is reported as that case failing, and the record
still holds the report, so ``audit replay``/``audit show`` recover it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

import click

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine
    from .engine.io import CaseSource
    from .rules.loader import Ruleset
    from .schemas.errors import TrdCdsError
    from .schemas.report import Report

EXIT_OK, EXIT_CASE_FAILED = 0, 1
F = TypeVar("F", bound=Callable[..., Any])


def __getattr__(name: str) -> int:
    """``EXIT_USAGE``, ``EXIT_RULES``, ``EXIT_AUDIT``: read from the error classes."""
    if name not in ("EXIT_USAGE", "EXIT_RULES", "EXIT_AUDIT"):
        raise AttributeError(f"module 'trd_cds.cli' has no attribute {name!r}")
    from .schemas import errors

    return {
        "EXIT_USAGE": click.UsageError.exit_code,
        "EXIT_RULES": errors.RuleDefinitionError.exit_code,
        "EXIT_AUDIT": errors.AuditError.exit_code,
    }[name]


# --------------------------------------------------------------------------- errors


def error_line(exc: TrdCdsError) -> str:
    """``error: [label: ]message`` on one line (control characters escaped)."""
    from .schemas.errors import printable

    label = f"{exc.label}: " if exc.label else ""
    return f"error: {label}{printable(str(exc))}"


class Failed(click.ClickException):
    """A :class:`TrdCdsError` that ends a command: its one line, its class's exit code."""

    def __init__(self, error: TrdCdsError) -> None:
        super().__init__(str(error))
        self.error = error
        self.exit_code = error.exit_code  # type: ignore[misc]  # click reads the instance

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(error_line(self.error), err=True)


class _Group(click.Group):
    """The root group: any :class:`TrdCdsError` a command lets through becomes :class:`Failed`.

    Command groups of the interop floor are registered lazily (``LAZY``): ``trd-cds --help``
    lists them without importing them.
    """

    LAZY: ClassVar[dict[str, tuple[str, str, str]]] = {
        # name: (module, attribute, short help)
        "fhir": ("trd_cds.interop.fhir.cli", "fhir", "FHIR R4 in and out: cases from bundles."),
        "serve": ("trd_cds.interop.cds_hooks.cli", "serve", "Serve the CDS Hooks 2.0 service."),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, attribute, _ = self.LAZY[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, self.commands[name].get_short_help_str(limit=60))
            if name in self.commands
            else (name, self.LAZY[name][2])
            for name in self.list_commands(ctx)
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            from .schemas.errors import TrdCdsError

            if isinstance(exc, TrdCdsError):
                raise Failed(exc) from exc
            raise


class _OptionCode(click.Choice):  # type: ignore[type-arg]
    """``click.Choice`` over the §10 option vocabulary, loaded when first needed."""

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from .schemas.options import Option

        return [o.value for o in Option]

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        pass


# --------------------------------------------------------------------------- shared parsing


def _parse_at(value: str | None) -> datetime:
    from .engine.io import evaluation_time

    try:
        return evaluation_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


def _engine(rules: str | None, settings_file: str | None, no_cache: bool = False) -> Engine:
    """The engine over ``rules`` (default: bundled) with the settings file's thresholds; the
    ruleset comes from the ruleset cache (``TRD_CDS_CACHE_DIR``) unless ``no_cache``."""
    from .engine import Engine
    from .engine.io import load_settings
    from .rules.cache import cache_dir_from_env
    from .rules.loader import load_ruleset
    from .schemas.errors import CaseError
    from .schemas.settings import Settings

    settings = Settings()
    if settings_file:
        try:
            settings = load_settings(settings_file)
        except CaseError as exc:
            raise click.BadParameter(f"settings: {exc}", param_hint="--settings") from None
    ruleset = load_ruleset(rules, cache_dir=None if no_cache else cache_dir_from_env())
    return Engine(ruleset, settings)


def _ruleset(rules_dir: str | None) -> Ruleset:
    from .rules.loader import bundled_rules_dir, load_ruleset

    return load_ruleset(rules_dir or bundled_rules_dir())


def _sources(inputs: Sequence[str]) -> list[CaseSource]:
    from .engine.io import STDIN, expand, read_stdin

    stdin = read_stdin(sys.stdin.buffer) if STDIN in inputs else None
    return list(expand(inputs, stdin))


_NO_CACHE = click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Load the rules afresh, not from the ruleset cache: the loaded rules kept as a "
    "pickle in a private folder ($TRD_CDS_CACHE_DIR, default ~/.cache/trd-cds; one that "
    "others can write to is not used). TRD_CDS_CACHE_DIR=off disables it.",
)


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
    return _NO_CACHE(func)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trd-cds", prog_name="trd-cds")
def main() -> None:
    """Rule-based clinical decision support for treatment-resistant depression.

    Decision support, not a decision: every output is a suggestion for a clinician, with the
    rules, case facts and sources behind it.
    """
    # Pydantic plugins are other packages' code that sees every validated case (patient data);
    # the command line loads none unless the environment asks (PYDANTIC_DISABLE_PLUGINS set).
    # It also spares the entry-point scan of every installed distribution at start-up.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


# --------------------------------------------------------------------------- evaluate


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
    help="Write one <case file stem>.report.json per case here (mode 0600; a stem met twice "
    "gets -2, -3, ...) instead of printing reports; prints 'wrote: REPORT <- CASE' lines.",
)
@click.option(
    "--audit",
    "audit_path",
    type=click.Path(dir_okay=False),
    help="Append one audit record per evaluation to this log (.sqlite, .jsonl or a "
    "postgresql:// URL).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (an engine each); with --scheduler local, Dask workers. Reports "
    "are identical to a serial run's and come in input order.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Evaluate on Dask: 'local' (a LocalCluster of --jobs workers) or tcp://host:8786.",
)
@click.option(
    "--decisions",
    "decisions_path",
    type=click.Path(dir_okay=False),
    help="Also write a Parquet table of decisions here (one row per case).",
)
@engine_options
def evaluate(
    cases: tuple[str, ...],
    fmt: str,
    verbose: bool,
    sensitivity: bool,
    output_dir: str | None,
    audit_path: str | None,
    jobs: int,
    scheduler: str | None,
    decisions_path: str | None,
    rules: str | None,
    settings_file: str | None,
    at: str | None,
    no_cache: bool,
) -> None:
    """Evaluate case files (JSON/YAML), FHIR R4 JSON (a Bundle or resource: recognised by
    its resourceType), folders of them, or - for standard input.

    Also tables of cases (.jsonl: one case per line; .parquet: a 'case' column of case JSON)
    and Bulk FHIR NDJSON folders (one case per patient).
    """
    from .engine.io import evaluate_each, make_output_dir, prepare_report, report_names
    from .interop.readers import case_reader
    from .schemas.errors import OutputError

    when = _parse_at(at)
    # also checks rules and settings before any worker
    engine = _engine(rules, settings_file, no_cache)
    out_dir = Path(output_dir) if output_dir else None
    if out_dir is not None:
        make_output_dir(out_dir)
    results: Iterator[tuple[CaseSource, Any, Report | TrdCdsError]]
    if jobs > 1 or scheduler is not None or _has_containers(cases):
        from .interop.batch.runner import ReportNamer, run
        from .interop.batch.work import EngineSpec

        stdin = read_stdin_if(cases)
        spec = EngineSpec.of(rules, engine.settings)
        results = run(
            cases, when, spec, jobs=jobs, scheduler=scheduler, stdin_data=stdin, engine=engine
        )
        total: int | None = None
        name_of: Callable[[CaseSource], str] = ReportNamer()
    else:
        sources = _sources(cases)
        total = len(sources)
        names = report_names(sources) if out_dir is not None else {}
        results = evaluate_each(engine, sources, when, case_reader(when, engine.settings))
        name_of = lambda source: names[source.name]  # noqa: E731
    audit = _open_audit(audit_path)
    decisions = _open_decisions(decisions_path)
    sens = None
    if sensitivity and fmt in ("text", "html") and out_dir is None:
        from .engine.sensitivity import Sensitivity

        sens = Sensitivity(engine)
    failed: list[TrdCdsError] = []
    reports: list[str] = []
    count = 0
    outcome: Report | TrdCdsError
    try:
        with _progress(results, total) as bar:
            for source, case, outcome in bar:
                count += 1
                if decisions is not None:
                    _decide(decisions, source.name, outcome)
                if not isinstance(outcome, Exception):
                    report = outcome
                    try:
                        if out_dir is not None:
                            pending = prepare_report(out_dir, name_of(source), report.to_json())
                            try:
                                if audit is not None:
                                    audit.append(report, case)
                            except BaseException:
                                pending.discard()
                                raise
                            written = pending.commit()
                            click.echo(_printable(f"wrote: {written} <- {source.name}"))
                            continue
                        if audit is not None:
                            audit.append(report, case)
                    except OutputError as exc:
                        outcome = exc
                if isinstance(outcome, Exception):
                    failed.append(outcome)
                    click.echo(error_line(outcome), err=True)
                    if fmt == "jsonl" and out_dir is None:
                        click.echo(json.dumps({"source": source.name, "error": str(outcome)}))
                elif fmt == "json":
                    reports.append(outcome.to_json().rstrip("\n"))
                elif fmt == "jsonl":
                    click.echo(outcome.to_json_line())
                else:
                    alternatives = (
                        sens.check(case, when, outcome) if sens is not None and case else None
                    )
                    rendered = _render(outcome, fmt, verbose, alternatives)
                    if fmt == "text" and sys.stdout.isatty():
                        from .engine.render_terminal import print_styled

                        print_styled(rendered)
                    else:
                        click.echo(rendered, nl=False)
        if decisions is not None:
            decisions.close()
            decisions = None
    finally:
        if audit is not None:
            audit.close()
        if decisions is not None:  # the run stopped early: leave no table that looks complete
            decisions.close(commit=False)
    if fmt == "json" and out_dir is None:
        if count == 1 and reports:
            click.echo(reports[0])
        elif count > 1:
            click.echo("[\n" + ",\n".join(reports) + "\n]")
    if count > 1 or failed:
        click.echo(f"{count - len(failed)} evaluated, {len(failed)} failed", err=True)
    sys.exit(max((e.exit_code for e in failed), default=EXIT_OK))


def _has_containers(inputs: Sequence[str]) -> bool:
    """Whether the batch runner must read ``inputs`` (tables, Bulk FHIR folders); inputs that
    are neither folders nor ``.jsonl``/``.parquet`` files never need it, nor its import."""
    if not any(
        i != "-" and (Path(i).suffix.lower() in (".jsonl", ".parquet") or Path(i).is_dir())
        for i in inputs
    ):
        return False
    from .interop.batch.runner import has_containers

    return has_containers(inputs)


def read_stdin_if(inputs: Sequence[str]) -> bytes | None:
    from .engine.io import STDIN, read_stdin

    return read_stdin(sys.stdin.buffer) if STDIN in inputs else None


def _open_decisions(path: str | None) -> Any:
    if path is None:
        return None
    from .interop.batch.decisions import DecisionWriter

    return DecisionWriter(path)


def _decide(decisions: Any, name: str, outcome: Report | TrdCdsError) -> None:
    if isinstance(outcome, Exception):
        decisions.add_failure(name, error_line(outcome))
    else:
        decisions.add_report(name, outcome.to_dict())


def _printable(text: str) -> str:
    from .schemas.errors import printable

    return printable(text)


def _progress(results: Any, total: int | None) -> Any:
    """A progress bar over the results on a terminal (a count when the total is unknown)."""
    if (total is None or total > 1) and sys.stderr.isatty():
        return click.progressbar(results, length=total, label="evaluating", file=sys.stderr)
    return _NullBar(results)


class _NullBar:
    def __init__(self, items: Any) -> None:
        self.items = items

    def __enter__(self) -> Any:
        return self.items

    def __exit__(self, *args: object) -> None:
        return None


def _open_audit(path: str | None) -> Any:
    if path is None:
        return None
    from .engine.audit import open_log

    return open_log(path)


def _render(
    report: Report, fmt: str, verbose: bool, sensitivity: list[dict[str, Any]] | None = None
) -> str:
    from .engine.render import markdown, text

    if fmt == "markdown":
        return markdown(report) + "\n"
    if fmt == "html":
        from .engine.render_html import html

        return html(report, sensitivity)
    return text(report, verbose=verbose, sensitivity=sensitivity) + "\n"


# --------------------------------------------------------------------------- validate, explain


@main.command()
@click.argument("cases", nargs=-1, required=True)
def validate(cases: tuple[str, ...]) -> None:
    """Check case files against the schema without evaluating them."""
    from .engine.io import load_case
    from .schemas.errors import CaseError

    sources = _sources(cases)
    failed: list[CaseError] = []
    for source in sources:
        try:
            load_case(source)
        except CaseError as exc:
            failed.append(exc)
            for line in exc.lines():
                click.echo(f"error: {line}", err=True)
            continue
        click.echo(_printable(f"ok: {source.name}"))
    if len(sources) > 1 or failed:
        click.echo(f"{len(sources) - len(failed)} valid, {len(failed)} invalid", err=True)
    sys.exit(max((e.exit_code for e in failed), default=EXIT_OK))


@main.command()
@click.argument("case")
@click.option("--option", "option", required=True, type=_OptionCode(), help="Option code (§10).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@engine_options
def explain(
    case: str,
    option: str,
    fmt: str,
    rules: str | None,
    settings_file: str | None,
    at: str | None,
    no_cache: bool,
) -> None:
    """Explain why one option was, or was not, recommended for a case."""
    from .engine.io import load_case
    from .engine.render import why_not_text

    when = _parse_at(at)
    engine = _engine(rules, settings_file, no_cache)
    report = engine.evaluate(load_case(_sources([case])[0]), at=when)
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


# --------------------------------------------------------------------------- rules, schema


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
    import yaml

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
    """Lint a rules folder (default: the bundled rules). Exit 1 if it has errors."""
    from .rules.loader import lint_rules
    from .schemas.errors import RuleDefinitionError

    try:
        _header, loaded, problems = lint_rules(Path(rules_dir) if rules_dir else None)
    except RuleDefinitionError as exc:  # the folder is the result here, not a failure to load
        click.echo(error_line(exc), err=True)
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
    from .schemas.errors import OutputError

    doc = catalogue_for(_ruleset(rules_dir), Path(cases_dir) if cases_dir else default_cases_dir())
    if not output:
        click.echo(doc, nl=False)
        return
    try:
        Path(output).write_text(doc, "utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=output) from None


@main.command()
@click.argument("which", type=click.Choice(["case", "report", "rule"]), default="case")
def schema(which: str) -> None:
    """Print the JSON Schema of case files (or of reports, or of rules)."""
    from .schemas.case import Case
    from .schemas.report import Report
    from .schemas.rule import Rule

    model: Any = {"case": Case, "report": Report, "rule": Rule}[which]
    click.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


# --------------------------------------------------------------------------- audit
# The bodies below are the audit helper's, moved here as they were (plus a lazy import
# of AuditError in each).


@main.group("audit")
def audit_group() -> None:
    """Inspect, verify and replay an audit log (.jsonl, .sqlite, .db or postgresql:// URL).

    TRD_CDS_AUDIT_KEY: writing needs it (for cases with a patient id, and for a log whose
    records carry MACs); finding a patient (list --patient) needs it; verify uses it to check
    who wrote each record (without it, verify says that authenticity was not checked).
    Reading and replaying need no key.
    """


def _audit_log(path: str) -> Any:
    from .engine.audit import open_log
    from .schemas.errors import AuditError

    try:
        log = open_log(path)
    except AuditError as exc:
        raise click.BadParameter(str(exc), param_hint="PATH") from exc
    for warning in log.warnings:
        click.echo(f"warning: {warning}", err=True)
    return log


def _audit_failed(exc: TrdCdsError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_CASE_FAILED)


class _LogPath(click.Path):
    """An existing log file, or a ``postgresql://`` URL (passed through unchanged)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            return value
        return super().convert(value, param, ctx)


_AUDIT_PATH = click.argument("path", type=_LogPath(exists=True, dir_okay=False))


@audit_group.command("list")
@_AUDIT_PATH
@click.option("--patient", metavar="ID", help="Only this patient's records (needs the key).")
def audit_list(path: str, patient: str | None) -> None:
    """One line per record: seq, record id, evaluation time, case, ruleset, outcome."""
    from .engine.audit.render import record_line
    from .schemas.errors import AuditError

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
    from .schemas.errors import AuditError

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
    from .schemas.errors import AuditError

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
@_NO_CACHE
def audit_replay(
    path: str, rules: str | None, settings_file: str | None, verbose: bool, no_cache: bool
) -> None:
    """Evaluate every stored case again at its recorded time and compare.

    Same engine, ruleset and settings: the report must be byte-identical (exit 1 if not).
    Otherwise: what changed, which outcomes would change and which rules caused it (exit 0).
    """
    from .engine.audit.render import replay_lines
    from .schemas.errors import AuditError

    engine = _engine(rules, settings_file, no_cache)
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
