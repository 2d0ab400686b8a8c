"""Pieces both CRM connectors share: retries that honour Retry-After, and incremental-sync cursors.

Retries are bounded by time, not by a small count: under a 30 % fault storm five attempts still lose
about 0.2 % of calls, while a time budget keeps trying as long as a scheduled run can afford to.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay

from cosell.errors import UnreachableError

if TYPE_CHECKING:
    from cosell.ledger import Ledger

log = logging.getLogger("cosell.connectors")
T = TypeVar("T")


class TransientError(Exception):
    """A call that may succeed if tried again: a connection error, a 5xx, a rate limit.

    ``retry_after`` is the server's Retry-After in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (the delta-seconds form; an HTTP date is treated as 'soon')."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying one call, and the backoff when the server gives no Retry-After."""

    budget_seconds: float = 300.0
    initial_wait: float = 0.5
    max_wait: float = 30.0

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_wait)
        backoff = min(self.max_wait, self.initial_wait * 2 ** (state.attempt_number - 1))
        return random.uniform(0, backoff)  # full jitter

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying TransientError until the time budget is spent; then UnreachableError (exit 4)."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s; retrying (attempt %d)", what, exc, state.attempt_number + 1)

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_delay(self.budget_seconds),
            wait=self.wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except TransientError as exc:
            raise UnreachableError(
                f"{what}: still failing after {self.budget_seconds:.0f} s of retries: {exc}",
                hint="the next run resumes: writes not confirmed stay in the outbox",
            ) from None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental read of one stream stopped: the newest modification stamp seen.

    Reads ask for records modified at or after ``value - overlap``, so records written in the same
    second as the last one read (or committed late by the CRM) are never missed; the snapshot upsert
    makes the records read twice harmless.
    """

    connector: str
    stream: str
    value: datetime | None
    overlap: timedelta = timedelta(minutes=5)

    @classmethod
    def load(cls, ledger: Ledger, connector: str, stream: str, overlap: timedelta | None = None) -> Cursor:
        text = ledger.cursor(connector, stream)
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
        return cls(connector, stream, value, overlap if overlap is not None else timedelta(minutes=5))

    @property
    def since(self) -> datetime | None:
        """The lower bound of the next read, or None for a full read."""
        return None if self.value is None else self.value - self.overlap

    def advanced(self, seen: datetime | None) -> Cursor:
        if seen is None or (self.value is not None and seen <= self.value):
            return self
        return Cursor(self.connector, self.stream, seen.astimezone(UTC), self.overlap)

    def save(self, ledger: Ledger) -> None:
        if self.value is not None:
            ledger.set_cursor(self.connector, self.stream, self.value.astimezone(UTC).isoformat().replace("+00:00", "Z"))




# --- managed fields must be fields cosell owns -------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ManagedName:
    """A managed field setting: its role, the CRM name it gives, and where it sits in the settings."""

    role: str
    name: str
    loc: Loc
    given: bool
    """True when the program file sets it (the error then points at it); False for a default."""


def check_managed_names(
    title: str,
    managed: Sequence[ManagedName],
    read: Sequence[tuple[Loc, str | None]],
    not_owned: Callable[[str], str | None],
) -> None:
    """Refuse managed fields cosell does not own (SPEC: cosell writes only its own fields).

    A managed field must pass ``not_owned`` (which says why a name is a CRM's standard field), must not
    be a field any setting reads (``read``: where each read name is set, and the name), and two roles
    must not share one field. Names compare case-insensitively, as both CRMs do. Raises a pydantic
    ``ValidationError`` whose locations point at the offending setting, so program errors name its line.
    """
    errors: list[InitErrorDetails] = []
    readers: dict[str, Loc] = {}
    for loc, name in read:
        if name:
            readers.setdefault(name.lower(), loc)
    roles: dict[str, ManagedName] = {}

    def refuse(m: ManagedName, message: str, other: Loc | None = None) -> None:
        # a default managed name that collides with a setting the file gives: point at that setting
        loc = other if other is not None and not m.given else m.loc
        errors.append(
            InitErrorDetails(
                type=PydanticCustomError("managed_field", "{message}", {"message": message}),
                loc=loc,
                input=m.name,
            )
        )

    for m in managed:
        key = m.name.lower()
        why = not_owned(m.name)
        if why is not None:
            refuse(m, f"{m.name!r} cannot hold cosell's {m.role}: {why}")
        elif key in readers:
            where = ".".join(str(p) for p in readers[key])
            refuse(
                m,
                f"{m.name!r} cannot hold cosell's {m.role}: cosell reads it ({where}); "
                "a managed field must be one only cosell writes",
                readers[key],
            )
        elif key in roles:
            first = roles[key]
            refuse(m, f"{m.name!r} cannot hold both cosell's {first.role} and its {m.role}", first.loc)
        roles.setdefault(key, m)
    if errors:
        raise ValidationError.from_exception_data(title, errors)


# --- which CRM a ledger's snapshot belongs to, and when to read it whole again -----------------------

FULL_READ_AT = "full_read_at"
"""The cursor (under a CRM's storage key) holding when its last full read finished (audit time, UTC)."""
IDENTITY = "identity"
"""The cursor (under the connector's bare name) holding the storage key of the CRM it last read."""


def identity_notes(ledger: Ledger, connector: str, key: str, what: str) -> list[str]:
    """What to tell the user when the CRM behind a connector is not the one this ledger last read
    (a refreshed sandbox, another org), or when the ledger holds a snapshot from before snapshots were
    keyed by the CRM's identity. Either way nothing of the other CRM is used: its rows sit under
    another key. Records ``key`` as the CRM this ledger reads now."""
    notes = []
    before = ledger.cursor(connector, IDENTITY)
    if before and before != key:
        notes.append(
            f"{what} {key.partition(':')[2]} is not the one this ledger last read "
            f"({before.partition(':')[2]}): read in full; nothing synced from the other one "
            "(snapshot, cursors, pending writes) is used"
        )
    elif not before and ledger.cursor(key, FULL_READ_AT) is None and _has_unkeyed_rows(ledger, connector):
        notes.append(
            f"this ledger's snapshot was not keyed by the {what}'s id (an older cosell): read in full"
        )
    if before != key:
        ledger.set_cursor(connector, IDENTITY, key)
    return notes


def _has_unkeyed_rows(ledger: Ledger, connector: str) -> bool:
    objects = ("Account", "Opportunity", "companies", "deals")
    return any(ledger.snapshot_count(connector, obj) for obj in objects)


def full_read_due(
    ledger: Ledger, key: str, *, forced: bool, after_days: float | None, now: datetime
) -> tuple[bool, str | None]:
    """Whether this sync reads every stream whole (so the managed values compared before writing are
    the CRM's own, not the snapshot's copy), and the note that says why. Due when asked for
    (``--full-sync``), on the first read of a CRM, and once the last full read is ``after_days`` old;
    the clock only decides when to read, never what a run computes."""
    if forced:
        return True, "read in full (--full-sync): managed values compared with what the CRM holds now"
    last_text = ledger.cursor(key, FULL_READ_AT)
    if not last_text:
        return True, None
    if after_days is None:
        return False, None
    last = datetime.fromisoformat(last_text.replace("Z", "+00:00"))
    if now - last < timedelta(days=after_days):
        return False, None
    return True, (
        f"read in full: the last full read was {last_text[:10]}, more than {after_days:g} day(s) ago "
        "(full_read_after_days)"
    )


def full_read_done(ledger: Ledger, key: str, now: datetime) -> None:
    stamp = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    ledger.set_cursor(key, FULL_READ_AT, stamp)
