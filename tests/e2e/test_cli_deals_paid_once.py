"""A deal's commission is paid once on the bundled example, whoever holds the deal now: a deal of a closed
period paid to one partner and then moved to another (or shared with one more) pays nothing again, nor
does one re-opened, moved and won again, and a paid deal re-opened shows no projection of a commission
that winning it again would not pay, whoever holds it."""

import csv

import pytest

from invoke import explain, ok, run


def deal_row(work, deal_id):
    with open(work / "out" / "deals.csv", newline="", encoding="utf-8") as f:
        return next(row for row in csv.DictReader(f) if row["id"] == deal_id)


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def explained_text(ledger):
    """``cosell explain`` of P003 in 2026-Q4, its table's cells unwrapped into one line."""
    explained = explain(ledger, "P003", "2026-Q4")
    assert explained.exit_code == 0, explained.output
    return " ".join(explained.stdout.replace("│", " ").split())


def q3_closed(work, ledger):
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)
    paid = deal_row(work, "D6001")
    assert paid["cosell_incentive_status"] == "Earned" and "Litware Group" in paid["cosell_incentive_note"]
    return paid


def test_a_deal_of_a_closed_period_moved_to_another_partner_is_not_paid_again(work, ledger_url):
    paid = q3_closed(work, ledger_url)
    edit(work / "data" / "deals.csv", ",P006,sourced,\n", ",P003,sourced,\n")  # D6001 now P003's
    run(ledger_url, "--period", "2026-Q4")
    row = deal_row(work, "D6001")
    assert row["cosell_incentive"] == paid["cosell_incentive"]  # what P006 was paid in 2026-Q3, once
    assert row["cosell_incentive_note"].endswith("; Fabrikam Resellers: 0.00 EUR")  # paid nothing on it
    text = explained_text(ledger_url)
    assert "not paid before" not in text
    assert (
        "Litware - Cloud desktops (D6001) won 2026-09-01: 0.00, its commission was paid in 2026-Q3 to "
        "another partner (a deal's commission is paid once, whoever holds the deal now)"
    ) in text


def test_a_partner_added_to_a_deal_of_a_closed_period_paid_to_another_is_not_paid_on_it(work, ledger_url):
    paid = q3_closed(work, ledger_url)
    with open(work / "data" / "deal_partners.csv", "a", encoding="utf-8") as f:
        f.write("D6001,P003,sourced,\n")
    run(ledger_url, "--period", "2026-Q4")
    row = deal_row(work, "D6001")
    assert row["cosell_incentive"] == paid["cosell_incentive"]  # 100 % of the deal paid, not 150 %
    assert row["cosell_incentive_note"].endswith("; Fabrikam Resellers: 0.00 EUR")  # paid nothing on it


@pytest.mark.parametrize(
    ("holder", "said"),
    [
        ("P006", "its commission was paid in 2026-Q3; winning it again pays nothing"),
        ("P003", "its commission was paid in 2026-Q3 to another partner; winning it again pays nothing"),
    ],
    ids=["same-partner", "moved-to-another"],
)
def test_a_paid_deal_of_a_closed_period_reopened_shows_no_projection_of_a_commission_it_will_not_pay(
    work, ledger_url, holder, said
):
    q3_closed(work, ledger_url)
    edit(  # re-opened in the CRM, still P006's or now P003's
        work / "data" / "deals.csv",
        "D6001,Litware - Cloud desktops,48000,EUR,Closed Won,won,2026-07-03,2026-09-01,25,41,,,P006,sourced,",
        f"D6001,Litware - Cloud desktops,48000,EUR,Negotiation,open,2026-07-03,,25,41,,,{holder},sourced,",
    )
    run(ledger_url, "--period", "2026-Q4")
    row = deal_row(work, "D6001")
    assert row["cosell_incentive_status"] != "Projected"
    assert row["cosell_incentive"] == "0.00"
    assert said in row["cosell_incentive_note"]
    if holder == "P003":
        assert "Litware Group" not in row["cosell_incentive_note"]  # the other partner is never named


def test_a_deal_paid_in_a_closed_period_won_again_by_another_partner_is_not_paid_again(work, ledger_url):
    paid = q3_closed(work, ledger_url)
    edit(  # re-opened in the CRM, now P003's, and won again in 2026-Q4
        work / "data" / "deals.csv",
        "D6001,Litware - Cloud desktops,48000,EUR,Closed Won,won,2026-07-03,2026-09-01,25,41,,,P006,sourced,",
        "D6001,Litware - Cloud desktops,48000,EUR,Closed Won,won,2026-07-03,2026-11-10,25,41,,,P003,sourced,",
    )
    run(ledger_url, "--period", "2026-Q4")
    row = deal_row(work, "D6001")
    assert row["cosell_incentive"] == paid["cosell_incentive"]  # what P006 was paid in 2026-Q3, once
    assert row["cosell_incentive_note"].endswith("; Fabrikam Resellers: 0.00 EUR")  # paid nothing on it
    text = explained_text(ledger_url)
    assert (
        "Litware - Cloud desktops (D6001) won 2026-11-10: 0.00, its commission was paid in 2026-Q3 to "
        "another partner (a deal's commission is paid once, whoever holds the deal now)"
    ) in text
    assert "Litware Group" not in text and "P006" not in text  # a statement is the partner's
