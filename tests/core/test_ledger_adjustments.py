"""Adjustments in the ledger: the two-person rule, the program's approvers and threshold, applied in
the transaction that stores their lines, every state change kept. Both backends (``ledger_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from test_ledger import child_process, raw_rows, read_line, record

from cosell.errors import ConfigError, LockHeldError, PeriodError
from cosell.ledger import Ledger, schema_version
from cosell.periods import Period
from cosell.results import PayoutLine, adjustment_tag
from ledgers import as_made_by_version, execute

Q2, Q3, Q4 = (Period.parse(f"2026-Q{q}") for q in (2, 3, 4))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def propose(ledger: Ledger, amount: str = "250.00", **kw: object) -> int:
    args: dict[str, object] = {
        "partner_id": "P1",
        "amount": Decimal(amount),
        "reason": "event rebate",
        "by": "ann",
    }
    args.update(kw)
    return ledger.propose_adjustment(**args).id  # type: ignore[arg-type]


def paying(adjustment_id: int, partner: str = "P1", amount: str = "250.00") -> PayoutLine:
    return PayoutLine(
        partner, "adjustment", Decimal(amount), "paid", tags=frozenset({adjustment_tag(adjustment_id)})
    )


def store(ledger: Ledger, period: Period, *lines: PayoutLine) -> int:
    return ledger.record_run(
        period=period,
        program="Global Partner Program",
        connector="files",
        target="files:/tmp/out",
        lines=lines,
        standings=[],
        projections=[],
        writes=[],
        adjustments=[int(t.split(":")[1]) for ln in lines for t in ln.tags],
    )


def test_a_version_3_ledger_is_migrated_to_adjustments_keeping_its_data(ledger_url: str) -> None:
    # A version-3 ledger as the code before version 4 made it: the same tables, less the two
    # adjustment tables, at version 3.
    with Ledger.connect(ledger_url) as made:
        record(made, Q3, lines=[PayoutLine("P1", "commission", Decimal("10.00"), "c")])
    as_made_by_version(ledger_url, 3)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]
        assert [ln.amount for ln in migrated.lines("2026-Q3")] == [Decimal("10.00")]
        assert migrated.adjustments() == []
        adjustment = propose(migrated)
        assert [a.state for a in migrated.adjustments()] == ["pending"]
        assert [e.action for e in migrated.adjustment_events(adjustment)] == ["proposed"]


def test_the_proposer_cannot_approve_their_own_under_any_spelling_and_nothing_changes(ledger: Ledger) -> None:
    adjustment = propose(ledger, by="Ann")
    for name in ("Ann", "ann", " ANN "):
        with pytest.raises(ConfigError, match="cannot approve") as caught:
            ledger.approve_adjustment(adjustment, by=name)
        assert caught.value.exit_code == 2
    assert [a.state for a in ledger.adjustments()] == ["pending"]
    approved = ledger.approve_adjustment(adjustment, by="bob")
    assert (approved.state, approved.decided_by) == ("approved", "bob")
    with pytest.raises(ConfigError, match="approved, not pending"):
        ledger.approve_adjustment(adjustment, by="carol")


def test_only_the_programs_approvers_approve_and_the_list_is_kept_from_the_proposal(ledger: Ledger) -> None:
    adjustment = propose(ledger, approvers=["carol", "dave"])
    with pytest.raises(ConfigError, match="not among the program's approvers"):
        ledger.approve_adjustment(adjustment, by="bob")  # no program given: the list kept applies
    with pytest.raises(ConfigError, match="not among the program's approvers"):
        ledger.approve_adjustment(adjustment, by="carol", approvers=["dave"])  # the program's list now
    assert ledger.approve_adjustment(adjustment, by="Carol").state == "approved"


def test_the_list_of_the_program_the_ledger_pays_under_replaces_the_list_kept_from_the_proposal(
    ledger: Ledger,
) -> None:
    adjustment = propose(ledger, approvers=["carol", "dave"])
    with pytest.raises(ConfigError, match=r"not among the program's approvers \(erin\)"):
        ledger.approve_adjustment(adjustment, by="carol", approvers=["erin"], governed=True)
    # that program names no approvers: anyone but the proposer, whatever the proposal kept
    with pytest.raises(ConfigError, match="cannot approve it"):
        ledger.approve_adjustment(adjustment, by="ann", approvers=None, governed=True)
    assert ledger.approve_adjustment(adjustment, by="bob", approvers=None, governed=True).state == "approved"


def test_an_amount_at_or_below_the_threshold_is_approved_on_proposal_and_above_it_waits(
    ledger: Ledger,
) -> None:
    small = propose(ledger, "-5000.00", threshold=Decimal("5000"))
    large = propose(ledger, "5000.01", threshold=Decimal("5000"))
    states = {a.id: (a.state, a.decided_by) for a in ledger.adjustments()}
    assert states == {small: ("approved", None), large: ("pending", None)}
    events = ledger.adjustment_events(small)
    assert [(e.action, e.actor) for e in events] == [("proposed", "ann"), ("approved", None)]
    assert "require_approval_over of 5,000.00" in (events[1].reason or "")


def test_a_rejected_one_is_never_due_and_its_reason_is_kept(ledger: Ledger) -> None:
    adjustment = propose(ledger)
    ledger.reject_adjustment(adjustment, by="bob", reason="no receipt")
    assert ledger.history(Q3).adjustments == ()
    (stored,) = ledger.adjustments("rejected")
    assert (stored.decided_by, stored.decision_reason) == ("bob", "no receipt")
    with pytest.raises(ConfigError, match="rejected, not pending"):
        ledger.approve_adjustment(adjustment, by="carol")


def test_an_approved_one_is_applied_with_its_line_once_and_a_rerun_pays_it_again_in_the_same_period(
    ledger: Ledger,
) -> None:
    adjustment = propose(ledger, period=Q3)
    assert ledger.history(Q3).adjustments == ()  # pending: pays nothing
    ledger.approve_adjustment(adjustment, by="bob")
    assert ledger.history(Q2).adjustments == ()  # a later period's waits for it
    (due,) = ledger.history(Q3).adjustments
    assert (due.id, due.amount, due.proposed_by, due.approved_by) == (
        adjustment,
        Decimal("250.00"),
        "ann",
        "bob",
    )
    first = store(ledger, Q3, paying(adjustment))
    (stored,) = ledger.adjustments()
    assert (stored.state, stored.applied_period, stored.applied_run) == ("applied", "2026-Q3", first)
    assert [d.id for d in ledger.history(Q3).adjustments] == [adjustment]  # a rerun of Q3 pays it again
    second = store(ledger, Q3, paying(adjustment))
    assert ledger.adjustments()[0].applied_run == second
    assert [ln.kind for ln in ledger.lines("2026-Q3")] == ["adjustment"]
    assert ledger.history(Q4).adjustments == ()  # never in another period
    with pytest.raises(LockHeldError, match="no longer due"):
        store(ledger, Q4, paying(adjustment))
    actions = [(e.action, e.run_id) for e in ledger.adjustment_events(adjustment)]
    assert actions == [("proposed", None), ("approved", None), ("applied", first), ("reapplied", second)]


def test_a_rerun_that_does_not_pay_it_gives_it_back_to_the_next_run(ledger: Ledger) -> None:
    adjustment = propose(ledger)
    ledger.approve_adjustment(adjustment, by="bob")
    store(ledger, Q3, paying(adjustment))
    store(ledger, Q3)  # its partner left the input, say: the period's lines no longer pay it
    (stored,) = ledger.adjustments()
    assert (stored.state, stored.applied_period) == ("approved", None)
    assert [d.id for d in ledger.history(Q4).adjustments] == [adjustment]
    assert [e.action for e in ledger.adjustment_events(adjustment)][-1] == "unapplied"


def test_a_run_refused_by_the_ledger_leaves_the_adjustment_unapplied(ledger: Ledger) -> None:
    adjustment = propose(ledger)
    ledger.approve_adjustment(adjustment, by="bob")
    store(ledger, Q3)
    ledger.close_period(Q3)
    with pytest.raises(PeriodError):
        store(ledger, Q3, paying(adjustment))
    assert ledger.adjustments()[0].state == "approved"
    assert ledger.lines("2026-Q3") == []


def test_an_adjustment_for_a_closed_period_is_due_in_the_next_run(ledger: Ledger) -> None:
    store(ledger, Q3)
    ledger.close_period(Q3)
    adjustment = propose(ledger, period=Q3)
    ledger.approve_adjustment(adjustment, by="bob")
    assert [d.period for d in ledger.history(Q4).adjustments] == ["2026-Q3"]
    store(ledger, Q4, paying(adjustment))
    assert ledger.adjustments()[0].applied_period == "2026-Q4"


def test_a_period_of_the_other_kind_is_refused_on_proposal(ledger: Ledger) -> None:
    store(ledger, Q3)
    with pytest.raises(PeriodError, match="holds quarters"):
        propose(ledger, period=Period.parse("2026-07"))
    assert ledger.adjustments() == []


DECIDER = """
import sys, time
from pathlib import Path
from cosell.errors import ConfigError
from cosell.ledger import Ledger
url, verb, go, first, last = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
decided = 0
with Ledger.connect(url) as book:
    book.adjustments()  # connected and warm before the start
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for item in range(first, last + 1):
        try:
            if verb == "approve":
                book.approve_adjustment(item, by="bob")
            else:
                book.reject_adjustment(item, by="carol", reason="no")
            decided += 1
        except ConfigError:
            pass
