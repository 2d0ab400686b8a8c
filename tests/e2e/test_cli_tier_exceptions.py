"""``cosell tier-override`` on the bundled example: proposed by one person, approved by another, shown
wherever the tier is shown, paid at the tier's rates, and ending by itself after its last period."""

import csv
import json
import time

import pytest

from cosell import hookimpl
from cosell.ledger import Ledger
from cosell.results import TierDecision
from cosell.testing import CosellCli
from held_run import held_run
from invoke import cosell

REASON = "Strategic launch partner for the EU region"
SHOWN = f"Gold (exception until 2026-Q4: {REASON})"


@pytest.fixture
def ledger(work, ledger_url):
    """Each test on both backends: a SQLite file, or a PostgreSQL schema of its own."""
    return ledger_url


def run(ledger, period="2026-Q3", *extra):
    result = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger,
        "--period", period, "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.output)["partners"]}


def override(ledger, *args):
    return cosell("tier-override", *args, "--ledger", ledger)


def propose(ledger, partner="P006", until="2026-Q4", by="ann", *extra):
    result = override(
        ledger, "--partner", partner, "--tier", "Gold", "--until", until, "--reason", REASON, "--by", by,
        "--program", "program.yaml", "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["id"]


def account_tier(work, partner):
    with open(work / "out" / "accounts.csv", newline="", encoding="utf-8") as fh:
        return next(r for r in csv.DictReader(fh) if r["id"] == partner)["cosell_tier"]


def commission(ledger, period, partner):
    text = cosell(
        "statement", "--period", period, "--partner", partner, "--format", "json", "--ledger", ledger
    )
    (statement,) = json.loads(text.output)["partners"]
    return statement, [
        ln for ln in statement["lines"] if ln["kind"] == "commission" and ln["deal_id"] == "D6001"
    ]


def test_an_exception_needs_another_persons_approval_and_then_shows_everywhere_the_tier_shows(work, ledger):
    assert run(ledger)["P006"]["tier"] == "Silver"
    exception = propose(ledger)
    assert run(ledger)["P006"]["tier"] == "Silver"  # pending: nothing changes

    refused = override(ledger, "approve", exception, "--by", " ANN ")
    assert refused.exit_code == 2 and "cannot approve" in refused.output
    approved = override(ledger, "approve", exception, "--by", "bob")
    assert approved.exit_code == 0, approved.output

    row = run(ledger)["P006"]
    assert (row["tier"], row["tier_shown"], row["eligible_tier"]) == ("Gold", SHOWN, "Silver")
    assert row["tier_exception"] | {"id": exception} == {
        "id": exception, "tier": "Gold", "until": "2026-Q4", "reason": REASON, "proposed_by": "ann",
        "approved_by": "bob",
    }  # fmt: skip
    table = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger
    )
    assert "Gold (exception" in table.output  # a cell of the table, wrapped at its width
    assert account_tier(work, "P006") == SHOWN

    statement, (line,) = commission(ledger, "2026-Q3", "P006")
    assert statement["tier_shown"] == SHOWN and statement["tier_exception"]["approved_by"] == "bob"
    # the tier's rates apply as if earned, and the line says the tier is held by exception:
    # EUR 48,000 at 1.08 = 51,840.00 × sourced 1 × Gold 12% = 6,220.80 (Silver's 8% would be 4,147.20)
    assert line["amount"] == "6220.80" and "Gold rate 12% (tier held by exception)" in line["explanation"]
    html = cosell(
        "statement", "--period", "2026-Q3", "--partner", "P006", "--format", "html", "--ledger", ledger
    )
    assert SHOWN in html.output and "held by exception until 2026-Q4" in html.output
    terminal = cosell(
        "statement", "--period", "2026-Q3", "--partner", "P006", "--format", "terminal", "--ledger", ledger
    )
    assert SHOWN in " ".join(terminal.output.split())
    explained = cosell("explain", "P006", "--program", "program.yaml", "--input", "data", "--ledger", ledger)
    assert SHOWN in " ".join(explained.output.split())
    assert "held at Gold by tier exception" in " ".join(explained.output.split())


