"""What the CRM holds after a run: SPEC "Projected incentive" and the write-back values."""

import re
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosell.connector import FieldWrite
from cosell.errors import FinishedWithFailures
from cosell.records import Merge
from cosell.results import PayoutLine
from cosell.testing import MemoryConnector, compute_period, deal, partner, program, run_program
from cosell.writeback import (
    _AdjustedPeriods,
    _won_deal_write,
    changed_writes,
    planned_keys,
    planned_writes,
    same_value,
)
from ledgers import execute

PROGRAM = program(
    tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}],
    fx={"EUR": "1.25"},
    payouts={"role_multipliers": {"cosell": "0.5"}},
    guardrails={"max_discount_pct": 25},
    clawback_window_days=90,
    caps={"per_partner": 1000},
)


@pytest.fixture
def fields(cosell_ledger):
    deals = [
        deal(
            "W",
            "10000",
            currency="EUR",
            partners=[("P1", "sourced", "0.6"), ("P2", "cosell")],
            won_on="2026-08-01",
        ),
        deal("O", "1000", partners=["P1"]),
        deal("X", "1000", partners=["P1"], discount_pct="30"),
        deal("L", "1000", partners=["P1"], lost_on="2026-08-01"),
        deal("N", "1000"),  # no partner: nothing to say
    ]
    target = MemoryConnector(records=None)  # type: ignore[arg-type]
    target.fields[("deal", "L")] = {
        "incentive": "50.00",
        "incentive_status": "Projected",
        "incentive_note": "old",
    }
    run_program(PROGRAM, [partner("P1"), partner("P2")], deals, ledger=cosell_ledger, connector=target)
    return target.fields


def test_won_deal_holds_the_sum_of_its_commission_lines_in_its_own_currency(fields):
    # 10,000 EUR = 12,500 USD; P1 12,500 × 0.6 × 10% = 750; P2 12,500 × 0.4 × 0.5 × 10% = 250: 1,000 USD = 800 EUR
    assert fields[("deal", "W")]["incentive"] == "800.00"
    assert fields[("deal", "W")]["incentive_status"] == "Earned"
    assert fields[("deal", "W")]["incentive_note"] == "Earned: Partner P1: 600.00 EUR; Partner P2: 200.00 EUR"


def test_open_deal_holds_its_projection_and_past_the_discount_limit_zero_withheld_with_the_reason(fields):
    assert (fields[("deal", "O")]["incentive"], fields[("deal", "O")]["incentive_status"]) == (
        "100.00",
        "Projected",
    )
    assert (
        fields[("deal", "X")]["incentive"] == "0.00"
        and fields[("deal", "X")]["incentive_status"] == "Withheld"
    )
    assert "discount 30% is above the 25% limit" in fields[("deal", "X")]["incentive_note"]


def test_lost_deal_is_cleared_and_a_deal_without_partners_is_left_alone(fields):
    assert fields[("deal", "L")] == {"incentive": None, "incentive_status": None, "incentive_note": None}
    assert ("deal", "N") not in fields


def test_account_holds_tier_score_and_period_earnings(fields):
    assert fields[("account", "P1")] == {
        "tier": "Silver",
        "score": "0.00",
        "period_earnings": "750.00",
        "tier_benefits": None,  # Silver lists no benefits: the field is left empty
    }


BENEFITS = program(
    tiers=[
        {"name": "Registered", "min_score": 0, "benefits": ["partner portal", "deal registration"]},
        {
            "name": "Gold",
            "min_score": 50,
            "benefits": ["partner portal", "deal registration", "roadmap briefings"],
        },
    ],
    scoring={"metrics": {"won_revenue": {"weight": 1, "target": 1000}}},
)


def accounts_of(partners, deals):
    result = compute_period(BENEFITS, partners, deals)
    return {
        w.record_id: w.values for w in planned_writes(result, result.context.history) if w.object == "account"
    }


def test_account_holds_its_tiers_benefits_one_a_line():
    won = deal("D1", "1000", partners=["P1"], won_on="2026-08-01")
    accounts = accounts_of([partner("P1"), partner("P2")], [won])
    assert accounts["P1"]["tier"] == "Gold"
    assert accounts["P1"]["tier_benefits"] == "partner portal\ndeal registration\nroadmap briefings"
    assert accounts["P2"]["tier_benefits"] == "partner portal\ndeal registration"


def test_a_partner_that_has_left_holds_no_benefits():
    gone = partner("P1", status="exited", exit_on="2026-07-15")
    accounts = accounts_of([gone], [])
    assert accounts["P1"]["tier"] == "Exited (was Registered)" and accounts["P1"]["tier_benefits"] is None


