"""Market-development funds tied to outcomes.

Claims approved in the period are funded in order of (``approved_on``, ``id``) up to the tier's
``mdf_budget`` for the period (the last one possibly in part). ``release_on_approval`` of the funded
amount is paid in the approval period; the rest in the first period by whose end the partner's deals
with the claim's campaign, created on or after ``approved_on`` (any status), add up (Σ amount × share)
to ``release_pipeline_multiple`` × the funded amount. An exiting partner's unreleased MDF is paid in
the period that holds ``exit_on``. MDF lines are outside caps and period earnings.

The funded amount of each claim is kept in the tags of its approval line, so a release periods later
reads what was funded then, not what today's tier would fund.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_cents, show, show_number
from cosell.results import LineKind, PartnerStanding, PayoutLine

KIND = "mdf"
APPROVAL, RELEASE = "approval", "release"
ZERO = Decimal(0)


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Market-development funds", capped=False, in_budget=False, period_earnings=False),)


def claim_tag(claim_id: str) -> str:
    return f"mdf_claim:{claim_id}"


def stage_tag(stage: str) -> str:
    return f"mdf_stage:{stage}"


def funded_tag(amount: Decimal) -> str:
    return f"mdf_funded:{amount}"


def _tag_value(tags: frozenset[str], prefix: str) -> str | None:
    return next((t.split(":", 1)[1] for t in tags if t.startswith(prefix + ":")), None)


@hookimpl(tryfirst=True)
def cosell_payout_lines(
    partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> Iterable[PayoutLine]:
    program = context.program
    if program.mdf is None:
        return ()
    period = context.period
    release_share = program.mdf.release_on_approval
    multiple = program.mdf.release_pipeline_multiple
    tier = program.tier(standing.tier.assigned) or program.tiers[0]
    exit_on = partner.partner.exit_on if partner.partner.status != "active" else None
    exiting_now = exit_on is not None and exit_on in period
    lines: list[PayoutLine] = []

    # Fund this period's approvals, in order, up to the tier's budget.
    room = tier.mdf_budget
    approved = sorted(
        (
            c
            for c in partner.mdf_claims
            if c.is_approved and c.approved_on is not None and c.approved_on in period
        ),
        key=lambda c: (c.approved_on, c.id),
    )
    pending: list[
        tuple[str, str, date, Decimal, Decimal]
    ] = []  # claim id, campaign, approved_on, funded, paid
    for claim in approved:
        assert claim.approved_on is not None
        funded = round_cents(min(claim.amount, room))
        room -= funded
        if funded <= 0:
            lines.append(
                PayoutLine(
                    partner.id, KIND, ZERO,
                    f"MDF claim {claim.id} ({claim.campaign}) approved {claim.approved_on}: not funded, the {tier.name} "
                    f"MDF budget of {show(tier.mdf_budget)} for the period is spent",
                    withheld=True, uncapped=True, tags=_approval_tags(claim.id, claim.campaign, claim.approved_on, ZERO),
                )
            )  # fmt: skip
            continue
        part = round_cents(funded * release_share)
        in_part = (
            ""
            if funded == claim.amount
            else f" (of {show(claim.amount)} claimed; the {tier.name} budget is {show(tier.mdf_budget)})"
        )
        lines.append(
            PayoutLine(
                partner.id, KIND, part,
                f"MDF claim {claim.id} ({claim.campaign}) approved {claim.approved_on}: funded {show(funded)}{in_part}; "
                f"{show_number(release_share * 100)}% paid on approval = {show(part)}",
                uncapped=True, tags=_approval_tags(claim.id, claim.campaign, claim.approved_on, funded),
            )
        )  # fmt: skip
        pending.append((claim.id, claim.campaign, claim.approved_on, funded, part))

    # Earlier approvals not yet released, as the ledger recorded them when they were funded.
    earlier = context.history.lines_of(partner.id)
    released = {_tag_value(ln.tags, "mdf_claim") for ln in earlier if stage_tag(RELEASE) in ln.tags}
    for ln in earlier:
        if ln.kind != KIND or stage_tag(APPROVAL) not in ln.tags:
            continue
        claim_id = _tag_value(ln.tags, "mdf_claim")
        funded = Decimal(_tag_value(ln.tags, "mdf_funded") or "0")
        approved_text = _tag_value(ln.tags, "mdf_approved")
        if claim_id and approved_text and claim_id not in released and funded > 0:
            campaign = _tag_value(ln.tags, "mdf_campaign") or ""
            pending.append((claim_id, campaign, date.fromisoformat(approved_text), funded, ln.amount))

    for claim_id, campaign, approved_on, funded, paid in pending:
        rest = funded - paid
        if rest <= 0:
            continue
        pipeline = sum(
            (pd.deal.amount * pd.share for pd in partner.deals
             if pd.deal.campaign == campaign and approved_on <= pd.deal.created_on <= period.end),
            ZERO,
        )  # fmt: skip
        needed = multiple * funded
        tags = frozenset({claim_tag(claim_id), stage_tag(RELEASE)})
        if pipeline >= needed:
            text = (
                f"MDF claim {claim_id} ({campaign}): campaign pipeline since {approved_on} is {show(pipeline)}, at least "
                f"{show_number(multiple)} × funded {show(funded)} = {show(needed)}: the remaining {show(rest)} is released"
            )
            lines.append(PayoutLine(partner.id, KIND, rest, text, uncapped=True, tags=tags))
        elif exiting_now:
            text = (
                f"MDF claim {claim_id} ({campaign}): the partner exits on {exit_on}, so the unreleased {show(rest)} "
                f"is paid now (campaign pipeline {show(pipeline)} of the {show(needed)} needed)"
            )
            lines.append(PayoutLine(partner.id, KIND, rest, text, uncapped=True, tags=tags))
    return lines


def _approval_tags(claim_id: str, campaign: str, approved_on: date, funded: Decimal) -> frozenset[str]:
    return frozenset(
        {
            claim_tag(claim_id),
            stage_tag(APPROVAL),
            funded_tag(funded),
            f"mdf_campaign:{campaign}",
            f"mdf_approved:{approved_on.isoformat()}",
        }
    )
