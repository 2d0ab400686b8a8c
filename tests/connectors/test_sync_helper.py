"""The stream-sync helper both CRM connectors use (SnapshotSync) and its Cursor, against an in-memory
store and scripted sources: no CRM, no ledger file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cosell.connectors import common
from cosell.connectors.common import (
    FULL_READ_AT,
    RECONCILED_STREAM,
    Cursor,
    Reconciler,
    Row,
    SnapshotSync,
    Stream,
    differs,
)
from cosell.ledger import Ledger, decode_json, encode_json
from cosell.snapshot import SnapshotStore
from recorded_progress import RecordedProgress

KEY = "crm:org1"
T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


class MemoryStore:
    """A SnapshotStore in dicts; payloads go through the ledger's JSON, as they would in the ledger."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self.cursors: dict[tuple[str, str], str] = {}
        self.upserts: list[int] = []
        """Size of each snapshot_upsert call."""

    def snapshot_upsert(
        self, connector: str, obj: str, records: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> int:
        given = list(records)
        self.upserts.append(len(given))
        table = self.rows.setdefault((connector, obj), {})
        for rid, payload in given:
            table[rid] = encode_json(payload)
        return len(given)

    def snapshot_delete(self, connector: str, obj: str, ids: Iterable[str]) -> int:
        table = self.rows.setdefault((connector, obj), {})
        return sum(table.pop(rid, None) is not None for rid in set(ids))

    def snapshot(self, connector: str, obj: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for rid, text in self.snapshot_texts(connector, obj):
            yield rid, decode_json(text)

    def snapshot_texts(self, connector: str, obj: str) -> Iterator[tuple[str, str]]:
        table = self.rows.get((connector, obj), {})
        for rid in sorted(table):
            yield rid, table[rid]

    def snapshot_ids(self, connector: str, obj: str) -> set[str]:
        return set(self.rows.get((connector, obj), {}))

    def snapshot_count(self, connector: str, obj: str) -> int:
        return len(self.rows.get((connector, obj), {}))

    def cursor(self, connector: str, stream: str) -> str | None:
        return self.cursors.get((connector, stream))

    def set_cursor(self, connector: str, stream: str, value: str) -> None:
        self.cursors[(connector, stream)] = value

    def state(self, connector: str, name: str) -> str | None:
        return self.cursors.get((connector, f"state {name}"))

    def set_state(self, connector: str, name: str, value: str) -> None:
        self.cursors[(connector, f"state {name}")] = value

    def ids(self, obj: str) -> list[str]:
        return sorted(self.snapshot_ids(KEY, obj))


class Source:
    """A scripted CRM stream: the records it holds now (id → (payload, stamp)), the ids it says
    departed, and a log of what it was asked."""

    def __init__(self, records: Mapping[str, tuple[dict[str, Any], datetime]] | None = None) -> None:
        self.records = dict(records or {})
        self.deleted: dict[str, datetime] = {}
        self.gone: list[str] = []
        self.asked: list[tuple[str, datetime | None]] = []
        self.page_size = 2
        self.fail_after_pages: int | None = None

    def pages(self, since: datetime | None) -> Iterator[list[Row]]:
        self.asked.append(("pages", since))
        rows = [
            Row(rid, payload, stamp)
            for rid, (payload, stamp) in sorted(self.records.items())
            if since is None or stamp >= since
        ]
        if since is not None:
            rows += [Row(rid, None, stamp) for rid, stamp in sorted(self.deleted.items()) if stamp >= since]
        for n, start in enumerate(range(0, len(rows), self.page_size)):
            if self.fail_after_pages is not None and n >= self.fail_after_pages:
                raise ConnectionError("the CRM went away")
            yield rows[start : start + self.page_size]

    def departed(self, since: datetime | None) -> list[str]:
        self.asked.append(("departed", since))
        return list(self.gone)

    def live_ids(self) -> list[str]:
        self.asked.append(("live_ids", None))
        return list(self.records)


def sync(store: SnapshotStore, *, full: bool = False, reconciler: Reconciler | None = None) -> SnapshotSync:
    return SnapshotSync(store, KEY, overlap=5 * MIN, full=full, reconciler=reconciler)


def stream(source: Source, **kw: Any) -> Stream:
    return Stream("deals", "deals#v1", source, **kw)


def rec(name: str, minutes: int) -> tuple[dict[str, Any], datetime]:
    return {"name": name}, T0 + minutes * MIN


# --- Cursor ---------------------------------------------------------------------------------------------


def test_a_cursor_never_saved_asks_for_a_full_read() -> None:
    cursor = Cursor.load(MemoryStore(), KEY, "deals")
    assert cursor.value is None and cursor.since is None


def test_a_cursor_reads_from_its_value_minus_the_overlap_and_round_trips_as_utc_text() -> None:
    store = MemoryStore()
    Cursor(KEY, "deals", datetime(2027, 3, 1, 14, 0, tzinfo=UTC)).save(store)
    assert store.cursor(KEY, "deals") == "2027-03-01T14:00:00Z"
    cursor = Cursor.load(store, KEY, "deals", overlap=10 * MIN)
    assert cursor.since == datetime(2027, 3, 1, 13, 50, tzinfo=UTC)


def test_a_cursor_only_moves_forward() -> None:
    cursor = Cursor(KEY, "deals", T0)
    assert cursor.advanced(T0 - MIN) is cursor
    assert cursor.advanced(None) is cursor
    assert cursor.advanced(T0 + MIN).value == T0 + MIN


def test_a_cursor_without_value_saves_nothing() -> None:
    store = MemoryStore()
    Cursor(KEY, "deals", None).save(store)
    assert store.cursor(KEY, "deals") is None


# --- SnapshotSync: full and incremental reads ---------------------------------------------------------------


def test_the_first_read_of_a_stream_is_full_stores_every_record_and_saves_the_newest_stamp() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 7), "d3": rec("c", 3)})
    result = sync(store).run([stream(source)])["deals"]
    assert result.full and (result.read, result.stored, result.deleted) == (3, 3, 0)
    assert source.asked == [("pages", None), ("departed", None)]
    assert store.ids("deals") == ["d1", "d2", "d3"]
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:07:00Z"


