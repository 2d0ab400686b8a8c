"""``cosell runs``, ``cosell discard`` and ``cosell audit`` on the bundled example, on SQLite and
PostgreSQL: every run keeps the program it computed with, a closed period's statement and explanation
never change with the program file, a discard starts the latest open period over, and the audit lists
what was paid and decided with the program digest of the run that did it."""

import csv
import hashlib
import io
import json

import pytest

from cosell.ledger import Ledger
from invoke import cosell, explain, ok, run
from ledgers import as_made_by_version, fetch


@pytest.fixture
def ledger(work, ledger_url):
    return ledger_url


def runs_json(ledger, *extra):
    return json.loads(ok("runs", "--format", "json", "--ledger", ledger, *extra).stdout)


def test_each_run_is_listed_with_the_sha256_of_the_program_files_bytes_and_what_it_ran_with(work, ledger):
    run(ledger)
    run(ledger, "--period", "2026-Q4")
    first, second = runs_json(ledger)
    expected = hashlib.sha256((work / "program.yaml").read_bytes()).hexdigest()
    assert (first["id"], first["period"], second["period"]) == (1, "2026-Q3", "2026-Q4")
    assert first["program_sha256"] == second["program_sha256"] == expected
    assert (first["status"], first["connector"], first["target"]) == (
        "done",
        "files",
        f"files:{work / 'out'}",
    )
    assert first["started_at"].endswith("Z") and first["finished_at"].endswith("Z")
    assert (
        first["cosell_version"]
        and {"name": "commission", "package": "cosell", "version": first["cosell_version"]}
        in first["plugins"]
    )
    assert len(first["records_digest"]) == 64 and first["records_digest"] == second["records_digest"]
    assert [r["id"] for r in runs_json(ledger, "--period", "2026-Q4")] == [2]
    table = ok("runs", "--ledger", ledger).stdout
    assert expected[:12] in table


def test_a_closed_periods_statement_and_explanation_stay_byte_for_byte_when_the_program_is_edited(
    work, ledger
):
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)

    def outputs():
        statements = [
            ok(
                "statement",
                "--period",
                "2026-Q3",
                "--format",
                fmt,
                "--ledger",
                ledger,
                "--program",
                "program.yaml",
            )
            for fmt in ("csv", "html", "terminal")
        ]
        return [result.stdout for result in (*statements, explain(ledger))]

    before = outputs()
    program = work / "program.yaml"
    edited = program.read_text().replace("program: Global Partner Program", "program: Renamed Program")
    edited = edited.replace(
        'min_score: 40, commission_rate: "0.08"', 'min_score: 40, commission_rate: "0.10"'
    )
    assert edited != program.read_text()
    program.write_text(edited)
    assert outputs() == before
    assert "Global Partner Program" in before[-1] and "Renamed Program" not in before[-1]
    assert "using the program run 1 computed with" in explain(ledger).stderr

    run(ledger, "--period", "2026-Q4")  # the edited program
    diff = ok("runs", "diff", "1", "2", "--ledger", ledger).stdout
    assert "-program: Global Partner Program\n+program: Renamed Program" in diff
    assert '-  - {name: Silver,     min_score: 40, commission_rate: "0.08"' in diff
    assert '+  - {name: Silver,     min_score: 40, commission_rate: "0.10"' in diff
    assert "cosell: unchanged" in diff and "plugins: unchanged" in diff and "records: unchanged" in diff
    assert "period earnings:" in diff and "P001: " in diff


