"""``cosell runs`` (list, show, diff), ``cosell discard`` and ``cosell audit``: what each run computed
with, starting a period over, and the record a governance body keeps (docs/governance.md).

The commands are added to the command line by :func:`register`, which ``cosell.cli`` calls with its
error reporting; this module does not import ``cosell.cli``.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from .audit import AUDIT_COLUMNS, NOT_RECORDED, AuditRow, audit_rows
from .cli_shared import LedgerOpt, err, id_argument, out
from .errors import ConfigError
from .ledger import Ledger, StoredDiscard, StoredRun
from .periods import Period
from .program import LoadedProgram, parse_program
from .terminal_tables import print_table
from .textsafe import CsvWriter, spreadsheet_cell, terminal_text

Command = Callable[..., Any]


RunArg = Annotated[int, id_argument("The run's id (`cosell runs` lists them).")]


def _period(option: str, text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _one_line(option: str, text: str) -> str:
    text = text.strip()
    if not text or text.splitlines() != [text] or not text.isprintable():
        raise ConfigError(f"{option}: give one non-empty line of text without control characters")
    return text


def _format(value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"--format: {value!r} is not one of {', '.join(allowed)}")
    return value


# --- cosell runs -----------------------------------------------------------------------------------


def _run_json(run: StoredRun, discarded: bool) -> dict[str, Any]:
    p = run.provenance
    return {
        "id": run.id,
        "period": run.period,
        "program": run.program,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "connector": run.connector,
        "target": run.target,
        "discarded": discarded,
        "recorded": p is not None,
        "program_sha256": None if p is None else p.program_sha256,
        "cosell_version": None if p is None else p.cosell_version,
        "plugins": None
        if p is None
        else [{"name": v.name, "package": v.package, "version": v.version} for v in p.plugins],
        "records_digest": None if p is None else p.records_digest,
    }


def _discarded_runs(book: Ledger) -> set[int]:
    return {d.run_id for d in book.discards() if d.run_id is not None}


def runs_list(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", help="Only the runs of this period.")] = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    ledger: LedgerOpt = None,
) -> None:
    """List the recorded runs, oldest first, with the sha256 of the program each computed with.

    The table shows period, start, status, program sha256 and cosell's version ("not recorded" for runs
    before the ledger kept them); --format json adds the connector, the target, every plugin's version
    and the records digest."""
    if ctx.invoked_subcommand is not None:
        return
    _format(format, ("table", "json"))
    key = None if period is None else _period("--period", period).key
    with Ledger.open_existing(ledger) as book:
        runs = book.runs(key)
        discarded = _discarded_runs(book)
    if format == "json":
        sys.stdout.write(
            json.dumps([_run_json(r, r.id in discarded) for r in runs], ensure_ascii=False, indent=2) + "\n"
        )
        return
    table = Table(title="Runs" + ("" if key is None else f", {key}"))
    for column in ("Run", "Period", "Started (UTC)", "Status", "Program sha256", "cosell"):
        table.add_column(column, justify="right" if column == "Run" else "left", no_wrap=column != "Status")
    for r in runs:
        p = r.provenance
        status = r.status + (" (discarded)" if r.id in discarded else "")
        started = r.started_at.replace("T", " ")[:16]
        sha = NOT_RECORDED if p is None else p.program_sha256[:12]
        cells = (r.id, r.period, started, status, sha, NOT_RECORDED if p is None else p.cosell_version)
        table.add_row(*(terminal_text(str(cell)) for cell in cells))
    print_table(out, table)


def _stored(book: Ledger, run_id: int) -> StoredRun:
    run = book.stored_run(run_id)
    if run is None:
        raise ConfigError(f"there is no run {run_id} in this ledger", hint="`cosell runs` lists them")
    return run


def runs_show(
    run: RunArg,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ledger: LedgerOpt = None,
) -> None:
    """Show one run: what it computed with, each partner's earnings, and the program file's text.

    What it computed with: the program's sha256, cosell's and each plugin's version, the records digest.
    The program text is printed exactly as the run read it."""
    _format(format, ("text", "json"))
    with Ledger.open_existing(ledger) as book:
        stored = _stored(book, run)
        discarded = stored.id in _discarded_runs(book)
    p = stored.provenance
    if format == "json":
        data = _run_json(stored, discarded)
        data["program_text"] = None if p is None else p.program_text
        data["variant"] = (
            None
            if p is None or p.variant_sha256 is None
            else {"source": p.variant_source, "sha256": p.variant_sha256, "text": p.variant_text}
        )
        data["earnings"] = None if p is None else {pid: f"{v:.2f}" for pid, v in p.earnings.items()}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    lines = [
        f"run {stored.id}: {stored.period}, {stored.status}"
        + (" (its results were discarded)" if discarded else ""),
        f"program: {stored.program}",
        f"started {stored.started_at}, finished {stored.finished_at or '-'}",
        f"connector: {stored.connector}; target: {stored.target}",
    ]
    if p is None:
        lines.append(
            f"program sha256, versions, records digest, earnings: {NOT_RECORDED} (run before the ledger kept them)"
        )
        out.print("\n".join(terminal_text(line) for line in lines))
        return
    if p.variant_sha256 is not None:
        lines.append(f"pilot variant: {p.variant_source} (sha256 {p.variant_sha256})")
    lines += [
        f"program sha256: {p.program_sha256}",
        f"cosell: {p.cosell_version}",
        "plugins: " + ", ".join(f"{v.name} {v.version or '(version unknown)'}" for v in p.plugins),
        f"records digest: {p.records_digest}",
        "period earnings: " + (", ".join(f"{pid} {v:.2f}" for pid, v in p.earnings.items()) or "no partner"),
        "program file:",
    ]
    out.print("\n".join(terminal_text(line) for line in lines))
    # The text exactly as recorded (YAML refuses control characters, so none can reach the terminal).
    sys.stdout.write(p.program_text if p.program_text.endswith("\n") else p.program_text + "\n")


def _plugin_changes(a: StoredRun, b: StoredRun) -> list[str]:
    assert a.provenance is not None and b.provenance is not None
    before = {v.name: v.version for v in a.provenance.plugins}
    after = {v.name: v.version for v in b.provenance.plugins}
    changes = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            changes.append(f"  - {name} {before[name]} (removed)")
        elif name not in before:
            changes.append(f"  + {name} {after[name]} (added)")
        elif before[name] != after[name]:
            changes.append(f"  {name}: {before[name]} → {after[name]}")
    return changes


def _earnings_changes(a: StoredRun, b: StoredRun) -> tuple[list[str], int]:
    assert a.provenance is not None and b.provenance is not None
    before, after = a.provenance.earnings, b.provenance.earnings
    changes, same = [], 0
    for pid in sorted(before.keys() | after.keys()):
        old, new = before.get(pid), after.get(pid)
        if old == new:
            same += 1
            continue
        delta = (new if new is not None else Decimal(0)) - (old if old is not None else Decimal(0))
        shown_old = "-" if old is None else f"{old:.2f}"
        shown_new = "-" if new is None else f"{new:.2f}"
        changes.append(f"  {pid}: {shown_old} → {shown_new} ({delta:+.2f})")
    return changes, same


def _variant_changes(a: StoredRun, b: StoredRun) -> list[str]:
    """The pilot's variant program, when either run computed with one: unchanged, or a diff of its lines."""
    pa, pb = a.provenance, b.provenance
    assert pa is not None and pb is not None
    if pa.variant_sha256 is None and pb.variant_sha256 is None:
        return []
    if pa.variant_sha256 == pb.variant_sha256:
        return [f"pilot variant: unchanged (sha256 {(pa.variant_sha256 or '')[:12]})"]
    shown = " → ".join((p.variant_sha256 or "none")[:12] for p in (pa, pb))
    return [
        f"pilot variant: changed (sha256 {shown})",
        *(
            line.rstrip("\n")
            for line in difflib.unified_diff(
                (pa.variant_text or "").splitlines(keepends=True),
                (pb.variant_text or "").splitlines(keepends=True),
                fromfile=f"run {a.id}: {pa.variant_source or 'no variant'}",
                tofile=f"run {b.id}: {pb.variant_source or 'no variant'}",
            )
        ),
    ]


