"""Exit settlements as the ledger holds them: what a period's run recorded for a partner exiting or
exited (each rule's part, through ``cosell_settlement``), with the partner's adjustments as the ledger
holds them now. ``cosell settlement`` prints one; the program report sums the settlements of the partners
it lists as exiting, so both say the same amounts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from .errors import ConfigError
from .ledger import Ledger, StoredAdjustment
from .periods import Period
from .settlement import OWED, PAID, PENDING, Settlement, SettlementItem, SettlementPart
from .statements.document import not_in_run
from .statements.facts import decode_partner


def settlement_in(book: Ledger, period: Period, partner_id: str) -> Settlement:
    """The partner's settlement as the period's run recorded it, with its adjustments as the ledger holds
    them now. ConfigError (exit 2) when the ledger has no such run or partner, or the partner was active."""
    stored = book.statement_data(period.key, (partner_id,))
    if book.period_status(period.key) is None or stored is None:
        raise ConfigError(
            f"the ledger has no run of {period.key} that recorded settlements",
            hint="run the period (settlements are recorded by runs of this cosell)",
        )
    text = stored[1].get(partner_id)
    if text is None:
        raise ConfigError(not_in_run(book, period.key, partner_id))
    record = decode_partner(text)
    if record.settlement is None:
        raise ConfigError(
            f"partner {partner_id!r} was not exiting or exited when {period.key} was run: a settlement is for "
            "a partner leaving the program",
            hint="set its status to exiting (with exit_on) and run the period again",
        )
    settled = record.settlement
    return settled.with_parts(
        _adjustments_part(book.adjustments(), period, {partner_id, *record.former_ids}, settled)
    )


def settlements_in(book: Ledger, period: Period, partner_ids: Iterable[str]) -> dict[str, Settlement | None]:
    """The settlements of ``partner_ids`` as :func:`settlement_in` gives them, read at once; None for a
    partner the period's run recorded no settlement for (active then, or run before settlements were
    recorded) and for a partner it did not record at all."""
    wanted = sorted(set(partner_ids))
    stored = book.statement_data(period.key, wanted) if wanted else None
    texts = {} if stored is None else stored[1]
    adjustments = book.adjustments() if texts else []
    found: dict[str, Settlement | None] = {}
    for partner_id in wanted:
        record = decode_partner(texts[partner_id]) if partner_id in texts else None
        if record is None or record.settlement is None:
            found[partner_id] = None
            continue
        part = _adjustments_part(adjustments, period, {partner_id, *record.former_ids}, record.settlement)
        found[partner_id] = record.settlement.with_parts(part)
    return found


def _adjustments_part(
    adjustments: Sequence[StoredAdjustment],
    period: Period,
    partner_ids: Collection[str],
    settled: Settlement,
) -> SettlementPart:
    """The adjustments proposed or approved for the partner, under its id or one it had before a merge
    (the run pays those to it): pending, owed (approved, paid after ``period``), and paid (by the run of
    ``period`` or of one since the period that holds the exit; one withdrawn since is paid while the
    stored lines of the open period pay it, marked withdrawn)."""
    paid_from = period
    if settled.exit_on is not None:
        exit_period = Period.containing(settled.exit_on, period.kind)
        paid_from = min(exit_period, period, key=lambda p: p.start)
    items = []
    for a in adjustments:
        if a.partner_id not in partner_ids:
            continue
        what = f"adjustment {a.id}: {' '.join(a.reason.split())}; proposed by {a.proposed_by}"
        if a.state == "pending":
            items.append(SettlementItem(PENDING, a.amount, f"{what}, pending approval", a.deal_id, a.period))
        elif a.state == "approved":
            due = a.period if a.period is not None and Period.parse(a.period).start > period.start else None
            when = f"paid at the run of {due}" if due else "paid at the next run"
            items.append(SettlementItem(OWED, a.amount, f"{what}, approved: {when}", a.deal_id, due))
        elif a.state in ("applied", "withdrawn") and a.applied_period:
            # withdrawn, yet still paid: the period's stored lines pay it until the period is run again
            applied = Period.parse(a.applied_period).start
            if applied < paid_from.start:  # paid before the exit's period: no part of the exit
                continue
            text = f"{what}, approved: paid in {a.applied_period}"
            if a.state == "withdrawn":
                text += f"; withdrawn: the next run of {a.applied_period} no longer pays it"
            status = OWED if applied > period.start else PAID  # paid by a later run, or paid by now
            items.append(SettlementItem(status, a.amount, text, a.deal_id, a.applied_period))
    return SettlementPart("Adjustments", tuple(items), "adjustments the governance body proposed or approved")
