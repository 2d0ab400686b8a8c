"""Canonical records: what every connector produces and every rule reads.

Records are frozen, slotted dataclasses validated by pydantic (``TypeAdapter``), not ``BaseModel``
instances: a million deals must fit in memory and be walked quickly (see docs/decisions.md). Lists
are tuples and mappings are read-only, so a rule cannot change what another rule sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

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


MAX_PLACES = 100
"""The most decimal places a number in a record may be written with (trailing zeros count): more than a
float written out in full gives (``1.4210854715202004e-14`` has 30), and few enough that exact sums of a
million of them stay short numbers (a share written with a million places made each sum a million
digits long)."""


def _few_places(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES:
        raise ValueError(f"has more than {MAX_PLACES} decimal places")
    return value


FEW_PLACES = AfterValidator(_few_places)
"""The check of :data:`MAX_PLACES` (for a record's numbers)."""

Amount = Annotated[
    Decimal, BeforeValidator(_no_float), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), FEW_PLACES
]
"""An amount a record holds (a deal's, a claim's): from 0 to ``MAX_AMOUNT``. A refund is a date on the
deal, never a negative amount."""
Fraction = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=1, allow_inf_nan=False), FEW_PLACES]
Percent = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=100, allow_inf_nan=False), FEW_PLACES]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""C0 and C1 control characters (tab and line breaks among them) and Unicode's line and paragraph
separators: none belongs in an id, and in a name or label they would break the one-line explanations,
notes and CSV cells the text ends up in."""


def _one_line_id(value: str) -> str:
    found = CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise ValueError(
            f"holds the control character {found.group()!r}: an id is one line of printable text"
        )
    return value


_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")


def one_line_text(value: str) -> str:
    """``value`` on one line: each run of line breaks and tabs reads as one space (a name typed with a line
    break reads the same on one line), any other control character (a NUL, a terminal's ESC) is dropped."""
    if CONTROL_CHARACTERS.search(value) is None:
        return value
    return CONTROL_CHARACTERS.sub("", _BREAKS.sub(" ", value)).strip()


RecordId = Annotated[str, Field(min_length=1), AfterValidator(_one_line_id)]
"""An id: not empty, one line of printable text (a control character is an input error)."""
Label = Annotated[str, AfterValidator(one_line_text)]
"""A name or label, on one line: line breaks and tabs read as spaces, other control characters dropped."""
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
    """The partner's id."""
    role: Role
    """``sourced``, ``cosell`` or ``influenced``."""
    share: Fraction | None = None
    """The partner's share of the deal, 0–1; None: split what the given shares leave (resolved in ``PartnerDeal.share``)."""


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner company, as the CRM or ``partners.csv`` holds it."""

    __pydantic_config__ = _STRICT

    id: RecordId
    """The partner's id (the CRM's account or company id)."""
    name: Label
    """The partner's name."""
    joined_on: date
    """When the partner joined the program (the signing bonus is paid in the period that holds it)."""
    status: PartnerStatus = "active"
    """``active``, ``exiting`` or ``exited``."""
    exit_on: date | None = None
    """When an exiting or exited partner leaves (or left) the program."""
    crm_tier: Label | None = None
    """The tier the CRM shows (used when the ledger has no tier for the partner yet). A run computes with
    the value the first stored run that read the partner found (``History.crm_tiers``), not with what cosell
    may have written to the field since."""
    attributes: ReadOnlyMapping = field(default_factory=_empty_mapping)
    """Every other column or mapped CRM field, text to text, read-only: where plugins read their own inputs."""

    def left_by(self, day: date) -> bool:
        """True when the partner is exiting or exited and its ``exit_on`` is on or before ``day``."""
        return self.status != "active" and self.exit_on is not None and self.exit_on <= day


REFUND_ERRORS = frozenset({"refund_before_win", "refund_not_won"})
"""The error types of a deal's refund date that contradicts the rest of the deal; their messages name
the dates themselves."""


