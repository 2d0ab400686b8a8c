"""The history a run reads from the ledger, question by question (schema version 7), on a SQLite file and
on PostgreSQL: the same answers as the history held in memory, read only when asked, and never an answer
from a ledger that moved after the history was taken."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

import cosell.ledger as ledger_module
from cosell.cli import app
from cosell.errors import LockHeldError
from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.results import EarlierLines, History, PartnerStanding, PayoutLine, Score, TierDecision
from ledgers import as_made_by_version

Q1, Q2, Q3, Q4 = (Period.parse(f"2026-Q{q}") for q in (1, 2, 3, 4))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def line(
    partner: str, amount: str, kind: str = "commission", deal: str | None = None, *tags: str
) -> PayoutLine:
    return PayoutLine(partner, kind, Decimal(amount), f"{kind} {amount}", deal, tags=frozenset(tags))


def standing(partner: str, eligible: str, assigned: str) -> PartnerStanding:
    decision = TierDecision(
        eligible=eligible, assigned=assigned, previous=None, periods_below=0, reason="why"
    )
    return PartnerStanding(partner_id=partner, metrics={}, score=Score(Decimal("1.5")), tier=decision)


def record(ledger: Ledger, period: Period, lines: list[PayoutLine], standings: list[PartnerStanding]) -> None:
    ledger.record_run(
        period=period, program="p", connector="files", target="files:/tmp/out",
        lines=lines, standings=standings, projections=[], writes=[],
    )  # fmt: skip


def three_periods(ledger: Ledger) -> None:
    """Q1-Q3 with several kinds, tags and deals. A appears first in the history, but B is paid deal D2
    first (Q1) and A only in Q2: the deal's lines list A before B all the same, as ``lines`` does."""
    record(
        ledger, Q1,
        [line("A", "1.00", deal="D1"), line("B", "2.00", deal="D2"), line("A", "0.50", "baseline"),
         line("C", "9.00", "milestone", "D9", "milestone:first_win"), line("B", "3.00", "mdf", None, "mdf_claim:M1", "mdf_stage:approval")],
        [standing("A", "Silver", "Gold"), standing("B", "Gold", "Gold")],
    )  # fmt: skip
    record(
        ledger, Q2,
        [line("A", "4.00", deal="D2"), line("B", "-2.00", "clawback", "D2"), line("B", "1.00", "mdf", None, "mdf_claim:M1", "mdf_stage:release"),
         line("A", "5.00", "commission", "D3", "late"), line("C", "0.00", deal="D4")],
        [standing("A", "Silver", "Gold"), standing("C", "Bronze", "Bronze")],
    )  # fmt: skip
    record(
        ledger, Q3,
        [line("A", "6.00", deal="D1"), line("A", "7.00", "accelerator")],
        [standing("A", "Silver", "Gold"), standing("B", "Silver", "Silver")],
    )  # fmt: skip


KIND_SETS: list[tuple[str, ...]] = [
    ("commission",),
    ("mdf",),
    ("commission", "clawback"),
    ("baseline", "accelerator"),
]


