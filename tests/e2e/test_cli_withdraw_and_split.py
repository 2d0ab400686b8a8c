"""Two money risks of governance, on the bundled example: one person splitting a large amount into
proposals each at or below the program's threshold, and an approved adjustment or tier exception that
could never be taken back (``cosell adjust withdraw``, ``cosell tier-override withdraw``)."""

import json

from test_cli_governance_of_the_ledger import LAX, adjust, ledger, override, run, tier, with_section

from invoke import cosell

__all__ = ["ledger"]  # the fixture: each test on both backends

THRESHOLD = "governance: {approvers: [carol, dave], require_approval_over: 5000}\n"


def propose(ledger, partner, amount, *extra, by="ann"):
    args = ["propose", "--partner", partner, "--amount", amount, "--reason", "r", "--by", by]
    result = adjust(ledger, *args, *extra)
    assert result.exit_code == 0, result.output
    return result


def proposed(ledger, partner, amount, *extra, by="ann"):
    """The new adjustment's ``{id, state}``."""
    return json.loads(propose(ledger, partner, amount, "--json", *extra, by=by).stdout)


def listed(ledger):
    return {r["id"]: r for r in json.loads(adjust(ledger, "list", "--format", "json").output)}


def states(ledger):
    return {i: r["state"] for i, r in listed(ledger).items()}


def adjustment_lines(ledger, partner, period="2026-Q3"):
    args = ["statement", "--period", period, "--partner", partner, "--format", "json", "--ledger", ledger]
    (statement,) = json.loads(cosell(*args).output)["partners"]
    return [ln for ln in statement["lines"] if ln["kind"] == "adjustment"]


def audit(ledger, record, ref):
    args = ["audit", "--from", "2026-Q3", "--to", "2026-Q4", "--format", "json", "--ledger", ledger]
    rows = json.loads(cosell(*args).output)
    return [r for r in rows if r["record"] == record and r["ref"] == str(ref)]


def withdraw(ledger, adjustment, by, reason="typo in the partner id"):
    return adjust(ledger, "withdraw", adjustment, "--by", by, "--reason", reason)


def one_line(text):
    return " ".join(text.split())


# --- splitting below the threshold -----------------------------------------------------------------


def test_the_threshold_does_not_approve_what_adds_up_above_it_for_one_partner(work, ledger):
    program = with_section(work, "program.yaml", THRESHOLD)
    run(ledger)
    first = proposed(ledger, "P003", "5000", "--program", program)
    assert first["state"] == "approved"
    second = propose(ledger, "P003", "5000", "--program", program)
    assert one_line(second.output).endswith(
        f"adjustment {first['id'] + 1} pending: with adjustment {first['id']} approved by the threshold, "
        "P003 would receive 10,000.00 above the threshold of 5,000.00"
    )
    third = propose(ledger, "P003", "2500.50", "--program", program)
    assert "with adjustment 1 approved by the threshold, P003 would receive 7,500.50" in one_line(
        third.output
    )
    # a clawback counts by its absolute value: a threshold bounds what one person moves alone
    assert proposed(ledger, "P003", "-40", "--program", program)["state"] == "pending"
    # another partner has a threshold of its own
    assert proposed(ledger, "P005", "5000", "--program", program)["state"] == "approved"
    assert states(ledger) == {1: "approved", 2: "pending", 3: "pending", 4: "pending", 5: "approved"}
    run(ledger)
    assert [ln["amount"] for ln in adjustment_lines(ledger, "P003")] == ["5000.00"]
    # paid in 2026-Q3, still open: it still counts
    assert proposed(ledger, "P003", "10", "--program", program)["state"] == "pending"
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    # paid in a closed period: the next threshold approval starts afresh
    assert proposed(ledger, "P003", "5000", "--program", program)["state"] == "approved"


def test_the_four_proposals_of_the_owners_report_need_a_second_person(work, ledger):
    program = with_section(work, "program.yaml", THRESHOLD)
    run(ledger)
    results = [proposed(ledger, "P003", "5000", "--program", program)["state"] for _ in range(4)]
    assert results == ["approved", "pending", "pending", "pending"]
    assert adjust(ledger, "approve", 2, "--by", "carol").exit_code == 0  # a second person decides
    run(ledger)
    assert [ln["amount"] for ln in adjustment_lines(ledger, "P003")] == ["5000.00", "5000.00"]


