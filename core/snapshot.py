"""What a CRM connector may keep between runs: the snapshot of the records it read, the cursors of its
incremental reads, and small named values of its own (when the last full read was, a Bulk job not yet
settled). :class:`cosell.ledger.Ledger` provides it; connectors are typed against this, not the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol


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
