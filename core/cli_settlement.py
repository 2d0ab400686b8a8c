"""``cosell settlement PARTNER``: what the company has paid a partner exiting or exited in its wind-down,
still owes, may still owe and may take back, as of a period's end, as text, JSON or a page the partner
can read (docs/governance.md).

It reads the ledger alone: what the period's run recorded for the partner (each rule's part, through
``cosell_settlement``) and the partner's adjustments as the ledger holds them now. Added to the command
line by :func:`register`; this module does not import ``cosell.cli``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_shared import LedgerOpt, existing_ledger, period_option, write_output
from .errors import ConfigError
from .money import format_money, show
from .periods import Period
from .program import load_program
from .settlement import (
    AT_RISK,
    OWED,
    PAID,
    PENDING,
    PROJECTED,
    STATUSES,
    Settlement,
    encode_settlement,
)
from .settlement_ledger import settlement_in
from .statements.html import CSS
from .textsafe import terminal_text

FORMATS = ("text", "json", "html")
LABELS = {
    PAID: "paid",
    OWED: "owed",
    PROJECTED: "projected, not owed yet",
    PENDING: "pending approval",
    AT_RISK: "at risk",
}
HEADINGS = {
    PAID: "paid in the wind-down so far",
    OWED: "owed",
    PROJECTED: "may still be owed (projected, not owed yet)",
    PENDING: "adjustments pending approval",
    AT_RISK: "may be taken back",
}


# --- rendering -----------------------------------------------------------------------------------------


def _last(s: Settlement) -> str:
    last = s.last_period()
    if last is None:
        return (
            "no last period: " + "; ".join(p.note for p in s.parts if p.open_ended)
            if s.open_ended
            else "unknown"
        )
    if _over(s):
        return f"{last} (it could earn until {s.last_day}: over)"
    return f"{last} (it can earn until {s.last_day})"


def _over(s: Settlement) -> bool:
    """The last day it could earn is past by the end of the settlement's period."""
    return s.last_day is not None and s.last_day <= Period.parse(s.period).end


def _last_for_partner(s: Settlement) -> str:
    last = s.last_period()
    if last is None:
        return _last(s)
    if _over(s):
        return f"{last}: deals won up to {s.last_day} earned you commission; that time is over"
    return f"{last}: deals you win up to {s.last_day} still earn you commission"


def as_json(s: Settlement) -> dict[str, Any]:
    doc = encode_settlement(s)
    for part in doc["parts"]:
        for item in part["items"]:
            item["amount"] = format_money(Decimal(item["amount"]))
    doc["last_period"] = s.last_period()
    doc["last_day"] = None if s.last_day is None else s.last_day.isoformat()
    doc["totals"] = {status: format_money(s.total(status)) for status in STATUSES}
    return doc


def as_text(s: Settlement) -> str:
    unit = f" {s.currency}" if s.currency else ""
    exit_text = f"exit on {s.exit_on}" if s.exit_on else "no exit date recorded"
    out = [
        f"Settlement of {s.name} ({s.partner_id}) as of the end of {s.period}: {s.status}, {exit_text}",
        f"tier: {s.tier}",
        f"last period it earns in: {_last(s)}",
        "",
    ]
    for part in s.parts:
        out.append(f"{part.title}: {part.note}" if part.note else part.title)
        if not part.items:
            out.append("  nothing")
        for item in part.items:
            due = f" [{item.due}]" if item.due else ""
            out.append(f"  {LABELS[item.status]:<23} {show(item.amount):>14}{due}  {item.explanation}")
        out.append("")
    for status in STATUSES:
        out.append(f"{HEADINGS[status]}: {show(s.total(status))}{unit}")
    return "\n".join(terminal_text(line) for line in out) + "\n"