def run_differences(a: StoredRun, b: StoredRun) -> list[str]:
    """What changed from run ``a`` to run ``b``, as lines of text: the program (a unified diff of its
    lines), cosell's and the plugins' versions, the records digest, each partner's period earnings."""
    lines = [f"runs {a.id} ({a.period}) → {b.id} ({b.period})"]
    missing = [r.id for r in (a, b) if r.provenance is None]
    if missing:
        which = " and ".join(f"run {i}" for i in missing)
        lines.append(
            f"{which}: program, versions, records digest and earnings {NOT_RECORDED} (run before the ledger kept them)"
        )
        return lines
    pa, pb = a.provenance, b.provenance
    assert pa is not None and pb is not None
    if pa.program_sha256 == pb.program_sha256:
        lines.append(f"program: unchanged (sha256 {pa.program_sha256[:12]})")
    else:
        lines.append(f"program: changed (sha256 {pa.program_sha256[:12]} → {pb.program_sha256[:12]})")
        lines += [
            line.rstrip("\n")
            for line in difflib.unified_diff(
                pa.program_text.splitlines(keepends=True),
                pb.program_text.splitlines(keepends=True),
                fromfile=f"run {a.id}",
                tofile=f"run {b.id}",
            )
        ]
    lines += _variant_changes(a, b)
    if pa.cosell_version == pb.cosell_version:
        lines.append(f"cosell: unchanged ({pa.cosell_version})")
    else:
        lines.append(f"cosell: {pa.cosell_version} → {pb.cosell_version}")
    plugins = _plugin_changes(a, b)
    lines += ["plugins:", *plugins] if plugins else ["plugins: unchanged"]
    if pa.records_digest == pb.records_digest:
        lines.append("records: unchanged (same digest)")
    else:
        lines.append(f"records: changed (digest {pa.records_digest[:12]} → {pb.records_digest[:12]})")
    earnings, same = _earnings_changes(a, b)
    if earnings:
        lines += ["period earnings:", *earnings]
        if same:
            lines.append(f"  {same} partner(s) unchanged")
    else:
        lines.append("period earnings: unchanged for every partner")
    return lines


