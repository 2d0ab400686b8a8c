"""The six SPEC metrics, computed per partner over the period's dates in one pass over its deals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import EXACT, exact_sum
from cosell.report import ReportFacts
from cosell.results import MetricDefinition, PartnerStanding

SOURCED_PIPELINE = "sourced_pipeline"
QUALIFIED_OPPORTUNITIES = "qualified_opportunities"
WON_REVENUE = "won_revenue"
WIN_RATE = "win_rate"
JOINT_ACTIVITIES = "joint_activities"
DEAL_VELOCITY_DAYS = "deal_velocity_days"

DEFINITIONS = (
    MetricDefinition(
        SOURCED_PIPELINE,
        "Σ amount × share of deals created in the period that the partner sourced",
        money=True,
    ),
    MetricDefinition(QUALIFIED_OPPORTUNITIES, "deals created in the period in a qualified stage or won"),
    MetricDefinition(WON_REVENUE, "Σ amount × share of deals won in the period, any role", money=True),
    MetricDefinition(WIN_RATE, "won ÷ (won + lost) of deals closed in the period; 0 when none closed"),
    MetricDefinition(JOINT_ACTIVITIES, "Σ quantity × weight of the partner's activities in the period"),
    MetricDefinition(DEAL_VELOCITY_DAYS, "median days from created to closed of deals won in the period"),
)
ZERO = Decimal(0)


@hookimpl(tryfirst=True)
def cosell_metric_definitions() -> Iterable[MetricDefinition]:
    return DEFINITIONS


@hookimpl(tryfirst=True)
def cosell_metrics(partner: PartnerFacts, context: RunContext) -> Mapping[str, Decimal | None]:
    start, end = context.period.start, context.period.end
    qualified_stages = frozenset(context.program.qualified_stages)
    # Added exactly and rounded once at the end: the same deals in another order give the same sums
    # (cosell.money.exact_sum).
    add = EXACT.add
    sourced = won_revenue = ZERO
    qualified = won = lost = 0
    days_to_win: list[int] = []
    for involvement in partner.deals:
        deal = involvement.deal
        if start <= deal.created_on <= end:
            if involvement.role == "sourced":
                sourced = add(sourced, deal.amount * involvement.share)
            if deal.status == "won" or deal.stage in qualified_stages:
                qualified += 1
        closed = deal.closed_on
        if closed is not None and start <= closed <= end:
            if deal.status == "won":
                won += 1
                won_revenue = add(won_revenue, deal.amount * involvement.share)
                days_to_win.append((closed - deal.created_on).days)
            elif deal.status == "lost":
                lost += 1
    weights = context.program.activity_weights
    activities = exact_sum(
        a.quantity * weights.get(a.type, Decimal(1))
        for a in partner.activities
        if start <= a.occurred_on <= end
    )
    return {
        SOURCED_PIPELINE: +sourced,
        QUALIFIED_OPPORTUNITIES: Decimal(qualified),
        WON_REVENUE: +won_revenue,
        WIN_RATE: Decimal(won) / Decimal(won + lost) if won + lost else ZERO,
        JOINT_ACTIVITIES: activities,
        DEAL_VELOCITY_DAYS: median(days_to_win),
    }


def median(values: list[int]) -> Decimal | None:
    """The middle value, or the mean of the middle two; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[mid])
    return (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2


@hookimpl(tryfirst=True)
def cosell_report_facts(partner: PartnerFacts, standing: PartnerStanding, context: RunContext) -> ReportFacts:
    """Won revenue and gross margin (where the deal's margin is known), sourced pipeline, deals won and
    lost, days to win, and attainment of the tier's quota, over the period's dates as the metrics."""
    start, end = context.period.start, context.period.end
    won = lost = 0
    revenue = margin = margin_known = ZERO
    add = EXACT.add  # the sums rounded once, below: the same in any order of the deals
    days: list[int] = []
    for involvement in partner.deals:
        deal = involvement.deal
        closed = deal.closed_on
        if closed is None or not start <= closed <= end:
            continue
        if deal.status == "won":
            won += 1
            part = deal.amount * involvement.share
            revenue = add(revenue, part)
            days.append((closed - deal.created_on).days)
            if deal.margin_pct is not None:
                margin_known = add(margin_known, part)
                margin = add(margin, part * deal.margin_pct / 100)
        elif deal.status == "lost":
            lost += 1
    revenue, margin, margin_known = +revenue, +margin, +margin_known
    tier = context.program.tier(standing.tier.assigned)
    quota = tier.quota if tier is not None else ZERO
    return ReportFacts(
        won_revenue=revenue,
        won_margin=margin,
        margin_known_revenue=margin_known,
        sourced_pipeline=standing.metrics.get(SOURCED_PIPELINE),
        won_deals=won,
        lost_deals=lost,
        days_to_win=tuple(days),
        attainment=revenue / quota if quota > 0 else None,
    )
