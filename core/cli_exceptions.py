"""``cosell tier-override``: tier exceptions proposed by one person and approved by another, under the
rules adjustments follow (the two-person rule, the program's approvers), shown wherever the tier is
shown, and ending by themselves after their last period (docs/governance.md).

Added to the command line by :func:`register`, which ``cosell.cli`` calls with its error reporting;
this module does not import ``cosell.cli``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .cli_shared import (
    ByOpt,
    LedgerOpt,
    approvers_for,
    err,
    existing_ledger,
    id_argument,
    ledger_governance,
    one_line,
    out,
    period_option,
)
from .errors import ConfigError
from .ledger import TIER_EXCEPTION_STATES, Ledger, StoredTierException
from .periods import Period
from .program import Governance, load_program
from .terminal_tables import print_table
from .textsafe import CsvWriter, spreadsheet_cell, terminal_text

ProgramOpt = Annotated[
    Path | None,
    typer.Option(
        "--program",
        "-p",
        help="The program file: its tiers (the tier must be one); its governance section must be that of the "
        "program the ledger pays under (its latest run's); before any run, it names the approvers.",
    ),
]
IdArg = Annotated[int, id_argument("The exception's id (`cosell tier-override list` shows it).")]
# The proposal's options: on the group (`cosell tier-override --partner ...`) and on `propose`.
PARTNER = typer.Option("--partner", help="The partner id.")
TIER = typer.Option("--tier", help="The tier it holds at least.")
UNTIL = typer.Option("--until", help="The last period it holds the tier in (2027-Q2).")
REASON = typer.Option("--reason", help="Why: shown with the tier everywhere.")
PROPOSER = typer.Option("--by", help="Who proposes it.")
AS_JSON = typer.Option("--json", help="Print {id, state} as JSON.", metavar="")
COLUMNS = (
    "id",
    "partner",
    "tier",
    "until",
    "state",
    "in_force",
    "reason",
    "proposed_by",
    "proposed_at",
    "decided_by",
    "decided_at",
    "decision_reason",
)

tier_override_app = typer.Typer(
    help="Tier exceptions: `cosell tier-override --partner P --tier T --until PERIOD --reason TEXT --by NAME` "
    "proposes one; another person approves it; it holds the tier through PERIOD, then ends by itself.",
    invoke_without_command=True,
)


def propose(
    partner: str | None,
    tier: str | None,
    until: str | None,
    reason: str | None,
    by: str | None,
    program: Path | None,
    ledger: str | None,
    as_json: bool,
) -> None:
    given = {"--partner": partner, "--tier": tier, "--until": until, "--reason": reason, "--by": by}
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise ConfigError(
            f"cosell tier-override needs {', '.join(missing)}", hint="see cosell tier-override --help"
        )
    assert (
        partner is not None
        and tier is not None
        and until is not None
        and reason is not None
        and by is not None
    )
    # every option checked before the ledger is opened: opening it creates the file
    partner_id = one_line("--partner", partner)
    the_tier = one_line("--tier", tier)
    the_until = period_option("--until", until)
    why = one_line("--reason", reason)
    proposer = one_line("--by", by)
    named: Governance | None = None
    if program is not None:
        loaded = load_program(program).program
        if loaded.tier(the_tier) is None:
            names = ", ".join(t.name for t in loaded.tiers)
            raise ConfigError(f"--tier: {the_tier!r} is not a tier of the program ({names})")
        if the_until.kind != loaded.the_period.kind:  # a month never ends a run of quarters
            raise ConfigError(
                f"--until {the_until.key} is a {the_until.kind}, but the program runs {loaded.the_period.kind}s",
                hint=f"name a {loaded.the_period.kind}",
            )
        named = loaded.governance
    with Ledger.connect(ledger) as book:
        governance, _ = ledger_governance(book, program, named)
        approvers = None if governance is None else governance.approvers
        stored = book.propose_tier_exception(
            partner_id=partner_id,
            tier=the_tier,
            until=the_until,
            reason=why,
            by=proposer,
            approvers=approvers,
        )
    if as_json:
        out.print_json(json.dumps({"id": stored.id, "state": stored.state}))
        return
    out.print(stored.id)
    err.print(f"tier exception {stored.id} proposed: it applies once another person approves it")


def approve(exception: int, by: str, program: Path | None = None, ledger: str | None = None) -> None:
    """Approve a pending tier exception: never by its proposer; when the program the ledger pays under
    (its latest run's) names approvers, only by one of them (before any run: those of --program, else
    those the program named when it was proposed)."""
    with existing_ledger(ledger) as book:
        approvers, governed = approvers_for(book, program)
        stored = book.approve_tier_exception(
            exception, by=one_line("--by", by), approvers=approvers, governed=governed
        )
    out.print(
        f"tier exception {stored.id} approved by {terminal_text(by.strip())}: {terminal_text(stored.partner_id)} "
        f"holds at least {terminal_text(stored.tier)} through {stored.until} from the next run"
    )


def withdraw(
    exception: int, by: str, reason: str, program: Path | None = None, ledger: str | None = None
) -> None:
    """Withdraw a pending or approved tier exception that no period which can no longer be run applied:
    as an approval, never by its proposer and only by an approver of the program the ledger pays under."""
    with existing_ledger(ledger) as book:
        approvers, governed = approvers_for(book, program)
        stored = book.withdraw_tier_exception(
            exception,
            by=one_line("--by", by),
            reason=one_line("--reason", reason),
            approvers=approvers,
            governed=governed,
        )
    out.print(
        f"tier exception {stored.id} withdrawn by {terminal_text(by.strip())}: no run applies it from now on "
        f"(a rerun of the open period computes {terminal_text(stored.partner_id)}'s tier without it)"
    )


def reject(exception: int, by: str, reason: str, ledger: str | None = None) -> None:
    """Reject a pending tier exception: it never applies."""
    with existing_ledger(ledger) as book:
        stored = book.reject_tier_exception(
            exception, by=one_line("--by", by), reason=one_line("--reason", reason)
        )
    out.print(f"tier exception {stored.id} rejected")


def in_force(exception: StoredTierException, latest: str | None, kind: str | None = None) -> str:
    """Whether an exception still applies, as of the ledger's latest period: "yes", "ended", "never"
    (its last period is of the other kind than the ledger's periods ``kind``: no run applies it) or ""."""
    if exception.state != "approved":
        return ""
    if kind is not None and Period.parse(exception.until).kind != kind:
        return "never"
    if latest is not None and Period.parse(exception.until).start < Period.parse(latest).start:
        return "ended"
    return "yes"


def rows_of(book: Ledger, state: str | None, partner: str | None) -> list[dict[str, Any]]:
    latest = book.latest_period_with_lines()
    kind = book.period_kind()
    return [
        {
            "id": e.id,
            "partner": e.partner_id,
            "tier": e.tier,
            "until": e.until,
            "state": e.state,
            "in_force": in_force(e, latest, kind),
            "reason": e.reason,
            "proposed_by": e.proposed_by,
            "proposed_at": e.proposed_at,
            "decided_by": e.decided_by,
            "decided_at": e.decided_at,
            "decision_reason": e.decision_reason,
        }
        for e in book.tier_exceptions(state, partner)
    ]


def list_exceptions(
    state: str | None = None, partner: str | None = None, format: str = "table", ledger: str | None = None
) -> None:
    """List the tier exceptions, oldest first: who proposed and decided each, and whether it is in force."""
    if state is not None and state not in TIER_EXCEPTION_STATES:
        raise ConfigError(f"--state: {state!r} is not one of {', '.join(TIER_EXCEPTION_STATES)}")
    if format not in ("table", "json", "csv"):
        raise ConfigError(f"--format: {format!r} is not one of table, json, csv")
    with Ledger.connect(ledger, create=False) as book:
        rows = rows_of(book, state, partner)
    if format == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if format == "csv":
        writer = CsvWriter(sys.stdout)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(spreadsheet_cell("" if row[c] is None else str(row[c])) for c in COLUMNS)
        return
    table = Table(title="Tier exceptions")
    for column in (
        "Id",
        "Partner",
        "Tier",
        "Until",
        "State",
        "In force",
        "Reason",
        "Proposed by",
        "Decided by",
    ):
        # the figures and states are never cut short: the texts around them wrap instead
        whole = column in ("Id", "Partner", "Until", "State")
        table.add_column(column, justify="right" if column == "Id" else "left", no_wrap=whole)
    for row in rows:
        cells = (
            row["id"], row["partner"], row["tier"], row["until"], row["state"], row["in_force"], row["reason"],
            row["proposed_by"], row["decided_by"] or "",
        )  # fmt: skip
        table.add_row(*(terminal_text(str(cell)) for cell in cells))
    print_table(out, table)


def register(app: typer.Typer, reports_errors: Callable[[Any], Any]) -> None:
    """Add ``cosell tier-override`` (propose, approve, reject, withdraw, list) to ``app``."""

    @tier_override_app.callback()
    @reports_errors
    def tier_override(
        ctx: typer.Context,
        partner: Annotated[str | None, PARTNER] = None,
        tier: Annotated[str | None, TIER] = None,
        until: Annotated[str | None, UNTIL] = None,
        reason: Annotated[str | None, REASON] = None,
        by: Annotated[str | None, PROPOSER] = None,
        program: ProgramOpt = None,
        ledger: LedgerOpt = None,
        as_json: Annotated[bool, AS_JSON] = False,
    ) -> None:
        """Propose a tier exception (the options), or approve, reject or list them (the commands)."""
        if ctx.invoked_subcommand is not None:
            if any(v is not None for v in (partner, tier, until, reason, by)):
                raise ConfigError(
                    f"the proposal's options go without a command, not with {ctx.invoked_subcommand!r}"
                )
            return
        if all(v is None for v in (partner, tier, until, reason, by)):
            out.print(ctx.get_help())
            raise typer.Exit()
        propose(partner, tier, until, reason, by, program, ledger, as_json)

    @tier_override_app.command("propose")
    @reports_errors
    def propose_command(
        partner: Annotated[str, PARTNER],
        tier: Annotated[str, TIER],
        until: Annotated[str, UNTIL],
        reason: Annotated[str, REASON],
        by: Annotated[str, PROPOSER],
        program: ProgramOpt = None,
        ledger: LedgerOpt = None,
        as_json: Annotated[bool, AS_JSON] = False,
    ) -> None:
        """Propose a tier exception (the same as the options without a command)."""
        propose(partner, tier, until, reason, by, program, ledger, as_json)

    @tier_override_app.command("approve")
    @reports_errors
    def approve_command(
        exception: IdArg, by: ByOpt, program: ProgramOpt = None, ledger: LedgerOpt = None
    ) -> None:
        """Approve a pending tier exception (never by its proposer)."""
        approve(exception, by, program, ledger)

    @tier_override_app.command("reject")
    @reports_errors
    def reject_command(
        exception: IdArg,
        by: ByOpt,
        reason: Annotated[str, typer.Option("--reason", help="Why it is rejected.")],
        ledger: LedgerOpt = None,
    ) -> None:
        """Reject a pending tier exception: it never applies."""
        reject(exception, by, reason, ledger)

    @tier_override_app.command("withdraw")
    @reports_errors
    def withdraw_command(
        exception: IdArg,
        by: ByOpt,
        reason: Annotated[str, typer.Option("--reason", help="Why it is withdrawn.")],
        program: ProgramOpt = None,
        ledger: LedgerOpt = None,
    ) -> None:
        """Withdraw a pending or approved tier exception not applied in a closed period (never by its
        proposer; when the program the ledger pays under names approvers, only by one of them)."""
        withdraw(exception, by, reason, program, ledger)

    @tier_override_app.command("list")
    @reports_errors
    def list_command(
        state: Annotated[
            str | None, typer.Option("--state", help="Only these: pending, approved, rejected or withdrawn.")
        ] = None,
        partner: Annotated[str | None, typer.Option("--partner", help="Only this partner's.")] = None,
        format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
        ledger: LedgerOpt = None,
    ) -> None:
        """List the tier exceptions with who proposed and decided each and whether it is in force."""
        list_exceptions(state, partner, format, ledger)

    app.add_typer(tier_override_app, name="tier-override")
