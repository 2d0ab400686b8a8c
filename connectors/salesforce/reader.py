"""Incremental reads into the ledger's snapshot, and canonical records built from the whole snapshot.

Each stream (an sObject with the fields the settings name) keeps a ``SystemModstamp`` cursor in the
ledger. A first read (or a read after the stream's fields or filter changed) is full and replaces the
stream's snapshot; later reads ask ``queryAll`` for records stamped since the cursor minus the overlap
window, upserting live ones and removing deleted ones. The cursor is the newest stamp read, but never
later than Salesforce's clock when the read began (:attr:`StreamReader.read_began`). OpportunityPartner
rows change without touching the deal's stamp, so they are read in full every run.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import chain, islice
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from cosell.connector import ClaimLeftOut, FieldValues, RecordKey
from cosell.connectors.common import Row, SnapshotSync, differs
from cosell.connectors.common import Stream as SyncStream
from cosell.errors import ConfigError, InputError, Problem
from cosell.ledger import decode_json
from cosell.merges import following
from cosell.records import (
    ACTIVITY,
    DEAL,
    MDF_CLAIM,
    PARTNER,
    Activity,
    Deal,
    Involvement,
    MdfClaim,
    Merge,
    Partner,
    RecordSet,
)

from . import soql
from .bulk import BulkQuery, Poller
from .client import SalesforceClient
from .mapping import SalesforceSettings, flatten

if TYPE_CHECKING:
    from cosell.program import Program
    from cosell.snapshot import SnapshotStore

CONNECTOR = "salesforce"
_PAGE = 2000
ARCHIVED_ACTIVITY_OBJECTS = frozenset({"Task", "Event"})
"""The sObjects whose old records Salesforce archives, hiding them from ``query``."""
RETENTION = timedelta(days=15)
"""How long the recycle bin keeps a deleted record at most: the snapshot is checked against the org's
ids at least this often."""
ACCOUNT_MANAGED = ("tier", "score", "period_earnings", "tier_benefits")
DEAL_MANAGED = ("incentive", "incentive_status", "incentive_note")


@dataclass(frozen=True, slots=True)
class Stream:
    """One sObject read into the snapshot: payload key → SOQL path, and the admin's filter if any."""

    sobject: str
    columns: Mapping[str, str]
    filter: str | None = None
    full_each_run: bool = False
    archived: bool = False
    """Tasks and Events: ``query`` hides those Salesforce archived (Events older than 365 days, closed
    Tasks due more than 365 days ago), so full and ids-only reads go through ``queryAll`` with
    ``IsDeleted = false``."""

    @property
    def cursor_key(self) -> str:
        # The cursor belongs to this exact field list and filter: change either and the next read is full.
        shape = json.dumps([self.sobject, sorted(self.columns.items()), self.filter])
        return f"{self.sobject}#{hashlib.sha256(shape.encode()).hexdigest()[:10]}"

    def soql(self, where: list[str], *, deleted: bool = False) -> str:
        extra = ["IsDeleted"] if deleted else []
        return soql.select(["Id", "SystemModstamp", *extra, *self.columns.values()], self.sobject, where)

    def live_where(self) -> list[str]:
        """The conditions of a read of the records as they are now (no deleted ones)."""
        where = [self.filter] if self.filter else []
        return [*where, "IsDeleted = false"] if self.archived else where

    def payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {key: flatten(row, path) for key, path in self.columns.items()}

    @property
    def parents(self) -> tuple[str, ...]:
        """The relationships the columns read through (``Campaign`` of ``Campaign.Name``; ``Request``
        and ``Request.Campaign`` of ``Request.Campaign.Name``), in order."""
        found: dict[str, None] = {}
        for path in self.columns.values():
            parts = path.split(".")
            for n in range(1, len(parts)):
                found[".".join(parts[:n])] = None
        return tuple(found)