def test_the_statement_words_the_goal_of_a_tier_held_by_exception_not_as_a_demotion_grace(work, ledger):
    run(ledger)
    assert override(ledger, "approve", propose(ledger), "--by", "bob").exit_code == 0
    assert run(ledger)["P006"]["eligible_tier"] == "Silver"  # never Gold: held there by the exception
    for format in ("html", "terminal"):
        result = cosell(
            "statement", "--period", "2026-Q3", "--partner", "P006", "--format", format, "--ledger", ledger
        )
        assert result.exit_code == 0, result.output
        assert "To be eligible for Gold (held by exception until 2026-Q4)" in result.output
        assert "grace" not in result.output and "Gold again" not in result.output


def test_an_exception_holds_through_its_last_period_and_ends_by_itself_after_it(work, ledger):
    run(ledger)
    exception = propose(ledger, until="2026-Q4")
    assert override(ledger, "approve", exception, "--by", "bob").exit_code == 0
    assert run(ledger, "2026-Q3")["P006"]["tier_shown"] == SHOWN
    q4 = run(ledger, "2026-Q4")["P006"]
    assert (q4["tier"], q4["tier_shown"]) == ("Gold", SHOWN)  # the last period: still held
    q1 = run(ledger, "2027-Q1")["P006"]
    # After it, the tier is earned again: P006 has no activity in 2027-Q1 (eligible Registered) and was
    # below the Gold it held in both exception periods, more than the grace of 1: it drops at once.
    assert (q1["tier"], q1["tier_shown"], q1["tier_exception"]) == ("Registered", "Registered", None)
    assert account_tier(work, "P006") == "Registered"
    listed = json.loads(override(ledger, "list", "--format", "json").output)
    assert [(e["state"], e["in_force"]) for e in listed] == [("approved", "ended")]


def test_a_rejected_exception_never_applies_and_a_past_until_is_refused(work, ledger):
    run(ledger)
    exception = propose(ledger)
    rejected = override(ledger, "reject", exception, "--by", "bob", "--reason", "earn it")
    assert rejected.exit_code == 0, rejected.output
    assert override(ledger, "approve", exception, "--by", "carol").exit_code == 2  # decided: stays rejected
    assert run(ledger)["P006"]["tier"] == "Silver"
    past = override(
        ledger, "--partner", "P006", "--tier", "Gold", "--until", "2026-Q2", "--reason", "x", "--by", "ann"
    )
    assert past.exit_code == 2 and "would never apply" in past.output
    unknown = override(
        ledger, "--partner", "P006", "--tier", "Platinum", "--until", "2026-Q4", "--reason", "x", "--by", "ann",
        "--program", "program.yaml",
    )  # fmt: skip
    assert unknown.exit_code == 2 and "not a tier of the program" in unknown.output
    missing = override(ledger, "--partner", "P006", "--tier", "Gold")
    assert missing.exit_code == 2 and "--until, --reason, --by" in missing.output
    events = [e["state"] for e in json.loads(override(ledger, "list", "--format", "json").output)]
    assert events == ["rejected"]


