"""What several command modules share without importing ``cosell.cli`` (which imports them): the
consoles they print on, a ledger that must exist, one-line texts people give, periods given as options,
the program's governance."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .errors import ConfigError
from .governance import described, same_governance
from .ledger import Ledger
from .periods import Period
from .program import Governance, load_program, parse_program


class _Output(Console):
    """Standard output. When its reader goes away (`cosell audit | head`), the command ends quietly with
    exit 0, as the reader wanted no more; rich's own default would exit 1, which means a bug here."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        silence_stdout()
        raise typer.Exit(0)


def silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing what is left at exit raises nothing."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


out = _Output(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Where every command prints: standard output and standard error. A console takes its width from
``COLUMNS`` when it is made, else from the terminal each time it prints."""


@contextmanager
def printed_to_stderr(active: bool) -> Iterator[None]:
    """Inside the block, when ``active`` (the command prints a document: JSON, CSV, HTML, a plugin's
    format...), what is printed on standard output (a plugin's hook printing a message, say) goes to
    standard error: standard output stays the one document the command prints after the block. Only
    text for a person to read (a table, a terminal statement, the report's summary) keeps it there."""
    if not active:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


LedgerOpt = Annotated[
    str | None,
    typer.Option("--ledger", help="Ledger URL (default: $COSELL_LEDGER, else sqlite:///cosell.db)."),
]
ByOpt = Annotated[str, typer.Option("--by", help="Who does this (a person's name, kept in the ledger).")]

MAX_ID = 2**63 - 1
"""The largest id a ledger holds (a signed 64-bit integer, in SQLite and PostgreSQL alike)."""


def _ledger_id(value: int | None) -> int | None:
    """An id given on the command line: one the ledger could hold, or a usage error (exit 2) naming the
    argument; a larger one would reach the database and fail there."""
    if value is not None and not 1 <= value <= MAX_ID:
        raise typer.BadParameter(f"{value} is not an id: ids are whole numbers from 1 to {MAX_ID}")
    return value


def id_argument(help: str) -> Any:
    """A positional id (an adjustment's, a run's...): bounded as :func:`_ledger_id` says."""
    return typer.Argument(help=help, callback=_ledger_id)


@contextmanager
def existing_ledger(url: str | None) -> Iterator[Ledger]:
    """The ledger for a command that reads or changes what runs stored: never created here."""
    with Ledger.open_existing(url) as book:
        yield book


def period_option(option: str, text: str) -> Period:
    """A period given as ``option``: ConfigError (exit 2) naming the option and what is wrong when it is
    not one (``2026-q3``: write it 2026-Q3)."""
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def one_line(option: str, text: str) -> str:
    """A name or reason people give: one line of visible text."""
    text = text.strip()
    if not text:
        raise ConfigError(f"{option}: give a non-empty value")
    if text.splitlines() != [text] or not text.isprintable():
        raise ConfigError(f"{option}: give one line of text without control characters")
    return text


def governance_of(program: Path | None) -> Governance | None:
    """The program's governance section (approvers, threshold); None without a program or a section."""
    return load_program(program).program.governance if program is not None else None


def ledger_governance(
    book: Ledger, program: Path | None, given: Governance | None
) -> tuple[Governance | None, bool]:
    """The governance a proposal or an approval is decided under, and whether it is the ledger's.

    Once a run has recorded its program, the governance of the program the ledger pays under (its
    latest run's, ``cosell runs``), and True; ``program``, whose governance is ``given``, must then have
    the same governance (ConfigError otherwise): a file handed in never changes who approves. Before
    that, ``given`` (None without ``program``) and False: the first run checks every approval against
    its own program's governance, and pays none it would not have given."""
    run = book.governing_run()
    if run is None or run.provenance is None:
        return given, False
    source = f"the program of run {run.id}"
    ruling = parse_program(run.provenance.program_text.removeprefix("\ufeff"), source).program.governance
    if program is not None and not same_governance(given, ruling):
        raise ConfigError(
            f"--program {program}: its governance ({described(given)}) is not that of the program this "
            f"ledger pays under, the one run {run.id} computed with ({described(ruling)})",
            hint="a program's governance takes effect from the first run that computes with it; give "
            "that program, or leave out --program",
        )
    return ruling, True


def approvers_for(book: Ledger, program: Path | None) -> tuple[tuple[str, ...] | None, bool]:
    """Who may approve (None: anyone but the proposer) under :func:`ledger_governance`, and whether
    that is the list of the program the ledger pays under (True) or ``program``'s before any run."""
    governance, governed = ledger_governance(book, program, governance_of(program))
    return (None if governance is None else governance.approvers), governed


def write_output(path: Path, body: str | bytes) -> None:
    """A command's ``-o``/``--output`` file; one that cannot be written is a ConfigError (exit 2) naming it."""
    try:
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
