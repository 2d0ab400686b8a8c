"""Market-development funds tied to outcomes.

Claims approved in the period are funded in order of (``approved_on``, ``id``) up to the tier's
``mdf_budget`` for the period (the last one possibly in part). ``release_on_approval`` of the funded
amount is paid in the approval period; the rest in the first period by whose end the partner's deals
with the claim's campaign, created on or after ``approved_on`` (any status), add up (Σ amount × share)
to ``release_pipeline_multiple`` × the funded amount. An exiting partner's unreleased MDF is paid in
the period that holds ``exit_on`` (an exit entered after that period was run: in the period being run).
MDF lines are outside caps and period earnings. A claim is funded once: one the ledger funded before is
not funded again when its ``approved_on`` moves. A claim approved inside a closed period that the ledger
never saw (entered after the close) is funded in the period being run, from what the budget of the tier
held in that period left unfunded.

The funded amount of each claim is kept in the tags of its approval line, so a release periods later
reads what was funded then, not what today's tier would fund.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import exact_sum, floor_cents, round_cents, show, show_number
from cosell.periods import Period
from cosell.program import Tier
from cosell.records import MdfClaim
from cosell.report import CampaignFunds, ReportFacts
from cosell.results import EarlierLines, LedgerLine, LineKind, PartnerStanding, PayoutLine
from cosell.settlement import OWED, PROJECTED, SettlementItem, SettlementPart
from cosell.statements import SectionRow, StatementLine, StatementSection

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
    lines: list[PayoutLine] = []
    pending: list[
        tuple[str, str, date, Decimal, Decimal]
    ] = []  # claim id, campaign, approved_on, funded, paid
    # Earlier approvals as the ledger recorded them when they were funded (a claim is funded once: one
    # whose approved_on has moved into this period since is not funded again).
    earlier = [ln for ln in context.history.tagged_lines(partner.id, stage_tag(APPROVAL)) if ln.kind == KIND]
    funded_before = {
        _tag_value(ln.tags, "mdf_claim")
        for ln in earlier
        if Decimal(_tag_value(ln.tags, "mdf_funded") or "0") > 0
    }

    # Claims approved inside a closed period that the ledger never saw (entered after the close): funded
    # once, now, from what that period's tier budget left; a claim it funded or refused there is untouched.
    for claim, closed_key, then, room_then in _late_claims(partner, context, earlier, tier):
        line = _late_approval(partner.id, claim, closed_key, then, room_then, release_share)
        lines.append(line)
        funded = Decimal(_tag_value(line.tags, "mdf_funded") or "0")
        if funded > 0:
            assert claim.approved_on is not None
            pending.append((claim.id, claim.campaign, claim.approved_on, funded, line.amount))

    # Fund this period's approvals, in order, up to the tier's budget (a budget with a fraction of a
    # cent funds up to the cent below it).
    room = tier.mdf_budget
    approved = sorted(
        (
            c
            for c in partner.mdf_claims
            if c.is_approved
            and c.approved_on is not None
            and c.approved_on in period
            and c.id not in funded_before
        ),
        key=lambda c: (c.approved_on, c.id),
    )
    for claim in approved:
        assert claim.approved_on is not None
        funded = min(round_cents(claim.amount), floor_cents(room))
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

    # Earlier approvals not yet released.
    released = {
        _tag_value(ln.tags, "mdf_claim")
        for ln in context.history.tagged_lines(partner.id, stage_tag(RELEASE))
    }
    for ln in earlier:
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
        pipeline = exact_sum(
            pd.deal.amount * pd.share for pd in partner.deals
            if pd.deal.campaign == campaign and approved_on <= pd.deal.created_on <= period.end
        )  # fmt: skip
        needed = multiple * funded
        tags = frozenset({claim_tag(claim_id), stage_tag(RELEASE)})
        if pipeline >= needed:
            text = (
                f"MDF claim {claim_id} ({campaign}): campaign pipeline since {approved_on} is {show(pipeline)}, at least "
                f"{show_number(multiple)} × funded {show(funded)} = {show(needed)}: the remaining {show(rest)} is released"
            )
            lines.append(PayoutLine(partner.id, KIND, rest, text, uncapped=True, tags=tags))
        elif exit_on is not None and exit_on <= period.end and (exit_on in period or approved_on <= exit_on):
            # Paid in the period of the exit; an exit entered after that period was run, in this one.
            exits = "exits" if exit_on in period else "exited"
            text = (
                f"MDF claim {claim_id} ({campaign}): the partner {exits} on {exit_on}, so the unreleased {show(rest)} "
                f"is paid now (campaign pipeline {show(pipeline)} of the {show(needed)} needed)"
            )
            lines.append(PayoutLine(partner.id, KIND, rest, text, uncapped=True, tags=tags))
    return lines


def _late_claims(
    partner: PartnerFacts, context: RunContext, earlier: Sequence[LedgerLine], tier: Tier
) -> list[tuple[MdfClaim, str, Tier, Decimal]]:
    """The approved claims of closed periods with no approval line in the ledger, in order of
    (``approved_on``, ``id``), each with its closed period, the tier the partner held then (the tier held
    now when the ledger has no record of it then) and that tier's budget the period left unfunded, as
    the approval lines of the claims approved in it record, those funded late included (each claim
    funded here takes its share before the next one is offered the rest)."""
    if not context.history.closed_periods or not partner.mdf_claims:
        return []
    known = {_tag_value(ln.tags, "mdf_claim") for ln in earlier}
    late = sorted(
        (
            (c.approved_on, c.id, c, key)
            for c in partner.mdf_claims
            if c.is_approved
            and c.approved_on is not None
            and c.id not in known
            and (key := context.closed_period_holding(c.approved_on)) is not None
            and context.in_program_on(partner.partner, c.approved_on)  # not approved before it joined
        ),
        key=lambda found: (found[0], found[1]),
    )
    if not late:
        return []
    kind = context.period.kind
    program = context.program
    held = {record.period: record.assigned for record in context.history.tiers_of(partner.id)}
    rooms: dict[str, Decimal] = {}
    out = []
    for _, _, claim, key in late:
        then = program.tier(held[key]) if key in held else None
        then = then or tier
        if key not in rooms:
            used = exact_sum(
                Decimal(_tag_value(ln.tags, "mdf_funded") or "0")
                for ln in earlier
                if (approved := _tag_value(ln.tags, "mdf_approved")) is not None
                and Period.containing(date.fromisoformat(approved), kind).key == key
            )
            rooms[key] = max(then.mdf_budget - used, ZERO)
        room = rooms[key]
        out.append((claim, key, then, room))
        rooms[key] = room - min(round_cents(claim.amount), floor_cents(room))
    return out


def _late_approval(
    partner_id: str, claim: MdfClaim, closed_key: str, tier: Tier, room: Decimal, release_share: Decimal
) -> PayoutLine:
    """The approval line of a claim of closed period ``closed_key`` entered after it was closed."""
    assert claim.approved_on is not None
    what = (
        f"MDF claim {claim.id} ({claim.campaign}) approved {claim.approved_on} in closed period {closed_key}, "
        f"entered late"
    )
    funded = min(round_cents(claim.amount), floor_cents(room))
    if funded <= 0:
        text = f"{what}: not funded, the {tier.name} MDF budget of {show(tier.mdf_budget)} for {closed_key} is spent"
        tags = _approval_tags(claim.id, claim.campaign, claim.approved_on, ZERO)
        return PayoutLine(partner_id, KIND, ZERO, text, withheld=True, uncapped=True, tags=tags)
    part = round_cents(funded * release_share)
    in_part = (
        ""
        if funded == claim.amount
        else f" (of {show(claim.amount)} claimed; the {tier.name} budget left for {closed_key} was {show(room)})"
    )
    text = (
        f"{what}: funded {show(funded)} now{in_part}; "
        f"{show_number(release_share * 100)}% paid on approval = {show(part)}"
    )
    tags = _approval_tags(claim.id, claim.campaign, claim.approved_on, funded)
    return PayoutLine(partner_id, KIND, part, text, uncapped=True, tags=tags)


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


# --- the statement's MDF section, from the lines' tags ------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    """One MDF claim as its lines record it up to the end of the period."""

    claim_id: str
    campaign: str
    approved_on: date | None
    funded: Decimal
    paid_on_approval: Decimal
    released: Decimal
    approved_in_period: bool
    released_in_period: bool
    needed_pipeline: Decimal | None
    """release_pipeline_multiple × funded; None without the program's ``mdf`` section."""
    pipeline: Decimal | None = None
    """The campaign pipeline so far, where the partner's deals are at hand."""

    @property
    def status(self) -> Literal["not funded", "paid on approval", "released", "pending"]:
        if self.funded <= 0:
            return "not funded"
        if self.released:
            return "released"
        return "paid on approval" if self.rest <= 0 else "pending"

    @property
    def rest(self) -> Decimal:
        """What is still to be released (0 once released)."""
        return ZERO if self.released else self.funded - self.paid_on_approval

    def needs(self) -> str:
        """What a pending claim waits for."""
        since = f" created on or after {self.approved_on}" if self.approved_on else ""
        deals = f"deals of campaign {self.campaign}{since}"
        if self.needed_pipeline is None:
            return (
                f"released once the pipeline of {deals} reaches the program's multiple of the funded amount"
            )
        text = f"released once the pipeline of {deals} reaches {show(self.needed_pipeline)}"
        if self.pipeline is not None:
            short = max(self.needed_pipeline - self.pipeline, ZERO)
            text += f" (now {show(self.pipeline)}, {show(short)} to go)"
        return text