def test_a_run_pays_a_partners_threshold_approvals_only_up_to_its_own_programs_threshold(work, ledger):
    # Nothing run yet: the lax file is taken at its word, each 4,000 and their 12,000 under its threshold.
    lax = with_section(work, "lax.yaml", LAX)
    with_section(work, "program.yaml", THRESHOLD)
    ids = [proposed(ledger, "P003", "4000", "--program", lax)["id"] for _ in range(3)]
    assert set(states(ledger).values()) == {"approved"}
    report = run(ledger)
    notes = [n for n in report["notes"] if "under the governance of the program" in n]
    assert len(notes) == 2
    assert one_line(notes[0]).startswith(
        f"adjustment {ids[1]} is not paid: a program's threshold approved it, but with adjustment {ids[0]} "
        "approved by the threshold, P003 would receive 8,000.00 above the require_approval_over of 5,000.00"
    )
    assert [ln["amount"] for ln in adjustment_lines(ledger, "P003")] == ["4000.00"]
    assert states(ledger) == {ids[0]: "applied", ids[1]: "pending", ids[2]: "pending"}


# --- withdrawing an adjustment ---------------------------------------------------------------------


def test_an_approved_adjustment_is_withdrawn_by_a_second_person_and_never_paid(work, ledger):
    with_section(work, "program.yaml", THRESHOLD)
    run(ledger)
    adjustment = proposed(ledger, "P030", "9000")["id"]  # P030 for P003
    pending = withdraw(ledger, adjustment, "carol")
    assert pending.exit_code == 2 and "pending" in pending.output and "reject" in pending.output
    assert adjust(ledger, "approve", adjustment, "--by", "carol").exit_code == 0
    by_proposer = withdraw(ledger, adjustment, "Ann ")
    assert by_proposer.exit_code == 2 and "'Ann' proposed it and cannot withdraw it" in by_proposer.output
    by_other = withdraw(ledger, adjustment, "bob")
    assert by_other.exit_code == 2 and "not among the program's approvers (carol, dave)" in by_other.output
    assert states(ledger) == {adjustment: "approved"}
    done = withdraw(ledger, adjustment, "dave")
    assert done.exit_code == 0, done.output
    assert f"adjustment {adjustment} withdrawn by dave: it pays nothing" in one_line(done.output)
    row = listed(ledger)[adjustment]
    assert row["state"] == "withdrawn" and "typo in the partner id" in row["decision_reason"]
    assert "withdrawn" in adjust(ledger, "list").output
    assert json.loads(adjust(ledger, "list", "--state", "withdrawn", "--format", "json").output)[0]["id"] == 1
    again = withdraw(ledger, adjustment, "carol")
    assert again.exit_code == 2 and "withdrawn" in again.output
    report = run(ledger)
    assert not any(f"adjustment {adjustment} " in n for n in report["notes"])  # no longer waits
    events = audit(ledger, "adjustment", adjustment)
    assert [e["kind"] for e in events] == ["proposed", "approved", "withdrawn"]
    assert events[-1]["by"] == "dave" and events[-1]["text"] == "typo in the partner id"


def test_an_adjustment_paid_in_the_open_period_is_no_longer_paid_by_its_rerun_once_withdrawn(work, ledger):
    run(ledger)
    adjustment = proposed(ledger, "P003", "9000")["id"]
    assert adjust(ledger, "approve", adjustment, "--by", "bob").exit_code == 0
    run(ledger)
    assert len(adjustment_lines(ledger, "P003")) == 1
    done = withdraw(ledger, adjustment, "bob", "wrong amount")
    assert done.exit_code == 0, done.output
    assert "2026-Q3 (run 2) still pays it: run 2026-Q3 again" in one_line(done.output)
    # closing now would pay it for good
    refused = cosell("close", "--period", "2026-Q3", "--ledger", ledger)
    assert refused.exit_code == 2 and f"adjustment {adjustment}" in refused.output
    report = run(ledger)
    assert any(
        n.startswith(
            f"adjustment {adjustment} was withdrawn by bob (wrong amount): this run no longer pays it"
        )
        for n in report["notes"]
    ), report["notes"]
    assert adjustment_lines(ledger, "P003") == []
    row = listed(ledger)[adjustment]
    assert row["state"] == "withdrawn" and row["applied_period"] is None and row["applied_run"] is None
    kinds = [e["kind"] for e in audit(ledger, "adjustment", adjustment)]
    assert kinds == ["proposed", "approved", "applied", "withdrawn", "unapplied"]
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    run(ledger, "--period", "2026-Q4")
    assert adjustment_lines(ledger, "P003", "2026-Q4") == []


