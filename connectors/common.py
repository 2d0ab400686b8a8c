"""Pieces both CRM connectors share: retries that honour Retry-After, and the sync of a CRM's streams
into the snapshot (:class:`SnapshotSync`: full or incremental reads with their cursors, chunked upserts,
deletions, the reconciliation that removes records the CRM purged, and when to read everything again).

Retries are bounded by time, not by a small count: under a 30 % fault storm five attempts still lose
about 0.2 % of calls, while a time budget keeps trying as long as a scheduled run can afford to.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay

from cosell.errors import ConfigError, UnreachableError
from cosell.ledger import decode_json, encode_json

if TYPE_CHECKING:
    from cosell.computation import Progress
    from cosell.snapshot import SnapshotStore

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

    budget_seconds: float = 60.0
    """About a minute: a CRM that does not answer for that long is down, not slow (exit 4); a run
    that can afford to wait longer sets the connector's ``retry_budget_seconds``."""
    initial_wait: float = 0.5
    max_wait: float = 30.0
    progress: Progress | None = None
    """Where each retry is shown (attempt n, the wait), besides the log: the run's progress bars."""

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
            if self.progress is not None:
                wait = state.next_action.sleep if state.next_action else 0.0
                self.progress.step(f"{what}: {exc}; attempt {state.attempt_number + 1} in {wait:.1f} s")

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


def checked_ca_bundle(variable: str, path: str) -> str:
    """``path`` when it is a readable file holding at least one CA certificate (PEM); otherwise
    ConfigError (exit 2) naming ``variable`` (``SF_CA_BUNDLE``, ``HUBSPOT_CA_BUNDLE``, ...) and the path,
    before any call: a CA file that cannot be used is a configuration error, not an outage."""
    hint = f"set {variable} to a PEM file of the CA to trust (a sandbox's ca_bundle, or your proxy's CA)"
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # missing, unreadable, a folder (ssl.SSLError is an OSError: caught below first)
        if isinstance(exc, ssl.SSLError):
            raise ConfigError(f"{variable} names {path}, which holds no CA certificate", hint=hint) from None
        raise ConfigError(
            f"{variable} names {path}, which cannot be read: {exc.strerror or exc}", hint=hint
        ) from None
    return path


def tls_not_trusted(what: str, server: str, variable: str) -> UnreachableError:
    """The answer to a TLS handshake the CA bundle in use does not trust: said at once, not retried
    (another attempt meets the same certificate)."""
    return UnreachableError(
        f"{what}: the TLS certificate of {server}'s server was not trusted",
        hint=f"set {variable} to the CA file to trust (a sandbox's ca_bundle, or your proxy's CA)",
    )


# --- one sync of a CRM's streams into the snapshot --------------------------------------------------


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
    def load(
        cls, store: SnapshotStore, connector: str, stream: str, overlap: timedelta | None = None
    ) -> Cursor:
        text = store.cursor(connector, stream)
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
        return cls(connector, stream, value, overlap if overlap is not None else timedelta(minutes=5))

    @property
    def since(self) -> datetime | None:
        """The lower bound of the next read, or None for a full read."""
        return None if self.value is None else self.value - self.overlap

    def advanced(self, seen: datetime | None) -> Cursor:
        """This cursor moved to ``seen`` when that is newer (a cursor never goes back)."""
        if seen is None or (self.value is not None and seen <= self.value):
            return self
        return Cursor(self.connector, self.stream, seen.astimezone(UTC), self.overlap)

    def save(self, store: SnapshotStore) -> None:
        if self.value is not None:
            store.set_cursor(
                self.connector, self.stream, self.value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            )


