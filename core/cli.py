"""The ``cosell`` command line: thin commands over the engine, the ledger and the plugins.

Every command turns a CosellError into its exit code and a message that says where and what;
anything else is a bug: a short message on screen, the traceback in the log file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import select
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import cli_exceptions, cli_pilots, cli_runs, cli_settlement, engine, statements
from .cli_compare import compare as compare_command
from .cli_connectors import built as _built
from .cli_connectors import connector as _connector
from .cli_connectors import connector_options as _options
from .cli_connectors import connector_spec as _connector_spec
from .cli_shared import (
    ByOpt,
    LedgerOpt,
    err,
    out,
    period_option,
    printed_to_stderr,
    silence_stdout,
    write_output,
)
from .cli_shared import approvers_for as _approvers_for
from .cli_shared import existing_ledger as _existing_ledger
from .cli_shared import governance_of as _governance
from .cli_shared import id_argument as _id_argument
from .cli_shared import ledger_governance as _ledger_governance
from .cli_shared import one_line as _one_line
from .connector import Notes, Syncs
from .context import RunReport
from .engine import check_program, compute, explain_partner, pilot_plan, settings_named
from .engine import run as run_engine
from .errors import ConfigError, CosellError, FinishedWithFailures, PluginError
from .governance import ApprovalCheck, over_threshold
from .ledger import ADJUSTMENT_STATES, Ledger, StoredAdjustment
from .money import parse_decimal, round_cents
from .periods import Period
from .pluginmanager import PluginInfo, Plugins, installed
from .program import LoadedProgram, load_program, program_json_schema
from .records import MAX_AMOUNT
from .runrecords import digest_alongside
from .terminal_tables import print_table
from .textsafe import CsvWriter, spreadsheet_cell, terminal_text

app = typer.Typer(
    name="cosell",
    help="Partner-incentive logic inside the CRM you already run: scores, tiers and payouts, kept in a ledger "
    "and written back as CRM fields.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
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


_debug = {"on": False}
"""``cosell --debug``: tracebacks go to the terminal as well as to the log."""


@app.callback()
def _cosell(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print cosell's version and exit.", callback=_version, is_eager=True, metavar=""
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Print the full traceback of a plugin's or cosell's error here too.", metavar=""
        ),
    ] = False,
) -> None:
    """Partner-incentive logic inside the CRM you already run: scores, tiers and payouts, kept in a ledger
    and written back as CRM fields."""
    _debug["on"] = debug


ProgramOpt = Annotated[Path, typer.Option("--program", "-p", help="The program file (YAML).")]
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
                # --json lists every failure, a finished hook's too, where the CRM's refusals are
                shown = dataclasses.replace(exc.report, failures=exc.failures) if as_json else exc.report
                print_report(shown, as_json=as_json)
            elif as_json:
                _print_json_error(exc.render(), exc.exit_code)
            err.print(f"[red]{_escape(exc.render())}[/red]")
            _tell_traceback(command.__name__, exc.causes)
            raise typer.Exit(exc.exit_code) from None
        except CosellError as exc:
            if as_json:
                _print_json_error(exc.render(), exc.exit_code)
            err.print(f"[red]error:[/red] {_escape(exc.render())}")
            _tell_traceback(command.__name__, exc.causes)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: the outbox keeps unsent writes for the next run")
            raise typer.Exit(130) from None
        except Exception as exc:
            if isinstance(exc, BrokenPipeError) and _stdout_gone():
                # The reader of the output went away (`cosell audit | head`): nothing is wrong here
                silence_stdout()
                raise typer.Exit(0) from None
            where = _logged(command.__name__, [exc])
            message = (
                f"internal error ({type(exc).__name__}: {exc}); this is a bug in cosell or a plugin, {where}"
            )
            if _debug["on"]:
                err.print(_escape(_tracebacks([exc])), end="")
            if as_json:
                _print_json_error(message, 1)
            err.print(f"[red]internal error[/red] {_escape(message.removeprefix('internal error '))}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture), or no poll here
        return False


def _tracebacks(causes: Sequence[BaseException]) -> str:
    return "".join("".join(traceback.format_exception(cause)) for cause in causes)


def _logged(command: str, causes: Sequence[BaseException]) -> str:
    """Append the causes' tracebacks to the log file; say where they are."""
    path = _log_path()
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(UTC).isoformat()} cosell {command}\n")
            fh.write(_tracebacks(causes))
    except OSError:
        return "the traceback follows:\n" + _tracebacks(causes)
    return f"the traceback is in {path}"


