"""The CLI over the CSV connector and a SQLite ledger: what a RevOps user runs."""

import csv
import json
import re

from invoke import cosell


def run_args(extra=()):
    return ("run", "--program", "program.yaml", "--input", "data", "--output", "out", *extra)


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_run_prints_the_partner_table_and_writes_fields_and_ledger(work):
    result = cosell(*run_args())
    assert result.exit_code == 0, result.output
    assert "Northwind Partners" in result.output and "Partners, 2026-Q3" in result.output
    accounts = {r["id"]: r for r in rows(work / "out" / "accounts.csv")}
    assert accounts["P002"]["cosell_tier"] == "Gold"
    deals = {r["id"]: r for r in rows(work / "out" / "deals.csv")}
    # 180,000 EUR × 1.08 = 194,400 USD; P001 share 0.9 sourced at Silver 8% = 13,996.80 USD;
    # P006 share 0.1 influenced 0.25 at Silver 8% = 388.80 USD; together 14,385.60 USD = 13,320.00 EUR
    assert deals["D1001"]["cosell_incentive"] == "13320.00"
    assert deals["D1001"]["cosell_incentive_status"] == "Earned"
    assert (work / "cosell.db").exists()


def test_rerun_of_an_open_period_gives_identical_lines_and_writes_nothing(work):
    assert cosell(*run_args()).exit_code == 0
    first = cosell("statement", "--period", "2026-Q3", "--format", "csv").output
    before = (work / "out" / "deals.csv").stat().st_mtime_ns
    again = cosell(*run_args(["--json"]))
    assert again.exit_code == 0
    report = json.loads(again.output)
    assert report["changes"] == [] and report["written"] == 0
    assert cosell("statement", "--period", "2026-Q3", "--format", "csv").output == first
    assert (work / "out" / "deals.csv").stat().st_mtime_ns == before


def test_dry_run_shows_planned_changes_and_writes_nothing(work):
    result = cosell(*run_args(["--dry-run"]))
    assert result.exit_code == 0, result.output
    assert "Planned field changes" in result.output and "dry run" in result.output
    assert not (work / "out").exists()
    assert cosell("statement", "--period", "2026-Q3").exit_code == 2  # the ledger has no run


def test_bad_cells_are_all_reported_with_file_line_and_column_and_nothing_is_written(work):
    text = (work / "data" / "deals.csv").read_text()
    text = text.replace("D1001,Northwind - Data platform,180000", "D1001,Northwind - Data platform,18O000")
    text = text.replace("2026-07-05,2026-09-15", "2026-07-05,2026-09-31")
    (work / "data" / "deals.csv").write_text(text)
    result = cosell(*run_args())
    assert result.exit_code == 2
    assert "deals.csv:2: amount:" in result.output
    assert "deals.csv:8: closed_on:" in result.output
    assert not (work / "out").exists()
    assert cosell("statement", "--period", "2026-Q3").exit_code == 2


def test_bad_program_exits_2_naming_the_line(work):
    (work / "program.yaml").write_text((work / "program.yaml").read_text() + "bonus_pool: 5\n")
    result = cosell(*run_args())
    assert result.exit_code == 2
    assert "program.yaml:" in result.output and "bonus_pool: unknown key" in result.output


def test_closed_period_refuses_to_rerun(work):
    assert cosell(*run_args()).exit_code == 0
    closed = cosell("close", "--period", "2026-Q3")
    assert closed.exit_code == 0, closed.output
    result = cosell(*run_args())
    assert result.exit_code == 2 and "closed" in result.output


def test_statement_csv_has_the_spec_columns_and_two_place_amounts(work):
    assert cosell(*run_args()).exit_code == 0
    result = cosell("statement", "--period", "2026-Q3", "--partner", "P001", "--format", "csv")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "partner_id,period,kind,deal_id,amount,explanation"
    assert lines[1].startswith("P001,2026-Q3,baseline,,400.00,")
    assert any(line.startswith("P001,2026-Q3,commission,D1001,13996.80,") for line in lines)


