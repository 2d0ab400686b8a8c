"""The outbox sender: the planned writes a run stored as pending, sent to the target in batches, each
confirmed write marked done, each refused one kept with the target's error for the next run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .computation import Progress
from .connector import BeginsRun, Connector, FieldValues, FieldWrite, RecordKey
from .ledger import Ledger, OutboxItem
from .writeback import same_value


def _holds(current: FieldValues, values: FieldValues) -> bool:
    return all(same_value(v, current.get(f)) for f, v in values.items())


def _landed(
    pending: Sequence[OutboxItem], keys: Sequence[RecordKey], current: Mapping[RecordKey, FieldValues]
) -> list[int]:
    """The ids of the pending writes the target already holds. A record the target does not hold
    holds a write only when the write clears every field (``same_value(v, None)``): a run's first
    write-back, where the target holds none of its records, costs no comparison per field."""
    landed = []
    for item, key in zip(pending, keys, strict=True):
        now = current.get(key)
        if now is None:
            for value in item.write.values.values():
                if value not in ("", None):
                    break
            else:
                landed.append(item.id)
        elif _holds(now, item.write.values):
            landed.append(item.id)
    return landed


def write_pending(
    connector: Connector,
    ledger: Ledger,
    target: str,
    progress: Progress,
    stored: tuple[int, Sequence[FieldWrite]] | None = None,
) -> tuple[int, list[str]]:
    """Send the outbox's pending writes for a target. Rows an interrupted run already landed are found
    equal on the target and marked done without being sent again. ``stored``: the run's id and the
    writes it just stored, which the ledger need not read back (``Ledger.pending_writes``)."""
    if isinstance(connector, BeginsRun):
        connector.begin_run()  # e.g. the files connector starts the run's changes.csv, even when nothing changes
    pending = ledger.pending_writes(target, stored)
    if not pending:
        return 0, []
    keys = [(item.write.object, item.write.record_id) for item in pending]
    landed = _landed(pending, keys, connector.current_values(keys))
    if landed:
        ledger.mark_written(landed)
        done = set(landed)
        kept = [i for i, item in enumerate(pending) if item.id not in done]
        pending, keys = [pending[i] for i in kept], [keys[i] for i in kept]
    advance = progress.step("writing back", len(pending))
    written, failures = 0, []
    size = max(1, connector.write_batch_size)
    for start in range(0, len(pending), size):
        batch = pending[start : start + size]
        outcomes = {o.key: o for o in connector.write([item.write for item in batch])}
        ok, failed = [], {}
        for item, key in zip(batch, keys[start : start + size], strict=True):
            outcome = outcomes.get(key)
            if outcome is not None and outcome.ok:
                ok.append(item.id)
            else:
                error = outcome.error if outcome is not None else "the target gave no answer for this record"
                failed[item.id] = error or "refused"
                failures.append(f"{item.write.object} {item.write.record_id}: {error}")
        ledger.mark_written(ok)
        ledger.mark_failed(failed)
        written += len(ok)
        advance(len(batch))
    return written, failures