def test_unchanged_benefits_are_not_written_again_and_changed_ones_are():
    desired = accounts_of([partner("P2")], [])["P2"]
    held = {("account", "P2"): dict(desired)}
    assert changed_writes([FieldWrite("account", "P2", desired)], held) == []
    held[("account", "P2")]["tier_benefits"] = "partner portal"
    [change] = changed_writes([FieldWrite("account", "P2", desired)], held)
    assert change.values == {"tier_benefits": "partner portal\ndeal registration"}


def test_a_change_keeps_the_old_values_of_just_the_fields_it_changes_in_the_order_written():
    desired = {"incentive": "5.00", "incentive_status": "Earned", "incentive_note": "new"}
    held = {
        ("deal", "D1"): {"incentive_note": "old", "incentive": "4.00", "incentive_status": "Projected"},
        ("deal", "D2"): {"incentive": "4.00", "incentive_status": "Earned", "incentive_note": "old"},
        ("deal", "D3"): {"incentive": "4.00", "incentive_status": "Projected", "incentive_note": "old"},
    }
    changes = changed_writes([FieldWrite("deal", d, desired) for d in ("D1", "D2", "D3")], held)
    assert [(w.record_id, list(w.values.items()), list(w.old.items())) for w in changes] == [
        (
            "D1",
            list(desired.items()),
            [("incentive", "4.00"), ("incentive_status", "Projected"), ("incentive_note", "old")],
        ),
        (
            "D2",
            [("incentive", "5.00"), ("incentive_note", "new")],
            [("incentive", "4.00"), ("incentive_note", "old")],
        ),
        ("D3", list(desired.items()), list(held[("deal", "D3")].items())),
    ]


def test_clawed_back_deal_holds_the_net_of_its_lines_with_status_clawed_back():
    from cosell.results import History, LedgerLine

    history = History(
        lines=MappingProxyType(
            {"P1": (LedgerLine("2026-Q2", "P1", "commission", Decimal("100.00"), "paid", "D1"),)}
        )
    )
    d = deal(
        "D1", "1000", partners=["P1"], created_on="2026-05-01", won_on="2026-06-15", refunded_on="2026-07-01"
    )
    result = compute_period(PROGRAM, [partner("P1")], [d], history=history)
    [write] = [w for w in planned_writes(result, history) if w.key == ("deal", "D1")]
    assert write.values["incentive"] == "0.00" and write.values["incentive_status"] == "Clawed back"


def test_no_nul_of_a_recorded_explanation_reaches_a_deals_note():
    from cosell.results import History, LedgerLine

    held = LedgerLine(
        "2026-Q2", "P1", "commission", Decimal("0.00"), "D1: withheld: n\x00ot paid", "D1", withheld=True
    )
    history = History(lines=MappingProxyType({"P1": (held,)}))
    d = deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-15")
    result = compute_period(PROGRAM, [partner("P1")], [d], history=history)
    [write] = [w for w in planned_writes(result, history) if w.key == ("deal", "D1")]
    assert write.values["incentive_note"] == "Withheld (withheld: not paid): Partner P1: 0.00 USD"


def test_a_long_note_keeps_whole_partners_and_says_how_many_more_within_255_characters():
    # 12 partners share D1: 123,456.00 × 1/12 × Silver 10% = 1,028.80 each; the note cannot hold
    # them all, so it keeps the partners that fit, each with its whole amount, and counts the rest
    many = [partner(f"P{i}", name=f"A partner with a rather long name number {i}") for i in range(12)]
    for status, won_on in (("Earned", "2026-08-01"), ("Projected", None)):
        d = deal("D1", "123456", partners=[p.id for p in many], won_on=won_on)
        result = compute_period(PROGRAM, many, [d])
        [write] = [w for w in planned_writes(result, result.context.history) if w.key == ("deal", "D1")]
        note = write.values["incentive_note"]
        assert len(note) <= 255 and note.startswith(status), note
        shown, more = note.rsplit("; and ", 1)
        parts = shown.split(": ", 1)[1].split("; ")
        whole = r"A partner with a rather long name number \d+: 1,028\.80 USD( \(partner total capped/scaled in 2026-Q3\))?"
        assert parts and all(re.fullmatch(whole, p) for p in parts), note
        assert more == f"{12 - len(parts)} more partners", note
    # a name too long for the field even alone: cut before a word, never inside one
    d = deal("D2", "1000", partners=["P1"], won_on="2026-08-01")
    result = compute_period(PROGRAM, [partner("P1", name="Northwind " * 30)], [d])
    [write] = [w for w in planned_writes(result, result.context.history) if w.key == ("deal", "D2")]
    note = write.values["incentive_note"]
    assert len(note) <= 255 and note.endswith("Northwind…"), note


