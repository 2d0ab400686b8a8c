"""The ``cosell`` command line: thin commands over the engine, the ledger and the plugins.

Every command turns a CosellError into its exit code and a message that says where and what;
anything else is a bug: a short message on screen, the traceback in the log file.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import statements
from .connector import Connector, ConnectorSpec, Notes, Syncs
from .context import RunReport
from .engine import check_program, compute, explain_partner
from .engine import run as run_engine
from .errors import ConfigError, CosellError, FinishedWithFailures
from .ledger import ADJUSTMENT_STATES, Ledger, StoredAdjustment
from .money import parse_decimal, round_cents
from .periods import Period
from .pluginmanager import Plugins
from .program import Governance, LoadedProgram, load_program, program_json_schema
from .records import MAX_AMOUNT
from .textsafe import spreadsheet_cell, terminal_text

app = typer.Typer(
    name="cosell",
    help="Partner-incentive logic inside the CRM you already run: scores, tiers and payouts, kept in a ledger "
    "and written back as CRM fields.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
TABLE_PARTNERS = 50
"""Partners the run's table shows (``--json`` gives every one): a table of thousands helps nobody."""
SAMPLE_CHANGES = 3
"""Changes a dry run shows per object and field (``--show-changes`` shows them all)."""


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("cosell")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        out.print(f"cosell {version}")
        raise typer.Exit()


@app.callback()
def _cosell(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print cosell's version and exit.", callback=_version, is_eager=True, metavar=""
        ),
    ] = False,
) -> None:
    """Partner-incentive logic inside the CRM you already run: scores, tiers and payouts, kept in a ledger
    and written back as CRM fields."""


T = TypeVar("T")

ProgramOpt = Annotated[Path, typer.Option("--program", "-p", help="The program file (YAML).")]
LedgerOpt = Annotated[
    str | None,
    typer.Option("--ledger", help="Ledger URL (default: $COSELL_LEDGER, else sqlite:///cosell.db)."),
]
PeriodOpt = Annotated[
    str | None, typer.Option("--period", help="2026-Q3 or 2026-07 (default: the program's).")
]
ConnectorOpt = Annotated[
    str | None,
    typer.Option(
        "--connector", "-c", help="Where records come from (`cosell plugins` lists the installed connectors)."
    ),
]
InputOpt = Annotated[
    Path | None, typer.Option("--input", "-i", help="For a connector that reads a folder: that folder.")
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="For a connector that writes to a folder: the folder written back to."
    ),
]


def flag(name: str, help: str) -> Any:
    """A boolean option shown in ``--help`` as the flag it is (no ``<bool>`` value after it)."""
    return typer.Option(name, help=help, metavar="")


JsonOpt = Annotated[bool, flag("--json", "Print a JSON document for scripts instead of tables.")]
FullSyncOpt = Annotated[
    bool,
    typer.Option(
        "--full-sync",
        metavar="",
        help="Read every CRM record again (not only changes), so write-back compares with what the CRM "
        "holds now: after a CRM was restored from a backup.",
    ),
]


def _log_path() -> Path:
    return Path(os.environ.get("COSELL_LOG", "cosell.log"))


