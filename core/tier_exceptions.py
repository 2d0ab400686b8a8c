"""What the run does with the tier decision whichever plugin gave it: approved tier exceptions lift it, and
the tier held before is filled in when the decision leaves it out."""

from __future__ import annotations

import dataclasses

from .context import PartnerFacts, RunContext
from .program import crm_tier_name
from .results import TierDecision


def held_by_exception(decision: TierDecision, partner: PartnerFacts, context: RunContext) -> TierDecision:
    """The decision, lifted to the tier of an approved exception in force when that tier is higher. The
    highest such tier wins (the oldest exception among equals). A partner that has left the program is
    never lifted: an exception keeps a partner in the program's tiers, it does not survive its exit.

    The run applies it to every tier decision, the built-in rule's or a plugin's. Applying it to a decision
    it already gave changes nothing: a lifted tier is then the exception's own, and a note already in the
    reason is not added again."""
    program = context.program
    exceptions = context.history.tier_exceptions_of(partner.id)
    applicable = [e for e in exceptions if program.tier(e.tier) is not None]
    for gone in (e for e in exceptions if program.tier(e.tier) is None):
        decision = _noted(
            decision, f"tier exception {gone.id} names {gone.tier}, which the program does not have"
        )
    if not applicable:
        return decision
    best = max(applicable, key=lambda e: (program.tier_rank(e.tier), -e.id))
    if program.tier_rank(best.tier) <= program.tier_rank(decision.assigned):
        return decision  # earned (or lifted already): no exception needed
    if partner.partner.left_by(context.period.end):
        return _noted(decision, f"tier exception {best.id} ({best.tier}) not applied: the partner has left")
    reason = (
        f"{decision.reason}; held at {best.tier} by tier exception {best.id} until {best.until} "
        f"({' '.join(best.reason.split())}; proposed by {best.proposed_by}, approved by {best.approved_by})"
    )
    return dataclasses.replace(decision, assigned=best.tier, reason=reason, exception=best)


def _noted(decision: TierDecision, note: str) -> TierDecision:
    if f"; {note}" in decision.reason:
        return decision
    return dataclasses.replace(decision, reason=f"{decision.reason}; {note}")


def with_previous(decision: TierDecision, partner: PartnerFacts, context: RunContext) -> TierDecision:
    """The decision with ``previous`` filled in when it leaves it None: the tier the ledger holds for the
    partner's latest earlier period, else the tier the CRM showed before cosell (``crm_tier`` as the first
    stored run read it: a tier of the program), else None."""
    if decision.previous is not None:
        return decision
    last = context.history.last_tiers(partner.id, 1)
    previous = last[-1].assigned if last else crm_tier_name(context.program, partner.partner.crm_tier)
    return decision if previous is None else dataclasses.replace(decision, previous=previous)