def _tell_traceback(command: str, causes: Sequence[BaseException]) -> None:
    """A user error caused by a plugin's exception: its traceback to the log (and here with --debug)."""
    if not causes:
        return
    where = _logged(command, causes)
    if _debug["on"]:
        err.print(_escape(_tracebacks(causes)), end="")
    else:
        err.print(f"{_escape(where)} (--debug prints it here)")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, as rich's ``print_json`` shows it. Off a terminal (a pipe or a
    file, where large reports go) the text is written as it is: the same characters, without running
    rich's highlighter over every line (half a minute for a report of 10,000 changes)."""
    if out.is_terminal:
        out.print_json(json.dumps(data))
        return
    out.file.write(indented_json(data) + "\n")
    out.file.flush()


def indented_json(data: Any) -> str:
    """The text of ``json.dumps(data, indent=2, ensure_ascii=False)``, written by orjson: the standard
    library's indented encoder is pure Python (7.3 s for the report of a million-deal run; orjson 0.9 s).
    For text, integers, booleans and None, which is all a run's report holds, the two write the same
    characters; a float may read differently (orjson writes ``0.00001`` where json writes ``1e-05``).
    What orjson refuses (an integer beyond 64 bits, a lone surrogate) goes through json.dumps."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONEncodeError:
        return json.dumps(data, indent=2, ensure_ascii=False)


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
    return installed()


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
    # --json: what plugins print while the run computes goes to stderr; stdout is the report alone
    with printed_to_stderr(as_json):
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
        table.add_column(column, justify=justify, no_wrap=justify == "right")  # type: ignore[arg-type]
    for row in report.partners[:TABLE_PARTNERS]:
        tier = row.get("tier_shown") or row["tier"]
        if row.get("left") or row.get("tier_exception"):
            pass  # "Exited (was Silver)", "Gold (exception until ...)": the text says why
        elif row["previous_tier"] and row["previous_tier"] != tier:
            tier = f"{tier} (was {row['previous_tier']})"
        elif row["eligible_tier"] != row["tier"]:
            tier = f"{tier} (eligible {row['eligible_tier']}, grace)"
        if "pilot_arm" in row:
            tier = f"{tier}, {row['pilot_arm']} arm"
        cells = (row["id"], row["name"], row["score"], tier, row["earnings"])
        table.add_row(*(_escape(str(cell)) for cell in cells))
    print_table(out, table)
    if len(report.partners) > TABLE_PARTNERS:
        out.print(f"… and {len(report.partners) - TABLE_PARTNERS} more partners (every one: --json)")
    if report.dry_run:
        _print_changes(report, show_all=show_changes)
        for note in report.notes:
            out.print(_escape(note))
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
            table.add_column(column, no_wrap=column in ("Object", "Id", "Field"))  # names kept whole
        for (obj, field), changes in by_field.items():
            for record_id, now, then in changes:
                table.add_row(*(_escape(cell) for cell in (obj, record_id, field, now, then)))
        print_table(out, table)
        return
    summary = Table(title=f"Planned field changes: {len(report.changes)} record(s)")
    for column, justify in (
        ("Object", "left"),
        ("Field", "left"),
        ("Records", "right"),
        ("For example", "left"),
    ):
        summary.add_column(column, justify=justify, no_wrap=column != "For example")  # type: ignore[arg-type]
    for (obj, field), changes in by_field.items():
        sample = "; ".join(
            f"{rid}: {now or '(empty)'} → {then}" for rid, now, then in changes[:SAMPLE_CHANGES]
        )
        more = f"; … and {len(changes) - SAMPLE_CHANGES} more" if len(changes) > SAMPLE_CHANGES else ""
        summary.add_row(_escape(obj), _escape(field), str(len(changes)), _escape(sample + more))
    print_table(out, summary)
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
        + (
            f"; pilot {p.pilot.name!r} with variant {loaded.variant.source}"
            if p.pilot and loaded.variant
            else ""
        )
    )


@app.command()
@reports_errors
def schema() -> None:
    """Print the program file's JSON Schema (for editors), with the settings of every installed plugin
    under `plugins:`."""
    with printed_to_stderr(True):  # stdout is the schema alone, whatever a plugin prints as it loads
        models = {key: model for key, (_, model) in installed(keep_broken=True).settings_models().items()}
    out.print_json(json.dumps(program_json_schema(models)))


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
    # Checked before anything is written: a file where a folder goes, a folder where a file goes
    for needed in (folder, folder / "data"):
        if needed.exists() and not needed.is_dir():
            raise ConfigError(f"{needed} is a file, not a folder", hint="pick another folder")
    folders = [str(t) for _, t in targets if t.is_dir()]
    if folders:
        raise ConfigError(f"{', '.join(folders)}: a folder where the starter writes a file")
    existing = [str(t) for _, t in targets if t.exists()]
    if existing and not force:
        raise ConfigError(
            f"would overwrite {', '.join(existing)}", hint="use --force, or pick an empty folder"
        )
    for name, target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with (starter / name).open("rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
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

    Computes from the current records with the program the period's last run computed with (the file
    for a period not run yet); stores no line and writes no CRM field (a CRM connector does refresh the
    ledger's snapshot of the records it reads). Says on stderr when the program file or the records
    differ from those the period's run computed with: `cosell statement` shows what was paid."""
    loaded = load_program(program)
    plugins = _plugins()
    the_period = _period(loaded, period)
    with Ledger.connect(ledger, create=False) as book:
        loaded = cli_runs.program_of_period(book, the_period, loaded)
        # as a run would refuse: the earlier periods' lines, in another currency, would be read as this one's
        book.check_currency(loaded.program.currency, the_period.key)
        settings = check_program(loaded, plugins)
        source = _connector(
            plugins, connector, input, None, command="explain", writes=False, loaded=loaded, settings=settings
        )
        # what a run of the period would use: what its program's governance would have approved
        history = book.history(the_period, ApprovalCheck(loaded.program.governance))
        records = source.read(loaded.program, book)
        # the digest a run records of the records it read, taken alongside computing as a run does
        with digest_alongside(records) as digest:
            pilot = pilot_plan(loaded, plugins, records, book, the_period)
            with settings_named(loaded, plugins):
                computation = compute(
                    loaded.program, the_period, records, history, plugins, settings, pilot=pilot
                )
            cli_runs.warn_if_records_changed(book, the_period, digest)
        try:
            facts, standing, lines = explain_partner(computation, partner)
        except KeyError:
            later = next((p for p in computation.not_joined if p.id == partner), None)
            if later is not None:
                raise ConfigError(
                    f"partner {partner!r} joined the program on {later.joined_on.isoformat()}, after "
                    f"{the_period.key}: it is not in that period's run",
                    hint="explain a period from the one that holds its joined_on",
                ) from None
            raise ConfigError(f"no partner with id {partner!r} in the input") from None
        # while the ledger is open: a plugin's statement section may read the earlier periods' lines
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
            help="csv, json, html (one page a partner can read), terminal, xlsx (a workbook for finance: "
            "needs --output or --per-partner), or a plugin's format.",
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
    per_partner: Annotated[
        Path | None,
        typer.Option(
            "--per-partner",
            help="Write one file a partner into this folder (created if missing), named after the partner's "
            "id, for sending.",
        ),
    ] = None,
) -> None:
    """Print the ledger's payout lines for a period: every line with its explanation."""
    the_period = period_option("--period", period)
    if output is not None and per_partner is not None:
        raise ConfigError("--output and --per-partner: give one of them")
    # a document (any format but terminal): what plugins print goes to stderr; stdout is the document alone
    with printed_to_stderr(format != "terminal"):
        plugins = _plugins()
        renderers = statements.statement_renderers(plugins)
        renderer = statements.renderer_of(format, renderers)
        loaded = load_program(program) if program else None
        definitions = {name: d for name, (_, d) in plugins.metric_definitions().items()}
        with _existing_ledger(ledger) as book:
            doc = statements.document(
                book, the_period.key, partner, loaded.program if loaded else None, definitions
            )
        if per_partner is not None:
            _write_per_partner(per_partner, doc, format, renderer)
            return
        body = renderer(doc)
    if output:
        write_output(output, body)
        err.print(f"wrote {_escape(str(output))}")
    elif isinstance(body, bytes):
        raise ConfigError(f"--format {format} writes a file: give --output FILE or --per-partner DIR")
    else:
        sys.stdout.write(body)


