"""Run records and discards in the ledger (schema version 5): what each run computed with, kept per run;
a discard removes the latest open period's results under the run's lock and keeps what it removed.
Both backends (``ledger_url``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal

import pytest
from test_ledger import raw_rows

from cosell.errors import LockHeldError, PeriodError
from cosell.fields import FieldWrite
from cosell.ledger import Ledger, schema_version
from cosell.periods import Period
from cosell.results import PayoutLine, adjustment_tag
from cosell.runrecords import PluginVersion, RunProvenance
from ledgers import as_made_by_version

Q2, Q3, Q4 = (Period.parse(f"2026-Q{q}") for q in (2, 3, 4))
TARGET = "files:/tmp/out"
PROGRAM = "program: Global Partner Program\nperiod: 2026-Q3\n"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def provenance(text: str = PROGRAM, **earnings: str) -> RunProvenance:
    return RunProvenance(
        program_text=text,
        program_sha256=hashlib.sha256(text.encode()).hexdigest(),
        cosell_version="0.1.0",
        plugins=(PluginVersion("commission", "cosell", "0.1.0"), PluginVersion("hand-made", None, None)),
        records_digest="ab" * 32,
        earnings={pid: Decimal(v) for pid, v in earnings.items()},
    )


def store(
    ledger: Ledger,
    period: Period,
    *lines: PayoutLine,
    run: RunProvenance | None = None,
    writes: tuple[FieldWrite, ...] = (),
) -> int:
    return ledger.record_run(
        period=period,
        program="Global Partner Program",
        connector="files",
        target=TARGET,
        lines=lines,
        standings=[],
        projections=[],
        writes=writes,
        adjustments=[int(t.split(":")[1]) for ln in lines for t in ln.tags if t.startswith("adjustment-id:")],
        provenance=run,
    )


def line(partner: str, amount: str, kind: str = "commission") -> PayoutLine:
    return PayoutLine(partner, kind, Decimal(amount), f"{kind} {amount}")


def test_a_version_1_ledger_is_migrated_to_run_records_its_old_runs_not_recorded(ledger_url: str) -> None:
    with Ledger.connect(ledger_url) as made:
        old = store(made, Q3, line("P1", "10.00"))
    as_made_by_version(ledger_url, 1)
    with Ledger.connect(ledger_url) as migrated:
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]
        assert [ln.amount for ln in migrated.lines("2026-Q3")] == [Decimal("10.00")]
        (before,) = migrated.runs()
        assert (before.id, before.period, before.provenance) == (old, "2026-Q3", None)
        assert migrated.latest_period_with_lines() == "2026-Q3"
        new = store(migrated, Q4, line("P1", "5.00"), run=provenance(P1="5.00"))
        stored = migrated.stored_run(new)
        assert stored is not None and stored.provenance == provenance(P1="5.00")
        assert migrated.program_digests() == {old: None, new: provenance().program_sha256}


def test_a_version_7_ledger_gets_the_variants_table_its_pilot_runs_without_one(ledger_url: str) -> None:
    from dataclasses import replace

    piloted = replace(
        provenance(P1="10.00"), variant_source="variant.yaml", variant_text="v", variant_sha256="e" * 64
    )
    with Ledger.connect(ledger_url) as made:
        store(made, Q3, line("P1", "10.00"), run=piloted)
    as_made_by_version(ledger_url, 7)
    with Ledger.connect(ledger_url) as migrated:
        (before,) = migrated.runs()
        assert before.provenance is not None and before.provenance.variant_text is None
        after = migrated.stored_run(store(migrated, Q4, line("P1", "5.00"), run=piloted))
        assert after is not None and after.provenance == piloted
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]


def test_a_run_keeps_its_program_text_versions_digest_and_earnings_after_a_rerun_replaces_its_lines(
    ledger: Ledger,
) -> None:
    text = "\ufeffprogram: Ünïcode Program\r\nperiod: 2026-Q3\r\n"  # kept exactly: BOM, CRLF, non-ASCII
    first = store(ledger, Q3, line("P1", "10.00"), run=provenance(text, P1="10.00", P2="0.00"))
    second = store(ledger, Q3, line("P1", "12.00"), run=provenance(P1="12.00"))
    runs = ledger.runs("2026-Q3")
    assert [r.id for r in runs] == [first, second]
    kept = runs[0].provenance
    assert kept is not None and kept.program_text == text
    assert kept.program_sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert dict(kept.earnings) == {"P1": Decimal("10.00"), "P2": Decimal("0.00")}
    assert kept.plugins == (
        PluginVersion("commission", "cosell", "0.1.0"),
        PluginVersion("hand-made", None, None),
    )
    latest = ledger.latest_run("2026-Q3")
    assert latest is not None and latest.id == second


def test_discard_removes_the_latest_open_periods_results_and_keeps_what_it_removed(ledger: Ledger) -> None:
    store(ledger, Q2, line("P1", "1.00"))
    write = FieldWrite(
        object="account", record_id="A1", values={"cosell_tier": "Gold"}, old={"cosell_tier": None}
    )
    run = store(
        ledger, Q3, line("P1", "10.00"), line("P1", "-2.50", "cap"), line("P2", "7.00"), writes=(write,)
    )
    generation = ledger.generation()
    discard = ledger.discard_period(Q3, by="ann", reason="backfill Q1 first")
    assert (discard.period, discard.run_id, discard.by, discard.reason) == (
        "2026-Q3",
        run,
        "ann",
        "backfill Q1 first",
    )
    assert discard.line_count == 3
    assert dict(discard.partners) == {"P1": (2, Decimal("7.50")), "P2": (1, Decimal("7.00"))}
    assert discard.total == Decimal("14.50") and discard.superseded_writes == 1
    assert ledger.lines("2026-Q3") == [] and ledger.standings("2026-Q3") == []
    assert ledger.statement_data("2026-Q3") is None
    assert [item.status for item in ledger.outbox(run)] == ["superseded"]  # never sent afterwards
    assert ledger.pending_writes(TARGET) == []
    assert ledger.generation() == generation + 1
    assert ledger.period_status("2026-Q3") is None and ledger.latest_period_with_lines() == "2026-Q2"
    assert [r.id for r in ledger.runs("2026-Q3")] == [run]  # the run itself stays, for the audit
    assert ledger.discards() == [discard]


def test_after_a_discard_an_earlier_period_runs_and_then_the_discarded_one_again(ledger: Ledger) -> None:
    store(ledger, Q4, line("P1", "10.00"))
    with pytest.raises(PeriodError, match="older than 2026-Q4"):
        ledger.check_runnable(Q3)
    ledger.discard_period(Q4, by="ann", reason="run 2026-Q3 first")
    ledger.check_runnable(Q3)
    store(ledger, Q3, line("P1", "3.00"))
    store(ledger, Q4, line("P1", "11.00"))
    assert ledger.period_status("2026-Q4") == "open" and ledger.latest_period_with_lines() == "2026-Q4"
    assert [ln.amount for ln in ledger.history(Q4).lines_of("P1")] == [Decimal("3.00")]
    ledger.close_period(Q4)
    assert ledger.period_status("2026-Q4") == "closed"


def test_discard_refuses_a_closed_period_an_earlier_one_and_one_never_run_changing_nothing(
    ledger: Ledger,
) -> None:
    store(ledger, Q2, line("P1", "1.00"))
    ledger.close_period(Q2)
    with pytest.raises(
        PeriodError, match=r"2026-Q2 was closed on .*never rewritten, nor discarded"
    ) as closed:
        ledger.discard_period(Q2, by="ann", reason="r")
    assert closed.value.exit_code == 2
    store(ledger, Q3, line("P1", "2.00"))
    store(ledger, Q4, line("P1", "3.00"))
    with pytest.raises(PeriodError, match=r"2026-Q3 is not the ledger's latest period \(2026-Q4\)"):
        ledger.discard_period(Q3, by="ann", reason="r")
    with pytest.raises(PeriodError, match="2026-Q1 has no run"):
        ledger.discard_period(Period.parse("2026-Q1"), by="ann", reason="r")
    ledger.discard_period(Q4, by="ann", reason="r")
    with pytest.raises(PeriodError, match="already discarded"):
        ledger.discard_period(Q4, by="ann", reason="r")
    with pytest.raises(PeriodError, match="discarded"):
        ledger.close_period(Q4)
    assert [ln.amount for ln in ledger.lines("2026-Q3")] == [Decimal("2.00")]
    assert len(ledger.discards()) == 1


def test_adjustments_the_discarded_run_paid_go_back_to_approved_with_an_unapplied_event(
    ledger: Ledger,
) -> None:
    adjustment = ledger.propose_adjustment(
        partner_id="P1", amount=Decimal("250.00"), reason="rebate", by="ann"
    ).id
    ledger.approve_adjustment(adjustment, by="bob")
    paid = PayoutLine(
        "P1", "adjustment", Decimal("250.00"), "paid", tags=frozenset({adjustment_tag(adjustment)})
    )
    run = store(ledger, Q3, paid)
    discard = ledger.discard_period(Q3, by="carol", reason="wrong input")
    assert discard.unapplied == (adjustment,)
    (stored,) = ledger.adjustments()
    assert (stored.state, stored.applied_period, stored.applied_run) == ("approved", None, None)
    event = ledger.adjustment_events(adjustment)[-1]
    assert (event.action, event.actor, event.run_id) == ("unapplied", "carol", run)
    assert event.reason == "the results of 2026-Q3 were discarded: wrong input"
    assert [a.id for a in ledger.history(Q3).adjustments] == [adjustment]  # due at the next run


def test_discard_takes_the_periods_lock_as_a_run_does(ledger: Ledger) -> None:
    store(ledger, Q3, line("P1", "1.00"))
    with (
        ledger.hold_period("2026-Q3"),
        pytest.raises(LockHeldError, match="another run holds period 2026-Q3"),
    ):
        ledger.discard_period(Q3, by="ann", reason="r", wait_seconds=0)
    assert len(ledger.lines("2026-Q3")) == 1


def store_read(ledger: Ledger, period: Period, crm_tiers: dict[str, str | None]) -> int:
    return ledger.record_run(
        period=period, program="Global Partner Program", connector="files", target=TARGET, lines=[],
        standings=[], projections=[], writes=[], crm_tiers=crm_tiers,
    )  # fmt: skip


def test_a_partners_crm_tier_is_kept_as_first_read_through_reruns_and_discards(ledger: Ledger) -> None:
    store_read(ledger, Q3, {"P1": "Registered", "P2": None})
    store_read(ledger, Q3, {"P1": "Gold", "P2": "Silver", "P3": "Silver"})  # what cosell wrote, and a new one
    assert ledger.crm_tiers() == {"P1": "Registered", "P2": None, "P3": "Silver"}

    ledger.discard_period(Q3, by="ann", reason="run 2026-Q2 first")
    store_read(ledger, Q2, {"P1": "Gold", "P2": "Gold", "P3": "Gold", "P4": None})

    assert ledger.crm_tiers() == {"P1": "Registered", "P2": None, "P3": "Silver", "P4": None}
    assert ledger.history(Q3).crm_tiers == ledger.crm_tiers()  # with an earlier period, and without
    assert ledger.history(Q2).crm_tiers == ledger.crm_tiers()


def test_a_version_10_ledger_is_migrated_to_crm_tiers_its_partners_first_read_by_the_next_run(
    ledger_url: str,
) -> None:
    with Ledger.connect(ledger_url) as made:
        store_read(made, Q3, {"P1": "Registered"})
    as_made_by_version(ledger_url, 10)
    with Ledger.connect(ledger_url) as migrated:
        assert migrated.crm_tiers() == {}
        store_read(migrated, Q3, {"P1": "Gold"})
        assert migrated.crm_tiers() == {"P1": "Gold"}
        assert raw_rows(ledger_url, "cosell_schema") == [{"id": 1, "version": schema_version()}]
