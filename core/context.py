"""What hooks receive: one partner's facts, and the run they belong to."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, TypeVar, overload

from pydantic import BaseModel

from .periods import Period
from .records import Activity, Deal, MdfClaim, Partner, RecordSet, Role
from .results import History, LineKind

if TYPE_CHECKING:
    from .connector import FieldWrite
    from .program import Program


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class PartnerDeal:
    """A deal seen from one partner: the partner's role and its resolved share (0–1)."""

    deal: Deal
    """The deal (amounts in the program currency)."""
    role: Role
    """The partner's role on it: ``sourced``, ``cosell`` or ``influenced``."""
    share: Decimal
    """The partner's resolved share, 0–1 (shares not given split what the given ones leave)."""


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    """A partner and every record that involves it, over all dates (rules pick the period's dates).

    Amounts are already in the program currency.
    """

    partner: Partner
    """The partner record."""
    deals: tuple[PartnerDeal, ...] = ()
    """Every deal involving the partner, over all dates, each with the partner's role and share."""
    activities: tuple[Activity, ...] = ()
    """The partner's activities, over all dates."""
    mdf_claims: tuple[MdfClaim, ...] = ()
    """The partner's MDF claims, over all dates."""

    @property
    def id(self) -> str:
        return self.partner.id


@dataclass(frozen=True, slots=True)
class RunContext:
    """The run every hook call belongs to."""

    program: Program
    """The validated program file."""
    period: Period
    """The period being computed (``start``, ``end``, ``key``; ``day in period``)."""
    history: History
    """A read-only view of the ledger's earlier periods: tiers and lines."""
    records: RecordSet
    """Every record of the run, converted to the program currency."""
    settings: Mapping[str, BaseModel] = field(default_factory=dict)
    """Each plugin's validated ``plugins:`` entry by key; read yours with ``setting(key, Model)``."""
    line_kinds: Mapping[str, LineKind] = field(default_factory=dict)
    """Every declared line kind by name: how the cap, the budget and the CRM fields treat its lines."""
    variant: Program | None = None
    """Under a pilot, the variant program that computes the partners of ``cohort``."""
    cohort: frozenset[str] = frozenset()
    """Under a pilot, the partners in its test arm (computed by ``variant``); empty otherwise."""

    def closed_period_holding(self, day: date) -> str | None:
        """The key of the closed period that holds ``day``, when that period comes before the one being
        run: a fact of it entered after it was closed (a deal won then, a partner who joined then) is
        paid in the period being run, once. None for any other day."""
        closed = self.history.closed_periods
        if not closed or day >= self.period.start:
            return None
        key = Period.containing(day, self.period.kind).key
        return key if key in closed else None

    def in_program_on(self, partner: Partner, day: date) -> bool:
        """True when ``day`` falls in a period the partner is in: the one holding its ``joined_on``, or a
        later one. A partner is in no period that ends before it joined (the run leaves it out), and earns
        nothing on what happened then (a deal won, an MDF claim approved), neither in that period nor
        paid late in a later one."""
        return day >= Period.containing(partner.joined_on, self.period.kind).start

    def deal(self, deal_id: str) -> Deal | None:
        """The run's deal of that id (amounts in the program currency), or None when the records hold no
        such deal (a merged deal goes by the id of the deal it lives on). For a deal a partner's facts no
        longer hold: one the history says it was paid on, since taken off it, say."""
        return _deals_by_id(self.records).get(deal_id)

    def program_of(self, partner_id: str) -> Program:
        """The program whose rules compute a partner: the variant's for a pilot's test arm, else
        ``program``. A ``cosell_adjustments`` hook (which sees every partner at once) applies a
        per-partner rule with it; a program-wide one (the budget) with ``program``."""
        if self.variant is not None and partner_id in self.cohort:
            return self.variant
        return self.program

    def line_kind(self, name: str) -> LineKind | None:
        """The declaration of a line kind; None for a kind no installed plugin declares (a line of an
        earlier period whose plugin is gone)."""
        return self.line_kinds.get(name)

    @overload
    def setting(self, key: str) -> Any: ...

    @overload
    def setting(self, key: str, model: type[M]) -> M | None: ...

    def setting(self, key: str, model: type[M] | None = None) -> Any:
        """A plugin's validated settings from the program's ``plugins.<key>`` entry, or None when the
        program has none (and the model has a field without a default).

        Give the plugin's ``model`` and a type checker knows what comes back:
        ``context.setting("nps", NpsSettings)`` is an ``NpsSettings | None``; a value of another
        type (settings declared by another plugin under that key) is a TypeError."""
        value = self.settings.get(key)
        if model is not None and value is not None and not isinstance(value, model):
            raise TypeError(
                f"context.setting({key!r}, {model.__name__}): the settings are a {type(value).__name__}"
            )
        return value


_DEAL_INDEXES: dict[int, Mapping[str, Deal]] = {}
"""Each live record set's deals by id (``RunContext.deal``), built on first use, dropped with the set."""


def _deals_by_id(records: RecordSet) -> Mapping[str, Deal]:
    key = id(records)
    found = _DEAL_INDEXES.get(key)
    if found is None:
        found = _DEAL_INDEXES[key] = {d.id: d for d in records.deals}
        weakref.finalize(records, _DEAL_INDEXES.pop, key, None)
    return found


class PartnerRow(TypedDict):
    """One partner's outcome in a run's report (``RunReport.partners``), as ``cosell run`` shows it and
    ``--json`` prints it. Numbers are text with two decimals, as the CRM fields hold them."""

    id: str
    """The partner's id."""
    name: str
    """The partner's name."""
    score: str
    """The period's score, e.g. ``"72.50"``."""
    eligible_tier: str
    """The highest tier the score and requirements reach this period."""
    tier: str
    """The tier assigned (it differs from ``eligible_tier`` during a demotion grace period)."""
    tier_shown: str
    """The tier as people read it: "Gold", "Gold (exception until 2027-Q2: <reason>)" or "Exited (was Gold)"."""
    tier_exception: dict[str, Any] | None
    """The approved tier exception holding the tier (id, tier, until, reason, proposed_by, approved_by),
    or None when the tier is earned."""
    left: bool
    """True when the partner has left (exiting or exited, with ``exit_on`` by the period's end)."""
    previous_tier: str | None
    """The tier before this period (the ledger's, else the CRM's), or None."""
    earnings: str
    """The period earnings: the sum of the partner's lines, MDF left out, e.g. ``"1250.00"``."""
    lines: int
    """How many payout lines the partner has this period."""
    pilot_arm: NotRequired[str]
    """Under a pilot: ``"test"`` (computed by the variant program) or ``"control"``; absent otherwise."""


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a run did: for the CLI summary, ``--json`` and the ``cosell_run_finished`` hook."""

    period: str
    """The period run, e.g. ``"2026-Q3"``."""
    run_id: int | None
    """The ledger's id of the run; None for a dry run (nothing stored)."""
    dry_run: bool
    """True when nothing was stored or written."""
    partners: tuple[PartnerRow, ...]
    """Every partner's score, tier and earnings, in the order of the input."""
    changes: tuple[FieldWrite, ...]
    """The CRM field values that differ from what the CRM held (a dry run's: that it would write)."""
    written: int = 0
    """How many records were written."""
    failures: tuple[str, ...] = ()
    """The writes the CRM refused, each with its error (retried on the next run)."""
    notes: tuple[str, ...] = ()
    """What the connector wants said after the run (API calls left, say)."""