def test_runs_diff_compares_a_superseded_run_with_the_rerun_that_replaced_its_lines(work, ledger):
    run(ledger)
    deals = work / "data" / "deals.csv"
    deals.write_text(
        deals.read_text().replace("D2001,Contoso - ERP rollout,320000", "D2001,Contoso - ERP rollout,90000")
    )
    run(ledger)  # the rerun replaces 2026-Q3's lines: run 1's earnings are read from its record
    diff = ok("runs", "diff", "1", "2", "--ledger", ledger).stdout
    assert "program: unchanged" in diff and "records: changed (digest " in diff
    (p002,) = [line for line in diff.splitlines() if line.startswith("  P002: ")]
    assert p002.startswith("  P002: 48421.05 → ")
    assert "  P005: 96.84 → 100.00 (+3.16)" in diff  # the program budget no longer scales P005 down
    same = ok("runs", "diff", "2", "2", "--ledger", ledger).stdout
    assert "records: unchanged" in same and "period earnings: unchanged for every partner" in same


def test_runs_show_prints_the_program_text_exactly(work, ledger):
    run(ledger)
    shown = ok("runs", "show", "1", "--ledger", ledger).stdout
    assert shown.endswith("program file:\n" + (work / "program.yaml").read_text())
    data = json.loads(ok("runs", "show", "1", "--format", "json", "--ledger", ledger).stdout)
    assert data["program_text"] == (work / "program.yaml").read_text()
    assert data["earnings"]["P002"] == "48421.05"  # the per-partner cap and the budget applied
    missing = cosell("runs", "show", "9", "--ledger", ledger)
    assert missing.exit_code == 2 and "no run 9" in missing.output


def test_runs_recorded_before_the_ledger_kept_them_say_not_recorded(work, ledger):
    run(ledger)
    as_made_by_version(ledger, 4)
    run(ledger)  # migrates to version 5; this run is recorded
    old, new = runs_json(ledger)
    assert (old["recorded"], old["program_sha256"]) == (False, None)
    assert new["recorded"] and new["program_sha256"]
    assert "not recorded" in ok("runs", "show", "1", "--ledger", ledger).stdout
    assert (
        "run 1: program, versions, records digest and earnings not recorded"
        in ok("runs", "diff", "1", "2", "--ledger", ledger).stdout
    )
    assert "not recorded" in ok("runs", "--ledger", ledger).stdout
    as_made_by_version(ledger, 4)  # the period's latest run now has no record either
    assert "stored before runs recorded their program: explaining with program.yaml" in explain(ledger).stderr


def adjustment_lines(ledger, period):
    text = cosell("statement", "--period", period, "--format", "csv", "--ledger", ledger).stdout
    return [r for r in csv.DictReader(io.StringIO(text)) if r["kind"] == "adjustment"]


def test_discard_lets_an_earlier_period_run_first_and_its_adjustment_pays_again_once(work, ledger):
    proposed = ok("adjust", "propose", "--partner", "P001", "--amount", "75", "--reason", "late receipt", "--by", "ann",
                  "--period", "2026-Q3", "--json", "--ledger", ledger)  # fmt: skip
    adjustment = json.loads(proposed.stdout)["id"]
    ok("adjust", "approve", adjustment, "--by", "bob", "--ledger", ledger)
    run(ledger)  # 2026-Q3, the program's period: a new user's first run
    assert len(adjustment_lines(ledger, "2026-Q3")) == 1
    refused = cosell(
        "run",
        "--program",
        "program.yaml",
        "--input",
        "data",
        "--output",
        "out",
        "--ledger",
        ledger,
        "--period",
        "2026-Q2",
    )
    assert refused.exit_code == 2 and "older than 2026-Q3" in refused.output

    done = ok(
        "discard",
        "--period",
        "2026-Q3",
        "--reason",
        "backfill 2026-Q2 first",
        "--by",
        "ann",
        "--ledger",
        ledger,
    )
    assert (
        "discarded 2026-Q3 (run 1)" in done.stdout
        and f"adjustment(s) {adjustment} approved again" in done.stdout
    )
    (listed,) = json.loads(ok("adjust", "list", "--format", "json", "--ledger", ledger).stdout)
    assert (listed["state"], listed["applied_period"]) == ("approved", None)
    assert cosell("statement", "--period", "2026-Q3", "--ledger", ledger).exit_code == 2
    assert runs_json(ledger)[0]["discarded"] is True

    run(ledger, "--period", "2026-Q2")
    assert adjustment_lines(ledger, "2026-Q2") == []  # it belongs to 2026-Q3
    run(ledger, "--period", "2026-Q3")
    (line,) = adjustment_lines(ledger, "2026-Q3")
    assert line["amount"] == "75.00" and "late receipt" in line["explanation"]