def reports_errors(command: F) -> F:
    """Turn CosellError into its exit code and any other exception into exit 1 with the traceback logged."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = kwargs.get("as_json") is True  # --json: stdout stays one JSON document, errors included
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except FinishedWithFailures as exc:
            if isinstance(exc.report, RunReport):
                print_report(exc.report, as_json=as_json)
            elif as_json:
                _print_json_error(exc.render(), exc.exit_code)
            err.print(f"[red]{_escape(exc.render())}[/red]")
            raise typer.Exit(exc.exit_code) from None
        except CosellError as exc:
            if as_json:
                _print_json_error(exc.render(), exc.exit_code)
            err.print(f"[red]error:[/red] {_escape(exc.render())}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: the outbox keeps unsent writes for the next run")
            raise typer.Exit(130) from None
        except Exception as exc:
            path = _log_path()
            try:
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(f"--- {datetime.now(UTC).isoformat()} cosell {command.__name__}\n")
                    fh.write(traceback.format_exc())
                where = f"the traceback is in {path}"
            except OSError:
                where = "the traceback follows:\n" + traceback.format_exc()
            message = (
                f"internal error ({type(exc).__name__}: {exc}); this is a bug in cosell or a plugin, {where}"
            )
            if as_json:
                _print_json_error(message, 1)
            err.print(f"[red]internal error[/red] {_escape(message.removeprefix('internal error '))}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, as rich's ``print_json`` shows it. Off a terminal (a pipe or a
    file, where large reports go) the text is written as it is: the same characters, without running
    rich's highlighter over every line (half a minute for a report of 10,000 changes)."""
    if out.is_terminal:
        out.print_json(json.dumps(data))
        return
    out.file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    out.file.flush()


def _print_json_error(message: str, exit_code: int) -> None:
    out.print_json(json.dumps({"error": {"message": message, "exit_code": exit_code}}))


def _escape(text: str) -> str:
    # Names, ids and messages carry text from the CRM or CSV: never markup, never a control sequence.
    return terminal_text(text)


class _Bars:
    """Rich progress bars on a terminal, nothing elsewhere (cron, CI, pipes). A step without a total
    counts what it is told (records read so far) until the next step starts, which ends it."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self._open: TaskID | None = None

    def step(self, name: str, total: int | None = None) -> Callable[[int], None]:
        progress = self.progress
        if progress is None:
            return lambda n: None
        if self._open is not None:
            done = next(t.completed for t in progress.tasks if t.id == self._open)
            progress.update(self._open, total=max(done, 1), completed=max(done, 1))
            self._open = None
        task = progress.add_task(name, total=total)
        if total is None:
            self._open = task
        return lambda n: progress.advance(task, n)


@contextmanager
def _progress(enabled: bool) -> Iterator[_Bars]:
    if not enabled or not err.is_terminal:
        yield _Bars(None)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        yield _Bars(progress)


def _plugins() -> Plugins:
    return Plugins()


def _connector_spec(plugins: Plugins, name: str | None, command: str) -> ConnectorSpec:
    """The connector ``--connector`` names, else the first installed one that declares itself the
    command's default."""
    connectors = plugins.connectors()
    if name is None:
        defaults = [spec for spec in connectors.values() if command in spec.default_for]
        if not defaults:
            raise ConfigError(f"cosell {command} needs --connector NAME (installed: {', '.join(connectors)})")
        return defaults[0]
    if name not in connectors:
        known = ", ".join(sorted(connectors))
        raise ConfigError(
            f"no connector named {name!r} is installed (installed: {known})",
            hint="`cosell plugins` lists the installed plugins and the connectors they add",
        )
    return connectors[name]


def _built(spec: ConnectorSpec, build: Callable[[Mapping[str, Any]], T], options: Mapping[str, Any]) -> T:
    """Build a connector (or set one up): a client library that is not installed is a config error that
    names the connector's install extra."""
    try:
        return build(options)
    except ImportError as exc:
        hint = f"pip install 'cosell[{spec.extra}]'" if spec.extra else None
        raise ConfigError(f"the {spec.name} connector cannot start: {exc}", hint=hint) from None


def _options(
    loaded: LoadedProgram | None,
    settings: Mapping[str, Any],
    input_dir: Path | None,
    output_dir: Path | None,
    *,
    full_sync: bool = False,
) -> dict[str, Any]:
    return {
        "input": input_dir,
        "output": output_dir,
        "program": loaded.program if loaded else None,
        "settings": dict(settings),
        "env": dict(os.environ),
        "full_sync": full_sync,
    }


