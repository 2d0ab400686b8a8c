"""Milestones: ``first_win`` once ever, in the period of the partner's first won deal (a deal won in a
period before the partner joined is none: it was not in the program then); ``activities``
each period in which the partner's activities of a type add up to a count. None after ``exit_on``.

A first win paid on a deal counts for whoever holds the deal: after an undone merge, a first win one of
the two partners was paid on a deal the other holds now is that one's first win paid too (the first win
was paid on that deal; the deal's payment history goes with it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_cents, show, show_number
from cosell.periods import days_after
from cosell.program import Milestone
from cosell.records import Deal
from cosell.results import LineKind, PayoutLine

KIND = "milestone"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Milestones"),)


def milestone_tag(name: str) -> str:
    return f"milestone:{name}"


@hookimpl(tryfirst=True)
def cosell_payout_lines(partner: PartnerFacts, context: RunContext) -> Iterable[PayoutLine]:
    payouts = context.program.payouts
    if payouts is None or not payouts.milestones:
        return ()
    period = context.period
    exit_on = partner.partner.exit_on if partner.partner.status != "active" else None
    last_day = min(period.end, exit_on) if exit_on is not None else period.end
    if last_day < period.start:
        return ()
    lines = []
    for milestone in payouts.milestones:
        if milestone.kind == "first_win":
            line = _first_win(partner, milestone, context, last_day)
        else:
            line = _activities(partner, milestone, period.start, last_day)
        if line is not None:
            lines.append(line)
    return lines


def _first_win(
    partner: PartnerFacts, milestone: Milestone, context: RunContext, last_day: date
) -> PayoutLine | None:
    tag = milestone_tag(milestone.name)
    earlier = context.history.lines_of(partner.id, kinds=(KIND,))
    if any(tag in ln.tags or ln.deal_id is not None for ln in earlier):
        return None  # paid before: its line names the deal it was won with, whatever the milestone's name
    window = context.program.clawback_window_days
    won = [
        (pd.deal.closed_on, pd.deal.id)
        for pd in partner.deals
        if pd.deal.status == "won"
        and pd.deal.closed_on
        and not _refunded_within(pd.deal, window, context.period.end)
        # a deal won in a period before the partner joined is no win in the program
        and context.in_program_on(partner.partner, pd.deal.closed_on)
    ]
    if not won:
        return None
    first_on, first_id = min(won)
    assert first_on is not None
    if context.history.lines_of(partner.id, kinds=(KIND,), deal_ids={pd.deal.id for pd in partner.deals}):
        # A first win paid on a deal the partner holds: its own lines on it were looked at above, so this is
        # the other partner of an undone merge, paid on a deal that has moved since (see cosell.merges)
        return None
    late = ""
    if not (context.period.start <= first_on <= last_day):
        # A first win inside a closed period that never paid it (the deal entered late) is paid now
        held = context.closed_period_holding(first_on)
        if held is None:
            return None
        late = f", in closed period {held}, not paid before"
    amount = round_cents(milestone.amount)
    text = (
        f"milestone {milestone.name}: the partner's first won deal, {first_id} on {first_on}{late}, "
        f"{show(amount)}"
    )
    return PayoutLine(partner.id, KIND, amount, text, first_id, tags=frozenset({tag}))


def _refunded_within(deal: Deal, window: int | None, as_of: date) -> bool:
    """A win refunded inside the clawback window, by the end of the period being run, is no win for the
    first-win milestone (when the program claws back at all: without a window a refund changes nothing)."""
    if window is None or deal.refunded_on is None or deal.closed_on is None or deal.refunded_on > as_of:
        return False
    return deal.refunded_on <= days_after(deal.closed_on, window)


def _activities(
    partner: PartnerFacts, milestone: Milestone, start: date, last_day: date
) -> PayoutLine | None:
    assert milestone.type is not None and milestone.count is not None
    total = sum(
        (
            a.quantity
            for a in partner.activities
            if a.type == milestone.type and start <= a.occurred_on <= last_day
        ),
        Decimal(0),
    )
    if total < milestone.count:
        return None
    amount = round_cents(milestone.amount)
    text = (
        f"milestone {milestone.name}: {show_number(total)} {milestone.type} activities this period, "
        f"at least {show_number(milestone.count)}, {show(amount)}"
    )
    return PayoutLine(partner.id, KIND, amount, text, tags=frozenset({milestone_tag(milestone.name)}))
