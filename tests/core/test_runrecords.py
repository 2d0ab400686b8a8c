"""What a run records about how it computed, over random programs and records: the program's exact bytes
and their sha256, each partner's period earnings as its lines sum them, and a records digest that
ignores the order records come in but sees a cent changed."""

import hashlib
import os
import random
import signal
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosell import runrecords
from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.records import Deal, Involvement, RecordSet
from cosell.results import period_earnings
from cosell.runrecords import _plain, records_digest
from cosell.testing import deal, partner, program, run_program
from program_strategies import FAST, Data, build_program, datas, program_docs


def record_set(data: Data) -> RecordSet:
    partners, deals, activities, claims = data.build()
    return RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(claims))


@FAST
@given(data=datas(), seed=st.integers(0, 2**32))
def test_the_records_digest_ignores_the_order_of_records_and_sees_a_cent_changed(
    data: Data, seed: int
) -> None:
    records = record_set(data)
    shuffled = RecordSet(*(tuple(random.Random(seed).sample(group, len(group))) for group in (
        records.partners, records.deals, records.activities, records.mdf_claims)))  # fmt: skip
    assert records_digest(shuffled) == records_digest(records)
    # each deal's partners in another order: the same deals
    reordered = replace(records, deals=tuple(replace(d, partners=d.partners[::-1]) for d in records.deals))
    assert records_digest(reordered) == records_digest(records)
    if records.deals:
        first, rest = records.deals[0], records.deals[1:]
        moved = replace(first, amount=first.amount + Decimal("0.01"))
        assert records_digest(replace(records, deals=(moved, *rest))) != records_digest(records)
        digits = replace(
            first, amount=first.amount.quantize(Decimal("0.0001"))
        )  # 12.5 and 12.5000: one value
        assert records_digest(replace(records, deals=(digits, *rest))) == records_digest(records)


def digest_record_by_record(records: RecordSet) -> str:
    """The records digest as its definition reads: one line a record, ``kind`` and the repr of its plain
    values, in order of kind, then id."""
    digest = hashlib.sha256()
    for kind, items in (("partner", records.partners), ("deal", records.deals),
                        ("activity", records.activities), ("mdf_claim", records.mdf_claims)):  # fmt: skip
        for item in sorted(items, key=lambda record: str(record.id)):
            digest.update(f"{kind}{_plain(item)!r}\n".encode())
    return digest.hexdigest()


@FAST
@given(data=datas(), odd=st.sampled_from([Decimal("-0.00"), Decimal("0E+3"), Decimal("1E+2"), 1, True, None]))
def test_the_records_digest_converts_a_column_at_a_time_exactly_as_record_by_record(
    data: Data, odd: object
) -> None:
    records = record_set(data)
    assert records_digest(records) == digest_record_by_record(records)
    # A record built in code holds what its fields were given: an int, a bool, a negative zero.
    if records.deals:
        first, rest = records.deals[0], records.deals[1:]
        odd_deal = replace(first, amount=odd, margin_pct=odd, partners=(*first.partners, "not a record"))
        odd_records = replace(records, deals=(*rest, odd_deal))
        assert records_digest(odd_records) == digest_record_by_record(odd_records)


@FAST
@given(doc=program_docs(), data=datas())
def test_a_run_records_the_programs_bytes_and_each_partners_earnings_as_its_lines_sum_them(
    doc: dict[str, object], data: Data
) -> None:
    loaded = build_program(doc)
    plugins = Plugins(entry_points=False)
    with Ledger.connect("sqlite://") as ledger:
        done = run_program(loaded, *data.build(), ledger=ledger, plugins=plugins)
        (run,) = ledger.runs()
        kinds = {kind.name: kind for _, kind in plugins.line_kinds().values()}
    recorded = run.provenance
    assert recorded is not None and loaded.raw is not None
    assert recorded.program_text.encode("utf-8") == loaded.raw
    assert recorded.program_sha256 == hashlib.sha256(loaded.raw).hexdigest()
    assert recorded.records_digest == records_digest(record_set(data))
    # every partner of the run: those in the program by the period's last day (one joining later is left out)
    end = Period.parse(loaded.program.period).end
    partners = {p.id for p in data.build()[0] if p.joined_on <= end}
    assert set(recorded.earnings) == partners
    for pid in partners:
        lines = [ln for ln in done.lines if ln.partner_id == pid]
        assert recorded.earnings[pid] == period_earnings(lines, kinds)


