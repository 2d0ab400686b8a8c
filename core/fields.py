"""The values cosell writes back: which fields it manages, and one record's write and its outcome.

Both the connectors (which send them) and the ledger (whose outbox keeps them) use these types, so they
live here, apart from both; ``cosell.connector`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ObjectName = Literal["account", "deal"]
"""Canonical names of the objects cosell writes: a partner's account and a deal."""

ACCOUNT_FIELDS = ("tier", "score", "period_earnings", "tier_benefits")
DEAL_FIELDS = ("incentive", "incentive_status", "incentive_note")
MANAGED_FIELDS: Mapping[str, tuple[str, ...]] = {"account": ACCOUNT_FIELDS, "deal": DEAL_FIELDS}
"""The only fields cosell ever writes, by canonical name; each connector maps them to its own names."""

RecordKey = tuple[str, str]
"""(object, record id)."""

FieldValues = Mapping[str, str | None]
"""Canonical field name → value as text (money and scores as plain decimals); None clears the field."""


@dataclass(frozen=True, slots=True)
class FieldWrite:
    """The managed fields one record should hold (only those that differ from the target)."""

    object: ObjectName
    record_id: str
    values: FieldValues
    old: FieldValues = field(default_factory=dict)

    @property
    def key(self) -> RecordKey:
        return (self.object, self.record_id)


_new = object.__new__
# Each slot's setter, for building a write or an outcome a million times without the frozen dataclass's
# ``__init__`` (which sets every field through ``object.__setattr__``).
_set_object, _set_record_id, _set_values, _set_old = (
    FieldWrite.__dict__[name].__set__ for name in ("object", "record_id", "values", "old")
)


def field_write(object: ObjectName, record_id: str, values: FieldValues, old: FieldValues) -> FieldWrite:
    """``FieldWrite(object, record_id, values, old)``: the same write, its slots set directly. The
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which costs about
    as much as the write's text when a run plans a million of them."""
    write = _new(FieldWrite)
    _set_object(write, object)
    _set_record_id(write, record_id)
    _set_values(write, values)
    _set_old(write, old)
    return write


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What the target said of one record's write: confirmed, or refused with the target's error."""

    key: RecordKey
    ok: bool
    error: str | None = None


_set_key, _set_ok, _set_error = (WriteOutcome.__dict__[name].__set__ for name in ("key", "ok", "error"))


def confirmed(key: RecordKey) -> WriteOutcome:
    """``WriteOutcome(key, True)``, its slots set directly (``field_write``'s way): about half the cost,
    once per confirmed write."""
    outcome = _new(WriteOutcome)
    _set_key(outcome, key)
    _set_ok(outcome, True)
    _set_error(outcome, None)
    return outcome