def runs_diff(first: RunArg, second: RunArg, ledger: LedgerOpt = None) -> None:
    """Show what changed between two runs: program lines, versions, records, earnings per partner.

    The program as a unified diff of its lines; cosell's and each plugin's version; whether the records
    digest changed; each partner whose period earnings changed, from what to what."""
    with Ledger.open_existing(ledger) as book:
        a, b = _stored(book, first), _stored(book, second)
    out.print("\n".join(terminal_text(line) for line in run_differences(a, b)))


# --- the program a period was computed with --------------------------------------------------------


def program_of_period(book: Ledger, period: Period, loaded: LoadedProgram) -> LoadedProgram:
    """The program the period's latest run computed with, when the ledger recorded it; otherwise
    ``loaded`` (the file). Says on stderr when the file differs from the recorded program."""
    run = book.latest_run(period.key)
    if run is None:
        return loaded
    if run.provenance is None:
        err.print(
            terminal_text(
                f"{period.key}: run {run.id} was stored before runs recorded their program: "
                f"explaining with {loaded.source} as it is now"
            )
        )
        return loaded
    recorded = run.provenance
    source = f"{loaded.source} (as recorded by run {run.id})"
    program = parse_program(recorded.program_text.removeprefix("\ufeff"), source)
    program.raw = recorded.program_text.encode("utf-8")
    if program.program.pilot is not None:
        if recorded.variant_text is not None:  # the variant that computed the test arm
            where = f"{recorded.variant_source} (as recorded by run {run.id})"
            program.variant = parse_program(recorded.variant_text.removeprefix("\ufeff"), where)
            program.variant.raw = recorded.variant_text.encode("utf-8")
            now = loaded.variant.raw if loaded.variant is not None else None
            if program.variant.raw != now:
                err.print(
                    terminal_text(
                        f"{period.key}: using the pilot's variant run {run.id} computed with (sha256 "
                        f"{(recorded.variant_sha256 or '')[:12]}), not {recorded.variant_source} as it is now"
                    )
                )
        else:  # a run recorded before runs kept their variant: the file as it is now
            program.variant = loaded.variant
    if program.raw != loaded.raw:
        err.print(
            terminal_text(
                f"{period.key}: using the program run {run.id} computed with (sha256 "
                f"{recorded.program_sha256[:12]}), not {loaded.source} as it is now; "
                f"`cosell runs diff` shows what changed"
            )
        )
    return program


def warn_if_records_changed(book: Ledger, period: Period, digest: Callable[[], str]) -> None:
    """Says on stderr when the records read now are not those the period's latest run read (``digest``
    gives theirs, as :func:`cosell.runrecords.records_digest` takes it for a run): what is recomputed
    from them can differ from what that run stored and paid. Nothing when the ledger recorded no digest."""
    run = book.latest_run(period.key)
    if run is None or run.provenance is None:
        return
    recorded, now = run.provenance.records_digest, digest()
    if now == recorded:
        return
    err.print(
        terminal_text(
            f"{period.key}: the records read now differ from those run {run.id} read (records digest "
            f"{recorded[:12]} → {now[:12]}): the figures below are recomputed from today's records and "
            f"can differ from what run {run.id} stored and paid; `cosell statement --period {period.key}` "
            f"shows what was paid"
        )
    )


