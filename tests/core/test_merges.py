"""Partners and deals the CRM merged into records with new ids: their history goes with them."""

from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given

from cosell.errors import InputError
from cosell.merges import merged
from cosell.periods import Period
from cosell.records import Merge, RecordSet
from cosell.results import History, LedgerLine, TierRecord
from cosell.runrecords import records_digest
from cosell.statements.document import recorded
from cosell.testing import MemoryConnector, activity, compute_period, deal, partner, program, run_program
from program_strategies import FAST, build_program, datas, lines_back, program_docs, renamed

PROGRAM = program(
    tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}],
    payouts={
        "signing_bonus": 1000,
        "milestones": [{"name": "first_win", "kind": "first_win", "amount": 2500}],
    },
)
Q2, Q3 = "2026-Q2", "2026-Q3"


def paid_in_q2_then_merged(ledger, merges):
    """P1 joins and wins D1 in Q2 (closed); in Q3 the CRM shows them merged: P1 as P9, D1 (with D2) as D9."""
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    first = run_program(
        PROGRAM,
        [partner("P1", joined_on="2026-05-01")],
        [deal("D1", "10000", partners=["P1"], won_on="2026-05-10")],
        ledger=ledger,
        period=Q2,
        connector=target,
    )
    assert {ln.kind for ln in first.lines} == {"signing_bonus", "commission", "milestone"}
    ledger.close_period(Period.parse(Q2))
    return run_program(
        PROGRAM,
        [partner("P9", joined_on="2026-05-01")],
        [deal("D9", "10000", partners=["P9"], won_on="2026-05-10")],
        merges=merges,
        ledger=ledger,
        period=Q3,
        connector=target,
    )


MERGES = [Merge("partner", "P1", "P9"), Merge("deal", "D1", "D9"), Merge("deal", "D2", "D9")]


def test_a_merged_deal_and_partner_are_not_paid_again_for_what_their_former_ids_were_paid(cosell_ledger):
    after = paid_in_q2_then_merged(cosell_ledger, MERGES)
    assert after.lines == []
    # the deal keeps showing what its former id earned
    assert after.fields[("deal", "D9")]["incentive"] == "1000.00"
    assert after.fields[("deal", "D9")]["incentive_status"] == "Earned"


def test_without_the_merges_the_new_ids_would_be_paid_again(cosell_ledger):
    # what the merges prevent: a closed period's late rules see a new partner and a new won deal
    after = paid_in_q2_then_merged(cosell_ledger, [])
    assert sorted(ln.kind for ln in after.lines) == ["commission", "milestone", "signing_bonus"]


def line(partner_id, kind, amount, deal_id=None, period=Q2, tags=frozenset()):
    return LedgerLine(
        period, partner_id, kind, Decimal(amount), f"{kind} of {partner_id}", deal_id, tags=tags
    )


HISTORY = History(
    lines=MappingProxyType(
        {
            "A": (line("A", "commission", "10", "DA", "2026-Q1"), line("A", "commission", "30", "DC", Q2)),
            "B": (line("B", "commission", "20", "DB", "2026-Q1", frozenset({"first_win"})),),
            "C": (line("C", "commission", "5", "DC", "2025-Q4"),),
        }
    ),
    tiers=MappingProxyType(
        {
            "A": (
                TierRecord("2026-Q1", Decimal(40), "Silver", "Silver"),
                TierRecord(Q2, Decimal(70), "Gold", "Gold"),
            ),
            "B": (TierRecord("2026-Q1", Decimal(55), "Silver", "Silver"),),
        }
    ),
)


def merged_history(*merges):
    records = RecordSet(partners=(partner("C"),), deals=(deal("DC", "1"),), merges=merges)
    return merged(records, HISTORY)[1]


