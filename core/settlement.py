"""Exit settlements: for a partner exiting or exited, what the company has paid it in the wind-down, still
owes, may still owe, and may still take back, as of a period's end.

Each rule says its part through ``cosell_settlement`` (commission in the wind-down, unreleased MDF,
clawback exposure); a run records the parts with the partner's statement data, so a settlement renders
from the ledger alone and a closed period's settlement never changes. ``cosell settlement`` adds the
partner's adjustments as the ledger holds them when it is asked (docs/governance.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from .errors import PluginError
from .money import amount_problem, round_cents, show
from .periods import Period, PeriodKind
from .results import KindedAmount, LineKind, tier_shown

if TYPE_CHECKING:
    from .context import PartnerFacts, RunContext
    from .pluginmanager import Plugins
    from .results import PartnerStanding, PayoutLine

Status = Literal["paid", "owed", "projected", "pending_approval", "at_risk"]
PAID: Status = "paid"
OWED: Status = "owed"
PROJECTED: Status = "projected"
PENDING: Status = "pending_approval"
AT_RISK: Status = "at_risk"
STATUSES: tuple[Status, ...] = (PAID, OWED, PROJECTED, PENDING, AT_RISK)
"""In the order a settlement shows them: paid in the wind-down so far; owed (certain, paid at a known
run); projected (not owed yet: owed only if it happens, an open deal won in time, say); an adjustment
pending approval; at risk (may be taken back: a refund inside its window)."""
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SettlementItem:
    """One amount of a settlement. ``amount`` is in the program currency, rounded to cents, negative for
    what may be taken back. ``due`` is the period it is (or was) paid in, when known; ``until`` the last day
    it may still come about (the end of the wind-down for an open deal, of the refund window for a
    clawback)."""

    status: Status
    amount: Decimal
    explanation: str
    deal_id: str | None = None
    due: str | None = None
    until: date | None = None


@dataclass(frozen=True, slots=True)
class SettlementPart:
    """What one rule says about the partner's exit. ``earns_until`` is the last day the rule can still
    earn the partner anything (commission: the end of the wind-down); ``open_ended`` says it has no such
    day (no wind-down in the program)."""

    title: str
    items: tuple[SettlementItem, ...] = ()
    note: str = ""
    earns_until: date | None = None
    open_ended: bool = False


@dataclass(frozen=True, slots=True)
class Settlement:
    """A partner's settlement as of the end of ``period``."""

    partner_id: str
    name: str
    status: str
    exit_on: date | None
    period: str
    tier: str
    """The tier held in the period, as shown ("Exited (was Silver)")."""
    parts: tuple[SettlementPart, ...] = ()
    currency: str = ""
    program: str = ""

    def items(self, status: Status | None = None) -> tuple[SettlementItem, ...]:
        return tuple(i for p in self.parts for i in p.items if status is None or i.status == status)

    def total(self, status: Status) -> Decimal:
        return sum((i.amount for i in self.items(status)), ZERO)

    @property
    def open_ended(self) -> bool:
        return any(p.open_ended for p in self.parts)

    @property
    def last_day(self) -> date | None:
        """The last day the partner can earn: the latest of its exit and the rules' last days; None when
        a rule has no end (or there is no exit date)."""
        if self.open_ended or self.exit_on is None:
            return None
        return max([self.exit_on, *(p.earns_until for p in self.parts if p.earns_until is not None)])

    def last_period(self) -> str | None:
        """The period that holds :attr:`last_day`, of the kind of the settlement's period."""
        day = self.last_day
        if day is None:
            return None
        kind: PeriodKind = Period.parse(self.period).kind
        return Period.containing(day, kind).key

    def with_parts(self, *parts: SettlementPart) -> Settlement:
        return Settlement(
            self.partner_id,
            self.name,
            self.status,
            self.exit_on,
            self.period,
            self.tier,
            (*self.parts, *parts),
            self.currency,
            self.program,
        )


