"""The tier a partner starts from when the ledger has none for it: the CRM's tier as cosell first read it,
never a tier cosell itself wrote there since. The CRM's tier field of the example is ``crm_tier`` in
``partners.csv``; a CRM shows there what cosell wrote (``cosell_tier`` of the output's accounts.csv)."""

import csv
import json

import pytest

from invoke import cosell

PERIOD = "2026-Q3"


@pytest.fixture
def ledger(work, ledger_url):
    """Each test on both backends: a SQLite file, or a PostgreSQL schema of its own."""
    return ledger_url


def run(ledger, program="program.yaml", data="data", period=PERIOD):
    result = cosell(
        "run", "--program", program, "--input", data, "--output", "out", "--ledger", ledger,
        "--period", period, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {
        row["id"]: (row["tier"], row["previous_tier"], row["earnings"])
        for row in json.loads(result.output)["partners"]
    }


def gold_by_mistake(work):
    """The example's program with Gold reached at 45 and no revenue needed: a typo a rerun corrects."""
    text = (work / "program.yaml").read_text(encoding="utf-8")
    wrong = text.replace("min_score: 70", "min_score: 45").replace("requires: {won_revenue: 250000}, ", "")
    assert wrong != text
    (work / "typo.yaml").write_text(wrong, encoding="utf-8")
    return "typo.yaml"


def crm_shows_what_cosell_wrote(work):
    """The sync a CRM target does: each partner's tier field now holds what the run wrote there."""
    with open(work / "out" / "accounts.csv", newline="", encoding="utf-8") as fh:
        written = {row["id"]: row["cosell_tier"] for row in csv.DictReader(fh)}
    path = work / "data" / "partners.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        row["crm_tier"] = written.get(row["id"], row["crm_tier"])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return written


@pytest.fixture
def first_run(work, tmp_path):
    """What a first run of the period on the example's own data gives, in a ledger of its own."""
    return run(f"sqlite:///{tmp_path / 'first.db'}")


def test_a_rerun_of_an_open_period_starts_from_the_crm_tier_before_cosell_wrote_it(work, ledger, first_run):
    mistaken = run(ledger, gold_by_mistake(work))
    assert mistaken["P006"][0] == "Gold" and first_run["P006"][0] == "Silver"
    written = crm_shows_what_cosell_wrote(work)
    assert written["P006"] == "Gold"

    corrected = run(ledger)

    assert corrected == first_run  # P006 starts anew again, not from the Gold cosell wrote
    explained = cosell(
        "explain",
        "P006",
        "--program",
        "program.yaml",
        "--input",
        "data",
        "--period",
        PERIOD,
        "--ledger",
        ledger,
    )
    assert explained.exit_code == 0, explained.output
    assert "starts at Silver (no earlier tier)" in " ".join(explained.output.split())  # a new partner


def test_a_rerun_after_a_data_edit_starts_from_the_crm_tier_before_cosell_wrote_it(work, ledger):
    assert run(ledger)["P005"][:2] == ("Silver", "Registered")  # promoted at 41.30
    crm_shows_what_cosell_wrote(work)
    lost = [row for row in _deals(work) if "P005" in row["partner_id"] and row["status"] == "won"]
    assert lost
    _edit_deals(work, {row["id"] for row in lost})

    rerun = run(ledger)

    assert rerun["P005"][0] == "Registered"  # below Silver, from Registered: no grace to keep
    assert rerun["P005"][1] == "Registered"


def test_a_discarded_period_run_again_starts_from_the_crm_tier_before_cosell_wrote_it(
    work, ledger, first_run
):
    run(ledger, gold_by_mistake(work))
    crm_shows_what_cosell_wrote(work)
    discarded = cosell(
        "discard", "--period", PERIOD, "--reason", "Gold by a typo", "--by", "ann", "--ledger", ledger
    )
    assert discarded.exit_code == 0, discarded.output

    assert run(ledger) == first_run


def _deals(work):
    with open(work / "data" / "deals.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _edit_deals(work, lost_ids):
    path = work / "data" / "deals.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["id"] in lost_ids:
            row["status"], row["stage"], row["refunded_on"] = "lost", "Closed Lost", ""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_an_earlier_period_run_after_a_discard_starts_from_the_crm_tier_before_cosell_wrote_it(
    work, ledger, tmp_path
):
    first_q2 = run(f"sqlite:///{tmp_path / 'first.db'}", period="2026-Q2")
    run(ledger, gold_by_mistake(work))  # 2026-Q3 run first, by mistake
    assert crm_shows_what_cosell_wrote(work)["P001"] == "Gold"
    discarded = cosell(
        "discard", "--period", PERIOD, "--reason", "run 2026-Q2 first", "--by", "ann", "--ledger", ledger
    )
    assert discarded.exit_code == 0, discarded.output

    assert run(ledger, period="2026-Q2") == first_q2  # P001 starts from its Silver, not the Gold cosell wrote
