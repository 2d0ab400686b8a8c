"""What a connector is: a source of records and a target for the managed fields.

Connectors register themselves through the ``cosell_register_connectors`` hook. The engine asks one
for the records, computes, plans the field values, and hands the connector only the changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

# The write-value types live in .fields (the ledger's outbox uses them too); re-exported from here.
from .fields import (
    ACCOUNT_FIELDS,
    DEAL_FIELDS,
    MANAGED_FIELDS,
    FieldValues,
    FieldWrite,
    ObjectName,
    RecordKey,
    WriteOutcome,
)
from .records import RecordSet
from .snapshot import SnapshotStore

if TYPE_CHECKING:
    from .computation import Progress
    from .periods import Period
    from .program import Program

__all__ = [
    "ACCOUNT_FIELDS",
    "DEAL_FIELDS",
    "MANAGED_FIELDS",
    "ClaimLeftOut",
    "Connector",
    "ConnectorFactory",
    "ConnectorSpec",
    "FieldValues",
    "FieldWrite",
    "LeavesOutClaims",
    "Notes",
    "ObjectName",
    "RecordKey",
    "SetupFunction",
    "SetupResult",
    "ShowsProgress",
    "SnapshotStore",
    "Syncs",
    "Targets",
    "WriteOutcome",
]


class Connector(Protocol):
    """A source of canonical records and a target for managed fields."""

    name: str
    write_batch_size: int
    """How many records one write call may carry (200 for Salesforce collections, 100 for HubSpot)."""

    def read(self, program: Program, ledger: SnapshotStore) -> RecordSet:
        """Every record the engine computes from. CRM connectors sync into the ledger's snapshot first."""
        ...

    def current_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        """The managed fields' values the target holds now; a key it lacks may be left out."""
        ...

    def write(self, writes: Sequence[FieldWrite]) -> Sequence[WriteOutcome]:
        """Send one batch (at most ``write_batch_size`` records); one outcome per record."""
        ...


@runtime_checkable
class ShowsProgress(Protocol):
    """A connector that reports its long steps to the run's progress: records read so far per object,
    each retry (attempt, wait). The engine hands it the progress before reading."""

    def show_progress(self, progress: Progress) -> None: ...


