"""Many instances of a frozen, slotted dataclass, built a field at a time.

A record or ledger line is a frozen, slotted dataclass whose ``__init__`` does nothing but set its fields.
Reading a million of them, setting each field of every instance through its slot, one field after the
other, takes about half the time of calling ``__init__`` once per instance."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from itertools import repeat
from typing import Any, TypeVar

T = TypeVar("T")


def from_columns(cls: type[T], size: int, columns: Mapping[str, Iterable[Any]]) -> list[T]:
    """``size`` instances of ``cls``, the i-th holding the i-th value of each field's column: what
    ``cls(**{name: column[i] ...})`` builds for each i. ``cls`` is a slotted dataclass with no
    ``__post_init__``; ``columns`` has a column for every one of its fields."""
    assert not hasattr(cls, "__post_init__")
    built: list[T] = list(map(object.__new__, repeat(cls, size)))
    for f in fields(cls):  # type: ignore[arg-type]
        deque(map(_setter(cls, f.name), built, columns[f.name]), maxlen=0)
    return built


def _setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """What sets field ``name`` of a ``cls``: its slot's own setter, which a frozen dataclass's
    ``__setattr__`` does not stand in front of."""
    slot = cls.__dict__[name]
    assert type(slot).__name__ == "member_descriptor"
    setter: Callable[[Any, Any], None] = slot.__set__
    return setter
