"""The Salesforce connector: sync into the ledger's snapshot, records from the whole snapshot,
write-back through sObject Collections, or one Bulk API 2.0 job for a large sObject (bulk.py).

``current_values`` answers from the snapshot the run has just synced: it holds the managed fields as
the org had them (cosell's own writes bump ``SystemModstamp``, so the next sync reads them back), so
comparing costs no API call. Without a sync in this process it queries the org by id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cosell.connector import ClaimLeftOut, FieldValues, FieldWrite, RecordKey, WriteOutcome
from cosell.connectors.common import Reconciler, RetryPolicy, SnapshotSync, identity_notes
from cosell.errors import ConfigError, LockHeldError
from cosell.ledger import Ledger
from cosell.records import RecordSet

from .client import SalesforceClient, connect
from .mapping import SalesforceSettings
from .reader import CONNECTOR, RETENTION, records_from_snapshot, storage_key, sync_all
from .writer import CollectionsWriter

if TYPE_CHECKING:
    from cosell.computation import Progress
    from cosell.program import Program
    from cosell.snapshot import SnapshotStore


GONE_CODES = ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY")
"""Write errors saying the record is not in the org (in the recycle bin, or purged): cosell writes
only its own fields, never lookups, so a bad reference can only be the record's own id."""


def settings_from(options: Mapping[str, Any]) -> SalesforceSettings:
    given = (options.get("settings") or {}).get("salesforce")
    if given is None:
        return SalesforceSettings()
    if isinstance(given, SalesforceSettings):
        return given
    if isinstance(given, Mapping):
        return SalesforceSettings.model_validate(dict(given))
    raise ConfigError(f"plugins.salesforce: expected the Salesforce settings, got {type(given).__name__}")


def client_from(options: Mapping[str, Any], settings: SalesforceSettings) -> SalesforceClient:
    retry = RetryPolicy(budget_seconds=settings.retry_budget_seconds)
    return connect(
        options.get("env") or {},
        api_version=settings.api_version,
        retry=retry,
        timeout=settings.request_timeout_seconds,
    )