ConnectorFactory = Callable[[Mapping[str, Any]], Connector]
"""Builds a connector from options: ``input`` and ``output`` (CLI folders), ``program`` (the Program, or
None), ``settings`` (every plugin's validated settings by key, the connector's own included) and ``env``
(the environment: credentials come from there, never from files or arguments). ``read_only`` True: the
command only reads (``cosell compare``): the connector must make no call that changes the source."""


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What ``cosell setup`` did: fields created, found, found wrong, and the steps left to an admin."""

    created: tuple[str, ...] = ()
    existing: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()


SetupFunction = Callable[[Mapping[str, Any]], SetupResult]
"""Creates the managed fields in the CRM, idempotently; gets the same options as the factory."""


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """A connector as its plugin registers it: how to build it and what it needs from the command line,
    the installation and the environment (the CLI's messages come from here, never from its name)."""

    name: str
    factory: ConnectorFactory
    description: str = ""
    setup: SetupFunction | None = None
    """``cosell setup NAME``: None for connectors with nothing to set up."""
    input: str | None = None
    """What ``--input DIR`` holds, for a connector that reads a folder (None: it reads no folder).
    A command that reads records refuses to start without it."""
    output: str | None = None
    """What goes to ``--output DIR``, for a connector that writes to a folder (None: it writes no
    folder). A command that writes back refuses to start without it."""
    extra: str | None = None
    """The install extra its client library comes with (``cosell[extra]``), named when it is missing."""
    env: tuple[str, ...] = ()
    """The environment variables it reads (credentials and endpoints), for the docs and ``cosell plugins``."""
    default_for: tuple[str, ...] = ()
    """The commands (``run``, ``explain``, ``sync``) that use this connector when ``--connector`` is not
    given; the first installed connector naming a command is its default."""


# --- what a connector may also do (the engine and the CLI check with isinstance) ---------------------


@runtime_checkable
class Syncs(Protocol):
    """Connectors that keep a snapshot in the ledger implement ``sync`` (``cosell sync``)."""

    def sync(self, program: Program, ledger: SnapshotStore) -> Mapping[str, int]:
        """Pull records changed since the cursors into the snapshot; returns counts per object."""
        ...


@runtime_checkable
class Targets(Protocol):
    """What the outbox keys pending writes by (default: the connector's name). The files connector uses
    its output folder and a CRM its org or portal, so writes planned for one are never sent to another."""

    @property
    def target(self) -> str: ...


@runtime_checkable
class Notes(Protocol):
    """Lines a connector wants shown after a run (API calls left, say)."""

    def notes(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class ClaimLeftOut:
    """An MDF claim a connector left out of the records because the record it names (``what``: account,
    company) is no partner of the program: a customer's, or one of a partner that left."""

    id: str
    """The claim's id."""
    what: str
    """What the CRM calls the record it names (``account``, ``company``)."""
    named: str
    """The id of the record it names."""
    approved_on: date | None = None
    """Its approval date as the CRM holds it; None when it holds none (or no date)."""


CLAIMS_NAMED = 5
"""How many claims left out the run's note names (it counts the others)."""


@runtime_checkable
class LeavesOutClaims(Protocol):
    """Connectors that leave out the MDF claims of records that are no partners say which: the run names
    those approved in the period it runs (the claims that period would fund), not every such claim the
    CRM holds, which would repeat the same old claims in every run."""

    def claims_left_out(self) -> Sequence[ClaimLeftOut]: ...


def claims_left_out_note(left_out: Sequence[ClaimLeftOut], period: Period) -> list[str]:
    """The run's note about the claims left out that were approved in ``period``: such a claim funds no
    one, and stops no run; the note says which (``CLAIMS_NAMED`` of them, with a count). A claim approved
    in another period is that period's (its runs named it), and one not approved yet is funded by none."""
    named = [c for c in left_out if c.approved_on is not None and c.approved_on in period]
    if not named:
        return []
    text = "; ".join(f"claim {c.id}: {c.what} {c.named}" for c in named[:CLAIMS_NAMED])
    more = len(named) - CLAIMS_NAMED
    if more > 0:
        text += f"; {more} more"
    count = f"{len(named)} MDF claim{'s' if len(named) != 1 else ''}"
    what = "/".join(dict.fromkeys(c.what for c in named))
    return [
        f"{count} approved in {period.key} left out: the {what} each names is no partner of the program ({text})"
    ]


@runtime_checkable
class BeginsRun(Protocol):
    """Called once before a run's write-back, even when nothing changes (the files connector starts the
    run's ``changes.csv``)."""

    def begin_run(self) -> None: ...


@runtime_checkable
class SendsInParts(Protocol):
    """Connectors that send one write batch in several calls to the target (Salesforce: collections of
    200, Bulk jobs). The outbox gives them a check to make before each call (None: none), which raises to
    stop sending: the run's lock on the ledger is gone, and another run may be writing the same records."""

    def check_before_each_call(self, check: Callable[[], None] | None) -> None: ...


@runtime_checkable
class WritesLocally(Protocol):
    """Connectors that write a batch at once to a target on this machine, in seconds (the files
    connector: its output folder), not through a remote service. While such a connector writes a batch,
    the outbox marks the batch written in a transaction it commits only once the connector
    confirmed every write (else rolls back, and the rows stay pending): the ledger's work goes on beside
    the connector's instead of after it. That transaction holds the ledger's write lock meanwhile: such a
    connector's ``write`` must not write to the ledger, and a write to a remote service, minutes long,
    must not claim to be local."""

    writes_locally: bool


@runtime_checkable
class ReadsFresh(Protocol):
    """Connectors whose ``current_values`` answer from the records they synced can also read the managed
    values from the target itself: the engine asks that for the records an interrupted run may have
    written after this run's sync (its unconfirmed outbox rows)."""

    def fresh_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]: ...


def target_of(connector: Connector) -> str:
    """What the outbox keys a connector's writes by."""
    return connector.target if isinstance(connector, Targets) else connector.name
