"""The outbox sender: the planned writes a run stored as pending, sent to the target in batches, each
confirmed write marked done, each refused one kept with the target's error for the next run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence

from .computation import Progress
from .connector import (
    BeginsRun,
    Connector,
    FieldValues,
    FieldWrite,
    RecordKey,
    SendsInParts,
    WritesLocally,
)
from .ledger import Ledger
from .writeback import same_value


def _holds(current: FieldValues, values: FieldValues) -> bool:
    return all(same_value(v, current.get(f)) for f, v in values.items())


def _landed(
    ids: Sequence[int],
    writes: Sequence[FieldWrite],
    keys: Sequence[RecordKey],
    current: Mapping[RecordKey, FieldValues],
) -> list[int]:
    """The ids of the pending writes the target already holds. A record the target does not hold
    holds a write only when the write clears every field (``same_value(v, None)``): a run's first
    write-back, where the target holds none of its records, costs no comparison per field."""
    landed = []
    for row_id, write, key in zip(ids, writes, keys, strict=True):
        now = current.get(key)
        if now is None:
            for value in write.values.values():
                if value not in ("", None):
                    break
            else:
                landed.append(row_id)
        elif _holds(now, write.values):
            landed.append(row_id)
    return landed


def write_pending(
    connector: Connector,
    ledger: Ledger,
    target: str,
    progress: Progress,
    stored: tuple[int, Sequence[FieldWrite]] | None = None,
) -> tuple[int, list[str]]:
    """Send the outbox's pending writes for a target. A run's own writes, when they are all that is
    pending, are sent without asking the target again. Other pending rows (a caller passing no
    ``stored``, or rows the ledger cannot give back as the run's) are compared with the target first,
    and those it holds already are marked done without being sent. A run never meets an interrupted
    run's rows here: its store marked them superseded, and its plan, compared with what the target
    holds now, wants again only the writes that did not land. ``stored``: the run's id and the writes it
    just stored, which the ledger need not read back (``Ledger.pending_ids``)."""
    if isinstance(connector, BeginsRun):
        connector.begin_run()  # e.g. the files connector starts the run's changes.csv, even when nothing changes
    ids, writes = ledger.pending_ids(target, stored)
    if not writes:
        return 0, []
    keys = [(write.object, write.record_id) for write in writes]
    # Rows not known as the run's own may have landed: the target is asked what it holds. A run's own writes,
    # when they are all that is pending, were planned against what the target holds (values it does not
    # hold yet, each) and the run superseded every older row: none of them can have landed.
    own = stored is not None and writes is stored[1]
    landed = [] if own else _landed(ids, writes, keys, connector.current_values(keys))
    if landed:
        ledger.mark_written(landed)
        done = set(landed)
        kept = [i for i, row_id in enumerate(ids) if row_id not in done]
        ids, writes, keys = [ids[i] for i in kept], [writes[i] for i in kept], [keys[i] for i in kept]
    advance = progress.step("writing back", len(writes))
    written, failures = 0, []
    # A connector that sends a batch in several calls checks the run's locks before each call too.
    parts = connector if isinstance(connector, SendsInParts) else None
    if parts is not None:
        parts.check_before_each_call(ledger.confirm_held)
    try:
        size = max(1, connector.write_batch_size)
        for start in range(0, len(writes), size):
            batch, batch_ids, batch_keys = (
                writes[start : start + size],
                ids[start : start + size],
                keys[start : start + size],
            )
            # Nothing is sent once the run's locks are gone or another run superseded these rows: on
            # PostgreSQL a lock lives in a session the server may close, and the other run then goes ahead.
            ledger.confirm_held()
            ledger.confirm_pending(target, batch_ids)
            ok: Sequence[int]
            failed: dict[int, str] = {}
            with _marking(ledger, connector, batch_ids) as commit:
                answers = connector.write(batch)
                # one confirmation per write, in order (as a rule): each write confirmed
                every = [a.key for a in answers] == batch_keys and all(a.ok for a in answers)
                marked = every and commit is not None and commit()
            if every:
                ok = batch_ids
            else:
                ok = []
                outcomes = {o.key: o for o in answers}
                for row_id, write, key in zip(batch_ids, batch, batch_keys, strict=True):
                    outcome = outcomes.get(key)
                    if outcome is not None and outcome.ok:
                        ok.append(row_id)
                    else:
                        error = (
                            outcome.error
                            if outcome is not None
                            else "the target gave no answer for this record"
                        )
                        failed[row_id] = error or "refused"
                        failures.append(f"{write.object} {write.record_id}: {error}")
            if not marked:
                ledger.mark_written(ok)
            ledger.mark_failed(failed)
            written += len(ok)
            advance(len(batch))
    finally:
        if parts is not None:
            parts.check_before_each_call(None)
    return written, failures


def _marking(
    ledger: Ledger, connector: Connector, ids: Sequence[int]
) -> contextlib.AbstractContextManager[Callable[[], bool] | None]:
    """For a connector that writes locally (``WritesLocally``), the ledger marking the batch written
    while the connector writes it (``Ledger.marking_written``); for any other, nothing (None): its batch
    is marked once sent."""
    if isinstance(connector, WritesLocally) and connector.writes_locally and ids:
        return ledger.marking_written(ids)
    return contextlib.nullcontext()
