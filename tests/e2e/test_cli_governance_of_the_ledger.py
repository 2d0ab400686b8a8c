"""The governance that approves adjustments and tier exceptions is that of the program the ledger pays
under (the program its latest run computed with), not a program file the proposer or the approver hands
in; and a run pays only what its own program's governance allows."""

import json

import pytest

from invoke import cosell

GOVERNANCE = "governance: {approvers: [carol, dave], require_approval_over: 500}\n"
LAX = "governance: {require_approval_over: 1000000}\n"
EVIL = "governance: {approvers: [eve]}\n"


@pytest.fixture
def ledger(work, ledger_url):
    """Each test on both backends: a SQLite file, or a PostgreSQL schema of its own."""
    return ledger_url


def with_section(work, name, section):
    """A copy of the example program (as it is now) with ``section`` added, written to ``name``."""
    path = work / name
    path.write_text((work / "program.yaml").read_text(encoding="utf-8") + section, encoding="utf-8")
    return path


def run(ledger, *extra):
    args = ["run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger]
    result = cosell(*args, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def tier(report, partner):
    (row,) = [p for p in report["partners"] if p["id"] == partner]
    return row["tier"]


def governance_notes(report):
    return [n for n in report["notes"] if "under the governance of the program" in n]


def adjust(ledger, *args):
    return cosell("adjust", *args, "--ledger", ledger)


def override(ledger, *args):
    return cosell("tier-override", *args, "--ledger", ledger)


def propose(ledger, partner, amount, by, *extra):
    """``cosell adjust propose``: the adjustment's ``{id, state}``."""
    args = ["propose", "--partner", partner, "--amount", amount, "--reason", "r", "--by", by]
    result = adjust(ledger, *args, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def propose_exception(ledger, *extra):
    """P006 held at Gold through 2026-Q4, proposed by ann: the exception's id, or the refusal."""
    args = ["--partner", "P006", "--tier", "Gold", "--until", "2026-Q4", "--reason", "launch", "--by", "ann"]
    return override(ledger, *args, "--json", *extra)


def states(ledger):
    return {r["id"]: r["state"] for r in json.loads(adjust(ledger, "list", "--format", "json").output)}


def adjustment_lines(ledger, partner):
    args = ["statement", "--period", "2026-Q3", "--partner", partner, "--format", "json", "--ledger", ledger]
    (statement,) = json.loads(cosell(*args).output)["partners"]
    return [ln for ln in statement["lines"] if ln["kind"] == "adjustment"]


def test_a_proposer_cannot_approve_a_large_amount_with_a_program_file_of_their_own(work, ledger):
    lax = with_section(work, "lax.yaml", LAX)
    run(ledger)  # the ledger pays under program.yaml: no governance section, so no threshold
    args = ["propose", "--partner", "P003", "--amount", "900000", "--reason", "lax", "--by", "mallory"]
    refused = adjust(ledger, *args, "--program", lax)
    assert refused.exit_code == 2, refused.output
    assert "lax.yaml" in refused.output and "not that of the program this ledger pays under" in refused.output
    assert states(ledger) == {}  # nothing stored
    run(ledger)
    assert adjustment_lines(ledger, "P003") == []


def test_an_approver_outside_the_ledgers_program_list_cannot_approve_with_a_program_file_of_their_own(
    work, ledger
):
    evil = with_section(work, "evil.yaml", EVIL)
    program = with_section(work, "program.yaml", GOVERNANCE)
    run(ledger)
    adjustment = propose(ledger, "P003", "9000", "ann")["id"]
    refused = adjust(ledger, "approve", adjustment, "--by", "eve", "--program", evil)
    assert refused.exit_code == 2, refused.output
    assert "evil.yaml" in refused.output and "not that of the program this ledger" in refused.output
    # without --program: the approvers of the program the ledger pays under
    refused = adjust(ledger, "approve", adjustment, "--by", "eve")
    assert refused.exit_code == 2 and "not among the program's approvers (carol, dave)" in refused.output
    assert states(ledger) == {adjustment: "pending"}
    approved = adjust(ledger, "approve", adjustment, "--by", "carol", "--program", program)
    assert approved.exit_code == 0, approved.output
    run(ledger)
    (line,) = adjustment_lines(ledger, "P003")
    assert line["amount"] == "9000.00" and "approved by carol" in line["explanation"]


def test_a_tier_exception_is_approved_only_by_an_approver_of_the_ledgers_program(work, ledger):
    evil = with_section(work, "evil.yaml", EVIL)
    with_section(work, "program.yaml", GOVERNANCE)
    run(ledger)
    refused = propose_exception(ledger, "--program", evil)
    assert refused.exit_code == 2 and "evil.yaml" in refused.output
    exception = json.loads(propose_exception(ledger).output)["id"]
    for extra in (["--program", evil], []):
        refused = override(ledger, "approve", exception, "--by", "eve", *extra)
        assert refused.exit_code == 2, refused.output
    assert tier(run(ledger), "P006") == "Silver"
    assert override(ledger, "approve", exception, "--by", "dave").exit_code == 0
    assert tier(run(ledger), "P006") == "Gold"


def test_a_run_does_not_pay_what_its_own_programs_governance_would_not_approve(work, ledger):
    # Nothing run yet: nothing says which program the ledger pays under, so the files handed in are taken
    # at their word, and the first run checks every approval against its own program's governance.
    lax = with_section(work, "lax.yaml", LAX)
    evil = with_section(work, "evil.yaml", EVIL)
    with_section(work, "program.yaml", GOVERNANCE)
    large = propose(ledger, "P003", "900000", "mallory", "--program", lax)
    assert large["state"] == "approved"
    by_eve = propose(ledger, "P003", "7000", "ann")["id"]
    assert adjust(ledger, "approve", by_eve, "--by", "eve", "--program", evil).exit_code == 0
    exception = json.loads(propose_exception(ledger).output)["id"]
    assert override(ledger, "approve", exception, "--by", "eve", "--program", evil).exit_code == 0

    dry = run(ledger, "--dry-run")
    report = run(ledger)
    notes = governance_notes(report)
    assert notes == governance_notes(dry) and len(notes) == 3
    assert notes[0].startswith(f"adjustment {large['id']} is not paid: a program's threshold approved it")
    assert "900,000.00 is over the require_approval_over of 500.00" in notes[0]
    assert notes[1].startswith(f"adjustment {by_eve} is not paid: approved by eve")
    assert "eve is not among its approvers (carol, dave)" in notes[1]
    assert notes[2].startswith(f"tier exception {exception} is not applied: approved by eve")
    assert adjustment_lines(ledger, "P003") == []
    assert tier(report, "P006") == "Silver"
    # pending again, for a proper approver
    assert states(ledger) == {large["id"]: "pending", by_eve: "pending"}
    (listed,) = json.loads(override(ledger, "list", "--format", "json").output)
    assert listed["state"] == "pending"
    assert adjust(ledger, "approve", by_eve, "--by", "dave").exit_code == 0
    assert override(ledger, "approve", exception, "--by", "carol").exit_code == 0
    report = run(ledger)
    assert governance_notes(report) == []
    (line,) = adjustment_lines(ledger, "P003")
    assert line["amount"] == "7000.00" and "approved by dave" in line["explanation"]
    assert tier(report, "P006") == "Gold"
    audit = cosell("audit", "--from", "2026-Q3", "--to", "2026-Q3", "--format", "json", "--ledger", ledger)
    rows = [r for r in json.loads(audit.output) if r["record"] == "adjustment" and r["ref"] == str(by_eve)]
    assert [r["kind"] for r in rows] == ["proposed", "approved", "reopened", "approved", "applied"]
    assert rows[2]["run_id"] and "not among its approvers (carol, dave)" in rows[2]["text"]


def test_the_threshold_and_the_approvers_of_the_ledgers_program_still_approve(work, ledger):
    program = with_section(work, "program.yaml", GOVERNANCE)
    run(ledger)
    assert propose(ledger, "P005", "40", "ann", "--program", program)["state"] == "approved"
    large = propose(ledger, "P003", "501", "ann", "--program", program)
    assert large["state"] == "pending"
    assert adjust(ledger, "approve", large["id"], "--by", "bob", "--program", program).exit_code == 2
    assert adjust(ledger, "approve", large["id"], "--by", "Dave").exit_code == 0
    exception = json.loads(propose_exception(ledger, "--program", program).output)["id"]
    assert override(ledger, "approve", exception, "--by", "carol", "--program", program).exit_code == 0
    report = run(ledger)
    assert governance_notes(report) == []
    assert set(states(ledger).values()) == {"applied"}
    assert tier(report, "P006") == "Gold"


def test_a_new_governance_takes_effect_through_a_run_of_the_program_holding_it(work, ledger):
    run(ledger)  # program.yaml, without governance
    program = with_section(work, "program.yaml", GOVERNANCE)
    args = ["propose", "--partner", "P005", "--amount", "40", "--reason", "r", "--by", "ann"]
    early = adjust(ledger, *args, "--program", program)
    assert early.exit_code == 2 and "the one run 1 computed with (no governance)" in early.output
    run(ledger)  # the edited program.yaml is now the one the ledger pays under
    first, second = json.loads(cosell("runs", "--format", "json", "--ledger", ledger).output)
    assert first["program_sha256"] != second["program_sha256"]  # `cosell runs diff 1 2` shows the section
    assert propose(ledger, "P005", "40", "ann", "--program", program)["state"] == "approved"


def test_a_rerun_under_a_new_governance_no_longer_pays_what_it_would_not_approve(work, ledger):
    run(ledger)  # program.yaml, without governance: anyone but the proposer approves
    adjustment = propose(ledger, "P003", "9000", "ann")["id"]
    assert adjust(ledger, "approve", adjustment, "--by", "bob").exit_code == 0
    run(ledger)
    assert len(adjustment_lines(ledger, "P003")) == 1
    with_section(work, "program.yaml", GOVERNANCE)
    (note,) = governance_notes(run(ledger))  # the rerun of 2026-Q3 under carol and dave
    assert note.startswith(f"adjustment {adjustment} is not paid: approved by bob")
    assert adjustment_lines(ledger, "P003") == []
    assert states(ledger) == {adjustment: "pending"}
    events = json.loads(adjust(ledger, "list", "--format", "json").output)[0]
    assert events["decided_by"] in ("", None)


def test_a_closed_period_is_explained_with_the_exception_its_run_applied_even_once_reopened(work, ledger):
    exception = json.loads(propose_exception(ledger).output)["id"]
    assert override(ledger, "approve", exception, "--by", "bob").exit_code == 0
    assert tier(run(ledger), "P006") == "Gold"
    assert cosell("close", "--period", "2026-Q3", "--ledger", ledger).exit_code == 0
    with_section(work, "program.yaml", "governance: {approvers: [carol]}\n")
    report = run(ledger, "--period", "2026-Q4")
    assert tier(report, "P006") != "Gold" and len(governance_notes(report)) == 1
    args = ["explain", "P006", "--program", "program.yaml", "--input", "data", "--ledger", ledger]
    explained = " ".join(cosell(*args, "--period", "2026-Q3").output.split())
    assert "Gold (exception until 2026-Q4: launch)" in explained and "approved by bob" in explained
