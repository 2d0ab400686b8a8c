"""`cosell compare`: a period under several programs, the same figures a real run of each would store,
and nothing stored, created or written back."""

import csv
import hashlib
import io
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from invoke import cosell
from ledgers import as_made_by_version

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "core" / "starter"
EXAMPLE = ROOT / "examples"
SILVER = 'name: Silver\n    min_score: 40\n    commission_rate: "0.08"'


def starter_work(folder: Path) -> None:
    """The bundled starter program and data, and a variant: Silver pays 10 % and a partner at most 20,000."""
    shutil.copytree(STARTER / "data", folder / "data")
    text = (STARTER / "program.yaml").read_text(encoding="utf-8")
    (folder / "program.yaml").write_text(text, encoding="utf-8")
    assert SILVER in text
    variant = text.replace(SILVER, SILVER.replace('"0.08"', '"0.10"')) + "\ncaps: {per_partner: 20000}\n"
    (folder / "variant.yaml").write_text(variant, encoding="utf-8")


@pytest.fixture
def starter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSELL_LEDGER", raising=False)
    starter_work(tmp_path)
    return tmp_path


def compare_json(*extra):
    result = cosell(
        "compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data", "--format", "json", *extra
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def real_run(program, ledger, output, period=None):
    """`cosell run` of one program: its partner rows and its statement lines."""
    args = ["run", "--program", program, "--input", "data", "--output", output, "--ledger", ledger, "--json"]
    result = cosell(*args, *(["--period", period] if period else []))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    lines = cosell("statement", "--period", report["period"], "--format", "csv", "--ledger", ledger)
    assert lines.exit_code == 0, lines.output
    return report, list(csv.DictReader(io.StringIO(lines.output)))


def assert_agrees(compared, index, report, lines):
    """The compare figures of program ``index`` are exactly the run's: every partner's tier, score and
    earnings, every kind's total and the total of every line."""
    assert compared["period"] == report["period"]
    by_id = {p["id"]: p["results"][index] for p in compared["partners"]}
    assert sorted(by_id) == sorted(row["id"] for row in report["partners"])
    for row in report["partners"]:
        assert by_id[row["id"]] == {
            "tier": row["tier"],
            "tier_shown": row["tier_shown"],
            "score": row["score"],
            "earnings": row["earnings"],
        }
    by_kind = defaultdict(Decimal)
    for line in lines:
        by_kind[line["kind"]] += Decimal(line["amount"])
    totals = compared["programs"][index]["totals"]
    assert {k: Decimal(v) for k, v in totals["by_kind"].items() if Decimal(v) or k in by_kind} == dict(
        by_kind
    )
    assert Decimal(totals["incentives"]) == sum(by_kind.values())


def test_compare_of_the_starter_and_a_variant_agrees_with_two_real_runs_on_fresh_ledgers(starter):
    compared = compare_json()
    base = real_run("program.yaml", "sqlite:///base.db", "out-base")
    variant = real_run("variant.yaml", "sqlite:///variant.db", "out-variant")
    assert_agrees(compared, 0, *base)
    assert_agrees(compared, 1, *variant)
    # The variant moves money: P001 (Silver) earns more at 10 %, P002 (Gold) is held to the 20,000 cap.
    results = {p["id"]: p["results"] for p in compared["partners"]}
    assert Decimal(results["P001"][1]["earnings"]) > Decimal(results["P001"][0]["earnings"])
    assert results["P002"][1]["earnings"] == "20000.00" != results["P002"][0]["earnings"]
    assert compared["programs"][1]["totals"]["by_kind"]["cap"].startswith("-")


def test_compare_on_a_ledger_with_history_agrees_with_runs_on_copies_of_that_ledger(tmp_path, monkeypatch):
    # The example (every rule: accelerators, caps, budget, MDF) with a Q2 run in the ledger, so the Q3
    # tiers start from the ledger's, not the CRM's: a variant with a richer Silver and a tighter cap.
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLE / "data", tmp_path / "data")
    text = (EXAMPLE / "program.yaml").read_text(encoding="utf-8")
    (tmp_path / "program.yaml").write_text(text, encoding="utf-8")
    variant = text.replace(
        'commission_rate: "0.08", mdf_budget: 10000, quota: 150000',
        'commission_rate: "0.10", mdf_budget: 10000, quota: 100000',
    )
    variant = variant.replace("per_partner: 50000", "per_partner: 40000")
    assert variant.count('"0.10"') == 1 and "per_partner: 40000" in variant
    (tmp_path / "variant.yaml").write_text(variant, encoding="utf-8")
    real_run("program.yaml", "sqlite:///history.db", "out-q2", period="2026-Q2")
    shutil.copy(tmp_path / "history.db", tmp_path / "base.db")
    shutil.copy(tmp_path / "history.db", tmp_path / "variant.db")
    compared = compare_json("--ledger", "sqlite:///history.db")
    assert_agrees(compared, 0, *real_run("program.yaml", "sqlite:///base.db", "out-base"))
    assert_agrees(compared, 1, *real_run("variant.yaml", "sqlite:///variant.db", "out-variant"))
    # Silver's lower quota accelerates deals the base does not: they are listed, treatment by treatment.
    accelerated = [d for d in compared["deals"] if d["results"][1]["treatment"] == ["accelerator"]]
    assert accelerated and all(d["results"][0]["treatment"] == [] for d in accelerated)