@dataclass(frozen=True, slots=True)
class PeriodAdjustments:
    """What a period's per-partner cap and program budget did to one partner's totals, from its lines of
    the period: for a rule saying what one of its lines came to once they had (a line is paid its share
    of the cap and the budget, which are lines of the partner's total, not of a deal). ``capped`` sums the
    lines counting toward the cap, ``cap`` the cap's line; ``budgeted`` the lines counting toward the
    budget, the cap's line among them (the budget sees capped totals), ``budget`` the budget's line."""

    capped: Decimal
    cap: Decimal
    budgeted: Decimal
    budget: Decimal

    @classmethod
    def of(cls, lines: Iterable[KindedAmount], kinds: Mapping[str, LineKind]) -> PeriodAdjustments:
        """From the partner's lines of one period and the kinds' declarations (a kind nobody declares
        counts toward neither, as the cap and the budget rules read it)."""
        capped = cap = budgeted = budget = ZERO
        for line in lines:
            kind = kinds.get(line.kind)
            if kind is None:
                continue
            if kind.adjustment:
                if kind.in_budget:
                    cap += line.amount
                else:
                    budget += line.amount
            elif kind.capped:
                capped += line.amount
            if kind.in_budget:
                budgeted += line.amount
        return cls(capped, cap, budgeted, budget)

    def paid(self, line: KindedAmount, kinds: Mapping[str, LineKind]) -> Decimal:
        """What ``line`` was paid once the cap and the budget had scaled the totals it counts in: its
        amount × (the capped total after the cap ÷ before it) when it counts toward the cap, × (what
        the budget scaled its total to ÷ that total) when it counts toward the budget; rounded half-up to
        cents. The amount itself when neither touched the partner."""
        kind = kinds.get(line.kind)
        share = Fraction(line.amount)
        if kind is not None and kind.capped and self.cap and self.capped > 0:
            share *= Fraction(self.capped + self.cap) / Fraction(self.capped)
        if kind is not None and kind.in_budget and self.budget and self.budgeted > 0:
            share *= Fraction(self.budgeted + self.budget) / Fraction(self.budgeted)
        if share == line.amount:
            return line.amount
        exact = Decimal(share.numerator) / Decimal(share.denominator)  # 28 digits: far finer than a cent
        return round_cents(exact)

    def text(self) -> str:
        """What happened to the partner's total: "capped from 63,600.00 to 50,000.00 and scaled by the
        program budget from 50,000.00 to 48,421.05"; "" when neither applied."""
        said = []
        if self.cap:
            said.append(f"capped from {show(self.capped)} to {show(self.capped + self.cap)}")
        if self.budget:
            said.append(
                f"scaled by the program budget from {show(self.budgeted)} to {show(self.budgeted + self.budget)}"
            )
        return " and ".join(said)


def _checked_part(plugin: str, produced: object) -> SettlementPart | None:
    """A rule's part, checked: a SettlementPart of SettlementItems, each with a known status and a Decimal
    rounded to cents. Anything else is a PluginError naming the rule."""
    if produced is None:
        return None
    if not isinstance(produced, SettlementPart):
        raise PluginError(plugin, f"cosell_settlement returned {produced!r}, not a SettlementPart")
    for item in produced.items:
        if not isinstance(item, SettlementItem):
            raise PluginError(plugin, f"cosell_settlement: {item!r} is not a SettlementItem")
        if item.status not in STATUSES:
            raise PluginError(plugin, f"cosell_settlement: status {item.status!r} is not one of {STATUSES}")
        problem = amount_problem(item.amount, cents=True)
        if problem is not None:
            raise PluginError(plugin, f"cosell_settlement: a {item.status!r} item's amount {problem}")
    return produced


def settlement_of(
    plugins: Plugins,
    partner: PartnerFacts,
    standing: PartnerStanding,
    lines: Sequence[PayoutLine],
    context: RunContext,
) -> Settlement | None:
    """The settlement of a partner exiting or exited, as of the end of the period being run (each rule's
    part, in call order); None for an active partner."""
    p = partner.partner
    if p.status == "active":
        return None
    parts = []
    for plugin, produced in plugins.call_each(
        "cosell_settlement", partner=partner, standing=standing, lines=tuple(lines), context=context
    ):
        part = _checked_part(plugin, produced)
        if part is not None:
            parts.append(part)
    tier = tier_shown(standing.tier, left=p.left_by(context.period.end))
    return Settlement(
        p.id,
        p.name,
        p.status,
        p.exit_on,
        context.period.key,
        tier,
        tuple(parts),
        context.program.currency,
        context.program.program,
    )


# --- as the ledger stores it (inside the partner's statement data) ----------------------------------


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def encode_settlement(s: Settlement) -> dict[str, Any]:
    return {
        "partner_id": s.partner_id,
        "name": s.name,
        "status": s.status,
        "exit_on": _day(s.exit_on),
        "period": s.period,
        "tier": s.tier,
        "currency": s.currency,
        "program": s.program,
        "parts": [
            {
                "title": p.title,
                "note": p.note,
                "earns_until": _day(p.earns_until),
                "open_ended": p.open_ended,
                "items": [
                    {
                        "status": i.status,
                        "amount": str(i.amount),
                        "explanation": i.explanation,
                        "deal_id": i.deal_id,
                        "due": i.due,
                        "until": _day(i.until),
                    }
                    for i in p.items
                ],
            }
            for p in s.parts
        ],
    }


def decode_settlement(doc: Mapping[str, Any]) -> Settlement:
    return Settlement(
        partner_id=doc["partner_id"],
        name=doc["name"],
        status=doc["status"],
        exit_on=_date(doc["exit_on"]),
        period=doc["period"],
        tier=doc["tier"],
        currency=doc["currency"],
        program=doc["program"],
        parts=tuple(
            SettlementPart(
                title=p["title"],
                note=p["note"],
                earns_until=_date(p["earns_until"]),
                open_ended=p["open_ended"],
                items=tuple(
                    SettlementItem(
                        status=i["status"],
                        amount=Decimal(i["amount"]),
                        explanation=i["explanation"],
                        deal_id=i["deal_id"],
                        due=i["due"],
                        until=_date(i["until"]),
                    )
                    for i in p["items"]
                ),
            )
            for p in doc["parts"]
        ),
    )