# --- cosell discard --------------------------------------------------------------------------------


def _discard_summary(discard: StoredDiscard) -> str:
    parts = [
        f"discarded {discard.period} (run {discard.run_id}): {discard.line_count} line(s) of "
        f"{len(discard.partners)} partner(s), total {discard.total:.2f}, removed"
    ]
    if discard.superseded_writes:
        parts.append(f"{discard.superseded_writes} pending CRM write(s) will not be sent")
    if discard.unapplied:
        parts.append(
            "adjustment(s) "
            + ", ".join(map(str, discard.unapplied))
            + " approved again: paid at the next run"
        )
    parts.append(
        f"CRM fields already written keep their values until the next run of {discard.period} rewrites them"
    )
    return "; ".join(parts)


def discard(
    period: Annotated[str, typer.Option("--period", help="The open period to discard: the ledger's latest.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the record of what was removed).")],
    by: Annotated[str, typer.Option("--by", help="Who discards it (a person's name, kept in the ledger).")],
    ledger: LedgerOpt = None,
) -> None:
    """Remove the results of the ledger's latest period while it is open, keeping a record of them.

    So an earlier period can be run first, or the period started over. Its lines, tiers, projections and
    statement data go; its pending CRM writes are never sent; adjustments it paid are approved again. A
    closed period, or one that is not the latest, is refused (exit 2)."""
    the_period = _period("--period", period)
    why, who = _one_line("--reason", reason), _one_line("--by", by)
    with Ledger.open_existing(ledger) as book:
        done = book.discard_period(the_period, by=who, reason=why)
    out.print(terminal_text(_discard_summary(done)))


# --- cosell audit ----------------------------------------------------------------------------------


def _write_audit(rows: Iterable[AuditRow], fmt: str, sink: TextIO) -> int:
    """Write the rows as they come (a year of lines need not be held twice); returns how many."""
    count = 0
    if fmt == "json":
        sink.write("[")
        for row in rows:
            sink.write(("," if count else "") + "\n  " + json.dumps(row.as_dict(), ensure_ascii=False))
            count += 1
        sink.write("\n]\n" if count else "]\n")
        return count
    writer = CsvWriter(sink)
    writer.writerow(AUDIT_COLUMNS)
    for row in rows:
        cells = row.as_dict()
        writer.writerow(spreadsheet_cell("" if cells[c] is None else str(cells[c])) for c in AUDIT_COLUMNS)
        count += 1
    return count


def audit(
    start: Annotated[str, typer.Option("--from", help="The first period, e.g. 2026-Q1.")],
    end: Annotated[str, typer.Option("--to", help="The last period (included).")],
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    ledger: LedgerOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Export every line, tier decision, adjustment event and discard of a range of periods.

    Each row names its run and the sha256 of the program that run computed with (docs/governance.md)."""
    _format(format, ("csv", "json"))
    first, last = _period("--from", start), _period("--to", end)
    if first.kind != last.kind:
        raise ConfigError(
            f"--from {first.key} is a {first.kind} and --to {last.key} a {last.kind}: give two of one kind"
        )
    if first.start > last.start:
        raise ConfigError(f"--from {first.key} comes after --to {last.key}")
    with Ledger.open_existing(ledger) as book:
        rows = audit_rows(book, first, last)
        if output is None:
            _write_audit(rows, format, sys.stdout)
            return
        if output.is_dir():
            raise ConfigError(f"cannot write {output}: Is a directory")
        # Written beside the target and moved into place: a failure leaves no half an audit behind.
        partial = output.with_name(f".{output.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as sink:
                count = _write_audit(rows, format, sink)
            partial.replace(output)
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
    err.print(terminal_text(f"wrote {count} row(s) to {output}"))


# --- registration ----------------------------------------------------------------------------------


def register(app: typer.Typer, reports_errors: Callable[[Command], Command]) -> None:
    """Add ``runs`` (with ``show`` and ``diff``), ``discard`` and ``audit`` to ``app``, each command
    reporting errors through ``reports_errors``."""
    runs_app = typer.Typer(
        help="The recorded runs: what each computed with, and what changed between two.",
        invoke_without_command=True,
    )
    runs_app.callback()(reports_errors(runs_list))
    runs_app.command("show")(reports_errors(runs_show))
    runs_app.command("diff")(reports_errors(runs_diff))
    app.add_typer(runs_app, name="runs")
    app.command("discard")(reports_errors(discard))
    app.command("audit")(reports_errors(audit))
