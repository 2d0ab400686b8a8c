"""The Salesforce REST subset: SOQL query/queryAll with paging, sObject rows and describe, sObject
Collections update, Bulk API 2.0 ingest (update), and Tooling API custom fields; and the record merge an
admin makes (no REST resource: for tests, through the sandbox's Python API)."""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosell.textsafe import CsvWriter

from . import soql
from .messages import Request, Response, json_response, text_response
from .store import SalesforceStore, SFField, SFObject, sf_datetime

PAGE_SIZE = 2000
COLLECTION_LIMIT = 200
API_MAX = 15000
QUERY_CHUNK = 100_000
"""Records per chunk of a Bulk API 2.0 query job: PK chunking's default chunk size (Bulk API 2.0 chunks
large query jobs itself and does not say by how much; this is a guess)."""
USER_ID = "0058d000000SANDBOXAAA"[:18]
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
MERGEABLE = ("Account", "Contact", "Lead", "Case")
"""The sObjects Salesforce merges (the UI, the SOAP ``merge()`` call, Apex ``Database.merge``); of these
the sandbox serves Account."""
MERGE_VICTIMS_MAX = 2
"""Records merged into the master at once: three records in all, the limit of the UI and the API."""


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return json_response(status, [item])


def not_found() -> Response:
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