def _write_per_partner(
    folder: Path, doc: statements.StatementDocument, fmt: str, renderer: statements.Renderer
) -> None:
    """One file a partner of the document, named after its id; a summary of what was written on stderr."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--per-partner: cannot create {folder}: {exc.strerror}") from None
    parts = statements.per_partner(doc)
    names = statements.file_names([p.partner_id or "" for p in parts], fmt)
    for part in parts:
        write_output(folder / names[part.partner_id or ""], renderer(part))
    err.print(f"wrote {len(parts)} statement(s) to {_escape(str(folder))}")


@app.command()
@reports_errors
def close(
    period: Annotated[str, typer.Option("--period", help="The period to close, e.g. 2026-Q3.")],
    ledger: LedgerOpt = None,
    even_if_unsent: Annotated[
        bool,
        typer.Option(
            "--even-if-unsent",
            help="Close even though the period's latest run did not finish writing back: what it left "
            "unsent is never sent.",
        ),
    ] = False,
) -> None:
    """Close a period: it is never rewritten; later facts about it land in a later period. Refused while
    the period's latest run has not finished writing back (run the period again first). A period already
    closed is left as it is, and the command says when it was closed."""
    the_period = period_option("--period", period)
    with _existing_ledger(ledger) as book:
        already = book.closed_at(the_period.key)
        if already is not None:  # idempotent: nothing to do, and the user is told so, and when
            when = already.replace("T", " ").replace("Z", " UTC")
            out.print(f"{the_period.key} was already closed on {_escape(when)}: nothing changed")
            return
        unsent = book.close_period(the_period, even_if_unsent=even_if_unsent)
    out.print(f"closed {the_period.key}")
    if unsent is not None:
        err.print(f"warning: closed with --even-if-unsent although {_escape(unsent)}")


@app.command()
@reports_errors
def plugins(as_json: JsonOpt = False) -> None:
    """List every plugin: its package, version and file, what it provides (metrics, line kinds, settings,
    connectors) and its hooks; a plugin that cannot load is listed with the reason."""
    with printed_to_stderr(as_json):  # --json: stdout is the list alone, whatever a plugin prints as it loads
        infos = installed(keep_broken=True).describe()
    if as_json:
        out.print_json(json.dumps([_plugin_json(i) for i in infos]))
        return
    table = Table(title="Plugins")
    for column in ("Name", "Package", "Version", "Provides", "Hooks"):
        table.add_column(column, no_wrap=column == "Version")
    for i in infos:
        table.add_row(
            _escape(i.name + (" (built-in)" if i.builtin else "")),
            _escape(i.package or ""),
            _escape(i.version or ""),
            f"[red]cannot load:[/red] {_escape(i.error)}" if i.error else _escape("\n".join(_provides(i))),
            _escape(", ".join(h.removeprefix("cosell_") for h in i.hooks)),
        )
    print_table(out, table)
    broken = [i.name for i in infos if i.error]
    if broken:
        err.print(
            f"{len(broken)} plugin(s) cannot load: {_escape(', '.join(broken))}; every command stops on them"
        )


def _provides(info: PluginInfo) -> list[str]:
    text = [f"metric {m.name}: {m.description}" for m in info.metrics]
    text += [f"line kind {k.name}: {k.treatment()}" for k in info.line_kinds]
    if info.settings_key:
        fields = ", ".join(
            f"{f.name} ({f.type}{', required' if f.required else f', default {f.default}'})"
            for f in info.settings
        )
        text.append(f"settings plugins.{info.settings_key}: {fields}")
    text += [f"connector {c.name}: {c.description}" for c in info.connectors]
    return text


def _plugin_json(i: PluginInfo) -> dict[str, Any]:
    return {
        "name": i.name,
        "package": i.package,
        "version": i.version,
        "hooks": list(i.hooks),
        "builtin": i.builtin,
        "source": i.source,
        "error": i.error,
        "metrics": [{"name": m.name, "description": m.description, "money": m.money} for m in i.metrics],
        "settings": None
        if i.settings_key is None
        else {
            "key": i.settings_key,
            "fields": [
                {
                    "name": f.name,
                    "type": f.type,
                    "required": f.required,
                    "default": f.default,
                    "description": f.description,
                }
                for f in i.settings
            ],
        },
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
        help="The program file the threshold applies under: its governance section must be that of the program "
        "the ledger pays under (its latest run's); before any run, it names the approvers and the threshold.",
    ),
]
AdjustIdArg = Annotated[int, _id_argument("The adjustment's id (`cosell adjust list` shows it).")]


_AMOUNT = re.compile(r"[+-]?[0-9]+(\.[0-9]{1,2})?")
"""How an amount is written on the command line: ASCII digits, at most 2 of them after a point."""


def _adjustment_amount(text: str) -> Decimal:
    """``--amount``: a number of ASCII digits with at most 2 decimals, bounded as every amount is. Any
    other way Python reads a number (``1e3``, ``1_000``, ``.5``) is refused: an amount is paid as written."""
    try:
        amount = parse_decimal(text)
    except ValueError as exc:
        raise ConfigError(f"--amount: {exc}") from None
    if not _AMOUNT.fullmatch(text.strip()):
        if re.fullmatch(r"[+-]?[0-9]+\.[0-9]{3,}", text.strip()):
            raise ConfigError(f"--amount: {text!r} has more than 2 decimals")
        raise ConfigError(
            f"--amount: {text!r} is not written as digits with at most 2 decimals",
            hint="write it as 1000, 1000.50 or -300 (no exponent, no _, digits on both sides of the point)",
        )
    if abs(amount) > MAX_AMOUNT:
        raise ConfigError(f"--amount: {text!r} is beyond ±{MAX_AMOUNT:,}")
    if amount == 0:
        raise ConfigError("--amount: an adjustment of 0 changes nothing")
    return round_cents(amount)


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
    # every option checked before the ledger is opened: opening it creates the file
    value = _adjustment_amount(amount)
    partner_id = _one_line("--partner", partner)
    why = _one_line("--reason", reason)
    proposer = _one_line("--by", by)
    deal_id = None if deal is None else _one_line("--deal", deal)
    the_period = None
    if period is not None:
        the_period = period_option("--period", period)
        if program is not None:
            runs = load_program(program).program.the_period.kind
            if the_period.kind != runs:  # paid by no run of the program's periods
                raise ConfigError(
                    f"--period {the_period.key} is a {the_period.kind}, but the program runs {runs}s",
                    hint=f"name a {runs}",
                )
    given = _governance(program)
    with Ledger.connect(ledger) as book:
        governance, _ = _ledger_governance(book, program, given)
        # the threshold approves only a proposal made under a program (--program)
        threshold = None if governance is None or program is None else governance.require_approval_over
        stored = book.propose_adjustment(
            partner_id=partner_id,
            amount=value,
            reason=why,
            by=proposer,
            period=the_period,
            deal_id=deal_id,
            approvers=None if governance is None else governance.approvers,
            threshold=threshold,
        )
        # what kept the threshold from approving it, for the message
        outstanding = book.threshold_outstanding(partner_id, before=stored.id)
        latest = book.latest_period_with_lines()
        unknown = latest is not None and not book.has_standing(latest, partner_id)
    if unknown:  # a typo (p002 for P002) would wait unpaid; a partner not read yet may be meant
        err.print(
            f"[yellow]warning:[/yellow] {latest}, the latest period run, has no partner {_escape(partner_id)}: "
            "the adjustment is paid only by a run whose records hold that partner id"
        )
    if as_json:
        out.print_json(json.dumps({"id": stored.id, "state": stored.state}))
        return
    out.print(stored.id)
    if stored.state == "approved":
        err.print(f"adjustment {stored.id} approved by the program's threshold: it pays at the next run")
    elif threshold is not None and abs(value) <= threshold:
        held = over_threshold(partner_id, outstanding, value, threshold)
        if held is not None:
            err.print(f"adjustment {stored.id} pending: {_escape(held)}")


@adjust_app.command("approve")
@reports_errors
def adjust_approve(
    adjustment: AdjustIdArg, by: ByOpt, program: AdjustProgramOpt = None, ledger: LedgerOpt = None
) -> None:
    """Approve a pending adjustment: never by its proposer; when the program the ledger pays under (its
    latest run's) names approvers, only by one of them (before any run: those of --program, else those
    the program named when it was proposed)."""
    with _existing_ledger(ledger) as book:
        approvers, governed = _approvers_for(book, program)
        stored = book.approve_adjustment(
            adjustment, by=_one_line("--by", by), approvers=approvers, governed=governed
        )
    out.print(f"adjustment {stored.id} approved by {_escape(by.strip())}: it pays at the next run")


@adjust_app.command("withdraw")
@reports_errors
def adjust_withdraw(
    adjustment: AdjustIdArg,
    by: ByOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why it is withdrawn.")],
    program: AdjustProgramOpt = None,
    ledger: LedgerOpt = None,
) -> None:
    """Withdraw an approved adjustment not paid in a closed period: it pays nothing from now on. As an
    approval: never by its proposer; when the program the ledger pays under names approvers, only by one
    of them. One paid in a closed period is corrected by a counter-adjustment instead."""
    with _existing_ledger(ledger) as book:
        approvers, governed = _approvers_for(book, program)
        stored = book.withdraw_adjustment(
            adjustment,
            by=_one_line("--by", by),
            reason=_one_line("--reason", reason),
            approvers=approvers,
            governed=governed,
        )
    out.print(f"adjustment {stored.id} withdrawn by {_escape(by.strip())}: it pays nothing from now on")
    if stored.applied_period is not None:
        period = stored.applied_period
        err.print(
            f"the run of {period} (run {stored.applied_run}) still pays it: run {period} again (before "
            "closing it or running a later period), and the rerun no longer pays it"
        )


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
        str | None,
        typer.Option("--state", help="Only these: pending, approved, rejected, applied or withdrawn."),
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
        writer = CsvWriter(sys.stdout)
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
            # the figures and states are never cut short: the texts around them wrap instead
            whole = column in ("Id", "Partner", "Amount", "State", "Period")
            table.add_column(column, justify="right" if column in ("Id", "Amount") else "left", no_wrap=whole)
        for row in rows:
            decided = row["decided_by"] or ("program threshold" if row["decided_at"] else "")
            paid = f"{row['applied_period']} (run {row['applied_run']})" if row["applied_period"] else ""
            cells = (
                row["id"], row["partner"], row["amount"], row["state"], row["period"] or "", row["reason"],
                row["proposed_by"], decided, paid,
            )  # fmt: skip
            table.add_row(*(_escape(str(cell)) for cell in cells))
        print_table(out, table)


app.command(name="compare")(reports_errors(compare_command))
cli_runs.register(app, reports_errors)  # runs, runs show, runs diff, discard, audit


def add_plugin_commands(
    target: typer.Typer, plugins: Plugins, *, left_out: list[PluginError] | None = None
) -> list[str]:
    """Add the commands plugins register (``cosell_cli_commands``) to ``target``; a command function
    reports errors as cosell's own commands do, a typer app becomes a group of sub-commands. Returns
    the names added. With ``left_out``, a plugin whose hook fails adds none, and its error goes there."""
    added = []
    # before the command is known: what a plugin prints here must not reach the document it may print
    with printed_to_stderr(True):
        commands = plugins.cli_commands(_command_names(target), left_out=left_out)
    for name, (_, command) in commands.items():
        if isinstance(command, typer.Typer):
            target.add_typer(command, name=name)
        else:
            target.command(name=name)(reports_errors(cast(Callable[..., Any], command)))
        added.append(name)
    return added


from .cli_report import report as _report  # noqa: E402  (its own module: the command reads whole)

app.command(name="report")(reports_errors(_report))


def _command_names(target: typer.Typer) -> set[str]:
    commands = {
        (info.name or info.callback.__name__).replace("_", "-")
        for info in target.registered_commands
        if info.callback is not None
    }
    return commands | {group.name for group in target.registered_groups if group.name}


PLUGIN_COMMANDS: set[str] = set()
"""The commands plugins added to ``app`` (``cosell.testing``'s harness swaps them for its plugins')."""


COMMANDS_LEFT_OUT: list[PluginError] = []
"""Why installed plugins' commands are missing (their cosell_cli_commands failed): said on stderr by
``main``, on every command, as no command of theirs can say it."""


def _add_installed_commands() -> None:
    # What a plugin prints as it is imported goes to stderr, as in add_plugin_commands.
    with printed_to_stderr(True):
        try:
            # A plugin that cannot load is left out here (every command that loads the plugins names it).
            plugins = Plugins(keep_broken=True)
        except CosellError:
            # A broken installed plugin must not take the command line down: the built-in commands still
            # come, and every command that loads the plugins reports the error.
            plugins = Plugins(entry_points=False)
    PLUGIN_COMMANDS.update(add_plugin_commands(app, plugins, left_out=COMMANDS_LEFT_OUT))


cli_exceptions.register(app, reports_errors)  # tier-override
cli_settlement.register(app, reports_errors)  # settlement
cli_pilots.add_to(app, reports_errors)
_add_installed_commands()


def main() -> None:
    # Retries and other warnings from connectors go to stderr, one line each (credentials never reach them).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for left_out in COMMANDS_LEFT_OUT:
        err.print(f"[yellow]warning:[/yellow] {_escape(left_out.render())}; its commands are left out")
    engine.keep_until_exit()
    try:
        app(prog_name="cosell")
    except SystemExit as done:
        if not engine.kept():
            with contextlib.suppress(BrokenPipeError):  # flushed here, not at exit (see _exit_now)
                sys.stdout.flush()
            raise
        _exit_now(done.code)


def _exit_now(code: object) -> None:
    """End the process without freeing what a run kept (millions of objects, seconds of work the
    operating system does at once): everything written is flushed and closed first."""
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`cosell runs show 1 | head`): what it wanted, it has
        silence_stdout()
    sys.stderr.flush()
    os._exit(status)
