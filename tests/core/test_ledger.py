"""The ledger, on a SQLite file and on PostgreSQL (each test in a fresh schema; see tests/conftest.py)."""

from __future__ import annotations

import contextlib
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import cosell.ledger as ledger_module
from cosell.connector import FieldWrite
from cosell.errors import ConfigError, LockHeldError, PeriodError, UnreachableError
from cosell.ledger import Ledger, OutboxItem, StoredStanding, decode_json, encode_json
from cosell.money import from_cents
from cosell.periods import Period
from cosell.results import (
    LedgerLine,
    PartnerStanding,
    PayoutLine,
    Projection,
    Score,
    TierDecision,
    TierRecord,
)
from ledgers import as_made_by_version, execute

Q1, Q2, Q3, Q4 = (Period.parse(f"2026-Q{q}") for q in (1, 2, 3, 4))
TARGET = "files:/tmp/out"

# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def line(
    partner: str, amount: str, kind: str = "commission", deal: str | None = "D1", **kw: Any
) -> PayoutLine:
    return PayoutLine(partner, kind, Decimal(amount), f"{kind} for {partner}", deal_id=deal, **kw)


def standing(partner: str, score: str, eligible: str = "Silver", assigned: str = "Silver") -> PartnerStanding:
    return PartnerStanding(
        partner_id=partner,
        metrics={
            "sourced_pipeline": Decimal("125000.50"),
            "win_rate": Decimal("0.4"),
            "deal_velocity_days": None,
        },
        score=Score(Decimal(score)),
        tier=TierDecision(eligible=eligible, assigned=assigned, previous=None, periods_below=0, reason="why"),
    )


def write(record_id: str, incentive: str = "10.00") -> FieldWrite:
    return FieldWrite(
        "deal", record_id, {"incentive": incentive, "incentive_status": "Earned"}, {"incentive": None}
    )


def record(
    ledger: Ledger,
    period: Period = Q3,
    *,
    lines: Sequence[PayoutLine] = (),
    standings: Sequence[PartnerStanding] = (),
    projections: Sequence[Projection] = (),
    writes: Sequence[FieldWrite] = (),
    target: str = TARGET,
) -> int:
    return ledger.record_run(
        period=period,
        program="Global Partner Program",
        connector="files",
        target=target,
        lines=lines,
        standings=standings,
        projections=projections,
        writes=writes,
    )


def raw_rows(url: str, table: str, *, without: Sequence[str] = ("run_id",)) -> list[dict[str, Any]]:
    """Rows exactly as stored, in key order, without the given columns."""
    engine = sa.create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
            rows = conn.execute(sa.select(tbl).order_by(*tbl.primary_key.columns)).mappings().all()
    finally:
        engine.dispose()
    return [{k: v for k, v in r.items() if k not in without} for r in rows]