def as_html(s: Settlement) -> str:
    def e(text: str) -> str:
        return escape(text, quote=True)

    unit = f" {s.currency}" if s.currency else ""
    cards = "".join(
        f'<div class="card"><div class="label">{e(label)}</div><div class="value">{e(show(s.total(status)))}</div>'
        f'<div class="sub">{e(sub)}</div></div>'
        for status, label, sub in (
            (OWED, "Owed", "certain, paid at a known run"),
            (PROJECTED, "May still be owed", "projected, not owed yet"),
            (AT_RISK, "May be taken back", "refund windows still open"),
            (PAID, "Paid in the wind-down", "so far"),
        )
    )
    sections = []
    for part in s.parts:
        rows = (
            "".join(
                f"<tr><td>{e(LABELS[item.status])}</td><td>{e(item.deal_id or '')}</td><td>{e(item.explanation)}</td>"
                f"<td>{e(item.due or (str(item.until) if item.until else ''))}</td>"
                f"<td class='num{' neg' if item.amount < 0 else ''}'>{e(show(item.amount))}</td></tr>"
                for item in part.items
            )
            or "<tr class='quiet'><td colspan='5'>Nothing here.</td></tr>"
        )
        sections.append(
            f"<h3>{e(part.title)}</h3>"
            + (f"<p class='muted small'>{e(part.note)}</p>" if part.note else "")
            + "<table class='lines'><thead><tr><th>Status</th><th>Deal</th><th>What</th><th>When</th>"
            f"<th class='num'>Amount</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    exit_text = f"leaving the program on {s.exit_on}" if s.exit_on else "leaving the program"
    body = [
        '<header class="doc"><div class="eyebrow">Exit settlement</div>',
        f"<h1>{e(s.name)}, {e(s.period)}</h1>",
        f'<p class="meta">{e(s.program)} · {e(s.partner_id)} · {e(exit_text)} · tier {e(s.tier)} · amounts in '
        f"{e(s.currency or 'the program currency')}</p>",
        "<p>Thank you for the work we did together. This page sets out what we have paid you since your exit, "
        "what we still owe you, what we may still owe you if open deals close in time, and what a refund could "
        "still take back, as of the end of "
        f"{e(s.period)}. Every amount follows the program's published rules.</p>",
        f"<p><b>Last period you earn in:</b> {e(_last_for_partner(s))}</p></header>",
        f'<div class="cards">{cards}</div>',
        *sections,
        f"<footer>Amounts are rounded to cents{e(unit and ' and in' + unit)}. “Owed” is paid at the run named; "
        "“may still be owed” is paid only if it happens in time; “may be taken back” applies only if a customer "
        "is refunded inside the window. Produced by cosell from its ledger.</footer>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Exit settlement, {e(s.name)}, {e(s.period)}</title><style>{CSS}</style></head>",
            "<body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def register(app: typer.Typer, reports_errors: Callable[[Any], Any]) -> None:
    """Add ``cosell settlement`` to ``app``."""

    @app.command("settlement")
    @reports_errors
    def settlement(
        partner: Annotated[str, typer.Argument(help="The partner id (exiting or exited).")],
        period: Annotated[
            str | None,
            typer.Option(
                "--period", help="As of this period's end (default: the program's, else the latest run)."
            ),
        ] = None,
        format: Annotated[
            str, typer.Option("--format", help="text, json, or html (a page the partner can read).")
        ] = "text",
        ledger: LedgerOpt = None,
        program: Annotated[
            Path | None, typer.Option("--program", "-p", help="The program file: its period is the default.")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
        ] = None,
    ) -> None:
        """What the company has paid, still owes, may still owe and may take back for a partner leaving the
        program, as of a period's end, from the ledger."""
        if format not in FORMATS:
            raise ConfigError(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
        with existing_ledger(ledger) as book:
            if period is not None:
                the_period = period_option("--period", period)
            elif program is not None:
                the_period = load_program(program).program.the_period
            else:
                latest = book.latest_period_with_lines()
                if latest is None:
                    raise ConfigError("the ledger has no run yet", hint="run a period first")
                the_period = Period.parse(latest)
            found = settlement_in(book, the_period, partner)
        if format == "json":
            text = json.dumps(as_json(found), indent=2, ensure_ascii=False) + "\n"
        elif format == "html":
            text = as_html(found)
        else:
            text = as_text(found)
        if output is not None:
            write_output(output, text)
            print(f"wrote {output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
