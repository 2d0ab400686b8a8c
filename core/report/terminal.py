"""The report on a terminal: a summary to read where the command was typed (``cosell report`` with its
standard output a terminal and neither ``--format`` nor ``-o``). The headline figures, the budget with what
was paid outside it, the governance body's decisions, the tiers and the partners table, with a hint for the
full page; the same document as the page, so the same figures."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from ..terminal_tables import print_table
from ..textsafe import terminal_text
from .model import BUDGET, MDF

TABLE_PARTNERS = 50
"""How many partners the summary lists, as the run's table does."""
PERCENT = Decimal("0.01")
NOT_RECORDED = "not recorded"


def _money(value: str | None) -> str:
    return NOT_RECORDED if value is None else f"{Decimal(value):,.2f}"


def _percent(value: str | None) -> str:
    """A ratio as a percentage with two places, as the page shows it (0.1305 is 13.05 %)."""
    if value is None:
        return "–"
    return f"{(Decimal(value) * 100).quantize(PERCENT, ROUND_HALF_UP):,f} %"


def _plain(value: Any) -> str:
    return "–" if value is None else terminal_text(f"{value}")


def _by_kind(amounts: Mapping[str, str]) -> str:
    return ", ".join(f"{terminal_text(k)} {_money(v)}" for k, v in amounts.items()) or "nothing"


def print_summary(console: Console, report: Mapping[str, Any]) -> None:
    t = report["totals"]
    budget = t[BUDGET]
    g = report["governance"]
    program = terminal_text(report["program"] or "Partner program")
    currency = f", amounts in {terminal_text(report['currency'])}" if report["currency"] else ""
    period = terminal_text(report["period"])
    lines = [
        f"[bold]{program}[/bold]: program report {period} ({terminal_text(report['status'])}){currency}",
        f"Total incentives {_money(t['incentives'])}: earnings {_money(t['earnings'])} + MDF {_money(t[MDF])}"
        f" (by kind: {_by_kind(t['by_kind'])})",
        "Against the budget: "
        + (
            f"{_money(budget['in_budget'])} inside the budget of {_money(budget['program_budget'])} "
            f"({_percent(budget['used'])})"
            if budget["program_budget"] is not None
            else "no program budget"
        )
        + f"; outside it: {_by_kind(budget['outside_by_kind'])}; total cost {_money(t['incentives'])}",
        f"Cost / won revenue {_percent(t['cost_of_revenue'])}, cost / won gross margin "
        f"{_percent(t['cost_of_margin'])}",
        f"Won revenue {_money(t['won_revenue'])}, partner-sourced pipeline {_money(t['sourced_pipeline'])}, "
        f"joint win rate {_percent(t['joint_win_rate'])} ({_plain(t['won_deals'])} won, "
        f"{_plain(t['lost_deals'])} lost), median velocity {_plain(t['median_velocity_days'])} days",
        f"MDF funded {_money(t['mdf_funded'])}, released {_money(t['mdf_released'])}, pending "
        f"{_money(t['mdf_pending'])}",
        f"Governance: adjustments paid: {len(g['adjustments_paid']):,}, {_money(g['adjustments_paid_total'])}; "
        f"pending approval: {g['pending_approval']['count']:,}, {_money(g['pending_approval']['amount'])}; "
        f"tier exceptions in force: {len(g['tier_exceptions']):,}",
        "Tiers: "
        + ", ".join(f"{terminal_text(tier['name'])} {tier['partners']:,}" for tier in report["tiers"])
        + ("" if t["exited"] is None else f"; exited {t['exited']:,}"),
    ]
    if not report["recorded"]:
        lines.append(
            f"{period} was run before cosell recorded the report's figures: revenue, margin, pipeline, "
            f"win rate, velocity and MDF read “{NOT_RECORDED}”"
        )
    for line in lines:
        console.print(line)
    partners = report["partners"]
    table = Table(title=f"Partners, {period}")
    for column, justify in (("Partner", "left"), ("Name", "left"), ("Tier", "left"), ("Movement", "left"),
                            ("Score", "right"), ("Earnings", "right"), ("MDF", "right")):  # fmt: skip
        table.add_column(column, justify=justify, no_wrap=justify == "right")  # type: ignore[arg-type]
    for row in partners[:TABLE_PARTNERS]:
        cells = (row["id"], row["name"], row["tier_shown"], row["movement"], row["score"])
        table.add_row(*(_plain(c) for c in cells), _money(row["earnings"]), _money(row[MDF]))
    print_table(console, table)
    if len(partners) > TABLE_PARTNERS:
        console.print(f"… and {len(partners) - TABLE_PARTNERS:,} more partners (every one: --format json)")
    console.print(
        f"cosell report --period {period} -o report.html writes the full page with charts", highlight=False
    )
