"""Write-back through sObject Collections: ``PATCH composite/sobjects``, at most 200 records a call,
``allOrNone=false``, only the managed fields, numbers sent as JSON numbers; and through one Bulk API 2.0
ingest job for an sObject with ``bulk_write_threshold`` records or more in one write call (bulk.py).

Records the org refuses come back one by one as ``CODE: message``; ``UNABLE_TO_LOCK_ROW`` (another
process holds the row) is retried a few rounds in smaller batches before it is reported.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from cosell.connector import MANAGED_FIELDS, FieldValues, FieldWrite, RecordKey, WriteOutcome
from cosell.writeback import same_value

from . import soql
from .bulk import CONNECTOR, NULL, BulkIngest, Poller
from .client import SalesforceClient
from .mapping import SOBJECT_OF, SalesforceSettings, flatten

if TYPE_CHECKING:
    from cosell.snapshot import SnapshotStore

log = logging.getLogger("cosell.connectors.salesforce")

NUMERIC_FIELDS = frozenset({"score", "period_earnings", "incentive"})
"""Managed fields whose Salesforce type is a number or currency: sent as JSON numbers."""
COLLECTION_LIMIT = 200
LOCKED = "UNABLE_TO_LOCK_ROW"
_NUMBER_MARK = re.compile(r'"\\u0000(-?\d+(?:\.\d+)?)\\u0000"')


def collection_body(records: Sequence[Mapping[str, Any]]) -> str:
    """The JSON of a collections PATCH, Decimal values written as exact JSON numbers (not floats, not text)."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return "\x00" + format(value, "f") + "\x00"
        raise TypeError(f"cannot send {type(value).__name__} to Salesforce")

    text = json.dumps({"allOrNone": False, "records": list(records)}, default=mark, ensure_ascii=False)
    return _NUMBER_MARK.sub(r"\1", text)


def api_value(canonical: str, value: str | None) -> Any:
    """A canonical value (text) as Salesforce takes it: None clears; numbers as Decimal."""
    if value in (None, ""):
        return None
    if canonical in NUMERIC_FIELDS:
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{canonical}: {value!r} is not a number") from None
    return value


