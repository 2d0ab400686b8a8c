"""What a CRM connector may keep between runs: the snapshot of the records it read, the cursors of its
incremental reads, and small named values of its own (when the last full read was, a Bulk job not yet
settled). :class:`cosell.ledger.Ledger` provides it; connectors are typed against this, not the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from .ledger import decode_json, encode_json


class SnapshotStore(Protocol):
    """Storage for one or more connectors, each under its own key (``salesforce:<org id>``, ...)."""

    def snapshot_upsert(
        self, connector: str, obj: str, records: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> int:
        """Insert or replace records (id, payload) of ``connector``'s ``obj``; returns how many were given."""
        ...

    def snapshot_delete(self, connector: str, obj: str, ids: Iterable[str]) -> int:
        """Remove records; returns how many were there."""
        ...

    def snapshot(self, connector: str, obj: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored record of ``connector``'s ``obj`` (id, payload), ordered by id."""
        ...

    def snapshot_texts(self, connector: str, obj: str) -> Iterator[tuple[str, str]]:
        """As :meth:`snapshot`, each payload as the JSON text :func:`cosell.ledger.encode_json` makes
        of it, not decoded: for comparing with what a read brings."""
        ...

    def snapshot_ids(self, connector: str, obj: str) -> set[str]:
        """The ids of every stored record of ``connector``'s ``obj``."""
        ...

    def snapshot_count(self, connector: str, obj: str) -> int: ...

    def cursor(self, connector: str, stream: str) -> str | None:
        """Where the last incremental read of ``stream`` stopped (None: never read)."""
        ...

    def set_cursor(self, connector: str, stream: str, value: str) -> None: ...

    def state(self, connector: str, name: str) -> str | None:
        """A value the connector keeps between runs that is not a read position (None or "": unset)."""
        ...

    def set_state(self, connector: str, name: str, value: str) -> None:
        """Keep ``value`` under ``name``; "" clears it."""
        ...


class ReadThroughSnapshot:
    """A :class:`SnapshotStore` that reads the ledger's snapshot, cursors and state and keeps every change
    in memory: a connector syncs as usual (from the stored cursors, so only what changed since the
    last run is fetched) and computes from the stored snapshot with the changes laid over it, and the
    ledger is never written (``cosell compare``). An ``under`` of None reads as an empty store."""

    def __init__(self, under: SnapshotStore | None) -> None:
        self._under = under
        self._records: dict[tuple[str, str], dict[str, str | None]] = {}
        """Changed records per (connector, object): the payload as the ledger would keep it (JSON, so it
        reads back as a stored one does), or None for a deleted record."""
        self._cursors: dict[tuple[str, str], str] = {}

    def _changes(self, connector: str, obj: str) -> dict[str, str | None]:
        return self._records.setdefault((connector, obj), {})

    def snapshot_upsert(
        self, connector: str, obj: str, records: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> int:
        changes = self._changes(connector, obj)
        count = 0
        for rid, payload in records:
            changes[rid] = encode_json(payload)
            count += 1
        return count

    def snapshot_delete(self, connector: str, obj: str, ids: Iterable[str]) -> int:
        present = self.snapshot_ids(connector, obj)
        changes = self._changes(connector, obj)
        deleted = 0
        for rid in ids:
            if rid in present:
                deleted += 1
                present.discard(rid)
            changes[rid] = None
        return deleted

    def snapshot(self, connector: str, obj: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for rid, payload in self.snapshot_texts(connector, obj):
            yield rid, decode_json(payload)

    def snapshot_texts(self, connector: str, obj: str) -> Iterator[tuple[str, str]]:
        changes = self._records.get((connector, obj), {})
        stored = self._under.snapshot_texts(connector, obj) if self._under is not None else iter(())
        if not changes:
            yield from stored
            return
        merged: dict[str, str | None] = dict(stored)
        merged.update(changes)
        for rid in sorted(merged, key=str.encode):  # by id, byte-wise, as the ledger orders them
            payload = merged[rid]
            if payload is not None:
                yield rid, payload

    def snapshot_ids(self, connector: str, obj: str) -> set[str]:
        ids = self._under.snapshot_ids(connector, obj) if self._under is not None else set()
        for rid, payload in self._records.get((connector, obj), {}).items():
            if payload is None:
                ids.discard(rid)
            else:
                ids.add(rid)
        return ids

    def snapshot_count(self, connector: str, obj: str) -> int:
        return len(self.snapshot_ids(connector, obj))

    def cursor(self, connector: str, stream: str) -> str | None:
        if (connector, stream) in self._cursors:
            return self._cursors[connector, stream]
        return self._under.cursor(connector, stream) if self._under is not None else None

    def set_cursor(self, connector: str, stream: str, value: str) -> None:
        self._cursors[connector, stream] = value

    def state(self, connector: str, name: str) -> str | None:
        # Cursors and state share one table in the ledger; here they share one mapping the same way.
        return self.cursor(connector, name)

    def set_state(self, connector: str, name: str, value: str) -> None:
        self.set_cursor(connector, name, value)
