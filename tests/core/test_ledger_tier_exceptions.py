"""Tier exceptions in the ledger (schema version 6): the approval rules adjustments follow, every state
change kept, in force up to their last period; and the label the tier is shown with. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from test_ledger import raw_rows, record, standing

from cosell.errors import ConfigError, PeriodError
from cosell.ledger import Ledger, schema_version
from cosell.periods import Period
from cosell.records import Partner
from cosell.results import PayoutLine, TierDecision, TierException, tier_label
from cosell.writeback import TIER_LIMIT, tier_shown
from ledgers import as_made_by_version, execute

Q2, Q3, Q4 = (Period.parse(f"2026-Q{q}") for q in (2, 3, 4))
Q1_NEXT = Period.parse("2027-Q1")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def propose(ledger: Ledger, until: Period = Q4, **kw: object) -> int:
    args: dict[str, object] = {
        "partner_id": "P1",
        "tier": "Gold",
        "until": until,
        "reason": "launch",
        "by": "ann",
    }
    args.update(kw)
    return ledger.propose_tier_exception(**args).id  # type: ignore[arg-type]


def test_a_ledger_made_by_the_version_1_code_is_migrated_to_tier_exceptions_keeping_its_data(
    ledger_url: str,
) -> None:
    with Ledger.connect(ledger_url) as made:
        record(made, Q3, lines=[PayoutLine("P1", "commission", Decimal("10.00"), "c")])
    as_made_by_version(ledger_url, 1)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]
        assert [ln.amount for ln in migrated.lines("2026-Q3")] == [Decimal("10.00")]
        assert migrated.tier_exceptions() == [] and migrated.adjustments() == []
        exception = propose(migrated)
        migrated.approve_tier_exception(exception, by="bob")
        assert [e.action for e in migrated.tier_exception_events(exception)] == ["proposed", "approved"]
        assert [e.id for e in migrated.history(Q4).tier_exceptions] == [exception]


def test_the_proposer_cannot_approve_their_own_and_every_change_is_kept(ledger: Ledger) -> None:
    exception = propose(ledger, by="Ann")
    for name in ("Ann", " ann "):
        with pytest.raises(ConfigError, match="cannot approve") as caught:
            ledger.approve_tier_exception(exception, by=name)
        assert caught.value.exit_code == 2
    assert [e.state for e in ledger.tier_exceptions()] == ["pending"]
    assert ledger.approve_tier_exception(exception, by="bob").decided_by == "bob"
    with pytest.raises(ConfigError, match="approved, not pending"):
        ledger.reject_tier_exception(exception, by="carol", reason="late")
    events = ledger.tier_exception_events(exception)
    assert [(e.action, e.actor) for e in events] == [("proposed", "Ann"), ("approved", "bob")]


def test_an_approved_exception_is_in_force_through_its_last_period_and_not_after(ledger: Ledger) -> None:
    approved, rejected, pending = propose(ledger), propose(ledger), propose(ledger)
    ledger.approve_tier_exception(approved, by="bob")
    ledger.reject_tier_exception(rejected, by="bob", reason="no")
    assert [e.id for e in ledger.history(Q3).tier_exceptions] == [approved]
    assert [e.id for e in ledger.history(Q4).tier_exceptions] == [approved]
    assert ledger.history(Q1_NEXT).tier_exceptions == ()
    assert pending not in [e.id for e in ledger.history(Q3).tier_exceptions]
    assert [e.state for e in ledger.tier_exceptions()] == ["approved", "rejected", "pending"]


def test_an_until_before_the_latest_period_or_of_the_other_kind_is_refused(ledger: Ledger) -> None:
    record(ledger, Q3)
    with pytest.raises(PeriodError, match="would never apply"):
        propose(ledger, until=Q2)
    with pytest.raises(PeriodError, match="this ledger holds quarters"):
        propose(ledger, until=Period.parse("2026-12"))
    assert ledger.tier_exceptions() == []


def test_the_label_names_the_period_and_reason_and_fits_the_crm_field() -> None:
    short = TierException(1, "P1", "Gold", "2027-Q2", "launch\npartner", "ann", "bob")
    assert tier_label("Gold", short) == "Gold (exception until 2027-Q2: launch partner)"
    assert tier_label("Gold", None) == "Gold"
    long = TierException(1, "P1", "Gold", "2027-Q2", "a very long reason " * 10, "ann", "bob")
    partner = Partner("P1", "Northwind", date(2025, 1, 1))
    shown = tier_shown(partner, TierDecision("Silver", "Gold", "Silver", 0, "r", long), Q3.end)
    assert len(shown) == TIER_LIMIT
    assert shown.startswith("Gold (exception until 2027-Q2: a very long reason") and shown.endswith("…)")
    left = Partner("P1", "Northwind", date(2025, 1, 1), "exited", date(2026, 8, 1))
    assert (
        tier_shown(left, TierDecision("Silver", "Silver", "Silver", 0, "r"), Q3.end) == "Exited (was Silver)"
    )


def store_applying(ledger: Ledger, period: Period, applied: list[int] | None) -> int:
    """A run of ``period`` whose history held the tier exceptions ``applied`` (None: as before version 10)."""
    return ledger.record_run(
        period=period, program="Global Partner Program", connector="files", target="files:/tmp/out",
        lines=[], standings=[standing("P1", "50")], projections=[], writes=[], tier_exceptions=applied,
    )  # fmt: skip


def test_the_history_of_a_closed_period_holds_the_tier_exceptions_its_run_applied(
    ledger: Ledger, ledger_url: str
) -> None:
    seen, meanwhile = propose(ledger), propose(ledger)
    ledger.approve_tier_exception(seen, by="bob")
    ledger.approve_tier_exception(meanwhile, by="bob")
    # approved long before the run stored, but after it read its history: the run did not apply it
    execute(
        ledger_url,
        f"UPDATE cosell_tier_exceptions SET decided_at = '2000-01-01T00:00:00Z' WHERE id = {meanwhile}",
    )
    store_applying(ledger, Q3, [seen])
    assert [e.id for e in ledger.history(Q3).tier_exceptions] == [
        seen,
        meanwhile,
    ]  # open: a rerun applies both
    ledger.close_period(Q3)
    assert [e.id for e in ledger.history(Q3).tier_exceptions] == [seen]
    assert [e.id for e in ledger.history(Q4).tier_exceptions] == [seen, meanwhile]


def test_a_version_8_ledgers_closed_period_holds_the_exceptions_approved_before_its_run_stored(
    ledger_url: str,
) -> None:
    with Ledger.connect(ledger_url) as made:
        before, after = propose(made), propose(made)
        made.approve_tier_exception(before, by="bob")
        made.approve_tier_exception(after, by="bob")
        store_applying(made, Q3, [before, after])
    as_made_by_version(ledger_url, 8)
    for exception, decided in ((before, "2026-01-01T00:00:00Z"), (after, "2026-03-01T00:00:00Z")):
        execute(
            ledger_url, f"UPDATE cosell_tier_exceptions SET decided_at = '{decided}' WHERE id = {exception}"
        )
    execute(ledger_url, "UPDATE cosell_runs SET started_at = '2026-02-01T00:00:00Z'")
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]
        assert [r["tier_exceptions"] for r in raw_rows(ledger_url, "cosell_runs")] == [None]
        migrated.close_period(Q3)
        assert [e.id for e in migrated.history(Q3).tier_exceptions] == [before]
        store_applying(migrated, Q4, [after])
        assert [r["tier_exceptions"] for r in raw_rows(ledger_url, "cosell_runs")] == [None, f"[{after}]"]
