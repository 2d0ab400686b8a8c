"""The whole run against a real ledger and the CSV connector: nothing written on failure, resumable
write-back, tier history across periods."""

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cosell import hookimpl
from cosell.computation import Silent
from cosell.connector import ClaimLeftOut
from cosell.connectors.files import FilesConnector
from cosell.engine import run
from cosell.errors import PluginError
from cosell.ledger import Ledger
from cosell.outbox import write_pending
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.program import load_program

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    return tmp_path


@pytest.fixture
def ledger(folder):
    with Ledger.connect(f"sqlite:///{folder / 'ledger.db'}") as book:
        yield book


def example():
    return load_program(ROOT / "examples" / "program.yaml")


class Exploding:
    @hookimpl
    def cosell_payout_lines(self, partner):
        if partner.id == "P004":
            raise ValueError("no rate for Tailspin")


def test_a_plugin_that_raises_stops_the_run_naming_it_and_nothing_is_written(folder, ledger):
    plugins = Plugins(entry_points=False, extra={"exploding": Exploding()})
    connector = FilesConnector(folder / "data", folder / "out")
    with pytest.raises(PluginError) as info:
        run(example(), connector, ledger, plugins)
    assert "plugin 'exploding'" in str(info.value) and "no rate for Tailspin" in str(info.value)
    assert ledger.period_status("2026-Q3") is None and ledger.lines("2026-Q3") == []
    assert not (folder / "out").exists()


class CrashAfterFirstBatch(FilesConnector):
    """Writes one batch, then dies as a killed process would (before the next batch is confirmed)."""

    write_batch_size = 4

    def __init__(self, *args, crash_after=1):
        super().__init__(*args)
        self.calls = 0
        self.crash_after = crash_after

    def write(self, writes):
        if self.calls >= self.crash_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        return super().write(writes)


class Counting(FilesConnector):
    write_batch_size = 4

    def __init__(self, *args):
        super().__init__(*args)
        self.sent = []

    def write(self, writes):
        self.sent.extend(w.key for w in writes)
        return super().write(writes)


def test_write_back_interrupted_between_two_writes_resumes_with_only_what_is_left(folder, ledger):
    plugins = Plugins(entry_points=False)
    crashing = CrashAfterFirstBatch(folder / "data", folder / "out")
    with pytest.raises(KeyboardInterrupt):
        run(example(), crashing, ledger, plugins)
    pending = ledger.pending_writes(crashing.target)
    total = len(ledger.outbox())
    assert 0 < len(pending) == total - 4  # the first batch of 4 was confirmed

    resumed = Counting(folder / "data", folder / "out")
    report = run(example(), resumed, ledger, plugins)
    assert len(resumed.sent) == len(pending)  # nothing of the first batch is sent again
    assert report.written == len(pending)

    # The end state equals an uninterrupted run's.
    shutil.copytree(folder / "data", folder / "clean")
    with Ledger.connect(f"sqlite:///{folder / 'clean.db'}") as clean_ledger:
        run(example(), FilesConnector(folder / "clean", folder / "clean_out"), clean_ledger, plugins)
    for name in ("accounts.csv", "deals.csv"):
        assert (folder / "out" / name).read_text() == (folder / "clean_out" / name).read_text()


def test_a_batch_that_landed_before_the_crash_is_not_sent_twice(folder, ledger):
    """The crash comes after the target took the batch but before the ledger marked it done."""
    plugins = Plugins(entry_points=False)

    class LandsThenDies(FilesConnector):
        write_batch_size = 1000

        def write(self, writes):
            super().write(writes)
            raise KeyboardInterrupt("killed after the write landed")

    dying = LandsThenDies(folder / "data", folder / "out")
    with pytest.raises(KeyboardInterrupt):
        run(example(), dying, ledger, plugins)
    assert ledger.pending_writes(dying.target)
    again = Counting(folder / "data", folder / "out")
    report = run(example(), again, ledger, plugins)
    assert again.sent == [] and report.written == 0
    assert ledger.pending_writes(dying.target) == []