@dataclass(frozen=True, slots=True)
class MdfSummary:
    """The period's MDF: paid on approval, released, and what is still pending at its end."""

    lines: tuple[StatementLine, ...]
    claims: tuple[ClaimStatus, ...]

    @property
    def funded(self) -> Decimal:
        """What the claims approved in the period were funded with (up to the tier's MDF budget)."""
        return sum((c.funded for c in self.claims if c.approved_in_period), ZERO)

    @property
    def paid_on_approval(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if stage_tag(APPROVAL) in ln.tags), ZERO)

    @property
    def released(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if stage_tag(APPROVAL) not in ln.tags), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    @property
    def pending(self) -> tuple[ClaimStatus, ...]:
        return tuple(c for c in self.claims if c.status == "pending")

    @property
    def pending_amount(self) -> Decimal:
        return sum((c.rest for c in self.pending), ZERO)


CampaignPipeline = Callable[[str, date], Decimal]
"""(campaign, approved_on) → the partner's campaign pipeline since then, to the period's end."""


def mdf_summary(
    lines: Iterable[StatementLine],
    earlier_lines: Iterable[StatementLine],
    multiple: Decimal | None,
    campaign_pipeline: CampaignPipeline | None = None,
) -> MdfSummary:
    """The period's MDF lines, and every claim approved or released in the period or still pending at
    its end (an approval line in this period or before, and no release line yet)."""
    now = tuple(ln for ln in lines if ln.kind == KIND)
    before = tuple(ln for ln in earlier_lines if ln.kind == KIND)
    approvals: dict[str, tuple[StatementLine, bool]] = {}
    released: dict[str, tuple[Decimal, bool]] = {}
    for in_period, group in ((False, before), (True, now)):
        for ln in group:
            claim = _tag_value(ln.tags, "mdf_claim")
            if claim is None:
                continue
            if stage_tag(APPROVAL) in ln.tags:
                approvals[claim] = (ln, in_period)
            else:
                amount, _ = released.get(claim, (ZERO, False))
                released[claim] = (amount + ln.amount, in_period)
    claims = []
    for claim_id, (approval, approved_now) in approvals.items():
        funded = Decimal(_tag_value(approval.tags, "mdf_funded") or "0")
        amount, released_now = released.get(claim_id, (ZERO, False))
        approved_text = _tag_value(approval.tags, "mdf_approved")
        approved_on = date.fromisoformat(approved_text) if approved_text else None
        campaign = _tag_value(approval.tags, "mdf_campaign") or ""
        status = ClaimStatus(
            claim_id=claim_id,
            campaign=campaign,
            approved_on=approved_on,
            funded=funded,
            paid_on_approval=approval.amount,
            released=amount,
            approved_in_period=approved_now,
            released_in_period=released_now,
            needed_pipeline=None if multiple is None else multiple * funded,
            pipeline=(
                campaign_pipeline(campaign, approved_on)
                if campaign_pipeline is not None and approved_on is not None
                else None
            ),
        )
        if approved_now or released_now or status.status == "pending":
            claims.append(status)
    claims.sort(key=lambda c: (c.approved_on or date.min, c.claim_id))
    return MdfSummary(now, tuple(claims))


