"""``cosell adjust`` on the bundled example: proposed by one person, approved by another, paid as one
``adjustment`` line at the next run, outside the per-partner cap and the program budget."""

import csv
import io
import json
from decimal import Decimal

import pytest

from invoke import cosell


@pytest.fixture
def ledger(work, ledger_url):
    """Each test on both backends: a SQLite file, or a PostgreSQL schema of its own."""
    return ledger_url


def run(ledger, *extra):
    result = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger, *extra
    )
    assert result.exit_code == 0, result.output
    return result


def adjust(ledger, *args):
    return cosell("adjust", *args, "--ledger", ledger)


def propose(ledger, *args):
    result = adjust(ledger, "propose", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["id"]


def statement(ledger, period="2026-Q3"):
    text = cosell("statement", "--period", period, "--format", "csv", "--ledger", ledger).output
    return list(csv.DictReader(io.StringIO(text)))


def earnings(work, partner):
    with open(work / "out" / "accounts.csv", newline="", encoding="utf-8") as fh:
        return Decimal(next(r for r in csv.DictReader(fh) if r["id"] == partner)["cosell_period_earnings"])


def adjustment_lines(ledger, period="2026-Q3"):
    return [r for r in statement(ledger, period) if r["kind"] == "adjustment"]


def test_an_adjustment_pays_once_after_another_person_approves_it_outside_cap_and_budget(work, ledger):
    # P002 is held to the per-partner cap and the budget scales every partner: the adjustment stays outside both.
    run(ledger)
    before = earnings(work, "P002")
    others = [r for r in statement(ledger) if r["kind"] in ("cap", "budget")]
    adjustment = propose(
        ledger,
        "--partner",
        "P002",
        "--amount",
        "1000.50",
        "--reason",
        "Data Summit booth rebate",
        "--by",
        "ann",
    )
    run(ledger)
    assert adjustment_lines(ledger) == [] and earnings(work, "P002") == before  # pending pays nothing

    refused = adjust(ledger, "approve", adjustment, "--by", "ann")
    assert refused.exit_code == 2 and "cannot approve" in refused.output
    approved = adjust(ledger, "approve", adjustment, "--by", "bob")
    assert approved.exit_code == 0, approved.output
    run(ledger)
    (line,) = adjustment_lines(ledger)
    assert (line["partner_id"], line["amount"]) == ("P002", "1000.50")
    for words in ("Data Summit booth rebate", "proposed by ann", "approved by bob"):
        assert words in line["explanation"]
    assert earnings(work, "P002") == before + Decimal("1000.50")
    assert [r for r in statement(ledger) if r["kind"] in ("cap", "budget")] == others
    page = cosell(
        "statement", "--period", "2026-Q3", "--partner", "P002", "--format", "html", "--ledger", ledger
    )
    assert "capped from 66,100.00 to 50,000.00" in page.output  # the cap and budget sentences unchanged
    assert "scaled by the program budget from 50,000.00 to 48,421.05" in page.output
    assert "1,000.50 outside it (approved adjustment)" in page.output

    run(ledger)  # a rerun of the open period: still exactly one line
    assert len(adjustment_lines(ledger)) == 1 and earnings(work, "P002") == before + Decimal("1000.50")
    (listed,) = json.loads(adjust(ledger, "list", "--format", "json").output)
    assert (listed["state"], listed["applied_period"]) == ("applied", "2026-Q3")


def test_a_rejected_adjustment_never_pays(work, ledger):
    run(ledger)
    before = earnings(work, "P001")
    adjustment = propose(
        ledger, "--partner", "P001", "--amount", "-300", "--reason", "duplicate claim", "--by", "ann"
    )
    rejected = adjust(ledger, "reject", adjustment, "--by", "bob", "--reason", "no duplicate found")
    assert rejected.exit_code == 0, rejected.output
    assert adjust(ledger, "approve", adjustment, "--by", "carol").exit_code == 2  # decided: stays rejected
    run(ledger)
    assert adjustment_lines(ledger) == [] and earnings(work, "P001") == before


def test_an_adjustment_for_a_closed_period_lands_in_the_next_open_one_saying_so(work, ledger):
    run(ledger)
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    adjustment = propose(
        ledger,
        "--partner",
        "P001",
        "--amount",
        "75",
        "--reason",
        "late MDF receipt",
        "--by",
        "ann",
        "--period",
        "2026-Q3",
    )
    assert adjust(ledger, "approve", adjustment, "--by", "bob").exit_code == 0
    run(ledger, "--period", "2026-Q4")
    (line,) = adjustment_lines(ledger, "2026-Q4")
    assert line["amount"] == "75.00"
    assert "for 2026-Q3, which is closed: paid in 2026-Q4" in line["explanation"]
    assert adjustment_lines(ledger, "2026-Q3") == []


GOVERNANCE = "governance: {approvers: [carol, dave], require_approval_over: 500}\n"


def test_the_programs_threshold_approves_small_amounts_and_only_its_approvers_approve(work, ledger):
    program = work / "program.yaml"
    program.write_text(program.read_text() + GOVERNANCE)
    small = adjust(ledger, "propose", "--partner", "P003", "--amount", "-500", "--reason", "goodwill", "--by", "ann",
                   "--program", program, "--json")  # fmt: skip
    assert small.exit_code == 0, small.output
    assert json.loads(small.output)["state"] == "approved"
    large = propose(ledger, "--partner", "P003", "--amount", "500.01", "--reason", "launch", "--by", "ann",
                    "--program", program)  # fmt: skip
    refused = adjust(ledger, "approve", large, "--by", "bob", "--program", program)
    assert refused.exit_code == 2 and "not among the program's approvers" in refused.output
    refused = adjust(ledger, "approve", large, "--by", "bob")  # no --program: the approvers named at proposal
    assert refused.exit_code == 2
    assert adjust(ledger, "approve", large, "--by", "dave", "--program", program).exit_code == 0
    run(ledger)
    explanations = sorted(r["explanation"] for r in adjustment_lines(ledger))
    assert len(explanations) == 2
    assert "approved by the program's threshold" in explanations[0]
    assert "approved by dave" in explanations[1]


def test_a_bad_governance_section_is_refused_naming_its_line(work, ledger):
    program = work / "program.yaml"
    program.write_text(program.read_text() + "governance: {approvers: [carol], require_approval_over: -1}\n")
    result = adjust(ledger, "propose", "--partner", "P1", "--amount", "5", "--reason", "r", "--by", "ann",
                    "--program", program)  # fmt: skip
    assert result.exit_code == 2
    assert "program.yaml:" in result.output and "require_approval_over" in result.output
    assert json.loads(adjust(ledger, "list", "--format", "json").output) == []


@pytest.mark.parametrize(
    "amount",
    ["12.345", "١٢", "NaN", "1e13", "1e30", "9" * 30, "0", "abc"],
    ids=["3-decimals", "arabic", "nan", "too-big", "exponent", "30-digits", "zero", "text"],
)
def test_a_bad_amount_is_refused_and_nothing_is_stored(work, ledger, amount):
    result = adjust(
        ledger, "propose", "--partner", "P001", "--amount", amount, "--reason", "r", "--by", "ann"
    )
    assert result.exit_code == 2 and "--amount" in result.output
    assert json.loads(adjust(ledger, "list", "--format", "json").output) == []


def test_list_shows_every_adjustment_as_a_table_json_or_csv_and_filters_by_state(work, ledger):
    first = propose(ledger, "--partner", "P001", "--amount", "10", "--reason", "=HYPERLINK(x)", "--by", "ann")
    second = propose(ledger, "--partner", "P002", "--amount", "-20.5", "--reason", "two", "--by", "ann")
    assert adjust(ledger, "approve", second, "--by", "bob").exit_code == 0
    table = adjust(ledger, "list")
    assert table.exit_code == 0 and "Adjustments" in table.output and "P002" in table.output
    rows = json.loads(adjust(ledger, "list", "--format", "json").output)
    assert [(r["id"], r["amount"], r["state"]) for r in rows] == [
        (first, "10.00", "pending"),
        (second, "-20.50", "approved"),
    ]
    assert rows[1]["decided_by"] == "bob" and rows[0]["proposed_by"] == "ann"
    text = adjust(ledger, "list", "--format", "csv", "--state", "pending").output
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["id"], row["reason"]) == (str(first), "'=HYPERLINK(x)")  # a formula stays text
    assert adjust(ledger, "list", "--state", "paid").exit_code == 2