RECONCILED_STREAM = "reconciled"
"""The connector state (per connector) holding when the snapshot was last checked against the CRM's ids."""


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Removes from the snapshot the records the CRM no longer has, whenever the last check is older
    than the CRM's shortest retention of deleted records.

    An incremental read sees a deleted record only while the CRM keeps it (Salesforce's recycle bin:
    15 days, less when the bin is emptied or full, none after a hard delete; HubSpot's archive: 90
    days). A record deleted and purged between two reads would stay in the snapshot, and so in every
    total and write-back, for good. So once per retention window each stream that was read
    incrementally is checked against an ids-only read of the CRM, and snapshot records missing there
    are removed.

    The wall clock decides only *when* to check (the time of the last check is kept as connector
    state); it never changes what a run computes from the records it reads.
    """

    def __init__(
        self, connector: str, retention: timedelta, clock: Callable[[], datetime] = _wall_clock
    ) -> None:
        self.connector = connector
        self.retention = retention
        self.clock = clock
        self.left: dict[str, int] = {}
        """Records removed per object by the last check this process made."""
        self.checked = False

    def due(self, store: SnapshotStore) -> bool:
        """True when the snapshot was never checked, or the last check is a retention window old."""
        text = store.state(self.connector, RECONCILED_STREAM)
        if not text:
            return True
        last = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return self.clock() - last >= self.retention

    def remove_missing(self, store: SnapshotStore, obj: str, live_ids: Iterable[str]) -> list[str]:
        """Remove the snapshot records of ``obj`` that are not among ``live_ids`` (read whole before
        anything is removed, so a read that fails half-way removes nothing); returns their ids."""
        live = set(live_ids)
        gone = sorted(store.snapshot_ids(self.connector, obj) - live)
        if gone:
            store.snapshot_delete(self.connector, obj, gone)
        self.left[obj] = self.left.get(obj, 0) + len(gone)
        self.checked = True
        return gone

    def check_after_refusals(
        self, store: SnapshotStore | None, errors: Iterable[str | None], gone_codes: tuple[str, ...]
    ) -> None:
        """Make the next sync check the ids when the CRM refused a write because the record does not
        exist (``gone_codes``: the error codes saying so): it was deleted, and maybe purged already,
        so only the check can take it out of the snapshot (and its payouts) before the window ends."""
        if store is not None and any(e is not None and e.startswith(gone_codes) for e in errors):
            store.set_state(self.connector, RECONCILED_STREAM, "")

    def done(self, store: SnapshotStore) -> None:
        """Record that the snapshot was checked now (a first read, being full, counts as a check)."""
        stamp = self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z")
        store.set_state(self.connector, RECONCILED_STREAM, stamp)

    def note(self, crm: str) -> str | None:
        """The run-output line saying how many records left, when this process checked a stream."""
        if not self.checked:
            return None
        total = sum(self.left.values())
        if not total:
            return f"{crm} ids checked against the snapshot: no record left"
        per = ", ".join(f"{obj} {n}" for obj, n in sorted(self.left.items()) if n)
        records = "record" if total == 1 else "records"
        return f"{crm} ids checked against the snapshot: {total} deleted {records} left it ({per})"


@dataclass(frozen=True, slots=True)
class Row:
    """One record a stream read gives: its id, its snapshot payload (None: deleted in the CRM) and its
    modification stamp (None when it has none)."""

    id: str
    payload: Mapping[str, Any] | None
    stamp: datetime | None = None


class StreamSource(Protocol):
    """How one CRM stream is read; the CRM's own calls (SOQL, search windows, ...) live behind it."""

    def pages(self, since: datetime | None) -> Iterable[Sequence[Row]]:
        """Pages of rows. ``since`` None: every record the stream holds now (the stream's filter
        applied). Otherwise the records modified at or after ``since``, deleted ones as rows without
        payload where the CRM can tell."""
        ...

    def departed(self, since: datetime | None) -> Iterable[str]:
        """Ids to take out of the snapshot that the pages do not give: records deleted (HubSpot's
        archive) or no longer matching the stream's filter since ``since``. Asked after the pages."""
        ...

    def live_ids(self) -> Iterable[str]:
        """The ids of every record the stream holds now (an ids-only read, for the reconciliation)."""
        ...


def read_began(source: StreamSource) -> datetime | None:
    """The CRM's time when ``source`` answered its read's first call, for a source whose pages are no
    snapshot of one moment (``read_began``: HubSpot's pages, Salesforce's Bulk query chunks and REST
    pages); None for the others. A cursor never passes it."""
    began = getattr(source, "read_began", None)
    return began if isinstance(began, datetime) else None