def test_a_change_keeps_the_targets_old_values_and_none_for_a_record_it_does_not_hold():
    deals = [deal("D1", "1000", partners=["P1"]), deal("D2", "2000", partners=["P1"])]
    result = compute_period(PROGRAM, [partner("P1")], deals)
    current = {("deal", "D1"): {"incentive": "5.00", "incentive_status": "Projected", "incentive_note": "x"}}
    changes = {w.key: w for w in changed_writes(planned_writes(result, result.context.history), current)}
    assert changes[("deal", "D1")].old == {"incentive": "5.00", "incentive_note": "x"}
    assert dict(changes[("deal", "D2")].old) == dict.fromkeys(
        ["incentive", "incentive_status", "incentive_note"]
    )
    assert dict(changes[("account", "P1")].old) == dict.fromkeys(["tier", "score", "period_earnings"])
    with pytest.raises(TypeError):  # shared between records: nobody may change it
        changes[("deal", "D2")].old["incentive"] = "1.00"  # type: ignore[index]


def test_only_fields_that_differ_are_written_and_numbers_compare_as_numbers():
    result = compute_period(PROGRAM, [partner("P1")], [deal("D1", "1000", partners=["P1"])])
    desired = planned_writes(result, result.context.history)
    current = {("account", "P1"): {"tier": "Silver", "score": "0", "period_earnings": "0.0"}}
    changes = changed_writes(desired, current)
    assert [w.key for w in changes] == [("deal", "D1")]
    assert same_value("7200.0", "7200.00") and same_value("", None) and not same_value("Gold", "Silver")


def test_a_number_with_spaces_around_it_compares_as_that_number_and_a_text_with_spaces_inside_as_text():
    assert same_value(" 7200.0 ", "7200.00") and same_value("7200.00", "\u20037200\u2003")
    assert not same_value("7 200.00", "7200.00") and not same_value("7200.00", "72 00")
    assert not same_value("Earned: Acme: 10.00 USD", "Earned: Acme: 10.0 USD")


def test_the_tier_field_fits_its_80_characters_whatever_the_tier_names_length():
    from datetime import date

    from cosell.results import TierDecision, TierException
    from cosell.writeback import TIER_LIMIT, tier_shown

    long = "Strategic " * 7 + "Partner"  # 77 characters: fits the field alone
    exception = TierException(1, "P1", long, "2027-Q2", "board decision", "alice", "bob")
    left = partner("P1", status="exited", exit_on="2026-08-01")
    held = TierDecision(long, long, long, 0, "held")
    shown = {
        "exited": tier_shown(left, held, date(2026, 9, 30)),
        "exception": tier_shown(
            partner("P1"), TierDecision("Registered", long, None, 0, "x", exception), date(2026, 9, 30)
        ),
        "plain": tier_shown(partner("P1"), held, date(2026, 9, 30)),
        "too long": tier_shown(
            partner("P1"), TierDecision("X" * 90, "X" * 90, None, 0, "x"), date(2026, 9, 30)
        ),
    }
    assert all(len(text) <= TIER_LIMIT for text in shown.values()), shown
    assert shown["exited"].startswith("Exited (was Strategic") and shown["exited"].endswith("…)")
    assert shown["exception"].endswith("… (exception until 2027-Q2)")
    assert shown["plain"] == long
    assert shown["too long"] == "X" * 79 + "…"


def test_a_projection_no_partner_stands_behind_any_more_is_cleared_and_an_earlier_earned_value_is_kept(
    cosell_ledger,
):
    from cosell.testing import MemoryConnector

    plan = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}])
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    crm.fields[("deal", "D9")] = {
        "incentive": "50.00",
        "incentive_status": "Earned",
        "incentive_note": "before",
    }
    opened = [
        deal("D1", "1000", partners=["P1"]),
        deal("D2", "2000", partners=["P1"]),
        deal("D9", "500", won_on="2026-08-01"),  # won before cosell's ledger: its value stays
    ]
    run_program(plan, [partner("P1")], opened, ledger=cosell_ledger, connector=crm)
    assert crm.fields[("deal", "D1")]["incentive_status"] == "Projected"
    # the partner's row went from D1; D2 was won after its partner was taken off
    later = [
        deal("D1", "1000"),
        deal("D2", "2000", won_on="2026-09-01"),
        deal("D9", "500", won_on="2026-08-01"),
    ]
    again = run_program(plan, [partner("P1")], later, ledger=cosell_ledger, connector=crm)
    cleared = {"incentive": None, "incentive_status": None, "incentive_note": None}
    assert crm.fields[("deal", "D1")] == cleared and crm.fields[("deal", "D2")] == cleared
    assert crm.fields[("deal", "D9")]["incentive_status"] == "Earned"
    assert {w.record_id for w in again.writes if w.object == "deal"} == {"D1", "D2"}
    # a third run has nothing to take back
    third = run_program(plan, [partner("P1")], later, ledger=cosell_ledger, connector=crm)
    assert [w for w in third.writes if w.object == "deal"] == []


# --- a won deal keeps the rate of the period that paid it ------------------------------------------------


def _fx_program(**fx: str):
    return program(
        tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}],
        fx=fx,
        clawback_window_days=120,
    )


