"""Canonical records: what every connector produces and every rule reads.

Records are frozen, slotted dataclasses validated by pydantic (``TypeAdapter``), not ``BaseModel``
instances: a million deals must fit in memory and be walked quickly (see docs/decisions.md). Lists
are tuples and mappings are read-only, so a rule cannot change what another rule sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, PlainSerializer, TypeAdapter

Role = Literal["sourced", "cosell", "influenced"]
ROLES: tuple[Role, ...] = ("sourced", "cosell", "influenced")
"""Roles in precedence order: a partner named twice on a deal keeps the first of these."""

PartnerStatus = Literal["active", "exiting", "exited"]
DealStatus = Literal["open", "won", "lost"]
ClaimStatus = Literal["submitted", "approved", "paid", "rejected"]


MAX_AMOUNT = 10**12
"""The largest amount an input or a program may hold, in its currency. The ledger keeps integer cents in
64-bit columns (at most about 9.2 × 10^16 units): this bound leaves room for the sum of tens of thousands
of lines at the bound, and for an amount converted with an exchange rate (checked again after
conversion)."""

MAX_DAYS = 36500
"""The longest span of days a program may give (a hundred years); date arithmetic fails far beyond it."""


def _no_float(value: Any) -> Any:
    # A float has already lost the cents it was meant to carry: refuse it rather than guess.
    if isinstance(value, float):
        raise ValueError("give money and rates as text or Decimal, not as a float")
    # Decimal() reads any Unicode digit ('١٢٣' is 123): only ASCII digits are numbers here.
    if isinstance(value, str) and not value.isascii():
        raise ValueError(f"{value!r} is not a number: use the digits 0-9")
    return value


Amount = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
"""An amount a record holds (a deal's, a claim's): from 0 to ``MAX_AMOUNT``. A refund is a date on the
deal, never a negative amount."""
Fraction = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=1, allow_inf_nan=False)]
Percent = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=100, allow_inf_nan=False)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
RecordId = Annotated[str, Field(min_length=1)]
ReadOnlyMapping = Annotated[
    Mapping[str, str],
    AfterValidator(lambda m: MappingProxyType(dict(m))),
    PlainSerializer(dict),
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _empty_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Involvement:
    """A partner's part in a deal. ``share`` None means: split what the given shares leave."""

    __pydantic_config__ = _STRICT

    partner_id: RecordId
    role: Role
    share: Fraction | None = None


@dataclass(frozen=True, slots=True)
class Partner:
    __pydantic_config__ = _STRICT

    id: RecordId
    name: str
    joined_on: date
    status: PartnerStatus = "active"
    exit_on: date | None = None
    crm_tier: str | None = None
    attributes: ReadOnlyMapping = field(default_factory=_empty_mapping)

    def left_by(self, day: date) -> bool:
        """True when the partner is exiting or exited and its ``exit_on`` is on or before ``day``."""
        return self.status != "active" and self.exit_on is not None and self.exit_on <= day


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal. After conversion ``amount`` is in the program currency; ``currency`` stays the
    record's own, so write-back can show the record's currency again."""

    __pydantic_config__ = _STRICT

    id: RecordId
    name: str
    amount: Amount
    currency: CurrencyCode
    stage: str
    status: DealStatus
    created_on: date
    closed_on: date | None = None
    discount_pct: Percent | None = None
    margin_pct: Annotated[Decimal, BeforeValidator(_no_float), Field(le=100)] | None = None
    campaign: str | None = None
    refunded_on: date | None = None
    partners: tuple[Involvement, ...] = ()


@dataclass(frozen=True, slots=True)
class Activity:
    __pydantic_config__ = _STRICT

    id: RecordId
    partner_id: RecordId
    type: str
    occurred_on: date
    deal_id: str | None = None
    quantity: Annotated[
        Decimal, BeforeValidator(_no_float), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)
    ] = Decimal(1)


@dataclass(frozen=True, slots=True)
class MdfClaim:
    """A market-development-fund claim. ``currency`` None means the program currency."""

    __pydantic_config__ = _STRICT

    id: RecordId
    partner_id: RecordId
    campaign: str
    amount: Amount
    status: ClaimStatus
    approved_on: date | None = None
    currency: CurrencyCode | None = None

    @property
    def is_approved(self) -> bool:
        return self.status in ("approved", "paid")


@dataclass(frozen=True, slots=True)
class RecordSet:
    """Everything a connector read: the whole picture the engine computes from."""

    partners: tuple[Partner, ...] = ()
    deals: tuple[Deal, ...] = ()
    activities: tuple[Activity, ...] = ()
    mdf_claims: tuple[MdfClaim, ...] = ()


PARTNER = TypeAdapter(Partner)
DEAL = TypeAdapter(Deal)
ACTIVITY = TypeAdapter(Activity)
MDF_CLAIM = TypeAdapter(MdfClaim)