def _connector(
    plugins: Plugins,
    name: str | None,
    input_dir: Path | None,
    output_dir: Path | None,
    *,
    command: str,
    writes: bool = True,
    loaded: LoadedProgram | None = None,
    settings: Mapping[str, Any] | None = None,
    full_sync: bool = False,
) -> Connector:
    spec = _connector_spec(plugins, name, command)
    if spec.input is not None and input_dir is None:
        raise ConfigError(f"the {spec.name} connector needs --input DIR ({spec.input})")
    if spec.output is not None and output_dir is None and writes:
        raise ConfigError(f"the {spec.name} connector needs --output DIR ({spec.output})")
    return _built(
        spec, spec.factory, _options(loaded, settings or {}, input_dir, output_dir, full_sync=full_sync)
    )


def _period(loaded: LoadedProgram, text: str | None) -> Period:
    if text is None:
        return loaded.program.the_period
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--period: {exc}") from None


@app.command()
@reports_errors
def run(
    program: ProgramOpt,
    connector: ConnectorOpt = None,
    input: InputOpt = None,
    output: OutputOpt = None,
    ledger: LedgerOpt = None,
    period: PeriodOpt = None,
    dry_run: Annotated[
        bool, flag("--dry-run", "Compute and show the planned field changes; write nothing.")
    ] = False,
    full_sync: FullSyncOpt = False,
    as_json: JsonOpt = False,
    show_changes: Annotated[
        bool, flag("--show-changes", "With --dry-run: list every planned change, not a summary by field.")
    ] = False,
) -> None:
    """Sync, compute the period's scores, tiers and payouts, store them in the ledger and write back."""
    loaded = load_program(program)
    plugins = _plugins()
    settings = check_program(loaded, plugins)
    source = _connector(
        plugins,
        connector,
        input,
        output,
        command="run",
        loaded=loaded,
        settings=settings,
        full_sync=full_sync,
    )
    # create=False: a run refused before it stores anything (bad input, dry run) leaves no ledger file.
    with Ledger.connect(ledger, create=False) as book, _progress(not as_json) as bars:
        report = run_engine(
            loaded,
            source,
            book,
            plugins,
            period=_period(loaded, period),
            dry_run=dry_run,
            progress=bars,
            settings=settings,
        )
    print_report(report, as_json=as_json, show_changes=show_changes)