def stamp_seen(source: StreamSource) -> datetime | None:
    """The newest modification stamp among the records ``source``'s read went past without giving
    them, for a source whose read keeps only some of what it lists (HubSpot's full read keeps the
    records its first-read filter matches: ``stamp_seen``); None for the others. The cursor may go as
    far: the next read asks for every record changed since, those the filter left out too. Without it a
    stream whose read keeps no record would never get a cursor and be read whole every sync."""
    seen = getattr(source, "stamp_seen", None)
    return seen if isinstance(seen, datetime) else None


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream a connector declares: the snapshot object it fills, its cursor's name, its source."""

    object: str
    cursor: str
    source: StreamSource
    full_each_run: bool = False
    """Read whole every run and keep no cursor (rows whose changes do not touch any stamp)."""
    removed: Callable[[Sequence[str]], None] | None = None
    """Told the ids that left the snapshot (before the cursor is saved), to drop what hangs on them."""


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What one stream's sync did."""

    full: bool
    """Whether the read was full (it then replaced the stream's snapshot)."""
    read: int
    """Live records the CRM gave."""
    stored: int
    """Records stored because they differ from the snapshot (new or changed)."""
    deleted: int
    """Records removed: deleted in the CRM, no longer matching the filter, or missing from a full read."""
    reconciled: int = 0
    """Records removed by the check against the CRM's ids."""

    @property
    def changed(self) -> int:
        """Records the snapshot gained, changed or lost."""
        return self.stored + self.deleted + self.reconciled


UPSERT_CHUNK = 2000
"""Changed records stored per snapshot upsert: a sync that fails half-way keeps what it stored (its
cursor is not saved, so the same records are read again)."""