@contextlib.contextmanager
def child_process(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A Python child running ``code``; killed if still running when the block ends, its pipes closed."""
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            yield child
        finally:
            child.kill()  # nothing when it has ended; Popen's exit then closes the pipes and waits


def read_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise AssertionError(f"child said nothing in {timeout}s")
    text = proc.stdout.readline().strip()
    if not text:
        proc.wait()
        assert proc.stderr is not None
        raise AssertionError(f"child ended: {proc.stderr.read()}")
    return text


# --------------------------------------------------------------------------------------------------
# money
# --------------------------------------------------------------------------------------------------

AMOUNTS = [
    "0.00",
    "0.01",
    "-0.01",
    "100",
    "1234567890123.45",  # 10^12 scale
    "-999999999999.99",
    "90071992547409.93",  # 2^53 + 1 cents: no float holds it
    "12345678901234567.89",
]


def test_amounts_round_trip_to_the_cent(ledger: Ledger, ledger_url: str) -> None:
    assert Decimal(float(Decimal("90071992547409.93"))) != Decimal("90071992547409.93")  # why cents
    lines = [line("P1", a, deal=f"D{i}") for i, a in enumerate(AMOUNTS)]
    projections = [Projection("P1", f"O{i}", Decimal(a), "if won") for i, a in enumerate(AMOUNTS)]
    record(ledger, lines=lines, projections=projections)

    back = [ln.amount for ln in ledger.lines("2026-Q3")]
    assert back == [Decimal(a) for a in AMOUNTS]
    assert [str(a) for a in back] == [str(from_cents(int(Decimal(a) * 100))) for a in AMOUNTS]
    assert [p.amount for p in ledger.projections("2026-Q3")] == [Decimal(a) for a in AMOUNTS]
    assert sum(back) == sum(Decimal(a) for a in AMOUNTS)
    stored = [r["amount_cents"] for r in raw_rows(ledger_url, "cosell_lines")]
    assert stored == [int(Decimal(a) * 100) for a in AMOUNTS]
    assert all(type(c) is int for c in stored)
    history = ledger.history(Q4)
    assert [ln.amount for ln in history.lines_of("P1")] == [Decimal(a) for a in AMOUNTS]


def test_any_whole_cent_amount_round_trips(ledger: Ledger) -> None:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.integers(-(10**17), 10**17), min_size=1, max_size=8))
    def check(cents: list[int]) -> None:
        amounts = [from_cents(c) for c in cents]
        record(ledger, lines=[PayoutLine("P", "commission", a, "x") for a in amounts])
        assert [ln.amount for ln in ledger.lines("2026-Q3")] == amounts

    check()


def test_an_amount_that_is_not_whole_cents_writes_nothing(ledger: Ledger) -> None:
    record(ledger, lines=[line("P1", "5.00")], writes=[write("D1")])
    with pytest.raises(ValueError, match="whole number of cents"):
        record(ledger, lines=[line("P1", "7.00"), line("P1", "0.001")], writes=[write("D2")])
    assert [ln.amount for ln in ledger.lines("2026-Q3")] == [Decimal("5.00")]
    assert [i.write.record_id for i in ledger.pending_writes(TARGET)] == ["D1"]
    assert ledger.periods() == [("2026-Q3", "open")]


# --------------------------------------------------------------------------------------------------
# periods
# --------------------------------------------------------------------------------------------------


def test_rerunning_an_open_period_replaces_its_lines_and_standings_with_identical_rows(
    ledger: Ledger, ledger_url: str
) -> None:
    lines = [line("P2", "30.00", deal="D9"), line("P1", "10.00", tags=frozenset({"margin_floor", "a"}))]
    lines.append(line("P1", "0.00", withheld=True, kind="commission", deal="D3"))
    lines.append(line("P1", "-5.00", kind="cap", deal=None, uncapped=True))
    standings = [standing("P2", "71.25", "Gold", "Gold"), standing("P1", "40.00")]
    projections = [
        Projection("P1", "O1", Decimal("12.34"), "if won"),
        Projection("P2", "O1", Decimal("0"), "w", True),
    ]

    def snapshot() -> list[list[dict[str, Any]]]:
        return [raw_rows(ledger_url, t) for t in ("cosell_lines", "cosell_standings", "cosell_projections")]

    first_run = record(ledger, lines=lines, standings=standings, projections=projections)
    first = snapshot()
    first_read = (ledger.lines("2026-Q3"), ledger.standings("2026-Q3"), ledger.projections("2026-Q3"))
    second_run = record(ledger, lines=lines, standings=standings, projections=projections)
    assert second_run != first_run
    assert snapshot() == first
    assert (ledger.lines("2026-Q3"), ledger.standings("2026-Q3"), ledger.projections("2026-Q3")) == first_read
    assert {r["run_id"] for r in raw_rows(ledger_url, "cosell_lines", without=())} == {second_run}

    assert [ln.partner_id for ln in first_read[0]] == ["P2", "P1", "P1", "P1"]  # stored order kept
    assert first_read[0][1].tags == frozenset({"margin_floor", "a"})
    assert first_read[0][2].withheld and first_read[0][3].uncapped and first_read[0][3].deal_id is None
    assert first_read[1][0] == StoredStanding(
        period="2026-Q3",
        partner_id="P2",
        score=Decimal("71.25"),
        eligible="Gold",
        assigned="Gold",
        metrics=first_read[1][0].metrics,
        reason="why",
    )
    assert dict(first_read[1][0].metrics) == {
        "sourced_pipeline": Decimal("125000.50"),
        "win_rate": Decimal("0.4"),
        "deal_velocity_days": None,
    }
    assert str(first_read[1][0].metrics["sourced_pipeline"]) == "125000.50"
    assert first_read[2] == projections

    record(ledger, lines=[line("P3", "1.00")], standings=[standing("P3", "1")])
    assert [ln.partner_id for ln in ledger.lines("2026-Q3")] == ["P3"]
    assert [s.partner_id for s in ledger.standings("2026-Q3")] == ["P3"]
    assert ledger.projections("2026-Q3") == []
    assert ledger.lines("2026-Q3", "P1") == []


def test_a_closed_period_refuses_record_run_and_is_never_rewritten(ledger: Ledger, ledger_url: str) -> None:
    with pytest.raises(PeriodError, match="no run"):
        ledger.close_period(Q3)
    record(ledger, lines=[line("P1", "10.00")], standings=[standing("P1", "50")])
    assert ledger.period_status("2026-Q3") == "open"
    ledger.close_period(Q3)
    ledger.close_period(Q3)  # idempotent
    assert ledger.period_status("2026-Q3") == "closed"
    assert ledger.closed_periods() == frozenset({"2026-Q3"})
    before = [raw_rows(ledger_url, t) for t in ("cosell_lines", "cosell_standings", "cosell_runs")]

    with pytest.raises(
        PeriodError, match=r"2026-Q3 was closed on \d{4}-\d\d-\d\d; later facts land in a later"
    ):
        record(ledger, lines=[line("P1", "99.00")])
    with pytest.raises(PeriodError) as caught:
        ledger.check_runnable(Q3)
    assert caught.value.exit_code == 2
    assert [raw_rows(ledger_url, t) for t in ("cosell_lines", "cosell_standings", "cosell_runs")] == before
    assert ledger.periods() == [("2026-Q3", "closed")]
    record(ledger, Q4, lines=[line("P1", "-10.00", kind="clawback")])  # later facts land later
    assert ledger.periods() == [("2026-Q3", "closed"), ("2026-Q4", "open")]


def test_running_a_period_older_than_the_latest_with_lines_is_refused(ledger: Ledger) -> None:
    assert ledger.latest_period_with_lines() is None
    record(ledger, Q3, lines=[line("P1", "1.00")])
    assert ledger.latest_period_with_lines() == "2026-Q3"
    with pytest.raises(
        PeriodError, match=r"older than 2026-Q3.*account fields always show the latest period"
    ):
        ledger.check_runnable(Q2)
    with pytest.raises(PeriodError, match="older than 2026-Q3"):
        record(ledger, Q2, lines=[line("P1", "2.00")])
    assert ledger.lines("2026-Q2") == []
    ledger.check_runnable(Q3)  # rerunning the latest open period is fine
    record(ledger, Q4)  # a run without lines still moves the account fields to its period
    assert ledger.latest_period_with_lines() == "2026-Q4"
    with pytest.raises(PeriodError, match="older than 2026-Q4"):
        ledger.check_runnable(Q3)


def test_mixing_quarters_and_months_is_refused(ledger: Ledger) -> None:
    assert ledger.period_kind() is None
    record(ledger, Q3)
    assert ledger.period_kind() == "quarter"
    october = Period.parse("2026-10")
    with pytest.raises(PeriodError, match="2026-10 is a month, but this ledger holds quarters"):
        ledger.check_runnable(october)
    with pytest.raises(PeriodError, match="holds quarters"):
        record(ledger, october)
    assert ledger.periods() == [("2026-Q3", "open")]


def test_history_sees_only_earlier_periods_oldest_first(ledger: Ledger) -> None:
    for period, (a, b) in zip(
        (Q1, Q2, Q3), (("1.00", "2.00"), ("3.00", "4.00"), ("5.00", "6.00")), strict=True
    ):
        record(
            ledger,
            period,
            lines=[line("A", a, deal="DA"), line("B", b), line("A", "0.50", kind="baseline", deal=None)],
            standings=[standing("A", a, "Gold", "Silver"), standing("B", b)],
        )
    ledger.close_period(Q1)
    assert ledger.periods() == [("2026-Q1", "closed"), ("2026-Q2", "open"), ("2026-Q3", "open")]

    empty = ledger.history(Q1)
    assert dict(empty.tiers) == {} and dict(empty.lines) == {}

    history = ledger.history(Q3)
    assert history.tiers_of("A") == (
        TierRecord("2026-Q1", Decimal("1.00"), "Gold", "Silver"),
        TierRecord("2026-Q2", Decimal("3.00"), "Gold", "Silver"),
    )
    assert [(ln.period, ln.kind, ln.amount) for ln in history.lines_of("A")] == [
        ("2026-Q1", "commission", Decimal("1.00")),
        ("2026-Q1", "baseline", Decimal("0.50")),
        ("2026-Q2", "commission", Decimal("3.00")),
        ("2026-Q2", "baseline", Decimal("0.50")),
    ]
    assert history.lines_of("B")[0] == LedgerLine(
        period="2026-Q1",
        partner_id="B",
        kind="commission",
        amount=Decimal("2.00"),
        explanation="commission for B",
        deal_id="D1",
    )
    assert history.closed_periods == frozenset({"2026-Q1"})
    assert history.lines_of("nobody") == () and history.tiers_of("nobody") == ()
    assert [t.period for t in ledger.history(Q4).tiers_of("B")] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    with pytest.raises(TypeError):
        history.lines["C"] = ()  # type: ignore[index]  # read-only


# --------------------------------------------------------------------------------------------------
# runs and the outbox
# --------------------------------------------------------------------------------------------------


def test_a_history_asked_after_its_ledger_closed_is_refused_rather_than_opening_a_connection(
    ledger_url: str,
) -> None:
    # a connection taken after close belongs to no pool close empties: it would stay open until collected
    with Ledger.connect(ledger_url) as ledger:
        record(ledger, Q1, lines=[line("A", "1.00")], standings=[standing("A", "1.00")])
        history = ledger.history(Q2)
    with pytest.raises(RuntimeError, match="is closed"):
        history.tiers_of("A")


def test_finish_run_keeps_its_status_and_summary(ledger: Ledger) -> None:
    run_id = record(ledger)
    assert ledger.run(run_id) is not None
    assert ledger.run(run_id)["status"] == "computed"  # type: ignore[index]
    ledger.finish_run(run_id, "done", {"lines": 3, "total": Decimal("12.30"), "failures": []})
    run = ledger.run(run_id)
    assert run is not None
    assert run["status"] == "done" and run["finished_at"] and run["program"] == "Global Partner Program"
    assert run["summary"] == {"lines": 3, "total": Decimal("12.30"), "failures": []}
    assert str(run["summary"]["total"]) == "12.30"
    with pytest.raises(ValueError, match="no run"):
        ledger.finish_run(run_id + 100, "done")
    assert ledger.run(run_id + 100) is None


def test_writes_are_stored_pending_then_marked_done_or_failed(ledger: Ledger) -> None:
    writes = [write("D1"), write("D2", "20.00"), FieldWrite("account", "P1", {"tier": "Gold", "score": None})]
    run_id = record(ledger, writes=writes)
    pending = ledger.pending_writes(TARGET)
    assert [i.write for i in pending] == writes
    assert all(i.status == "pending" and i.run_id == run_id and i.target == TARGET for i in pending)
    assert [i.id for i in pending] == sorted(i.id for i in pending)
    assert ledger.pending_writes("other") == []

    ledger.mark_written([pending[0].id])
    ledger.mark_failed({pending[2].id: "FIELD_CUSTOM_VALIDATION_EXCEPTION: tier is locked"})
    assert [i.write.record_id for i in ledger.pending_writes(TARGET)] == ["D2"]
    by_id = {i.id: i for i in ledger.outbox(run_id)}
    assert by_id[pending[0].id].status == "done" and by_id[pending[0].id].error is None
    assert by_id[pending[2].id].status == "failed"
    assert by_id[pending[2].id].error == "FIELD_CUSTOM_VALIDATION_EXCEPTION: tier is locked"
    ledger.mark_written([])
    ledger.mark_failed({})


def test_a_new_run_supersedes_the_older_pending_writes_of_the_same_target(ledger: Ledger) -> None:
    first = record(ledger, writes=[write("D1"), write("D2")])
    done = ledger.pending_writes(TARGET)[0].id
    ledger.mark_written([done])
    other = record(ledger, writes=[write("D7")], target="salesforce:https://example.my.salesforce.com")
    third = record(ledger, writes=[write("D2", "25.00"), write("D3")])

    assert [(i.write.record_id, i.run_id) for i in ledger.pending_writes(TARGET)] == [
        ("D2", third),
        ("D3", third),
    ]
    assert [i.status for i in ledger.outbox(first)] == ["done", "superseded"]
    assert [i.status for i in ledger.outbox(other)] == ["pending"]
    assert [i.write.record_id for i in ledger.outbox()] == ["D1", "D2", "D7", "D2", "D3"]


def test_a_run_sending_what_it_just_stored_gets_the_items_its_rows_hold(ledger_url: str) -> None:
    with Ledger.connect(ledger_url) as ledger:
        writes = [
            write("D1"),
            write("D2", "20.00"),
            FieldWrite("account", "P1", {"tier": "Gold", "score": None}),
        ]
        first = record(ledger, writes=writes)
        assert ledger.pending_writes(TARGET, (first, writes)) == ledger.pending_writes(TARGET)
        record(ledger, writes=[write("D7")], target="salesforce:https://example.my.salesforce.com")
        assert ledger.pending_writes(TARGET, (first, writes)) == ledger.pending_writes(TARGET)

        # rows another run superseded, or the target confirmed meanwhile, are read as they are now
        ledger.mark_written([ledger.pending_writes(TARGET)[0].id])
        assert [i.write for i in ledger.pending_writes(TARGET, (first, writes))] == writes[1:]
        second = record(ledger, writes=[write("D3")])
        assert [(i.run_id, i.write) for i in ledger.pending_writes(TARGET, (first, writes))] == [
            (second, write("D3"))
        ]


CRASHER = """
import os, signal, sys
from decimal import Decimal
from cosell.connector import FieldWrite
from cosell.ledger import Ledger
from cosell.periods import Period
ledger = Ledger.connect(sys.argv[1])
writes = [FieldWrite("deal", f"D{i}", {"incentive": f"{i}.00"}) for i in range(6)]
run_id = ledger.record_run(period=Period.parse("2026-Q3"), program="p", connector="files", target="T",
                           lines=[], standings=[], projections=[], writes=writes)
items = ledger.pending_writes("T")
ledger.mark_written([items[0].id, items[3].id])   # the batches the target confirmed before the crash
print(run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_pending_writes_after_a_crash_are_exactly_the_unconfirmed_rows(ledger_url: str) -> None:
    with child_process(CRASHER, ledger_url) as child:
        run_id = int(read_line(child))
        assert child.wait(timeout=30) == -signal.SIGKILL
    with Ledger.connect(ledger_url) as ledger:
        pending = ledger.pending_writes("T")
        assert [i.write.record_id for i in pending] == ["D1", "D2", "D4", "D5"]
        assert [i.write.values for i in pending] == [{"incentive": f"{n}.00"} for n in (1, 2, 4, 5)]
        assert {i.run_id for i in pending} == {run_id}
        assert [i.status for i in ledger.outbox(run_id)] == [
            "done",
            "pending",
            "pending",
            "done",
            "pending",
            "pending",
        ]
        assert ledger.run(run_id)["status"] == "computed"  # type: ignore[index]  # never finished


# --------------------------------------------------------------------------------------------------
# one run at a time
# --------------------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from cosell.ledger import Ledger
ledger = Ledger.connect(sys.argv[1])
with ledger.hold_period(sys.argv[2], wait_seconds=float(sys.argv[4])):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
print("released", flush=True)
"""


def test_a_second_holder_gets_lock_held_error_naming_the_holding_process_and_the_lock_dies_with_it(
    ledger: Ledger, ledger_url: str
) -> None:
    with child_process(HOLDER, ledger_url, "2026-Q3", "120", "0") as holder:
        assert read_line(holder) == "held"
        started = time.monotonic()
        with (
            pytest.raises(LockHeldError, match="another run holds period 2026-Q3") as caught,
            ledger.hold_period("2026-Q3", wait_seconds=0.6),
        ):
            pytest.fail("the lock is held by the child")
        assert time.monotonic() - started >= 0.6
        assert caught.value.exit_code == 5
        # who holds it, so an operator can tell which scheduled run or colleague (on either ledger)
        assert f"(process {holder.pid}" in caught.value.message, caught.value.message
        with ledger.hold_period("2026-Q4", wait_seconds=0):  # other periods are free
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with ledger.hold_period("2026-Q3", wait_seconds=10):  # released by the kill
            pass


def test_a_second_holder_waits_for_the_first_to_finish(ledger: Ledger, ledger_url: str) -> None:
    with contextlib.ExitStack() as stack:
        with ledger.hold_period("2026-Q3", wait_seconds=0):
            child = stack.enter_context(child_process(HOLDER, ledger_url, "2026-Q3", "0", "20"))
            time.sleep(0.8)  # the child is polling now
        assert read_line(child) == "held"
        assert read_line(child) == "released"
        assert child.wait(timeout=30) == 0


def test_a_period_is_held_once_within_one_process_too(ledger: Ledger) -> None:
    with (
        ledger.hold_period("2026-Q3"),
        pytest.raises(LockHeldError),
        ledger.hold_period("2026-Q3", wait_seconds=0.2),
    ):
        pass
    with ledger.hold_period("2026-Q3", wait_seconds=0):  # released on exit
        pass
    with pytest.raises(PeriodError, match="not a period"), ledger.hold_period("../etc"):
        pass


def test_an_in_memory_ledger_holds_periods_with_a_process_local_lock() -> None:
    with Ledger.connect("sqlite://") as ledger:
        record(ledger, lines=[line("P1", "1.00")])
        assert [ln.amount for ln in ledger.lines("2026-Q3")] == [Decimal("1.00")]
        errors: list[BaseException] = []
        with ledger.hold_period("2026-Q3"):

            def second() -> None:
                try:
                    with ledger.hold_period("2026-Q3", wait_seconds=0.2):
                        pass
                except LockHeldError as exc:
                    errors.append(exc)

            thread = threading.Thread(target=second)
            thread.start()
            thread.join()
        assert len(errors) == 1


# --------------------------------------------------------------------------------------------------
# CRM snapshot and cursors
# --------------------------------------------------------------------------------------------------


def test_snapshot_upsert_delete_and_read_back(ledger: Ledger) -> None:
    payload = {
        "Amount": Decimal("1234567890123.4567"),
        "Rate": Decimal("0.10"),
        "CloseDate": date(2026, 9, 30),
        "SystemModstamp": datetime(2026, 9, 30, 12, 5, tzinfo=UTC),
        "IsWon": True,
        "Count": 3,
        "Name": "Zürich — deal",
        "Partners": [{"id": "P1", "share": Decimal("0.5")}],
        "Nothing": None,
    }
    ids = ["b", "a", "B", "10", "9", "é", "a-1"]
    assert ledger.snapshot_upsert(
        "salesforce", "Opportunity", ((i, payload | {"Id": i}) for i in ids)
    ) == len(ids)
    ledger.snapshot_upsert("salesforce", "Account", [("a", {"Name": "other object"})])
    ledger.snapshot_upsert("hubspot", "Opportunity", [("a", {"Name": "other connector"})])

    got = list(ledger.snapshot("salesforce", "Opportunity"))
    assert [rid for rid, _ in got] == sorted(ids)  # byte order on both backends
    assert got[0][1] == payload | {"Id": sorted(ids)[0]}
    assert str(got[0][1]["Rate"]) == "0.10" and str(got[0][1]["Amount"]) == "1234567890123.4567"
    assert isinstance(got[0][1]["CloseDate"], date) and got[0][1]["SystemModstamp"].tzinfo is not None

    assert (
        ledger.snapshot_upsert("salesforce", "Opportunity", [("a", {"Id": "a", "v": 2}), ("a", {"v": 3})])
        == 2
    )
    assert dict(ledger.snapshot("salesforce", "Opportunity"))["a"] == {"v": 3}
    assert ledger.snapshot_delete("salesforce", "Opportunity", ["a", "b", "missing"]) == 2
    assert [rid for rid, _ in ledger.snapshot("salesforce", "Opportunity")] == sorted(set(ids) - {"a", "b"})
    assert ledger.snapshot_count("salesforce", "Opportunity") == len(ids) - 2
    assert list(ledger.snapshot("salesforce", "Account")) == [("a", {"Name": "other object"})]
    assert list(ledger.snapshot("hubspot", "Opportunity")) == [("a", {"Name": "other connector"})]
    assert list(ledger.snapshot("files", "Opportunity")) == []


def test_snapshot_upsert_of_100000_records_inserts_then_updates_every_one(ledger: Ledger) -> None:
    """A hundred thousand records, then the same ids again: every one stored, then replaced. (How long it
    takes is a benchmark's figure, ``python bench/salesforce.py``, not a timed test's.)"""

    def records(version: int) -> Iterator[tuple[str, dict[str, Any]]]:
        for i in range(100_000):
            yield f"006{i:012d}", {"Amount": Decimal(f"{i}.25"), "StageName": "Proposal", "v": version}

    assert ledger.snapshot_upsert("salesforce", "Opportunity", records(1)) == 100_000
    assert ledger.snapshot_upsert("salesforce", "Opportunity", records(2)) == 100_000  # all updates
    seen = 0
    for n, (rid, payload) in enumerate(ledger.snapshot("salesforce", "Opportunity")):
        assert rid == f"006{n:012d}" and payload["v"] == 2 and payload["Amount"] == Decimal(f"{n}.25")
        seen += 1
    assert seen == 100_000


def test_sync_cursors_are_kept_per_connector_and_stream(ledger: Ledger) -> None:
    assert ledger.cursor("salesforce", "Opportunity") is None
    ledger.set_cursor("salesforce", "Opportunity", "2026-09-30T12:00:00.000+0000")
    ledger.set_cursor("salesforce", "Account", "2026-09-01T00:00:00.000+0000")
    ledger.set_cursor("hubspot", "Opportunity", "1759233600000")
    ledger.set_cursor("salesforce", "Opportunity", "2026-10-01T08:00:00.000+0000")
    assert ledger.cursor("salesforce", "Opportunity") == "2026-10-01T08:00:00.000+0000"
    assert ledger.cursor("salesforce", "Account") == "2026-09-01T00:00:00.000+0000"
    assert ledger.cursor("hubspot", "Opportunity") == "1759233600000"


def test_json_keeps_decimals_dates_and_datetimes_exact() -> None:
    value = {"a": Decimal("1E+3"), "b": [Decimal("-0.00")], "c": date(2026, 1, 2), "d": (1, "x")}
    text = encode_json(value)
    assert '{"$decimal":"1E+3"}' in text
    back = decode_json(text)
    assert back == {"a": Decimal("1E+3"), "b": [Decimal("-0.00")], "c": date(2026, 1, 2), "d": [1, "x"]}
    assert str(back["a"]) == "1E+3" and str(back["b"][0]) == "-0.00"
    # a text with no tagged object decodes as plain JSON; a "$" key that is not a tag stays a key
    assert decode_json('{"$note":"a","b":{"c":"$date"}}') == {"$note": "a", "b": {"c": "$date"}}
    assert decode_json('{"x":{"$note":"a"}}') == {"x": {"$note": "a"}}
    with pytest.raises(TypeError, match="cannot store"):
        encode_json({"x": object()})
    with pytest.raises(ValueError):
        encode_json({"x": float("nan")})


def test_a_large_run_is_written_and_read_in_order(ledger: Ledger) -> None:
    lines = [
        PayoutLine(f"P{i % 97}", "commission", from_cents(i * 7 - 1000), f"line {i}", f"D{i}")
        for i in range(12_345)
    ]
    record(ledger, lines=lines, writes=[write(f"D{i}") for i in range(12_345)])
    back = ledger.lines("2026-Q3")
    assert [(ln.partner_id, ln.amount, ln.explanation) for ln in back] == [
        (ln.partner_id, ln.amount, ln.explanation) for ln in lines
    ]
    assert [ln.deal_id for ln in ledger.lines("2026-Q3", "P5")] == [f"D{i}" for i in range(5, 12_345, 97)]
    assert len(ledger.pending_writes(TARGET)) == 12_345


def _lines_in_the_file_alone(path: Path, copy: Path) -> int:
    """The lines the SQLite file holds without its write-ahead log: what checkpoints copied into it."""
    shutil.copyfile(path, copy)
    with contextlib.closing(sqlite3.connect(copy)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return (
            db.execute("SELECT count(*) FROM cosell_lines").fetchone()[0] if "cosell_lines" in tables else 0
        )


def test_a_runs_commit_leaves_copying_its_rows_into_the_sqlite_file_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's commit does not wait for its rows to be copied from the write-ahead log into the file
    (seconds for a million rows): a thread does it after the commit, and the connection the run used
    checkpoints as before for the smaller transactions that follow."""
    path = tmp_path / "ledger.db"
    copying = threading.Event()
    checkpoint = ledger_module._checkpoint

    def held_checkpoint(at: Path) -> None:
        copying.wait(30)
        checkpoint(at)

    monkeypatch.setattr(ledger_module, "_checkpoint", held_checkpoint)
    lines = [line(f"P{i % 97}", "1.00", deal=f"D{i}") for i in range(20_000)]  # a log of over 1,000 pages
    with Ledger.connect(f"sqlite:///{path}") as ledger:
        record(ledger, lines=lines)
        assert _lines_in_the_file_alone(path, tmp_path / "before.db") == 0
        assert len(ledger.lines("2026-Q3")) == 20_000  # committed: in the log, read through it
        copying.set()
        ledger._wait_for_checkpoint()
        assert _lines_in_the_file_alone(path, tmp_path / "after.db") == 20_000
        with ledger._engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            assert driver.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)


def test_the_checkpoint_thread_never_creates_a_ledger_file(tmp_path: Path) -> None:
    ledger_module._checkpoint(tmp_path / "removed meanwhile.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 7])
def test_every_row_is_stored_exactly_whether_or_not_it_fills_a_whole_insert_statement(
    ledger: Ledger, ledger_url: str, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    # On SQLite, 24 parameters a statement: 3 projections (8 columns) or 2 lines (11 columns) each.
    monkeypatch.setattr(ledger_module, "_SQLITE_VARIABLES", 24)
    lines = [
        line(f"P{i}", str(from_cents(i * 101 - 150)), deal=None if i % 3 else f"D{i}", withheld=i % 2 == 1)
        for i in range(count)
    ]
    projections = [
        Projection(f"P{i}", f"O{i}", from_cents(i * 7), f"if won {i}", i % 2 == 0) for i in range(count)
    ]
    record(ledger, lines=lines, projections=projections)
    assert raw_rows(ledger_url, "cosell_lines") == [
        {
            "period": "2026-Q3",
            "seq": i,
            "partner_id": f"P{i}",
            "kind": "commission",
            "deal_id": None if i % 3 else f"D{i}",
            "amount_cents": i * 101 - 150,
            "explanation": f"commission for P{i}",
            "withheld": i % 2 == 1,
            "uncapped": False,
            "tags": "[]",
        }
        for i in range(count)
    ]
    assert raw_rows(ledger_url, "cosell_projections") == [
        {
            "period": "2026-Q3",
            "seq": i,
            "partner_id": f"P{i}",
            "deal_id": f"O{i}",
            "amount_cents": i * 7,
            "explanation": f"if won {i}",
            "withheld": i % 2 == 0,
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [0, 1, 4, 5, 9])
def test_columns_fixed_for_every_row_are_stored_as_if_each_row_gave_them(
    ledger: Ledger, ledger_url: str, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    # On SQLite, 20 parameters a statement: the 4 fixed ones once, then 4 rows of 4 columns each.
    monkeypatch.setattr(ledger_module, "_SQLITE_VARIABLES", 20)
    table = ledger_module.outbox_table
    given = [(7, "t", "deal", f"D{i}", f'{{"n":"{i}"}}', "{}", "pending", None) for i in range(count)]
    fixed = {"run_id": 8, "target": "u", "status": "done", "error": None}
    shared = [("deal", f"E{i}", f'{{"n":"{i}"}}', "{}") for i in range(count)]
    with ledger._write() as conn:
        ledger._bulk_insert(conn, table, given, skip=("id",))
        ledger._bulk_insert(conn, table, shared, skip=("id",), fixed=fixed)
    rows = raw_rows(ledger_url, "cosell_outbox", without=("id",))
    assert rows == [
        {"run_id": run_id, "target": target, "object": "deal", "record_id": f"{letter}{i}",
         "field_values": f'{{"n":"{i}"}}', "old_values": "{}", "status": status, "error": None}
        for letter, run_id, target, status in (("D", 7, "t", "pending"), ("E", 8, "u", "done"))
        for i in range(count)
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# schema and connection
# --------------------------------------------------------------------------------------------------


def test_the_schema_version_is_stored(ledger: Ledger, ledger_url: str) -> None:
    assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": ledger_module.schema_version()}]
    Ledger.connect(ledger_url).close()  # reopening a current ledger changes nothing
    assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": ledger_module.schema_version()}]


def test_a_ledger_with_a_future_schema_version_is_refused(ledger: Ledger, ledger_url: str) -> None:
    execute(ledger_url, "UPDATE cosell_schema SET version = 99")
    with pytest.raises(
        ConfigError, match=r"schema version 99, newer than this cosell knows \(\d+\)"
    ) as caught:
        Ledger.connect(ledger_url)
    assert caught.value.exit_code == 2
    assert "upgrade cosell" in str(caught.value)


def test_an_older_schema_is_migrated_in_order(
    ledger: Ledger, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(ledger, lines=[line("P1", "10.00")])
    ledger.close()
    calls: list[int] = []
    first, second = ledger_module.schema_version() + 1, ledger_module.schema_version() + 2

    def to_first(conn: sa.Connection) -> None:
        calls.append(first)
        conn.exec_driver_sql("CREATE TABLE cosell_extra (x INTEGER)")

    def to_second(conn: sa.Connection) -> None:
        calls.append(second)
        conn.exec_driver_sql(f"INSERT INTO cosell_extra (x) VALUES ({second})")

    monkeypatch.setattr(
        ledger_module, "MIGRATIONS", [*ledger_module.MIGRATIONS, (first, to_first), (second, to_second)]
    )
    with Ledger.connect(ledger_url) as migrated:
        assert calls == [first, second]
        assert [ln.amount for ln in migrated.lines("2026-Q3")] == [Decimal("10.00")]  # data kept
    assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": second}]
    assert raw_rows(ledger_url, "cosell_extra", without=()) == [{"x": second}]
    Ledger.connect(ledger_url).close()
    assert calls == [first, second]  # each migration runs once


def test_a_password_in_the_url_never_appears_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "CONNECT_RETRY_DELAYS", ())
    for url in (
        "postgresql://cosell:s3cr3t-pw@127.0.0.1:1/ledger",
        "postgresql+psycopg://cosell@127.0.0.1:1/ledger?password=s3cr3t-pw",
    ):
        with pytest.raises(UnreachableError) as caught:
            Ledger.connect(url)
        message = str(caught.value)
        assert "s3cr3t-pw" not in message and "s3cr3t-pw" not in repr(caught.value)
        assert caught.value.exit_code == 4
        assert "cannot reach the ledger at postgresql+psycopg://cosell" in message and "***" in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ConfigError) as bad:
        Ledger.connect("mysql://cosell:s3cr3t-pw@db/ledger")
    assert "s3cr3t-pw" not in str(bad.value) and "SQLite" in str(bad.value)
    with pytest.raises(ConfigError) as garbage:
        Ledger.connect("postgresql://cosell:s3cr3t-pw@db:notaport/ledger")
    assert "s3cr3t-pw" not in str(garbage.value)


@pytest.mark.postgres
def test_a_password_in_the_url_never_appears_in_ledger_url(postgres_url: str) -> None:
    # trust auth: the server ignores the password, so the ledger opens and shows its URL
    with_password = make_url(postgres_url).set(password="s3cr3t-pw").render_as_string(hide_password=False)
    with Ledger.connect(with_password) as ledger:
        assert "s3cr3t-pw" not in ledger.url and "s3cr3t-pw" not in repr(ledger)
        assert ledger.url.startswith("postgresql+psycopg://postgres:***@")


@pytest.mark.postgres
def test_a_postgresql_url_uses_the_psycopg_3_driver(postgres_url: str) -> None:
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with Ledger.connect(plain) as ledger:
        assert ledger.url.startswith("postgresql+psycopg://")
        record(ledger, lines=[line("P1", "1.00")])


def test_a_bad_ledger_url_is_a_config_error(tmp_path: Path) -> None:
    for url in ("not a url", "mysql://db/ledger", "postgresql+psycopg2://db/ledger"):
        with pytest.raises(ConfigError):
            Ledger.connect(url)
    with pytest.raises(ConfigError, match="does not exist"):
        Ledger.connect(f"sqlite:///{tmp_path}/missing/ledger.db")
    (tmp_path / "notes.txt").write_text("not a database, but long enough to have a header page\n" * 20)
    with pytest.raises(ConfigError, match="is not a SQLite database"):
        Ledger.connect(f"sqlite:///{tmp_path}/notes.txt")


def test_connect_uses_cosell_ledger_then_cosell_db_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSELL_LEDGER", raising=False)
    with Ledger.connect() as ledger:
        assert ledger.url == f"sqlite:///{tmp_path}/cosell.db"
    assert (tmp_path / "cosell.db").exists()
    monkeypatch.setenv("COSELL_LEDGER", f"sqlite:///{tmp_path}/team.db")
    with Ledger.connect() as ledger:
        record(ledger)
    assert (tmp_path / "team.db").exists()
    monkeypatch.setenv("COSELL_LEDGER", "sqlite:///relative.db")
    with Ledger.connect() as ledger:  # resolved once, at connect
        assert ledger.url == f"sqlite:///{tmp_path}/relative.db"


def test_outbox_items_are_plain_values(ledger: Ledger) -> None:
    record(ledger, writes=[write("D1")])
    (item,) = ledger.outbox()
    assert isinstance(item, OutboxItem)
    assert item.write == FieldWrite(
        "deal", "D1", {"incentive": "10.00", "incentive_status": "Earned"}, {"incentive": None}
    )
    with pytest.raises(AttributeError):
        item.status = "done"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# the generation: overlapping runs of different periods
# --------------------------------------------------------------------------------------------------


def test_record_run_refuses_to_store_when_another_run_stored_since_its_history_was_read(
    ledger: Ledger,
) -> None:
    record(ledger, Q3, lines=[line("P1", "100.00")])
    read_at = ledger.generation()
    record(ledger, Q3, lines=[line("P1", "120.00")])  # a rerun of Q3 lands while Q4 computes
    with pytest.raises(
        LockHeldError, match="the ledger changed while this run of 2026-Q4 computed"
    ) as caught:
        ledger.record_run(
            period=Q4,
            program="p",
            connector="files",
            target=TARGET,
            lines=[line("P1", "-100.00", kind="clawback")],
            standings=[],
            projections=[],
            writes=[write("D1")],
            generation=read_at,
        )
    assert caught.value.exit_code == 5
    assert ledger.periods() == [("2026-Q3", "open")] and ledger.lines("2026-Q4") == []
    assert [item.run_id for item in ledger.outbox()] == []
    now = ledger.generation()
    ledger.record_run(
        period=Q4,
        program="p",
        connector="files",
        target=TARGET,
        lines=[],
        standings=[],
        projections=[],
        writes=[],
        generation=now,
    )
    assert ledger.generation() == now + 1


def _rerun_of_q3_at(ledger: Ledger, generation: int) -> PeriodError:
    with pytest.raises(PeriodError) as caught:
        ledger.record_run(
            period=Q3,
            program="p",
            connector="files",
            target=TARGET,
            lines=[line("P1", "120.00")],
            standings=[],
            projections=[],
            writes=[write("D1")],
            generation=generation,
        )
    return caught.value


def test_a_run_refused_because_its_period_was_closed_meanwhile_says_so_and_exits_2_not_run_again(
    ledger: Ledger,
) -> None:
    record(ledger, Q3, lines=[line("P1", "100.00")])
    read_at = ledger.generation()
    ledger.close_period(Q3)
    refused = _rerun_of_q3_at(ledger, read_at)
    assert "period 2026-Q3 was closed" in refused.message and "nothing stored" in refused.message
    assert refused.hint == "run 2026-Q4 or later"
    assert refused.exit_code == 2  # not 5: running it again would be refused too, so a retry loop stops


def test_a_run_refused_because_a_later_period_was_stored_meanwhile_says_to_run_that_one_and_exits_2(
    ledger: Ledger,
) -> None:
    record(ledger, Q3, lines=[line("P1", "100.00")])
    read_at = ledger.generation()
    record(ledger, Q4, lines=[line("P1", "10.00")])
    refused = _rerun_of_q3_at(ledger, read_at)
    assert "older than 2026-Q4" in refused.message and refused.hint == "run 2026-Q4 or later"
    assert refused.exit_code == 2


def test_closing_a_period_moves_the_generation_once(ledger: Ledger) -> None:
    record(ledger, Q3)
    before = ledger.generation()
    ledger.close_period(Q3)
    ledger.close_period(Q3)  # idempotent: nothing changes the second time
    assert ledger.generation() == before + 1


def test_a_version_1_ledger_is_migrated_to_the_generation_counter_keeping_its_data(ledger_url: str) -> None:
    # A version-1 ledger as the code before the generation counter made it: the same tables, less
    # cosell_generation, at version 1.
    with Ledger.connect(ledger_url) as made:
        record(made, Q3, lines=[line("P1", "10.00")])
    as_made_by_version(ledger_url, 1)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": ledger_module.schema_version()}]
        assert migrated.generation() == 0
        assert [ln.amount for ln in migrated.lines("2026-Q3")] == [Decimal("10.00")]
        record(migrated, Q4)
        assert migrated.generation() == 1


def test_the_accounts_a_target_was_planned_writes_for_are_found_whatever_became_of_the_rows(
    ledger: Ledger,
) -> None:
    first = record(ledger, writes=[FieldWrite("account", "P1", {"tier": "Gold"}), write("D1")])
    ledger.mark_written([ledger.outbox(first)[0].id])
    record(ledger, writes=[FieldWrite("account", "P2", {"tier": "Silver"})])  # left pending
    record(ledger, writes=[FieldWrite("account", "P3", {"tier": "Gold"})])  # supersedes P2's row
    record(ledger, writes=[FieldWrite("account", "X9", {"tier": "Gold"})], target="files:/tmp/other")
    assert ledger.planned_account_ids(TARGET) == {"P1", "P2", "P3"}
    assert ledger.planned_account_ids("files:/tmp/none") == set()


def test_the_deals_a_period_projects_are_found_once_each(ledger: Ledger) -> None:
    record(
        ledger,
        projections=[
            Projection("P1", "D1", Decimal("10"), "if won"),
            Projection("P2", "D1", Decimal("5"), "if won"),
            Projection("P1", "D2", Decimal("0"), "withheld: discount", withheld=True),
        ],
    )
    assert ledger.projected_deal_ids(Q3.key) == {"D1", "D2"}
    assert ledger.projected_deal_ids("2026-Q4") == set()


def test_the_deals_a_periods_lines_of_some_kinds_pay_are_found_once_each(ledger: Ledger) -> None:
    record(
        ledger,
        lines=[
            line("P1", "10", deal="D1"),
            line("P2", "5", deal="D1"),
            line("P1", "-10", kind="clawback", deal="D2"),
            line("P1", "3", kind="bonus", deal="D3"),
            line("P1", "7", kind="commission", deal=None),
        ],
    )
    assert ledger.paid_deal_ids(Q3.key, ["commission", "clawback"]) == {"D1", "D2"}
    assert ledger.paid_deal_ids(Q3.key, []) == set()
    assert ledger.paid_deal_ids("2026-Q4", ["commission"]) == set()


def test_the_deals_a_targets_latest_run_did_not_see_written_are_found_unless_it_finished(
    ledger: Ledger,
) -> None:
    first = record(ledger, writes=[write("D1"), write("D2"), FieldWrite("account", "P1", {"tier": "Gold"})])
    ledger.mark_written([ledger.outbox(first)[0].id])
    ledger.mark_failed({ledger.outbox(first)[1].id: "refused"})
    # not finished (or stopped before it finished): the refused D2 counts, the confirmed D1 does not
    assert ledger.unconfirmed_deal_ids(TARGET) == {"D2"}
    ledger.finish_run(first, "failed")
    assert ledger.unconfirmed_deal_ids(TARGET) == {"D2"}
    second = record(ledger, writes=[write("D3"), write("D4")])  # killed while sending: left pending
    ledger.mark_written([ledger.outbox(second)[0].id])
    assert ledger.unconfirmed_deal_ids(TARGET) == {"D4"}  # the latest run's only
    assert ledger.unconfirmed_deal_ids("files:/tmp/other") == set()
    ledger.mark_written([ledger.outbox(second)[1].id])
    ledger.finish_run(second, "done")
    assert ledger.unconfirmed_deal_ids(TARGET) == set()


def test_the_unconfirmed_deals_of_a_targets_latest_run_tell_which_writes_cleared_every_field(
    ledger: Ledger,
) -> None:
    cleared = {"incentive": None, "incentive_status": None, "incentive_note": None}
    old = {"incentive": "10.00", "incentive_status": "Earned", "incentive_note": "x"}
    first = record(ledger, writes=[write("D1"), FieldWrite("deal", "D2", cleared, old)])
    assert ledger.unconfirmed_deals(TARGET) == {"D1": False, "D2": True}  # killed before sending
    # the next run's store supersedes them: only its own rows tell, a clear it plans again among them
    record(ledger, writes=[FieldWrite("deal", "D2", {"incentive_status": None}, old)])
    assert ledger.unconfirmed_deals(TARGET) == {"D2": True}
    assert ledger.unconfirmed_deal_ids(TARGET) == {"D2"}
    assert [row.status for row in ledger.outbox(first)] == ["superseded", "superseded"]


def test_a_version_8_ledger_gets_the_outbox_accounts_index_keeping_its_rows(ledger_url: str) -> None:
    with Ledger.connect(ledger_url) as made:
        record(made, Q3, writes=[FieldWrite("account", "P1", {"tier": "Gold"}), write("D1")])
    as_made_by_version(ledger_url, 8)
    assert "cosell_outbox_accounts" not in outbox_indexes(ledger_url)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": ledger_module.schema_version()}]
        assert migrated.planned_account_ids(TARGET) == {"P1"}
    assert "cosell_outbox_accounts" in outbox_indexes(ledger_url)


def outbox_indexes(url: str) -> set[str]:
    engine = sa.create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {str(i["name"]) for i in sa.inspect(conn).get_indexes("cosell_outbox")}
    finally:
        engine.dispose()


def test_a_version_2_ledger_is_migrated_to_recorded_statement_data_keeping_its_data(ledger_url: str) -> None:
    # A version-2 ledger as the code before version 3 made it: the same tables, less the two statement
    # tables, at version 2; its runs recorded no statement data.
    with Ledger.connect(ledger_url) as made:
        record(made, Q3, lines=[line("P1", "10.00")])
    as_made_by_version(ledger_url, 2)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": ledger_module.schema_version()}]
        assert [ln.amount for ln in migrated.lines("2026-Q3")] == [Decimal("10.00")]
        assert migrated.statement_data("2026-Q3") is None  # the old run recorded none: "not recorded"
        migrated.record_run(
            period=Q4,
            program="Global Partner Program",
            connector="files",
            target=TARGET,
            lines=[],
            standings=[],
            projections=[],
            writes=[],
            statement=('{"program": "x"}', {"P1": '{"parts": []}'}),
        )
        assert migrated.statement_data("2026-Q4") == ('{"program": "x"}', {"P1": '{"parts": []}'})
        assert migrated.statement_data("2026-Q3") is None


def test_a_ledger_opened_without_create_writes_nothing_until_its_first_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    with Ledger.connect(url, create=False) as ledger:
        assert not ledger.exists
        assert ledger.periods() == [] and ledger.history(Q3).lines == {} and ledger.generation() == 0
        with ledger.hold_period("2026-Q3"):
            assert list(tmp_path.iterdir()) == []
            record(ledger, Q3, lines=[line("P1", "1.00")])
            assert ledger.exists
            assert (tmp_path / "new.db.2026-Q3.lock").exists()
            with (
                Ledger.connect(url) as other,
                pytest.raises(LockHeldError),  # the deferred lock is held
                other.hold_period("2026-Q3", wait_seconds=0.1),
            ):
                pass
    with Ledger.connect(url) as reopened:
        assert [ln.amount for ln in reopened.lines("2026-Q3")] == [Decimal("1.00")]


# --------------------------------------------------------------------------------------------------
# runs that did not finish
# --------------------------------------------------------------------------------------------------


def test_runs_left_computed_by_a_dead_process_are_marked_interrupted(ledger: Ledger, ledger_url: str) -> None:
    killed = record(ledger, Q3)  # recorded, then the process died before finish_run
    done = record(ledger, Q4)
    ledger.finish_run(done, "done")
    with Ledger.connect(ledger_url) as other, other.hold_period("2026-Q4"):
        still_running = record(other, Q4)  # another process's run of Q4, holding its lock
        with ledger.hold_period("2027-Q1"):
            assert ledger.mark_interrupted_runs("2027-Q1") == [killed]
    assert [ledger.run(i)["status"] for i in (killed, done, still_running)] == [  # type: ignore[index]
        "interrupted",
        "done",
        "computed",
    ]