def print_report(report: RunReport, *, as_json: bool, show_changes: bool = False) -> None:
    if as_json:
        print_json(_report_json(report))
        return
    table = Table(
        title=f"Partners, {report.period}" + (" (dry run: nothing written)" if report.dry_run else "")
    )
    for column, justify in (
        ("Partner", "left"),
        ("Name", "left"),
        ("Score", "right"),
        ("Tier", "left"),
        ("Earnings", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in report.partners[:TABLE_PARTNERS]:
        tier = row["tier"]
        if row.get("left"):
            tier = f"Exited (was {tier})"
        elif row["previous_tier"] and row["previous_tier"] != tier:
            tier = f"{tier} (was {row['previous_tier']})"
        elif row["eligible_tier"] != row["tier"]:
            tier = f"{tier} (eligible {row['eligible_tier']}, grace)"
        cells = (row["id"], row["name"], row["score"], tier, row["earnings"])
        table.add_row(*(_escape(str(cell)) for cell in cells))
    out.print(table)
    if len(report.partners) > TABLE_PARTNERS:
        out.print(f"… and {len(report.partners) - TABLE_PARTNERS} more partners (every one: --json)")
    if report.dry_run:
        _print_changes(report, show_all=show_changes)
        return
    failed = f", {len(report.failures)} refused" if report.failures else ""
    out.print(
        f"{len(report.changes)} record(s) to update, {report.written} written{failed}; run {report.run_id}."
    )
    for note in report.notes:
        out.print(_escape(note))


def _print_changes(report: RunReport, *, show_all: bool) -> None:
    """A dry run's planned changes: per object and field, how many records change and a few of them;
    every change with ``--show-changes``."""
    if not report.changes:
        out.print("No field would change.")
        return
    by_field: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for write in report.changes:
        for field, value in write.values.items():
            change = (write.record_id, write.old.get(field) or "", value or "(cleared)")
            by_field.setdefault((write.object, field), []).append(change)
    if show_all:
        table = Table(title="Planned field changes")
        for column in ("Object", "Id", "Field", "Now", "Would be"):
            table.add_column(column)
        for (obj, field), changes in by_field.items():
            for record_id, now, then in changes:
                table.add_row(*(_escape(cell) for cell in (obj, record_id, field, now, then)))
        out.print(table)
        return
    summary = Table(title=f"Planned field changes: {len(report.changes)} record(s)")
    for column, justify in (
        ("Object", "left"),
        ("Field", "left"),
        ("Records", "right"),
        ("For example", "left"),
    ):
        summary.add_column(column, justify=justify)  # type: ignore[arg-type]
    for (obj, field), changes in by_field.items():
        sample = "; ".join(
            f"{rid}: {now or '(empty)'} → {then}" for rid, now, then in changes[:SAMPLE_CHANGES]
        )
        more = f"; … and {len(changes) - SAMPLE_CHANGES} more" if len(changes) > SAMPLE_CHANGES else ""
        summary.add_row(_escape(obj), _escape(field), str(len(changes)), _escape(sample + more))
    out.print(summary)
    out.print("Every change: run again with --show-changes (or --json).")


def _short(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _report_json(report: RunReport) -> dict[str, Any]:
    return {
        "period": report.period,
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        "partners": list(report.partners),
        "changes": [
            {"object": w.object, "id": w.record_id, "values": dict(w.values), "old": dict(w.old)}
            for w in report.changes
        ],
        "written": report.written,
        "failures": list(report.failures),
        "notes": list(report.notes),
    }


@app.command()
@reports_errors
def validate(program: Annotated[Path, typer.Argument(help="The program file to check.")]) -> None:
    """Check a program file: its keys, values and the metrics and plugin settings it names."""
    loaded = load_program(program)
    check_program(loaded, _plugins())
    p = loaded.program
    out.print(
        f"ok: {program}: {p.program!r}, period {p.period}, {len(p.tiers)} tier(s), currency {p.currency}"
    )


@app.command()
@reports_errors
def schema() -> None:
    """Print the program file's JSON Schema (for editors)."""
    out.print_json(json.dumps(program_json_schema()))


@app.command()
@reports_errors
def init(
    folder: Annotated[Path, typer.Argument(help="Folder to create the starter program and sample data in.")],
    force: Annotated[bool, flag("--force", "Overwrite files that exist.")] = False,
) -> None:
    """Write a commented starter program and sample CSV data to a folder."""
    starter = resources.files("cosell") / "starter"
    targets = [("program.yaml", folder / "program.yaml")] + [
        (f"data/{entry.name}", folder / "data" / entry.name)
        for entry in (starter / "data").iterdir()
        if entry.name.endswith(".csv")
    ]
    existing = [str(t) for _, t in targets if t.exists()]
    if existing and not force:
        raise ConfigError(
            f"would overwrite {', '.join(existing)}", hint="use --force, or pick an empty folder"
        )
    for name, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        with (starter / name).open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    out.print(f"wrote {folder / 'program.yaml'} and {folder / 'data'}/; now run:")
    out.print(
        f"  cosell run --program {folder / 'program.yaml'} --input {folder / 'data'} --output {folder / 'out'}"
    )


@app.command()
@reports_errors
def explain(
    partner: Annotated[str, typer.Argument(help="The partner id.")],
    program: ProgramOpt,
    connector: ConnectorOpt = None,
    input: InputOpt = None,
    ledger: LedgerOpt = None,
    period: PeriodOpt = None,
) -> None:
    """Show how a partner's metrics, score, tier and every payout line come about.

    Computes from the current records; stores no line and writes no CRM field (a CRM connector does
    refresh the ledger's snapshot of the records it reads)."""
    loaded = load_program(program)
    plugins = _plugins()
    settings = check_program(loaded, plugins)
    source = _connector(
        plugins, connector, input, None, command="explain", writes=False, loaded=loaded, settings=settings
    )
    the_period = _period(loaded, period)
    with Ledger.connect(ledger, create=False) as book:
        history = book.history(the_period)
        computation = compute(
            loaded.program, the_period, source.read(loaded.program, book), history, plugins, settings
        )
    try:
        facts, standing, lines = explain_partner(computation, partner)
    except KeyError:
        raise ConfigError(f"no partner with id {partner!r} in the input") from None
    statements.print_explanation(out, computation, facts, standing, lines, plugins)


@app.command()
@reports_errors
def statement(
    period: Annotated[str, typer.Option("--period", help="The period, e.g. 2026-Q3.")],
    partner: Annotated[str | None, typer.Option("--partner", help="Only this partner.")] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="csv, json, html (one page a partner can read), terminal, or a plugin's format.",
        ),
    ] = "csv",
    ledger: LedgerOpt = None,
    program: Annotated[
        Path | None,
        typer.Option(
            "--program",
            "-p",
            help="The program file: names the program and its currency for a period run before the ledger "
            "recorded them (targets and tier goals always come from the ledger).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the ledger's payout lines for a period: every line with its explanation."""
    the_period = Period.parse(period) if _valid_period(period) else None
    if the_period is None:
        raise ConfigError(f"--period: {period!r} is not a period (2026-Q3 or 2026-07)")
    plugins = _plugins()
    renderers = statements.statement_renderers(plugins)
    if format not in renderers:
        raise ConfigError(f"--format: {format!r} is not one of {', '.join(renderers)}")
    loaded = load_program(program) if program else None
    definitions = {name: d for name, (_, d) in plugins.metric_definitions().items()}
    with _existing_ledger(ledger) as book:
        text = statements.render(
            book, the_period.key, partner, format, loaded.program if loaded else None, definitions, renderers
        )
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {_escape(str(output))}")
    else:
        sys.stdout.write(text)


@contextmanager
def _existing_ledger(url: str | None) -> Iterator[Ledger]:
    """The ledger for a command that reads or changes what runs stored: never created here."""
    with Ledger.connect(url, create=False) as book:
        if not book.exists:
            raise ConfigError(
                f"there is no ledger at {book.url} yet", hint="run `cosell run` first, or give --ledger"
            )
        yield book


def _valid_period(text: str) -> bool:
    try:
        Period.parse(text)
    except ValueError:
        return False
    return True


@app.command()
@reports_errors
def close(
    period: Annotated[str, typer.Option("--period", help="The period to close, e.g. 2026-Q3.")],
    ledger: LedgerOpt = None,
) -> None:
    """Close a period: it is never rewritten; later facts about it land in a later period."""
    if not _valid_period(period):
        raise ConfigError(f"--period: {period!r} is not a period (2026-Q3 or 2026-07)")
    with _existing_ledger(ledger) as book:
        book.close_period(Period.parse(period))
    out.print(f"closed {period}")


@app.command()
@reports_errors
def plugins(as_json: JsonOpt = False) -> None:
    """List every plugin, its package and version, and the hooks it implements."""
    infos = _plugins().describe()
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "package": i.package,
                        "version": i.version,
                        "hooks": list(i.hooks),
                        "builtin": i.builtin,
                        "source": i.source,
                        "line_kinds": [
                            {
                                "name": k.name,
                                "title": k.title,
                                "capped": k.capped,
                                "in_budget": k.in_budget,
                                "deal_incentive": k.deal_incentive,
                                "reverses": k.reverses,
                                "period_earnings": k.period_earnings,
                                "adjustment": k.adjustment,
                            }
                            for k in i.line_kinds
                        ],
                        "connectors": [
                            {
                                "name": c.name,
                                "description": c.description,
                                "input": c.input,
                                "output": c.output,
                                "extra": c.extra,
                                "env": list(c.env),
                                "default_for": list(c.default_for),
                                "setup": c.setup is not None,
                            }
                            for c in i.connectors
                        ],
                    }
                    for i in infos
                ]
            )
        )
        return
    table = Table(title="Plugins")
    for column in ("Name", "Package", "Version", "Hooks", "Line kinds"):
        table.add_column(column)
    for i in infos:
        table.add_row(
            _escape(i.name + (" (built-in)" if i.builtin else "")),
            _escape(i.package or ""),
            _escape(i.version or ""),
            _escape(", ".join(i.hooks)),
            _escape("\n".join(f"{k.name}: {k.treatment()}" for k in i.line_kinds)),
        )
    out.print(table)


