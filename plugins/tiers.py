"""The tier: highest eligible by score and ``requires``; promotion at once, demotion after a grace."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import show_number
from cosell.program import Program, Tier, crm_tier_name
from cosell.results import Score, TierDecision, TierRecord


def eligible_tier(program: Program, score: Decimal, metrics: Mapping[str, Decimal | None]) -> Tier:
    """The highest tier whose min_score the score reaches and whose every requirement is met."""
    chosen = program.tiers[0]
    for tier in program.tiers:
        if score >= tier.min_score and all(
            (value := metrics.get(name)) is not None and value >= needed
            for name, needed in tier.requires.items()
        ):
            chosen = tier
    return chosen


def readable(value: Decimal) -> str:
    """A metric value for a sentence: thousands separated, at most two decimals (174,960 or 0.47)."""
    if value == value.to_integral_value():
        return f"{value.to_integral_value():,f}"
    return f"{value.quantize(Decimal('0.01')):,f}"


def unmet_requirements(tier: Tier, metrics: Mapping[str, Decimal | None]) -> list[str]:
    out = []
    for name, needed in tier.requires.items():
        value = metrics.get(name)
        if value is None:
            out.append(f"{name} undefined < {readable(needed)}")
        elif value < needed:
            out.append(f"{name} {' < '.join(short_of(value, needed))}")
    return out


def short_of(value: Decimal, needed: Decimal) -> tuple[str, str]:
    """A value below what is needed and the need, as a sentence shows them: :func:`readable`, unless
    rounding would make the value read as reaching it (249,999.9984 is not "250,000.00"); then exact."""
    shown, need = readable(value), readable(needed)
    if Decimal(shown.replace(",", "")) < Decimal(need.replace(",", "")):
        return shown, need
    return f"{value.normalize():,f}", f"{needed.normalize():,f}"


_GRACE_LOOKBACK = 2
"""The latest tier records a demotion looks at first are the grace plus these: more are read only while
every one of them was below the tier held."""


@hookimpl(tryfirst=True)
def cosell_tier(
    partner: PartnerFacts, score: Score, metrics: Mapping[str, Decimal | None], context: RunContext
) -> TierDecision:
    """The tier the rules decide; the run then lifts it by any approved tier exception in force
    (``cosell.tier_exceptions.held_by_exception``), as it does whichever plugin decides the tier."""
    return earned_tier(partner, score, metrics, context)


def earned_tier(
    partner: PartnerFacts, score: Score, metrics: Mapping[str, Decimal | None], context: RunContext
) -> TierDecision:
    """The tier by the rules alone: eligible by score and requirements, promotion at once, demotion
    after the grace, counted from the tier the partner held (by exception or not)."""
    program = context.program
    eligible = eligible_tier(program, score.value, metrics)
    # The records a demotion looks back at, asked once (one read of the ledger for every partner, not
    # one for the tier held and another for the grace): the last of them is the tier held.
    recent = context.history.last_tiers(partner.id, _GRACE_LOOKBACK + program.demotion_grace_periods)
    last = recent[-1:]
    if last:
        current, source = last[-1].assigned, f"tier of {last[-1].period}"
    elif (shown := crm_tier_name(program, partner.partner.crm_tier)) is not None:
        current, source = shown, "tier the CRM showed before cosell"
    else:
        current, source = program.tiers[0].name, "lowest tier"
    new = source == "lowest tier"  # no tier in the ledger or the CRM: it held none before this period
    if program.tier(current) is None:  # a tier since renamed or removed: start from the lowest
        current, source = program.tiers[0].name, "lowest tier"
    previous = None if new else current
    why = _why_eligible(program, eligible, score.value, metrics)
    left = partner.partner.exit_on if partner.partner.left_by(context.period.end) else None
    # A partner that has left keeps the tier assigned below for its wind-down (its commission rate), but
    # holds none any more: its tier reads "Exited (was Silver)" wherever the reason is shown, and the
    # reason says why (it left, and when), without repeating that label.
    gone = f"left the program on {left}"
    if left is not None and program.tier_rank(eligible.name) > program.tier_rank(current):
        # tiers are earned for the time ahead: a partner that has left the program is never promoted
        reason = f"{why}; {gone}: no promotion from {current}, the {source}"
        return TierDecision(current, current, previous, 0, reason)
    if program.tier_rank(eligible.name) >= program.tier_rank(current):
        if left is not None:
            reason = f"{why}; {gone}"
        elif new:
            reason = f"{why}; starts at {eligible.name} (no earlier tier)"
        else:
            verb = "promoted to" if eligible.name != current else "stays"
            reason = f"{why}; {verb} {eligible.name}" + (
                "" if eligible.name == current else f" (from {current}, {source})"
            )
        return TierDecision(eligible.name, eligible.name, previous, 0, reason)
    below = 1 + _periods_below_before(context, partner.id, recent)
    grace = program.demotion_grace_periods
    if below > grace:
        reason = (
            f"{why}; below {current} for {below} consecutive period(s), more than the grace of {grace}: "
            f"drops to {eligible.name}"
        )
        if left is not None:
            reason += f"; {gone}"
        return TierDecision(eligible.name, eligible.name, previous, below, reason)
    reason = f"{why}; keeps {current} ({source}): below it for {below} of {grace} grace period(s)"
    if left is not None:
        reason += f"; {gone}"
    return TierDecision(eligible.name, current, previous, below, reason)


def _periods_below_before(context: RunContext, partner_id: str, records: tuple[TierRecord, ...]) -> int:
    """Consecutive earlier periods, back from the one just before this, whose eligible tier was below
    the tier the partner held then; ``records`` are the partner's latest ``last_tiers`` of the grace plus
    ``_GRACE_LOOKBACK``."""
    program = context.program
    n = program.demotion_grace_periods + _GRACE_LOOKBACK
    while True:
        expected = context.period.previous()
        count = 0
        for record in reversed(records):
            if record.period != expected.key:
                return count
            if program.tier_rank(record.eligible) >= program.tier_rank(record.assigned):
                return count
            count += 1
            expected = expected.previous()
        if len(records) < n:
            return count
        n *= 2
        records = context.history.last_tiers(partner_id, n)


def _why_eligible(program: Program, tier: Tier, score: Decimal, metrics: Mapping[str, Decimal | None]) -> str:
    unmet = unmet_requirements(tier, metrics)
    if score < tier.min_score or unmet:
        # only the lowest tier is chosen without being reached: every partner holds at least it
        short = [f"min {show_number(tier.min_score)}"] if score < tier.min_score else []
        return (
            f"score {score:.2f} reaches no tier ({tier.name}, the lowest, needs {', '.join(short + unmet)}): "
            f"eligible for {tier.name}, the lowest tier, all the same"
        )
    text = f"score {score:.2f} makes it eligible for {tier.name} (min {show_number(tier.min_score)})"
    above = program.tiers[program.tier_rank(tier.name) + 1 :]
    for higher in above:
        if score >= higher.min_score:
            unmet = unmet_requirements(higher, metrics)
            if unmet:
                text += f"; {higher.name} needs {', '.join(unmet)}"
            break
    return text