def streams(settings: SalesforceSettings) -> dict[str, Stream]:
    """The streams the settings ask for, by snapshot object name."""
    f = settings.fields
    partner: dict[str, str] = {"name": settings.partner_name_field, "created": "CreatedDate"}
    _put(partner, "status", settings.partner_status_field)
    _put(partner, "joined", settings.partner_joined_field)
    _put(partner, "exit", settings.partner_exit_field)
    partner.update(
        {
            "tier": f.tier,
            "score": f.score,
            "period_earnings": f.period_earnings,
            "tier_benefits": f.tier_benefits,
        }
    )
    for name in settings.partner_attribute_fields:
        partner[f"attr:{name}"] = name
    deal: dict[str, str] = {
        "name": "Name",
        "amount": "Amount",
        "stage": "StageName",
        "won": "IsWon",
        "closed": "IsClosed",
        "created": "CreatedDate",
        "close_date": "CloseDate",
    }
    for key, path in (
        ("currency", settings.currency_field),
        ("discount", settings.discount_field),
        ("margin", settings.margin_field),
        ("campaign", settings.campaign_field),
        ("refund", settings.refund_field),
        ("partner", settings.partner_account_field),
    ):
        _put(deal, key, path)
    deal.update(
        {"incentive": f.incentive, "incentive_status": f.incentive_status, "incentive_note": f.incentive_note}
    )
    out = {
        "Account": Stream("Account", partner, settings.partner_filter),
        "Opportunity": Stream("Opportunity", deal, settings.opportunity_filter),
    }
    if settings.opportunity_partners:
        out["OpportunityPartner"] = Stream(
            "OpportunityPartner",
            {"deal": "OpportunityId", "partner": "AccountToId", "role": "Role"},
            full_each_run=True,
        )
    for obj in settings.activity_objects:
        activity = {"partner": settings.activity_partner_field, "date": settings.activity_date_field}
        _put(activity, "type", settings.activity_type_field)
        _put(activity, "type_fallback", settings.activity_type_fallback)
        out[obj] = Stream(obj, activity, archived=obj in ARCHIVED_ACTIVITY_OBJECTS)
    if settings.mdf_object:
        claim = {
            "partner": settings.mdf_partner_field,
            "amount": settings.mdf_amount_field,
            "status": settings.mdf_status_field,
        }
        _put(claim, "approved_on", settings.mdf_approved_on_field)
        _put(claim, "campaign", settings.mdf_campaign_field)
        _put(claim, "currency", settings.mdf_currency_field)
        out[settings.mdf_object] = Stream(settings.mdf_object, claim)
    return out


def _put(target: dict[str, str], key: str, path: str | None) -> None:
    if path:
        target[key] = path


# --- sync ------------------------------------------------------------------------------------------