def test_a_statement_of_a_partner_not_in_a_periods_run_says_a_partner_joining_later_is_not_in_it(work):
    # P003 joined on 2026-08-01: the run of 2026-Q2 left it out, the run of 2026-Q3 holds it
    assert cosell(*run_args(["--period", "2026-Q2"])).exit_code == 0
    assert cosell("close", "--period", "2026-Q2").exit_code == 0
    assert cosell(*run_args()).exit_code == 0
    result = cosell("statement", "--partner", "P003", "--period", "2026-Q2")
    assert result.exit_code == 2
    assert (
        "no partner 'P003' in 2026-Q2's run: its first period in the ledger is 2026-Q3 (a partner joining "
        "after a period's last day is not in its run)"
    ) in " ".join(result.output.split())
    unknown = cosell("statement", "--partner", "P999", "--period", "2026-Q2")
    assert unknown.exit_code == 2
    assert (
        "no partner 'P999' in 2026-Q2's run (a partner joining after a period's last day is not in its run)"
    ) in " ".join(unknown.output.split())


def test_statement_json_lists_partners_with_tier_and_earnings(work):
    assert cosell(*run_args()).exit_code == 0
    doc = json.loads(cosell("statement", "--period", "2026-Q3", "--format", "json").output)
    p002 = next(p for p in doc["partners"] if p["partner_id"] == "P002")
    assert p002["tier"] == "Gold"
    assert [line["kind"] for line in p002["lines"]][:2] == ["baseline", "commission"]
    # baseline 600 + commissions 38,400 + 5,400 + 0 + accelerator 19,200 + first win 2,500 (D2001: D2005 was
    # refunded inside the window), capped at 50,000, then scaled by the budget:
    # 50,000 × 115,000 ÷ 118,750 = 48,421.0526… → 48,421.05
    assert p002["period_earnings"] == "48421.05"


def test_validate_schema_init_and_plugins(work):
    assert cosell("validate", "program.yaml").exit_code == 0
    assert json.loads(cosell("schema").output)["title"] == "cosell program"
    init = cosell("init", "starter")
    assert init.exit_code == 0 and (work / "starter" / "program.yaml").exists()
    assert cosell("validate", "starter/program.yaml").exit_code == 0
    assert cosell("init", "starter").exit_code == 2  # refuses to overwrite
    started = cosell(
        "run", "--program", "starter/program.yaml", "--input", "starter/data", "--output", "starter/out"
    )
    assert started.exit_code == 0, started.output
    listed = json.loads(cosell("plugins", "--json").output)
    assert {"commission", "metrics", "files"} <= {p["name"] for p in listed}


def test_init_where_a_file_or_folder_is_in_the_way_exits_2_and_writes_nothing(work):
    (work / "a-file").write_text("mine")
    (work / "x" / "data").parent.mkdir()
    (work / "x" / "data").write_text("mine")
    (work / "y" / "program.yaml").mkdir(parents=True)
    for folder, named in (("a-file", "a-file"), ("x", "x/data"), ("y", "y/program.yaml")):
        result = cosell("init", folder, "--force")
        assert result.exit_code == 2 and "internal error" not in result.output, result.output
        assert named in result.output
    written = [p.relative_to(work).as_posix() for folder in ("x", "y") for p in (work / folder).rglob("*")]
    assert sorted(written) == ["x/data", "y/program.yaml"]  # what was there, nothing added


def test_explain_shows_metrics_score_arithmetic_tier_reason_and_lines(work):
    result = cosell("explain", "P001", "--program", "program.yaml", "--input", "data")
    assert result.exit_code == 0, result.output
    assert "score = 100 ×" in result.output and "88.00" in result.output
    assert "Gold needs won_revenue" in result.output and "13996.80" in result.output


def test_unknown_connector_and_missing_folder_are_config_errors(work):
    assert cosell("run", "--program", "program.yaml", "--connector", "nope").exit_code == 2
    result = cosell("run", "--program", "program.yaml", "--input", "missing", "--output", "out")
    assert result.exit_code == 2 and "missing" in result.output


def test_unreachable_ledger_exits_4_without_showing_the_password(work):
    result = cosell(*run_args(["--ledger", "postgresql://cosell:s3cret@127.0.0.1:9/nowhere"]))
    assert result.exit_code == 4, result.output
    assert "s3cret" not in result.output