def test_history_answers_a_partners_questions_with_its_former_ids_lines_under_its_own_ids():
    history = merged_history(
        Merge("partner", "A", "C"), Merge("partner", "B", "C"), Merge("deal", "DA", "DC")
    )
    found = history.lines_of("C")
    assert [(ln.period, ln.partner_id, ln.deal_id, ln.amount) for ln in found] == [
        ("2025-Q4", "C", "DC", Decimal(5)),
        ("2026-Q1", "C", "DC", Decimal(10)),  # A's line on DA: DA is DC now
        ("2026-Q1", "C", "DB", Decimal(20)),
        (Q2, "C", "DC", Decimal(30)),
    ]
    assert history.paid_deal_ids("C", "commission") == {"DB", "DC"}
    assert history.periods_of("C", ["commission"]) == {"2025-Q4", "2026-Q1", Q2}  # A's and B's too
    assert [ln.amount for ln in history.lines_of("C", deal_ids=["DC"])] == [5, 10, 30]
    assert history.has_tag("C", "first_win") and [
        ln.partner_id for ln in history.tagged_lines("C", "first_win")
    ] == ["C"]
    assert [ln.amount for ln in history.lines_on_deals(["commission"])["DC"]] == [5, 10, 30]
    assert "DA" not in history.lines_on_deals(["commission"])
    naming = history.lines_naming(["DC"], ["commission"])
    assert [(ln.partner_id, ln.deal_id, ln.amount) for ln in naming["DC"]] == [
        ("C", "DC", 5), ("C", "DC", 10), ("C", "DC", 30),
    ]  # fmt: skip
    assert list(naming) == ["DC"]
    assert history.named_deal_ids("commission") >= {"DB", "DC"}  # DA's line names DC now
    assert history.named_deal_ids("milestone") == set()
    assert set(history.lines) == {"C"}


def test_two_merged_partners_tiers_keep_the_higher_score_of_a_period():
    history = merged_history(Merge("partner", "A", "C"), Merge("partner", "B", "C"))
    assert [(t.period, t.score) for t in history.tiers_of("C")] == [("2026-Q1", 55), (Q2, 70)]
    assert [t.period for t in history.last_tiers("C", 1)] == [Q2]
    assert [t.period for t in history.last_tiers("C", 5)] == ["2026-Q1", Q2]
    assert set(history.tiers) == {"C"}


def test_a_chain_of_merges_ends_at_the_record_read_now():
    history = merged_history(Merge("partner", "A", "B"), Merge("partner", "B", "C"))
    assert [ln.amount for ln in history.lines_of("C")] == [5, 10, 20, 30]


def test_records_without_merges_keep_their_history_object_and_digest():
    records = RecordSet(partners=(partner("C"),))
    assert merged(records, HISTORY) == (records, HISTORY)
    with_merges = RecordSet(partners=(partner("C"),), merges=(Merge("partner", "A", "C"),))
    assert records_digest(with_merges) != records_digest(records)
    assert records_digest(RecordSet(partners=(partner("C"),), merges=())) == records_digest(records)


def test_references_to_a_former_partner_or_deal_count_for_the_record_it_was_merged_into():
    records = RecordSet(
        partners=(partner("C"),),
        deals=(deal("DC", "100", partners=["A"]),),
        activities=(activity("X", "A", "joint_call", "2026-08-01", deal_id="DA"),),
        merges=(Merge("partner", "A", "C"), Merge("deal", "DA", "DC")),
    )
    current, _ = merged(records, History())
    assert current.deals[0].partners[0].partner_id == "C"
    assert (current.activities[0].partner_id, current.activities[0].deal_id) == ("C", "DC")


@pytest.mark.parametrize(
    ("merges", "message"),
    [
        ((Merge("partner", "C", "C"),), "merge of partner C: the partner is named as merged into itself"),
        ((Merge("deal", "DC", "D9"),), "merge of deal DC: DC was merged into D9 but is still read as a deal"),
        (
            (Merge("partner", "A", "C"), Merge("partner", "A", "D")),
            "merge of partner A: merged into two partners: C and D",
        ),
        (
            (Merge("partner", "A", "B"), Merge("partner", "B", "A")),
            "merge of partner A: the merges go round in a circle: A → B",
        ),
        ((Merge("account", "A", "C"),), "merge of account A: kind: 'account' must be one of partner, deal"),  # type: ignore[arg-type]
        (
            (Merge("deal", "", "DC"),),
            "merge of deal : a merge names the former id and the id, both not empty",
        ),
        ((Merge("deal", "DA", "DC", undone=True),), "merge of deal DA: only a partner's merge can be undone"),
        (
            (Merge("partner", "A", "C"), Merge("partner", "A", "C", undone=True)),
            "merge of partner A: the merge into C is named both undone and not",
        ),
        (
            (Merge("partner", "A", "C", undone=True), Merge("partner", "A", "C")),
            "merge of partner A: the merge into C is named both undone and not",
        ),
        (
            # undeleted and merged again, into another: one merge may stand, besides those undone
            (Merge("partner", "A", "C", undone=True), Merge("partner", "A", "B"), Merge("partner", "A", "D")),
            "merge of partner A: merged into two partners: B and D",
        ),
    ],
)
def test_merges_that_cannot_hold_are_input_errors_naming_the_merge(merges, message):
    with pytest.raises(InputError) as info:
        merged(RecordSet(partners=(partner("C"),), deals=(deal("DC", "1"),), merges=merges), History())
    assert message in [str(p) for p in info.value.problems]