class Source:
    """Where a stream's rows come from: a REST query, or a Bulk API 2.0 query job when the first REST
    page's ``totalSize`` is above ``bulk_query_threshold`` (that page is then dropped: one call)."""

    def __init__(self, client: SalesforceClient, settings: SalesforceSettings) -> None:
        self.client = client
        self.threshold = settings.bulk_query_threshold
        self.bulk = BulkQuery(
            client,
            page_size=settings.bulk_query_page_size,
            poller=Poller(timeout=settings.bulk_poll_timeout_seconds),
        )
        self.bulk_queries = 0
        self.began: datetime | None = None
        """Salesforce's clock when it answered the first call of the latest :meth:`rows` (its ``Date``
        header; None without one), taken before any row is given."""

    def rows(
        self, soql_text: str, sobject: str, *, include_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        self.began = None
        if self.threshold is None:
            found = self.client.query(soql_text, include_deleted=include_deleted)
            first = next(found, None)  # the first page's call
            self.began = self.client.answered_at()
            if first is not None:
                yield first
                yield from found
            return
        page = self.client.first_page(soql_text, include_deleted=include_deleted)
        self.began = self.client.answered_at()  # before a Bulk job, if one follows, is even created
        if not page.get("done", True) and int(page.get("totalSize") or 0) > self.threshold:
            self.bulk_queries += 1
            yield from self.bulk.rows(soql_text, sobject, include_deleted=include_deleted)
            return
        while True:
            yield from page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.client.next_page(str(next_url), what=f"query {sobject}")


def storage_key(org_id: str) -> str:
    """What the ledger keys this org's snapshot, cursors and Bulk jobs by: another org (a refreshed
    sandbox, another customer) under the same ledger finds none of them and starts with a full read."""
    return f"{CONNECTOR}:{org_id}"


class StreamReader:
    """The pages of one stream for :class:`~cosell.connectors.common.SnapshotSync`: a full read asks
    ``query`` (``queryAll`` with ``IsDeleted = false`` for archived objects) for the stream's live
    records; an incremental one asks ``queryAll`` for the records stamped since the cursor minus the
    overlap, deleted ones included; records that stopped matching the admin's filter are then asked for
    by ``SELECT Id``; the reconciliation's ids-only read is ``SELECT Id`` over the live records."""

    def __init__(self, source: Source, stream: Stream) -> None:
        self.source = source
        self.stream = stream
        self.read_began: datetime | None = None
        """Salesforce's clock when it answered the read's first call. A read's records are no snapshot
        of one moment: a Bulk query job is split into chunks evaluated one after another, and REST pages
        are fetched one by one. A record read early may change while the rest is read, and later rows
        show newer stamps; the sync's cursor never passes this time, so the next read asks for every
        change made since the read began."""
        self.stamp_seen: datetime | None = None
        """Set by a full read that gives no record at all (no MDF claim yet, or none the stream's filter
        matches): the time Salesforce answered it (:attr:`read_began`), taken as the cursor (see
        :func:`~cosell.connectors.common.stamp_seen`). A record created or changed since is stamped
        later, so the next syncs ask for the records stamped since rather than read the object whole
        again."""

    def pages(self, since: datetime | None) -> Iterator[list[Row]]:
        stream = self.stream
        self.read_began = None
        self.stamp_seen = None
        if since is None:
            text, everything = stream.soql(stream.live_where()), stream.archived
        else:
            where = [_since(since)]
            if stream.filter:
                where.append(f"({stream.filter}) OR IsDeleted = true")
            text, everything = stream.soql(where, deleted=True), True
        rows = (
            Row(
                str(row["Id"]),
                None if since is not None and _truthy(row.get("IsDeleted")) else stream.payload(row),
                _stamp(row.get("SystemModstamp")),
            )
            for row in self.source.rows(text, stream.sobject, include_deleted=everything)
        )
        given = False
        while page := list(islice(rows, _PAGE)):
            given = True
            yield page
        self.read_began = self.source.began  # the main query's (read whole by now)
        if since is None and not given:
            # no record at all: one created later is stamped after Salesforce answered this read
            self.stamp_seen = self.read_began
        if since is not None:
            yield from self._through_parents(since)

    def _through_parents(self, since: datetime) -> Iterator[list[Row]]:
        """The records a related record's change touched: Salesforce stamps only the record changed, so
        a renamed Campaign leaves the stamps of its Opportunities (whose ``Campaign.Name`` now reads
        otherwise) as they were. One query per relationship, ``<relationship>.SystemModstamp`` since;
        their own stamps are older, and move no cursor. A relationship Salesforce will not filter on
        (a polymorphic one) is left to the next full read."""
        stream = self.stream
        for parent in stream.parents:
            where = [f"{parent}.SystemModstamp >= {soql.datetime_literal(since)}", *stream.live_where()]
            try:
                found = iter(
                    self.source.rows(stream.soql(where), stream.sobject, include_deleted=stream.archived)
                )
                first = next(found, None)
            except ConfigError:  # refused: no such column on the relationship's object
                continue
            if first is None:
                continue
            rows = (Row(str(r["Id"]), stream.payload(r), None) for r in chain((first,), found))
            while page := list(islice(rows, _PAGE)):
                yield page

    def departed(self, since: datetime | None) -> Iterator[str]:
        if since is None or not self.stream.filter:
            return
        # records that stopped matching the filter (an account no longer a partner) leave the snapshot
        gone = soql.select(["Id"], self.stream.sobject, [_since(since), f"NOT ({self.stream.filter})"])
        for row in self.source.client.query(gone):
            yield str(row["Id"])

    def live_ids(self) -> Iterator[str]:
        """``SELECT Id`` only, through REST (2,000 a page) or, above ``bulk_query_threshold``, a Bulk
        query job (50,000 a result page)."""
        stream = self.stream
        text = soql.select(["Id"], stream.sobject, stream.live_where())
        for row in self.source.rows(text, stream.sobject, include_deleted=stream.archived):
            yield str(row["Id"])


def _since(since: datetime) -> str:
    return f"SystemModstamp >= {soql.datetime_literal(since)}"


def declared_streams(source: Source, settings: SalesforceSettings) -> Iterator[SyncStream]:
    """The streams the settings ask for, as the sync helper reads them."""
    for name, stream in streams(settings).items():
        yield SyncStream(
            name, stream.cursor_key, StreamReader(source, stream), full_each_run=stream.full_each_run
        )


def sync_all(client: SalesforceClient, sync: SnapshotSync, settings: SalesforceSettings) -> dict[str, int]:
    """Pull every stream's changes into the snapshot (see :class:`SnapshotSync`), then the accounts merged
    since (:func:`read_merges`); returns records changed per sObject (stored, removed, and removed by the
    check against the org's ids)."""
    results = sync.run(declared_streams(Source(client, settings), settings))
    counts = {name: result.changed for name, result in results.items()}
    merged = read_merges(client, sync.store, sync.key)
    if merged:
        counts["Account merges"] = merged
    return counts


MERGED = "merged:Account"
"""The snapshot object of the accounts merged into others: merged account id → ``{"into": master id}``,
with ``"undone": true`` once an admin undeleted it and ``"purged": true`` once the recycle bin no longer
holds it (it can no longer come back); ``"earlier": [master id, …]`` the masters of its merges undone
before it was merged again (into another master, or the same). Kept for good: the ledger's lines name the
merged account."""


def read_merges(client: SalesforceClient, store: SnapshotStore, key: str) -> int:
    """Accounts merged into others, added to what the snapshot keeps; returns how many changed.

    A merge keeps the master account's id, deletes the others and sets their ``MasterRecordId``; their
    opportunities, partner rows and activities move to the master. The ledger's lines still name the
    deleted account, so the run reads them as the master's (``RecordSet.merges``): one ``queryAll`` a sync
    for the deleted accounts that have a master, a call whatever the org's size (the recycle bin holds
    them 15 days; a sync at least that often sees every merge).

    A merged account kept from an earlier sync that the bin no longer holds was either purged or
    undeleted by an admin: each is asked for once by id, 200 a query. A purged one is marked so and never
    asked for again (a purged record cannot come back). An undeleted one is an account of its own again,
    but the undelete leaves with the master what the merge moved to it: its merge is kept, marked undone,
    so the deals the master holds keep the history they had (:attr:`cosell.records.Merge.undone`). An
    undeleted account merged again (into another master, or the same) keeps the earlier merge, undone, as
    well as the new one: the deals each master holds keep their history."""
    text = soql.select(["Id", "MasterRecordId"], "Account", ["IsDeleted = true", "MasterRecordId != null"])
    stored = dict(store.snapshot_texts(key, MERGED))
    found = [
        (rid, _merged_into(stored.get(rid), str(row["MasterRecordId"])))
        for row in client.query(text, include_deleted=True)
        if row.get("MasterRecordId")
        for rid in (str(row["Id"]),)
    ]
    changed = [(rid, payload) for rid, payload in found if differs(stored.get(rid), payload)]
    if changed:
        store.snapshot_upsert(key, MERGED, changed)
    # Those kept and not found deleted now are asked for by id (``query`` sees live records only).
    seen = {rid for rid, _ in found}
    kept = {rid: decode_json(stored[rid]) for rid in sorted(stored.keys() - seen)}
    unsure = [rid for rid, payload in kept.items() if not payload.get("undone") and not payload.get("purged")]
    live = {
        str(row["Id"])
        for start in range(0, len(unsure), UNDELETE_CHECK)
        for row in client.query(
            soql.select(["Id"], "Account", [f"Id IN {soql.id_list(unsure[start : start + UNDELETE_CHECK])}"])
        )
    }
    undeleted = [(rid, {**kept[rid], "undone": True}) for rid in unsure if rid in live]
    purged = [(rid, {**kept[rid], "purged": True}) for rid in unsure if rid not in live]
    if undeleted or purged:
        store.snapshot_upsert(key, MERGED, [*undeleted, *purged])
    return len(changed) + len(undeleted)


def _merged_into(stored: str | None, master: str) -> dict[str, Any]:
    """What the snapshot keeps of an account found merged into ``master``, given what it kept before. The
    same merge read again keeps what it was. An account kept merged into another master, or undone, was
    undeleted and merged again (a sync may have missed the undelete): its merge kept becomes an earlier,
    undone one, whose link the deals keep."""
    if stored is None:
        return {"into": master}
    kept = decode_json(stored)
    if kept.get("into") == master and not kept.get("undone"):
        return dict(kept)
    earlier = [str(rid) for rid in kept.get("earlier", ())]
    earlier = [rid for rid in dict.fromkeys([*earlier, str(kept["into"])]) if rid != master]
    return {"into": master, "earlier": earlier} if earlier else {"into": master}


UNDELETE_CHECK = 200
"""Merged accounts asked for in one query when checking for undeleted ones (18-character ids: the SOQL
stays far below its 100,000-character limit)."""


def _stamp(value: Any) -> datetime | None:
    """A ``SystemModstamp`` as a datetime (None when missing or unreadable: it then moves no cursor)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


# --- records from the snapshot ---------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, obj: str, rid: str, field: str, message: str) -> None:
        self.items.append(Problem(f"{obj} {rid}", f"{field}: {message}"))


def to_date(value: Any, zone: ZoneInfo) -> date | None:
    """A Salesforce date (``2026-01-05``) or datetime (``2026-01-05T14:03:00.000+0000``) as a date in
    the program's time zone."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(zone).date()
    if isinstance(value, date):
        return value
    text = str(value)
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone).date()