def mdf_section(summary: MdfSummary, currency: str) -> StatementSection:
    """The statement section of the period's MDF."""

    def status(c: ClaimStatus) -> str:
        if c.status == "pending":
            return f"pending {show(c.rest)}"
        if c.status == "released" and c.released_in_period:
            return "released this period"
        return c.status

    return StatementSection(
        title="Market-development funds",
        card=SectionRow("MDF paid", summary.paid, f"{show(summary.pending_amount)} pending"),
        totals=(
            SectionRow("Funded this period", summary.funded),
            SectionRow("Paid on approval", summary.paid_on_approval),
            SectionRow("Released", summary.released),
            SectionRow("Paid this period", summary.paid),
            SectionRow("Pending", summary.pending_amount),
        ),
        columns=("Claim", "Campaign", "Approved", "Funded", "On approval", "Released", "Status"),
        rows=tuple(
            (
                c.claim_id,
                c.campaign,
                str(c.approved_on or ""),
                show(c.funded),
                show(c.paid_on_approval),
                show(c.released),
                status(c),
            )
            for c in summary.claims
        ),
        pending=tuple(SectionRow(c.claim_id, c.rest, c.needs()) for c in summary.pending),
        kinds=(KIND,),
        summary=(
            f"MDF: {show(summary.funded)} funded, {show(summary.paid_on_approval)} paid on approval, "
            f"{show(summary.released)} released, {show(summary.pending_amount)} pending; "
            f"{show(summary.paid)} {currency} paid this period"
        ),
        empty="No MDF claim was approved, released or pending this period.",
    )