def _refund_of_a_win(refunded_on: date | None, info: ValidationInfo) -> date | None:
    """A refund is of a won deal, on or after the day it was won (a date before it would claw back a
    commission it never paid, or pay none on a win it never took back). Fields that failed their own
    check are not in ``info.data``: only a valid status and close date are compared."""
    if refunded_on is None:
        return None
    status, closed_on = info.data.get("status"), info.data.get("closed_on")
    if status in ("open", "lost"):
        raise PydanticCustomError(
            "refund_not_won",
            "{refunded_on} is given on a deal that is {status}: only a won deal is refunded",
            {"refunded_on": refunded_on.isoformat(), "status": status},
        )
    if isinstance(closed_on, date) and refunded_on < closed_on:
        raise PydanticCustomError(
            "refund_before_win",
            "{refunded_on} is before closed_on {closed_on}: a deal is refunded on or after the day it is won",
            {"refunded_on": refunded_on.isoformat(), "closed_on": closed_on.isoformat()},
        )
    return refunded_on


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal. After conversion ``amount`` is in the program currency; ``currency`` stays the
    record's own, so write-back can show the record's currency again."""

    __pydantic_config__ = _STRICT

    id: RecordId
    """The deal's id (the CRM's opportunity or deal id)."""
    name: Label
    """The deal's name."""
    amount: Amount
    """The deal's amount; in the program currency once the run has converted it (hooks always see it converted)."""
    currency: CurrencyCode
    """The record's own ISO 4217 currency code (amounts written back are converted to it)."""
    stage: Label
    """The stage label, matched against the program's ``qualified_stages``."""
    status: DealStatus
    """``open``, ``won`` or ``lost``."""
    created_on: date
    """When the deal was created."""
    closed_on: date | None = None
    """When a won or lost deal closed; None while open."""
    discount_pct: Percent | None = None
    """The discount, 0–100, checked by the discount guardrail; None when unknown."""
    margin_pct: (
        Annotated[
            Decimal,
            BeforeValidator(_no_float),
            Field(ge=-MAX_AMOUNT, le=100, allow_inf_nan=False),
            FEW_PLACES,
        ]
        | None
    ) = None
    """The margin, at most 100 (below 0 for a loss, down to -1,000,000,000,000), checked by the margin
    floor; None when unknown."""
    campaign: Label | None = None
    """The campaign, which links deals to MDF claims."""
    refunded_on: Annotated[date | None, AfterValidator(_refund_of_a_win)] = None
    """When the deal was refunded (a clawback within the program's window). Only a won deal is refunded,
    on or after its ``closed_on``: any other refund date is an input error."""
    partners: tuple[Involvement, ...] = ()
    """Every partner involved, with its role and share as the input gave them."""


@dataclass(frozen=True, slots=True)
class Activity:
    """A joint activity of a partner (a call, a demo, an event, a training)."""

    __pydantic_config__ = _STRICT

    id: RecordId
    """The activity's id."""
    partner_id: RecordId
    """The partner that took part."""
    type: Label
    """Free text, e.g. ``joint_call``; the program's ``activity_weights`` weigh it by type."""
    occurred_on: date
    """When it happened."""
    deal_id: RecordId | None = None
    """The deal it was for, if any."""
    quantity: Annotated[
        Decimal, BeforeValidator(_no_float), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), FEW_PLACES
    ] = Decimal(1)
    """How many (default 1), multiplied by the type's weight."""


@dataclass(frozen=True, slots=True)
class MdfClaim:
    """A market-development-fund claim. ``currency`` None means the program currency."""

    __pydantic_config__ = _STRICT

    id: RecordId
    """The claim's id."""
    partner_id: RecordId
    """The partner claiming the funds."""
    campaign: Label
    """The campaign funded; the partner's deals of this campaign release the rest of the funds."""
    amount: Amount
    """The amount claimed."""
    status: ClaimStatus
    """``submitted``, ``approved``, ``paid`` (counts as approved) or ``rejected``."""
    approved_on: date | None = None
    """When it was approved."""
    currency: CurrencyCode | None = None
    """The claim's ISO 4217 currency code; None means the program currency."""

    @property
    def is_approved(self) -> bool:
        return self.status in ("approved", "paid")


MergedKind = Literal["partner", "deal"]


@dataclass(frozen=True, slots=True)
class Merge:
    """A partner or deal the CRM merged into another: the id it had, and the id of the record it lives on
    in (HubSpot gives the merged record a new id and lists the old ones in ``hs_merged_object_ids``).

    The run reads the ledger's history of ``former_id`` as history of ``id``: a deal paid under its old
    id is not paid again under the new one, a partner keeps its tiers and its signing bonus."""

    __pydantic_config__ = _STRICT

    kind: MergedKind
    """``partner`` or ``deal``."""
    former_id: RecordId
    """The id the record had before the merge (the ledger's lines may name it)."""
    id: RecordId
    """The id of the record it was merged into, as the records read now name it."""
    undone: bool = False
    """The former partner is a record of its own again (a Salesforce admin undeleted a merged account:
    the records the merge moved stay with ``id``). Its history is its own again, but for the deals one
    of the two holds now and the other does not: what the other was paid on them counts as paid to the
    one holding them (moved by the merge, or moved back since), so no deal is paid twice. A partner
    undeleted and merged again keeps its merges undone listed beside the one that stands. Partners only."""


@dataclass(frozen=True, slots=True, weakref_slot=True)
class RecordSet:
    """Everything a connector read: the whole picture the engine computes from."""

    partners: tuple[Partner, ...] = ()
    """Every partner."""
    deals: tuple[Deal, ...] = ()
    """Every deal, with its involvements."""
    activities: tuple[Activity, ...] = ()
    """Every joint activity."""
    mdf_claims: tuple[MdfClaim, ...] = ()
    """Every MDF claim."""
    merges: tuple[Merge, ...] = ()
    """Partners and deals the CRM merged into others (see :class:`Merge`)."""


PARTNER = TypeAdapter(Partner)
DEAL = TypeAdapter(Deal)
ACTIVITY = TypeAdapter(Activity)
MDF_CLAIM = TypeAdapter(MdfClaim)