def test_an_adjustment_paid_in_a_closed_period_is_not_withdrawn(work, ledger):
    run(ledger)
    adjustment = proposed(ledger, "P003", "9000")["id"]
    assert adjust(ledger, "approve", adjustment, "--by", "bob").exit_code == 0
    run(ledger)
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    refused = withdraw(ledger, adjustment, "bob")
    assert refused.exit_code == 2
    text = one_line(refused.output)
    assert f"adjustment {adjustment}" in text and "2026-Q3" in text and "propose a counter-adjustment" in text
    assert states(ledger) == {adjustment: "applied"}


# --- withdrawing a tier exception ------------------------------------------------------------------


def propose_exception(ledger, until="2026-Q4"):
    args = ["--partner", "P006", "--tier", "Gold", "--until", until, "--reason", "launch", "--by", "ann"]
    result = override(ledger, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["id"]


def exception_states(ledger):
    return {r["id"]: r["state"] for r in json.loads(override(ledger, "list", "--format", "json").output)}


def test_a_tier_exception_is_withdrawn_and_its_partners_next_run_no_longer_holds_the_tier(work, ledger):
    with_section(work, "program.yaml", THRESHOLD)
    run(ledger)
    exception = propose_exception(ledger)
    assert override(ledger, "approve", exception, "--by", "dave").exit_code == 0
    assert tier(run(ledger), "P006").startswith("Gold")
    args = ["withdraw", exception, "--reason", "launch postponed"]
    assert override(ledger, *args, "--by", "ann").exit_code == 2  # its proposer
    assert override(ledger, *args, "--by", "bob").exit_code == 2  # not an approver
    done = override(ledger, *args, "--by", "carol")
    assert done.exit_code == 0, done.output
    assert f"tier exception {exception} withdrawn by carol" in one_line(done.output)
    assert exception_states(ledger) == {exception: "withdrawn"}
    assert tier(run(ledger), "P006") == "Silver"
    events = audit(ledger, "tier_exception", exception)
    assert [e["kind"] for e in events] == ["proposed", "approved", "withdrawn"]
    # a pending one is withdrawn too (or rejected)
    pending = propose_exception(ledger)
    assert override(ledger, "withdraw", pending, "--by", "dave", "--reason", "dup").exit_code == 0
    assert exception_states(ledger)[pending] == "withdrawn"
    assert override(ledger, "approve", pending, "--by", "dave").exit_code == 2


def test_a_tier_exception_applied_in_a_closed_period_is_not_withdrawn(work, ledger):
    run(ledger)
    exception = propose_exception(ledger)
    assert override(ledger, "approve", exception, "--by", "bob").exit_code == 0
    run(ledger)
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    refused = override(ledger, "withdraw", exception, "--by", "bob", "--reason", "late")
    assert refused.exit_code == 2
    text = one_line(refused.output)
    assert f"tier exception {exception}" in text and "2026-Q3" in text
    assert exception_states(ledger) == {exception: "approved"}


def test_settlement_and_report_show_a_withdrawn_adjustment_the_periods_stored_lines_still_pay(work, ledger):
    # Tailspin (P004) exits in 2026-Q3. Withdrawn after the run paid it, adjustment pays on until the
    # period is run again: the settlement and the report say what the stored lines pay, marked withdrawn.
    run(ledger)
    adjustment = proposed(ledger, "P004", "300")["id"]
    assert adjust(ledger, "approve", adjustment, "--by", "bob").exit_code == 0
    run(ledger)
    assert withdraw(ledger, adjustment, "bob", "wrong amount").exit_code == 0
    assert [ln["amount"] for ln in adjustment_lines(ledger, "P004")] == ["300.00"]

    def settled():
        args = ["settlement", "P004", "--period", "2026-Q3", "--format", "json", "--ledger", ledger]
        doc = json.loads(cosell(*args).output)
        return [i for p in doc["parts"] if p["title"] == "Adjustments" for i in p["items"]]

    def reported():
        args = ["report", "--period", "2026-Q3", "--format", "json", "--ledger", ledger]
        return json.loads(cosell(*args).output)["governance"]

    (item,) = settled()
    assert (item["status"], item["amount"], item["due"]) == ("paid", "300.00", "2026-Q3")
    assert "withdrawn: the next run of 2026-Q3 no longer pays it" in item["explanation"]
    governance = reported()
    assert [(a["id"], a["amount"], a["withdrawn"]) for a in governance["adjustments_paid"]] == [
        (adjustment, "300.00", True)
    ]
    assert governance["adjustments_paid_total"] == "300.00"
    run(ledger)  # the rerun no longer pays it: neither does the settlement nor the report
    assert adjustment_lines(ledger, "P004") == [] and settled() == []
    governance = reported()
    assert governance["adjustments_paid"] == [] and governance["adjustments_paid_total"] == "0.00"