def history_of(computation, period):
    """The closed ``period`` as a later run's history reads it (amounts in cents, as the ledger keeps them)."""
    from cosell.money import round_cents

    lines = {
        pid: tuple(
            LedgerLine(
                period,
                ln.partner_id,
                ln.kind,
                round_cents(ln.amount),
                ln.explanation,
                ln.deal_id,
                ln.withheld,
                ln.uncapped,
                ln.tags,
            )
            for ln in found
        )
        for pid, found in computation.lines.items()
    }
    tiers = {
        s.partner_id: (TierRecord(period, s.score.value, s.tier.eligible, s.tier.assigned),)
        for s in computation.standings
    }
    return History(
        lines=MappingProxyType(lines), tiers=MappingProxyType(tiers), closed_periods=frozenset({period})
    )


@FAST
@given(program_docs(), datas())
def test_a_run_whose_partners_and_deals_were_all_merged_into_new_ids_pays_what_it_paid_under_the_old_ones(
    doc, data
):
    # every program and record drawn: Q2 computed and closed, then Q3 once under the ids of Q2's history
    # and once with every partner and deal merged into a new id (which sorts as the old one did)
    loaded = build_program(doc)
    history = history_of(compute_period(loaded, *data.build(), period=Q2), Q2)
    partners = {p["id"]: f"merged-{p['id']}" for p in data.partners}
    deals = {d["id"]: f"merged-{d['id']}" for d in data.deals}
    merges = [Merge("partner", old, new) for old, new in partners.items()]
    merges += [Merge("deal", old, new) for old, new in deals.items()]
    base = compute_period(loaded, *data.build(), period=Q3, history=history)
    other = compute_period(
        loaded, *renamed(data, partners, deals).build(), merges=merges, period=Q3, history=history
    )
    same = {p: p for p in partners}, {d: d for d in deals}
    assert lines_back(base, *same) == lines_back(other, partners, deals)
    assert [(s.score.value, s.tier.assigned) for s in base.standings] == [
        (s.score.value, s.tier.assigned) for s in other.standings
    ]


PILOT = """\
program: Base
period: 2026-Q2
currency: USD
tiers: [{name: Registered, min_score: 0, commission_rate: "0.05"}]
pilot: {name: richer-rate, variant: variant.yaml, cohort: {share: "0.5", seed: 7}}
"""


def test_a_merged_partner_keeps_its_pilot_arm_under_its_new_id(tmp_path, cosell_ledger):
    from cosell.pilots import share_point
    from cosell.program import load_program

    (tmp_path / "program.yaml").write_text(PILOT)
    (tmp_path / "variant.yaml").write_text(PILOT.split("pilot:")[0].replace('"0.05"', '"0.07"'))
    loaded = load_program(tmp_path / "program.yaml")
    # a new id the cohort definition would put in the other arm than P1's
    in_test = share_point(7, "P1") < Decimal("0.5")
    new = next(f"P{n}" for n in range(100, 999) if (share_point(7, f"P{n}") < Decimal("0.5")) != in_test)
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    q2 = run_program(loaded, [partner("P1")], [deal("D1", "10000", partners=["P1"], won_on="2026-05-10")],
                     ledger=cosell_ledger, period=Q2, connector=target)  # fmt: skip
    q3 = run_program(loaded, [partner(new)], [deal("D2", "10000", partners=[new], won_on="2026-08-10")],
                     merges=[Merge("partner", "P1", new)], ledger=cosell_ledger, period=Q3, connector=target)  # fmt: skip
    rate = "7%" if in_test else "5%"
    assert [rate in ln.explanation for ln in (*q2.lines, *q3.lines) if ln.kind == "commission"] == [
        True,
        True,
    ]