def test_propose_as_a_command_is_the_same_as_the_options(work, ledger):
    proposed = override(
        ledger, "propose", "--partner", "P006", "--tier", "Gold", "--until", "2026-Q4", "--reason", REASON,
        "--by", "ann", "--json",
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    assert json.loads(proposed.output) == {"id": 1, "state": "pending"}
    mixed = override(ledger, "--partner", "P006", "approve", "1", "--by", "bob")
    assert mixed.exit_code == 2 and "without a command" in mixed.output


def test_only_the_programs_approvers_approve_an_exception(work, ledger):
    (work / "program.yaml").write_text(
        (work / "program.yaml").read_text(encoding="utf-8") + "governance: {approvers: [carol, dave]}\n",
        encoding="utf-8",
    )
    exception = propose(ledger)
    refused = override(ledger, "approve", exception, "--by", "bob")
    assert refused.exit_code == 2 and "not among the program's approvers" in refused.output
    assert override(ledger, "approve", exception, "--by", "carol").exit_code == 0


def test_an_exited_partner_is_not_lifted_by_an_exception(work, ledger):
    run(ledger)
    exception = propose(ledger, partner="P004")
    assert override(ledger, "approve", exception, "--by", "bob").exit_code == 0
    row = run(ledger)["P004"]
    assert (row["tier"], row["tier_exception"]) == ("Silver", None)
    assert account_tier(work, "P004") == "Exited (was Silver)"


def test_explain_of_a_closed_period_shows_what_its_run_had_not_what_was_approved_since(work, ledger):
    run(ledger)
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    time.sleep(1.1)  # the ledger keeps times to the second: approved after the run, not in its second
    exception = propose(ledger, until="2026-Q4")
    assert override(ledger, "approve", str(exception), "--by", "bob").exit_code == 0
    proposed = cosell(
        "adjust", "propose", "--partner", "P002", "--amount", "1000.50", "--reason", "booth rebate",
        "--by", "ann", "--period", "2026-Q3", "--ledger", ledger, "--json",
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    adjustment = json.loads(proposed.output)["id"]
    assert cosell("adjust", "approve", str(adjustment), "--by", "bob", "--ledger", ledger).exit_code == 0

    def explained(partner):
        result = cosell(
            "explain", partner, "--program", "program.yaml", "--input", "data", "--ledger", ledger,
            "--period", "2026-Q3",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return result.output

    def earnings(partner):
        (statement,) = json.loads(
            cosell("statement", "--period", "2026-Q3", "--partner", partner, "--format", "json",
                   "--ledger", ledger).output
        )["partners"]  # fmt: skip
        return statement["period_earnings"]

    assert "booth rebate" not in explained("P002")  # paid in 2026-Q4, the next open period
    assert f"{float(earnings('P002')):,.2f}" in explained("P002")
    assert "exception" not in explained("P006") and f"{float(earnings('P006')):,.2f}" in explained("P006")
    # the next period's run does pay and apply them
    q4 = run(ledger, "2026-Q4")
    assert q4["P006"]["tier"] == "Gold"


def test_an_exception_that_could_never_apply_is_refused_when_proposed_or_approved(work, ledger):
    run(ledger)
    pending = propose(ledger, until="2026-Q3")  # Q3 is open: a rerun would apply it
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    refused = override(ledger, "approve", str(pending), "--by", "bob")
    assert (
        refused.exit_code == 2
        and f"tier exception {pending}: its last period 2026-Q3 is closed" in refused.output
    )
    late = override(
        ledger, "--partner", "P006", "--tier", "Gold", "--until", "2026-Q3", "--reason", REASON, "--by", "ann",
    )  # fmt: skip
    assert late.exit_code == 2 and "--until 2026-Q3 is closed: the exception would never apply" in late.output
    assert "2026-Q4 or later" in late.output


def test_an_until_of_the_other_kind_than_the_program_is_refused_on_a_new_ledger(work, ledger):
    result = override(
        ledger, "--partner", "P006", "--tier", "Gold", "--until", "2026-12", "--reason", REASON, "--by", "ann",
        "--program", "program.yaml",
    )  # fmt: skip
    assert (
        result.exit_code == 2 and "--until 2026-12 is a month, but the program runs quarters" in result.output
    )
    adjusted = cosell(
        "adjust", "propose", "--partner", "P002", "--amount", "10", "--reason", "r", "--by", "ann",
        "--period", "2026-08", "--program", "program.yaml", "--ledger", ledger,
    )  # fmt: skip
    assert (
        adjusted.exit_code == 2
        and "--period 2026-08 is a month, but the program runs quarters" in adjusted.output
    )


def test_an_exception_approved_while_a_run_computes_is_not_in_the_explain_of_that_runs_closed_period(
    work, ledger
):
    exception = propose(ledger, until="2026-Q4")
    args = ["run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger,
            "--period", "2026-Q3", "--json"]  # fmt: skip
    with held_run(args, folder=work, cwd=work) as child:
        # approved by another process after the run read its history, before it stores
        assert override(ledger, "approve", str(exception), "--by", "bob").exit_code == 0
        time.sleep(1.1)  # the ledger keeps times to the second: the run stores a second later
    assert child.returncode == 0, child.errors
    output = child.output
    ran = {row["id"]: row for row in json.loads(output)["partners"]}
    assert (ran["P006"]["tier"], ran["P006"]["tier_exception"]) == ("Silver", None)
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    explained = cosell(
        "explain", "P006", "--program", "program.yaml", "--input", "data", "--ledger", ledger,
        "--period", "2026-Q3",
    )  # fmt: skip
    assert explained.exit_code == 0, explained.output
    assert "exception" not in explained.output
    assert f"{float(ran['P006']['earnings']):,.2f}" in explained.output
    # what `cosell runs` says started is when the run started, before it read the history (not when it
    # stored, a second after the approval)
    (stored,) = json.loads(cosell("runs", "--format", "json", "--ledger", ledger).output)
    with Ledger.connect(ledger) as book:
        (approved,) = book.tier_exceptions()
    assert approved.decided_at is not None and stored["started_at"] <= approved.decided_at


@pytest.mark.parametrize("option", ["--partner", "--tier", "--reason", "--by"])
@pytest.mark.parametrize("value", ["", "two\nlines"], ids=["empty", "two-lines"])
@pytest.mark.parametrize("command", [(), ("propose",)], ids=["options", "propose"])
def test_a_bad_text_option_is_refused_before_a_ledger_is_created(work, option, value, command):
    given = {"--partner": "P006", "--tier": "Gold", "--until": "2026-Q4", "--reason": REASON, "--by": "ann"}
    given[option] = value
    result = cosell("tier-override", *command, *(part for pair in given.items() for part in pair))
    assert result.exit_code == 2 and option in result.output, result.output
    assert not (work / "cosell.db").exists()


def _approved_on_a_new_ledger(ledger, *, adjustment_period="2026-08", until="2026-12"):
    """An adjustment of a month and an exception through a month, both approved before any run: nothing
    says yet that the program runs quarters."""
    proposed = cosell(
        "adjust", "propose", "--partner", "P002", "--amount", "250", "--reason", "booth", "--by", "ann",
        "--period", adjustment_period, "--json", "--ledger", ledger,
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    adjustment = json.loads(proposed.output)["id"]
    assert cosell("adjust", "approve", adjustment, "--by", "bob", "--ledger", ledger).exit_code == 0
    result = override(
        ledger, "--partner", "P006", "--tier", "Gold", "--until", until, "--reason", REASON, "--by", "ann",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    exception = json.loads(result.output)["id"]
    assert override(ledger, "approve", exception, "--by", "bob").exit_code == 0
    return adjustment, exception


def test_an_approved_adjustment_and_exception_of_the_other_kind_are_said_by_every_run_and_never_applied(
    work, ledger
):
    adjustment, exception = _approved_on_a_new_ledger(ledger)
    said = [
        f"adjustment {adjustment} names 2026-08, a month, but this ledger runs quarters: no run pays it; "
        "propose it again for a quarter",
        f"tier exception {exception} runs until 2026-12, a month, but this ledger runs quarters: it never "
        "applies; propose it again until a quarter",
    ]
    result = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["notes"] == said
    assert next(p for p in report["partners"] if p["id"] == "P006")["tier"] == "Silver"
    listed = json.loads(override(ledger, "list", "--format", "json").output)
    assert [row["in_force"] for row in listed] == ["never"]
    assert "never" in override(ledger, "list").output

    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    q4 = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger,
        "--period", "2026-Q4", "--json",
    )  # fmt: skip
    assert q4.exit_code == 0, q4.output
    assert json.loads(q4.output)["notes"] == said  # not paid a quarter late either: said again
    lines = cosell("statement", "--period", "2026-Q4", "--format", "json", "--ledger", ledger).output
    assert '"adjustment"' not in lines
    (row,) = json.loads(cosell("adjust", "list", "--format", "json", "--ledger", ledger).output)
    assert row["state"] == "approved"


def test_a_pending_adjustment_or_exception_of_the_other_kind_cannot_be_approved_once_the_ledger_runs_quarters(
    work, ledger
):
    proposed = cosell(
        "adjust", "propose", "--partner", "P002", "--amount", "250", "--reason", "booth", "--by", "ann",
        "--period", "2026-08", "--json", "--ledger", ledger,
    )  # fmt: skip
    adjustment = json.loads(proposed.output)["id"]
    pending = override(
        ledger, "--partner", "P006", "--tier", "Gold", "--until", "2026-12", "--reason", REASON, "--by", "ann",
        "--json",
    )  # fmt: skip
    exception = json.loads(pending.output)["id"]
    run(ledger)
    refused = cosell("adjust", "approve", adjustment, "--by", "bob", "--ledger", ledger)
    assert refused.exit_code == 2, refused.output
    assert (
        f"adjustment {adjustment}: its period 2026-08 is a month, but this ledger holds quarters"
        in refused.output
    )
    refused = override(ledger, "approve", exception, "--by", "bob")
    assert refused.exit_code == 2, refused.output
    assert (
        f"tier exception {exception}: its last period 2026-12 is a month, but this ledger holds quarters"
        in (refused.output)
    )
    # the way out: reject them, and propose them again for quarters
    assert (
        cosell(
            "adjust", "reject", adjustment, "--by", "bob", "--reason", "a month", "--ledger", ledger
        ).exit_code
        == 0
    )
    assert override(ledger, "reject", exception, "--by", "bob", "--reason", "a month").exit_code == 0


class KeptAtRegistered:
    """A plugin of the program's own that decides the tier of P002 and P006: Registered, whatever they
    score, leaving out the tier they held before."""

    @hookimpl(tryfirst=True)
    def cosell_tier(self, partner, score, metrics, context):
        if partner.id not in ("P002", "P006"):
            return None
        return TierDecision("Registered", "Registered", None, 0, "kept at Registered by the program's plugin")


def test_an_approved_exception_holds_when_a_plugin_decides_the_tier(work):
    cli = CosellCli(work, [KeptAtRegistered()])
    ledger = ("--ledger", cli.ledger_url)
    proposed = cli.invoke(
        "tier-override", "--partner", "P006", "--tier", "Gold", "--until", "2026-Q4", "--reason", REASON,
        "--by", "ann", "--program", "program.yaml", "--json", *ledger,
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.stdout + proposed.stderr
    approved = cli.invoke("tier-override", "approve", str(proposed.json()["id"]), "--by", "bob", *ledger)
    assert approved.exit_code == 0, approved.stdout + approved.stderr

    result = cli.run("--json")
    assert result.exit_code == 0, result.stderr
    rows = {p["id"]: p for p in result.json()["partners"]}
    row = rows["P006"]
    assert (row["tier"], row["tier_shown"], row["eligible_tier"]) == ("Gold", SHOWN, "Registered")
    assert row["tier_exception"]["approved_by"] == "bob"
    # the plugin left out the tier held before: the one the CRM shows, and the table says the demotion
    assert (rows["P002"]["tier"], rows["P002"]["previous_tier"]) == ("Registered", "Gold")
    assert "Registered (was Gold)" in cli.run().stdout
    explained = " ".join(cli.explain("P006", "--ledger", cli.ledger_url).stdout.split())
    assert "kept at Registered by the program's plugin; held at Gold by tier exception" in explained
    (paid,) = cli.statement("--partner", "P006", "--format", "json").json()["partners"]
    (line,) = [ln for ln in paid["lines"] if ln["kind"] == "commission" and ln["deal_id"] == "D6001"]
    assert line["amount"] == "6220.80"  # Gold's 12%, as with the built-in tier rule