def differs(stored: str | None, payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` differs from a snapshot record as its store keeps it (``snapshot_texts``; None:
    not stored). Equal texts are equal records; texts that differ (the same keys in another order, a
    number written otherwise) are compared as the values they decode to, so nothing is stored again
    that would read back the same."""
    if stored is None:
        return True
    text = encode_json(payload)
    return stored != text and decode_json(stored) != decode_json(text)


class SnapshotSync:
    """One sync of a CRM's streams into the snapshot under ``key`` (Singer/dlt style: the connector
    declares streams and reads pages; this owns everything else).

    - Full or incremental: a stream is read whole when asked (``full``: ``--full-sync``, the first read
      of a CRM, a last full read ``full_read_after_days`` old: :meth:`decide_full`), when it has no
      cursor yet (a new stream, or one whose fields or filter changed) and, for ``full_each_run``
      streams, every run. A full read makes the snapshot equal to what it read; an incremental read asks
      for records modified since the cursor minus the ``overlap`` window.
    - Only records that differ from the snapshot are stored, ``UPSERT_CHUNK`` at a time.
    - Deletions: rows without payload, the source's ``departed`` ids, and (full reads) every snapshot
      record the read did not give.
    - The reconciliation (:class:`Reconciler`): when due, each stream read incrementally is checked
      against the CRM's ids.
    - Cursor saved last: a sync that fails half-way reads the same records again next time.
    """

    def __init__(
        self,
        store: SnapshotStore,
        key: str,
        *,
        overlap: timedelta,
        full: bool = False,
        reconciler: Reconciler | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.overlap = overlap
        self.full = full
        self.reconciler = reconciler
        self.progress = progress
        """Shows each stream's records read so far (``reading deals``), when given."""
        self._check = False

    def decide_full(self, *, forced: bool, after_days: float | None, now: datetime) -> str | None:
        """Set :attr:`full` as :func:`full_read_due` says; returns the note saying why, if any."""
        self.full, why = full_read_due(self.store, self.key, forced=forced, after_days=after_days, now=now)
        return why

    def run(self, streams: Iterable[Stream]) -> dict[str, StreamResult]:
        """Sync every stream, in order; then record the reconciliation when one was made (or the read
        was full, which needs none)."""
        self._check = self.reconciler is not None and self.reconciler.due(self.store)
        results = {stream.object: self.stream(stream) for stream in streams}
        if (self._check or self.full) and self.reconciler is not None:
            self.reconciler.done(self.store)
        return results

    def finished(self, now: datetime) -> None:
        """Record a full read as done at ``now`` (call once the whole sync has succeeded)."""
        if self.full:
            full_read_done(self.store, self.key, now)

    def stream(self, stream: Stream) -> StreamResult:
        """Sync one stream (see the class docstring)."""
        store, key, obj = self.store, self.key, stream.object
        cursor = Cursor.load(store, key, stream.cursor, self.overlap)
        since = None if self.full or stream.full_each_run else cursor.since
        before = dict(store.snapshot_texts(key, obj))
        newest: datetime | None = None
        seen: set[str] = set()
        gone: set[str] = set()
        upserts: list[tuple[str, Mapping[str, Any]]] = []
        read = stored = 0
        advance = self.progress.step(f"reading {obj}") if self.progress is not None else None
        for page in stream.source.pages(since):
            if advance is not None:
                advance(len(page))
            for row in page:
                if row.stamp is not None and (newest is None or row.stamp > newest):
                    newest = row.stamp
                if row.payload is None:
                    gone.add(row.id)
                    continue
                read += 1
                seen.add(row.id)
                if differs(before.get(row.id), row.payload):
                    upserts.append((row.id, row.payload))
                if len(upserts) >= UPSERT_CHUNK:
                    stored += store.snapshot_upsert(key, obj, upserts)
                    upserts = []
        if upserts:
            stored += store.snapshot_upsert(key, obj, upserts)
        gone.update(stream.source.departed(since))
        if since is None:
            gone.update(rid for rid in before if rid not in seen)
        # only what the snapshot holds (before this read, or stored by it) is removed and reported
        removed = sorted(rid for rid in gone if rid in before or rid in seen)
        deleted = store.snapshot_delete(key, obj, removed) if removed else 0
        reconciled: list[str] = []
        if since is not None and self._check and self.reconciler is not None:
            reconciled = self.reconciler.remove_missing(store, obj, stream.source.live_ids())
        if stream.removed is not None and (removed or reconciled):
            stream.removed(sorted({*removed, *reconciled}))
        passed = stamp_seen(stream.source)
        if passed is not None and (newest is None or passed > newest):
            newest = passed
        began = read_began(stream.source)
        if began is not None and newest is not None and newest > began:
            newest = began  # a change made during the read is asked for again by the next one
        if not stream.full_each_run:
            cursor.advanced(newest).save(store)  # saved last
        return StreamResult(since is None, read, stored, deleted, len(reconciled))


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
"""The connector state (under a CRM's storage key) holding when its last full read finished (audit time, UTC)."""
IDENTITY = "identity"
"""The connector state (under the connector's bare name) holding the storage key of the CRM it last read."""


def identity_notes(store: SnapshotStore, connector: str, key: str, what: str) -> list[str]:
    """What to tell the user when the CRM behind a connector is not the one this ledger last read
    (a refreshed sandbox, another org), or when the ledger holds a snapshot from before snapshots were
    keyed by the CRM's identity. Either way nothing of the other CRM is used: its rows sit under
    another key. Records ``key`` as the CRM this ledger reads now."""
    notes = []
    before = store.state(connector, IDENTITY)
    if before and before != key:
        notes.append(
            f"{what} {key.partition(':')[2]} is not the one this ledger last read "
            f"({before.partition(':')[2]}): read in full; nothing synced from the other one "
            "(snapshot, cursors, pending writes) is used"
        )
    elif not before and store.state(key, FULL_READ_AT) is None and _has_unkeyed_rows(store, connector):
        notes.append(
            f"this ledger's snapshot was not keyed by the {what}'s id (an older cosell): read in full"
        )
    if before != key:
        store.set_state(connector, IDENTITY, key)
    return notes


def _has_unkeyed_rows(store: SnapshotStore, connector: str) -> bool:
    objects = ("Account", "Opportunity", "companies", "deals")
    return any(store.snapshot_count(connector, obj) for obj in objects)


def full_read_due(
    store: SnapshotStore, key: str, *, forced: bool, after_days: float | None, now: datetime
) -> tuple[bool, str | None]:
    """Whether this sync reads every stream whole (so the managed values compared before writing are
    the CRM's own, not the snapshot's copy), and the note that says why. Due when asked for
    (``--full-sync``), on the first read of a CRM, and once the last full read is ``after_days`` old;
    the clock only decides when to read, never what a run computes."""
    if forced:
        return True, "read in full (--full-sync): managed values compared with what the CRM holds now"
    last_text = store.state(key, FULL_READ_AT)
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


def full_read_done(store: SnapshotStore, key: str, now: datetime) -> None:
    stamp = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    store.set_state(key, FULL_READ_AT, stamp)