def test_the_records_digest_writes_records_sharing_values_as_record_by_record() -> None:
    # Deals read from a file share their partners' involvement tuples, stages and dates.
    involved = (Involvement("P1", "sourced"), Involvement("P2", "cosell", Decimal("0.40")))
    day, other = date(2026, 7, 1), date(2026, 7, 2)
    deals = tuple(
        Deal(f"D{i}", f"Deal {i % 3}", Decimal(i % 4), "USD", "Won", "won", day, other if i % 2 else day,
             partners=involved if i % 5 else (involved[0],))
        for i in range(40)
    )  # fmt: skip
    records = RecordSet((), deals, (), ())
    assert records_digest(records) == digest_record_by_record(records)


def many_records() -> RecordSet:
    involved = (Involvement("P1", "sourced"),)
    day = date(2026, 7, 1)
    deals = tuple(
        Deal(f"D{i}", f"Deal {i}", Decimal(i) / 7, "USD", "Won", "won", day, day, partners=involved)
        for i in range(300)
    )
    return RecordSet((), deals, (), ())


def test_a_digest_taken_by_a_child_process_is_the_digest_and_the_child_is_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runrecords, "FORK_FROM", 0)
    records = many_records()
    forks = count_forks(monkeypatch)
    with runrecords.digest_alongside(records) as digest:
        assert digest() == records_digest(records)
        assert digest() == records_digest(records)  # asked twice, taken once
    assert len(forks) == (1 if runrecords._forks() else 0)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, not even a zombie


def test_a_child_that_dies_leaves_the_digest_to_the_run_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    if not runrecords._forks():
        pytest.skip("this system does not fork processes cheaply: the digest is never taken in a child")
    monkeypatch.setattr(runrecords, "FORK_FROM", 0)
    records = many_records()
    forks, test = count_forks(monkeypatch), os.getpid()

    def slow_in_a_child(records: RecordSet) -> str:
        if os.getpid() != test:
            time.sleep(60)  # killed before it answers
        return records_digest(records)

    monkeypatch.setattr(runrecords, "records_digest", slow_in_a_child)
    with runrecords.digest_alongside(records) as digest:
        (child,) = forks
        assert child is not None
        os.kill(child.pid, signal.SIGKILL)
        assert digest() == records_digest(records)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_a_digest_never_asked_for_ends_its_child_and_a_dry_run_starts_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runrecords, "FORK_FROM", 0)
    forks = count_forks(monkeypatch)
    with runrecords.digest_alongside(many_records()):
        pass
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    with runrecords.digest_alongside(many_records(), start=False) as digest:
        assert digest() == records_digest(many_records())
    assert len(forks) == (1 if runrecords._forks() else 0)


def test_few_records_are_digested_without_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    forks = count_forks(monkeypatch)
    records = many_records()
    assert runrecords._size(records) < runrecords.FORK_FROM
    with runrecords.digest_alongside(records) as digest:
        assert digest() == records_digest(records)
    assert forks == []


def test_a_run_records_the_digest_its_child_process_took(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runrecords, "FORK_FROM", 0)
    forks = count_forks(monkeypatch)
    partners = [partner("P1"), partner("P2")]
    deals = [deal(f"D{i}", f"{i}.50", partners=["P1"], won_on="2026-08-01") for i in range(40)]
    with Ledger.connect("sqlite://") as ledger:
        run_program(program(), partners, deals, ledger=ledger, plugins=Plugins(entry_points=False))
        (run,) = ledger.runs()
    assert run.provenance is not None
    assert run.provenance.records_digest == records_digest(RecordSet(tuple(partners), tuple(deals), (), ()))
    assert len(forks) == (1 if runrecords._forks() else 0)


def count_forks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The children the records digest forks from now on, as it forks them."""
    forks: list[Any] = []
    real = runrecords._fork_digest

    def counted(records: RecordSet) -> Any:
        forks.append(real(records))
        return forks[-1]

    monkeypatch.setattr(runrecords, "_fork_digest", counted)
    return forks