def test_a_later_read_asks_for_records_modified_since_the_cursor_minus_the_overlap() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 10)})
    sync(store).run([stream(source)])
    source.records["d3"] = rec("c", 12)
    result = sync(store).run([stream(source)])["deals"]
    assert not result.full
    assert source.asked[-2:] == [("pages", T0 + 5 * MIN), ("departed", T0 + 5 * MIN)]
    assert (result.read, result.stored) == (2, 1)  # d2 read again in the overlap, unchanged: not stored
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:12:00Z"


def test_the_cursor_never_passes_the_time_a_source_whose_pages_move_began_its_read() -> None:
    # HubSpot's pages are no snapshot: the newest stamp seen (12:20) may be newer than a change made
    # during the read to a record whose page was read already; the cursor stops at the read's start.
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 20)})
    source.read_began = T0 + 10 * MIN  # type: ignore[attr-defined]
    sync(store).run([stream(source)])
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:10:00Z"
    source.read_began = T0 + 30 * MIN  # type: ignore[attr-defined]
    sync(store).run([stream(source)])  # nothing newer than the read's start: the newest stamp
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:20:00Z"


def test_a_read_that_keeps_no_record_takes_its_cursor_from_the_records_it_went_past() -> None:
    # HubSpot's full read lists every engagement and keeps the typed ones: with none typed yet it keeps
    # nothing, yet it saw every stamp. Without a cursor every sync would list the whole object again.
    store, source = MemoryStore(), Source()
    source.stamp_seen = T0 + 20 * MIN  # type: ignore[attr-defined]
    sync(store).run([stream(source)])
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:20:00Z"
    sync(store).run([stream(source)])
    assert source.asked[-2] == ("pages", T0 + 15 * MIN)  # an incremental read: since the cursor − overlap
    source.read_began = T0 + 10 * MIN  # type: ignore[attr-defined]
    sync(store, full=True).run([stream(source)])  # a change made during the read is asked for again
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:20:00Z"  # a cursor never goes back
    fresh = MemoryStore()
    sync(fresh).run([stream(source)])
    assert fresh.cursor(KEY, "deals#v1") == "2027-03-01T12:10:00Z"  # never past the read's start


def test_only_records_that_differ_from_the_snapshot_are_stored() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 1)})
    sync(store).run([stream(source)])
    store.upserts.clear()
    source.records["d2"] = rec("b2", 2)
    result = sync(store, full=True).run([stream(source)])["deals"]
    assert (result.read, result.stored, result.changed) == (2, 1, 1)
    assert store.upserts == [1]
    assert dict(store.snapshot(KEY, "deals"))["d2"] == {"name": "b2"}


