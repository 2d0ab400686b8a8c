"""Statements from the ledger (csv, json) and the terminal explanation of one partner's period."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .errors import ConfigError
from .money import format_money, show_number

if TYPE_CHECKING:
    from .context import PartnerFacts
    from .engine import Computation
    from .ledger import Ledger
    from .results import PartnerStanding, PayoutLine

CSV_COLUMNS = ("partner_id", "period", "kind", "deal_id", "amount", "explanation")
FORMATS = ("csv", "json")


def render(ledger: Ledger, period: str, partner_id: str | None, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    status = ledger.period_status(period)
    if status is None:
        raise ConfigError(f"the ledger has no run for period {period}")
    lines = ledger.lines(period, partner_id)
    if (
        partner_id is not None
        and not lines
        and not any(s.partner_id == partner_id for s in ledger.standings(period))
    ):
        raise ConfigError(f"the ledger has no partner {partner_id!r} in period {period}")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for line in lines:
            writer.writerow(
                [
                    line.partner_id,
                    line.period,
                    line.kind,
                    line.deal_id or "",
                    format_money(line.amount),
                    line.explanation,
                ]
            )
        return buffer.getvalue()
    standings = {s.partner_id: s for s in ledger.standings(period)}
    by_partner: dict[str, list[dict[str, Any]]] = defaultdict(list)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        by_partner[line.partner_id].append(
            {
                "kind": line.kind,
                "deal_id": line.deal_id,
                "amount": format_money(line.amount),
                "withheld": line.withheld,
                "explanation": line.explanation,
            }
        )
        if line.kind != "mdf":
            totals[line.partner_id] += line.amount
    ids = sorted(set(by_partner) | ({partner_id} if partner_id else set(standings)))
    doc = {
        "period": period,
        "status": status,
        "partners": [
            {
                "partner_id": pid,
                "tier": standings[pid].assigned if pid in standings else None,
                "score": f"{standings[pid].score:.2f}" if pid in standings else None,
                "period_earnings": format_money(totals[pid]),
                "lines": by_partner.get(pid, []),
            }
            for pid in ids
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def print_explanation(
    console: Console,
    computation: Computation,
    facts: PartnerFacts,
    standing: PartnerStanding,
    lines: tuple[PayoutLine, ...],
) -> None:
    program = computation.context.program
    console.print(
        f"[bold]{facts.partner.name}[/bold] ({facts.id}), {computation.context.period}, program {program.program!r}"
    )
    metrics = Table(title="Metrics and score")
    for column, justify in (
        ("Metric", "left"),
        ("Value", "right"),
        ("Target", "right"),
        ("Weight", "right"),
        ("Reached", "right"),
    ):
        metrics.add_column(column, justify=justify)  # type: ignore[arg-type]
    scored = {part.metric for part in standing.score.parts}
    for part in standing.score.parts:
        value = "undefined" if part.value is None else _number(part.value)
        target = ("≤ " if part.better == "lower" else "") + show_number(part.target)
        metrics.add_row(
            part.metric,
            value,
            target,
            show_number(part.weight),
            f"{part.fraction:.4f}".rstrip("0").rstrip("."),
        )
    for name, other in sorted(standing.metrics.items()):
        if name not in scored:
            metrics.add_row(name, "undefined" if other is None else _number(other), "", "", "")
    console.print(metrics)
    if standing.score.parts and program.scoring:
        terms = " + ".join(f"{show_number(p.weight)}×{p.fraction:.4f}" for p in standing.score.parts)
        total = sum((p.weight for p in standing.score.parts), Decimal(0))
        console.print(
            f"score = {show_number(program.scoring.scale)} × ({terms}) ÷ {show_number(total)} = [bold]{standing.score.value:.2f}[/bold]"
        )
    else:
        console.print(f"score = {standing.score.value:.2f} (the program has no scoring section)")
    console.print(f"tier: [bold]{standing.tier.assigned}[/bold]: {standing.tier.reason}")
    table = Table(title="Payout lines")
    for column, justify in (("Kind", "left"), ("Deal", "left"), ("Amount", "right"), ("Explanation", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    total_earned = Decimal(0)
    for line in lines:
        table.add_row(
            line.kind + (" (withheld)" if line.withheld else ""),
            line.deal_id or "",
            format_money(line.amount),
            line.explanation,
        )
        if line.kind != "mdf":
            total_earned += line.amount
    console.print(table)
    console.print(f"period earnings: [bold]{format_money(total_earned)} {program.currency}[/bold]")


def _number(value: Decimal) -> str:
    return (
        show_number(value.quantize(Decimal("0.01")))
        if value != value.to_integral_value()
        else show_number(value)
    )