def test_a_merged_partners_settlement_and_year_to_date_include_what_its_former_id_has(cosell_ledger):
    from cosell.cli_settlement import settlement_in
    from cosell.statements.document import period_totals

    plan = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}], wind_down_days=90)
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(plan, [partner("P1")], [deal("D1", "10000", partners=["P1"], won_on="2026-05-10")],
                ledger=cosell_ledger, period=Q2, connector=target)  # fmt: skip
    owed = cosell_ledger.propose_adjustment(
        partner_id="P1", amount=Decimal(500), reason="spiff", by="alice", period=Period.parse("2026-Q4")
    )
    cosell_ledger.approve_adjustment(owed.id, by="bob")
    exiting = partner("P9", status="exiting", exit_on="2026-08-15")
    run_program(plan, [exiting], [deal("D2", "1000", partners=["P9"], won_on="2026-08-01")],
                merges=[Merge("partner", "P1", "P9")], ledger=cosell_ledger, period=Q3, connector=target)  # fmt: skip
    settlement = settlement_in(cosell_ledger, Period.parse(Q3), "P9")
    [adjustments] = [part for part in settlement.parts if part.title == "Adjustments"]
    assert [item.amount for item in adjustments.items] == [Decimal(500)]  # the Q4 run pays it to P9
    totals = period_totals(cosell_ledger, Q3, "P9", recorded(cosell_ledger, Q3))
    assert [(t.period, t.earnings) for t in totals["P9"]] == [(Q2, Decimal("1000.00"))]


def test_the_pilot_report_over_all_periods_counts_a_merged_partner_once(tmp_path, cosell_ledger):
    from cosell.pilot_report import report
    from cosell.program import load_program

    (tmp_path / "program.yaml").write_text(PILOT)
    (tmp_path / "variant.yaml").write_text(PILOT.split("pilot:")[0].replace('"0.05"', '"0.07"'))
    loaded = load_program(tmp_path / "program.yaml")
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(loaded, [partner("P1")], [deal("D1", "10000", partners=["P1"], won_on="2026-05-10")],
                ledger=cosell_ledger, period=Q2, connector=target)  # fmt: skip
    run_program(loaded, [partner("P100")], [deal("D2", "10000", partners=["P100"], won_on="2026-08-10")],
                merges=[Merge("partner", "P1", "P100")], ledger=cosell_ledger, period=Q3, connector=target)  # fmt: skip
    [pilot] = report(cosell_ledger)
    assert pilot.overall is not None and sum(pilot.overall.partners.values()) == 1
    # an admin undid the merge: P1 is a partner of its own again, and two partners over all periods
    run_program(loaded, [partner("P1"), partner("P100")], [deal("D2", "10000", partners=["P100"], won_on="2026-08-10")],
                merges=[Merge("partner", "P1", "P100", undone=True)], ledger=cosell_ledger, period="2026-Q4",
                connector=target)  # fmt: skip
    [pilot] = report(cosell_ledger)
    assert pilot.overall is not None and sum(pilot.overall.partners.values()) == 2


def merged_then_undone(ledger, *, refunded_on=None, plan=PROGRAM):
    """Q2 (closed): P1 wins D1, P9 wins D2. Q3 (closed): the CRM merged P1 into P9, D1 went with it.
    Q4: an admin undeleted P1; D1 stays P9's, as Salesforce leaves what a merge moved."""
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    both = [partner("P1", joined_on="2026-05-01"), partner("P9", joined_on="2026-05-02")]
    d1 = deal("D1", "10000", partners=["P1"], won_on="2026-05-10")
    d2 = deal("D2", "4000", partners=["P9"], won_on="2026-05-11")
    first = run_program(plan, both, [d1, d2], ledger=ledger, period=Q2, connector=target)
    assert {(ln.partner_id, ln.kind, ln.deal_id) for ln in first.lines if ln.kind == "commission"} == {
        ("P1", "commission", "D1"),
        ("P9", "commission", "D2"),
    }
    ledger.close_period(Period.parse(Q2))
    moved = deal("D1", "10000", partners=["P9"], won_on="2026-05-10", refunded_on=refunded_on)
    merging = run_program(plan, both[1:], [moved, d2], merges=[Merge("partner", "P1", "P9")],
                          ledger=ledger, period=Q3, connector=target)  # fmt: skip
    assert merging.lines == []
    ledger.close_period(Period.parse(Q3))
    return run_program(plan, both, [moved, d2], merges=[Merge("partner", "P1", "P9", undone=True)],
                       ledger=ledger, period="2026-Q4", connector=target)  # fmt: skip