def test_demotion_grace_across_two_periods_through_the_ledger(folder, ledger):
    """Contoso is Gold in Q3; with no new deals it scores low in Q4 (kept Gold: grace 1) and drops in 2027-Q1."""
    plugins = Plugins(entry_points=False)
    program = example()

    def tier_of(period):
        run(
            program,
            FilesConnector(folder / "data", folder / "out"),
            ledger,
            plugins,
            period=Period.parse(period),
        )
        return next(s for s in ledger.standings(period) if s.partner_id == "P002")

    q3 = tier_of("2026-Q3")
    assert (q3.eligible, q3.assigned) == ("Gold", "Gold")
    q4 = tier_of("2026-Q4")
    assert q4.eligible != "Gold" and q4.assigned == "Gold"
    q1 = tier_of("2027-Q1")
    assert q1.assigned == q1.eligible != "Gold"


def test_older_period_than_the_latest_with_lines_is_refused(folder, ledger):
    from cosell.errors import PeriodError

    plugins = Plugins(entry_points=False)
    run(
        example(),
        FilesConnector(folder / "data", folder / "out"),
        ledger,
        plugins,
        period=Period.parse("2026-Q4"),
    )
    with pytest.raises(PeriodError):
        run(
            example(),
            FilesConnector(folder / "data", folder / "out"),
            ledger,
            plugins,
            period=Period.parse("2026-Q3"),
        )


def test_commission_of_a_closed_period_is_paid_once_in_the_next(folder, ledger):
    """A deal won in Q3 after Q3 was run and closed... lands in Q4 once, and not again in 2027-Q1."""
    plugins = Plugins(entry_points=False)
    program = example()
    run(program, FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    ledger.close_period(Period.parse("2026-Q3"))
    deals = (folder / "data" / "deals.csv").read_text()
    deals += "D9001,Late entry,10000,USD,Closed Won,won,2026-07-01,2026-09-29,,,,,P003,sourced,\n"
    (folder / "data" / "deals.csv").write_text(deals)
    run(
        program,
        FilesConnector(folder / "data", folder / "out"),
        ledger,
        plugins,
        period=Period.parse("2026-Q4"),
    )
    late = [line for line in ledger.lines("2026-Q4", "P003") if line.deal_id == "D9001"]
    assert len(late) == 1 and late[0].amount == Decimal("800.00")  # Silver 8% (Q4 tier)
    run(
        program,
        FilesConnector(folder / "data", folder / "out"),
        ledger,
        plugins,
        period=Period.parse("2027-Q1"),
    )
    assert [line for line in ledger.lines("2027-Q1", "P003") if line.deal_id == "D9001"] == []


def test_a_run_sends_its_own_writes_without_asking_the_target_again_and_a_resume_asks(folder, ledger):
    plugins = Plugins(entry_points=False)

    class Asked(FilesConnector):
        asked = 0

        def current_values(self, keys):
            Asked.asked += 1
            return super().current_values(keys)

    first = Asked(folder / "data", folder / "out")
    report = run(example(), first, ledger, plugins)
    assert report.written > 0 and Asked.asked == 1  # planning the writes, not again to send them
    assert ledger.pending_writes(first.target) == []
    # Rows left pending by a run that died are checked against the target before they are sent.
    ledger.record_run(
        period=Period.parse("2026-Q3"), program="p", connector="files", target=first.target, lines=(),
        standings=(), projections=(), writes=[ledger.outbox()[0].write],
    )  # fmt: skip
    Asked.asked = 0
    written, failures = write_pending(first, ledger, first.target, Silent())
    assert (written, failures, Asked.asked) == (0, [], 1)  # it had landed: marked done, not sent
    assert ledger.pending_writes(first.target) == []


def test_a_won_deal_that_left_the_input_is_cleared_when_the_run_clearing_it_was_killed_before_writing_back(
    folder, ledger
):
    """Run 2 stores a full clear of a won deal run 1 paid, then dies before the target took it; run 3
    must still clear the deal's Earned, though its paid set (run 2's lines) no longer names the deal."""
    plugins = Plugins(entry_points=False)

    def deal_row(deal_id):
        rows = (folder / "out" / "deals.csv").read_text().splitlines()
        return next(row for row in rows if row.startswith(deal_id + ","))

    run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    assert ",Earned," in deal_row("D1001")
    for name in ("deals", "deal_partners", "activities"):
        path = folder / "data" / f"{name}.csv"
        path.write_text("".join(r for r in path.read_text().splitlines(True) if "D1001" not in r))

    class DiesBeforeWriting(FilesConnector):
        def write(self, writes):
            raise KeyboardInterrupt("killed after storing, before the write-back")

    with pytest.raises(KeyboardInterrupt):
        run(example(), DiesBeforeWriting(folder / "data", folder / "out"), ledger, plugins)
    assert ",Earned," in deal_row("D1001")  # nothing written yet

    run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    assert deal_row("D1001") == "D1001,,,"
    dry = run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins, dry_run=True)
    assert dry.changes == ()