class SalesforceMergeRefused(ValueError):
    """A merge Salesforce refuses: its ``statusCode`` (``code``) and message, as the SOAP ``merge()`` call's
    errors and Apex's ``DmlException`` give them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class SalesforceUndeleteRefused(ValueError):
    """An undelete Salesforce refuses: its ``statusCode`` (``code``) and message, as the SOAP
    ``undelete()`` call's UndeleteResult errors give them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class CoerceError(Exception):
    def __init__(self, code: str, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields


@dataclass
class RecordError:
    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


@dataclass
class Cursor:
    rows: list[dict[str, Any]]
    version: str
    all_rows: bool


@dataclass
class IngestJob:
    id: str
    object: str
    operation: str
    line_ending: str
    delimiter: str
    created: str
    version: str
    state: str = "Open"
    data: str | None = None
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    success_csv: str = ""
    failed_csv: str = ""
    unprocessed_csv: str = ""
    modstamp: str = ""

    def info(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": USER_ID,
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "contentUrl": f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if full:
            out.update(
                {
                    "jobType": "V2Ingest",
                    "numberRecordsProcessed": self.processed,
                    "numberRecordsFailed": self.failed,
                    "retries": 0,
                    "totalProcessingTime": 0,
                    "apiActiveProcessingTime": 0,
                    "apexProcessingTime": 0,
                }
            )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


@dataclass
class QueryJob:
    """A Bulk API 2.0 query job. A large one is split into chunks by record id, as Salesforce splits it
    (PK chunking), and the chunks are not evaluated at one moment: the first when the job is created,
    each later one when the job's state is next asked for. ``pending`` holds the chunks not evaluated
    yet; the job is ``InProgress`` until none is left."""

    id: str
    object: str
    operation: str
    line_ending: str
    delimiter: str
    created: str
    version: str
    header: list[str]
    rows: list[list[str]]
    pending: list[Callable[[], list[list[str]]]] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "InProgress" if self.pending else "JobComplete"

    def evaluate_next(self) -> None:
        """Evaluate the next chunk against the records as they stand now."""
        if self.pending:
            self.rows.extend(self.pending.pop(0)())

    def info(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": USER_ID,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": "UploadComplete" if not full else self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if full:
            out.update(
                {
                    "jobType": "V2Query",
                    "numberRecordsProcessed": len(self.rows),
                    "retries": 0,
                    "totalProcessingTime": 0,
                    "isPkChunkingSupported": True,
                }
            )
        return out


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_DELIMS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_TOOLING_TYPES = {
    "Currency": "currency",
    "Number": "double",
    "Percent": "percent",
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Picklist": "picklist",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
}


class SalesforceAPI:
    """Handlers for ``/services/data/vNN.N/...``; callers hold the sandbox lock."""

    def __init__(
        self,
        store: SalesforceStore,
        faults_invalid: frozenset[str] = frozenset(),
        faults_locked: frozenset[str] = frozenset(),
    ) -> None:
        self.store = store
        self.invalid = faults_invalid
        self.locked = faults_locked
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.jobs: dict[str, IngestJob] = {}
        self.query_jobs: dict[str, QueryJob] = {}
        self.query_chunk = QUERY_CHUNK
        """Records (by id, deleted ones counted) per chunk of a Bulk query job."""
        self.written: dict[str, int] = {}
        self.tooling = self._tooling_schema()
        for obj in self.store.objects.values():
            for f in obj.fields.values():
                if f.custom:
                    self._register_custom_field(obj.name, f, {"type": f.type, "label": f.label or f.name})

    # ------------------------------------------------------------------ helpers
    def _tooling_schema(self) -> dict[str, SFObject]:
        cf = SFObject("CustomField", "00N", "Custom Field")
        for f in (
            SFField("Id", "id", length=18),
            SFField("DeveloperName", "string", length=40),
            SFField("TableEnumOrId", "string", length=40),
            SFField("FullName", "string", length=255),
            SFField("NamespacePrefix", "string", length=15),
            SFField("CreatedDate", "datetime"),
            SFField("LastModifiedDate", "datetime"),
            SFField("SystemModstamp", "datetime"),
            SFField("IsDeleted", "boolean"),
        ):
            cf.add_field(f)
        return {"CustomField": cf}

    def _register_custom_field(self, obj: str, f: SFField, metadata: dict[str, Any]) -> str:
        fid = self.store.new_id("00N")
        stamp = sf_datetime(self.store.clock.now)
        self.tooling["CustomField"].records[fid] = {
            "Id": fid,
            "DeveloperName": f.name.removesuffix("__c"),
            "TableEnumOrId": obj,
            "FullName": f"{obj}.{f.name}",
            "NamespacePrefix": None,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
            "IsDeleted": False,
            "_metadata": metadata,
        }
        return fid

    def _resolve(self, obj: str, rid: str) -> dict[str, Any] | None:
        return self.store.find(obj, rid)

    def count_written(self, obj: str, n: int) -> None:
        self.written[obj] = self.written.get(obj, 0) + n

    # ------------------------------------------------------------------ routing
    def handle(self, req: Request, version: str, rest: str) -> Response:
        parts = [p for p in rest.split("/") if p]
        m = req.method
        if not parts:
            return json_response(
                200,
                {
                    "sobjects": f"/services/data/v{version}/sobjects",
                    "query": f"/services/data/v{version}/query",
                    "tooling": f"/services/data/v{version}/tooling",
                    "jobs": f"/services/data/v{version}/jobs",
                    "composite": f"/services/data/v{version}/composite",
                    "limits": f"/services/data/v{version}/limits",
                },
            )
        head = parts[0]
        if head in ("query", "queryAll") and m == "GET":
            if len(parts) == 1:
                return self.query(
                    req, version, include_deleted=head == "queryAll", objects=self.store.objects
                )
            if len(parts) == 2:
                return self.query_more(parts[1])
        if head == "sobjects":
            return self.sobjects(req, version, parts[1:])
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            if m == "PATCH" and len(parts) == 2:
                return self.collection_update(req)
            if m == "GET" and len(parts) == 3:
                return self.collection_get(req, version, parts[2])
        if head == "jobs" and len(parts) >= 2 and parts[1] == "query":
            return self.query_job(req, version, parts[2:])
        if head == "jobs" and len(parts) >= 2 and parts[1] == "ingest":
            return self.ingest(req, version, parts[2:])
        if head == "tooling":
            return self.tooling_api(req, version, parts[1:])
        if head == "limits" and m == "GET":
            return json_response(200, {"DailyApiRequests": {"Max": API_MAX, "Remaining": API_MAX}})
        return not_found()

    # ------------------------------------------------------------------ SOQL
    def query(
        self,
        req: Request,
        version: str,
        include_deleted: bool,
        objects: dict[str, SFObject],
        tooling: bool = False,
    ) -> Response:
        q = req.param("q")
        if q is None or not q.strip():
            return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            parsed, parser = soql.parse(q, objects, self._resolve)
        except soql.SOQLError as exc:
            return sf_error(400, exc.code, exc.message)
        records = list(objects[parsed.object].records.values())
        if not include_deleted and not tooling:
            records = [r for r in records if self.store.visible_to_query(parsed.object, r)]
        rows = soql.run(parsed, parser, records)
        if parsed.count_only:
            return json_response(200, {"totalSize": len(rows), "done": True, "records": []})
        projected = [soql.project(parsed, parser, r, objects, version) for r in rows]
        batch = PAGE_SIZE
        options = req.headers.get("sforce-query-options", "")
        mbatch = re.search(r"batchSize=(\d+)", options)
        if mbatch:
            batch = max(200, min(PAGE_SIZE, int(mbatch.group(1))))
        return self._page(Cursor(projected, version, include_deleted), 0, batch, new=True)

    def _page(
        self, cursor: Cursor, start: int, batch: int, new: bool, locator: str | None = None
    ) -> Response:
        rows = cursor.rows
        page = rows[start : start + batch]
        body: dict[str, Any] = {"totalSize": len(rows), "done": start + batch >= len(rows), "records": page}
        if not body["done"]:
            if locator is None:
                locator = self.store.new_id("01g")
                self.cursors[locator] = cursor
                while len(self.cursors) > 50:
                    self.cursors.popitem(last=False)
            endpoint = "queryAll" if cursor.all_rows else "query"
            body["nextRecordsUrl"] = f"/services/data/v{cursor.version}/{endpoint}/{locator}-{start + batch}"
        return json_response(200, body)

    def query_more(self, ident: str) -> Response:
        m = re.fullmatch(r"([A-Za-z0-9]{15,18})-(\d+)", ident)
        if not m or m.group(1) not in self.cursors:
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor = self.cursors[m.group(1)]
        start = int(m.group(2))
        if start >= len(cursor.rows):
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, start, PAGE_SIZE, new=False, locator=m.group(1))

    # ------------------------------------------------------------------ sObjects
    def _object(self, name: str) -> SFObject | None:
        canonical = self.store.object_name(name)
        return self.store.objects[canonical] if canonical else None

    def describe(self, obj: SFObject, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        return {
            "name": obj.name,
            "label": obj.label,
            "labelPlural": obj.label + "s",
            "keyPrefix": obj.key_prefix,
            "custom": False,
            "queryable": True,
            "updateable": True,
            "createable": True,
            "deletable": True,
            "retrieveable": True,
            "searchable": True,
            "layoutable": True,
            "fields": [f.describe() for f in obj.fields.values()],
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
            "childRelationships": [],
            "recordTypeInfos": [],
        }

    def sobjects(self, req: Request, version: str, parts: list[str]) -> Response:
        if not parts:
            if req.method != "GET":
                return not_found()
            return json_response(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": COLLECTION_LIMIT,
                    "sobjects": [
                        {
                            "name": o.name,
                            "label": o.label,
                            "keyPrefix": o.key_prefix,
                            "custom": False,
                            "queryable": True,
                            "urls": {"sobject": f"/services/data/v{version}/sobjects/{o.name}"},
                        }
                        for o in self.store.objects.values()
                    ],
                },
            )
        obj = self._object(parts[0])
        if obj is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            if req.method != "GET":
                return sf_error(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are GET"
                )
            d = self.describe(obj, version)
            return json_response(
                200, {"objectDescribe": {k: v for k, v in d.items() if k != "fields"}, "recentItems": []}
            )
        if len(parts) == 2 and parts[1] == "describe":
            if req.method != "GET":
                return sf_error(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are GET"
                )
            return json_response(200, self.describe(obj, version))
        if len(parts) != 2:
            return not_found()
        rid = parts[1]
        rec = self.store.find(obj.name, rid) if _ID_RE.match(rid) else None
        if req.method == "GET":
            if rec is None or rec.get("IsDeleted"):
                return not_found()
            wanted = req.param("fields")
            names: list[str] = list(obj.fields)
            if wanted:
                names = []
                for raw in wanted.split(","):
                    canonical = obj.field_name(raw.strip())
                    if canonical is None:
                        return sf_error(
                            400,
                            "INVALID_FIELD",
                            f"No such column '{raw.strip()}' on sobject of type {obj.name}",
                        )
                    names.append(canonical)
            out: dict[str, Any] = {
                "attributes": {
                    "type": obj.name,
                    "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}",
                }
            }
            for n in names:
                out[n] = rec.get(n)
            return json_response(200, out)
        if req.method == "DELETE":
            # into the recycle bin: queryAll still sees it (IsDeleted = true) until it is purged
            if rec is None:
                return not_found()
            if rec.get("IsDeleted"):
                return sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
            self.store.delete(obj.name, rec)
            return Response(204)
        if req.method == "PATCH":
            if rec is None:
                return not_found()
            if rec.get("IsDeleted"):
                return sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
            try:
                body = req.json()
            except (ValueError, UnicodeDecodeError):
                return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value")
            if not isinstance(body, dict):
                return sf_error(
                    400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from non-object"
                )
            try:
                values, error = self.validate(
                    obj, rec, {k: v for k, v in body.items() if k != "attributes"}, False
                )
            except CoerceError as exc:
                return sf_error(400, "JSON_PARSER_ERROR", exc.message)
            if error is not None:
                return sf_error(400, error.code, error.message, error.fields)
            self.apply(obj, rec, values, sf_datetime(self.store.clock.tick()))
            self.count_written(obj.name, 1)
            return Response(204)
        return sf_error(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{req.method}' not allowed. Allowed are GET,PATCH,DELETE",
        )

    # ------------------------------------------------------------------ writes
    def coerce(self, f: SFField, value: Any, from_csv: bool) -> Any:
        label = f.label or f.name
        if value is None:
            if not f.nillable:
                raise CoerceError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]", [f.name]
                )
            return None
        t = f.type
        if t in ("currency", "double", "percent"):
            if isinstance(value, bool):
                raise CoerceError(
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {t} from VALUE_TRUE value "
                    f"{value} or request may be missing a required field",
                    [f.name],
                )
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise CoerceError(
                    "JSON_PARSER_ERROR" if not from_csv else "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"Cannot deserialize instance of {t} from VALUE_STRING value {value} or request "
                    "may be missing a required field"
                    if not from_csv
                    else f"{label}: value not of required type: {value}",
                    [f.name],
                ) from exc
            if f.precision and abs(number) >= 10 ** (f.precision - f.scale):
                raise CoerceError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{label}: value outside of valid range on numeric field: {value}",
                    [f.name],
                )
            return round(number, f.scale) if f.scale or f.precision else number
        if t == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise CoerceError(
                "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from {value!r}", [f.name]
            )
        if t == "date":
            try:
                return (
                    dt.date.fromisoformat(str(value)[:10]).isoformat()
                    if len(str(value)) in (10, 24, 28)
                    else dt.date.fromisoformat(str(value)).isoformat()
                )
            except ValueError as exc:
                raise CoerceError(
                    "JSON_PARSER_ERROR" if not from_csv else "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"Cannot deserialize value like {value} from the date",
                    [f.name],
                ) from exc
        if t == "datetime":
            try:
                return soql.canonical_datetime(str(value))
            except ValueError as exc:
                raise CoerceError(
                    "JSON_PARSER_ERROR" if not from_csv else "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"Cannot deserialize value like {value} from the dateTime",
                    [f.name],
                ) from exc
        if t in ("reference", "id"):
            text = str(value)
            if not _ID_RE.match(text):
                raise CoerceError("MALFORMED_ID", f"{label}: id value of incorrect type: {text}", [f.name])
            target = f.reference_to[0] if f.reference_to else None
            found = self.store.find(target, text) if target else None
            return found["Id"] if found else text
        text = value if isinstance(value, str) else json.dumps(value)
        if f.length and len(text) > f.length:
            shown = text if len(text) <= 20 else text[:17] + "..."
            raise CoerceError(
                "STRING_TOO_LONG", f"{label}: data value too large: {shown} (max length={f.length})", [f.name]
            )
        if t == "picklist" and f.restricted and text not in f.picklist:
            raise CoerceError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {text}",
                [f.name],
            )
        return text

    def validate(
        self, obj: SFObject, rec: dict[str, Any], raw: dict[str, Any], from_csv: bool
    ) -> tuple[dict[str, Any], RecordError | None]:
        """Coerce ``raw`` field values; JSON type errors raise CoerceError (whole request)."""
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key.lower() == "id":
                continue
            canonical = obj.field_name(key)
            if canonical is None:
                return {}, RecordError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
                )
            f = obj.fields[canonical]
            if not f.updateable:
                return {}, RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {canonical}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [canonical],
                )
            if from_csv:
                if value == "":
                    continue
                if value == "#N/A":
                    value = None
            try:
                values[canonical] = self.coerce(f, value, from_csv)
            except CoerceError as exc:
                if exc.code == "JSON_PARSER_ERROR":
                    raise
                return {}, RecordError(exc.code, exc.message, exc.fields)
        if rec["Id"] in self.locked or rec["Id"][:15] in self.locked:
            return {}, RecordError(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records: " + rec["Id"],
            )
        if rec["Id"] in self.invalid or rec["Id"][:15] in self.invalid:
            return {}, RecordError(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "This record is locked for incentive changes (sandbox validation rule)",
            )
        return values, None

    def apply(self, obj: SFObject, rec: dict[str, Any], values: dict[str, Any], stamp: str) -> None:
        rec.update(values)
        if obj.name == "Opportunity" and "StageName" in values:
            rec["IsClosed"] = str(values["StageName"]).startswith("Closed")
            rec["IsWon"] = values["StageName"] == "Closed Won"
        rec["LastModifiedDate"] = stamp
        rec["SystemModstamp"] = stamp

    def collection_update(self, req: Request) -> Response:
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value")
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return sf_error(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObjectCollection: 'records' is required",
            )
        records: list[Any] = body["records"]
        all_or_none = bool(body.get("allOrNone", False))
        if len(records) > COLLECTION_LIMIT:
            return sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
            )
        results: list[dict[str, Any]] = []
        plans: list[tuple[SFObject, dict[str, Any], dict[str, Any]] | None] = []
        for raw in records:
            if not isinstance(raw, dict):
                return sf_error(
                    400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from non-object"
                )
            attrs = raw.get("attributes") or {}
            type_name = attrs.get("type") if isinstance(attrs, dict) else None
            rid = raw.get("id") or raw.get("Id")
            if not type_name:
                return sf_error(400, "INVALID_TYPE", "Must send a concrete entity type.")
            obj = self._object(str(type_name))
            if obj is None:
                return sf_error(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
            if not rid:
                results.append(
                    {
                        "success": False,
                        "errors": [
                            RecordError("MISSING_ARGUMENT", "Id not specified in an update call").as_json()
                        ],
                    }
                )
                plans.append(None)
                continue
            rec = self.store.find(obj.name, str(rid)) if _ID_RE.match(str(rid)) else None
            if rec is None:
                err = (
                    RecordError("MALFORMED_ID", f"Record ID: id value of incorrect type: {rid}", ["Id"])
                    if not _ID_RE.match(str(rid))
                    else RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                )
                results.append({"id": str(rid), "success": False, "errors": [err.as_json()]})
                plans.append(None)
                continue
            if rec.get("IsDeleted"):
                results.append(
                    {
                        "id": rec["Id"],
                        "success": False,
                        "errors": [RecordError("ENTITY_IS_DELETED", "entity is deleted").as_json()],
                    }
                )
                plans.append(None)
                continue
            fields = {k: v for k, v in raw.items() if k not in ("attributes", "id", "Id")}
            try:
                values, error = self.validate(obj, rec, fields, False)
            except CoerceError as exc:
                return sf_error(400, "JSON_PARSER_ERROR", exc.message)
            if error is not None:
                results.append({"id": rec["Id"], "success": False, "errors": [error.as_json()]})
                plans.append(None)
                continue
            results.append({"id": rec["Id"], "success": True, "errors": []})
            plans.append((obj, rec, values))
        failed = any(p is None for p in plans)
        if all_or_none and failed:
            for res, plan in zip(results, plans, strict=True):
                if plan is not None:
                    res["success"] = False
                    res["errors"] = [
                        RecordError(
                            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "Record rolled back because not all records were valid and the request was using "
                            "AllOrNone header",
                        ).as_json()
                    ]
            return json_response(200, results)
        if any(p is not None for p in plans):
            stamp = sf_datetime(self.store.clock.tick())
            for plan in plans:
                if plan is not None:
                    obj, rec, values = plan
                    self.apply(obj, rec, values, stamp)
                    self.count_written(obj.name, 1)
        return json_response(200, results)

    def collection_get(self, req: Request, version: str, type_name: str) -> Response:
        obj = self._object(type_name)
        if obj is None:
            return not_found()
        ids = [i for i in (req.param("ids") or "").split(",") if i]
        names = [obj.field_name(f.strip()) for f in (req.param("fields") or "Id").split(",")]
        if any(n is None for n in names):
            return sf_error(400, "INVALID_FIELD", "No such column on sobject of type " + obj.name)
        out: list[Any] = []
        for rid in ids:
            rec = self.store.find(obj.name, rid) if _ID_RE.match(rid) else None
            if rec is None or rec.get("IsDeleted"):
                out.append(None)
                continue
            row: dict[str, Any] = {
                "attributes": {
                    "type": obj.name,
                    "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}",
                }
            }
            for n in names:
                assert n is not None
                row[n] = rec.get(n)
            out.append(row)
        return json_response(200, out)

    # ------------------------------------------------------------------ merge (no REST resource)
    def merge_records(self, master_id: str, victim_ids: list[str]) -> dict[str, Any]:
        """Merge the records ``victim_ids`` (one or two) into ``master_id`` as an admin's merge does
        (:meth:`SalesforceStore.merge`); the sObject is the one the master id's key prefix names. Answers
        as the SOAP ``merge()`` call's MergeResult: ``{"id", "mergedRecordIds", "updatedRelatedIds"}``.

        Refuses, changing nothing, with :class:`SalesforceMergeRefused`: no victim
        ``REQUIRED_FIELD_MISSING``, more than two ``LIMIT_EXCEEDED``, an id that is no id ``MALFORMED_ID``,
        a served sObject other than those Salesforce merges ``INVALID_TYPE_FOR_OPERATION``, an id twice
        (a record merged with itself) ``INVALID_ID_FIELD``, a record not found (or of another sObject than
        the master) ``INVALID_CROSS_REFERENCE_KEY``, one in the recycle bin ``ENTITY_IS_DELETED``, the
        ``locked`` fault on any of them ``UNABLE_TO_LOCK_ROW`` and the ``invalid`` fault on the master (the
        merge updates it; the victims are deleted, which validation rules do not check)
        ``FIELD_CUSTOM_VALIDATION_EXCEPTION``."""
        if not victim_ids:
            raise SalesforceMergeRefused(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [recordToMergeIds]"
            )
        if len(victim_ids) > MERGE_VICTIMS_MAX:
            raise SalesforceMergeRefused(
                "LIMIT_EXCEEDED",
                f"A merge request can merge at most {MERGE_VICTIMS_MAX} records into the master record, "
                f"not {len(victim_ids)}",
            )
        for rid in (master_id, *victim_ids):
            if not _ID_RE.match(rid):
                raise SalesforceMergeRefused("MALFORMED_ID", f"Record ID: id value of incorrect type: {rid}")
        obj = next((o for o in self.store.objects.values() if o.key_prefix == master_id[:3]), None)
        if obj is None:
            raise SalesforceMergeRefused("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if obj.name not in MERGEABLE:
            raise SalesforceMergeRefused("INVALID_TYPE_FOR_OPERATION", "entity type does not support merge")
        seen = {master_id[:15]}
        for rid in victim_ids:
            if rid[:15] in seen:
                message = (
                    "Cannot merge a record with itself"
                    if rid[:15] == master_id[:15]
                    else "duplicate id in list"
                )
                raise SalesforceMergeRefused("INVALID_ID_FIELD", f"{message}: {rid}")
            seen.add(rid[:15])
        live: list[dict[str, Any]] = []
        for rid in (master_id, *victim_ids):
            rec = self.store.find(obj.name, rid)
            if rec is None:
                raise SalesforceMergeRefused("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if rec.get("IsDeleted"):
                raise SalesforceMergeRefused("ENTITY_IS_DELETED", "entity is deleted")
            live.append(rec)
        master, victims = live[0], live[1:]
        for rec in live:
            if rec["Id"] in self.locked or rec["Id"][:15] in self.locked:
                raise SalesforceMergeRefused(
                    "UNABLE_TO_LOCK_ROW",
                    "unable to obtain exclusive access to this record or 1 records: " + rec["Id"],
                )
        if master["Id"] in self.invalid or master["Id"][:15] in self.invalid:
            raise SalesforceMergeRefused(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "This record is locked for incentive changes (sandbox validation rule)",
            )
        moved = self.store.merge(obj.name, master, victims)
        return {
            "id": master["Id"],
            "mergedRecordIds": [v["Id"] for v in victims],
            "updatedRelatedIds": moved,
        }

    def undelete_records(self, record_ids: list[str]) -> list[str]:
        """Restore records from the recycle bin as an admin's undelete does (the UI, the SOAP
        ``undelete()`` call, Apex ``undelete``; the REST API has none): each is live again, stamped one
        tick of the clock later, with what a delete took along (an Opportunity's partner rows). A record a
        merge deleted comes back alone: what the merge moved to the master stays there, as Salesforce
        says of undeleting merged records. Returns the ids restored.

        Refuses, changing nothing, with :class:`SalesforceUndeleteRefused`: an id that is no id
        ``MALFORMED_ID``, a record not found (never there, or purged from the bin)
        ``INVALID_CROSS_REFERENCE_KEY``, a live record ``UNDELETE_FAILED``."""
        found: list[tuple[str, dict[str, Any]]] = []
        for rid in record_ids:
            if not _ID_RE.match(rid):
                raise SalesforceUndeleteRefused(
                    "MALFORMED_ID", f"Record ID: id value of incorrect type: {rid}"
                )
            obj = next((o for o in self.store.objects.values() if o.key_prefix == rid[:3]), None)
            rec = None if obj is None else self.store.find(obj.name, rid)
            if obj is None or rec is None:
                raise SalesforceUndeleteRefused("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if not rec.get("IsDeleted"):
                raise SalesforceUndeleteRefused("UNDELETE_FAILED", "Entity is not in recycle bin")
            found.append((obj.name, rec))
        for name, rec in found:
            self.store.undelete(name, rec)
        return [rec["Id"] for _, rec in found]

    # ------------------------------------------------------------------ Bulk API 2.0 ingest
    def ingest(self, req: Request, version: str, parts: list[str]) -> Response:
        if not parts:
            if req.method == "POST":
                return self.ingest_create(req, version)
            if req.method == "GET":
                return json_response(
                    200,
                    {
                        "done": True,
                        "records": [j.info(False) for j in self.jobs.values()],
                        "nextRecordsUrl": None,
                    },
                )
            return not_found()
        job = self.jobs.get(parts[0])
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            if req.method == "GET":
                return json_response(200, job.info(True))
            if req.method == "DELETE":
                if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
                    return sf_error(
                        400, "INVALIDJOBSTATE", f"Job {job.id} is in state {job.state}, cannot delete"
                    )
                del self.jobs[job.id]
                return Response(204)
            if req.method == "PATCH":
                try:
                    state = (req.json() or {}).get("state")
                except (ValueError, AttributeError):
                    return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character")
                if state == "UploadComplete":
                    if job.state != "Open":
                        return sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is not Open")
                    job.state = "UploadComplete"
                    info = job.info(False)
                    self.process(job)
                    return json_response(200, info)
                if state == "Aborted":
                    if job.state in ("JobComplete", "Failed"):
                        return sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
                    job.state = "Aborted"
                    return json_response(200, job.info(False))
                return sf_error(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
            return not_found()
        sub = parts[1]
        if sub == "batches" and req.method == "PUT":
            if job.state != "Open" or job.data is not None:
                return sf_error(
                    409,
                    "INVALIDJOBSTATE",
                    "Found Job in state "
                    f"{job.state if job.data is None else 'Open with data already uploaded'}",
                )
            ctype = req.headers.get("content-type", "")
            if "text/csv" not in ctype:
                return sf_error(400, "INVALIDCONTENT", f"Unsupported Content-Type: {ctype}")
            job.data = req.body.decode("utf-8-sig")
            return Response(201)
        if req.method == "GET" and sub in ("successfulResults", "failedResults", "unprocessedrecords"):
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                return sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is in state {job.state}")
            text = {
                "successfulResults": job.success_csv,
                "failedResults": job.failed_csv,
                "unprocessedrecords": job.unprocessed_csv,
            }[sub]
            return text_response(200, text)
        return not_found()

    def ingest_create(self, req: Request, version: str) -> Response:
        try:
            body = req.json()
        except ValueError:
            return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character")
        if not isinstance(body, dict):
            return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character")
        obj = self._object(str(body.get("object", "")))
        if obj is None:
            return sf_error(
                400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        operation = body.get("operation")
        if operation != "update":
            return sf_error(
                400,
                "FEATURENOTENABLED",
                f"The sandbox's Bulk API 2.0 supports operation 'update' only, not {operation!r}",
            )
        if body.get("contentType", "CSV") != "CSV":
            return sf_error(400, "INVALIDCONTENT", "contentType must be CSV")
        delim = str(body.get("columnDelimiter", "COMMA"))
        line_ending = str(body.get("lineEnding", "LF"))
        if delim not in _DELIMS or line_ending not in ("LF", "CRLF"):
            return sf_error(400, "INVALIDCONTENT", "Invalid columnDelimiter or lineEnding")
        stamp = sf_datetime(self.store.clock.now)
        job = IngestJob(self.store.new_id("750"), obj.name, operation, line_ending, delim, stamp, version)
        self.jobs[job.id] = job
        return json_response(200, job.info(False))

    def process(self, job: IngestJob) -> None:
        obj = self.store.objects[job.object]
        text = job.data or ""
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_DELIMS[job.delimiter])
        rows = list(reader)
        job.modstamp = sf_datetime(self.store.clock.now)
        if not rows:
            job.state, job.error_message = "Failed", "InvalidBatch : Empty CSV"
            return
        header = rows[0]
        for col in header:
            if obj.field_name(col) is None:
                job.state, job.error_message = "Failed", f"InvalidBatch : Field name not found : {col}"
                job.unprocessed_csv = text
                return
        ok_out, bad_out = io.StringIO(), io.StringIO()
        ok_w, bad_w = CsvWriter(ok_out), CsvWriter(bad_out)
        ok_w.writerow(["sf__Id", "sf__Created", *header])
        bad_w.writerow(["sf__Id", "sf__Error", *header])
        stamp = sf_datetime(self.store.clock.tick())
        id_col = next((i for i, c in enumerate(header) if c.lower() == "id"), None)
        for row in rows[1:]:
            if not any(row):
                continue
            job.processed += 1
            rid = row[id_col] if id_col is not None and id_col < len(row) else ""
            rec = self.store.find(obj.name, rid) if rid and _ID_RE.match(rid) else None
            if not rid:
                error: RecordError | None = RecordError(
                    "MISSING_ARGUMENT", "Id not specified in an update call"
                )
            elif rec is None:
                error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            elif rec.get("IsDeleted"):
                error = RecordError("ENTITY_IS_DELETED", "entity is deleted")
            else:
                raw = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header)}
                try:
                    values, error = self.validate(obj, rec, raw, True)
                except CoerceError as exc:
                    error = RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD", exc.message, exc.fields)
                if error is None:
                    self.apply(obj, rec, values, stamp)
                    self.count_written(obj.name, 1)
                    ok_w.writerow([rec["Id"], "false", *row])
                    continue
            assert error is not None
            job.failed += 1
            bad_w.writerow(
                [rec["Id"] if rec else rid, f"{error.code}:{error.message}:{','.join(error.fields)} --", *row]
            )
        job.success_csv, job.failed_csv = ok_out.getvalue(), bad_out.getvalue()
        job.unprocessed_csv = ",".join(header) + "\n"
        job.state = "JobComplete"

    # ------------------------------------------------------------------ Bulk API 2.0 query
    def query_job(self, req: Request, version: str, parts: list[str]) -> Response:
        if not parts and req.method == "POST":
            try:
                body = req.json()
            except ValueError:
                return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character")
            if not isinstance(body, dict) or not body.get("query"):
                return sf_error(400, "INVALIDJOB", "Query is required for query jobs")
            operation = body.get("operation", "query")
            if operation not in ("query", "queryAll"):
                return sf_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
            delim = str(body.get("columnDelimiter", "COMMA"))
            line_ending = str(body.get("lineEnding", "LF"))
            if delim not in _DELIMS or line_ending not in ("LF", "CRLF"):
                return sf_error(400, "INVALIDCONTENT", "Invalid columnDelimiter or lineEnding")
            try:
                parsed, parser = soql.parse(str(body["query"]), self.store.objects, self._resolve)
            except soql.SOQLError as exc:
                return sf_error(400, exc.code, exc.message)
            if parsed.count_only:
                return sf_error(
                    400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0 query"
                )
            obj = self.store.objects[parsed.object]
            getters = [parser.getter(fp) for fp in parsed.fields]

            def chunk(low: str | None, high: str | None) -> Callable[[], list[list[str]]]:
                def evaluate() -> list[list[str]]:
                    records = [
                        r
                        for rid, r in obj.records.items()
                        if (low is None or rid >= low) and (high is None or rid < high)
                    ]
                    if operation == "query":
                        records = [r for r in records if self.store.visible_to_query(parsed.object, r)]
                    return [[_csv_value(g(r)) for g in getters] for r in soql.run(parsed, parser, records)]

                return evaluate

            # PK chunking: id boundaries over every record (deleted ones count), the last chunk open;
            # a query ordered or limited is one chunk, as Salesforce chunks only plain WHERE queries
            ids = sorted(obj.records)
            plain = not parsed.order and parsed.limit is None and not parsed.offset
            lows = ids[:: self.query_chunk] if plain and len(ids) > self.query_chunk else [None]
            bounds = list(zip(lows, [*lows[1:], None], strict=True))
            job = QueryJob(
                self.store.new_id("750"),
                parsed.object,
                operation,
                line_ending,
                delim,
                sf_datetime(self.store.clock.now),
                version,
                [fp.key for fp in parsed.fields],
                [],
                [chunk(low, high) for low, high in bounds],
            )
            job.evaluate_next()  # the first chunk at once
            self.query_jobs[job.id] = job
            return json_response(200, job.info(False))
        if not parts:
            return not_found()
        qjob = self.query_jobs.get(parts[0])
        if qjob is None:
            return not_found()
        if len(parts) == 1 and req.method == "GET":
            qjob.evaluate_next()  # one more chunk processed since the job was last looked at
            return json_response(200, qjob.info(True))
        if len(parts) == 1 and req.method == "DELETE":
            del self.query_jobs[qjob.id]
            return Response(204)
        if len(parts) == 1 and req.method == "PATCH":
            return sf_error(400, "INVALIDJOBSTATE", f"Job {qjob.id} is already {qjob.state}")
        if parts[1:] == ["results"] and req.method == "GET":
            if qjob.pending:
                return sf_error(400, "INVALIDJOBSTATE", f"Job {qjob.id} is not complete: {qjob.state}")
            try:
                start = int(base64.b64decode(req.param("locator") or "MA==").decode() or 0)
                size = int(req.param("maxRecords") or 50_000)
            except (ValueError, binascii.Error):
                return sf_error(400, "INVALIDLOCATOR", "Invalid locator")
            page = qjob.rows[start : start + size]
            out = io.StringIO()
            writer = csv.writer(
                out,
                delimiter=_DELIMS[qjob.delimiter],
                lineterminator="\r\n" if qjob.line_ending == "CRLF" else "\n",
                quoting=csv.QUOTE_ALL,
            )
            writer.writerow(qjob.header)
            writer.writerows(page)
            nxt = start + size
            locator = base64.b64encode(str(nxt).encode()).decode() if nxt < len(qjob.rows) else "null"
            resp = text_response(200, out.getvalue())
            resp.headers.update({"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(page))})
            return resp
        return not_found()

    # ------------------------------------------------------------------ Tooling API
    def tooling_api(self, req: Request, version: str, parts: list[str]) -> Response:
        if parts and parts[0] == "query" and req.method == "GET":
            return self.query(req, version, False, self.tooling, tooling=True)
        if len(parts) >= 2 and parts[0] == "sobjects" and parts[1] == "CustomField":
            if len(parts) == 2 and req.method == "POST":
                return self.create_custom_field(req)
            if len(parts) == 3 and req.method == "GET":
                row = self.tooling["CustomField"].records.get(parts[2])
                if row is None:
                    return not_found()
                out = {k: v for k, v in row.items() if not k.startswith("_")}
                out["Metadata"] = row["_metadata"]
                out["attributes"] = {
                    "type": "CustomField",
                    "url": f"/services/data/v{version}/tooling/sobjects/CustomField/{row['Id']}",
                }
                return json_response(200, out)
        return not_found()

    def create_custom_field(self, req: Request) -> Response:
        try:
            body = req.json()
        except ValueError:
            return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value")
        if not isinstance(body, dict):
            return sf_error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of CustomField")
        full = str(body.get("FullName") or "")
        meta = body.get("Metadata")
        if "." not in full or not isinstance(meta, dict):
            return sf_error(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName, Metadata]", []
            )
        obj_name, field_name = full.split(".", 1)
        obj = self._object(obj_name)
        if obj is None:
            return sf_error(400, "FIELD_INTEGRITY_EXCEPTION", f"Cannot find entity: {obj_name}", [])
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c", field_name) or len(field_name) > 43:
            return sf_error(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"Field name {field_name}: a custom field name must end with __c, begin with a letter and "
                "use only alphanumeric characters and single underscores",
                [],
            )
        if obj.field_name(field_name) is not None:
            return sf_error(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"There is already a field named {field_name.removesuffix('__c')} on {obj.name}.",
                [],
            )
        ftype = _TOOLING_TYPES.get(str(meta.get("type")))
        if ftype is None:
            return sf_error(
                400, "FIELD_INTEGRITY_EXCEPTION", f"Field type: bad value: {meta.get('type')}", []
            )
        label = meta.get("label")
        if not label:
            return sf_error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Label]", ["Label"])
        f = SFField(field_name, ftype, label=str(label), custom=True, updateable=True)
        if ftype in ("currency", "double", "percent"):
            precision, scale = meta.get("precision"), meta.get("scale")
            if precision is None or scale is None:
                return sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "Precision and scale are required", [])
            f.precision, f.scale = int(precision), int(scale)
        elif ftype == "string":
            if not meta.get("length"):
                return sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "Length: value not specified", [])
            f.length = int(meta["length"])
            if f.length > 255:
                return sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "Length: value too large (max 255)", [])
        elif ftype == "textarea" and meta.get("type") == "TextArea":
            f.length = 255
        elif ftype == "textarea":
            # a Long Text Area needs its length (256 to 131,072) and the lines its edit box shows
            problem = _long_text_problem(meta.get("length"), meta.get("visibleLines"))
            if problem is not None:
                return sf_error(400, "FIELD_INTEGRITY_EXCEPTION", problem, [])
            f.length = int(meta["length"])
        elif ftype == "picklist":
            value_set = meta.get("valueSet") or {}
            values = (
                ((value_set.get("valueSetDefinition") or {}).get("value") or [])
                if isinstance(value_set, dict)
                else []
            )
            f.picklist = tuple(
                str(v.get("fullName") or v.get("label")) for v in values if isinstance(v, dict)
            )
            f.length = 255
            if isinstance(value_set, dict) and value_set.get("restricted"):
                f.restricted = True
        elif ftype == "boolean":
            if meta.get("defaultValue") is None:
                return sf_error(
                    400, "FIELD_INTEGRITY_EXCEPTION", "Checkbox fields require a default value", []
                )
            f.nillable = False
        self.store.add_custom_field(obj.name, f)
        if ftype == "boolean":
            default = str(meta.get("defaultValue")).lower() == "true"
            for rec in obj.records.values():
                rec[f.name] = default
        fid = self._register_custom_field(obj.name, f, dict(meta))
        return json_response(201, {"id": fid, "success": True, "errors": [], "warnings": [], "infos": []})


def _long_text_problem(length: Any, visible_lines: Any) -> str | None:
    """What Salesforce says of a Long Text Area's ``length`` and ``visibleLines``; None when both are good."""
    if length in (None, ""):
        return "Length: value not specified"
    if not isinstance(length, int) or isinstance(length, bool) or not 256 <= length <= 131_072:
        return f"Length: value outside of valid range on numeric field: {length}"
    if visible_lines in (None, ""):
        return "Visible Lines: value not specified"
    if not isinstance(visible_lines, int) or isinstance(visible_lines, bool) or not 2 <= visible_lines <= 50:
        return f"Visible Lines: value outside of valid range on numeric field: {visible_lines}"
    return None