class CollectionsWriter:
    """Sends managed field values and reads them back when the snapshot cannot answer."""

    def __init__(self, client: SalesforceClient, settings: SalesforceSettings) -> None:
        self.client = client
        self.settings = settings
        self.calls = 0
        self.key = CONNECTOR
        """The ledger key Bulk jobs are recorded under: the connector sets the org's once it knows it."""
        self.before_call: Callable[[], None] | None = None
        """Run before each collections call and each Bulk job; raises to stop sending (the outbox's
        check that the run still holds its lock on the ledger)."""

    def _record(self, write: FieldWrite) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": SOBJECT_OF[write.object]}, "id": write.record_id}
        for canonical, value in write.values.items():
            if canonical not in MANAGED_FIELDS[write.object]:
                raise ValueError(f"{canonical!r} is not a field cosell manages on {write.object}")
            record[self.settings.fields.api_name(canonical)] = api_value(canonical, value)
        return record

    def write(self, writes: Sequence[FieldWrite], ledger: SnapshotStore | None = None) -> list[WriteOutcome]:
        """Send ``writes``: an sObject with at least ``bulk_write_threshold`` records here goes in one Bulk
        job (when a ledger can record it), the rest in collections of 200. Records a job settled from an
        earlier run already wrote, with the same values, are not sent again."""
        outcomes: dict[RecordKey, WriteOutcome] = {}
        todo: list[FieldWrite] = []
        for w in writes:
            if not soql.is_record_id(w.record_id):
                outcomes[w.key] = WriteOutcome(
                    w.key, False, f"MALFORMED_ID: {w.record_id!r} is not a Salesforce id"
                )
            else:
                todo.append(w)
        if ledger is not None:
            todo = self._settle(ledger, todo, outcomes)
            todo = self._bulk(ledger, todo, outcomes)
        self._collections(todo, outcomes)
        return [outcomes[w.key] for w in writes]

    def settle(self, ledger: SnapshotStore) -> None:
        """Settle the Bulk jobs a killed run recorded (before a read: their writes are then read back)."""
        bulk = BulkIngest(self.client, ledger, self._poller(), self.key)
        for sobject in sorted(set(SOBJECT_OF.values())):
            bulk.settle(sobject)

    def _settle(
        self, ledger: SnapshotStore, todo: list[FieldWrite], outcomes: dict[RecordKey, WriteOutcome]
    ) -> list[FieldWrite]:
        """Settle jobs a killed run recorded; writes one of them already made (same values) are done."""
        bulk = BulkIngest(self.client, ledger, self._poller(), self.key)
        landed: dict[str, Mapping[str, str]] = {}
        for sobject in sorted(set(SOBJECT_OF.values())):
            result = bulk.settle(sobject)
            if result is not None:
                landed.update({rid[:15]: row for rid, row in result.succeeded.items()})
        if not landed:
            return todo
        left = []
        for w in todo:
            row = landed.get(w.record_id[:15])
            if row is not None and self._row_holds(w, row):
                outcomes[w.key] = WriteOutcome(w.key, True)
            else:
                left.append(w)
        return left

    def _row_holds(self, write: FieldWrite, row: Mapping[str, str]) -> bool:
        for canonical, value in write.values.items():
            sent = row.get(self.settings.fields.api_name(canonical))
            if sent is None or sent == "":
                return False  # the job did not set this field
            if not same_value(None if sent == NULL else sent, value):
                return False
        return True

    def _poller(self) -> Poller:
        return Poller(timeout=self.settings.bulk_poll_timeout_seconds)

    def _bulk(
        self, ledger: SnapshotStore, todo: list[FieldWrite], outcomes: dict[RecordKey, WriteOutcome]
    ) -> list[FieldWrite]:
        """One Bulk job per sObject with enough records; gives back what goes by collections (the other
        records, and those a job found locked, to be retried in smaller batches)."""
        threshold = self.settings.bulk_write_threshold
        if threshold is None:
            return todo
        by_object: dict[str, list[FieldWrite]] = defaultdict(list)
        for w in todo:
            by_object[w.object].append(w)
        big = {obj for obj, ws in by_object.items() if len(ws) >= threshold}
        if not big:
            return todo
        rest = [w for w in todo if w.object not in big]
        bulk = BulkIngest(self.client, ledger, self._poller(), self.key)
        for obj in sorted(big):
            ws = by_object[obj]
            rows = [self._bulk_row(w) for w in ws]
            columns = sorted({c for row in rows for c in row if c != "Id"})
            if self.before_call is not None:
                self.before_call()
            result = bulk.update(SOBJECT_OF[obj], columns, rows)  # type: ignore[index]
            for w in ws:
                if w.record_id in result.succeeded:
                    outcomes[w.key] = WriteOutcome(w.key, True)
                elif w.record_id in result.failed:
                    error = result.failed[w.record_id]
                    if error.startswith(LOCKED):
                        rest.append(w)
                    outcomes[w.key] = WriteOutcome(w.key, False, error)
                else:
                    why = result.error or "not processed"
                    outcomes[w.key] = WriteOutcome(w.key, False, f"BULK_JOB_{result.state.upper()}: {why}")
        return rest

    def _bulk_row(self, write: FieldWrite) -> dict[str, Any]:
        record = self._record(write)
        del record["attributes"]
        record["Id"] = record.pop("id")
        return record

    def _collections(self, todo: list[FieldWrite], outcomes: dict[RecordKey, WriteOutcome]) -> None:
        size = min(COLLECTION_LIMIT, self.settings.write_batch_size)
        for attempt in range(self.settings.lock_retry_rounds + 1):
            locked: list[FieldWrite] = []
            for start in range(0, len(todo), size):
                batch = todo[start : start + size]
                for w, outcome in zip(batch, self._send(batch), strict=True):
                    if not outcome.ok and (outcome.error or "").startswith(LOCKED):
                        locked.append(w)
                    outcomes[w.key] = outcome
            if not locked or attempt == self.settings.lock_retry_rounds:
                break
            log.warning("%d record(s) locked by another process; retrying in smaller batches", len(locked))
            time.sleep(random.uniform(0.2, 0.5) * 2**attempt)
            todo, size = locked, max(1, size // 4)

    def _send(self, batch: Sequence[FieldWrite]) -> list[WriteOutcome]:
        if self.before_call is not None:
            self.before_call()
        self.calls += 1
        body = collection_body([self._record(w) for w in batch])
        answer = self.client.restful("composite/sobjects", method="PATCH", body=body)
        results = answer if isinstance(answer, list) else []
        outcomes = []
        for i, w in enumerate(batch):
            result = results[i] if i < len(results) and isinstance(results[i], Mapping) else None
            if result is None:
                outcomes.append(WriteOutcome(w.key, False, "Salesforce gave no result for this record"))
            elif result.get("success"):
                outcomes.append(WriteOutcome(w.key, True))
            else:
                outcomes.append(WriteOutcome(w.key, False, _error_text(result.get("errors"))))
        return outcomes

    def current_values(self, keys: Sequence[RecordKey]) -> dict[RecordKey, FieldValues]:
        """The managed values the org holds, queried by id (used only when no snapshot was read)."""
        by_object: dict[str, list[str]] = defaultdict(list)
        for obj, rid in keys:
            if obj in SOBJECT_OF and soql.is_record_id(rid):
                by_object[obj].append(rid)
        found: dict[RecordKey, FieldValues] = {}
        for obj, ids in by_object.items():
            canon = MANAGED_FIELDS[obj]
            api = [self.settings.fields.api_name(c) for c in canon]
            for start in range(0, len(ids), COLLECTION_LIMIT):
                chunk = ids[start : start + COLLECTION_LIMIT]
                query = soql.select(["Id", *api], SOBJECT_OF[obj], [f"Id IN {soql.id_list(chunk)}"])  # type: ignore[index]
                for row in self.client.query(query):
                    found[(obj, str(row["Id"]))] = {
                        c: _text(flatten(row, a)) for c, a in zip(canon, api, strict=True)
                    }
        return found


def _text(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _error_text(errors: Any) -> str:
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        parts = []
        for e in errors:
            code = e.get("statusCode") or e.get("errorCode") or "ERROR"
            fields = e.get("fields") or []
            where = f" ({', '.join(map(str, fields))})" if fields else ""
            parts.append(f"{code}: {str(e.get('message', '')).strip()}{where}")
        return "; ".join(parts)
    return "refused without an error"
