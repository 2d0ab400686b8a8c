"""The HubSpot CRM subset: v3 objects (list, read, update, archive, merge, search, batch read/update), v4
associations, pipelines, properties and property groups, and the MDF custom object's schema."""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .messages import Request, Response, json_response
from .store import (
    DEFAULT_ASSOC,
    MDF_OBJECT_NAME,
    MDF_OBJECT_TYPE_ID,
    OBJECT_TYPE_IDS,
    STAGE_IDS,
    HSObject,
    HSProperty,
    HubSpotStore,
    hs_datetime,
)

SEARCH_LIMIT = 200
LIST_LIMIT = 100
ASSOC_PAGE_LIMIT = 500
INLINE_ASSOCIATIONS = 100
"""Associations a record carries inline (list and read): more are paged through per record."""
SEARCH_CAP = 10_000
BATCH_LIMIT = 100
ASSOC_BATCH_LIMIT = 1000
FILTER_GROUPS_MAX = 5
FILTERS_PER_GROUP_MAX = 10
FILTERS_MAX = 25
PORTAL_ID = 99_000_001
_SINGULAR = {"companies": "company", "deals": "deal", "meetings": "meeting", MDF_OBJECT_NAME: "mdf_claim"}
_DEFAULT_PROPS = {
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "meetings": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    MDF_OBJECT_NAME: ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}
_NOT_FOUND = "Object not found.  objectId are usually numeric."
_FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number"},
    "date": {"date"},
    "datetime": {"date"},
    "bool": {"booleancheckbox", "calculation_equation"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
}