def test_every_question_answers_from_the_ledger_as_from_all_lines_in_memory(ledger: Ledger) -> None:
    three_periods(ledger)
    full = ledger.history(Q4)
    memory = History(tiers=full.tiers, lines=full.lines)  # everything read, as before version 7
    asked = ledger.history(Q4)
    for pid in ("A", "B", "C", "nobody"):
        for kinds in KIND_SETS:
            assert asked.lines_of(pid, kinds=kinds) == memory.lines_of(pid, kinds=kinds)
            assert asked.lines_of(pid, kinds=kinds, deal_ids=("D2",)) == memory.lines_of(
                pid, kinds=kinds, deal_ids=("D2",)
            )
        for kind in ("commission", "clawback", "mdf"):
            assert asked.paid_deal_ids(pid, kind) == memory.paid_deal_ids(pid, kind)
        for kinds in KIND_SETS:
            assert asked.periods_of(pid, kinds) == memory.periods_of(pid, kinds)
        for tag in ("milestone:first_win", "mdf_stage:release", "late", "mdf_stage"):
            assert asked.tagged_lines(pid, tag) == memory.tagged_lines(pid, tag)
            assert asked.has_tag(pid, tag) == memory.has_tag(pid, tag)
        for n in (3, 1, 2, 5):
            assert asked.last_tiers(pid, n) == memory.last_tiers(pid, n)
    for kinds in KIND_SETS:
        assert list(asked.lines_on_deals(kinds).items()) == list(memory.lines_on_deals(kinds).items())
    # The answers themselves, as the rules read them.
    assert [(ln.period, ln.amount) for ln in asked.lines_of("A", kinds=("commission",))] == [
        ("2026-Q1", Decimal("1.00")), ("2026-Q2", Decimal("4.00")), ("2026-Q2", Decimal("5.00")),
        ("2026-Q3", Decimal("6.00")),
    ]  # fmt: skip
    assert [ln.kind for ln in asked.lines_of("A", kinds=("baseline", "accelerator"))] == [
        "baseline",
        "accelerator",
    ]
    assert asked.paid_deal_ids("A", "commission") == {"D1", "D2", "D3"}
    assert asked.has_tag("C", "milestone:first_win") and not asked.has_tag("A", "milestone:first_win")
    assert not asked.has_tag("B", "mdf_stage")  # a tag, not the start of one
    assert [(ln.partner_id, ln.amount) for ln in asked.lines_on_deals(("commission", "clawback"))["D2"]] == [
        ("A", Decimal("4.00")), ("B", Decimal("2.00")), ("B", Decimal("-2.00")),
    ]  # fmt: skip
    assert [(t.period, t.assigned) for t in asked.last_tiers("A", 2)] == [
        ("2026-Q2", "Gold"),
        ("2026-Q3", "Gold"),
    ]
    assert [t.period for t in asked.last_tiers("C", 2)] == ["2026-Q2"]
    assert asked.periods_of("A", ("commission",)) == {"2026-Q1", "2026-Q2", "2026-Q3"}
    assert asked.periods_of("A", ("baseline", "accelerator")) == {"2026-Q1", "2026-Q3"}
    assert asked.periods_of("C", ("mdf",)) == frozenset()