def test_json_holds_each_programs_totals_and_each_partners_results_in_the_order_given(starter):
    compared = compare_json()
    assert set(compared) >= {"period", "programs", "partners"}
    assert [p["file"] for p in compared["programs"]] == ["program.yaml", "variant.yaml"]
    assert [p["name"] for p in compared["programs"]] == ["My Partner Program"] * 2
    northwind = next(p for p in compared["partners"] if p["id"] == "P001")
    assert northwind["name"] == "Northwind Partners"
    # 180,000 EUR × 1.08 × share 1 × Silver 8 % = 15,552.00; at 10 %: 19,440.00 (under the 20,000 cap)
    assert northwind["results"] == [
        {"tier": "Silver", "tier_shown": "Silver", "score": "80.30", "earnings": "15552.00"},
        {"tier": "Silver", "tier_shown": "Silver", "score": "80.30", "earnings": "19440.00"},
    ]
    totals = compared["programs"][0]["totals"]
    # won in Q3: 194,400 + 320,000 + 150,000 + 95,000 + 40,000; margins 42, 38, 25, 40, 50 %
    assert totals["won_revenue"] == "799400.00"
    assert totals["won_margin"] == "298748.00"
    assert totals["pct_of_won_revenue"] == f"{Decimal(totals['incentives']) * 100 / Decimal('799400'):.2f}"
    assert totals["program_budget"] is None and totals["budget_used_pct"] is None