@app.command()
@reports_errors
def setup(
    connector: Annotated[str, typer.Argument(help="The connector whose fields to create.")],
    program: Annotated[
        Path | None, typer.Option("--program", "-p", help="Program file (for connector settings).")
    ] = None,
) -> None:
    """Create the fields cosell writes in the CRM (idempotent: existing fields are left as they are)."""
    plugins = _plugins()
    spec = _connector_spec(plugins, connector, "setup")
    if spec.setup is None:
        out.print(f"the {connector} connector has nothing to set up")
        return
    loaded = load_program(program) if program else None
    settings = check_program(loaded, plugins) if loaded else plugins.default_settings()
    result = _built(spec, spec.setup, _options(loaded, settings, None, None))
    for name in result.created:
        out.print(f"created   {_escape(name)}")
    for name in result.existing:
        out.print(f"exists    {_escape(name)}")
    for problem in result.problems:
        err.print(f"[red]problem[/red]   {_escape(problem)}")
    if result.next_steps:
        out.print("\nWhat an admin must do next:")
        for step in result.next_steps:
            out.print(f"  - {_escape(step)}")
    if result.problems:
        raise typer.Exit(FinishedWithFailures.exit_code)


@app.command()
@reports_errors
def sync(
    program: ProgramOpt,
    connector: ConnectorOpt = None,
    ledger: LedgerOpt = None,
    full_sync: FullSyncOpt = False,
) -> None:
    """Pull changed CRM records into the ledger's snapshot without computing (``run`` syncs too)."""
    loaded = load_program(program)
    plugins = _plugins()
    settings = check_program(loaded, plugins)
    source = _connector(
        plugins,
        connector,
        None,
        None,
        command="sync",
        writes=False,
        loaded=loaded,
        settings=settings,
        full_sync=full_sync,
    )
    if not isinstance(source, Syncs):
        raise ConfigError(
            f"the {source.name} connector reads its source whole on every run; it has nothing to sync"
        )
    with Ledger.connect(ledger) as book:
        counts = source.sync(loaded.program, book)
    out.print(
        "synced: " + ", ".join(f"{n} {obj}" for obj, n in counts.items()) if counts else "nothing changed"
    )
    for note in source.notes() if isinstance(source, Notes) else ():
        out.print(note)