def to_decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):
        raise ValueError(f"{value!r} is not a number")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True, slots=True)
class SnapshotRecords:
    """What :func:`records_from_snapshot` gives: the records, the managed values the org holds, and the
    MDF claims left out because the account they name is no partner (the run names those of its period)."""

    records: RecordSet
    current: Mapping[RecordKey, FieldValues]
    claims_left_out: Sequence[ClaimLeftOut] = ()


def records_from_snapshot(
    store: SnapshotStore, settings: SalesforceSettings, program: Program, key: str
) -> SnapshotRecords:
    """Canonical records from the whole snapshot under ``key``. Every bad value is reported at once
    (InputError)."""
    zone = program.zone
    problems = _Problems()
    current: dict[RecordKey, FieldValues] = {}
    names = _api_names(settings)

    into: dict[str, str] = {}
    undone: list[tuple[str, str]] = []  # an account merged, undeleted and merged again has several
    for rid, payload in store.snapshot(key, MERGED):
        undone.extend((rid, str(master)) for master in payload.get("earlier", ()))
        if payload.get("undone"):
            undone.append((rid, str(payload["into"])))
        else:
            into[rid] = str(payload["into"])
    account = following(into)
    partners: list[Partner] = []
    for rid, p in store.snapshot(key, "Account"):
        if rid in into:
            continue  # merged while this sync read (its deletion is read by the next)
        current[("account", rid)] = {k: _value_text(p.get(k)) for k in ACCOUNT_MANAGED}
        partner = _convert(
            problems, "Account", rid, names["Account"], partial(_partner, rid, p, settings, zone)
        )
        if partner is not None:
            partners.append(partner)
    partner_ids = {p.id for p in partners}

    involvements: dict[str, list[Involvement]] = defaultdict(list)
    if settings.opportunity_partners:
        for _rid, row in store.snapshot(key, "OpportunityPartner"):
            role = settings.role_of(_text(row.get("role")))
            deal_id, partner_id = _text(row.get("deal")), _text(row.get("partner"))
            if role is None or not deal_id or not partner_id:
                continue
            involvements[deal_id].append(Involvement(account(partner_id), role))

    deals: list[Deal] = []
    for rid, d in store.snapshot(key, "Opportunity"):
        current[("deal", rid)] = {k: _value_text(d.get(k)) for k in DEAL_MANAGED}
        deal = _convert(
            problems,
            "Opportunity",
            rid,
            names["Opportunity"],
            partial(_deal, rid, d, settings, program.currency, zone, involvements.get(rid, ())),
        )
        if deal is not None:
            deals.append(deal)

    activities: list[Activity] = []
    for obj in settings.activity_objects:
        for rid, a in store.snapshot(key, obj):
            if account(_text(a.get("partner")) or "") not in partner_ids:
                continue  # an activity on a customer account, or on no account
            activity = _convert(problems, obj, rid, names["activity"], partial(_activity, rid, a, zone))
            if activity is not None:
                activities.append(activity)

    claims: list[MdfClaim] = []
    claims_of_others: list[ClaimLeftOut] = []  # those naming an account that is no partner
    if settings.mdf_object:
        for rid, c in store.snapshot(key, settings.mdf_object):
            named = _text(c.get("partner"))
            if named is not None and account(named) not in partner_ids:  # a customer's, a former partner's
                claims_of_others.append(ClaimLeftOut(rid, "account", named, _approved_on(c, zone)))
                continue
            claim = _convert(
                problems, settings.mdf_object, rid, names["mdf"], partial(_claim, rid, c, settings, zone)
            )
            if claim is not None:
                claims.append(claim)
    if problems.items:
        raise InputError(problems.items)
    merges = tuple(Merge("partner", former, master) for former, master in into.items()) + tuple(
        Merge("partner", former, master, undone=True) for former, master in undone
    )
    return SnapshotRecords(
        RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(claims), merges),
        current,
        tuple(sorted(claims_of_others, key=lambda c: (c.id, c.named))),
    )


