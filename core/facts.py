"""From the records a connector read to each partner's facts: amounts converted into the program
currency, involvements merged and shares resolved, records grouped per partner."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from decimal import Decimal
from typing import Any

from .context import PartnerDeal, PartnerFacts
from .errors import InputError, Problem
from .money import show, show_number
from .program import Program
from .records import MAX_AMOUNT, ROLES, Deal, MdfClaim, RecordSet, Role

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")


# --- convert ---------------------------------------------------------------------------------------


def convert(records: RecordSet, program: Program) -> RecordSet:
    """Amounts into the program currency with the program's fx table; a missing rate is an input error."""
    problems: list[Problem] = []
    deals = []
    rates: dict[str, Decimal | None] = {}
    for deal in records.deals:
        currency = deal.currency
        rate = rates[currency] if currency in rates else rates.setdefault(currency, program.fx_rate(currency))
        if rate is None:
            problems.append(
                Problem(
                    f"deal {deal.id}",
                    f"currency: no exchange rate for {deal.currency} in the program's fx table",
                )
            )
        elif rate != 1:
            deal = _with_amount(deal, deal.amount * rate)
            if deal.amount > MAX_AMOUNT:
                problems.append(_too_large(f"deal {deal.id}", deal.amount, program.currency))
        deals.append(deal)
    claims: list[MdfClaim] = []
    for claim in records.mdf_claims:
        rate = program.fx_rate(claim.currency or program.currency)
        if rate is None:
            problems.append(
                Problem(
                    f"MDF claim {claim.id}",
                    f"currency: no exchange rate for {claim.currency} in the program's fx table",
                )
            )
        elif rate != 1:
            claim = dataclasses.replace(claim, amount=claim.amount * rate)
            if claim.amount > MAX_AMOUNT:
                problems.append(_too_large(f"MDF claim {claim.id}", claim.amount, program.currency))
        claims.append(claim)
    if problems:
        raise InputError(problems)
    return RecordSet(records.partners, tuple(deals), records.activities, tuple(claims), records.merges)


def _too_large(where: str, amount: Decimal, currency: str) -> Problem:
    return Problem(
        where, f"amount: {show(amount)} {currency} after conversion is too large: at most {MAX_AMOUNT:,}"
    )


def _with_amount(d: Deal, amount: Decimal) -> Deal:
    # Positional construction: several times faster than dataclasses.replace on a million deals.
    return Deal(
        d.id,
        d.name,
        amount,
        d.currency,
        d.stage,
        d.status,
        d.created_on,
        d.closed_on,
        d.discount_pct,
        d.margin_pct,
        d.campaign,
        d.refunded_on,
        d.partners,
    )


def resolve_involvements(deal: Deal) -> list[tuple[str, Role, Decimal]]:
    """One involvement per partner (the first role in the order sourced, cosell, influenced), and the
    shares resolved: partners with no share split what the given shares leave, equally."""
    involved = deal.partners
    # The common cases, kept fast (a million deals pass here): one partner, or two distinct partners
    # with at most one share given.
    if len(involved) == 1:
        only = involved[0]
        return [(only.partner_id, only.role, ONE if only.share is None else only.share)]
    if len(involved) == 2:
        first, second = involved
        if first.partner_id != second.partner_id and (first.share is None or second.share is None):
            given = second.share if first.share is None else first.share
            if given is None:
                return [(first.partner_id, first.role, HALF), (second.partner_id, second.role, HALF)]
            rest = ONE - given  # given ≤ 1: a share is validated to 0–1
            a, b = (rest, given) if first.share is None else (given, rest)
            return [(first.partner_id, first.role, a), (second.partner_id, second.role, b)]
    merged: dict[str, list[Any]] = {}
    for inv in involved:
        seen = merged.get(inv.partner_id)
        if seen is None:
            merged[inv.partner_id] = [inv.role, inv.share]
        else:
            if inv.share != seen[1]:
                # One partner, one share: two different ones (or a share and none) cannot both hold.
                shares = " and ".join("none" if x is None else show_number(x) for x in (seen[1], inv.share))
                message = (
                    f"partners: partner {inv.partner_id} is named twice with different shares ({shares})"
                )
                raise InputError([Problem(f"deal {deal.id}", message)])
            if ROLES.index(inv.role) < ROLES.index(seen[0]):
                seen[0] = inv.role
    given = sum((s for _, s in merged.values() if s is not None), ZERO)
    if given > 1:
        raise InputError([Problem(f"deal {deal.id}", f"partners: shares add up to {given}, more than 1")])
    open_count = sum(1 for _, s in merged.values() if s is None)
    rest = (ONE - given) / open_count if open_count else ZERO
    return [(pid, role, rest if share is None else share) for pid, (role, share) in merged.items()]


def group_by_partner(records: RecordSet) -> tuple[PartnerFacts, ...]:
    """Each partner with every record that involves it, partners in id order. Involvements of ids that
    are not partners of the program are ignored (a CRM account not flagged as a partner, say)."""
    deals: dict[str, list[PartnerDeal]] = defaultdict(list)
    problems: list[Problem] = []
    for deal in records.deals:
        try:
            resolved = resolve_involvements(deal)
        except InputError as err:
            problems.extend(err.problems)
            continue
        for pid, role, share in resolved:
            deals[pid].append(PartnerDeal(deal, role, share))
    if problems:
        raise InputError(problems)
    activities = defaultdict(list)
    for activity in records.activities:
        activities[activity.partner_id].append(activity)
    claims = defaultdict(list)
    for claim in records.mdf_claims:
        claims[claim.partner_id].append(claim)
    partners = sorted(records.partners, key=lambda p: p.id)
    return tuple(
        PartnerFacts(
            p, tuple(deals.get(p.id, ())), tuple(activities.get(p.id, ())), tuple(claims.get(p.id, ()))
        )
        for p in partners
    )