def test_a_partner_that_has_left_is_counted_and_shown_as_exited_as_the_run_and_the_report_do(
    tmp_path, monkeypatch
):
    # The example: P004 (Tailspin, Silver) is exiting and left on 2026-08-15, inside 2026-Q3. It keeps
    # Silver's rate for its wind-down but holds no tier: the run shows "Exited (was Silver)" and the
    # report counts Silver 4, Gold 1 and 1 exited. Compare counts and shows it the same way.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSELL_LEDGER", raising=False)
    shutil.copytree(EXAMPLE / "data", tmp_path / "data")
    text = (EXAMPLE / "program.yaml").read_text(encoding="utf-8")
    (tmp_path / "program.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "variant.yaml").write_text(text.replace('"0.08"', '"0.10"'), encoding="utf-8")
    compared = compare_json("--ledger", "sqlite:///compare.db")
    for program in compared["programs"]:
        assert program["totals"]["partners_by_tier"] == {"Registered": 0, "Silver": 4, "Gold": 1}
        assert program["totals"]["exited"] == 1
    tailspin = next(p for p in compared["partners"] if p["id"] == "P004")
    assert [(r["tier"], r["tier_shown"]) for r in tailspin["results"]] == [
        ("Silver", "Exited (was Silver)")
    ] * 2
    base_run = real_run("program.yaml", "sqlite:///base.db", "out-base")
    assert_agrees(compared, 0, *base_run)
    report = cosell("report", "--period", "2026-Q3", "--ledger", "sqlite:///base.db", "--format", "json")
    totals = json.loads(report.output)["totals"]
    assert (totals["tiers"], totals["exited"]) == ({"Silver": 4, "Gold": 1}, 1)

    table = cosell("compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data", "--ledger",
                   "sqlite:///compare.db").output  # fmt: skip
    flat = " ".join(table.split())
    assert "Partners at Silver │ 4 │ 4" in flat and "Partners exited (no tier) │ 1 │ 1" in flat
    assert "Exited (was" in table and "Silver · 47.44" not in flat
    rows = list(csv.DictReader(io.StringIO(cosell("compare", "-p", "program.yaml", "-p", "variant.yaml",
        "--input", "data", "--ledger", "sqlite:///compare.db", "--format", "csv").output)))  # fmt: skip
    assert {r["tier"] for r in rows if r["partner_id"] == "P004"} == {"Exited (was Silver)"}
    page = cosell("compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data", "--ledger",
                  "sqlite:///compare.db", "--format", "html").output  # fmt: skip
    assert ">Exited (was Silver)</td>" in page
    assert '<td>Partners exited (no tier)</td><td class="num">1</td>' in page


def test_the_period_and_currency_of_every_program_must_agree(starter):
    (starter / "variant.yaml").write_text(
        (starter / "variant.yaml")
        .read_text()
        .replace("currency: USD", "currency: EUR")
        .replace('EUR: "1.08"', 'USD: "0.93"')
    )
    result = cosell("compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data")
    assert result.exit_code == 2
    assert "variant.yaml:7: currency: EUR, but the base program program.yaml has USD" in result.output
    (starter / "monthly.yaml").write_text(
        (starter / "program.yaml").read_text().replace("period: 2026-Q3", "period: 2026-07")
    )
    result = cosell("compare", "-p", "program.yaml", "-p", "monthly.yaml", "--input", "data")
    assert result.exit_code == 2
    assert (
        "monthly.yaml:6: period: a program of months compared with the base program program.yaml, of quarters"
        in result.output
    )


def test_a_missing_or_invalid_program_is_named_with_its_file_and_line(starter):
    result = cosell("compare", "-p", "program.yaml", "-p", "nowhere.yaml", "--input", "data")
    assert result.exit_code == 2
    assert "nowhere.yaml: cannot read the program file" in result.output
    (starter / "variant.yaml").write_text((starter / "variant.yaml").read_text() + "bonus_pool: 5\n")
    result = cosell("compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data")
    assert result.exit_code == 2
    line = (starter / "variant.yaml").read_text().splitlines().index("bonus_pool: 5") + 1
    assert f"variant.yaml:{line}: bonus_pool: unknown key" in result.output


def test_one_program_is_not_a_comparison(starter):
    result = cosell("compare", "-p", "program.yaml", "--input", "data")
    assert result.exit_code == 2
    assert "needs two or more --program files" in result.output


def snapshot_rows(url):
    """Every row of every table of the ledger, as text: what must not change."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
            return {t: sorted(map(repr, conn.exec_driver_sql(f"SELECT * FROM {t}").all())) for t in tables}
    finally:
        engine.dispose()


def test_compare_changes_no_row_of_an_existing_ledger(starter, ledger_url):
    real_run("program.yaml", ledger_url, "out")
    before = snapshot_rows(ledger_url)
    assert before["cosell_lines"]
    files = sorted(p.name for p in starter.iterdir())
    digest = (
        hashlib.sha256((starter / "ledger.db").read_bytes()).hexdigest()
        if ledger_url.startswith("sqlite")
        else None
    )
    for format in ("table", "json", "csv", "html"):
        result = cosell(
            "compare",
            "-p",
            "program.yaml",
            "-p",
            "variant.yaml",
            "--input",
            "data",
            "--ledger",
            ledger_url,
            "--format",
            format,
        )
        assert result.exit_code == 0, result.output
    assert snapshot_rows(ledger_url) == before
    if digest is not None:
        assert hashlib.sha256((starter / "ledger.db").read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in starter.iterdir()) == files  # no output folder, no file beside the ledger


def test_a_ledger_that_does_not_exist_is_not_created(starter, ledger_url):
    before = snapshot_rows(ledger_url) if ledger_url.startswith("postgres") else None
    compared = compare_json("--ledger", ledger_url)
    assert compared["partners"]
    if before is None:
        assert sorted(p.name for p in starter.iterdir()) == ["data", "program.yaml", "variant.yaml"]
    else:
        assert snapshot_rows(ledger_url) == before == {}


def test_csv_gives_one_row_per_partner_and_program_with_the_difference_from_the_base(starter):
    result = cosell(
        "compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data", "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 3 * 2
    northwind = [r for r in rows if r["partner_id"] == "P001"]
    assert [(r["file"], r["earnings"], r["difference"]) for r in northwind] == [
        ("program.yaml", "15552.00", "0.00"),
        ("variant.yaml", "19440.00", "3888.00"),
    ]


def test_html_is_one_self_contained_page_with_a_chart_of_the_differences(starter):
    result = cosell(
        "compare",
        "-p",
        "program.yaml",
        "-p",
        "variant.yaml",
        "--input",
        "data",
        "--format",
        "html",
        "-o",
        "compare.html",
    )
    assert result.exit_code == 0, result.output
    assert "wrote compare.html" in result.output
    page = (starter / "compare.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    for fetch in ("<script", "<link", "src=", "url(", "@import"):
        assert fetch not in page
    assert "+3,888.00" in page  # Northwind's gain, on its bar


def test_deals_whose_treatment_changes_are_listed_withheld_and_under_the_margin_floor(starter):
    # The variant withholds commission on a discount over 10 % and floors it under a 45 % margin.
    text = (starter / "program.yaml").read_text()
    stricter = text.replace("max_discount_pct: 25", "max_discount_pct: 10")
    stricter = stricter.replace("min_margin_pct: 30", "min_margin_pct: 45")
    (starter / "variant.yaml").write_text(stricter)
    compared = compare_json()
    treatments = {d["id"]: [r["treatment"] for r in d["results"]] for d in compared["deals"]}
    # D1001: discount 10 %, margin 42 %: floored. D2001: discount 12 %: withheld. D2002 (margin 25 %)
    # is floored and D2004 (discount 27 %) withheld under both; D3001 (5 %, 50 %) is paid under both.
    assert treatments == {"D1001": [[], ["margin_floor"]], "D2001": [[], ["withheld"]]}
    d1001 = next(d for d in compared["deals"] if d["id"] == "D1001")
    # 194,400 × Silver 8 % = 15,552.00; × the floor's 0.5 = 7,776.00
    assert [r["amount"] for r in d1001["results"]] == ["15552.00", "7776.00"]
    table = cosell("compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data")
    assert "Deals whose treatment changes" in table.output
    assert "D1001" in table.output and "(withheld)" in table.output


def test_the_terminal_tables_show_every_amount_whole_in_80_columns(starter):
    # 80 columns: what rich gives a command whose output is not a terminal (a pipe, a file, a CI log)
    compared = compare_json()
    result = cosell("compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    for partner in compared["partners"]:
        base, variant = (Decimal(r["earnings"]) for r in partner["results"])
        for shown in (f"{base:,.2f}", f"{variant:,.2f}", f"{variant - base:+,.2f}".replace("+0.00", "0.00")):
            assert shown in result.output, (partner["id"], shown)
    assert "…" not in result.output.split("Partners (earnings difference")[1]


def test_an_output_file_that_cannot_be_written_is_a_clear_error(starter):
    result = cosell(
        "compare",
        "-p",
        "program.yaml",
        "-p",
        "variant.yaml",
        "--input",
        "data",
        "-o",
        "no/such/dir/c.html",
        "--format",
        "html",
    )
    assert result.exit_code == 2
    assert "-o: cannot write no/such/dir/c.html" in result.output


def test_a_ledger_of_an_older_schema_is_refused_not_upgraded(starter, ledger_url):
    real_run("program.yaml", ledger_url, "out")
    as_made_by_version(ledger_url, 3)
    before = snapshot_rows(ledger_url)
    result = cosell(
        "compare", "-p", "program.yaml", "-p", "variant.yaml", "--input", "data", "--ledger", ledger_url
    )
    assert result.exit_code == 2
    assert "has schema version 3, older than this cosell's" in result.output
    assert snapshot_rows(ledger_url) == before


@pytest.mark.parametrize("earlier_run", [False, True], ids=["new ledger", "after a run of 2026-Q2"])
def test_each_program_compared_pays_only_the_approvals_its_own_governance_gives_as_its_run_would(
    starter, earlier_run
):
    # Two programs alike but for who approves: an adjustment carol approved is paid under the program
    # that names her, and left out, with the run's note, under the one that names only dave. With an
    # earlier period in the ledger, each program reads the history the rules ask of it.
    text = (starter / "program.yaml").read_text(encoding="utf-8")
    (starter / "carol.yaml").write_text(text + "\ngovernance: {approvers: [carol]}\n", encoding="utf-8")
    (starter / "dave.yaml").write_text(text + "\ngovernance: {approvers: [dave]}\n", encoding="utf-8")
    ledger = ("--ledger", "sqlite:///governed.db")
    if earlier_run:
        real_run("carol.yaml", "sqlite:///governed.db", "out-q2", period="2026-Q2")
    args = ("--partner", "P001", "--amount", "1000", "--reason", "booth", "--by", "ann", "--json")
    args += ("--period", "2026-Q3")
    proposed = cosell("adjust", "propose", *args, *ledger)
    assert proposed.exit_code == 0, proposed.output
    adjustment = json.loads(proposed.output)["id"]
    approved = cosell("adjust", "approve", str(adjustment), "--by", "carol", *ledger)
    assert approved.exit_code == 0, approved.output
    result = cosell(
        "compare", "-p", "carol.yaml", "-p", "dave.yaml", "--input", "data", "--format", "json", *ledger
    )
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)
    carol, dave = compared["programs"]
    assert carol["totals"]["by_kind"]["adjustment"] == "1000.00"
    assert dave["totals"]["by_kind"].get("adjustment", "0.00") == "0.00"
    (p001,) = [p for p in compared["partners"] if p["id"] == "P001"]
    assert Decimal(p001["results"][0]["earnings"]) - Decimal(p001["results"][1]["earnings"]) == 1000
    assert carol["notes"] == []
    assert dave["notes"] == [
        f"adjustment {adjustment} is not paid: approved by carol, but carol is not among its approvers "
        "(dave), under the governance of the program this run computes with; a run that stores sets it "
        "back to pending, for an approver to approve"
    ]
    # as the dry run of that program says, and nothing is stored: the adjustment is still approved
    dry = cosell(
        "run", "-p", "dave.yaml", "--input", "data", "--output", "out", "--dry-run", "--json", *ledger
    )
    assert dry.exit_code == 0, dry.output
    assert dave["notes"][0] in json.loads(dry.output)["notes"]
    listed = cosell("adjust", "list", "--state", "approved", "--format", "csv", *ledger)
    assert [row["id"] for row in csv.DictReader(io.StringIO(listed.output))] == [str(adjustment)]
    text_table = cosell("compare", "-p", "carol.yaml", "-p", "dave.yaml", "--input", "data", *ledger)
    assert text_table.exit_code == 0, text_table.output
    assert f"dave.yaml: adjustment {adjustment} is not paid" in " ".join(text_table.output.split())
