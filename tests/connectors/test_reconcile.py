"""The check of a CRM snapshot against the CRM's ids (connectors/common.py): when it is due, what it
removes, what the run says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cosell.connectors.common import RECONCILED_STREAM, Reconciler
from cosell.ledger import Ledger

DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_check_is_due_first_then_once_the_retention_window_has_passed(ledger_url: str) -> None:
    clock = Clock()
    with Ledger.connect(ledger_url) as book:
        check = Reconciler("crm", 15 * DAY, clock)
        assert check.due(book)
        check.done(book)
        assert book.cursor("crm", RECONCILED_STREAM) == "2027-03-01T12:00:00Z"
        clock.now += 15 * DAY - timedelta(seconds=1)
        assert not check.due(book)
        clock.now += timedelta(seconds=1)
        assert Reconciler("crm", 15 * DAY, clock).due(book)  # kept in the ledger, not in the process
        assert Reconciler("other", 15 * DAY, clock).due(book)  # each connector keeps its own


def test_records_missing_from_the_crm_ids_leave_the_snapshot_and_the_note_counts_them(
    ledger_url: str,
) -> None:
    with Ledger.connect(ledger_url) as book:
        book.snapshot_upsert("crm", "Opportunity", [(i, {"n": i}) for i in ("a", "b", "c", "d")])
        book.snapshot_upsert("crm", "Task", [("t", {})])
        check = Reconciler("crm", 15 * DAY, Clock())
        assert check.note("Salesforce") is None  # nothing checked yet
        assert check.remove_missing(book, "Opportunity", iter(["a", "c", "x"])) == ["b", "d"]
        assert check.remove_missing(book, "Task", ["t"]) == []
        assert [rid for rid, _ in book.snapshot("crm", "Opportunity")] == ["a", "c"]
        assert book.snapshot_ids("crm", "Task") == {"t"}
        assert check.note("Salesforce") == (
            "Salesforce ids checked against the snapshot: 2 deleted records left it (Opportunity 2)"
        )


def test_a_write_refused_because_the_record_is_gone_makes_the_next_sync_check(ledger_url: str) -> None:
    with Ledger.connect(ledger_url) as book:
        check = Reconciler("crm", 90 * DAY, Clock())
        check.done(book)
        check.check_after_refusals(book, ["VALIDATION_ERROR: no", None], ("OBJECT_NOT_FOUND",))
        assert not check.due(book)
        check.check_after_refusals(
            book, ["OBJECT_NOT_FOUND: Could not get some DEAL objects"], ("OBJECT_NOT_FOUND",)
        )
        assert check.due(book)
