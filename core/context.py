"""What hooks receive: one partner's facts, and the run they belong to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, overload

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