def test_a_deal_a_merge_moved_is_not_paid_again_when_the_merged_partner_is_undeleted(cosell_ledger):
    after = merged_then_undone(cosell_ledger)
    assert after.lines == []
    assert after.fields[("deal", "D1")]["incentive"] == "1000.00"  # what P1 was paid on it, now P9's deal


def test_a_refund_of_a_deal_a_merge_moved_takes_the_commission_back_from_the_partner_holding_it(
    cosell_ledger,
):
    plan = program(
        tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}], clawback_window_days=200
    )
    after = merged_then_undone(cosell_ledger, refunded_on="2026-10-15", plan=plan)
    [clawback] = after.lines
    assert (clawback.partner_id, clawback.kind, clawback.deal_id) == ("P9", "clawback", "D1")
    assert clawback.amount == Decimal("-1000.00")
    assert "paid in 2026-Q2 is taken back" in clawback.explanation


def test_without_the_undone_merge_a_deal_of_a_closed_period_paid_to_another_pays_its_holder_nothing(
    cosell_ledger,
):
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(PROGRAM, [partner("P1", joined_on="2026-05-01")],
                [deal("D1", "10000", partners=["P1"], won_on="2026-05-10")], ledger=cosell_ledger, period=Q2,
                connector=target)  # fmt: skip
    cosell_ledger.close_period(Period.parse(Q2))
    again = run_program(PROGRAM, [partner("P1", joined_on="2026-05-01"), partner("P9", joined_on="2026-05-02")],
                        [deal("D1", "10000", partners=["P9"], won_on="2026-05-10")], ledger=cosell_ledger,
                        period=Q3, connector=target)  # fmt: skip
    [commission] = [ln for ln in again.lines if ln.kind == "commission"]
    assert (commission.partner_id, commission.amount) == ("P9", Decimal("0.00"))
    assert "its commission was paid in 2026-Q2 to another partner" in commission.explanation


def test_an_undeleted_partner_keeps_its_own_history_and_the_other_its_own_totals():
    records = RecordSet(
        partners=(partner("P1"), partner("P9")),
        deals=(
            deal("D1", "10000", partners=["P9"], won_on="2026-05-10"),
            deal("D3", "500", partners=["P1", "P9"], won_on="2026-05-12"),
        ),
        merges=(Merge("partner", "P1", "P9", undone=True),),
    )
    paid = [
        LedgerLine(Q2, "P1", "commission", Decimal("1000.00"), "D1", "D1"),
        LedgerLine(Q2, "P1", "commission", Decimal("25.00"), "D3", "D3"),
        LedgerLine(Q2, "P1", "signing_bonus", Decimal("1000.00"), "bonus"),
    ]
    tiers = (TierRecord(Q2, Decimal(50), "Silver", "Silver"),)
    history = History(
        lines=MappingProxyType({"P1": tuple(paid)}),
        tiers=MappingProxyType({"P1": tiers}),
        closed_periods=frozenset({Q2}),
    )
    _, seen = merged(records, history)
    # the deal P9 holds alone: P1's payment on it answers for P9; D3, which both hold, stays P1's
    assert seen.paid_deal_ids("P9", "commission") == {"D1"}
    assert [(ln.partner_id, ln.amount) for ln in seen.lines_of("P9", deal_ids=("D1", "D3"))] == [
        ("P9", Decimal("1000.00"))
    ]
    assert {d: [ln.partner_id for ln in ls] for d, ls in seen.lines_on_deals(("commission",)).items()} == {
        "D1": ["P9"],
        "D3": ["P1"],
    }
    # totals, tiers and tags stay each partner's own
    assert seen.lines_of("P9") == () and seen.lines_of("P9", kinds=("commission",)) == ()
    assert seen.tiers_of("P9") == () and seen.tiers_of("P1") == tiers
    assert seen.lines_of("P1") == tuple(paid)
    assert seen.paid_deal_ids("P1", "commission") == {"D1", "D3"}