@hookimpl
def cosell_statement_sections(
    partner: PartnerFacts,
    lines: Sequence[PayoutLine],
    earlier_lines: Sequence[LedgerLine],
    context: RunContext,
) -> Iterable[StatementSection]:
    mdf = context.program.mdf
    multiple = mdf.release_pipeline_multiple if mdf else None
    # Only the MDF lines: the ledger then reads no other kind (``earlier_lines`` reads all when used).
    earlier = earlier_lines.of_kinds((KIND,)) if isinstance(earlier_lines, EarlierLines) else earlier_lines
    summary = mdf_summary(lines, earlier, multiple, _campaign_pipeline(partner, context.period.end))
    if not summary.lines and not summary.claims:
        return (_no_mdf_section(context.program.currency),)
    return (mdf_section(summary, context.program.currency),)


@lru_cache(maxsize=16)
def _no_mdf_section(currency: str) -> StatementSection:
    """The section of a partner with no MDF line and no claim: the same for every such partner of a
    currency (most partners of a run), so made once. A section is immutable: it can be shared."""
    return mdf_section(MdfSummary((), ()), currency)


def _campaign_pipeline(partner: PartnerFacts, end: date) -> CampaignPipeline:
    def campaign_pipeline(campaign: str, since: date) -> Decimal:
        # As the release measures it: Σ amount × share of the campaign's deals created since approval.
        return exact_sum(
            pd.deal.amount * pd.share
            for pd in partner.deals
            if pd.deal.campaign == campaign and since <= pd.deal.created_on <= end
        )

    return campaign_pipeline


