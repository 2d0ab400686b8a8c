"""Bulk API 2.0 through its REST endpoints: ingest (update) jobs for large write-backs, query jobs for
large reads.

simple-salesforce's ``sf.bulk2`` blocks until a job ends and only then gives its id, so a run killed while
it waits would leave a job nobody knows about, and the rerun would send the same records again. Here the
job's id is recorded in the ledger (connector state, ``bulk_job:<sObject>``) as soon as the job exists,
before its data is uploaded or the job closed. A later run first *settles* a recorded job: one still
``Open`` (never closed, so nothing of it was applied) is aborted; one closed is polled until it ends, and
its results are used. Only then is anything new sent.

Ingest CSV: ``Id`` and the managed fields only, exact decimals, ``#N/A`` to clear a field (Bulk API 2.0
ignores an empty cell on update, which is what a field a record does not change gets).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cosell.errors import ConfigError, CosellError, UnreachableError
from cosell.textsafe import CsvWriter

from .client import SalesforceClient

if TYPE_CHECKING:
    from cosell.snapshot import SnapshotStore

log = logging.getLogger("cosell.connectors.salesforce")

CONNECTOR = "salesforce"
NULL = "#N/A"
"""How a Bulk API 2.0 CSV sets a field to null (an empty cell leaves the field as it is)."""
DONE_STATES = frozenset({"JobComplete", "Failed", "Aborted"})


def job_key(sobject: str) -> str:
    """The connector state that holds the id of an ingest job not yet settled for ``sobject``."""
    return f"bulk_job:{sobject}"


@dataclass(frozen=True, slots=True)
class Poller:
    """How long to wait between job status checks (doubling up to ``max_wait``) and in all."""

    timeout: float = 1800.0
    initial_wait: float = 0.5
    max_wait: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def until_done(self, what: str, check: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        """Check at once, then with backoff, until the job is in a final state."""
        started, wait = time.monotonic(), self.initial_wait
        while True:
            info = check()
            if str(info.get("state")) in DONE_STATES:
                return info
            if time.monotonic() - started + wait > self.timeout:
                raise UnreachableError(
                    f"{what}: Bulk job {info.get('id')} still {info.get('state')} after {self.timeout:.0f} s",
                    hint="the job is recorded in the ledger: the next run waits for it and uses its results",
                )
            self.sleep(wait)
            wait = min(self.max_wait, wait * 2)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest job did: records written (by the ``Id`` sent), records refused with their error,
    the values the written rows carried (column → value as sent), and the job's own error if it failed."""

    job_id: str
    state: str
    succeeded: Mapping[str, Mapping[str, str]]
    failed: Mapping[str, str]
    error: str | None = None


def csv_cell(value: Any) -> str:
    """A value in an ingest CSV: ``#N/A`` for null, decimals exact (``format(.., 'f')``), text as is."""
    if value is None:
        return NULL
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ingest_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV (comma, LF) with ``Id`` first; a column a row does not have is an empty cell (left as is)."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(["Id", *columns])
    for row in rows:
        writer.writerow([row["Id"], *(csv_cell(row[c]) if c in row else "" for c in columns)])
    return out.getvalue().encode("utf-8")


def bulk_error_text(error: str) -> str:
    """``CODE:message:fields --`` (a Bulk result's ``sf__Error``) as ``CODE: message (fields)``, the form
    the collections path reports."""
    text = error.strip()
    if text.endswith("--"):
        text = text[:-2].rstrip()
    parts = text.split(":")
    if len(parts) >= 3 and parts[0].isupper():
        code, fields = parts[0], parts[-1].strip()
        message = ":".join(parts[1:-1]).strip()
        return f"{code}: {message}" + (f" ({fields})" if fields else "")
    if len(parts) == 2 and parts[0].isupper():
        return f"{parts[0]}: {parts[1].strip()}"
    return text or "refused without an error"


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