def test_a_deal_won_while_the_merge_stood_and_moved_back_after_the_undelete_is_not_paid_again(cosell_ledger):
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    both = [partner("P1", joined_on="2026-05-01"), partner("P9", joined_on="2026-05-02")]
    run_program(PROGRAM, both, [deal("D6", "10000", partners=["P1"])], ledger=cosell_ledger, period=Q2,
                connector=target)  # fmt: skip
    cosell_ledger.close_period(Period.parse(Q2))
    won = run_program(PROGRAM, both[1:], [deal("D6", "10000", partners=["P9"], won_on="2026-08-01")],
                      merges=[Merge("partner", "P1", "P9")], ledger=cosell_ledger, period=Q3, connector=target)  # fmt: skip
    assert [(ln.partner_id, ln.kind, ln.deal_id) for ln in won.lines if ln.kind == "commission"] == [
        ("P9", "commission", "D6")
    ]
    cosell_ledger.close_period(Period.parse(Q3))
    # the merge undone, and the deal moved back to the account it came from
    back = run_program(PROGRAM, both, [deal("D6", "10000", partners=["P1"], won_on="2026-08-01")],
                       merges=[Merge("partner", "P1", "P9", undone=True)], ledger=cosell_ledger, period="2026-Q4",
                       connector=target)  # fmt: skip
    assert [ln for ln in back.lines if ln.kind == "commission"] == []
    # nor its first win: P9 was paid its first win on D6 while the merge stood, and D6 went back to P1
    assert back.lines == []


def first_win_on_a_deal_the_merge_moved(ledger, *, moved_back):
    """Q2 (closed): P1 wins D0, its first win; P9 has no win. Q3 (closed): the CRM merged P1 into P9, D0
    went with it (P9 is paid no first win: P1's counts for it). Q4: an admin undeleted P1; D0 stays with
    P9 or is ``moved_back`` to P1, and P9 wins D7. Returns Q4's run."""
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    both = [partner("P1", joined_on="2026-05-01"), partner("P9", joined_on="2026-05-02")]
    first = run_program(PROGRAM, both, [deal("D0", "10000", partners=["P1"], won_on="2026-05-10")],
                        ledger=ledger, period=Q2, connector=target)  # fmt: skip
    assert ("P1", "milestone", "D0") in {(ln.partner_id, ln.kind, ln.deal_id) for ln in first.lines}
    ledger.close_period(Period.parse(Q2))
    with_p9 = deal("D0", "10000", partners=["P9"], won_on="2026-05-10")
    merging = run_program(PROGRAM, both[1:], [with_p9], merges=[Merge("partner", "P1", "P9")], ledger=ledger,
                          period=Q3, connector=target)  # fmt: skip
    assert merging.lines == []
    ledger.close_period(Period.parse(Q3))
    d0 = deal("D0", "10000", partners=["P1"], won_on="2026-05-10") if moved_back else with_p9
    d7 = deal("D7", "5000", partners=["P9"], won_on="2026-11-02")
    return run_program(PROGRAM, both, [d0, d7], merges=[Merge("partner", "P1", "P9", undone=True)],
                       ledger=ledger, period="2026-Q4", connector=target)  # fmt: skip


def test_a_first_win_paid_on_a_deal_the_merge_moved_is_not_paid_again_to_the_partner_holding_it(
    cosell_ledger,
):
    # P9 holds D0, its first won deal, whose first win P1 was paid: P9 has had its first win
    after = first_win_on_a_deal_the_merge_moved(cosell_ledger, moved_back=False)
    assert [(ln.partner_id, ln.kind, ln.deal_id) for ln in after.lines] == [("P9", "commission", "D7")]


def test_a_partner_merged_into_is_paid_its_own_first_win_once_the_deal_that_had_one_is_moved_back(
    cosell_ledger,
):
    after = first_win_on_a_deal_the_merge_moved(cosell_ledger, moved_back=True)
    assert sorted((ln.partner_id, ln.kind, ln.deal_id) for ln in after.lines) == [
        ("P9", "commission", "D7"),
        ("P9", "milestone", "D7"),
    ]