def _value_text(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return format(value, "f") if isinstance(value, Decimal) else str(value)


class _FieldProblem(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _convert(
    problems: _Problems, obj: str, rid: str, api: Mapping[str, str], build: Callable[[], Any]
) -> Any:
    try:
        return build()
    except _FieldProblem as exc:
        problems.add(obj, rid, api.get(exc.key, exc.key), str(exc))
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            key = str(e["loc"][0]) if e["loc"] else "?"
            problems.add(obj, rid, api.get(key, key), e["msg"])
    return None


def _field(key: str, fn: Callable[[Any], Any], value: Any) -> Any:
    try:
        return fn(value)
    except (ValueError, TypeError) as exc:
        raise _FieldProblem(key, str(exc) or f"{value!r} is not valid") from None


def _partner(rid: str, p: Mapping[str, Any], s: SalesforceSettings, zone: ZoneInfo) -> Partner:
    status_text = _text(p.get("status"))
    status = "active"
    if status_text is not None:
        if status_text not in s.partner_status_values:
            known = ", ".join(sorted(s.partner_status_values))
            raise _FieldProblem("status", f"{status_text!r} is not a known partner status ({known})")
        status = s.partner_status_values[status_text]
    joined = _field("joined_on", lambda v: to_date(v, zone), p.get("joined")) or _field(
        "created", lambda v: to_date(v, zone), p.get("created")
    )
    attributes = {
        key[5:]: str(value) for key, value in p.items() if key.startswith("attr:") and value not in (None, "")
    }
    return PARTNER.validate_python(
        {
            "id": rid,
            "name": _text(p.get("name")) or rid,
            "joined_on": joined,
            "status": status,
            "exit_on": _field("exit_on", lambda v: to_date(v, zone), p.get("exit")),
            "crm_tier": _text(p.get("tier")),
            "attributes": attributes,
        }
    )


def _deal(
    rid: str,
    d: Mapping[str, Any],
    s: SalesforceSettings,
    program_currency: str,
    zone: ZoneInfo,
    others: Iterable[Involvement],
) -> Deal:
    won, closed = _truthy(d.get("won")), _truthy(d.get("closed"))
    partners: list[Involvement] = []
    sourcing = _text(d.get("partner"))
    if sourcing:
        partners.append(Involvement(sourcing, s.partner_account_role))
    partners.extend(others)  # a partner named twice is kept as given: the engine merges
    return DEAL.validate_python(
        {
            "id": rid,
            "name": _text(d.get("name")) or rid,
            "amount": _field("amount", to_decimal, d.get("amount")) or Decimal(0),
            "currency": _text(d.get("currency")) or program_currency,
            "stage": _text(d.get("stage")) or "",
            "status": "won" if won else ("lost" if closed else "open"),
            "created_on": _field("created_on", lambda v: to_date(v, zone), d.get("created")),
            "closed_on": _field("closed_on", lambda v: to_date(v, zone), d.get("close_date"))
            if closed
            else None,
            "discount_pct": _field("discount_pct", to_decimal, d.get("discount")),
            "margin_pct": _field("margin_pct", to_decimal, d.get("margin")),
            "campaign": _text(d.get("campaign")),
            "refunded_on": _field("refunded_on", lambda v: to_date(v, zone), d.get("refund")),
            "partners": tuple(partners),
        }
    )


def _activity(rid: str, a: Mapping[str, Any], zone: ZoneInfo) -> Activity | None:
    occurred = _field("occurred_on", lambda v: to_date(v, zone), a.get("date"))
    if occurred is None:
        return None  # an open task without a date belongs to no period
    kind = _text(a.get("type")) or _text(a.get("type_fallback")) or "other"
    return ACTIVITY.validate_python(
        {"id": rid, "partner_id": _text(a.get("partner")), "type": kind, "occurred_on": occurred}
    )


def _approved_on(c: Mapping[str, Any], zone: ZoneInfo) -> date | None:
    """A left-out claim's approval date, read without checking (None when it holds none, or no date):
    the run names the claims approved in the period it runs."""
    try:
        return to_date(c.get("approved_on"), zone)
    except (TypeError, ValueError):
        return None


def _claim(rid: str, c: Mapping[str, Any], s: SalesforceSettings, zone: ZoneInfo) -> MdfClaim | None:
    status_text = _text(c.get("status"))
    if status_text not in s.mdf_status_values:
        known = ", ".join(sorted(s.mdf_status_values))
        raise _FieldProblem("status", f"{status_text!r} is not a known claim status ({known})")
    partner = _text(c.get("partner"))
    if partner is None:
        return None  # a claim of no partner cannot be funded
    return MDF_CLAIM.validate_python(
        {
            "id": rid,
            "partner_id": partner,
            "campaign": _text(c.get("campaign")) or "",
            "amount": _field("amount", to_decimal, c.get("amount")) or Decimal(0),
            "status": s.mdf_status_values[status_text],
            "approved_on": _field("approved_on", lambda v: to_date(v, zone), c.get("approved_on")),
            "currency": _text(c.get("currency")),
        }
    )


def _api_names(s: SalesforceSettings) -> dict[str, dict[str, str]]:
    """Canonical or payload key → the API field it came from, for problem messages."""
    return {
        "Account": {
            "name": s.partner_name_field,
            "status": s.partner_status_field or "status",
            "joined_on": s.partner_joined_field or "CreatedDate",
            "created": "CreatedDate",
            "exit_on": s.partner_exit_field or "exit_on",
            "crm_tier": s.fields.tier,
        },
        "Opportunity": {
            "name": "Name",
            "amount": "Amount",
            "currency": s.currency_field or "CurrencyIsoCode",
            "stage": "StageName",
            "created_on": "CreatedDate",
            "closed_on": "CloseDate",
            "discount_pct": s.discount_field or "discount_pct",
            "margin_pct": s.margin_field or "margin_pct",
            "campaign": s.campaign_field or "campaign",
            "refunded_on": s.refund_field or "refunded_on",
            "partners": s.partner_account_field or "OpportunityPartner",
        },
        "activity": {"occurred_on": s.activity_date_field, "partner_id": s.activity_partner_field},
        "mdf": {
            "status": s.mdf_status_field,
            "amount": s.mdf_amount_field,
            "approved_on": s.mdf_approved_on_field or "approved_on",
            "currency": s.mdf_currency_field or "currency",
            "partner_id": s.mdf_partner_field,
        },
    }
