"""Incremental sync of a HubSpot portal into the ledger's snapshot, and the snapshot read back.

- A full read (the first read of a stream, ``--full-sync``, the periodic full read) goes through the list
  endpoint, 100 records a page, which counts only against the burst limit; it keeps what cosell uses
  (partner companies, typed engagements). Incremental reads go through the search API, 200 a page:
  records changed since the stream's cursor (``hs_lastmodifieddate``, with an overlap window), sorted
  by ``hs_object_id`` and paged by it: each page a new query ``hs_object_id > last id read`` (HubSpot's
  ``after`` is an offset that a record deleted during the read would shift), so no record is skipped
  and HubSpot's 10,000-result cap is never met; properties travel in the request body.
- Associations change without touching a record's stamp, so they are re-read in full each run (v4 batch
  read, 1,000 ids a call) and stored beside the records. They are read while the incremental searches
  wait for their turn, for the records the snapshot held before the sync; those the sync added are read
  after it, and those it removed are dropped.
- Deletions: search never returns archived records. Each sync lists the archived ids (kept 90 days by
  HubSpot) and removes them; a full read also drops every snapshot record it did not see. Records
  archived and purged between two syncs are caught by the reconciliation: once every 90 days each
  stream read incrementally is checked against the portal's ids (see :meth:`SearchStream.live_ids`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from cosell.connectors.common import Row, SnapshotSync, Stream, differs
from cosell.errors import ConfigError

from .client import HubSpotClient, HubSpotRefused, Paging
from .mapping import HubSpotSettings, Snapshot, Stage, to_stamp

if TYPE_CHECKING:
    from cosell.snapshot import SnapshotStore

CONNECTOR = "hubspot"
BATCH_READ_SIZE = 100
ID_SEARCH_PAGE = 200
"""Search pages of an ids-only read: the most HubSpot's search answers a call (the list endpoint: 100)."""
RETENTION = timedelta(days=90)
"""How long HubSpot keeps an archived record: the snapshot is checked against the portal's ids at
least this often."""
STAGES_KEY = ("pipelines", "deals")


def cursor_key(obj: str, props: Sequence[str], first_filters: Sequence[Mapping[str, Any]]) -> str:
    """The name of a stream's cursor: it belongs to the properties read and the first-read filter, so a
    change of settings that reads another property (or other partners) reads the stream in full once.
    An incremental read would leave the records that did not change without the new property."""
    shape = json.dumps([obj, list(props), list(first_filters)], sort_keys=True)
    return f"{obj}#{hashlib.sha256(shape.encode()).hexdigest()[:10]}"


def _links_object(stream: str) -> str:
    return f"links:{stream}"