def _q3_paid_at_0_9_then_q4_at(cosell_ledger, fx, q4_deals=(), *, forget_q3_rates=False, merges=()):
    """Q3 run with EUR at 0.9 and closed; Q4 run with the program's ``fx`` changed to ``fx``. Returns the
    CRM and the Q4 run."""
    from cosell.periods import Period

    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    q3_deals = [
        deal("W", "1000", currency="EUR", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01"),
        deal("U", "1000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01"),
    ]
    run_program(_fx_program(EUR="0.9"), [partner("P1")], q3_deals, ledger=cosell_ledger, connector=crm)
    cosell_ledger.close_period(Period.parse("2026-Q3"))
    if forget_q3_rates:  # as a run stored before cosell recorded its rates left it
        execute(cosell_ledger.url, "UPDATE cosell_statement_runs SET data = json_remove(data, '$.fx')")
    q4 = run_program(
        _fx_program(**fx),
        [partner("P1")],
        [
            *q4_deals,
            *(d for d in q3_deals if d.id not in {n.id for n in q4_deals} | {m.former_id for m in merges}),
        ],
        merges=merges,
        ledger=cosell_ledger,
        period="2026-Q4",
        connector=crm,
    )
    return crm, q4


def test_a_deal_won_in_a_closed_period_keeps_its_incentive_when_the_fx_rate_changes(cosell_ledger):
    # Q3: EUR 1,000 × 0.9 = 900 USD × 10% = 90.00 USD, shown as 90 ÷ 0.9 = 100.00 EUR. In Q4 EUR is 0.8:
    # the 90.00 USD paid in Q3 is still 100.00 EUR (today's rate would make it 112.50 EUR).
    crm, q4 = _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8"})
    assert crm.fields[("deal", "W")] == {
        "incentive": "100.00",
        "incentive_status": "Earned",
        "incentive_note": "Earned: Partner P1: 100.00 EUR",
    }
    assert [w for w in q4.writes if w.key == ("deal", "W")] == []  # nothing to write again
    # a deal in the program currency needs no conversion: 1,000 × 10% = 100.00 USD, whatever the rates
    assert crm.fields[("deal", "U")]["incentive"] == "100.00"


def test_a_deal_won_after_the_rate_changed_is_shown_at_the_new_rate(cosell_ledger):
    # Q4: EUR 2,000 × 0.8 = 1,600 USD × 10% = 160.00 USD = 200.00 EUR
    late = deal("W4", "2000", currency="EUR", partners=["P1"], created_on="2026-10-01", won_on="2026-11-01")
    crm, _ = _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8"}, [late])
    assert crm.fields[("deal", "W4")]["incentive"] == "200.00"
    assert crm.fields[("deal", "W")]["incentive"] == "100.00"


def test_a_currency_added_later_is_shown_at_its_rate_and_earlier_deals_keep_theirs(cosell_ledger):
    # GBP enters the fx table in Q4 at 1.25: GBP 1,000 × 1.25 = 1,250 USD × 10% = 125.00 USD = 100.00 GBP
    pounds = deal("G", "1000", currency="GBP", partners=["P1"], created_on="2026-10-01", won_on="2026-11-01")
    crm, _ = _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8", "GBP": "1.25"}, [pounds])
    assert crm.fields[("deal", "G")]["incentive"] == "100.00"
    assert crm.fields[("deal", "W")]["incentive"] == "100.00"


def test_a_deal_whose_currency_its_paying_periods_rates_lack_is_shown_at_todays_rate(cosell_ledger):
    # W was a EUR deal when Q3 paid it 90.00 USD; the CRM now says GBP, which Q3's rates lack:
    # 90 ÷ 1.25 (today's GBP) = 72.00 GBP
    now_in_pounds = deal(
        "W", "1000", currency="GBP", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01"
    )
    crm, _ = _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8", "GBP": "1.25"}, [now_in_pounds])
    assert crm.fields[("deal", "W")]["incentive"] == "72.00"


def test_a_merged_deal_keeps_the_rate_its_former_id_was_paid_at(cosell_ledger):
    from cosell.records import Merge

    # the CRM merged W into W2 after Q3 paid W: W2 holds the 90.00 USD paid at 0.9, 100.00 EUR
    w2 = deal("W2", "1000", currency="EUR", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01")
    crm, q4 = _q3_paid_at_0_9_then_q4_at(
        cosell_ledger, {"EUR": "0.8"}, [w2], merges=[Merge("deal", "W", "W2")]
    )
    assert q4.lines_of("P1", "commission") == []  # paid once, under its former id
    assert crm.fields[("deal", "W2")]["incentive"] == "100.00"


def test_a_period_stored_before_rates_were_recorded_is_shown_at_todays_rate(cosell_ledger):
    # Q3's run recorded no rates: its 90.00 USD is shown at today's 0.8, 112.50 EUR, as before
    crm, _ = _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8"}, forget_q3_rates=True)
    assert crm.fields[("deal", "W")]["incentive"] == "112.50"


def test_a_commission_taken_back_after_the_rate_changed_nets_to_zero_in_the_deals_currency(cosell_ledger):
    # paid 90.00 USD in Q3 at 0.9 (100.00 EUR), refunded in Q4 at 0.8: the clawback of 90.00 USD takes
    # back those 100.00 EUR, not 112.50
    refunded = deal(
        "W",
        "1000",
        currency="EUR",
        partners=["P1"],
        created_on="2026-07-01",
        won_on="2026-08-01",
        refunded_on="2026-10-15",
    )
    crm, q4 = _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8"}, [refunded])
    assert [ln.amount for ln in q4.lines_of("P1", "clawback")] == [Decimal("-90.00")]
    assert crm.fields[("deal", "W")]["incentive"] == "0.00"
    assert crm.fields[("deal", "W")]["incentive_status"] == "Clawed back"
    assert crm.fields[("deal", "W")]["incentive_note"] == "Clawed back: Partner P1: 0.00 EUR"


def test_the_run_records_the_rates_it_converted_with(cosell_ledger):
    from cosell.periods import Period

    _q3_paid_at_0_9_then_q4_at(cosell_ledger, {"EUR": "0.8", "GBP": "1.25"})
    history = cosell_ledger.history(Period.parse("2027-Q1"))
    assert history.fx_of("2026-Q3") == {"EUR": Decimal("0.9")}
    assert history.fx_of("2026-Q4") == {"EUR": Decimal("0.8"), "GBP": Decimal("1.25")}


def test_each_partners_lines_on_a_deal_are_shown_at_the_rates_of_the_periods_that_paid_them():
    from cosell.results import History, LedgerLine

    # P1 paid 90.00 USD in Q1 at EUR 0.9 (100.00 EUR), P2 40.00 USD in Q2 at 0.8 (50.00 EUR); today 1.25
    history = History(
        lines=MappingProxyType(
            {
                "P1": (LedgerLine("2026-Q1", "P1", "commission", Decimal("90.00"), "paid", "D1"),),
                "P2": (LedgerLine("2026-Q2", "P2", "commission", Decimal("40.00"), "paid", "D1"),),
            }
        ),
        fx_rates=MappingProxyType({"2026-Q1": {"EUR": Decimal("0.9")}, "2026-Q2": {"EUR": Decimal("0.8")}}),
    )
    d = deal(
        "D1", "1000", currency="EUR", partners=["P1", "P2"], created_on="2026-01-05", won_on="2026-02-01"
    )
    result = compute_period(PROGRAM, [partner("P1"), partner("P2")], [d], history=history)
    [write] = [w for w in planned_writes(result, history) if w.key == ("deal", "D1")]
    assert write.values["incentive"] == "150.00"  # 130.00 USD at today's 1.25 would be 104.00
    assert write.values["incentive_note"] == "Earned: Partner P1: 100.00 EUR; Partner P2: 50.00 EUR"


def test_an_account_no_longer_read_as_a_partner_is_cleared_once_with_its_open_deals_projection(
    cosell_ledger,
):
    plan = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}])
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    first = run_program(
        plan,
        [partner("P1"), partner("P2")],
        [deal("D1", "1000", partners=["P2"]), deal("D2", "2000", partners=["P1"])],
        ledger=cosell_ledger,
        connector=crm,
    )
    assert crm.fields[("account", "P2")]["tier"] == "Silver"
    assert crm.fields[("deal", "D1")]["incentive_status"] == "Projected"
    assert first.report.changes  # written
    # P2's partner status was set to inactive: the CRM's partner filter no longer gives it, and its open
    # deal still names it (a customer account on a deal is no partner of the program)
    later = [deal("D1", "1000", partners=["P2"]), deal("D2", "2000", partners=["P1"])]
    again = run_program(plan, [partner("P1")], later, ledger=cosell_ledger, connector=crm)
    assert crm.fields[("account", "P2")] == {
        "tier": None,
        "score": None,
        "period_earnings": None,
        "tier_benefits": None,
    }
    assert crm.fields[("deal", "D1")] == {"incentive": None, "incentive_status": None, "incentive_note": None}
    assert crm.fields[("account", "P1")]["tier"] == "Silver"
    assert {w.key for w in again.writes} == {("account", "P2"), ("deal", "D1")}
    cleared = next(w for w in again.writes if w.key == ("account", "P2"))
    assert dict(cleared.values) == {
        "tier": None,
        "score": None,
        "period_earnings": None,
    }  # benefits held none
    assert cleared.old == {"tier": "Silver", "score": "0.00", "period_earnings": "0.00"}
    # written once: the next runs have nothing to take back
    third = run_program(plan, [partner("P1")], later, ledger=cosell_ledger, connector=crm)
    assert third.writes == [] and third.report.changes == ()