def test_a_record_stored_with_its_keys_in_another_order_is_not_stored_again() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0)})
    sync(store).run([stream(source)])
    store.rows[(KEY, "deals")]["d1"] = '{"name": "a"}'  # the same record, as other code wrote it
    store.upserts.clear()
    result = sync(store, full=True).run([stream(source)])["deals"]
    assert (result.read, result.stored) == (1, 0)
    assert store.upserts == []


def test_a_record_differs_from_its_stored_text_only_when_its_values_do() -> None:
    assert differs(None, {"a": 1})
    assert not differs('{"a":1,"b":"x"}', {"a": 1, "b": "x"})
    assert not differs('{"b":"x","a":1}', {"a": 1, "b": "x"})  # keys in another order
    assert not differs('{"on":{"$date":"2026-09-02"}}', {"on": date(2026, 9, 2)})
    assert differs('{"a":1,"b":"x"}', {"a": 1, "b": "y"})
    assert differs('{"a":1}', {"a": 1, "b": None})
    assert not differs('{"amount":{"$decimal":"1.0"}}', {"amount": Decimal("1.00")})  # equal values


def test_a_full_read_removes_the_snapshot_records_it_did_not_see() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 1)})
    sync(store).run([stream(source)])
    del source.records["d1"]
    result = sync(store, full=True).run([stream(source)])["deals"]
    assert result.full and result.deleted == 1
    assert store.ids("deals") == ["d2"]


def test_an_incremental_read_removes_deleted_rows_and_departed_ids_counting_only_those_it_held() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 1), "d3": rec("c", 2)})
    sync(store).run([stream(source)])
    del source.records["d1"]
    source.deleted = {"d1": T0 + 20 * MIN, "x9": T0 + 20 * MIN}  # x9: never in the snapshot
    source.gone = ["d3", "x8"]
    result = sync(store).run([stream(source)])["deals"]
    assert (result.deleted, result.changed) == (2, 2)
    assert store.ids("deals") == ["d2"]
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:20:00Z"  # deleted rows' stamps count


def test_full_forces_a_whole_read_whatever_the_cursor_says() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0)})
    sync(store).run([stream(source)])
    sync(store, full=True).run([stream(source)])
    assert source.asked[-2] == ("pages", None)


def test_a_stream_read_whole_each_run_keeps_no_cursor() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0)})
    sync(store).run([stream(source, full_each_run=True)])
    sync(store).run([stream(source, full_each_run=True)])
    assert [a for a in source.asked if a[0] == "pages"] == [("pages", None), ("pages", None)]
    assert store.cursor(KEY, "deals#v1") is None


def test_a_read_that_fails_half_way_keeps_the_cursor_where_it_was() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0)})
    sync(store).run([stream(source)])
    source.records.update({"d2": rec("b", 10), "d3": rec("c", 11), "d4": rec("d", 12)})
    source.fail_after_pages = 1
    with pytest.raises(ConnectionError):
        sync(store).run([stream(source)])
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:00:00Z"  # the next sync reads them again


def test_changed_records_are_stored_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "UPSERT_CHUNK", 2)
    store = MemoryStore()
    source = Source({f"d{n}": rec(str(n), n) for n in range(5)})
    sync(store).run([stream(source)])
    assert store.upserts == [2, 2, 1]


def test_ids_that_left_the_snapshot_are_handed_to_the_stream_before_its_cursor_is_saved() -> None:
    store, source = MemoryStore(), Source({"d1": rec("a", 0), "d2": rec("b", 1)})
    sync(store).run([stream(source)])
    told: list[tuple[list[str], str | None]] = []

    def removed(ids: Sequence[str]) -> None:
        told.append((list(ids), store.cursor(KEY, "deals#v1")))

    source.gone = ["d1"]
    source.records["d2"] = rec("b", 30)
    sync(store).run([stream(source, removed=removed)])
    assert told == [(["d1"], "2027-03-01T12:01:00Z")]
    assert store.cursor(KEY, "deals#v1") == "2027-03-01T12:30:00Z"