def test_another_run_holding_the_period_exits_5(work, monkeypatch):
    from cosell.ledger import Ledger

    monkeypatch.setenv("COSELL_LEDGER", f"sqlite:///{work / 'held.db'}")
    import cosell.engine as engine

    real_run = engine.run
    monkeypatch.setattr(
        "cosell.cli.run_engine", lambda *a, **k: real_run(*a, **{**k, "lock_wait_seconds": 0.2})
    )
    with Ledger.connect(f"sqlite:///{work / 'held.db'}") as other, other.hold_period("2026-Q3"):
        result = cosell(*run_args())
    assert result.exit_code == 5, result.output
    assert "2026-Q3" in result.output


def test_an_internal_error_exits_1_with_a_short_message_and_the_traceback_in_the_log(work, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("cosell.cli.run_engine", broken)
    result = cosell(*run_args())
    assert result.exit_code == 1
    assert "internal error" in result.output and "Traceback" not in result.output
    assert "ZeroDivisionError" in (work / "cosell.log").read_text()


def test_explain_tells_the_program_owner_the_budgets_full_arithmetic_that_statements_keep_private(work):
    assert cosell(*run_args()).exit_code == 0
    statement = cosell("statement", "--period", "2026-Q3", "--format", "csv", "--partner", "P002").output
    assert "scaled by 0.968421" in statement and "118,750.00" not in statement
    explained = cosell("explain", "P002", "--program", "program.yaml", "--input", "data")
    assert explained.exit_code == 0, explained.output
    assert "118,750.00" in explained.output and "115,000.00" in explained.output


def test_cosell_version_prints_the_installed_version():
    from importlib import metadata

    result = cosell("--version")
    assert result.exit_code == 0 and result.output.strip() == f"cosell {metadata.version('cosell')}"


def test_boolean_options_show_as_flags_in_help():
    result = cosell("run", "--help")
    assert result.exit_code == 0
    for name in ("--dry-run", "--json", "--full-sync", "--show-changes"):
        line = next(line for line in result.output.splitlines() if name in line)
        assert "<bool>" not in line, line


def test_a_dry_run_summarises_changes_by_object_and_field_and_lists_them_all_on_request(work):
    summary = cosell(*run_args(["--dry-run"]))
    assert summary.exit_code == 0, summary.output
    # 6 accounts and 19 deals change; each field is one row with a count and a sample
    assert "Planned field changes: 25 record(s)" in summary.output
    assert "… and 16 more" in summary.output and "--show-changes" in summary.output
    full = cosell(*run_args(["--dry-run", "--show-changes"]))
    assert full.exit_code == 0, full.output
    listed = set(re.findall(r"\bD\d{4}\b", full.output))
    sampled = set(re.findall(r"\bD\d{4}\b", summary.output))
    assert len(listed) == 19 and len(sampled) == 3  # the first three deals stand for the rest


def test_json_output_stays_one_json_document_when_the_run_fails(work):
    text = (work / "data" / "deals.csv").read_text()
    (work / "data" / "deals.csv").write_text(
        text.replace("D1001,Northwind - Data platform,180000", "D1001,Northwind - Data platform,18O000")
    )
    result = cosell(*run_args(["--json"]))
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 2 and "deals.csv:2: amount:" in error["message"]


def test_the_partner_table_shows_fifty_partners_and_says_how_many_more_json_lists_all(work):
    rows = (work / "data" / "partners.csv").read_text().splitlines()
    extra = [f"Q{i:03d},Extra {i},2024-01-01,active,,,EMEA,Reseller" for i in range(60)]
    (work / "data" / "partners.csv").write_text("\n".join([*rows, *extra]) + "\n")
    table = cosell(*run_args(["--dry-run"]))
    assert table.exit_code == 0, table.output
    assert "… and 16 more partners (every one: --json)" in table.output  # 66 partners, 50 shown
    assert "Q059" not in table.output and "Q043" in table.output
    listed = json.loads(cosell(*run_args(["--dry-run", "--json"])).stdout)["partners"]
    assert len(listed) == 66


def test_an_output_file_holding_a_record_twice_stops_the_run_naming_its_line_and_nothing_is_written(work):
    assert cosell(*run_args()).exit_code == 0
    deals = work / "out" / "deals.csv"
    lines = deals.read_text(encoding="utf-8").splitlines(keepends=True)
    edited = "".join([*lines, lines[1]])  # a hand edit copied the first record's row to the end
    deals.write_text(edited, encoding="utf-8")
    (work / "data" / "deals.csv").write_text(
        (work / "data" / "deals.csv")
        .read_text()
        .replace("Northwind - Data platform,180000", "Northwind - Data platform,190000")
    )
    result = cosell(*run_args())
    assert result.exit_code == 2
    record = lines[1].split(",")[0]
    assert f"deals.csv:{len(lines) + 1}: record '{record}' has a row already" in result.output
    assert deals.read_text(encoding="utf-8") == edited
    runs = json.loads(cosell("runs", "--format", "json").output)
    assert len(runs) == 1  # the first run only: nothing stored


def test_an_output_folder_that_cannot_take_changes_csv_fails_the_writes_with_exit_3_and_the_next_run_sends_them(
    work,
):
    (work / "out" / "changes.csv").mkdir(parents=True)
    result = cosell(*run_args())
    assert result.exit_code == 3
    assert "cannot write out/changes.csv" in result.output and "internal error" not in result.output
    assert not (work / "out" / "deals.csv").exists()
    (work / "out" / "changes.csv").rmdir()
    again = cosell(*run_args(["--json"]))
    assert again.exit_code == 0
    assert json.loads(again.output)["written"] == 25
    assert len(rows(work / "out" / "deals.csv")) > 0


def test_a_deal_renamed_by_a_crm_merge_and_listed_in_merges_csv_is_not_paid_again(work):
    assert cosell(*run_args()).exit_code == 0
    assert cosell("close", "--period", "2026-Q3").exit_code == 0
    # after the close, the CRM merged D1001 (won in 2026-Q3, paid) into a new record D7001
    for name in ("deals.csv", "deal_partners.csv", "activities.csv"):
        path = work / "data" / name
        path.write_text(path.read_text(encoding="utf-8").replace("D1001", "D7001"), encoding="utf-8")

    def next_quarter():
        result = cosell(*run_args(["--period", "2026-Q4", "--json"]))
        assert result.exit_code == 0, result.output
        return cosell("statement", "--period", "2026-Q4", "--format", "csv").output

    assert "D7001" in next_quarter()  # unlisted, the new id is a deal never paid: its commission comes again
    (work / "data" / "merges.csv").write_text("kind,former_id,id\ndeal,D1001,D7001\n", encoding="utf-8")
    assert "D7001" not in next_quarter()
    deals = {r["id"]: r for r in rows(work / "out" / "deals.csv")}
    assert deals["D7001"]["cosell_incentive"] == "13320.00"  # what D1001 earned, shown on the new record


def test_a_partner_taken_out_of_partners_csv_has_its_account_row_cleared_once(work):
    assert cosell(*run_args()).exit_code == 0
    before = {r["id"]: r for r in rows(work / "out" / "accounts.csv")}["P005"]
    assert before["cosell_tier"] == "Silver" and before["cosell_score"]
    projected = {r["id"]: r for r in rows(work / "out" / "deals.csv")}["D5003"]
    assert "Adatum Cloud" in projected["cosell_incentive_note"]
    # Adatum Cloud (P005) is no partner any more: out of partners.csv, its deals name no partner now
    data = work / "data"
    for name, keep in (("partners.csv", lambda line: not line.startswith("P005,")),
                       ("activities.csv", lambda line: ",P005," not in line)):  # fmt: skip
        lines = (data / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (data / name).write_text("".join(filter(keep, lines)), encoding="utf-8")
    deals = (data / "deals.csv").read_text(encoding="utf-8")
    (data / "deals.csv").write_text(
        deals.replace(",P005,sourced,", ",,,").replace(",P005,influenced,", ",,,"), encoding="utf-8"
    )

    result = cosell(*run_args(["--json"]))
    assert result.exit_code == 0, result.output
    account = {r["id"]: r for r in rows(work / "out" / "accounts.csv")}["P005"]
    assert [account[c] for c in ("cosell_tier", "cosell_score", "cosell_period_earnings")] == ["", "", ""]
    deal = {r["id"]: r for r in rows(work / "out" / "deals.csv")}["D5003"]  # P003's projection alone now
    assert "Adatum Cloud" not in deal["cosell_incentive_note"] and "Fabrikam" in deal["cosell_incentive_note"]
    changes = [r for r in rows(work / "out" / "changes.csv") if r["id"] == "P005"]
    assert {r["field"]: (r["old"], r["new"]) for r in changes}["tier"] == ("Silver", "")

    again = cosell(*run_args(["--json"]))
    assert again.exit_code == 0 and json.loads(again.output)["changes"] == []


def test_compare_and_explain_refuse_a_program_in_another_currency_than_the_ledgers_as_the_run_does(work):
    # 2026-Q2 is kept in USD; a EUR program would read D2005's USD commission as EUR and claw it back so
    program = (work / "program.yaml").read_text(encoding="utf-8")
    eur = program.replace("currency: USD", "currency: EUR").replace(
        'fx: {EUR: "1.08", GBP: "1.27"}', 'fx: {USD: "0.93", GBP: "1.18"}'
    )
    assert eur != program
    (work / "eur.yaml").write_text(eur, encoding="utf-8")
    (work / "eur2.yaml").write_text(eur.replace('"0.05"', '"0.06"'), encoding="utf-8")
    run_args = ("--input", "data", "--output", "out")
    assert cosell("run", "--program", "program.yaml", *run_args, "--period", "2026-Q2").exit_code == 0
    assert cosell("close", "--period", "2026-Q2").exit_code == 0
    wording = "the program's currency is EUR, but this ledger's lines of 2026-Q2 are in USD"

    refused = cosell("run", "--program", "eur.yaml", *run_args, "--dry-run")
    assert refused.exit_code == 2 and wording in refused.output
    compared = cosell("compare", "--program", "eur.yaml", "--program", "eur2.yaml", "--input", "data")
    assert compared.exit_code == 2, compared.output
    assert wording in compared.output and "Clawbacks" not in compared.output
    explained = cosell("explain", "P002", "--program", "eur.yaml", "--input", "data")
    assert explained.exit_code == 2, explained.output
    assert wording in explained.output and "D2005" not in explained.output
    # in the ledger's own currency both still answer
    assert cosell("explain", "P002", "--program", "program.yaml", "--input", "data").exit_code == 0


def test_an_open_deal_taken_out_of_deals_csv_has_its_projection_cleared_once(work):
    assert cosell(*run_args()).exit_code == 0
    projected = {r["id"]: r for r in rows(work / "out" / "deals.csv")}["D2006"]
    assert projected["cosell_incentive_status"] == "Projected" and projected["cosell_incentive"]
    data = work / "data" / "deals.csv"
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    data.write_text("".join(line for line in lines if not line.startswith("D2006,")), encoding="utf-8")

    result = cosell(*run_args(["--json"]))
    assert result.exit_code == 0, result.output
    deal = {r["id"]: r for r in rows(work / "out" / "deals.csv")}["D2006"]
    assert [deal[c] for c in ("cosell_incentive", "cosell_incentive_status", "cosell_incentive_note")] == [
        "",
        "",
        "",
    ]
    # the only deal written (its partner's pipeline changed with it: the account's score too)
    assert {r["id"] for r in rows(work / "out" / "changes.csv") if r["object"] == "deal"} == {"D2006"}

    again = cosell(*run_args(["--json"]))
    assert again.exit_code == 0 and json.loads(again.output)["changes"] == []


def test_a_deal_won_in_the_open_period_by_a_partner_taken_out_shows_nothing_after_the_rerun(work):
    assert cosell(*run_args()).exit_code == 0
    won = {r["id"]: r for r in rows(work / "out" / "deals.csv")}
    # D3001: Fabrikam Resellers' (P003) first order, won this quarter
    assert won["D3001"]["cosell_incentive_status"] == "Earned"
    assert "Fabrikam Resellers" in won["D3001"]["cosell_incentive_note"]
    # Fabrikam is no partner any more: out of partners.csv, its deals name no partner now
    data = work / "data"
    for name in ("partners.csv", "activities.csv", "deal_partners.csv"):
        lines = (data / name).read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("P003,") and ",P003," not in line]
        (data / name).write_text("".join(kept), encoding="utf-8")
    deals = (data / "deals.csv").read_text(encoding="utf-8")
    (data / "deals.csv").write_text(deals.replace(",P003,sourced,", ",,,"), encoding="utf-8")

    result = cosell(*run_args(["--json"]))  # the open quarter run again
    assert result.exit_code == 0, result.output
    deals_now = {r["id"]: r for r in rows(work / "out" / "deals.csv")}
    cells = ("cosell_incentive", "cosell_incentive_status", "cosell_incentive_note")
    assert [deals_now["D3001"][c] for c in cells] == ["", "", ""]  # the rerun pays no partner on it
    assert deals_now["D1001"]["cosell_incentive_status"] == "Earned"  # Northwind's: still paid
    changes = [r for r in rows(work / "out" / "changes.csv") if r["id"] == "D3001"]
    assert {r["field"]: (r["old"], r["new"]) for r in changes}["incentive_status"] == ("Earned", "")

    again = cosell(*run_args(["--json"]))
    assert again.exit_code == 0 and json.loads(again.output)["changes"] == []


def test_a_deals_capped_scaled_mark_names_the_period_that_paid_it_in_every_later_run(work):
    # 2026-Q3's budget scales P001 and P006: D1001, paid in 2026-Q3, keeps saying so once 2026-Q4 is run
    assert cosell(*run_args()).exit_code == 0
    assert cosell("close", "--period", "2026-Q3").exit_code == 0
    assert cosell(*run_args(["--period", "2026-Q4"])).exit_code == 0
    note = {r["id"]: r for r in rows(work / "out" / "deals.csv")}["D1001"]["cosell_incentive_note"]
    assert note == (
        "Earned: Northwind Partners: 12,960.00 EUR (partner total capped/scaled in 2026-Q3); "
        "Litware Group: 360.00 EUR (partner total capped/scaled in 2026-Q3)"
    )


def test_a_commission_paid_in_a_period_not_capped_and_clawed_back_in_a_capped_one_is_not_marked(work):
    # D2005 paid in 2026-Q2 (neither capped nor scaled), clawed back in 2026-Q3 (P002 capped there)
    history = ("--ledger", "sqlite:///history.db")
    assert cosell(*run_args(["--period", "2026-Q2", *history])).exit_code == 0
    assert cosell("close", "--period", "2026-Q2", *history).exit_code == 0
    assert cosell(*run_args(history)).exit_code == 0
    deals = {r["id"]: r for r in rows(work / "out" / "deals.csv")}
    assert deals["D2005"]["cosell_incentive_note"] == "Clawed back: Contoso Consulting: 0.00 USD"
    assert deals["D2001"]["cosell_incentive_note"] == (
        "Earned: Contoso Consulting: 38,400.00 USD (partner total capped/scaled in 2026-Q3)"
    )


def test_an_mdf_claim_entered_late_in_a_closed_period_is_funded_once_against_that_periods_budget_left(work):
    assert cosell(*run_args()).exit_code == 0
    assert cosell("close", "--period", "2026-Q3").exit_code == 0
    # entered after the close: P003 (Silver, 10,000 of MDF budget, none used in 2026-Q3) and P002 (Gold,
    # its 30,000 all funded in 2026-Q3 to M001 and M002)
    with open(work / "data" / "mdf_claims.csv", "a", encoding="utf-8") as fh:
        fh.write(
            "M006,P003,Fall Promo,4000,2026-09-20,approved\nM007,P002,NA Data Summit,1000,2026-09-25,approved\n"
        )

    def statement(period):
        result = cosell(*run_args(["--period", period]))
        assert result.exit_code == 0, result.output
        found = list(
            csv.reader(cosell("statement", "--period", period, "--format", "csv").output.splitlines())
        )
        return [(row[0], row[4], row[5]) for row in found if len(row) > 5 and row[2] == "mdf"]

    q4 = statement("2026-Q4")
    assert (
        "P003",
        "2000.00",
        "MDF claim M006 (Fall Promo) approved 2026-09-20 in closed period 2026-Q3, entered late: funded "
        "4,000.00 now; 50% paid on approval = 2,000.00",
    ) in q4
    assert (
        "P002",
        "0.00",
        "MDF claim M007 (NA Data Summit) approved 2026-09-25 in closed period 2026-Q3, entered late: not "
        "funded, the Gold MDF budget of 30,000.00 for 2026-Q3 is spent",
    ) in q4
    assert not [row for row in q4 if "M001" in row[2] or "M002" in row[2]]  # funded in 2026-Q3: untouched
    assert cosell("statement", "--period", "2026-Q3", "--format", "csv").output.count("M006") == 0
    report = json.loads(cosell("report", "--period", "2026-Q4", "--format", "json").output)
    fall = next(c for c in report["campaigns"] if c["campaign"] == "Fall Promo")
    assert (fall["funded"], fall["pending"]) == ("4000.00", "2000.00")
    assert statement("2026-Q4") == q4  # run again: the same, funded once
    assert cosell("close", "--period", "2026-Q4").exit_code == 0
    assert [row for row in statement("2027-Q1") if "approved" in row[2]] == []  # never funded twice


def refund_d1001_in_q4(work, *, partners_now):
    """2026-Q3 run and closed (D1001 paid to P001 and P006), then D1001 refunded on 2026-10-30 and the
    deal's partners in deal_partners.csv changed to ``partners_now`` (the P001 row of deals.csv stays)."""
    assert cosell(*run_args()).exit_code == 0
    assert cosell("close", "--period", "2026-Q3").exit_code == 0
    data = work / "data"
    listed = [ln for ln in (data / "deal_partners.csv").read_text(encoding="utf-8").splitlines(True)]
    kept = [ln for ln in listed if not ln.startswith("D1001,")]
    (data / "deal_partners.csv").write_text("".join(kept + partners_now), encoding="utf-8")
    deals = (data / "deals.csv").read_text(encoding="utf-8")
    refunded = "".join(
        row.replace(",EMEA Cloud Push,,P001", ",EMEA Cloud Push,2026-10-30,P001")
        if row.startswith("D1001,")
        else row
        for row in deals.splitlines(True)
    )
    assert refunded != deals
    (data / "deals.csv").write_text(refunded, encoding="utf-8")
    result = cosell(*run_args(["--period", "2026-Q4"]))
    assert result.exit_code == 0, result.output
    statement = rows_of(cosell("statement", "--period", "2026-Q4", "--format", "csv").output)
    clawbacks = sorted((r["partner_id"], r["amount"]) for r in statement if r["kind"] == "clawback")
    return clawbacks, statement, {r["id"]: r for r in rows(work / "out" / "deals.csv")}["D1001"]


def rows_of(text):
    return list(csv.DictReader(text.splitlines()))


def test_a_refund_claws_back_a_partner_taken_off_the_deal_after_it_was_paid(work):
    clawbacks, statement, d1001 = refund_d1001_in_q4(work, partners_now=[])
    assert clawbacks == [("P001", "-13996.80"), ("P006", "-388.80")]
    [p006] = [r for r in statement if r["partner_id"] == "P006" and r["kind"] == "clawback"]
    assert "refunded on 2026-10-30, 71 days after it was won on 2026-08-20" in p006["explanation"]
    assert "the commission of 388.80 paid in 2026-Q3 is taken back" in p006["explanation"]
    # every partner's commission taken back in full: the CRM shows nothing earned on the deal
    assert d1001["cosell_incentive"] == "0.00"
    assert d1001["cosell_incentive_status"] == "Clawed back"
    assert "Litware Group: 0.00 EUR" in d1001["cosell_incentive_note"]


def test_a_refund_does_not_claw_back_a_partner_added_to_the_deal_after_it_was_paid(work):
    # P006 taken off, P004 put on the deal in its place: P004 was never paid a commission on it
    clawbacks, statement, d1001 = refund_d1001_in_q4(work, partners_now=["D1001,P004,influenced,0.1\n"])
    assert clawbacks == [("P001", "-13996.80"), ("P006", "-388.80")]
    added = [r for r in statement if r["partner_id"] == "P004" and r["deal_id"] == "D1001"]
    assert all(r["amount"] == "0.00" for r in added), added
    assert d1001["cosell_incentive"] == "0.00"