class BulkIngest:
    """Update jobs: create, record, upload, close, wait, results (and settling recorded ones)."""

    def __init__(
        self,
        client: SalesforceClient,
        ledger: SnapshotStore,
        poller: Poller | None = None,
        key: str = CONNECTOR,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.poller = poller or Poller()
        self.key = key
        """The ledger key the job ids are recorded under (the org's, see reader.storage_key)."""

    # --- the recorded job --------------------------------------------------------------------------

    def recorded(self, sobject: str) -> str | None:
        return self.ledger.state(self.key, job_key(sobject)) or None

    def _record(self, sobject: str, job_id: str) -> None:
        self.ledger.set_state(self.key, job_key(sobject), job_id)

    def _forget(self, sobject: str) -> None:
        self.ledger.set_state(self.key, job_key(sobject), "")

    def settle(self, sobject: str) -> IngestResult | None:
        """Finish what a killed run left: abort a recorded job never closed (nothing of it was applied),
        wait for a closed one and give its results. None when no job is recorded."""
        job_id = self.recorded(sobject)
        if job_id is None:
            return None
        info = self._info(job_id)
        if info is None:  # deleted meanwhile (Salesforce removes jobs after 7 days)
            log.warning("the recorded Bulk job %s for %s is gone; the comparison decides", job_id, sobject)
            self._forget(sobject)
            return None
        state = str(info.get("state"))
        if state == "Open":
            log.warning("aborting Bulk job %s for %s: a run stopped before closing it", job_id, sobject)
            self.client.restful(
                f"jobs/ingest/{job_id}", method="PATCH", body=json.dumps({"state": "Aborted"})
            )
            self._forget(sobject)
            return IngestResult(job_id, "Aborted", {}, {}, "aborted before upload was complete")
        log.warning("resuming Bulk job %s for %s (state %s) left by an earlier run", job_id, sobject, state)
        result = self._finish(job_id, sobject)
        self._forget(sobject)
        return result

    # --- one job -----------------------------------------------------------------------------------

    def update(self, sobject: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> IngestResult:
        """Update ``rows`` (each with ``Id`` and some of ``columns``) in one job and wait for it."""
        created = self.client.restful(
            "jobs/ingest",
            method="POST",
            body=json.dumps(
                {
                    "object": sobject,
                    "operation": "update",
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                }
            ),
        )
        job_id = str((created or {}).get("id") or "")
        if not job_id:
            raise UnreachableError(f"Salesforce created no Bulk job for {sobject}: {str(created)[:200]}")
        self._record(sobject, job_id)  # before anything is uploaded: a rerun finds and settles it
        try:
            self.client.raw(
                "PUT",
                f"jobs/ingest/{job_id}/batches",
                body=ingest_csv(columns, rows),
                content_type="text/csv",
            )
        except CosellError as exc:
            # a retried upload whose first attempt landed is refused: the data is there
            if "INVALIDJOBSTATE" not in exc.message:
                raise
        try:
            self.client.restful(
                f"jobs/ingest/{job_id}", method="PATCH", body=json.dumps({"state": "UploadComplete"})
            )
        except CosellError:
            # a retried close whose first attempt landed is refused: go on if the job is closed
            info = self._info(job_id) or {}
            if info.get("state") in (None, "Open", "Aborted"):
                raise
        result = self._finish(job_id, sobject)
        self._forget(sobject)
        return result

    def _info(self, job_id: str) -> Mapping[str, Any] | None:
        try:
            return dict(self.client.restful(f"jobs/ingest/{job_id}") or {})
        except ConfigError:  # 404: no such job
            return None

    def _finish(self, job_id: str, sobject: str) -> IngestResult:
        def check() -> Mapping[str, Any]:
            return dict(self.client.restful(f"jobs/ingest/{job_id}") or {})

        info = self.poller.until_done(f"Bulk update of {sobject}", check)
        state = str(info.get("state"))
        error = str(info["errorMessage"]) if info.get("errorMessage") else None
        succeeded: dict[str, Mapping[str, str]] = {}
        failed: dict[str, str] = {}
        if state != "Aborted":
            ok = self.client.raw("GET", f"jobs/ingest/{job_id}/successfulResults")
            for row in _csv_rows(ok.text):
                rid = row.get("Id") or row.get("sf__Id") or ""
                succeeded[rid] = {k: v for k, v in row.items() if not k.startswith("sf__")}
            bad = self.client.raw("GET", f"jobs/ingest/{job_id}/failedResults")
            for row in _csv_rows(bad.text):
                rid = row.get("Id") or row.get("sf__Id") or ""
                failed[rid] = bulk_error_text(row.get("sf__Error") or "")
        log.info(
            "Bulk job %s (%s): %s, %d written, %d refused",
            job_id,
            sobject,
            state,
            len(succeeded),
            len(failed),
        )
        return IngestResult(job_id, state, succeeded, failed, error)


# --- query -----------------------------------------------------------------------------------------

_NUMERIC = frozenset({"double", "currency", "percent"})


class BulkQuery:
    """A query job; rows come back typed as a REST query gives them (null, booleans, numbers as Decimal),
    using the object's describe, so the snapshot does not depend on which path read a record."""

    def __init__(self, client: SalesforceClient, *, page_size: int, poller: Poller | None = None) -> None:
        self.client = client
        self.page_size = page_size
        self.poller = poller or Poller()
        self._types: dict[str, dict[str, str]] = {}

    def types(self, sobject: str) -> dict[str, str]:
        if sobject not in self._types:
            described = self.client.describe(sobject)
            self._types[sobject] = {
                str(f.get("name", "")).lower(): str(f.get("type", "")) for f in described.get("fields", [])
            }
        return self._types[sobject]

    def rows(self, soql: str, sobject: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        created = self.client.restful(
            "jobs/query",
            method="POST",
            body=json.dumps(
                {
                    "operation": "queryAll" if include_deleted else "query",
                    "query": soql,
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                }
            ),
        )
        job_id = str((created or {}).get("id") or "")
        info = self.poller.until_done(
            f"Bulk query of {sobject}", lambda: dict(self.client.restful(f"jobs/query/{job_id}") or {})
        )
        if info.get("state") != "JobComplete":
            why = info.get("errorMessage") or "no reason given"
            raise UnreachableError(f"Bulk query of {sobject} ended {info.get('state')}: {why}")
        types = self.types(sobject)
        locator: str | None = None
        while True:
            params = {"maxRecords": str(self.page_size)}
            if locator:
                params["locator"] = locator
            page = self.client.raw("GET", f"jobs/query/{job_id}/results", params=params)
            for row in _csv_rows(page.content.decode("utf-8-sig")):
                yield {k: typed(v, types.get(k.lower(), "")) for k, v in row.items()}
            locator = page.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return


def typed(value: str | None, sf_type: str) -> Any:
    """A Bulk CSV value as REST JSON gives it: empty is null, then by the field's describe type.
    Relationship columns (``Campaign.Name``) stay text."""
    if value is None or value == "":
        return None
    if sf_type == "boolean":
        return value.lower() == "true"
    if sf_type in _NUMERIC:
        return Decimal(value)
    if sf_type == "int":
        return int(value)
    return value