class HubSpotSync:
    """One sync of the snapshot (see the module docstring): the streams go through ``sync``
    (:class:`~cosell.connectors.common.SnapshotSync`), then associations, pipelines and the companies
    only a partner label names."""

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings, sync: SnapshotSync) -> None:
        self.client = client
        self.s = settings
        self.sync = sync
        self.store = sync.store
        self.key = sync.key
        """The store key of this portal's snapshot and cursors (:func:`storage_key`)."""
        self.links: dict[str, dict[str, dict[str, Any]]] = {}
        """Per object, the associations the snapshot holds once the sync is done (record id → payload,
        in the snapshot's order): what :func:`load_snapshot` would read back and decode."""

    # -- the streams ------------------------------------------------------------------------------------

    def streams(self) -> list[tuple[str, list[str], list[dict[str, Any]]]]:
        """(object type, properties, filters of a first read) for each object cosell reads."""
        s = self.s
        partner_filter: dict[str, Any] = (
            {"propertyName": s.partner_property, "operator": "IN", "values": list(s.partner_values)}
            if s.partner_values
            else {"propertyName": s.partner_property, "operator": "HAS_PROPERTY"}
        )
        streams = [
            ("companies", s.company_properties(), [partner_filter]),
            ("deals", s.deal_properties(), []),
        ]
        typed = {"propertyName": s.activity_type_property, "operator": "HAS_PROPERTY"}
        streams += [(obj, s.activity_properties(), [typed]) for obj in s.activity_objects]
        if s.mdf_object:
            streams.append((s.mdf_object, s.mdf_properties(), []))
        return streams

    def declared(self) -> Iterator[Stream]:
        """The streams as the sync helper reads them (the cursor of each is named after its object)."""
        for obj, props, first_filters in self.streams():
            source = SearchStream(self.client, self.s, self.store, self.key, obj, props, first_filters)
            yield Stream(
                obj, cursor_key(obj, props, first_filters), source, removed=partial(self._unlink, obj)
            )

    def run(self) -> dict[str, int]:
        try:
            return self._run()
        except HubSpotRefused as exc:
            raise ConfigError(
                f"HubSpot refused a read: {exc}",
                hint="check the hubspot settings (object, property and label names) against the portal",
            ) from None

    def _run(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        early = _EarlyLinks(self.client, self._linked, self.s.association_batch_size)
        self.client.meanwhile(early.tasks())
        try:
            synced = self.sync.run(self.declared())
        finally:
            self.client.stop_meanwhile()
        for obj, result in synced.items():
            counts[obj] = result.read
            deleted = result.deleted + result.reconciled
            if deleted:
                counts[f"{obj} deleted"] = deleted
        self._stages()
        for obj, ids in self._linked().items():
            self._links(obj, ids, early)
        counts["companies"] += self._labelled_companies()
        return counts

    def _linked(self) -> dict[str, list[str]]:
        """The snapshot's records whose companies cosell reads, per object: every deal and MDF claim,
        the engagements that carry an activity type."""
        linked = {"deals": self._ids("deals")}
        for obj in self.s.activity_objects:
            linked[obj] = [
                rid
                for rid, props in self.store.snapshot(self.key, obj)
                if props.get(self.s.activity_type_property)
            ]
        if self.s.mdf_object:
            linked[self.s.mdf_object] = self._ids(self.s.mdf_object)
        return linked

    def _ids(self, obj: str) -> list[str]:
        """The snapshot's ids of ``obj``, ordered byte-wise as :meth:`SnapshotStore.snapshot` gives them."""
        return sorted(self.store.snapshot_ids(self.key, obj), key=str.encode)

    def _unlink(self, obj: str, ids: Sequence[str]) -> None:
        """Records that left the snapshot take their stored associations with them."""
        self.store.snapshot_delete(self.key, _links_object(obj), ids)

    # -- associations, pipelines, label-only partners ------------------------------------------------------

    def _links(self, obj: str, ids: Sequence[str], early: _EarlyLinks) -> None:
        """The associations of these records: those ``early`` read during the sync as they are, the
        others read now and added to them."""
        stored = dict(self.store.snapshot_texts(self.key, _links_object(obj)))
        early.raise_failure()
        done = early.read.get(obj, set())
        todo = [rid for rid in ids if rid not in done]
        read = early.found.setdefault(obj, {})
        size = self.s.association_batch_size
        for start in range(0, len(todo), size):
            read.update(
                _link_payloads(self.client.associations(obj, "companies", todo[start : start + size]))
            )
        fresh = {rid: read[rid] for rid in ids if rid in read}
        changed = [(rid, payload) for rid, payload in fresh.items() if differs(stored.get(rid), payload)]
        if changed:
            self.store.snapshot_upsert(self.key, _links_object(obj), changed)
        gone = sorted(set(stored) - set(fresh))
        if gone:
            self.store.snapshot_delete(self.key, _links_object(obj), gone)
        # The snapshot now holds these very records, each payload or one that decodes equal to it
        # (differs), in the order of ``ids``: the snapshot's own.
        self.links[obj] = fresh

    def _stages(self) -> None:
        stages = self.client.deal_stages()
        self.store.snapshot_upsert(self.key, STAGES_KEY[0], [(STAGES_KEY[1], {"stages": stages})])

    def _labelled_companies(self) -> int:
        """Companies a deal names with a partner label that the partner-property read did not bring
        (once the deals' associations are read: :attr:`links`)."""
        known = self.store.snapshot_ids(self.key, "companies")
        missing: set[str] = set()
        for payload in self.links["deals"].values():
            for cid, labels in payload.get("to", ()):
                if cid not in known and any(label in self.s.role_labels for label in labels):
                    missing.add(cid)
        ordered = sorted(missing)
        read = 0
        for start in range(0, len(ordered), BATCH_READ_SIZE):
            rows = self.client.batch_read(
                "companies", ordered[start : start + BATCH_READ_SIZE], self.s.company_properties()
            )
            self.store.snapshot_upsert(self.key, "companies", ((r["id"], r["properties"]) for r in rows))
            read += len(rows)
        return read


def _link_payloads(found: Mapping[str, Sequence[tuple[str, Sequence[str]]]]) -> dict[str, dict[str, Any]]:
    """Associations as the snapshot keeps them: ``{"to": [[company id, [labels]], ...]}`` a record."""
    return {rid: {"to": [[cid, list(labels)] for cid, labels in rows]} for rid, rows in found.items()}


class _EarlyLinks:
    """Associations read a batch at a time while searches wait for their turn
    (:meth:`HubSpotClient.meanwhile`), of the records ``linked`` names (per object, as the snapshot
    holds them when the first wait comes). ``read``: the ids asked for so far; ``found``: the payloads
    of those that have associations. A batch that fails stops the rest; its error is raised by
    :meth:`raise_failure`, where the associations would have been read anyway."""

    def __init__(
        self, client: HubSpotClient, linked: Callable[[], Mapping[str, Sequence[str]]], size: int
    ) -> None:
        self.client = client
        self.linked = linked
        self.size = size
        self.read: dict[str, set[str]] = {}
        self.found: dict[str, dict[str, dict[str, Any]]] = {}
        self.failure: Exception | None = None

    def tasks(self) -> Iterator[Callable[[], None]]:
        try:
            linked = self.linked()
        except Exception as exc:  # kept for raise_failure: the search waiting must not end in it
            self.failure = exc
            return
        for obj, ids in linked.items():
            for start in range(0, len(ids), self.size):
                yield partial(self._read, obj, ids[start : start + self.size])

    def _read(self, obj: str, batch: Sequence[str]) -> None:
        if self.failure is not None:
            return
        try:
            found = self.client.associations(obj, "companies", batch)
        except Exception as exc:  # kept for raise_failure, as above
            self.failure = exc
            return
        self.found.setdefault(obj, {}).update(_link_payloads(found))
        self.read.setdefault(obj, set()).update(batch)

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure


class SearchStream:
    """One object's pages for the sync helper, through the search API: a first read asks only for what
    cosell uses (the stream's first-read filters), later reads for every record modified since the
    cursor; archived ids (when ``read_archived``) depart every sync."""

    def __init__(
        self,
        client: HubSpotClient,
        settings: HubSpotSettings,
        store: SnapshotStore,
        key: str,
        obj: str,
        props: list[str],
        first_filters: list[dict[str, Any]],
    ) -> None:
        self.client = client
        self.settings = settings
        self.store = store
        self.key = key
        self.obj = obj
        self.props = props
        self.first_filters = first_filters
        self.read_began: datetime | None = None
        """HubSpot's clock when it answered the read's first page. Its pages are no snapshot of one
        moment: a record changed after its page was read shows its new stamp on no page of this read,
        while later pages show newer stamps. The sync's cursor never passes this time, so the next
        read asks for every change made since the read began."""
        self.stamp_seen: datetime | None = None
        """The newest ``hs_lastmodifieddate`` of every record a full read listed, those the first-read
        filters left out too: the cursor comes from it (see :func:`~cosell.connectors.common.stamp_seen`),
        so an object none of whose records is kept yet (no engagement typed) is not listed whole again
        every sync. A full read that lists no record at all gives the time HubSpot answered its first
        page (:attr:`read_began`) instead: every record created since is stamped later, so an object
        without records is searched for new ones by the next syncs rather than listed again."""

    def pages(self, since: datetime | None) -> Iterator[list[Row]]:
        """A full read (``since`` None) lists every record, 100 a page, keeping those the first-read
        filters match; an incremental read searches for the records modified since, 200 a page."""
        self.read_began = None
        self.stamp_seen = None
        source = self.listed() if since is None else self.search(self.props, [], since)
        for results in source:
            yield [
                Row(r["id"], r["properties"], to_stamp(r["properties"].get("hs_lastmodifieddate")))
                for r in results
            ]

    def listed(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of the list endpoint, kept to the records the first-read filters match. The list endpoint
        cannot filter, but it counts only against the burst limit (19 calls a second at 100 records)
        where search is held to a few calls a second: reading every record is the faster full read."""
        keep = _matcher(self.first_filters)
        props = list(dict.fromkeys([*self.props, *(f["propertyName"] for f in self.first_filters)]))
        after: str | None = None
        paging = Paging(f"listing HubSpot {self.obj}")
        while True:
            page = self.client.list_page(self.obj, props, after)
            self._answered(page)
            for r in page["results"]:
                stamp = to_stamp(r["properties"].get("hs_lastmodifieddate"))
                if stamp is not None and (self.stamp_seen is None or stamp > self.stamp_seen):
                    self.stamp_seen = stamp
            results = [r for r in page["results"] if keep(r["properties"])]
            if results:
                yield results
            after = paging.next(after, page)  # a short or empty page with a next is not the last
            if after is None:
                if self.stamp_seen is None:
                    # no record at all: one created later is stamped after HubSpot answered this read
                    self.stamp_seen = self.read_began
                return

    def _answered(self, page: Mapping[str, Any]) -> None:
        if self.read_began is None:  # the read's first page (live_ids searches later: kept)
            self.read_began = page.get("date")

    def departed(self, since: datetime | None) -> list[str]:
        return self.client.archived_ids(self.obj) if self.settings.read_archived else []

    def live_ids(self) -> set[str]:
        """The ids of the snapshot's records that the portal still has (not archived).

        A search asking only for ``hs_object_id`` with the stream's first-read filter, 200 a page (the
        list endpoint gives 100 a page and cannot filter, so it would page through every customer
        company and untyped engagement too); then the snapshot ids it did not return (records that no
        longer match the filter) are asked for by batch read, 100 a call, and those not found are gone.
        """
        live = {
            r["id"]
            for page in self.search(["hs_object_id"], self.first_filters, None, ID_SEARCH_PAGE)
            for r in page
        }
        unsure = sorted(self.store.snapshot_ids(self.key, self.obj) - live)
        for start in range(0, len(unsure), BATCH_READ_SIZE):
            rows = self.client.batch_read(self.obj, unsure[start : start + BATCH_READ_SIZE], ["hs_object_id"])
            live.update(str(r["id"]) for r in rows)
        return live

    def search(
        self,
        props: list[str],
        filters: list[dict[str, Any]],
        since: datetime | None,
        size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of every record matching, paged by key: each page is a new query for the records past
        the last id read (``hs_object_id > last``, sorted by ``hs_object_id``), never HubSpot's ``after``.
        That ``after`` is an offset counted anew on each call: a record deleted or merged below it
        during the read would move the later ones one place back, and one of them would never be
        returned. A new query a page also never meets HubSpot's 10,000-result cap.

        A page short of the limit, or empty, that gives a next is not the last: after a page with
        results the next query starts past its last id. After an empty one (HubSpot left out every
        place of it) there is no id to start past: the same query goes on at ``after``, the one way past
        places that hold no record, and once a page gives records the ids below its first are asked
        for again by key (``last < hs_object_id < first``). A place left out that went between the two
        calls would have moved a record back into the page passed, where the offset never returns it."""
        yield from self._keyed(props, filters, since, size or self.settings.search_page_size, None, None)

    def _keyed(
        self,
        props: list[str],
        filters: list[dict[str, Any]],
        since: datetime | None,
        size: int,
        last_id: str | None,
        below: str | None,
    ) -> Iterator[list[dict[str, Any]]]:
        """:meth:`search` of the records past ``last_id`` (any, when None) and below ``below`` (no
        bound, when None)."""
        while True:
            group = list(filters)
            if since is not None:
                millis = str(int(since.timestamp() * 1000))
                group.append({"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": millis})
            if last_id is not None:
                group.append({"propertyName": "hs_object_id", "operator": "GT", "value": last_id})
            if below is not None:
                group.append({"propertyName": "hs_object_id", "operator": "LT", "value": below})
            body: dict[str, Any] = {
                "filter_groups": [{"filters": group}] if group else [],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": props,
                "limit": size,
            }
            paging = Paging(f"searching HubSpot {self.obj}")
            after: str | None = None
            passed = False
            """Whether the query went past an empty page by its ``after``."""
            while True:
                try:
                    page = self.client.search(self.obj, body if after is None else {**body, "after": after})
                    self._answered(page)
                except HubSpotRefused as exc:
                    raise ConfigError(
                        f"HubSpot refused a search of {self.obj}: {exc.message}",
                        hint="check the hubspot settings (property and object names) against the portal",
                    ) from None
                results = page["results"]
                after = paging.next(after, page)
                if not results:
                    if after is None:
                        return
                    passed = True
                    continue
                yield results
                if passed:  # the ids the pages passed by offset, asked for by key
                    yield from self._keyed(props, filters, since, size, last_id, str(results[0]["id"]))
                if after is None:
                    return
                last_id = str(results[-1]["id"])  # the next page: a new query past it
                break


def _matcher(filters: Sequence[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], bool]:
    """The first-read filters (``HAS_PROPERTY``, ``IN``, all of them must hold) applied to a record's
    properties as HubSpot's search applies them: ``IN`` compares text regardless of case."""
    wanted: list[tuple[str, frozenset[str] | None]] = []
    """(property, the values it may hold, or None for any value)"""
    for flt in filters:
        name, operator = str(flt["propertyName"]), str(flt["operator"])
        if operator == "HAS_PROPERTY":
            wanted.append((name, None))
        elif operator == "IN":
            wanted.append((name, frozenset(str(v).casefold() for v in flt["values"])))
        else:
            raise ValueError(f"a first-read filter cannot use {operator}")

    def matches(props: Mapping[str, Any]) -> bool:
        for name, values in wanted:
            value = props.get(name)
            if value in (None, "") or (values is not None and str(value).casefold() not in values):
                return False
        return True

    return matches


def storage_key(portal_id: str) -> str:
    """What the ledger keys this portal's snapshot, cursors and outbox rows by: another portal under the
    same ledger finds none of them and starts with a full read."""
    return f"{CONNECTOR}:{portal_id}"


def load_snapshot(
    ledger: SnapshotStore,
    settings: HubSpotSettings,
    key: str,
    links: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> Snapshot:
    """Everything synced so far, as the mapping reads it. ``links``: the associations a sync just left
    in the snapshot (:attr:`HubSpotSync.links`), taken as they are instead of read back and decoded."""
    links = links or {}
    snap = Snapshot()
    snap.companies = dict(ledger.snapshot(key, "companies"))
    snap.deals = dict(ledger.snapshot(key, "deals"))
    snap.deal_links = _links(ledger, "deals", key, links.get("deals"))
    for obj in settings.activity_objects:
        snap.activities[obj] = dict(ledger.snapshot(key, obj))
        snap.activity_links[obj] = _links(ledger, obj, key, links.get(obj))
    if settings.mdf_object:
        snap.claims = dict(ledger.snapshot(key, settings.mdf_object))
        snap.claim_links = _links(ledger, settings.mdf_object, key, links.get(settings.mdf_object))
    for rid, payload in ledger.snapshot(key, STAGES_KEY[0]):
        if rid == STAGES_KEY[1]:
            snap.stages = {
                st["id"]: Stage(st["label"], bool(st["closed"]), bool(st["won"])) for st in payload["stages"]
            }
    return snap


def _links(
    ledger: SnapshotStore, obj: str, key: str, synced: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, list[tuple[str, list[str]]]]:
    out: dict[str, list[tuple[str, list[str]]]] = {}
    stored = synced.items() if synced is not None else ledger.snapshot(key, _links_object(obj))
    for rid, payload in stored:
        rows: Sequence[Any] = payload.get("to", ())
        out[rid] = [(str(cid), list(labels)) for cid, labels in rows]
    return out


def managed_values(props: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, str | None]:
    """Canonical field → the value a record's managed property holds (None when empty)."""
    out: dict[str, str | None] = {}
    for canonical, prop in names.items():
        value = props.get(prop)
        out[canonical] = None if value in (None, "") else str(value)
    return out