def test_an_account_no_longer_a_partner_that_the_target_does_not_hold_is_not_written(cosell_ledger):
    """Deleted in the CRM after it stopped being a partner: nothing to clear, and no refused write."""
    plan = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}])
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(plan, [partner("P1"), partner("P2")], [], ledger=cosell_ledger, connector=crm)
    del crm.fields[("account", "P2")]
    again = run_program(plan, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert again.writes == [] and not again.report.failures


def test_a_refused_clearing_of_a_former_partners_account_is_sent_again_by_the_next_run(cosell_ledger):
    plan = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}])
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(plan, [partner("P1"), partner("P2")], [], ledger=cosell_ledger, connector=crm)
    crm.refuse = frozenset({"P2"})  # a validation rule, a locked row
    with pytest.raises(FinishedWithFailures) as refused:
        run_program(plan, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert any("account P2" in failure for failure in refused.value.report.failures)
    assert crm.fields[("account", "P2")]["tier"] == "Silver"
    crm.refuse = frozenset()
    again = run_program(plan, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert [w.key for w in again.writes] == [("account", "P2")]
    assert crm.fields[("account", "P2")]["tier"] is None


SILVER = program(
    tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}], guardrails={"max_discount_pct": 25}
)
NOTHING = {"incentive": None, "incentive_status": None, "incentive_note": None}