class SalesforceConnector:
    """A Salesforce org as cosell's source and target (see docs/salesforce.md)."""

    name = CONNECTOR

    def __init__(
        self,
        client: SalesforceClient,
        settings: SalesforceSettings,
        *,
        full_sync: bool = False,
        read_only: bool = False,
    ) -> None:
        self.client = client
        self.settings = settings
        # With Bulk writes on, the outbox hands over up to bulk_write_batch_size records a call, and the
        # writer splits them: collections of 200, or one Bulk job for an sObject with enough records.
        bulk = settings.bulk_write_threshold is not None
        self.write_batch_size = settings.bulk_write_batch_size if bulk else settings.write_batch_size
        self._ledger: SnapshotStore | None = None
        self._host = urlsplit(client.instance_url).netloc
        self.full_sync = full_sync
        self.read_only = read_only
        """Read and change nothing in the org (``cosell compare``): a Bulk job a killed run left is
        left for the next run to settle."""
        self._key: str | None = None
        self._notes: list[str] = []
        self._claims_left_out: Sequence[ClaimLeftOut] = ()
        self._writer = CollectionsWriter(client, settings)
        self._current: dict[RecordKey, FieldValues] | None = None
        self.reconciler = Reconciler(CONNECTOR, RETENTION)
        self._progress: Progress | None = None

    def show_progress(self, progress: Progress) -> None:
        """Records read so far per sObject, and each retry, shown on the run's progress."""
        self._progress = progress
        session = self.client.session
        session.retry = dataclasses.replace(session.retry, progress=progress)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SalesforceConnector:
        settings = settings_from(options)
        return cls(
            client_from(options, settings),
            settings,
            full_sync=bool(options.get("full_sync")),
            read_only=bool(options.get("read_only")),
        )

    def __repr__(self) -> str:
        return f"<SalesforceConnector {self._host}>"

    @property
    def key(self) -> str:
        """``salesforce:<organization id>``: what the ledger keys this org's snapshot, cursors, Bulk jobs
        and outbox rows by (one call, ``SELECT Id FROM Organization``, the first time)."""
        if self._key is None:
            rows = list(self.client.query("SELECT Id FROM Organization"))
            if not rows or not rows[0].get("Id"):
                raise ConfigError("Salesforce gave no organization id (SELECT Id FROM Organization)")
            self._key = storage_key(str(rows[0]["Id"]))
            self._writer.key = self._key
        return self._key

    def _settle_unless_writing(self, ledger: SnapshotStore) -> None:
        if not isinstance(ledger, Ledger):  # a store of another kind has no runs writing back
            self._writer.settle(ledger)
            return
        try:
            with ledger.hold_target(self.target, wait_seconds=0):
                self._writer.settle(ledger)
        except LockHeldError:
            self._notes.append(
                "another run is writing back to this org: the Bulk jobs it records are left to it"
            )

    @property
    def target(self) -> str:
        """The outbox target: the org, so writes planned for one org are never sent to another."""
        return self.key

    def sync(self, program: Program, ledger: SnapshotStore) -> Mapping[str, int]:
        """Pull records changed since the cursors into the snapshot; counts per sObject. Every stream
        is read whole on the first read of an org, with ``--full-sync`` and once the last full read is
        ``full_read_after_days`` old.

        A Bulk job a killed run left is settled first, so its writes are in what is read (and the
        outbox's comparison finds them landed instead of sending them again). Only while no run is
        writing back to the org: a job recorded then may be that run's, still being uploaded (it settles
        what a killed run left itself, before it sends)."""
        key = self.key
        self._ledger = ledger
        self._notes += identity_notes(ledger, CONNECTOR, key, "Salesforce org")
        if not self.read_only:
            self._settle_unless_writing(ledger)
        now = datetime.now(UTC)  # decides only whether to read everything, never what is computed
        self.reconciler.connector = key
        sync = SnapshotSync(
            ledger,
            key,
            overlap=timedelta(seconds=self.settings.overlap_seconds),
            reconciler=self.reconciler,
            progress=self._progress,
        )
        why = sync.decide_full(forced=self.full_sync, after_days=self.settings.full_read_after_days, now=now)
        if why:
            self._notes.append(why)
        counts = sync_all(self.client, sync, self.settings)
        sync.finished(now)
        return counts

    def read(self, program: Program, ledger: SnapshotStore) -> RecordSet:
        self.sync(program, ledger)
        built = records_from_snapshot(ledger, self.settings, program, self.key)
        self._current = dict(built.current)
        self._claims_left_out = built.claims_left_out
        return built.records

    def claims_left_out(self) -> Sequence[ClaimLeftOut]:
        return self._claims_left_out

    def current_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        if self._current is not None:
            return {k: self._current[k] for k in keys if k in self._current}
        return self._writer.current_values(keys)

    def fresh_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        """The managed values the org holds now, queried by id (not the copy this run synced)."""
        found = self._writer.current_values(keys)
        if self._current is not None:
            self._current.update(found)
        return found

    def check_before_each_call(self, check: Callable[[], None] | None) -> None:
        """``check`` runs before each collections call and each Bulk job of a write (``SendsInParts``)."""
        self._writer.before_call = check

    def write(self, writes: Sequence[FieldWrite]) -> Sequence[WriteOutcome]:
        if self._ledger is not None:
            self._writer.key = self.key  # Bulk jobs are recorded under the org's key
        outcomes = self._writer.write(writes, self._ledger)
        self.reconciler.check_after_refusals(
            self._ledger, (o.error for o in outcomes if not o.ok), GONE_CODES
        )
        if self._current is not None:
            # keep the in-memory view equal to the org, so a later comparison in this process is right
            for w, o in zip(writes, outcomes, strict=True):
                if o.ok:
                    self._current[w.key] = {**self._current.get(w.key, {}), **w.values}
        return outcomes

    def notes(self) -> Sequence[str]:
        left = self.reconciler.note("Salesforce")
        return [*self._notes, *self.client.notes(), *([left] if left else [])]