@FAST
@given(program_docs(), datas())
def test_deals_a_merge_moved_to_another_partner_are_paid_once_after_the_merge_is_undone(doc, data):
    # every program and record drawn: Q2 computed and closed; in Q3 the first partner's deals are held by
    # another partner it was merged into, the merge undone (the first is a partner again). The same deals
    # are paid (commission) and taken back (clawback) as when they had stayed: none is paid twice, and a
    # first win is paid where it would have been (the program always has one here).
    import dataclasses

    payouts = doc.setdefault("payouts", {})
    milestones = payouts.setdefault("milestones", [])
    if not any(m["kind"] == "first_win" for m in milestones):
        milestones.append({"name": "first_win", "kind": "first_win", "amount": "2500"})
    loaded = build_program(doc)
    partners, deals, activities, claims = data.build()
    history = history_of(compute_period(loaded, partners, deals, activities, claims, period=Q2), Q2)
    base = compute_period(loaded, partners, deals, activities, claims, period=Q3, history=history)
    if not partners:
        return
    moved, holder = partners[0].id, f"into-{partners[0].id}"

    def held(d):
        parts = tuple(
            dataclasses.replace(i, partner_id=holder) if i.partner_id == moved else i for i in d.partners
        )
        return dataclasses.replace(d, partners=parts)

    other = compute_period(
        loaded, [*partners, dataclasses.replace(partners[0], id=holder)], [held(d) for d in deals], activities,
        claims, merges=[Merge("partner", moved, holder, undone=True)], period=Q3, history=history,
    )  # fmt: skip

    def on_deals(result, kind):
        return sorted(
            (holder if ln.partner_id == moved else ln.partner_id, ln.deal_id)
            for ln in result.all_lines()
            if ln.kind == kind and ln.deal_id is not None  # a milestone naming a deal: a first win
        )

    for kind in ("commission", "clawback", "milestone"):
        assert on_deals(base, kind) == on_deals(other, kind)


def merged_undone_then_merged_into_another(ledger, merges, *, plan=PROGRAM, refunded_on=None):
    """Q2 (closed): A wins DA and has DW open. Q3 (closed): the CRM merged A into M1, which wins DW. Q4
    (closed): an admin undeleted A; DA stays M1's, DW is moved back to A. 2027-Q1: A merged again, into
    M2: DW goes with it (and DA is ``refunded_on``). Returns 2027-Q1's run, with ``merges``."""
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    a, m1, m2 = (partner(pid, joined_on="2026-05-01") for pid in ("A", "M1", "M2"))
    da = {"amount": "10000", "won_on": "2026-05-10"}
    run_program(plan, [a, m1, m2], [deal("DA", **da, partners=["A"]), deal("DW", "20000", partners=["A"])],
                ledger=ledger, period=Q2, connector=target)  # fmt: skip
    ledger.close_period(Period.parse(Q2))
    merging = run_program(plan, [m1, m2], [deal("DA", **da, partners=["M1"]),
                          deal("DW", "20000", partners=["M1"], won_on="2026-08-01")],
                          merges=[Merge("partner", "A", "M1")], ledger=ledger, period=Q3, connector=target)  # fmt: skip
    assert [(ln.partner_id, ln.kind, ln.deal_id) for ln in merging.lines] == [("M1", "commission", "DW")]
    ledger.close_period(Period.parse(Q3))
    undone = run_program(plan, [a, m1, m2], [deal("DA", **da, partners=["M1"]),
                         deal("DW", "20000", partners=["A"], won_on="2026-08-01")],
                         merges=[Merge("partner", "A", "M1", undone=True)], ledger=ledger, period="2026-Q4",
                         connector=target)  # fmt: skip
    assert undone.lines == []
    ledger.close_period(Period.parse("2026-Q4"))
    return run_program(plan, [m1, m2], [deal("DA", **da, partners=["M1"], refunded_on=refunded_on),
                       deal("DW", "20000", partners=["M2"], won_on="2026-08-01")],
                       merges=merges, ledger=ledger, period="2027-Q1", connector=target)  # fmt: skip