def output_rows(work, name):
    with open(work / "out" / name, newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def rewrite(path, keep, change=lambda row: row):
    """Keep the rows of the CSV file ``path`` that ``keep`` accepts, each as ``change`` makes it."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [change(row) for row in reader if keep(row)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_a_rerun_after_discard_clears_the_deal_fields_the_discarded_run_wrote_that_it_no_longer_computes(
    work, ledger
):
    run(ledger)
    deals = output_rows(work, "deals.csv")
    assert [deals[d]["cosell_incentive_status"] for d in ("D2001", "D2003", "D3001", "D3002", "D6001")] == [
        "Earned", "Projected", "Earned", "Projected", "Earned"
    ]  # fmt: skip
    ok("discard", "--period", "2026-Q3", "--reason", "wrong export", "--by", "ann", "--ledger", ledger)
    # The corrected export: D2001 (won, paid) and D2003 (open, projected) are gone, D6001 (won) has no
    # partner any more, and Fabrikam (P003) left the partner file with its deals D3001 and D3002.
    data = work / "data"
    rewrite(
        data / "deals.csv",
        lambda row: row["id"] not in ("D2001", "D2003") and row["partner_id"] != "P003",
        lambda row: {**row, "partner_id": "", "role": ""} if row["id"] == "D6001" else row,
    )
    rewrite(data / "partners.csv", lambda row: row["id"] != "P003")
    rewrite(data / "deal_partners.csv", lambda row: row["partner_id"] != "P003")
    rewrite(data / "mdf_claims.csv", lambda row: row["partner_id"] != "P003")
    rewrite(
        data / "activities.csv",
        lambda row: row["partner_id"] != "P003",
        lambda row: {**row, "deal_id": ""} if row["deal_id"] == "D2003" else row,
    )
    run(ledger)
    deals = output_rows(work, "deals.csv")
    for gone in ("D2001", "D2003", "D3001", "D3002", "D6001"):
        shown = [
            deals[gone][f] for f in ("cosell_incentive", "cosell_incentive_status", "cosell_incentive_note")
        ]
        assert shown == ["", "", ""], (gone, shown)
    assert deals["D1001"]["cosell_incentive_status"] == "Earned"  # still paid: rewritten, not cleared
    accounts = output_rows(work, "accounts.csv")
    assert [accounts["P003"][f] for f in ("cosell_tier", "cosell_score", "cosell_period_earnings")] == [
        "",
        "",
        "",
    ]
    # what the CRM shows is what the ledger holds: the rerun's lines and projections
    with Ledger.connect(ledger) as book:
        paid = {line.deal_id for line in book.lines("2026-Q3") if line.deal_id}
        projected = {p.deal_id for p in book.projections("2026-Q3")}
    shown = {d for d, row in deals.items() if row["cosell_incentive_status"]}
    assert shown == paid | projected, shown ^ (paid | projected)
    rerun = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger, "--json"
    )
    assert rerun.exit_code == 0 and json.loads(rerun.stdout)["changes"] == [], rerun.output


INCENTIVE_FIELDS = ("cosell_incentive", "cosell_incentive_status", "cosell_incentive_note")


@pytest.mark.parametrize("discarded", [True, False], ids=["after-discard", "plain-rerun"])
def test_a_rerun_keeps_the_field_of_a_deal_paid_in_a_closed_period_that_it_no_longer_reads(
    work, ledger, discarded
):
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)
    assert output_rows(work, "deals.csv")["D6001"]["cosell_incentive_status"] == "Earned"  # paid in 2026-Q3
    data = work / "data"
    renamed = lambda row: {**row, "name": "Litware Holdings"} if row["id"] == "P006" else row  # noqa: E731
    rewrite(data / "partners.csv", lambda row: True, renamed)
    run(ledger, "--period", "2026-Q4")  # rewrites D6001's note: the partner paid has another name
    shown = [output_rows(work, "deals.csv")["D6001"][f] for f in INCENTIVE_FIELDS]
    assert shown[1] == "Earned" and "Litware Holdings: 3,840.00 EUR" in shown[2], shown
    if discarded:
        ok("discard", "--period", "2026-Q4", "--reason", "wrong export", "--by", "ann", "--ledger", ledger)
    rewrite(data / "deals.csv", lambda row: row["id"] != "D6001")  # it left the export
    run(ledger, "--period", "2026-Q4")
    # what it was paid in the closed period, as before: not cleared
    assert [output_rows(work, "deals.csv")["D6001"][f] for f in INCENTIVE_FIELDS] == shown


def test_discard_refuses_a_closed_period_and_one_that_is_not_the_latest(work, ledger):
    run(ledger)
    run(ledger, "--period", "2026-Q4")
    earlier = cosell("discard", "--period", "2026-Q3", "--reason", "r", "--by", "ann", "--ledger", ledger)
    assert earlier.exit_code == 2 and "2026-Q3 is not the ledger's latest period (2026-Q4)" in earlier.output
    ok("close", "--period", "2026-Q4", "--ledger", ledger)
    closed = cosell("discard", "--period", "2026-Q4", "--reason", "r", "--by", "ann", "--ledger", ledger)
    assert closed.exit_code == 2 and "closed period is never rewritten, nor discarded" in closed.output
    empty = cosell("discard", "--period", "2026-Q4", "--reason", " ", "--by", "ann", "--ledger", ledger)
    assert empty.exit_code == 2 and "--reason" in empty.output
    assert (
        len(
            cosell(
                "statement", "--period", "2026-Q3", "--format", "csv", "--ledger", ledger
            ).stdout.splitlines()
        )
        > 1
    )
    assert cosell("statement", "--period", "2026-Q4", "--format", "csv", "--ledger", ledger).exit_code == 0
    assert not any(r["discarded"] for r in runs_json(ledger))


def test_the_audit_lists_lines_tier_decisions_adjustment_events_and_discards_with_run_and_program_digest(
    work, ledger
):
    proposed = ok("adjust", "propose", "--partner", "P002", "--amount", "1000.50", "--reason", "booth rebate",
                  "--by", "ann", "--json", "--ledger", ledger)  # fmt: skip
    ok("adjust", "approve", json.loads(proposed.stdout)["id"], "--by", "bob", "--ledger", ledger)
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)
    run(ledger, "--period", "2026-Q4")
    ok("discard", "--period", "2026-Q4", "--reason", "wrong export", "--by", "carol", "--ledger", ledger)
    sha = hashlib.sha256((work / "program.yaml").read_bytes()).hexdigest()

    rows = json.loads(
        ok("audit", "--from", "2026-Q3", "--to", "2026-Q4", "--format", "json", "--ledger", ledger).stdout
    )
    lines = [r for r in rows if r["record"] == "line"]
    statement = cosell("statement", "--period", "2026-Q3", "--format", "csv", "--ledger", ledger).stdout
    assert len(lines) == len(statement.splitlines()) - 1
    assert {(r["period"], r["run_id"], r["program_sha256"]) for r in lines} == {("2026-Q3", 1, sha)}
    tiers = [r for r in rows if r["record"] == "tier"]
    assert len(tiers) == 6 and all(r["run_id"] == 1 and r["text"] for r in tiers)
    events = [(r["kind"], r["by"], r["run_id"]) for r in rows if r["record"] == "adjustment"]
    assert events == [("proposed", "ann", None), ("approved", "bob", None), ("applied", None, 1)]
    discards = [r for r in rows if r["record"] == "discard"]
    assert discards and {(r["period"], r["run_id"], r["by"], r["program_sha256"]) for r in discards} == {
        ("2026-Q4", 2, "carol", sha)
    }
    assert all("wrong export" in r["text"] for r in discards)

    ok(
        "audit",
        "--from",
        "2026-Q3",
        "--to",
        "2026-Q4",
        "--format",
        "csv",
        "--ledger",
        ledger,
        "-o",
        "audit.csv",
    )
    with open(work / "audit.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and table[0]["program_sha256"] == sha
    only_q4 = json.loads(
        ok("audit", "--from", "2026-Q4", "--to", "2026-Q4", "--format", "json", "--ledger", ledger).stdout
    )
    assert {r["record"] for r in only_q4} == {"discard"}
    backwards = cosell("audit", "--from", "2026-Q4", "--to", "2026-Q3", "--ledger", ledger)
    assert backwards.exit_code == 2 and "comes after" in backwards.output


def test_the_audit_lists_an_adjustments_run_events_under_the_period_of_the_run(work, ledger):
    # Paid by the 2026-Q3 run, unapplied when 2026-Q3 is discarded, paid again by the 2026-Q4 run.
    proposed = ok("adjust", "propose", "--partner", "P005", "--amount", "40", "--reason", "goodwill", "--by", "ann",
                  "--json", "--ledger", ledger)  # fmt: skip
    adjustment = json.loads(proposed.stdout)["id"]
    ok("adjust", "approve", adjustment, "--by", "bob", "--ledger", ledger)
    run(ledger)
    ok("discard", "--period", "2026-Q3", "--reason", "redo", "--by", "ann", "--ledger", ledger)
    run(ledger, "--period", "2026-Q4")

    def events(period):
        text = ok("audit", "--from", period, "--to", period, "--ledger", ledger).stdout
        rows = [r for r in csv.DictReader(io.StringIO(text)) if r["record"] == "adjustment"]
        return [(r["period"], r["run_id"], r["kind"]) for r in rows]

    assert events("2026-Q3") == [("2026-Q3", "1", "applied"), ("2026-Q3", "1", "unapplied")]
    assert events("2026-Q4") == [
        ("2026-Q4", "", "proposed"),
        ("2026-Q4", "", "approved"),
        ("2026-Q4", "2", "applied"),
    ]


def test_the_audit_lists_the_decisions_on_an_adjustment_of_a_closed_period_under_its_period(work, ledger):
    # A correction to 2026-Q3 made after it was closed: paid by the 2026-Q4 run, decided for 2026-Q3.
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)
    proposed = ok("adjust", "propose", "--partner", "P001", "--amount", "300", "--reason", "late Q3 fix",
                  "--by", "ann", "--period", "2026-Q3", "--json", "--ledger", ledger)  # fmt: skip
    ok("adjust", "approve", json.loads(proposed.stdout)["id"], "--by", "bob", "--ledger", ledger)
    run(ledger, "--period", "2026-Q4")
    (listed,) = json.loads(ok("adjust", "list", "--format", "json", "--ledger", ledger).stdout)
    assert (listed["period"], listed["applied_period"]) == ("2026-Q3", "2026-Q4")

    def events(start, end):
        text = ok("audit", "--from", start, "--to", end, "--ledger", ledger).stdout
        rows = [r for r in csv.DictReader(io.StringIO(text)) if r["record"] == "adjustment"]
        return [(r["period"], r["run_id"], r["kind"]) for r in rows]

    both = [("2026-Q3", "", "proposed"), ("2026-Q3", "", "approved"), ("2026-Q4", "2", "applied")]
    assert events("2026-Q3", "2026-Q4") == both
    assert events("2026-Q3", "2026-Q3") == both[:2]  # the adjustment of the period
    assert events("2026-Q4", "2026-Q4") == both  # paid in it


def test_the_audit_attributes_an_adjustment_paid_again_by_a_rerun_to_the_run_that_holds_it(work, ledger):
    run(ledger)
    proposed = ok("adjust", "propose", "--partner", "P002", "--amount", "1000.50", "--reason", "booth rebate",
                  "--by", "ann", "--json", "--ledger", ledger)  # fmt: skip
    adjustment = json.loads(proposed.stdout)["id"]
    ok("adjust", "approve", adjustment, "--by", "bob", "--ledger", ledger)
    run(ledger)  # run 2 pays it
    first = hashlib.sha256((work / "program.yaml").read_bytes()).hexdigest()
    program = work / "program.yaml"
    program.write_text(program.read_text() + "# reviewed by finance\n")
    run(ledger)  # run 3: the period's results, the adjustment's line among them, are run 3's
    edited = hashlib.sha256(program.read_bytes()).hexdigest()
    (listed,) = json.loads(ok("adjust", "list", "--format", "json", "--ledger", ledger).stdout)
    assert (listed["state"], listed["applied_run"]) == ("applied", 3)

    rows = json.loads(
        ok("audit", "--from", "2026-Q3", "--to", "2026-Q3", "--format", "json", "--ledger", ledger).stdout
    )
    (line,) = [r for r in rows if r["record"] == "line" and r["kind"] == "adjustment"]
    assert (line["run_id"], line["program_sha256"]) == (3, edited)
    events = [(r["kind"], r["run_id"], r["program_sha256"]) for r in rows if r["record"] == "adjustment"]
    assert events == [
        ("proposed", None, None),
        ("approved", None, None),
        ("applied", 2, first),
        ("reapplied", 3, edited),
    ]


class _Killed(BaseException):
    """The process dying (kill -9) between storing its results and writing them back."""


def _run_killed_after_storing(ledger, monkeypatch):
    def killed(*args, **kwargs):
        raise _Killed

    with monkeypatch.context() as m:
        m.setattr("cosell.engine.write_pending", killed)
        with pytest.raises(_Killed):
            cosell(
                "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger
            )


def test_close_refuses_a_period_whose_latest_run_was_killed_before_writing_back_and_a_run_then_sends_it(
    work, ledger, monkeypatch
):
    run(ledger)
    with (work / "data" / "deals.csv").open("a", encoding="utf-8") as deals:  # a late win to write back
        deals.write(
            "D9001,Adatum - late win,400000,USD,Closed Won,won,2026-07-01,2026-09-29,5,45,,,P005,sourced,\n"
        )
    _run_killed_after_storing(ledger, monkeypatch)
    refused = cosell("close", "--period", "2026-Q3", "--ledger", ledger)
    assert refused.exit_code == 2, refused.output
    assert "run 2" in refused.output and "not sent" in refused.output
    assert "run 2026-Q3 again first (it resends what is unsent)" in refused.output
    assert [r["status"] for r in runs_json(ledger)] == ["done", "computed"]
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)


def test_close_refuses_a_period_whose_latest_run_had_its_writes_refused(work, ledger):
    (work / "out" / "changes.csv").mkdir(parents=True)
    failed = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger
    )
    assert failed.exit_code == 3, failed.output
    refused = cosell("close", "--period", "2026-Q3", "--ledger", ledger)
    assert refused.exit_code == 2, refused.output
    assert "run 1" in refused.output and "25 write(s)" in refused.output
    assert "run 2026-Q3 again first (it resends what is unsent)" in refused.output


def test_close_even_if_unsent_closes_a_period_with_unsent_writes_and_says_so(work, ledger, monkeypatch):
    _run_killed_after_storing(ledger, monkeypatch)
    closed = ok("close", "--period", "2026-Q3", "--even-if-unsent", "--ledger", ledger)
    assert "closed 2026-Q3" in closed.output and "never be sent" in closed.output
    again = cosell(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger
    )
    assert again.exit_code == 2 and "closed" in again.output


def test_close_after_a_run_that_wrote_everything_back_closes_without_a_warning(work, ledger):
    run(ledger)
    closed = ok("close", "--period", "2026-Q3", "--ledger", ledger)
    assert closed.output.strip() == "closed 2026-Q3"


def test_closing_a_closed_period_again_says_it_was_already_closed_and_when(work, ledger):
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)
    ((closed_at,),) = fetch(ledger, "SELECT closed_at FROM cosell_periods WHERE period = '2026-Q3'")

    again = ok("close", "--period", "2026-Q3", "--ledger", ledger)  # idempotent: exit 0

    when = closed_at.replace("T", " ").replace("Z", " UTC")
    assert again.output.strip() == f"2026-Q3 was already closed on {when}: nothing changed"


def held_by_another_run(work, monkeypatch, method, *args):
    """``cosell ARGS --ledger URL`` (URL: a ledger of the example run for 2026-Q3) while another run
    holds the period, ``Ledger.<method>`` waiting 0.2 s for it: exit 5. The URL, and that result."""
    from cosell.ledger import Ledger

    url = f"sqlite:///{work / 'held.db'}"
    run(url)
    real = getattr(Ledger, method)
    monkeypatch.setattr(Ledger, method, lambda self, p, **k: real(self, p, **k, wait_seconds=0.2))
    with Ledger.connect(url) as other, other.hold_period("2026-Q3"):
        held = cosell(*args, "--ledger", url)
    assert held.exit_code == 5, held.output
    return url, held


def test_close_waits_for_a_run_holding_the_period_and_exits_5_when_it_does_not_finish(work, monkeypatch):
    args = ("close", "--period", "2026-Q3")
    url, held = held_by_another_run(work, monkeypatch, "close_period", *args)
    assert "another run holds period 2026-Q3" in held.output
    assert "then run cosell close --period 2026-Q3 again" in held.output, held.output
    ok(*args, "--ledger", url)


def test_discard_exits_5_while_a_run_holds_the_period_and_says_to_run_discard_again(work, monkeypatch):
    args = ("discard", "--period", "2026-Q3", "--reason", "redo", "--by", "ann")
    url, held = held_by_another_run(work, monkeypatch, "discard_period", *args)
    assert "then run cosell discard --period 2026-Q3 again" in held.output, held.output
    ok(*args, "--ledger", url)


def test_explain_of_a_closed_period_warns_when_the_records_differ_from_those_its_run_read(work, ledger):
    run(ledger)
    ok("close", "--period", "2026-Q3", "--ledger", ledger)
    unchanged = explain(ledger)
    assert unchanged.exit_code == 0, unchanged.output
    assert "records" not in unchanged.stderr

    deals = work / "data" / "deals.csv"
    text = deals.read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("D1001,")]
    assert ",180000," in row
    deals.write_text(text.replace(row, row.replace(",180000,", ",250000,")))
    changed = explain(ledger)
    assert changed.exit_code == 0, changed.output
    warning = " ".join(changed.stderr.split())
    assert "2026-Q3: the records read now differ from those run 1 read" in warning
    assert "recomputed from today's records" in warning
    assert "cosell statement --period 2026-Q3" in warning
    # the explanation's figures are today's, the statement's what was paid
    assert changed.stdout != unchanged.stdout
    assert "20,236.13" in unchanged.stdout and "20,236.13" not in changed.stdout
    paid = json.loads(
        ok(
            "statement", "--period", "2026-Q3", "--partner", "P001", "--format", "json", "--ledger", ledger
        ).stdout
    )
    assert paid["partners"][0]["period_earnings"] == "20236.13"