class MergeRefused(ValueError):
    """A merge HubSpot refuses: its answer's status and category, the message, and the ids it names."""

    def __init__(self, status: int, category: str, message: str, ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.category, self.ids = status, category, ids or []


def _merge_id(value: Any) -> str | None:
    """An id of a merge's body as text (a JSON number too, as HubSpot reads one); None when unset."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def _close_flags(deal: HSObject) -> None:
    """A deal's read-only ``hs_is_closed_won`` and ``hs_is_closed``, derived from its ``dealstage``."""
    stage = deal.properties.get("dealstage")
    deal.properties["hs_is_closed_won"] = str(stage == "closedwon").lower()
    deal.properties["hs_is_closed"] = str(stage in ("closedwon", "closedlost")).lower()


class HubSpotAPI:
    """Handlers for ``/crm/v3/...`` and ``/crm/v4/...``; callers hold the sandbox lock."""

    def __init__(
        self,
        store: HubSpotStore,
        correlation: Callable[[], str],
        invalid: frozenset[str] = frozenset(),
        portal_id: int = PORTAL_ID,
    ) -> None:
        self.store = store
        self.portal_id = portal_id
        self.correlation = correlation
        self.invalid = invalid
        self.written: dict[str, int] = {}
        self.search_cache: OrderedDict[str, list[str]] = OrderedDict()
        self.gaps: Callable[[str], int] | None = None
        """The places search and list answers leave out before a record (the ``gaps`` fault), or None."""

    # ------------------------------------------------------------------ helpers
    def error(
        self,
        status: int,
        category: str,
        message: str,
        context: dict[str, Any] | None = None,
        sub: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": self.correlation(),
            "category": category,
        }
        if sub:
            body["subCategory"] = sub
        if context:
            body["context"] = context
        return json_response(status, body, headers)

    def validation(self, message: str) -> Response:
        return self.error(400, "VALIDATION_ERROR", message)

    def batch_error(self, category: str, message: str, ids: list[str]) -> dict[str, Any]:
        return {
            "status": "error",
            "category": category,
            "message": message,
            "context": {"ids": ids},
            "errors": [],
            "links": {},
        }

    def now(self) -> str:
        return hs_datetime(self.store.clock.now)

    def obj_json(
        self, type_name: str, obj: HSObject, props: list[str] | None, associations: list[str] | None = None
    ) -> dict[str, Any]:
        names = props if props is not None else _DEFAULT_PROPS[type_name]
        defined = self.store.properties[type_name]
        out_props: dict[str, str | None] = {}
        for name in names:
            if name in defined:
                out_props[name] = obj.properties.get(name)
        for always in (
            "hs_object_id",
            "createdate" if "createdate" in defined else "hs_createdate",
            "hs_lastmodifieddate",
        ):
            out_props.setdefault(always, obj.properties.get(always))
        out: dict[str, Any] = {
            "id": obj.id,
            "properties": out_props,
            "createdAt": obj.created_at,
            "updatedAt": obj.updated_at,
            "archived": obj.archived,
        }
        if obj.archived:
            out["archivedAt"] = obj.updated_at
        if associations:
            assoc: dict[str, Any] = {}
            for to_name in associations:
                to_type = self.store.resolve_type(to_name)
                if to_type is None:
                    continue
                rows = list(self.store.assoc.get((type_name, to_type), {}).get(obj.id, {}).values())
                results = [
                    {"id": row.to_id, "type": self._v3_type(type_name, to_type, category, type_id, label)}
                    for row in rows[:INLINE_ASSOCIATIONS]
                    for category, type_id, label in row.types
                ]
                if len(rows) > INLINE_ASSOCIATIONS:
                    nxt = str(INLINE_ASSOCIATIONS)
                    link = f"/crm/v4/objects/{type_name}/{obj.id}/associations/{to_type}?after={nxt}"
                    assoc[to_name] = {"results": results, "paging": {"next": {"after": nxt, "link": link}}}
                elif results:
                    assoc[to_name] = {"results": results}
            if assoc:
                out["associations"] = assoc
        return out

    @staticmethod
    def _v3_type(from_type: str, to_type: str, category: str, type_id: int, label: str | None) -> str:
        base = f"{_SINGULAR.get(from_type, from_type)}_to_{_SINGULAR.get(to_type, to_type)}"
        if category == "HUBSPOT_DEFINED":
            return base if label else f"{base}_unlabeled"
        return (label or str(type_id)).lower().replace("-", "_").replace(" ", "_")

    def _props_param(self, req: Request) -> list[str] | None:
        values = req.query.get("properties")
        if not values:
            return None
        return [p.strip() for v in values for p in v.split(",") if p.strip()]

    def _type(self, name: str) -> str | None:
        return self.store.resolve_type(name)

    def bad_type(self, name: str) -> Response:
        return self.validation(f"Unable to infer object type from: {name}")

    # ------------------------------------------------------------------ routing
    def account_details(self) -> Response:
        """``GET /account-info/v3/details``: the portal's id and settings (HubSpot's documented shape)."""
        return json_response(
            200,
            {
                "portalId": self.portal_id,
                "accountType": "SANDBOX",
                "timeZone": "US/Eastern",
                "companyCurrency": "USD",
                "additionalCurrencies": ["EUR", "GBP"],
                "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18000000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            },
        )

    def handle(self, req: Request, parts: list[str]) -> Response:
        m = req.method
        if len(parts) < 2:
            return self.not_found(req)
        version, area, rest = parts[0], parts[1], parts[2:]
        if version == "v3" and area == "objects" and rest:
            type_name = self._type(rest[0])
            if type_name is None:
                return self.bad_type(rest[0])
            if len(rest) == 1 and m == "GET":
                return self.list_objects(req, type_name)
            if len(rest) == 2 and rest[1] == "search" and m == "POST":
                return self.search(req, type_name)
            if len(rest) == 2 and rest[1] == "merge" and m == "POST":
                return self.merge(req, type_name)
            if len(rest) == 3 and rest[1] == "batch" and m == "POST":
                if rest[2] == "read":
                    return self.batch_read(req, type_name)
                if rest[2] == "update":
                    return self.batch_update(req, type_name)
            if len(rest) == 2 and rest[1] != "batch":
                if m == "GET":
                    return self.get_object(req, type_name, rest[1])
                if m == "PATCH":
                    return self.patch_object(req, type_name, rest[1])
                if m == "DELETE":
                    return self.archive_object(type_name, rest[1])
        if version == "v4" and area == "associations" and len(rest) >= 3:
            from_type, to_type = self._type(rest[0]), self._type(rest[1])
            if from_type is None or to_type is None:
                return self.bad_type(rest[0] if from_type is None else rest[1])
            if rest[2:] == ["batch", "read"] and m == "POST":
                return self.assoc_batch_read(req, from_type, to_type)
            if rest[2:] == ["labels"] and m == "GET":
                return self.assoc_labels(from_type, to_type)
        if (
            version == "v4"
            and area == "objects"
            and len(rest) == 4
            and rest[2] == "associations"
            and m == "GET"
        ):
            from_type, to_type = self._type(rest[0]), self._type(rest[3])
            if from_type is None or to_type is None:
                return self.bad_type(rest[0] if from_type is None else rest[3])
            return self.assoc_list(req, from_type, rest[1], to_type)
        if version == "v3" and area == "pipelines" and rest:
            if rest[0] != "deals":
                return self.error(404, "OBJECT_NOT_FOUND", f"No pipelines found for object type {rest[0]}")
            return self.pipelines(rest[1:])
        if version == "v3" and area == "properties" and rest:
            type_name = self._type(rest[0])
            if type_name is None:
                return self.bad_type(rest[0])
            return self.properties(req, type_name, rest[1:])
        if version == "v3" and area == "schemas" and m == "GET":
            if not rest:
                return json_response(200, {"results": [self.schema()]})
            if self._type(rest[0]) == MDF_OBJECT_NAME:
                return json_response(200, self.schema())
            return self.error(404, "OBJECT_NOT_FOUND", f"Unable to find object type {rest[0]}")
        return self.not_found(req)

    def not_found(self, req: Request) -> Response:
        return self.error(404, "OBJECT_NOT_FOUND", f"No route for {req.method} {req.path}")

    # ------------------------------------------------------------------ reads
    def list_objects(self, req: Request, type_name: str) -> Response:
        """``GET /crm/v3/objects/{type}``: records by ascending id, ``limit`` (at most 100) a page from the
        ``after`` cursor (``paging.next.after``, the id the next page starts at); with
        ``associations``, each record's first 100 associated ids inline (more are paged per record)."""
        cursor = re.fullmatch(r"(\d+)(?:~(\d+))?", req.param("after") or "0")
        try:
            limit = int(req.param("limit") or 10)
        except ValueError:
            return self.validation("limit and after must be integers")
        if cursor is None:
            return self.validation("limit and after must be integers")
        start, passed = int(cursor.group(1)), int(cursor.group(2) or 0)
        if limit < 1 or limit > LIST_LIMIT:
            return self.validation(f"limit must be between 1 and {LIST_LIMIT}, got {limit}")
        archived = (req.param("archived") or "false").lower() == "true"
        nxt: int | str | None
        if self.gaps is None:
            page, nxt = self.store.page(type_name, start, limit, archived=archived)
        else:  # places left out: the cursor may stop among a record's, as ``ID~places passed``
            ids = self.store.ids(type_name, archived=archived)
            shown, ends = self._places(ids, bisect.bisect_left(ids, start), passed, limit)
            page = [self.store.objects[type_name][str(i)] for i in shown]
            nxt = None if ends is None else ids[ends[0]] if not ends[1] else f"{ids[ends[0]]}~{ends[1]}"
        assoc = [a for v in req.query.get("associations", []) for a in v.split(",") if a]
        props = self._props_param(req)
        body: dict[str, Any] = {"results": [self.obj_json(type_name, o, props, assoc) for o in page]}
        if nxt is not None:
            link = f"{req.path}?limit={limit}&after={nxt}"
            body["paging"] = {"next": {"after": str(nxt), "link": link}}
        return json_response(200, body)

    def get_object(self, req: Request, type_name: str, object_id: str) -> Response:
        """``GET /crm/v3/objects/{type}/{id}``; a merged-away id answers the record it was merged into,
        under that record's id."""
        obj = self.store.resolve(type_name, object_id)
        archived = (req.param("archived") or "false").lower() == "true"
        if obj is None or obj.archived != archived:
            return self.error(
                404,
                "OBJECT_NOT_FOUND",
                _NOT_FOUND,
                {"id": [object_id]},
            )
        assoc = [a for v in req.query.get("associations", []) for a in v.split(",") if a]
        return json_response(200, self.obj_json(type_name, obj, self._props_param(req), assoc))

    def batch_read(self, req: Request, type_name: str) -> Response:
        """``POST /crm/v3/objects/{type}/batch/read``: a merged-away id answers the record it was merged
        into, under that record's id, once however many of the ids asked for lead to it."""
        batch = self._batch_body(req)
        if isinstance(batch, Response):
            return batch
        body, inputs = batch
        props = body.get("properties") if isinstance(body.get("properties"), list) else []
        started = self.now()
        results, missing, found = [], [], set()
        for item in inputs:
            oid = str(item.get("id")) if isinstance(item, dict) else str(item)
            obj = self.store.resolve(type_name, oid)
            if obj is None or obj.archived:
                missing.append(oid)
                continue
            if obj.id not in found:  # once, however many of the ids asked for lead to it
                found.add(obj.id)
                results.append(self.obj_json(type_name, obj, props))
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": self.now(),
        }
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                self.batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {_SINGULAR[type_name].upper()} objects, they may be deleted "
                    "or not exist. Check that ids are valid.",
                    missing,
                )
            ]
            return json_response(207, out)
        return json_response(200, out)

    # ------------------------------------------------------------------ search
    def _coerce_filter_value(self, prop: HSProperty, value: Any) -> Any:
        return self._typed(prop, None if value is None else str(value), filter_value=True)

    @staticmethod
    def _typed(prop: HSProperty, value: str | None, filter_value: bool = False) -> Any:
        if value is None or value == "":
            return None
        t = prop.type
        try:
            if t == "number":
                return Decimal(value)
            if t in ("datetime", "date"):
                if re.fullmatch(r"-?\d+", value):
                    ms = int(value)
                else:
                    text = value.replace("Z", "+00:00")
                    parsed = (
                        dt.datetime.fromisoformat(text)
                        if "T" in text
                        else dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), tzinfo=dt.UTC)
                    )
                    if parsed.tzinfo is None:
                        parsed = parsed.replace(tzinfo=dt.UTC)
                    ms = int(parsed.timestamp() * 1000)
                if t == "date":
                    ms -= ms % 86_400_000
                return ms
        except (InvalidOperation, ValueError):
            if filter_value:
                raise
            return None
        if t == "bool":
            return value.lower() == "true"
        return value.casefold()

    def _sort_key(self, prop: HSProperty, name: str) -> Callable[[HSObject], Any]:
        return lambda o: self._typed(prop, o.properties.get(name))

    def _compile_filter(self, type_name: str, flt: dict[str, Any]) -> Callable[[HSObject], bool]:
        name = flt.get("propertyName")
        op = str(flt.get("operator", "EQ")).upper()
        props = self.store.properties[type_name]
        if not isinstance(name, str) or name not in props:
            raise ValueError(
                f"There was a problem with the request: property {name!r} does not exist on {type_name}"
            )
        prop = props[name]

        def get(o: HSObject) -> Any:
            return self._typed(prop, o.properties.get(name))

        if op == "HAS_PROPERTY":
            return lambda o: o.properties.get(name) not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return lambda o: o.properties.get(name) in (None, "")
        if op in ("IN", "NOT_IN"):
            values = flt.get("values")
            if not isinstance(values, list):
                raise ValueError(f"operator {op} requires 'values'")
            keys = {self._coerce_filter_value(prop, v) for v in values}
            if op == "IN":
                return lambda o: get(o) in keys
            return lambda o: get(o) not in keys
        if op == "BETWEEN":
            lo = self._coerce_filter_value(prop, flt.get("value"))
            hi = self._coerce_filter_value(prop, flt.get("highValue"))
            if lo is None or hi is None:
                raise ValueError("operator BETWEEN requires 'value' and 'highValue'")
            return lambda o: (v := get(o)) is not None and lo <= v <= hi
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(flt.get("value", "")).casefold().replace("*", "")
            if op == "CONTAINS_TOKEN":
                return lambda o: token in str(o.properties.get(name) or "").casefold()
            return lambda o: token not in str(o.properties.get(name) or "").casefold()
        if "value" not in flt:
            raise ValueError(f"operator {op} requires 'value'")
        target = self._coerce_filter_value(prop, flt.get("value"))
        cmp: dict[str, Callable[[Any, Any], bool]] = {
            "EQ": lambda a, b: bool(a == b),
            "NEQ": lambda a, b: bool(a != b),
            "LT": lambda a, b: bool(a < b),
            "LTE": lambda a, b: bool(a <= b),
            "GT": lambda a, b: bool(a > b),
            "GTE": lambda a, b: bool(a >= b),
        }
        if op not in cmp:
            raise ValueError(f"Unknown operator {op}")
        fn = cmp[op]
        if op == "NEQ":
            return lambda o: (v := get(o)) is None or fn(v, target)
        return lambda o: (v := get(o)) is not None and fn(v, target)

    def _candidates(self, type_name: str, groups: list[Any]) -> list[HSObject]:
        """The records a search must test: with one filter group holding a lower bound on
        ``hs_lastmodifieddate`` (an incremental read), those the modification index gives; otherwise
        every record."""
        objs = self.store.objects[type_name]
        if len(groups) == 1 and isinstance(groups[0], dict):
            for flt in groups[0].get("filters") or ():
                if (
                    isinstance(flt, dict)
                    and flt.get("propertyName") == "hs_lastmodifieddate"
                    and str(flt.get("operator", "")).upper() in ("GT", "GTE")
                ):
                    prop = self.store.properties[type_name]["hs_lastmodifieddate"]
                    bound = self._coerce_filter_value(prop, flt.get("value"))
                    if isinstance(bound, int):
                        return [objs[i] for i in self.store.modified_since(type_name, bound)]
        return list(objs.values())

    def _places(
        self, ids: Sequence[int | str], at: int, passed: int, limit: int
    ) -> tuple[list[int | str], tuple[int, int] | None]:
        """With the ``gaps`` fault: the next ``limit`` places of an answer from ``ids[at]`` on (``passed``
        of the places left out before it already paged past), each record preceded by the places left
        out before it. The ids of the records among them, and where the next page starts (an index into
        ``ids`` and the places before it passed), or None when no place is left."""
        assert self.gaps is not None
        shown: list[int | str] = []
        used = 0
        while at < len(ids) and used < limit:
            free = self.gaps(str(ids[at])) - passed
            if used + free >= limit:  # the page ends among the places left out before ids[at]
                return shown, (at, passed + limit - used)
            used += free + 1
            shown.append(ids[at])
            at, passed = at + 1, 0
        return shown, ((at, passed) if at < len(ids) else None)

    @staticmethod
    def _paged_by_key(groups: list[Any], sorts: list[Any]) -> tuple[list[Any], int | None]:
        """A query paged by key (one filter group holding ``hs_object_id`` ``GT`` a number, sorted by
        ``hs_object_id`` ascending or not at all) as the same query without that filter and the id its
        results start past: each page of such a read is a new query, which then pages from the cache
        of the query without the bound instead of testing every record again. Any other query as is."""
        if len(groups) != 1 or not isinstance(groups[0], dict):
            return groups, None
        if sorts not in ([], [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]):
            return groups, None
        filters = groups[0].get("filters") or []
        bounds = [
            f
            for f in filters
            if isinstance(f, dict)
            and f.get("propertyName") == "hs_object_id"
            and str(f.get("operator", "")).upper() == "GT"
            and re.fullmatch(r"\d+", str(f.get("value", "")))
        ]
        if len(bounds) != 1:
            return groups, None
        rest = [f for f in filters if f is not bounds[0]]
        return [{**groups[0], "filters": rest}] if rest else [], int(bounds[0]["value"])

    def search(self, req: Request, type_name: str) -> Response:
        body = self._json_body(req)
        if isinstance(body, Response):
            return body
        try:
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return self.validation("Invalid input JSON: limit and after must be integers")
        if limit > SEARCH_LIMIT or limit < 0:
            return self.validation(f"limit must be less than or equal to {SEARCH_LIMIT}, got {limit}")
        if after >= SEARCH_CAP:
            return self.validation(
                f"The search endpoints are limited to {SEARCH_CAP} total results for any given "
                f"query; after={after} is past that limit."
            )
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            return self.validation("filterGroups must be a list")
        if len(groups) > FILTER_GROUPS_MAX:
            return self.validation(
                f"Too many filter groups ({len(groups)}): up to {FILTER_GROUPS_MAX} are allowed"
            )
        total = sum(len(g.get("filters") or []) for g in groups if isinstance(g, dict))
        if total > FILTERS_MAX:
            return self.validation(f"Too many filters ({total}): up to {FILTERS_MAX} in all are allowed")
        sorts_raw = body.get("sorts") or []
        props = body.get("properties") if isinstance(body.get("properties"), list) else None
        groups, past = self._paged_by_key(groups, sorts_raw)
        key = json.dumps(
            [type_name, groups, sorts_raw, body.get("query"), self.store.version], sort_keys=True
        )
        ids = self.search_cache.get(key)
        if ids is None:
            try:
                compiled = []
                for g in groups:
                    filters = g.get("filters") or []
                    if len(filters) > FILTERS_PER_GROUP_MAX:
                        raise ValueError(
                            f"Too many filters in a filter group ({len(filters)}): "
                            f"up to {FILTERS_PER_GROUP_MAX} are allowed"
                        )
                    compiled.append([self._compile_filter(type_name, f) for f in filters])
                sorts: list[tuple[str, bool]] = []
                for s in sorts_raw:
                    if isinstance(s, str):
                        sorts.append((s.lstrip("-"), s.startswith("-")))
                    elif isinstance(s, dict):
                        sorts.append(
                            (
                                str(s.get("propertyName")),
                                str(s.get("direction", "ASCENDING")).upper() == "DESCENDING",
                            )
                        )
                if len(sorts) > 1:
                    raise ValueError("Only one sort is supported")
                for name, _ in sorts:
                    if name not in self.store.properties[type_name]:
                        raise ValueError(
                            f"There was a problem with the request: property {name!r} does not exist"
                        )
            except (ValueError, InvalidOperation) as exc:
                return self.validation(str(exc))
            query_text = str(body.get("query") or "").casefold()
            rows = [o for o in self._candidates(type_name, groups) if not o.archived]
            if compiled:
                rows = [o for o in rows if any(all(f(o) for f in grp) for grp in compiled)]
            if query_text:
                rows = [
                    o
                    for o in rows
                    if any(query_text in str(v).casefold() for v in o.properties.values() if v)
                ]
            rows.sort(key=lambda o: int(o.id))
            for name, desc in reversed(sorts):
                prop = self.store.properties[type_name][name]
                present = [o for o in rows if o.properties.get(name) not in (None, "")]
                absent = [o for o in rows if o.properties.get(name) in (None, "")]
                present.sort(key=self._sort_key(prop, name), reverse=desc)
                rows = present + absent
            ids = [o.id for o in rows]
            self.search_cache[key] = ids
            while len(self.search_cache) > 32:
                self.search_cache.popitem(last=False)
        if past is not None:
            ids = ids[bisect.bisect_right(ids, past, key=int) :]
        total, more = len(ids), after + limit < len(ids)
        if self.gaps is None:
            page = ids[after : after + limit]
        else:  # places left out: counted in the total and the offsets, missing from the page
            total += sum(self.gaps(i) for i in ids)
            _, start = self._places(ids, 0, 0, after)
            shown, ends = self._places(ids, *start, limit) if start is not None else ([], None)
            page, more = [str(i) for i in shown], ends is not None
        objs = self.store.objects[type_name]
        out: dict[str, Any] = {
            "total": total,
            "results": [self.obj_json(type_name, objs[i], props) for i in page],
        }
        if more and limit > 0:
            out["paging"] = {"next": {"after": str(after + limit)}}
        return json_response(200, out)

    # ------------------------------------------------------------------ writes
    def _batch_body(
        self, req: Request, limit: int = BATCH_LIMIT
    ) -> tuple[dict[str, Any], list[Any]] | Response:
        """A batch call's body and its ``inputs``, or the error HubSpot answers (400 over the limit)."""
        body = self._json_body(req)
        if isinstance(body, Response):
            return body
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return self.validation("Invalid input JSON: 'inputs' is required")
        if len(inputs) > limit:
            return self.validation(
                f"The maximum number of inputs supported in a batch request is {limit}. "
                "Please reduce the number of items and try again"
            )
        return body, inputs

    def _json_body(self, req: Request) -> dict[str, Any] | Response:
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            return self.validation("Invalid input JSON on line 1, column 1: Cannot build request body")
        if not isinstance(body, dict):
            return self.validation("Invalid input JSON: expected an object")
        return body

    def _normalise(
        self, type_name: str, props: dict[str, Any]
    ) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
        defined = self.store.properties[type_name]
        values: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, raw in props.items():
            prop = defined.get(name)
            if prop is None:
                msg = f'Property "{name}" does not exist'
                problems.append(
                    {
                        "isValid": False,
                        "message": msg,
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                        "localizedErrorMessage": msg,
                        "portalId": self.portal_id,
                    }
                )
                continue
            if prop.read_only:
                msg = f'"{name}" is a read only property; its value cannot be set.'
                problems.append(
                    {
                        "isValid": False,
                        "message": msg,
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                        "localizedErrorMessage": msg,
                        "portalId": self.portal_id,
                    }
                )
                continue
            if raw is None or raw == "":
                values[name] = None
                continue
            text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
            error = None
            if prop.type == "number":
                try:
                    Decimal(text)
                except InvalidOperation:
                    error = ("INVALID_FLOAT", f"{text} was not a valid number.")
            elif prop.type in ("date", "datetime"):
                try:
                    ms = self._typed(prop, text, filter_value=True)
                    stamp = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
                    if prop.type == "date":
                        if ms % 86_400_000:
                            error = ("INVALID_DATE", f"{text} is not a valid date: it is not at midnight UTC")
                        text = stamp.date().isoformat()
                    else:
                        text = hs_datetime(stamp)
                except (ValueError, InvalidOperation, OverflowError):
                    error = ("INVALID_DATE", f"{text} was not a valid date.")
            elif prop.type == "bool":
                if text.lower() not in ("true", "false"):
                    error = ("INVALID_BOOLEAN", f"{text} was not a valid boolean.")
                text = text.lower()
            elif prop.type == "enumeration" and prop.options:
                allowed = [o["value"] for o in prop.options]
                if prop.field_type == "checkbox":
                    bad = [v for v in text.split(";") if v not in allowed]
                else:
                    bad = [] if text in allowed else [text]
                if bad:
                    error = ("INVALID_OPTION", f"{bad[0]} was not one of the allowed options: {allowed}")
            if error:
                problems.append(
                    {
                        "isValid": False,
                        "message": error[1],
                        "error": error[0],
                        "name": name,
                        "localizedErrorMessage": error[1],
                        "portalId": self.portal_id,
                    }
                )
                continue
            values[name] = text
        return values, problems

    def _invalid_props(self, problems: list[dict[str, Any]]) -> Response:
        return self.validation(
            "Property values were not valid: " + json.dumps(problems, separators=(",", ":"))
        )

    def _write(self, type_name: str, obj: HSObject, values: dict[str, str | None], stamp: str) -> None:
        obj.properties.update(values)
        obj.properties["hs_lastmodifieddate"] = stamp
        obj.updated_at = stamp
        self.store.touched(type_name, obj.id, stamp)
        if type_name == "deals" and "dealstage" in values:
            _close_flags(obj)
        self.written[type_name] = self.written.get(type_name, 0) + 1

    def patch_object(self, req: Request, type_name: str, object_id: str) -> Response:
        """``PATCH /crm/v3/objects/{type}/{id}``; a merged-away id writes the record it was merged into,
        answered under that record's id."""
        body = self._json_body(req)
        if isinstance(body, Response):
            return body
        obj = self.store.resolve(type_name, object_id)
        if obj is None or obj.archived:
            return self.error(
                404,
                "OBJECT_NOT_FOUND",
                _NOT_FOUND,
                {"id": [object_id]},
            )
        props = body.get("properties")
        if not isinstance(props, dict):
            return self.validation("Invalid input JSON: 'properties' is required")
        values, problems = self._normalise(type_name, props)
        if problems:
            return self._invalid_props(problems)
        if obj.id in self.invalid:
            return self.validation(f"Record {obj.id} failed validation (sandbox invalid fault)")
        self.store.version += 1
        self._write(type_name, obj, values, hs_datetime(self.store.clock.tick()))
        return json_response(200, self.obj_json(type_name, obj, list(values)))

    def archive_object(self, type_name: str, object_id: str) -> Response:
        """``DELETE /crm/v3/objects/{type}/{id}``: archived (readable with ``archived=true``, gone from
        search, list and batch read) until purged; 204 also for an id already archived or unknown. A
        merged-away id archives the record it was merged into, as every other call by id reaches it (the
        docs say nothing of archiving by such an id: a guess)."""
        obj = self.store.resolve(type_name, object_id)
        if obj is not None and not obj.archived:
            self.store.version += 1
            self.store.forget()
            obj.archived = True
            obj.updated_at = hs_datetime(self.store.clock.tick())
        return Response(204)

    def merge(self, req: Request, type_name: str) -> Response:
        """``POST /crm/v3/objects/{type}/merge`` with ``{"primaryObjectId", "objectIdToMerge"}``: 200 with
        the new record (see :meth:`merge_records`); either id unset → 400 ``VALIDATION_ERROR``."""
        body = self._json_body(req)
        if isinstance(body, Response):
            return body
        primary_id, id_to_merge = (
            _merge_id(body.get("primaryObjectId")),
            _merge_id(body.get("objectIdToMerge")),
        )
        if primary_id is None or id_to_merge is None:
            named = (("primaryObjectId", primary_id), ("objectIdToMerge", id_to_merge))
            unset = [k for k, v in named if v is None]
            return self.validation(f"Invalid input JSON: Some required fields were not set: {unset}")
        try:
            record = self.merge_records(type_name, primary_id, id_to_merge)
        except MergeRefused as refused:
            context = {"id": refused.ids} if refused.ids else None
            return self.error(refused.status, refused.category, str(refused), context)
        self.written[type_name] = self.written.get(type_name, 0) + 1
        return json_response(200, self.obj_json(type_name, record, None))

    def merge_records(self, type_name: str, primary_id: str, id_to_merge: str) -> HSObject:
        """Merge record ``id_to_merge`` into ``primary_id`` as HubSpot does (:meth:`HubSpotStore.merge`):
        a new record with a new id, stamped one tick of the clock later; the two ids lead to it.

        Raises :class:`MergeRefused`: 400 ``VALIDATION_ERROR`` for one id twice or a record the ``invalid``
        fault names, 404 ``OBJECT_NOT_FOUND`` for an id unknown or archived. An id already merged away is
        refused as a missing record (404) too: the record it named is gone, and HubSpot documents no
        merge through such an id (its reads and writes reach the new record; a merge does not)."""
        if primary_id == id_to_merge:
            raise MergeRefused(400, "VALIDATION_ERROR", f"Cannot merge object {primary_id} with itself")
        objs = self.store.objects[type_name]
        ids = (primary_id, id_to_merge)
        missing = [i for i in ids if i not in objs or objs[i].archived]
        if missing:
            raise MergeRefused(404, "OBJECT_NOT_FOUND", _NOT_FOUND, missing)
        for object_id in ids:
            if object_id in self.invalid:
                raise MergeRefused(
                    400, "VALIDATION_ERROR", f"Record {object_id} failed validation (sandbox invalid fault)"
                )
        stamp = hs_datetime(self.store.clock.tick())
        record = self.store.merge(type_name, objs[primary_id], objs[id_to_merge], stamp)
        if type_name == "deals":
            _close_flags(record)
        return record

    def purge(self) -> int:
        """Drop every archived record and its associations, as 90 days would. Returns how many."""
        gone = 0
        for type_name, objs in self.store.objects.items():
            archived = {oid for oid, o in objs.items() if o.archived}
            for oid in archived:
                del objs[oid]
            for (from_type, to_type), table in self.store.assoc.items():
                if from_type == type_name:
                    for oid in archived:
                        table.pop(oid, None)
                elif to_type == type_name:
                    for rows in table.values():
                        for oid in archived & rows.keys():
                            del rows[oid]
            gone += len(archived)
        if gone:
            self.store.version += 1
            self.store.forget()
        return gone

    def batch_update(self, req: Request, type_name: str) -> Response:
        """``POST /crm/v3/objects/{type}/batch/update``: a merged-away id writes the record it was merged
        into, answered under that record's id; two ids that lead to one record are duplicates."""
        batch = self._batch_body(req)
        if isinstance(batch, Response):
            return batch
        _, inputs = batch
        seen: set[str] = set()
        dupes: list[str] = []
        planned: list[tuple[HSObject, dict[str, str | None]]] = []
        missing: list[str] = []
        invalid: list[str] = []
        all_problems: list[dict[str, Any]] = []
        started = self.now()
        for item in inputs:
            if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
                return self.validation("Invalid input JSON: each input needs 'id' and 'properties'")
            oid = str(item.get("id"))
            obj = self.store.resolve(type_name, oid)
            record_id = oid if obj is None else obj.id
            if record_id in seen:
                dupes.append(oid)
            seen.add(record_id)
            values, problems = self._normalise(type_name, item["properties"])
            all_problems.extend(problems)
            if obj is None or obj.archived:
                missing.append(oid)
            elif obj.id in self.invalid:
                invalid.append(oid)
            else:
                planned.append((obj, values))
        if dupes:
            return self.validation(f"Duplicate IDs found in batch input: {dupes}. IDs must be unique")
        if all_problems:
            return self._invalid_props(all_problems)
        results = []
        if planned:
            self.store.version += 1
            stamp = hs_datetime(self.store.clock.tick())
            for obj, values in planned:
                self._write(type_name, obj, values, stamp)
                results.append(self.obj_json(type_name, obj, list(values)))
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": self.now(),
        }
        errors = []
        if missing:
            errors.append(
                self.batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not update some {_SINGULAR[type_name].upper()} "
                    "objects, they may be deleted or not exist. Check that ids are valid.",
                    missing,
                )
            )
        for oid in invalid:
            errors.append(
                self.batch_error(
                    "VALIDATION_ERROR",
                    f"Record {oid} failed a validation rule: it is locked "
                    "for incentive changes (sandbox invalid fault)",
                    [oid],
                )
            )
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
            return json_response(207, out)
        return json_response(200, out)

    # ------------------------------------------------------------------ associations v4
    def assoc_batch_read(self, req: Request, from_type: str, to_type: str) -> Response:
        batch = self._batch_body(req, ASSOC_BATCH_LIMIT)
        if isinstance(batch, Response):
            return batch
        _, inputs = batch
        table = self.store.assoc.get((from_type, to_type), {})
        started = self.now()
        results, errors = [], []
        for item in inputs:
            oid = str(item.get("id")) if isinstance(item, dict) else str(item)
            rows = list(table.get(oid, {}).values())
            if not rows:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {_SINGULAR.get(to_type, to_type)} is associated with "
                        f"{_SINGULAR.get(from_type, from_type)} {oid}.",
                        "context": {"fromObjectId": [oid]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": oid},
                    "to": [
                        {
                            "toObjectId": int(r.to_id),
                            "associationTypes": [
                                {"category": c, "typeId": t, "label": lab} for c, t, lab in r.types
                            ],
                        }
                        for r in rows
                    ],
                }
            )
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": self.now(),
        }
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
            return json_response(207, out)
        return json_response(200, out)

    def assoc_list(self, req: Request, from_type: str, object_id: str, to_type: str) -> Response:
        """``GET /crm/v4/objects/{type}/{id}/associations/{toType}``: ``limit`` (at most 500) a page from
        the ``after`` cursor."""
        try:
            limit = int(req.param("limit") or ASSOC_PAGE_LIMIT)
            start = int(req.param("after") or 0)
        except ValueError:
            return self.validation("limit and after must be integers")
        if limit < 1 or limit > ASSOC_PAGE_LIMIT:
            return self.validation(f"limit must be between 1 and {ASSOC_PAGE_LIMIT}, got {limit}")
        rows = list(self.store.assoc.get((from_type, to_type), {}).get(object_id, {}).values())
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(r.to_id),
                    "associationTypes": [{"category": c, "typeId": t, "label": lab} for c, t, lab in r.types],
                }
                for r in rows[start : start + limit]
            ]
        }
        if start + limit < len(rows):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return json_response(200, body)

    def assoc_labels(self, from_type: str, to_type: str) -> Response:
        results: list[dict[str, Any]] = []
        default = DEFAULT_ASSOC.get((from_type, to_type))
        if default is not None:
            results.append({"category": "HUBSPOT_DEFINED", "typeId": default, "label": None})
        seen: set[int] = set()
        for rows in self.store.assoc.get((from_type, to_type), {}).values():
            for row in rows.values():
                for c, t, lab in row.types:
                    if t != default and t not in seen:
                        seen.add(t)
                        results.append({"category": c, "typeId": t, "label": lab})
        results.sort(key=lambda r: (r["category"] != "HUBSPOT_DEFINED", r["typeId"]))
        return json_response(200, {"results": results})

    # ------------------------------------------------------------------ pipelines
    def pipeline(self) -> dict[str, Any]:
        probabilities = {
            "appointmentscheduled": "0.1",
            "qualifiedtobuy": "0.2",
            "presentationscheduled": "0.5",
            "contractsent": "0.8",
            "closedwon": "1.0",
            "closedlost": "0.0",
        }
        stamp = "2025-01-01T00:00:00.000Z"
        stages = [
            {
                "id": sid,
                "label": label,
                "displayOrder": i,
                "metadata": {
                    "isClosed": "true" if sid in ("closedwon", "closedlost") else "false",
                    "probability": probabilities[sid],
                },
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for i, (label, sid) in enumerate(STAGE_IDS.items())
        ]
        return {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "stages": stages,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }

    def pipelines(self, rest: list[str]) -> Response:
        if not rest:
            return json_response(200, {"results": [self.pipeline()]})
        if rest[0] != "default":
            return self.error(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline with id {rest[0]}")
        if len(rest) == 1:
            return json_response(200, self.pipeline())
        if rest[1:] == ["stages"]:
            return json_response(200, {"results": self.pipeline()["stages"]})
        return self.error(404, "OBJECT_NOT_FOUND", "Not found")

    # ------------------------------------------------------------------ properties and groups
    def properties(self, req: Request, type_name: str, rest: list[str]) -> Response:
        defined = self.store.properties[type_name]
        groups = self.store.groups[type_name]
        if rest and rest[0] == "groups":
            if len(rest) == 1 and req.method == "GET":
                return json_response(200, {"results": list(groups.values())})
            if len(rest) == 2 and req.method == "GET":
                group = groups.get(rest[1])
                if group is None:
                    return self.error(404, "OBJECT_NOT_FOUND", f"Unable to find property group {rest[1]}")
                return json_response(200, group)
            if len(rest) == 1 and req.method == "POST":
                body = self._json_body(req)
                if isinstance(body, Response):
                    return body
                name, label = body.get("name"), body.get("label")
                if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not label:
                    return self.validation("A property group needs a lowercase 'name' and a 'label'")
                if name in groups:
                    return self.error(
                        409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists."
                    )
                groups[name] = {
                    "name": name,
                    "label": str(label),
                    "displayOrder": int(body.get("displayOrder", -1)),
                    "archived": False,
                }
                return json_response(201, groups[name])
            return self.not_found(req)
        if not rest:
            if req.method == "GET":
                return json_response(200, {"results": [p.as_json() for p in defined.values()]})
            if req.method == "POST":
                return self.create_property(req, type_name)
        if len(rest) == 1 and req.method == "GET":
            prop = defined.get(rest[0])
            if prop is None:
                return self.error(
                    404, "OBJECT_NOT_FOUND", f"Unable to find property {rest[0]} on {type_name}"
                )
            return json_response(200, prop.as_json())
        return self.not_found(req)

    def create_property(self, req: Request, type_name: str) -> Response:
        body = self._json_body(req)
        if isinstance(body, Response):
            return body
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            return self.validation(f"Missing required fields: {missing}")
        name, ptype, ftype = str(body["name"]), str(body["type"]), str(body["fieldType"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            return self.validation(
                f"Property name '{name}' must be lowercase letters, digits and underscores"
            )
        if ptype not in _FIELD_TYPES or ftype not in _FIELD_TYPES[ptype]:
            return self.validation(f"Invalid type/fieldType combination: {ptype}/{ftype}")
        if body["groupName"] not in self.store.groups[type_name]:
            return self.validation(f"Property group '{body['groupName']}' does not exist on {type_name}")
        if name in self.store.properties[type_name]:
            return self.error(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        options = body.get("options") or []
        if ptype == "enumeration" and not options:
            return self.validation("Enumeration properties need options")
        prop = HSProperty(
            name,
            str(body["label"]),
            ptype,
            ftype,
            str(body["groupName"]),
            description=str(body.get("description") or ""),
            options=list(options),
            hubspot_defined=False,
            created_at=hs_datetime(self.store.clock.now),
            display_order=int(body.get("displayOrder", -1)),
        )
        self.store.properties[type_name][name] = prop
        for obj in self.store.objects[type_name].values():
            obj.properties.setdefault(name, None)
        self.store.version += 1
        return json_response(201, prop.as_json())

    def schema(self) -> dict[str, Any]:
        props = [p.as_json() for p in self.store.properties[MDF_OBJECT_NAME].values()]
        stamp = "2025-01-01T00:00:00.000Z"
        return {
            "id": MDF_OBJECT_TYPE_ID.split("-")[1],
            "objectTypeId": MDF_OBJECT_TYPE_ID,
            "fullyQualifiedName": MDF_OBJECT_NAME,
            "name": "mdf_claims",
            "labels": {"singular": "MDF claim", "plural": "MDF claims"},
            "primaryDisplayProperty": "claim_name",
            "requiredProperties": ["claim_name"],
            "searchableProperties": ["claim_name", "campaign"],
            "secondaryDisplayProperties": ["status"],
            "properties": props,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "associations": [
                {
                    "id": str(DEFAULT_ASSOC[(MDF_OBJECT_NAME, "companies")]),
                    "fromObjectTypeId": MDF_OBJECT_TYPE_ID,
                    "toObjectTypeId": OBJECT_TYPE_IDS["companies"],
                    "name": "mdf_claims_to_company",
                }
            ],
        }