def test_an_undone_merge_keeps_its_link_when_the_partner_is_merged_again_into_another(cosell_ledger):
    # DA, which A was paid on, stays with M1; DW, which M1 was paid on, is M2's now: neither is paid again
    again = merged_undone_then_merged_into_another(
        cosell_ledger, [Merge("partner", "A", "M1", undone=True), Merge("partner", "A", "M2")]
    )
    assert again.lines == []


def test_a_refund_after_the_partner_is_merged_again_takes_the_commission_back_from_the_partner_holding_the_deal(
    cosell_ledger,
):
    plan = program(
        tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}], clawback_window_days=400
    )
    again = merged_undone_then_merged_into_another(
        cosell_ledger,
        [Merge("partner", "A", "M1", undone=True), Merge("partner", "A", "M2")],
        plan=plan,
        refunded_on="2027-01-15",
    )
    [clawback] = again.lines
    assert (clawback.partner_id, clawback.kind, clawback.deal_id, clawback.amount) == (
        "M1",
        "clawback",
        "DA",
        Decimal("-1000.00"),
    )


def test_without_the_undone_merge_a_partner_merged_again_into_another_would_have_its_deals_paid_again(
    cosell_ledger,
):
    again = merged_undone_then_merged_into_another(cosell_ledger, [Merge("partner", "A", "M2")])
    assert sorted((ln.partner_id, ln.kind, ln.deal_id) for ln in again.lines) == [
        ("M1", "commission", "DA"),
        ("M1", "milestone", "DA"),  # A's first win, on the deal M1 holds
        ("M2", "commission", "DW"),
    ]


def test_after_two_undone_merges_and_a_third_each_link_answers_for_the_deals_its_partners_hold():
    # A merged into M1 and undone, into M2 and undone, then into M3: each earlier master holds a deal
    # one of A's ids was paid on, and M3 holds one M1 was paid on
    records = RecordSet(
        partners=(partner("M1"), partner("M2"), partner("M3")),
        deals=(
            deal("D1", "1", partners=["M1"]),
            deal("D2", "1", partners=["M2"]),
            deal("D3", "1", partners=["M3"]),
        ),
        merges=(
            Merge("partner", "A", "M1", undone=True),
            Merge("partner", "A", "M2", undone=True),
            Merge("partner", "A", "M3"),
        ),
    )
    paid = {
        "A": (LedgerLine(Q2, "A", "commission", Decimal(1), "D1", "D1"), LedgerLine(Q2, "A", "commission", Decimal(2), "D2", "D2")),
        "M1": (LedgerLine(Q2, "M1", "commission", Decimal(3), "D3", "D3"),),
    }  # fmt: skip
    _, seen = merged(records, History(lines=MappingProxyType(paid), closed_periods=frozenset({Q2})))
    assert {pid: seen.paid_deal_ids(pid, "commission") for pid in ("M1", "M2", "M3")} == {
        "M1": {"D1", "D3"},  # D3: its own line; it holds D3 no longer, a total stays its own
        "M2": {"D2"},
        "M3": {"D1", "D2", "D3"},  # D1, D2: A's own lines, A is M3 now; D3: M1's, on the deal M3 holds
    }
    assert {d: [ln.partner_id for ln in ls] for d, ls in seen.lines_on_deals(("commission",)).items()} == {
        "D1": ["M1"],
        "D2": ["M2"],
        "D3": ["M3"],
    }


def test_a_partner_merged_into_a_new_id_starts_from_the_crm_tier_its_former_id_was_first_read_with():
    tiers = [
        {"name": "Registered", "min_score": 0, "commission_rate": "0.05"},
        {"name": "Gold", "min_score": 70, "commission_rate": "0.12"},
    ]
    # P9's field holds the Gold cosell wrote on P1; P3, first read itself, keeps its own over P2's
    first_read = MappingProxyType({"P1": "Registered", "P2": "Gold", "P3": "Registered"})
    computed = compute_period(
        program(tiers=tiers, demotion_grace_periods=1),
        [partner("P9", crm_tier="Gold"), partner("P3", crm_tier="Gold")],
        [],
        merges=[Merge("partner", "P1", "P9"), Merge("partner", "P2", "P3")],
        history=History(crm_tiers=first_read),
    )
    assert {s.partner_id: s.tier.assigned for s in computed.standings} == {
        "P9": "Registered",
        "P3": "Registered",
    }
