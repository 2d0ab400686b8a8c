"""The HubSpot connector: sync then read the snapshot, compare and write the managed properties.

``current_values`` answers from the snapshot the run's own sync has just refreshed: the sync reads the
managed properties along with the rest, so comparing costs no API call. Records cosell wrote bump
``hs_lastmodifieddate`` and come back in the next incremental read, which is how a batch that landed
before a crash is seen as landed by the next run (HubSpot's search index trails writes by seconds; a
record read before the index caught up is re-sent with the same values, which changes nothing).
Keys missing from the snapshot are read with batch read (100 a call).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cosell.connector import ClaimLeftOut, FieldValues, FieldWrite, RecordKey, WriteOutcome
from cosell.connectors.common import Reconciler, RetryPolicy, SnapshotSync, identity_notes
from cosell.errors import ConfigError
from cosell.records import RecordSet

from .client import Credentials, HubSpotClient, HubSpotRefused
from .mapping import HubSpotSettings, build_records
from .reader import CONNECTOR, RETENTION, HubSpotSync, load_snapshot, managed_values, storage_key

if TYPE_CHECKING:
    from cosell.computation import Progress
    from cosell.program import Program
    from cosell.snapshot import SnapshotStore

OBJECT_TYPES = {"account": "companies", "deal": "deals"}
"""cosell's objects → HubSpot object types."""