# --- adjust: adjustments the governance body proposes and approves --------------------------------

adjust_app = typer.Typer(
    help="Adjustments: proposed by one person, approved by another, paid as one line at the next run.",
    no_args_is_help=True,
)
app.add_typer(adjust_app, name="adjust")

AdjustProgramOpt = Annotated[
    Path | None,
    typer.Option(
        "--program",
        "-p",
        help="The program file: its governance section names the approvers and the approval threshold.",
    ),
]
AdjustIdArg = Annotated[int, typer.Argument(help="The adjustment's id (`cosell adjust list` shows it).")]
ByOpt = Annotated[str, typer.Option("--by", help="Who does this (a person's name, kept in the ledger).")]


def _one_line(option: str, text: str) -> str:
    """A name or reason people give: one line of visible text."""
    text = text.strip()
    if not text:
        raise ConfigError(f"{option}: give a non-empty value")
    if text.splitlines() != [text] or not text.isprintable():
        raise ConfigError(f"{option}: give one line of text without control characters")
    return text


def _adjustment_amount(text: str) -> Decimal:
    """``--amount``: a number of ASCII digits with at most 2 decimals, bounded as every amount is."""
    try:
        amount = parse_decimal(text)
    except ValueError as exc:
        raise ConfigError(f"--amount: {exc}") from None
    if round_cents(amount) != amount:
        raise ConfigError(f"--amount: {text!r} has more than 2 decimals")
    if abs(amount) > MAX_AMOUNT:
        raise ConfigError(f"--amount: {text!r} is beyond ±{MAX_AMOUNT:,}")
    if amount == 0:
        raise ConfigError("--amount: an adjustment of 0 changes nothing")
    return round_cents(amount)


