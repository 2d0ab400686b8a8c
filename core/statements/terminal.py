"""``cosell explain`` and ``--format terminal``: a statement as rich tables for a terminal."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from ..money import format_money, show, show_number
from ..results import internal_notes
from ..terminal_tables import print_table
from ..textsafe import terminal_text as escape  # markup and control characters: text comes from CRMs
from .facts import run_record
from .model import ZERO, PartnerStatement, number

if TYPE_CHECKING:
    from ..computation import Computation
    from ..context import PartnerFacts
    from ..pluginmanager import Plugins
    from ..results import PartnerStanding, PayoutLine
    from .document import StatementDocument


def render(doc: StatementDocument) -> str:
    """Every partner's statement of the period, from the ledger, as plain text tables."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, force_terminal=False, soft_wrap=False)
    for statement in doc.statements:
        print_statement(console, statement, doc.period, doc.program, doc.currency)
        console.print()
    if not doc.statements:
        console.print("The ledger holds no partner for this period.")
    return buffer.getvalue()


def computed_statement(
    computation: Computation,
    facts: PartnerFacts,
    standing: PartnerStanding,
    lines: Sequence[PayoutLine],
    plugins: Plugins,
) -> PartnerStatement:
    """The statement of one partner of a fresh computation (what ``cosell explain`` shows): built from
    the same record a run stores."""
    run = run_record(computation, plugins, only=facts.id)
    return PartnerStatement.build(
        facts.id,
        computation.context.period.key,
        score=standing.score.value,
        eligible=standing.tier.eligible,
        assigned=standing.tier.assigned,
        reason=standing.tier.reason,
        metrics=standing.metrics,
        lines=lines,
        record=run.partners[facts.id],
        run=run,
        name=facts.partner.name,
    )


def print_explanation(
    console: Console,
    computation: Computation,
    facts: PartnerFacts,
    standing: PartnerStanding,
    lines: tuple[PayoutLine, ...],
    plugins: Plugins,
) -> None:
    """``cosell explain``: one partner's statement of a fresh computation."""
    program = computation.context.program
    statement = computed_statement(computation, facts, standing, lines, plugins)
    print_statement(console, statement, computation.context.period.key, program.program, program.currency)


def print_statement(
    console: Console, statement: PartnerStatement, period: str, program: str | None, currency: str | None
) -> None:
    """The statement: metrics and score, tier and goals, lines, adjustments, earnings, the plugins'
    sections (MDF)."""
    unit = f" {currency}" if currency else ""
    name = statement.name or f"Partner {statement.partner_id}"
    program_text = f", program {escape(repr(program))}" if program else ""
    console.print(
        f"[bold]{escape(name)}[/bold] ({escape(statement.partner_id)}), {escape(period)}{program_text}"
    )
    metrics = Table(title="Metrics and score")
    for column, justify, figures in (
        ("Metric", "left", False),
        ("Value", "right", True),
        ("Target", "right", True),
        ("Weight", "right", True),
        ("Reached", "right", True),
    ):
        metrics.add_column(column, justify=justify, no_wrap=figures)  # type: ignore[arg-type]
    for part in statement.parts:
        value = "undefined" if part.value is None else number(part.value)
        target = ("≤ " if part.better == "lower" else "") + show_number(part.target)
        metrics.add_row(
            escape(part.metric),
            value,
            target,
            show_number(part.weight),
            f"{part.fraction:.4f}".rstrip("0").rstrip("."),
        )
    for name, other in statement.other_metrics:
        metrics.add_row(escape(name), "undefined" if other is None else number(other), "", "", "")
    print_table(console, metrics)
    if (given_by := statement.scored_by_text()) is not None:
        console.print(f"score = {statement.score:.2f}, {escape(given_by)}")
    elif statement.parts and statement.scale is not None:
        terms = " + ".join(f"{show_number(p.weight)}×{p.fraction:.4f}" for p in statement.parts)
        total = sum((p.weight for p in statement.parts), Decimal(0))
        console.print(
            f"score = {show_number(statement.scale)} × ({terms}) ÷ {show_number(total)} = [bold]{statement.score:.2f}[/bold]"
        )
    elif statement.targets_known:
        console.print(f"score = {statement.score:.2f} (the program has no scoring section)")
    else:
        console.print(f"score = {statement.score:.2f}; its targets were not recorded")
    console.print(f"tier: [bold]{escape(statement.tier_shown)}[/bold]: {escape(statement.reason)}")
    left = statement.left_text()
    if left is not None:
        console.print(left)
    if statement.benefits:
        console.print(f"{escape(statement.assigned)} brings: {escape('; '.join(statement.benefits))}")
    if statement.goals is None:
        console.print("what the next tier needs: not recorded")
    for goal in statement.goals or ():
        console.print(f"[bold]{escape(goal.heading())}[/bold]")
        for need, met in goal.needs():
            console.print(f"  {'✓' if met else '-'} {escape(need)}")
        added = goal.added_benefits(statement.benefits)
        if added:
            console.print(f"  {escape(goal.tier)} adds: {escape('; '.join(added))}")
    if statement.top_tier:
        console.print(f"{escape(statement.assigned)} is the program's highest tier.")

    table = Table(title="Payout lines")
    for column, justify in (("Kind", "left"), ("Deal", "left"), ("Amount", "right"), ("Explanation", "left")):
        table.add_column(column, justify=justify, no_wrap=column == "Amount")  # type: ignore[arg-type]
    for line in (ln for group in statement.groups for ln in group.lines):
        table.add_row(
            escape(line.kind + (" (withheld)" if line.withheld else "")),
            escape(line.deal_id or ""),
            format_money(line.amount),
            escape("; ".join((line.explanation, *internal_notes(line.tags)))),
        )
    if table.row_count:
        print_table(console, table)
    else:
        console.print("no payout lines this period")
    adj = statement.adjustments
    split = (
        f" ({show(adj.capped_subtotal)} subject to the cap, {show(adj.outside_caps)} outside it)"
        if adj.outside_caps
        else ""
    )
    console.print(f"subtotal before the cap and budget: {show(adj.subtotal)}{split}")
    console.print(f"cap: {adj.cap_text()}" + (f": {show(adj.cap)}" if adj.cap is not None else ""))
    console.print(
        f"budget: {adj.budget_text()}" + (f": {show(adj.budget)}" if adj.budget is not None else "")
    )
    console.print(f"period earnings (MDF left out): [bold]{show(statement.earnings)}{unit}[/bold]")

    shown: set[str] = set()
    for section in statement.sections:
        shown.update(section.kinds)
        if not section.rows and not section.pending and not statement.lines_of(section.kinds):
            continue
        if section.rows:
            table = Table(title=section.title)
            for i, column in enumerate(section.columns):
                # a column of single words (amounts, dates, ids) is figures, never cut; text wraps
                words = all(len(row[i].split()) <= 1 for row in section.rows if i < len(row))
                table.add_column(escape(column), no_wrap=words)
            for row in section.rows:
                table.add_row(*(escape(cell) for cell in row))
            print_table(console, table)
        for item in section.pending:
            amount = f" {show(item.amount)}" if item.amount is not None else ""
            console.print(f"{escape(item.label)} pending{amount}: {escape(item.text)}")
        if section.summary:
            console.print(escape(section.summary))
    for group in statement.other_groups:
        if group.kind not in shown:
            total = sum((ln.amount for ln in group.lines), ZERO)
            console.print(f"{escape(group.title)}: {show(total)}{unit} paid this period")