class HubSpotConnector:
    """Records from a HubSpot portal; managed properties written back with batch update (100 a call)."""

    name = CONNECTOR
    write_batch_size = 100

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings, *, full_sync: bool = False) -> None:
        self.client = client
        self.settings = settings
        self.full_sync = full_sync
        self._held: dict[RecordKey, FieldValues] = {}
        self._gone: set[RecordKey] = set()
        """Records a batch read of this run found the portal without (archived or purged): not asked
        for again by the same run."""
        self.reconciler = Reconciler(CONNECTOR, RETENTION)
        self._ledger: SnapshotStore | None = None
        self._key: str | None = None
        self._notes: list[str] = []
        self._claims_left_out: list[ClaimLeftOut] = []
        self._progress: Progress | None = None
        self._synced_links: Mapping[str, Mapping[str, Mapping[str, Any]]] = {}
        """The associations the last sync left in the snapshot (``HubSpotSync.links``), for ``read``."""

    def show_progress(self, progress: Progress) -> None:
        """Records read so far per object, and each retry, shown on the run's progress."""
        self._progress = progress
        self.client.policy = dataclasses.replace(self.client.policy, progress=progress)

    def __repr__(self) -> str:
        return f"HubSpotConnector(base_url={self.client.credentials.base_url!r})"

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], *, client: HubSpotClient | None = None
    ) -> HubSpotConnector:
        settings = settings_of(options)
        if client is None:
            credentials = Credentials.from_env(options.get("env") or {})
            client = HubSpotClient(
                credentials,
                policy=RetryPolicy(budget_seconds=settings.retry_budget_seconds),
                search_per_second=settings.search_requests_per_second,
                per_ten_seconds=settings.requests_per_ten_seconds,
            )
        return cls(client, settings, full_sync=bool(options.get("full_sync")))

    @property
    def key(self) -> str:
        """``hubspot:<portal id>``: what the ledger keys this portal's snapshot, cursors and outbox rows
        by (one call, ``GET /account-info/v3/details``, the first time)."""
        if self._key is None:
            self._key = storage_key(self.client.portal_id())
        return self._key

    @property
    def target(self) -> str:
        """The outbox target: the portal, so writes planned for one portal are never sent to another."""
        return self.key

    # -- reading ----------------------------------------------------------------------------------------

    def sync(self, program: Program, ledger: SnapshotStore) -> Mapping[str, int]:
        """Pull changes into the snapshot. Every stream is read whole on the first read of a portal, with
        ``--full-sync`` and once the last full read is ``full_read_after_days`` old."""
        key = self.key
        self._ledger = ledger
        self._gone = set()
        self._synced_links = {}
        self.reconciler.connector = key
        self._notes += identity_notes(ledger, CONNECTOR, key, "HubSpot portal")
        now = datetime.now(UTC)  # decides only whether to read everything, never what is computed
        sync = SnapshotSync(
            ledger,
            key,
            overlap=timedelta(minutes=self.settings.overlap_minutes),
            reconciler=self.reconciler,
            progress=self._progress,
        )
        why = sync.decide_full(forced=self.full_sync, after_days=self.settings.full_read_after_days, now=now)
        if why:
            self._notes.append(why)
        hubspot_sync = HubSpotSync(self.client, self.settings, sync)
        counts = hubspot_sync.run()
        sync.finished(now)
        self._synced_links = hubspot_sync.links
        return counts

    def read(self, program: Program, ledger: SnapshotStore) -> RecordSet:
        self.sync(program, ledger)
        snap = load_snapshot(ledger, self.settings, self.key, self._synced_links)
        self._synced_links = {}
        accounts, deals = self.settings.managed("account"), self.settings.managed("deal")
        self._held = {("account", cid): managed_values(p, accounts) for cid, p in snap.companies.items()}
        self._held.update({("deal", did): managed_values(p, deals) for did, p in snap.deals.items()})
        self._claims_left_out = []
        return build_records(
            snap, self.settings, program.zone, program.currency, claims_left_out=self._claims_left_out
        )

    def claims_left_out(self) -> Sequence[ClaimLeftOut]:
        return self._claims_left_out

    # -- writing ----------------------------------------------------------------------------------------

    def current_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        found = {key: self._held[key] for key in keys if key in self._held}
        return {**found, **self._batch_read([key for key in keys if key not in found])}

    def fresh_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        """The managed values the portal holds now, by batch read (not the copy this run synced)."""
        found = self._batch_read(keys)
        self._held.update(found)
        return found

    def _batch_read(self, keys: Sequence[RecordKey]) -> dict[RecordKey, FieldValues]:
        """The managed values of ``keys`` the portal holds, 100 a call; a record it does not have (or
        that an earlier batch read of this run found it without) is left out. The engine asks again,
        for what it holds now, for the records ``current_values`` left out: a record the portal no
        longer has is asked for once a run, not twice."""
        found: dict[RecordKey, FieldValues] = {}
        for obj, object_type in OBJECT_TYPES.items():
            names = self.settings.managed(obj)
            missing = sorted({rid for o, rid in keys if o == obj and (o, rid) not in self._gone})
            for start in range(0, len(missing), 100):
                asked = missing[start : start + 100]
                for row in self.client.batch_read(object_type, asked, list(names.values())):
                    found[(obj, row["id"])] = managed_values(row["properties"], names)
                self._gone.update((obj, rid) for rid in asked if (obj, rid) not in found)
        return found

    def write(self, writes: Sequence[FieldWrite]) -> Sequence[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for obj, object_type in OBJECT_TYPES.items():
            names = self.settings.managed(obj)
            items = [
                (w.record_id, {names[f]: ("" if v is None else v) for f, v in w.values.items() if f in names})
                for w in writes
                if w.object == obj
            ]
            outcomes += [
                WriteOutcome((obj, rid), ok, error) for rid, ok, error in self._update(object_type, items)
            ]
        # a record archived (or purged) since the read: the next sync checks the portal's ids
        self.reconciler.check_after_refusals(
            self._ledger, (o.error for o in outcomes if not o.ok), ("OBJECT_NOT_FOUND",)
        )
        # A record the portal no longer has shows no value: a write that only clears its fields has
        # nothing left to do (a deal no run pays any more, archived since the read).
        cleared = {w.key for w in writes if all(v is None for v in w.values.values())}
        return [
            WriteOutcome(o.key, True) if o.key in cleared and _not_found(o.error) else o for o in outcomes
        ]

    def _update(
        self, object_type: str, items: Sequence[tuple[str, Mapping[str, str]]]
    ) -> list[tuple[str, bool, str | None]]:
        """Batch update; a batch refused whole (400) is split until the refused records are found."""
        if not items:
            return []
        try:
            answer = self.client.batch_update(object_type, items)
        except HubSpotRefused as exc:
            if "PROPERTY_DOESNT_EXIST" in exc.message:
                raise ConfigError(
                    f"HubSpot {object_type}: a managed property does not exist ({exc.message[:200]})",
                    hint="run `cosell setup hubspot` (the writes wait in the outbox)",
                ) from None
            if len(items) == 1:
                return [(items[0][0], False, f"{exc.category or exc.status}: {exc.message}")]
            half = len(items) // 2
            return self._update(object_type, items[:half]) + self._update(object_type, items[half:])
        results: list[tuple[str, bool, str | None]] = []
        # HubSpot answers a write to a record merged away under the id of the record it was merged into
        successors = sorted(answer.written - {rid for rid, _ in items})
        for rid, _ in items:
            if rid in answer.failed:
                results.append((rid, False, answer.failed[rid]))
            elif rid in answer.written:
                results.append((rid, True, None))
            elif successors:
                results.append((rid, False, _merged_away(successors)))
            else:
                results.append((rid, False, "HubSpot did not confirm this record"))
        return results

    def notes(self) -> Sequence[str]:
        calls = self.client.calls
        left = self.reconciler.note("HubSpot")
        notes = [*self._notes, *([left] if left else [])]
        if not calls:
            return tuple(notes)
        return (
            *notes,
            "HubSpot API calls: " + ", ".join(f"{kind} {n}" for kind, n in sorted(calls.items())),
        )


def _merged_away(successors: Sequence[str]) -> str:
    named = ", ".join(successors)
    return (
        f"merged into another record since this run read it: HubSpot answered for {named} instead; the "
        "next run writes the merged record's own values"
    )


def settings_of(options: Mapping[str, Any]) -> HubSpotSettings:
    raw = (options.get("settings") or {}).get("hubspot")
    if raw is None:
        return HubSpotSettings()
    if isinstance(raw, HubSpotSettings):
        return raw
    if isinstance(raw, Mapping):
        return HubSpotSettings.model_validate(dict(raw))
    return HubSpotSettings.model_validate(raw.model_dump() if hasattr(raw, "model_dump") else raw)


def _not_found(error: str | None) -> bool:
    """True for HubSpot's refusal of a write to a record it does not have (archived or purged)."""
    return error is not None and error.startswith("OBJECT_NOT_FOUND")