def _governance(program: Path | None) -> Governance | None:
    return load_program(program).program.governance if program is not None else None


@adjust_app.command("propose")
@reports_errors
def adjust_propose(
    partner: Annotated[str, typer.Option("--partner", help="The partner id.")],
    amount: Annotated[str, typer.Option("--amount", help="In the program currency; negative takes back.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: shown on the partner's statement.")],
    by: ByOpt,
    period: Annotated[
        str | None,
        typer.Option("--period", help="The period it belongs to (default: the next run's period)."),
    ] = None,
    deal: Annotated[str | None, typer.Option("--deal", help="The deal it concerns, if any.")] = None,
    program: AdjustProgramOpt = None,
    ledger: LedgerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose an adjustment; it pays nothing until another person approves it (or the program's
    threshold does, for a small amount)."""
    value = _adjustment_amount(amount)
    the_period = None
    if period is not None:
        if not _valid_period(period):
            raise ConfigError(f"--period: {period!r} is not a period (2026-Q3 or 2026-07)")
        the_period = Period.parse(period)
    governance = _governance(program)
    with Ledger.connect(ledger) as book:
        stored = book.propose_adjustment(
            partner_id=_one_line("--partner", partner),
            amount=value,
            reason=_one_line("--reason", reason),
            by=_one_line("--by", by),
            period=the_period,
            deal_id=None if deal is None else _one_line("--deal", deal),
            approvers=None if governance is None else governance.approvers,
            threshold=None if governance is None else governance.require_approval_over,
        )
    if as_json:
        out.print_json(json.dumps({"id": stored.id, "state": stored.state}))
        return
    out.print(stored.id)
    if stored.state == "approved":
        err.print(f"adjustment {stored.id} approved by the program's threshold: it pays at the next run")


@adjust_app.command("approve")
@reports_errors
def adjust_approve(
    adjustment: AdjustIdArg, by: ByOpt, program: AdjustProgramOpt = None, ledger: LedgerOpt = None
) -> None:
    """Approve a pending adjustment: never by its proposer; with a program naming approvers, only by
    one of them (without --program, the approvers the program named when it was proposed)."""
    governance = _governance(program)
    approvers = None if governance is None else governance.approvers
    with _existing_ledger(ledger) as book:
        stored = book.approve_adjustment(adjustment, by=_one_line("--by", by), approvers=approvers)
    out.print(f"adjustment {stored.id} approved by {_escape(by.strip())}: it pays at the next run")


@adjust_app.command("reject")
@reports_errors
def adjust_reject(
    adjustment: AdjustIdArg,
    by: ByOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why it is rejected.")],
    ledger: LedgerOpt = None,
) -> None:
    """Reject a pending adjustment: it never pays."""
    with _existing_ledger(ledger) as book:
        stored = book.reject_adjustment(
            adjustment, by=_one_line("--by", by), reason=_one_line("--reason", reason)
        )
    out.print(f"adjustment {stored.id} rejected")


_ADJUSTMENT_COLUMNS = (
    "id",
    "partner",
    "amount",
    "state",
    "period",
    "deal",
    "reason",
    "proposed_by",
    "proposed_at",
    "decided_by",
    "decided_at",
    "decision_reason",
    "applied_period",
    "applied_run",
)


def _adjustment_row(a: StoredAdjustment) -> dict[str, Any]:
    return {
        "id": a.id,
        "partner": a.partner_id,
        "amount": f"{a.amount:.2f}",
        "state": a.state,
        "period": a.period,
        "deal": a.deal_id,
        "reason": a.reason,
        "proposed_by": a.proposed_by,
        "proposed_at": a.proposed_at,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "decision_reason": a.decision_reason,
        "applied_period": a.applied_period,
        "applied_run": a.applied_run,
    }


@adjust_app.command("list")
@reports_errors
def adjust_list(
    state: Annotated[
        str | None, typer.Option("--state", help="Only these: pending, approved, rejected or applied.")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    ledger: LedgerOpt = None,
) -> None:
    """List the adjustments, oldest first, with who proposed and decided each and where it was paid."""
    if state is not None and state not in ADJUSTMENT_STATES:
        raise ConfigError(f"--state: {state!r} is not one of {', '.join(ADJUSTMENT_STATES)}")
    if format not in ("table", "json", "csv"):
        raise ConfigError(f"--format: {format!r} is not one of table, json, csv")
    with Ledger.connect(ledger, create=False) as book:
        rows = [_adjustment_row(a) for a in book.adjustments(state)]
    if format == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    elif format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_ADJUSTMENT_COLUMNS)
        for row in rows:
            writer.writerow(
                spreadsheet_cell("" if row[c] is None else str(row[c])) for c in _ADJUSTMENT_COLUMNS
            )
    else:
        table = Table(title="Adjustments")
        for column in (
            "Id",
            "Partner",
            "Amount",
            "State",
            "Period",
            "Reason",
            "Proposed by",
            "Decided by",
            "Paid in",
        ):
            table.add_column(column, justify="right" if column in ("Id", "Amount") else "left")
        for row in rows:
            decided = row["decided_by"] or ("program threshold" if row["decided_at"] else "")
            paid = f"{row['applied_period']} (run {row['applied_run']})" if row["applied_period"] else ""
            cells = (
                row["id"], row["partner"], row["amount"], row["state"], row["period"] or "", row["reason"],
                row["proposed_by"], decided, paid,
            )  # fmt: skip
            table.add_row(*(_escape(str(cell)) for cell in cells))
        out.print(table)


def add_plugin_commands(target: typer.Typer, plugins: Plugins) -> None:
    """Add the commands plugins register (``cosell_cli_commands``) to ``target``; a command function
    reports errors as cosell's own commands do, a typer app becomes a group of sub-commands."""
    for name, (_, command) in plugins.cli_commands(_command_names(target)).items():
        if isinstance(command, typer.Typer):
            target.add_typer(command, name=name)
        else:
            target.command(name=name)(reports_errors(cast(Callable[..., Any], command)))


def _command_names(target: typer.Typer) -> set[str]:
    commands = {
        (info.name or info.callback.__name__).replace("_", "-")
        for info in target.registered_commands
        if info.callback is not None
    }
    return commands | {group.name for group in target.registered_groups if group.name}


def _add_installed_commands() -> None:
    try:
        plugins = Plugins()
        plugins.cli_commands(_command_names(app))  # any plugin error surfaces before a command is added
    except CosellError:
        # A broken installed plugin must not take the command line down: the built-in commands still
        # come, and every command that loads the plugins reports the error.
        plugins = Plugins(entry_points=False)
    add_plugin_commands(app, plugins)


_add_installed_commands()


def main() -> None:
    # Retries and other warnings from connectors go to stderr, one line each (credentials never reach them).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="cosell")
