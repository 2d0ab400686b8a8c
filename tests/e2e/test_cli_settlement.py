"""``cosell settlement`` on the bundled example: Tailspin (P004) leaves the program; its settlement as of
2026-Q3 says what is owed, may be owed and may be taken back, and the run of 2026-Q4 pays exactly that."""

import csv
import json
from decimal import Decimal

import pytest

from invoke import cosell

KIND_OF_PART = {
    "Commission in the wind-down": "commission",
    "Clawback exposure": "clawback",
    "Market-development funds": "mdf",
    "Adjustments": "adjustment",
}


@pytest.fixture
def ledger(work, ledger_url):
    return ledger_url


def rewrite(path, changes):
    """Set cells of a CSV file: ``changes`` maps a row id to {column: value}."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.update(changes.get(row["id"], {}))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run(ledger, period):
    result = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger, "--period", period
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def settlement(ledger, *args):
    result = cosell("settlement", "P004", "--ledger", ledger, *args)
    assert result.exit_code == 0, result.output
    return result.output


def lines(ledger, period):
    text = cosell(
        "statement", "--period", period, "--partner", "P004", "--format", "json", "--ledger", ledger
    ).output
    (partner,) = json.loads(text)["partners"]
    return partner["lines"]


def exit_in_q4_with_an_approved_adjustment(work, ledger):
    """Tailspin exits on 2026-11-15; 2026-Q3 is run, then an adjustment of 500.00 for it is approved."""
    rewrite(work / "data" / "partners.csv", {"P004": {"exit_on": "2026-11-15"}})
    run(ledger, "2026-Q3")
    approved = json.loads(
        cosell("adjust", "propose", "--partner", "P004", "--amount", "500", "--reason", "handover workshop",
               "--by", "ann", "--ledger", ledger, "--json").output
    )["id"]  # fmt: skip
    assert cosell("adjust", "approve", approved, "--by", "bob", "--ledger", ledger).exit_code == 0


def test_the_settlement_as_of_a_period_matches_what_the_following_run_pays(work, ledger):
    # Tailspin exits on 2026-11-15: its wind-down runs to 2027-01-14 (60 days), its unreleased MDF is paid in
    # 2026-Q4, the quarter of the exit.
    exit_in_q4_with_an_approved_adjustment(work, ledger)
    cosell(
        "adjust",
        "propose",
        "--partner",
        "P004",
        "--amount",
        "200",
        "--reason",
        "travel",
        "--by",
        "ann",
        "--ledger",
        ledger,
    )

    doc = json.loads(settlement(ledger, "--period", "2026-Q3", "--format", "json"))
    assert (doc["status"], doc["exit_on"], doc["last_period"], doc["last_day"]) == (
        "exiting", "2026-11-15", "2027-Q1", "2027-01-14"
    )  # fmt: skip
    items = [(KIND_OF_PART[p["title"]], i) for p in doc["parts"] for i in p["items"]]
    owed = [(kind, i["deal_id"], i["amount"], i["due"]) for kind, i in items if i["status"] == "owed"]
    assert sorted(owed, key=str) == sorted(
        [("mdf", None, "3000.00", "2026-Q4"), ("adjustment", None, "500.00", None)], key=str
    )
    projected = [(kind, i["deal_id"], i["amount"]) for kind, i in items if i["status"] == "projected"]
    assert projected == [("commission", "D4003", "3048.00")]  # GBP 30,000 at 1.27 × Silver 8%
    at_risk = [(kind, i["deal_id"], i["amount"]) for kind, i in items if i["status"] == "at_risk"]
    assert at_risk == [("clawback", "D4001", "-11176.00"), ("clawback", "D4002", "-8636.00")]
    assert [i["amount"] for _, i in items if i["status"] == "pending_approval"] == ["200.00"]
    assert doc["totals"]["owed"] == "3500.00" and doc["totals"]["at_risk"] == "-19812.00"

    # 2026-Q4 happens: the open deal is won inside the wind-down, and D4001 is refunded inside its window.
    rewrite(work / "data" / "deals.csv", {
        "D4003": {"status": "won", "stage": "Closed Won", "closed_on": "2026-10-20"},
        "D4001": {"refunded_on": "2026-10-25"},
    })  # fmt: skip
    run(ledger, "2026-Q4")
    paid = lines(ledger, "2026-Q4")
    # every amount owed is paid, by the kind the settlement named, and nothing else is paid but what happened
    for kind, deal, amount, _ in owed:
        assert [ln["amount"] for ln in paid if ln["kind"] == kind and ln["deal_id"] == deal] == [amount]
    assert [ln["amount"] for ln in paid if ln["kind"] == "commission" and ln["deal_id"] == "D4003"] == [
        "3048.00"
    ]
    assert [ln["amount"] for ln in paid if ln["kind"] == "clawback"] == ["-11176.00"]
    expected = sum(Decimal(a) for *_, a, _ in owed) + Decimal("3048.00") - Decimal("11176.00")
    assert sum(Decimal(ln["amount"]) for ln in paid) == expected
    # the pending adjustment paid nothing; the settlement of 2026-Q3 is the same when asked again
    assert not [ln for ln in paid if ln["amount"] == "200.00"]
    after = json.loads(settlement(ledger, "--period", "2026-Q3", "--format", "json"))
    assert [p for p in after["parts"] if p["title"] != "Adjustments"] == [
        p for p in doc["parts"] if p["title"] != "Adjustments"
    ]


def test_a_deal_the_records_show_won_after_the_period_is_owed_in_its_own_period(work, ledger):
    # The quarter is run after it ended: the records already show D4003 won on 2026-10-05, inside the
    # wind-down (to 2026-10-14). It is owed, and paid by the run of 2026-Q4.
    rewrite(
        work / "data" / "deals.csv",
        {"D4003": {"status": "won", "stage": "Closed Won", "closed_on": "2026-10-05"}},
    )
    run(ledger, "2026-Q3")
    doc = json.loads(settlement(ledger, "--format", "json"))
    (owed,) = [i for p in doc["parts"] for i in p["items"] if i["status"] == "owed"]
    assert (owed["deal_id"], owed["amount"], owed["due"]) == ("D4003", "3048.00", "2026-Q4")
    assert not [i for p in doc["parts"] for i in p["items"] if i["status"] == "projected"]
    run(ledger, "2026-Q4")
    paid = [
        ln["amount"]
        for ln in lines(ledger, "2026-Q4")
        if ln["kind"] == "commission" and ln["deal_id"] == "D4003"
    ]
    assert paid == ["3048.00"]
    assert "last period it earns in: 2026-Q4 (it could earn until 2026-10-14: over)" in settlement(ledger)


def test_the_settlement_page_is_one_a_partner_can_read_offline(work, ledger):
    run(ledger, "2026-Q3")
    page = settlement(ledger, "--format", "html")
    assert page.startswith("<!DOCTYPE html>") and "Exit settlement" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<link" not in page
    for words in ("Tailspin Integrators", "Last period you earn in", "2026-Q4", "3,048.00", "-11,176.00"):
        assert words in page
    text = settlement(ledger)
    assert "last period it earns in: 2026-Q4 (it can earn until 2026-10-14)" in text
    assert "may still be owed (projected, not owed yet): 3,048.00 USD" in text


def test_a_settlement_is_refused_for_an_active_partner_or_an_unknown_one(work, ledger):
    run(ledger, "2026-Q3")
    active = cosell("settlement", "P001", "--ledger", ledger)
    assert active.exit_code == 2 and "not exiting or exited" in active.output
    unknown = cosell("settlement", "P999", "--ledger", ledger, "--period", "2026-Q3")
    assert unknown.exit_code == 2 and "no partner 'P999'" in unknown.output
    bad = cosell("settlement", "P004", "--ledger", ledger, "--format", "pdf")
    assert bad.exit_code == 2 and "--format" in bad.output


def test_an_approved_adjustment_paid_in_the_settlements_own_period_is_shown_paid(work, ledger):
    # Tailspin exits on 2026-11-15. An adjustment of 500.00 approved after the run of 2026-Q3 is owed in
    # that period's settlement, and paid by the run of 2026-Q4: the settlement of 2026-Q4 shows it paid.
    exit_in_q4_with_an_approved_adjustment(work, ledger)
    run(ledger, "2026-Q4")
    doc = json.loads(settlement(ledger, "--period", "2026-Q4", "--format", "json"))
    [adjustments] = [p for p in doc["parts"] if p["title"] == "Adjustments"]
    assert [(i["status"], i["amount"], i["due"]) for i in adjustments["items"]] == [
        ("paid", "500.00", "2026-Q4")
    ]
    assert "paid in 2026-Q4" in adjustments["items"][0]["explanation"]
    before = json.loads(settlement(ledger, "--period", "2026-Q3", "--format", "json"))
    [owed] = [i for p in before["parts"] if p["title"] == "Adjustments" for i in p["items"]]
    assert (owed["status"], owed["amount"], owed["due"]) == ("owed", "500.00", "2026-Q4")


def test_a_wind_down_commission_is_shown_paid_as_the_cap_and_budget_left_it(work, ledger):
    # Tailspin exits on 2026-08-15; D4002, won 2026-09-30 inside the wind-down, pays a commission line of
    # 8,636.00 in 2026-Q3. The program budget scaled Tailspin's 32,418.00 of 2026-Q3 to 31,394.27, so what
    # was paid for D4002 is 8,636.00 × 31,394.27 ÷ 32,418.00 = 8,363.28, not the line's 8,636.00.
    run(ledger, "2026-Q3")
    doc = json.loads(settlement(ledger, "--format", "json"))
    (paid,) = [i for p in doc["parts"] for i in p["items"] if i["status"] == "paid"]
    assert (paid["deal_id"], paid["amount"], paid["due"]) == ("D4002", "8363.28", "2026-Q3")
    assert "commission of 8,636.00" in paid["explanation"] and "31,394.27" in paid["explanation"]
    assert doc["totals"]["paid"] == "8363.28"
    # what may be taken back stays the commission line (a clawback takes back the line, not its share)
    at_risk = [i["amount"] for p in doc["parts"] for i in p["items"] if i["status"] == "at_risk"]
    assert at_risk == ["-11176.00", "-8636.00"]
    # as of 2026-Q4 it reads the same from the lines of 2026-Q3
    run(ledger, "2026-Q4")
    later = json.loads(settlement(ledger, "--period", "2026-Q4", "--format", "json"))
    assert [i for p in later["parts"] for i in p["items"] if i["status"] == "paid"] == [paid]


def test_a_settlement_of_a_partner_not_in_a_periods_run_says_what_the_statement_says(work, ledger):
    # P003 joined on 2026-08-01: the run of 2026-Q2 left it out, the run of 2026-Q3 holds it
    run(ledger, "2026-Q2")
    assert cosell("close", "--period", "2026-Q2", "--ledger", ledger).exit_code == 0
    run(ledger, "2026-Q3")
    for partner in ("P003", "P999"):
        settled = cosell("settlement", partner, "--ledger", ledger, "--period", "2026-Q2")
        stated = cosell("statement", "--partner", partner, "--period", "2026-Q2", "--ledger", ledger)
        assert settled.exit_code == stated.exit_code == 2
        said = " ".join(stated.output.split())
        assert f"no partner '{partner}' in 2026-Q2's run" in said
        assert said in " ".join(settled.output.split())
    first = cosell("settlement", "P003", "--ledger", ledger, "--period", "2026-Q2")
    assert (
        "no partner 'P003' in 2026-Q2's run: its first period in the ledger is 2026-Q3 (a partner joining "
        "after a period's last day is not in its run)"
    ) in " ".join(first.output.split())