@hookimpl(tryfirst=True)
def cosell_settlement(
    partner: PartnerFacts, lines: Sequence[PayoutLine], context: RunContext
) -> SettlementPart | None:
    """Unreleased MDF: owed in the period that holds the exit when that period is still to come (released
    earlier if the campaign pipeline reaches its multiple first); after it, released only by the pipeline."""
    mdf = context.program.mdf
    if mdf is None:
        return None
    period = context.period
    earlier = context.history.lines_of(partner.id, kinds=(KIND,))
    summary = mdf_summary(
        lines, earlier, mdf.release_pipeline_multiple, _campaign_pipeline(partner, period.end)
    )
    exit_on = partner.partner.exit_on
    exit_period = Period.containing(exit_on, period.kind) if exit_on is not None else None
    items = []
    for claim in summary.pending:
        what = f"MDF claim {claim.claim_id} ({claim.campaign}): {show(claim.rest)} of {show(claim.funded)} funded"
        if exit_period is not None and exit_period.start > period.start:
            text = f"{what}, paid in {exit_period.key}, the period of the exit on {exit_on}, or earlier: {claim.needs()}"
            items.append(SettlementItem(OWED, claim.rest, text, due=exit_period.key))
        else:
            text = f"{what}, not owed yet: {claim.needs()}"
            items.append(SettlementItem(PROJECTED, claim.rest, text))
    note = "unreleased MDF is paid in the period that holds the exit"
    return SettlementPart("Market-development funds", tuple(items), note)


@hookimpl
def cosell_report_facts(
    partner: PartnerFacts, lines: Sequence[PayoutLine], context: RunContext
) -> ReportFacts | None:
    """Per campaign: funded by the claims approved in the period, paid in the period, still pending at
    its end, and the pipeline the partner's deals of the campaign brought in the period."""
    if context.program.mdf is None:
        return None
    period = context.period
    earlier = context.history.lines_of(partner.id, kinds=(KIND,))
    if not partner.mdf_claims and not any(ln.kind == KIND for group in (lines, earlier) for ln in group):
        return ReportFacts(campaigns=())  # the common case, kept fast: no claim, no MDF line
    summary = mdf_summary(lines, earlier, context.program.mdf.release_pipeline_multiple)
    campaign_of = {c.claim_id: c.campaign for c in summary.claims}
    figures: dict[str, list[Decimal]] = {}  # campaign → funded, released, pending, pipeline

    def of(campaign: str) -> list[Decimal]:
        return figures.setdefault(campaign, [ZERO, ZERO, ZERO, ZERO])

    for claim in summary.claims:
        if claim.approved_in_period:
            of(claim.campaign)[0] += claim.funded
        if claim.status == "pending":
            of(claim.campaign)[2] += claim.rest
    for ln in summary.lines:
        claim_id = _tag_value(ln.tags, "mdf_claim")
        of(campaign_of.get(claim_id or "", _tag_value(ln.tags, "mdf_campaign") or ""))[1] += ln.amount
    pipelines: dict[str, list[Decimal]] = {}
    for pd in partner.deals:
        campaign = pd.deal.campaign
        if campaign and campaign in figures and pd.deal.created_on in period:
            pipelines.setdefault(campaign, []).append(pd.deal.amount * pd.share)
    for campaign, parts in pipelines.items():
        figures[campaign][3] = exact_sum(parts)
    return ReportFacts(campaigns=tuple(CampaignFunds(c, *v) for c, v in sorted(figures.items())))