def test_an_open_deal_that_leaves_the_read_has_its_projection_cleared_once(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    kept = deal("D2", "2000", partners=["P1"])
    run_program(
        SILVER,
        [partner("P1")],
        [deal("D1", "1000", partners=["P1"]), deal("X", "1000", partners=["P1"], discount_pct="30"), kept],
        ledger=cosell_ledger,
        connector=crm,
    )
    assert crm.fields[("deal", "D1")]["incentive_status"] == "Projected"
    assert crm.fields[("deal", "X")]["incentive_status"] == "Withheld"
    # D1 and X leave the connector's deal filter (moved to a pipeline or record type it leaves out): no
    # read gives them any more, and cosell no longer considers them
    again = run_program(SILVER, [partner("P1")], [kept], ledger=cosell_ledger, connector=crm)
    assert crm.fields[("deal", "D1")] == NOTHING and crm.fields[("deal", "X")] == NOTHING
    assert crm.fields[("deal", "D2")]["incentive_status"] == "Projected"
    assert sorted(w.key for w in again.writes) == [("deal", "D1"), ("deal", "X")]
    cleared = next(w for w in again.report.changes if w.key == ("deal", "D1"))
    assert cleared.old == {"incentive": "100.00", "incentive_status": "Projected",
                           "incentive_note": "Projected if won by 2026-09-30: Partner P1: 100.00 USD"}  # fmt: skip
    # written once: the period's results no longer project them
    third = run_program(SILVER, [partner("P1")], [kept], ledger=cosell_ledger, connector=crm)
    assert third.writes == [] and third.report.changes == ()


def test_a_deal_projected_last_period_and_not_read_in_the_next_is_cleared(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(SILVER, [partner("P1")], [deal("D1", partners=["P1"])], ledger=cosell_ledger, connector=crm)
    later = run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm, period="2026-Q4")
    assert [w.key for w in later.writes] == [("deal", "D1")]
    assert crm.fields[("deal", "D1")] == NOTHING


def test_a_deal_no_longer_read_whose_target_shows_earned_keeps_it(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(SILVER, [partner("P1")], [deal("D1", partners=["P1"])], ledger=cosell_ledger, connector=crm)
    earned = {"incentive": "100.00", "incentive_status": "Earned", "incentive_note": "Earned: Partner P1"}
    crm.fields[("deal", "D1")] = dict(earned)  # what the deal shows now is no projection
    again = run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert again.writes == [] and crm.fields[("deal", "D1")] == earned


def test_a_projected_deal_no_longer_read_that_the_target_does_not_hold_is_not_written(cosell_ledger):
    """Deleted in the CRM: nothing to clear, and no refused write."""
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(SILVER, [partner("P1")], [deal("D1", partners=["P1"])], ledger=cosell_ledger, connector=crm)
    del crm.fields[("deal", "D1")]
    again = run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert again.writes == [] and not again.report.failures


def test_a_projected_deal_merged_into_another_is_not_written_under_its_former_id(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(SILVER, [partner("P1")], [deal("D1", partners=["P1"])], ledger=cosell_ledger, connector=crm)
    again = run_program(
        SILVER,
        [partner("P1")],
        [deal("D9", partners=["P1"])],
        merges=[Merge("deal", "D1", "D9")],  # a HubSpot merge: the deal lives on under a new id
        ledger=cosell_ledger,
        connector=crm,
    )
    assert [w.key for w in again.writes] == [("deal", "D9")]
    assert crm.fields[("deal", "D9")]["incentive_status"] == "Projected"


def test_a_refused_clearing_of_a_deal_no_longer_read_is_sent_again_by_the_next_run(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    run_program(SILVER, [partner("P1")], [deal("D1", partners=["P1"])], ledger=cosell_ledger, connector=crm)
    crm.refuse = frozenset({"D1"})  # a validation rule, a locked row
    with pytest.raises(FinishedWithFailures) as refused:
        run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert any("deal D1" in failure for failure in refused.value.report.failures)
    assert crm.fields[("deal", "D1")]["incentive_status"] == "Projected"
    crm.refuse = frozenset()
    again = run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert [w.key for w in again.writes] == [("deal", "D1")]
    assert crm.fields[("deal", "D1")] == NOTHING
    assert run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm).writes == []


def test_a_deal_won_in_the_open_period_that_its_rerun_no_longer_pays_shows_nothing(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    won = [
        deal("W1", "1000", partners=["P2"], won_on="2026-08-01"),
        deal("W2", "3000", partners=["P1", "P2"], won_on="2026-08-02"),
        deal("OLD", "2000", partners=["P1"], created_on="2025-01-10", won_on="2025-03-01"),
    ]
    before_the_ledger = {"incentive": "90.00", "incentive_status": "Earned", "incentive_note": "Earned: X"}
    crm.fields[("deal", "OLD")] = dict(before_the_ledger)  # won and paid before cosell's ledger started
    run_program(SILVER, [partner("P1"), partner("P2")], won, ledger=cosell_ledger, connector=crm)
    assert crm.fields[("deal", "W1")]["incentive_note"] == "Earned: Partner P2: 100.00 USD"
    # P2 is no partner any more (its partner status set inactive) and the open period is run again: its
    # lines are gone, so W1 earns nothing, and W2 only P1's
    again = run_program(SILVER, [partner("P1")], won, ledger=cosell_ledger, connector=crm)
    assert crm.fields[("deal", "W1")] == NOTHING
    assert crm.fields[("deal", "W2")]["incentive_note"] == "Earned: Partner P1: 150.00 USD"
    assert crm.fields[("deal", "OLD")] == before_the_ledger
    cleared = next(w for w in again.writes if w.key == ("deal", "W1"))
    assert dict(cleared.values) == NOTHING
    # written once
    third = run_program(SILVER, [partner("P1")], won, ledger=cosell_ledger, connector=crm)
    assert [w.key for w in third.writes] == []


def test_a_refused_clearing_of_a_won_deal_no_longer_paid_is_sent_again_by_the_next_run(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    won = [deal("W1", "1000", partners=["P2"], won_on="2026-08-01")]
    run_program(SILVER, [partner("P1"), partner("P2")], won, ledger=cosell_ledger, connector=crm)
    crm.refuse = frozenset({"W1"})
    with pytest.raises(FinishedWithFailures):
        run_program(SILVER, [partner("P1")], won, ledger=cosell_ledger, connector=crm)
    crm.refuse = frozenset()
    again = run_program(SILVER, [partner("P1")], won, ledger=cosell_ledger, connector=crm)
    assert [w.key for w in again.writes] == [("deal", "W1")] and crm.fields[("deal", "W1")] == NOTHING


def test_a_deal_won_in_the_open_period_that_leaves_the_read_shows_nothing_after_the_rerun(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    won = deal("W1", "1000", partners=["P1"], won_on="2026-08-01")
    run_program(SILVER, [partner("P1")], [won], ledger=cosell_ledger, connector=crm)
    assert crm.fields[("deal", "W1")]["incentive_status"] == "Earned"
    # out of the connector's deal filter: the rerun of the open period pays nothing on it
    again = run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm)
    assert crm.fields[("deal", "W1")] == NOTHING
    assert ("deal", "W1") in [w.key for w in again.writes]  # and the partner's earnings, 0.00 now


def test_a_deal_won_in_an_earlier_period_that_leaves_the_read_keeps_what_it_earned(cosell_ledger):
    crm = MemoryConnector(records=None)  # type: ignore[arg-type]
    won = deal("W1", "1000", partners=["P1"], won_on="2026-08-01")
    run_program(SILVER, [partner("P1")], [won], ledger=cosell_ledger, connector=crm)
    earned = dict(crm.fields[("deal", "W1")])
    later = run_program(SILVER, [partner("P1")], [], ledger=cosell_ledger, connector=crm, period="2026-Q4")
    assert crm.fields[("deal", "W1")] == earned  # paid in 2026-Q3: it stays paid
    assert [w.key for w in later.writes] == [("account", "P1")]  # a new period's earnings


def _paid_in_q2(*, capped: bool):
    """P1's 100.00 USD commission on D1 in 2026-Q2, with (``capped``) a per-partner cap line that period."""
    from cosell.results import History, LedgerLine

    lines = [LedgerLine("2026-Q2", "P1", "commission", Decimal("100.00"), "paid", "D1")]
    if capped:
        lines.append(LedgerLine("2026-Q2", "P1", "cap", Decimal("-40.00"), "cap: over 1000"))
    return History(lines=MappingProxyType({"P1": tuple(lines)}))


def test_a_deal_paid_in_a_capped_period_says_so_in_the_later_periods_that_show_it():
    history = _paid_in_q2(capped=True)
    d = deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-05-15")
    result = compute_period(PROGRAM, [partner("P1")], [d], period="2026-Q3", history=history)
    [write] = [w for w in planned_writes(result, history) if w.key == ("deal", "D1")]
    assert write.values["incentive_note"] == (
        "Earned: Partner P1: 100.00 USD (partner total capped/scaled in 2026-Q2)"
    )


def test_a_deal_paid_in_a_period_not_capped_is_not_marked_when_a_later_capped_period_claws_it_back():
    history = _paid_in_q2(capped=False)
    refunded = deal(
        "D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-05-15", refunded_on="2026-07-01"
    )
    big = deal("D2", "20000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01")  # over the cap
    result = compute_period(PROGRAM, [partner("P1")], [refunded, big], period="2026-Q3", history=history)
    writes = {w.record_id: w.values for w in planned_writes(result, history) if w.object == "deal"}
    assert writes["D1"]["incentive_note"] == "Clawed back: Partner P1: 0.00 USD"
    assert writes["D2"]["incentive_note"] == (
        "Earned: Partner P1: 2,000.00 USD (partner total capped/scaled in 2026-Q3)"
    )


_CENTS = st.integers(min_value=-(10**9), max_value=10**9).map(lambda c: Decimal(c).scaleb(-2))


@given(
    amount=st.one_of(st.just(Decimal("0.00")), st.just(Decimal("-0.00")), _CENTS),
    part=st.integers(min_value=0, max_value=100),
    rate=st.one_of(st.just(Decimal(1)), st.decimals(min_value="0.0001", max_value="10000", places=4)),
    kind=st.sampled_from(["commission", "clawback"]),
    withheld=st.booleans(),
    name=st.text(min_size=0, max_size=300),
)
def test_a_deal_paid_by_one_line_reads_as_the_same_amount_paid_by_two_lines_of_its_partner(
    amount, part, rate, kind, withheld, name
):
    """The planner writes a deal paid by one line (most won deals) without the sums that several lines
    need: the same values as the same amount split over two lines of the same partner, kind and flag."""
    first = (amount * part / 100).quantize(Decimal("0.01"))
    explanation = "commission: withheld: discount over the limit"

    def paid(*amounts: Decimal) -> list[PayoutLine]:
        return [PayoutLine("P1", kind, a, explanation, "D1", withheld=withheld) for a in amounts]

    def write(lines: list[PayoutLine]) -> FieldWrite:
        adjusted = _AdjustedPeriods(None, (), "2026-Q3", (), frozenset({"clawback"}))  # type: ignore[arg-type]
        return _won_deal_write("D1", "EUR", rate, lines, {"P1": name}, adjusted, frozenset({"clawback"}))

    one, two = write(paid(amount)), write(paid(first, amount - first))
    assert dict(one.values) == dict(two.values)
    assert list(one.values) == list(two.values)


_DEAL_KINDS = ["open", "open alone", "open over the discount limit", "won", "won alone", "won by two", "lost"]


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(_DEAL_KINDS), max_size=8),
    rate=st.sampled_from(["0", "0.10", "1"]),
    limit=st.sampled_from([0, 30, 100]),
    partners=st.integers(min_value=0, max_value=2),
)
def test_the_records_planned_are_those_planned_keys_names_in_the_same_order(kinds, rate, limit, partners):
    """A run reads what the target holds for the records ``planned_keys`` names, then compares each
    planned write as it is made: they must be the same records, in the same order."""
    deals = []
    for i, kind in enumerate(kinds):
        who = (
            []
            if "alone" in kind
            else [("P1", "sourced", "0.5"), ("P2", "cosell")]
            if "two" in kind
            else ["P1"]
        )
        closed = {"won_on": "2026-08-01"} if kind.startswith("won") else {}
        closed |= {"lost_on": "2026-08-01"} if kind == "lost" else {}
        discount = {"discount_pct": "30"} if "limit" in kind else {}
        deals.append(deal(f"D{i}", "1000", partners=who, **closed, **discount))
    computation = compute_period(
        program(
            tiers=[{"name": "Silver", "min_score": 0, "commission_rate": rate}],
            guardrails={"max_discount_pct": limit},
        ),
        [partner(f"P{n}") for n in range(1, partners + 1)],
        deals,
    )
    writes = planned_writes(computation, computation.context.history)
    assert [w.key for w in writes] == planned_keys(computation)
