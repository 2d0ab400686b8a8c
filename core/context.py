"""What hooks receive: one partner's facts, and the run they belong to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .periods import Period
from .records import Activity, Deal, MdfClaim, Partner, RecordSet, Role
from .results import History, LineKind

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .connector import FieldWrite
    from .program import Program


@dataclass(frozen=True, slots=True)
class PartnerDeal:
    """A deal seen from one partner: the partner's role and its resolved share (0–1)."""

    deal: Deal
    role: Role
    share: Decimal


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    """A partner and every record that involves it, over all dates (rules pick the period's dates).

    Amounts are already in the program currency.
    """

    partner: Partner
    deals: tuple[PartnerDeal, ...] = ()
    activities: tuple[Activity, ...] = ()
    mdf_claims: tuple[MdfClaim, ...] = ()

    @property
    def id(self) -> str:
        return self.partner.id


@dataclass(frozen=True, slots=True)
class RunContext:
    """The run every hook call belongs to."""

    program: Program
    period: Period
    history: History
    records: RecordSet
    settings: Mapping[str, BaseModel] = field(default_factory=dict)
    line_kinds: Mapping[str, LineKind] = field(default_factory=dict)
    """Every declared line kind by name: how the cap, the budget and the CRM fields treat its lines."""
    variant: Program | None = None
    """Under a pilot, the variant program that computes the partners of ``cohort``."""
    cohort: frozenset[str] = frozenset()
    """Under a pilot, the partners in its test arm (computed by ``variant``); empty otherwise."""

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

    def setting(self, key: str) -> Any:
        """A plugin's validated settings from the program's ``plugins:`` section, or None."""
        return self.settings.get(key)


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a run did: for the CLI summary, ``--json`` and the ``finished`` hook."""

    period: str
    run_id: int | None
    dry_run: bool
    partners: tuple[dict[str, Any], ...]
    changes: tuple[FieldWrite, ...]
    written: int = 0
    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """What the connector wants said after the run (API calls left, say)."""