def test_lines_come_back_from_every_question_as_stored_field_for_field_page_after_page(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each question builds the lines it reads a page of rows at a time (two rows a page here): every
    field as stored, the amount to the cent (1.00, not 1), the flags, each line's own tags, no deal None."""
    monkeypatch.setattr(ledger_module, "_CHUNK", 2)
    stored = [
        PayoutLine(
            "A", "commission", Decimal("1"), "one", "D1", uncapped=True, tags=frozenset({"late", "x"})
        ),
        PayoutLine("B", "commission", Decimal("0"), "withheld", "D2", withheld=True),
        PayoutLine("A", "cap", Decimal("-0.05"), "capped"),
        PayoutLine("A", "commission", Decimal("-12.3"), "clawed", "D2", tags=frozenset({"late"})),
        PayoutLine("C", "milestone", Decimal("1000000"), "big", "D3", tags=frozenset({"x"})),
    ]
    record(ledger, Q1, stored, [])
    record(ledger, Q2, stored[:2], [])

    def fields(lines: Any) -> list[tuple[Any, ...]]:
        return [
            (ln.period, ln.partner_id, ln.kind, str(ln.amount), ln.explanation, ln.deal_id, ln.withheld,
             ln.uncapped, sorted(ln.tags))
            for ln in lines
        ]  # fmt: skip

    a1 = ("2026-Q1", "A", "commission", "1.00", "one", "D1", False, True, ["late", "x"])
    b1 = ("2026-Q1", "B", "commission", "0.00", "withheld", "D2", True, False, [])
    cap = ("2026-Q1", "A", "cap", "-0.05", "capped", None, False, False, [])
    a2 = ("2026-Q1", "A", "commission", "-12.30", "clawed", "D2", False, False, ["late"])
    c1 = ("2026-Q1", "C", "milestone", "1000000.00", "big", "D3", False, False, ["x"])
    a1q2, b1q2 = (("2026-Q2", *a1[1:]), ("2026-Q2", *b1[1:]))
    assert fields(ledger.lines("2026-Q1")) == [a1, b1, cap, a2, c1]
    history = ledger.history(Q3)
    assert fields(history.lines_of("A", kinds=("commission", "cap"))) == [a1, cap, a2, a1q2]
    assert {deal: fields(lines) for deal, lines in history.lines_on_deals(("commission", "milestone")).items()} == {
        "D1": [a1, a1q2], "D2": [a2, b1, b1q2], "D3": [c1],
    }  # fmt: skip
    assert fields(history.tagged_lines("A", "late")) == [a1, a2, a1q2]
    assert fields(history.lines_naming(["D2"], ["commission"])["D2"]) == [
        b1,
        a2,
        b1q2,
    ]  # period, then stored order
    assert fields(ledger.history(Q3).lines["A"]) == [a1, cap, a2, a1q2]


def test_the_history_answers_each_question_in_one_read_for_every_partner(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_periods(ledger)
    history = ledger.history(Q4)
    reads: list[str] = []
    real = Ledger._history_read

    def counted(self: Ledger, before: Period, generation: int) -> Any:
        reads.append(before.key)
        return real(self, before, generation)

    monkeypatch.setattr(Ledger, "_history_read", counted)
    for pid in ("A", "B", "C", "D", "E"):
        history.lines_of(pid, kinds=("commission",))
        history.paid_deal_ids(pid, "clawback")
        history.has_tag(pid, "milestone:first_win")
        history.last_tiers(pid, 2)
        history.last_tiers(pid, 1)  # answered from the two latest
        history.periods_of(pid, ("baseline", "accelerator"))
        history.periods_of(pid, ("commission",))  # from the commission lines read above
    assert len(reads) == 5


def test_the_latest_tier_records_of_as_many_periods_as_the_history_holds_are_read_without_ranking(
    ledger: Ledger,
) -> None:
    """Fewer latest records than the history has periods are ranked by the query; as many or more are
    every record, read as stored (ranking them costs three times the read): the same answers either way."""
    three_periods(ledger)
    memory = History(tiers=ledger.history(Q4).tiers)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "cosell_standings" in statement:
            statements.append(statement.upper())

    sa.event.listen(ledger._engine, "before_cursor_execute", seen)
    try:
        for n, ranked in ((1, True), (2, True), (3, False), (5, False)):
            asked = ledger.history(Q4)  # a history of its own: n is the first question it reads
            statements.clear()
            for pid in ("A", "B", "C", "nobody"):
                assert asked.last_tiers(pid, n) == memory.last_tiers(pid, n)
                assert asked.last_tiers(pid, 1) == memory.last_tiers(pid, 1)  # from the same read
            assert len(statements) == 1 and ("ROW_NUMBER" in statements[0]) == ranked
    finally:
        sa.event.remove(ledger._engine, "before_cursor_execute", seen)


def test_a_question_asked_after_the_ledger_moved_is_refused_and_earlier_answers_stand(ledger: Ledger) -> None:
    three_periods(ledger)
    history = ledger.history(Q4)
    paid = history.paid_deal_ids("A", "commission")
    record(ledger, Q3, [line("A", "99.00", deal="D7")], [])  # another run of Q3 stores meanwhile
    with pytest.raises(LockHeldError, match="changed while this run of 2026-Q4 computed"):
        history.lines_of("A", kinds=("commission",))
    with pytest.raises(LockHeldError):
        _ = history.lines
    assert history.paid_deal_ids("A", "commission") == paid == {"D1", "D2", "D3"}  # read before: kept
    fresh = ledger.history(Q4)
    assert fresh.paid_deal_ids("A", "commission") == {"D1", "D2", "D3", "D7"}
    ledger.close_period(Q3)
    with pytest.raises(LockHeldError):
        fresh.has_tag("A", "late")


def test_a_history_reads_only_periods_before_its_own(ledger: Ledger) -> None:
    three_periods(ledger)
    history = ledger.history(Q2)
    assert history.paid_deal_ids("A", "commission") == {"D1"}
    assert [t.period for t in history.last_tiers("A", 5)] == ["2026-Q1"]
    assert not history.has_tag("B", "mdf_stage:release")  # released in Q2
    assert ledger.history(Q1).lines_of("A", kinds=("commission",)) == ()


def test_earlier_lines_are_read_when_used_and_of_kinds_reads_only_those(ledger: Ledger) -> None:
    three_periods(ledger)
    history = ledger.history(Q4)
    earlier = EarlierLines(history, "B")
    assert [ln.kind for ln in earlier.of_kinds(("mdf",))] == ["mdf", "mdf"]
    assert history.lines_of("B") == tuple(earlier) and len(earlier) == 4 and earlier[-1].kind == "mdf"
    assert earlier == history.lines_of("B")


def test_a_version_6_ledger_gets_the_history_indexes_keeping_its_data(ledger_url: str) -> None:
    with Ledger.connect(ledger_url) as made:
        three_periods(made)
    as_made_by_version(ledger_url, 6)
    assert not {"cosell_lines_kind", "cosell_lines_tagged"} & indexes(ledger_url)
    with Ledger.connect(ledger_url) as migrated:
        assert migrated.history(Q4).paid_deal_ids("A", "commission") == {"D1", "D2", "D3"}
        assert migrated.history(Q4).has_tag("C", "milestone:first_win")
    assert {"cosell_lines_kind", "cosell_lines_tagged"} <= indexes(ledger_url)
    assert ledger_module.schema_version() >= 7


def indexes(url: str) -> set[str]:
    engine = sa.create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {str(i["name"]) for i in sa.inspect(conn).get_indexes("cosell_lines")}
    finally:
        engine.dispose()


def test_the_bundled_programs_runs_never_read_every_line_or_tier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two periods of the bundled example (commission, clawbacks, MDF, milestones, tiers, statements,
    # write-back): every built-in rule asks its questions; none reads the whole history.
    def refused(self: Any) -> Any:
        raise AssertionError("a built-in path read every line or tier record")

    monkeypatch.setattr(ledger_module._LedgerHistory, "lines", property(refused))
    monkeypatch.setattr(ledger_module._LedgerHistory, "tiers", property(refused))
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE / "data", data)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    for period in ("2026-Q3", "2026-Q4"):
        result = CliRunner().invoke(
            app,
            ["run", "--program", str(EXAMPLE / "program.yaml"), "--connector", "files", "--input", str(data),
             "--output", str(tmp_path / "out"), "--ledger", url, "--period", period],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert CliRunner().invoke(app, ["close", "--period", period, "--ledger", url]).exit_code == 0


def test_deals_with_lines_come_in_the_order_of_their_first_line_in_the_history(ledger: Ledger) -> None:
    """A appears first in the history (a baseline line) but is paid a deal only after B is: A's deal
    still comes first, as a walk of every partner's lines in history order finds it."""
    record(ledger, Q1, [line("A", "1.00", "baseline"), line("B", "2.00", deal="D1")], [])
    record(ledger, Q2, [line("A", "3.00", deal="D2"), line("B", "-2.00", "clawback", "D1")], [])
    memory = History(lines=ledger.history(Q3).lines)  # every earlier line, walked in history order
    asked = ledger.history(Q3)  # another history: it answers from indexed queries
    for kinds in (("commission",), ("commission", "clawback"), ("clawback", "commission")):
        assert list(asked.lines_on_deals(kinds)) == ["D2", "D1"]
        assert list(asked.lines_on_deals(kinds).items()) == list(memory.lines_on_deals(kinds).items())


def test_a_history_taken_while_another_ledger_stores_a_run_is_one_moment_and_refuses_to_answer_later(
    ledger: Ledger, ledger_url: str
) -> None:
    """Another connection stores a run of Q2 and closes it while this history is being taken (just before
    it reads the generation): the history's periods and its generation are of one moment, so a question
    asked of it afterwards refuses (the ledger has moved since), on PostgreSQL as on SQLite."""
    record(ledger, Q1, [line("P", "1.00", deal="D1")], [])
    with Ledger.connect(ledger_url) as other:
        stored: list[bool] = []

        def store_before_the_generation_is_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "cosell_generation" in statement and not stored:
                stored.append(True)
                record(other, Q2, [line("P", "2.00", deal="D2")], [])
                other.close_period(Q2)

        sa.event.listen(ledger._engine, "before_cursor_execute", store_before_the_generation_is_read)
        try:
            history = ledger.history(Q3)
        finally:
            sa.event.remove(ledger._engine, "before_cursor_execute", store_before_the_generation_is_read)
    assert stored
    assert "2026-Q2" not in history.closed_periods  # taken before the other run committed...
    with pytest.raises(LockHeldError, match="the ledger changed"):
        history.lines_of("P", kinds=("commission",))  # ...so it does not answer from the moved ledger
    fresh = ledger.history(Q3)
    assert [ln.period for ln in fresh.lines_of("P", kinds=("commission",))] == ["2026-Q1", "2026-Q2"]


def test_the_lines_naming_some_deals_are_every_partners_read_for_those_deals_only(ledger: Ledger) -> None:
    three_periods(ledger)
    full = ledger.history(Q4)
    memory = History(tiers=full.tiers, lines=full.lines)
    asked = ledger.history(Q4)
    for deals in (("D2",), ("D1", "D9", "nowhere"), ("D2", "D3", "D4"), ()):
        for kinds in KIND_SETS:
            assert dict(asked.lines_naming(deals, kinds)) == dict(memory.lines_naming(deals, kinds))
    found = ledger.history(Q4).lines_naming(["D2", "D4", "D7"], ("commission", "clawback"))
    assert {deal: [(ln.period, ln.partner_id, ln.amount) for ln in lines] for deal, lines in found.items()} == {
        "D2": [("2026-Q1", "B", Decimal("2.00")), ("2026-Q2", "A", Decimal("4.00")), ("2026-Q2", "B", Decimal("-2.00"))],
        "D4": [("2026-Q2", "C", Decimal("0.00"))],
    }  # fmt: skip
    assert ledger.history(Q2).lines_naming(["D1", "D3"], ("commission",)).keys() == {"D1"}  # before Q2 only


def test_the_deals_named_by_any_partners_lines_of_a_kind_are_read_as_from_all_lines(ledger: Ledger) -> None:
    three_periods(ledger)
    full = ledger.history(Q4)
    memory = History(tiers=full.tiers, lines=full.lines)
    asked = ledger.history(Q4)
    for kind in ("commission", "clawback", "milestone", "mdf", "nothing"):
        assert asked.named_deal_ids(kind) == memory.named_deal_ids(kind)
    assert asked.named_deal_ids("commission") == {"D1", "D2", "D3", "D4"}  # a line of 0.00 names D4 too
    assert ledger.history(Q2).named_deal_ids("commission") == {"D1", "D2"}  # before Q2 only
    # a deal no line names is no partner's: lines_naming answers it without a read, as memory does
    assert dict(asked.lines_naming(["D7", "D9"], ("commission",))) == {}