def _without_partner(folder, partner_id):
    """The input as a CRM gives it once the partner is no partner any more: its row gone, and the deals,
    activities and involvements that named it naming no partner."""
    data = folder / "data"
    partners = data / "partners.csv"
    partners.write_text(
        "".join(r for r in partners.read_text().splitlines(True) if not r.startswith(f"{partner_id},"))
    )
    for name in ("deal_partners", "activities"):
        path = data / f"{name}.csv"
        path.write_text("".join(r for r in path.read_text().splitlines(True) if f",{partner_id}," not in r))
    deals = data / "deals.csv"
    deals.write_text(deals.read_text().replace(f",{partner_id},sourced,", ",,,"))


def test_a_rerun_that_no_longer_reads_a_partner_names_the_money_its_lines_paid_in_the_period(folder, ledger):
    plugins = Plugins(entry_points=False)
    first = run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    earned = next(row["earnings"] for row in first.partners if row["id"] == "P003")
    paid = sum((line.amount for line in ledger.lines("2026-Q3", "P003")), Decimal(0))
    assert paid == Decimal(earned) > 0
    assert not any("P003" in note for note in first.notes)
    _without_partner(folder, "P003")

    dry = run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins, dry_run=True)
    again = run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    for report in (dry, again):
        [note] = [note for note in report.notes if "P003" in note]
        assert "Fabrikam Resellers" in note and f"{paid:,.2f} USD" in note and "2026-Q3" in note
    assert ledger.lines("2026-Q3", "P003") == []
    # Said once: the period's lines no longer hold the partner, so a further run has nothing to say of it.
    last = run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    assert not any("P003" in note for note in last.notes)


def test_a_partner_merged_into_another_is_not_named_as_no_longer_paid(folder, ledger):
    plugins = Plugins(entry_points=False)
    run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    data = folder / "data"
    partners = data / "partners.csv"
    partners.write_text(
        "".join(r for r in partners.read_text().splitlines(True) if not r.startswith("P006,"))
    )
    links = data / "deal_partners.csv"  # the CRM keeps one involvement of the merged partner on a deal
    links.write_text(
        "".join(r for r in links.read_text().splitlines(True) if not r.startswith("D1001,P006,"))
    )
    for name in ("deals", "deal_partners", "activities"):
        path = data / f"{name}.csv"
        path.write_text(path.read_text().replace(",P006,", ",P001,"))
    (data / "merges.csv").write_text("kind,former_id,id\npartner,P006,P001\n", encoding="utf-8")
    again = run(example(), FilesConnector(folder / "data", folder / "out"), ledger, plugins)
    assert not any("P006" in note for note in again.notes)


def test_a_run_names_the_mdf_claims_left_out_that_its_period_would_fund_not_those_of_other_periods(
    folder, ledger
):
    def claim(n, approved_on):
        return ClaimLeftOut(f"M{n}", "account", "C1", approved_on)

    class LeavingOutClaims(FilesConnector):
        def claims_left_out(self):
            return [
                claim(1, date(2026, 2, 10)),  # 2026-Q1's: its runs named it
                claim(2, date(2026, 8, 1)),
                claim(3, None),  # not approved yet: no period funds it
                *(claim(n, date(2026, 9, n)) for n in range(4, 10)),
                claim(10, date(2026, 10, 1)),  # 2026-Q4's
            ]

    plugins = Plugins(entry_points=False)

    def claim_notes(period: str | None = None) -> list[str]:
        """The notes on MDF claims of a run of ``period`` (None: the program's)."""
        connector = LeavingOutClaims(folder / "data", folder / "out")
        report = run(
            example(), connector, ledger, plugins, period=None if period is None else Period.parse(period)
        )
        return [n for n in report.notes if "MDF claim" in n]

    assert claim_notes() == [
        "7 MDF claims approved in 2026-Q3 left out: the account each names is no partner of the program "
        "(claim M2: account C1; claim M4: account C1; claim M5: account C1; claim M6: account C1; "
        "claim M7: account C1; 2 more)"
    ]
    assert claim_notes("2026-Q4") == [
        "1 MDF claim approved in 2026-Q4 left out: the account each names is no partner of the program "
        "(claim M10: account C1)"
    ]
    assert claim_notes("2027-Q1") == []