# --- SnapshotSync: the reconciliation ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_when_due_each_incremental_stream_is_checked_against_the_crm_ids_and_the_check_recorded() -> None:
    store, clock = MemoryStore(), Clock()
    check = Reconciler(KEY, timedelta(days=15), clock)
    source = Source({"d1": rec("a", 0), "d2": rec("b", 1)})
    sync(store, reconciler=check).run([stream(source)])  # full: no check needed, but recorded
    assert ("live_ids", None) not in source.asked
    assert store.state(KEY, RECONCILED_STREAM) == "2027-03-01T12:00:00Z"

    del source.records["d1"]  # purged without a trace the incremental read could see
    clock.now = T0 + timedelta(days=3)
    sync(store, reconciler=check).run([stream(source)])
    assert ("live_ids", None) not in source.asked  # not due yet
    assert store.ids("deals") == ["d1", "d2"]

    clock.now = T0 + timedelta(days=16)
    told: list[list[str]] = []
    result = sync(store, reconciler=check).run([stream(source, removed=lambda ids: told.append(list(ids)))])
    assert result["deals"].reconciled == 1 and result["deals"].changed == 1
    assert store.ids("deals") == ["d2"] and told == [["d1"]]
    assert store.state(KEY, RECONCILED_STREAM) == "2027-03-17T12:00:00Z"
    assert check.note("CRM") == "CRM ids checked against the snapshot: 1 deleted record left it (deals 1)"


# --- SnapshotSync: when to read everything ------------------------------------------------------------------


def test_the_first_sync_of_a_crm_reads_in_full_and_records_when() -> None:
    store = MemoryStore()
    helper = sync(store)
    assert helper.decide_full(forced=False, after_days=7, now=T0) is None and helper.full
    helper.finished(T0)
    assert store.state(KEY, FULL_READ_AT) == "2027-03-01T12:00:00Z"


def test_a_full_read_is_due_again_after_full_read_after_days_or_when_forced() -> None:
    store = MemoryStore()
    store.set_state(KEY, FULL_READ_AT, "2027-03-01T12:00:00Z")
    helper = sync(store)
    assert helper.decide_full(forced=False, after_days=7, now=T0 + timedelta(days=6)) is None
    assert not helper.full
    helper.finished(T0 + timedelta(days=6))
    assert store.state(KEY, FULL_READ_AT) == "2027-03-01T12:00:00Z"  # an incremental sync records nothing
    why = helper.decide_full(forced=False, after_days=7, now=T0 + timedelta(days=8))
    assert helper.full and why is not None and "2027-03-01" in why
    why = sync(store).decide_full(forced=True, after_days=None, now=T0)
    assert why is not None and "--full-sync" in why


# --- the ledger as the store -------------------------------------------------------------------------------


def test_the_ledger_is_a_snapshot_store_and_keeps_connector_state_in_the_rows_older_versions_wrote(
    sqlite_url: str,
) -> None:
    with Ledger.connect(sqlite_url) as ledger:
        store: SnapshotStore = ledger
        ledger.set_cursor(KEY, "bulk_job:Opportunity", "750000000000001")  # as a cosell before the split did
        assert store.state(KEY, "bulk_job:Opportunity") == "750000000000001"
        store.set_state(KEY, "bulk_job:Opportunity", "")
        assert not ledger.cursor(KEY, "bulk_job:Opportunity")
        source = Source({"d1": rec("a", 0), "d2": rec("b", 4)})
        sync(store).run([stream(source)])
        source.gone = ["d1"]
        sync(store).run([stream(source)])
        assert sorted(store.snapshot_ids(KEY, "deals")) == ["d2"]
        assert ledger.cursor(KEY, "deals#v1") == "2027-03-01T12:04:00Z"


def test_a_sync_shows_each_stream_s_records_read_so_far_page_by_page() -> None:
    source = Source({f"D{i}": rec(f"deal {i}", i) for i in range(5)})
    progress = RecordedProgress()
    SnapshotSync(MemoryStore(), KEY, overlap=5 * MIN, progress=progress).run([stream(source)])
    assert progress.steps == [("reading deals", None, [2, 2, 1])]


def test_each_retry_is_shown_with_its_attempt_and_wait() -> None:
    progress = RecordedProgress()
    answers = iter([common.TransientError("429 rate limited", retry_after=0.0)])

    def call() -> str:
        failure = next(answers, None)
        if failure is not None:
            raise failure
        return "ok"

    assert common.RetryPolicy(budget_seconds=5, progress=progress).call("searching deals", call) == "ok"
    assert [name for name, _, _ in progress.steps] == [
        "searching deals: 429 rate limited; attempt 2 in 0.0 s"
    ]