def test_list_shows_whole_amounts_and_states_in_an_80_column_terminal(work, ledger, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    reason = "a long reason that a reviewer wrote out in full for the minutes " * 2
    propose(ledger, "--partner", "P001", "--amount", "1234567.89", "--reason", reason, "--by", "ann")
    propose(ledger, "--partner", "P002", "--amount", "-25000.10", "--reason", reason, "--by", "ann")
    table = adjust(ledger, "list").output
    assert "1234567.89" in table and "-25000.10" in table and table.count("pending") == 2


@pytest.mark.parametrize("option", ["--partner", "--reason", "--by", "--deal"])
@pytest.mark.parametrize("value", ["", "two\nlines"], ids=["empty", "two-lines"])
def test_a_bad_text_option_is_refused_before_a_ledger_is_created(work, option, value):
    given = {"--partner": "P001", "--amount": "5", "--reason": "r", "--by": "ann", "--deal": "D1001"}
    given[option] = value
    result = cosell("adjust", "propose", *(part for pair in given.items() for part in pair))
    assert result.exit_code == 2 and option in result.output, result.output
    assert not (work / "cosell.db").exists()


@pytest.mark.parametrize("amount", ["1e3", "1E3", "-2.5e2", "1_000", "1000.", ".50"])
def test_an_amount_not_written_as_digits_with_at_most_2_decimals_is_refused(work, ledger, amount):
    # 1e3 would be read as 1,000.00: an amount is paid as written or not at all
    result = adjust(
        ledger, "propose", "--partner", "P001", "--amount", amount, "--reason", "r", "--by", "ann"
    )
    assert result.exit_code == 2, result.output
    assert f"--amount: {amount!r} is not written as digits" in result.output
    assert json.loads(adjust(ledger, "list", "--format", "json").output) == []


@pytest.mark.parametrize(("amount", "stored"), [("1000", "1000.00"), ("-20.5", "-20.50"), ("+0.07", "0.07")])
def test_an_amount_of_digits_with_at_most_2_decimals_is_stored_as_written(work, ledger, amount, stored):
    propose(ledger, "--partner", "P001", "--amount", amount, "--reason", "r", "--by", "ann")
    (row,) = json.loads(adjust(ledger, "list", "--format", "json").output)
    assert row["amount"] == stored


def test_an_approved_adjustment_for_a_partner_not_among_the_records_waits_and_every_run_says_so(work, ledger):
    typo = propose(ledger, "--partner", "p002", "--amount", "250", "--reason", "booth", "--by", "ann")
    paid = propose(ledger, "--partner", "P002", "--amount", "100", "--reason", "booth", "--by", "ann")
    for adjustment in (typo, paid):
        assert adjust(ledger, "approve", adjustment, "--by", "bob").exit_code == 0
    note = f"adjustment {typo} for p002: no partner p002 among the records; it waits (the records have P002)"

    dry = run(ledger, "--dry-run")
    assert note in dry.output and f"adjustment {paid} " not in dry.output
    report = json.loads(run(ledger, "--json").output)
    assert [n for n in report["notes"] if n.startswith("adjustment")] == [note]
    assert [r["partner_id"] for r in adjustment_lines(ledger)] == ["P002"]
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    assert note in run(ledger, "--period", "2026-Q4").output  # carried forward: said again
    states = {r["id"]: r["state"] for r in json.loads(adjust(ledger, "list", "--format", "json").output)}
    assert states == {typo: "approved", paid: "applied"}


def test_propose_warns_when_the_latest_period_has_no_standing_for_the_partner(work, ledger):
    first = adjust(ledger, "propose", "--partner", "p002", "--amount", "5", "--reason", "r", "--by", "ann")
    assert first.exit_code == 0 and "warning" not in first.output  # nothing run yet: nothing to compare with
    run(ledger)
    typo = adjust(ledger, "propose", "--partner", "p002", "--amount", "5", "--reason", "r", "--by", "ann")
    assert typo.exit_code == 0, typo.output
    assert "warning: 2026-Q3, the latest period run, has no partner p002" in typo.output
    known = adjust(ledger, "propose", "--partner", "P002", "--amount", "5", "--reason", "r", "--by", "ann")
    assert known.exit_code == 0 and "warning" not in known.output
    assert len(json.loads(adjust(ledger, "list", "--format", "json").output)) == 3  # a warning stores it
