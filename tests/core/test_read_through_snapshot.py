"""ReadThroughSnapshot: a connector's sync reads the ledger's snapshot and cursors and keeps its changes
in memory; the ledger is never written."""

from datetime import date
from decimal import Decimal

from cosell.ledger import Ledger
from cosell.snapshot import ReadThroughSnapshot


def test_changes_are_seen_through_the_overlay_and_never_reach_the_ledger(ledger_url):
    with Ledger.connect(ledger_url) as ledger:
        ledger.snapshot_upsert("crm:1", "deals", [("b", {"amount": Decimal("10.50")}), ("c", {"amount": 1})])
        ledger.set_cursor("crm:1", "deals", "2026-09-01T00:00:00Z")
        generation, stored = ledger.generation(), list(ledger.snapshot("crm:1", "deals"))
        overlay = ReadThroughSnapshot(ledger)
        assert (
            overlay.snapshot_upsert("crm:1", "deals", [("a", {"on": date(2026, 9, 2), "ids": ("x", "y")})])
            == 1
        )
        assert overlay.snapshot_upsert("crm:1", "deals", [("c", {"amount": 2})]) == 1
        assert overlay.snapshot_delete("crm:1", "deals", ["b", "zz"]) == 1  # zz was never there
        overlay.set_cursor("crm:1", "deals", "2026-09-03T00:00:00Z")
        overlay.set_state("crm:1", "full_read_at", "2026-09-03")
        # a payload reads back as the ledger would give it: dates and decimals typed, tuples as lists
        assert list(overlay.snapshot("crm:1", "deals")) == [
            ("a", {"on": date(2026, 9, 2), "ids": ["x", "y"]}),
            ("c", {"amount": 2}),
        ]
        assert overlay.snapshot_ids("crm:1", "deals") == {"a", "c"}
        # the texts are the ledger's own, with the overlay's changes as the ledger would store them
        assert list(overlay.snapshot_texts("crm:1", "deals")) == [
            ("a", '{"on":{"$date":"2026-09-02"},"ids":["x","y"]}'),
            ("c", '{"amount":2}'),
        ]
        assert list(ledger.snapshot_texts("crm:1", "deals")) == [
            ("b", '{"amount":{"$decimal":"10.50"}}'),
            ("c", '{"amount":1}'),
        ]
        assert overlay.snapshot_count("crm:1", "deals") == 2
        assert overlay.cursor("crm:1", "deals") == "2026-09-03T00:00:00Z"
        assert overlay.state("crm:1", "full_read_at") == "2026-09-03"
        assert list(overlay.snapshot("crm:1", "companies")) == []
        # the ledger holds exactly what it held
        assert list(ledger.snapshot("crm:1", "deals")) == stored
        assert ledger.cursor("crm:1", "deals") == "2026-09-01T00:00:00Z"
        assert ledger.state("crm:1", "full_read_at") is None
        assert ledger.generation() == generation


def test_an_unchanged_object_reads_straight_from_the_ledger_in_its_order():
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert("crm:1", "deals", [("Z", {"n": 1}), ("a", {"n": 2}), ("B", {"n": 3})])
        overlay = ReadThroughSnapshot(ledger)
        assert [rid for rid, _ in overlay.snapshot("crm:1", "deals")] == ["B", "Z", "a"]
        overlay.snapshot_upsert("crm:1", "deals", [("_", {"n": 4})])
        # merged ids keep the ledger's byte order ("B" < "Z" < "_" < "a")
        assert [rid for rid, _ in overlay.snapshot("crm:1", "deals")] == ["B", "Z", "_", "a"]


def test_without_a_ledger_the_overlay_starts_empty():
    overlay = ReadThroughSnapshot(None)
    assert overlay.cursor("crm:1", "deals") is None
    assert overlay.snapshot_ids("crm:1", "deals") == set()
    overlay.snapshot_upsert("crm:1", "deals", [("a", {"n": 1})])
    assert list(overlay.snapshot("crm:1", "deals")) == [("a", {"n": 1})]
