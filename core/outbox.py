"""The outbox sender: the planned writes a run stored as pending, sent to the target in batches, each
confirmed write marked done, each refused one kept with the target's error for the next run."""

from __future__ import annotations

from collections.abc import Sequence

from .computation import Progress
from .connector import BeginsRun, Connector, FieldValues, FieldWrite
from .ledger import Ledger
from .writeback import same_value


def _holds(current: FieldValues, values: FieldValues) -> bool:
    return all(same_value(v, current.get(f)) for f, v in values.items())


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
    current = connector.current_values([item.write.key for item in pending])
    landed = {item.id for item in pending if _holds(current.get(item.write.key, {}), item.write.values)}
    ledger.mark_written(sorted(landed))
    todo = [item for item in pending if item.id not in landed]
    advance = progress.step("writing back", len(todo))
    written, failures = 0, []
    size = max(1, connector.write_batch_size)
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        outcomes = {o.key: o for o in connector.write([item.write for item in batch])}
        ok, failed = [], {}
        for item in batch:
            outcome = outcomes.get(item.write.key)
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