print(decided, flush=True)
"""


def test_an_adjustment_approved_and_rejected_at_once_by_two_processes_is_decided_once(
    ledger: Ledger, ledger_url: str, tmp_path
):
    ids = [propose(ledger) for _ in range(30)]
    go = tmp_path / "go"
    with (
        child_process(DECIDER, ledger_url, "approve", str(go), str(ids[0]), str(ids[-1])) as approver,
        child_process(DECIDER, ledger_url, "reject", str(go), str(ids[0]), str(ids[-1])) as rejecter,
    ):
        assert read_line(approver) == read_line(rejecter) == "ready"
        go.touch()
        approved, rejected = int(read_line(approver, 120)), int(read_line(rejecter, 120))
    assert approved + rejected == len(ids)
    for item in ids:
        events = [e.action for e in ledger.adjustment_events(item)]
        assert events == ["proposed", "approved"] or events == ["proposed", "rejected"], (item, events)
    states = [a.state for a in ledger.adjustments() if a.id in ids]
    assert states.count("approved") == approved and states.count("rejected") == rejected


def test_a_version_11_ledger_is_migrated_to_withdrawals_keeping_its_adjustments_and_events(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A version-11 ledger as the code before version 12 made it: its CHECK constraints know no withdrawn.
    import cosell.ledger as ledger_module

    full = ledger_module.MIGRATIONS
    monkeypatch.setattr(ledger_module, "MIGRATIONS", [m for m in full if m[0] <= 11])
    with Ledger.connect(ledger_url) as made:
        paid, waiting = propose(made), propose(made, "-40.00")
        made.approve_adjustment(paid, by="bob")
        made.approve_adjustment(waiting, by="bob")
        store(made, Q3, paying(paid))
        exception = made.propose_tier_exception(
            partner_id="P1", tier="Gold", until=Q4, reason="launch", by="ann"
        ).id
        made.approve_tier_exception(exception, by="bob")
        with pytest.raises(sa.exc.IntegrityError):  # the constraint version 12 widens
            execute(ledger_url, f"UPDATE cosell_adjustments SET state = 'withdrawn' WHERE id = {waiting}")
    monkeypatch.setattr(ledger_module, "MIGRATIONS", full)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]
        assert [(a.id, a.state, a.amount) for a in migrated.adjustments()] == [
            (paid, "applied", Decimal("250.00")),
            (waiting, "approved", Decimal("-40.00")),
        ]
        assert [e.action for e in migrated.adjustment_events(paid)] == ["proposed", "approved", "applied"]
        assert migrated.withdraw_adjustment(waiting, by="carol", reason="typo").state == "withdrawn"
        assert migrated.withdraw_tier_exception(exception, by="carol", reason="late").state == "withdrawn"
        assert propose(migrated) == waiting + 1  # ids go on from where they were
    with pytest.raises(sa.exc.IntegrityError):  # still a constraint: another state is refused
        execute(ledger_url, f"UPDATE cosell_adjustments SET state = 'gone' WHERE id = {paid}")
