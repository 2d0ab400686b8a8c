"""`cosell report` on the bundled examples: every figure agrees with the ledger, the statements and the
accounts the runs wrote, summed here independently (raw SQL on the ledger, the CSV input read again)."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from invoke import cosell
from ledgers import execute

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "starter": (ROOT / "core" / "starter" / "program.yaml", ROOT / "core" / "starter" / "data"),
    "examples": (ROOT / "examples" / "program.yaml", ROOT / "examples" / "data"),
}
Q3 = (date(2026, 7, 1), date(2026, 9, 30))
FX = {"USD": Decimal(1), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "": Decimal(1)}
CENT = Decimal("0.01")


def _run_two_periods(folder: Path, example: str, ledger: str) -> Path:
    program, data = EXAMPLES[example]
    shutil.copy(program, folder / "program.yaml")
    shutil.copytree(data, folder / "data")
    for period, out in (("2026-Q2", "out-q2"), ("2026-Q3", "out-q3")):
        ran = cosell("run", "--program", folder / "program.yaml", "--input", folder / "data",
                     "--output", folder / out, "--period", period, "--ledger", ledger)  # fmt: skip
        assert ran.exit_code == 0, ran.output
        if period == "2026-Q2":
            assert cosell("close", "--period", period, "--ledger", ledger).exit_code == 0
    return folder


def _report(ledger: str, form: str, *extra: str) -> str:
    result = cosell("report", "--period", "2026-Q3", "--ledger", ledger, "--format", form, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout


def _ledger_sums(ledger: str) -> dict[tuple[str, str, str], int]:
    engine = sa.create_engine(ledger, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT period, partner_id, kind, SUM(amount_cents) FROM cosell_lines GROUP BY period, partner_id, kind"
        ).all()
        funded = conn.exec_driver_sql("SELECT period, tags FROM cosell_lines WHERE kind = 'mdf'").all()
    engine.dispose()
    sums = {(r[0], r[1], r[2]): int(r[3]) for r in rows}
    for period, tags in funded:
        for tag in json.loads(tags) if tags.startswith("[") else tags.split(","):
            if tag.startswith("mdf_funded:"):
                key = (period, "*", "funded")
                sums[key] = sums.get(key, 0) + int(Decimal(tag.split(":", 1)[1]) * 100)
    return sums


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _deal_figures(data: Path) -> dict[str, dict[str, Decimal]]:
    """Per partner, over 2026-Q3, from the input files alone: won revenue and margin, sourced pipeline,
    deals won and lost."""
    with (data / "deals.csv").open() as f:
        deals = list(csv.DictReader(f))
    extra: dict[str, list[dict[str, str]]] = defaultdict(list)
    if (data / "deal_partners.csv").exists():
        with (data / "deal_partners.csv").open() as f:
            for row in csv.DictReader(f):
                extra[row["deal_id"]].append(row)
    figures: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for deal in deals:
        named = ([deal] if deal.get("partner_id") else []) + extra[deal["id"]]
        merged: dict[str, tuple[str, str]] = {}
        for row in named:
            merged.setdefault(row["partner_id"], (row["role"], row["share"]))
        given = sum((Decimal(s) for _, s in merged.values() if s), Decimal(0))
        open_shares = sum(1 for _, s in merged.values() if not s)
        amount = Decimal(deal["amount"]) * FX[deal["currency"]]
        created = date.fromisoformat(deal["created_on"])
        closed = date.fromisoformat(deal["closed_on"]) if deal["closed_on"] else None
        for pid, (role, share_text) in merged.items():
            share = Decimal(share_text) if share_text else (1 - given) / open_shares
            mine = figures[pid]
            if Q3[0] <= created <= Q3[1] and role == "sourced":
                mine["sourced_pipeline"] += amount * share
            if closed and Q3[0] <= closed <= Q3[1]:
                if deal["status"] == "won":
                    mine["won_revenue"] += amount * share
                    mine["won_deals"] += 1
                    if deal["margin_pct"]:
                        mine["won_margin"] += amount * share * Decimal(deal["margin_pct"]) / 100
                elif deal["status"] == "lost":
                    mine["lost_deals"] += 1
    return figures


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_figure_of_the_json_agrees_with_the_ledger_statements_and_accounts(
    tmp_path, ledger_url, example
):
    folder = _run_two_periods(tmp_path, example, ledger_url)
    report = json.loads(_report(ledger_url, "json"))
    assert report["period"] == "2026-Q3" and report["periods"] == ["2026-Q2", "2026-Q3"]
    assert [t["period"] for t in report["trend"]] == ["2026-Q2", "2026-Q3"]
    assert report["trend"][0]["status"] == "closed" and report["trend"][0]["recorded"] is True

    sums = _ledger_sums(ledger_url)
    statements = json.loads(
        cosell("statement", "--period", "2026-Q3", "--format", "json", "--ledger", ledger_url).stdout
    )
    with (folder / "out-q3" / "accounts.csv").open() as f:
        accounts = {row["id"]: row for row in csv.DictReader(f)}

    for t in report["trend"]:
        period = t["period"]
        kinds = {kind: cents for (p, _, kind), cents in sums.items() if p == period and kind != "funded"}
        by_kind: dict[str, int] = defaultdict(int)
        for (p, partner, kind), cents in sums.items():
            if p == period and partner != "*":
                by_kind[kind] += cents
        assert t["by_kind"] == {k: _money(v) for k, v in sorted(by_kind.items())}
        mdf = by_kind.get("mdf", 0)
        assert t["mdf"] == _money(mdf) == t["mdf_released"]
        assert t["earnings"] == _money(sum(by_kind.values()) - mdf)
        assert t["mdf_funded"] == _money(sums.get((period, "*", "funded"), 0))
        assert kinds is not None

    totals = report["totals"]
    assert totals["earnings"] == f"{sum(Decimal(p['period_earnings']) for p in statements['partners']):.2f}"
    by_partner = {p["id"]: p for p in report["partners"]}
    assert set(by_partner) == set(accounts) == {s["partner_id"] for s in statements["partners"]}
    for statement in statements["partners"]:
        row, account = by_partner[statement["partner_id"]], accounts[statement["partner_id"]]
        assert row["earnings"] == statement["period_earnings"] == account["cosell_period_earnings"]
        assert (
            row["tier"]
            == statement["tier"]
            == account["cosell_tier"].removeprefix("Exited (was ").rstrip(")")
        )
        assert row["score"] == statement["score"] == account["cosell_score"]
        mdf = sums.get(("2026-Q3", row["id"], "mdf"), 0)
        assert row["mdf"] == _money(mdf)

    q2 = {p["partner_id"]: p for p in json.loads(cosell("statement", "--period", "2026-Q2", "--format", "json",
                                                "--ledger", ledger_url).stdout)["partners"]}  # fmt: skip
    for pid, row in by_partner.items():
        # P003 joined on 2026-08-01: not in the run of 2026-Q2, and with no tier on its CRM account it is new
        assert row["previous_tier"] == (q2[pid]["tier"] if pid in q2 else None)
        assert pid in q2 or (pid, row["movement"]) == ("P003", "new")

    figures = _deal_figures(folder / "data")
    for pid, row in by_partner.items():
        mine = figures[pid]
        for name in ("won_revenue", "won_margin", "sourced_pipeline"):
            assert row[name] == f"{mine[name].quantize(CENT):.2f}", (pid, name)
        assert (row["won_deals"], row["lost_deals"]) == (int(mine["won_deals"]), int(mine["lost_deals"]))
    won = sum(int(f["won_deals"]) for f in figures.values())
    lost = sum(int(f["lost_deals"]) for f in figures.values())
    assert (totals["won_deals"], totals["lost_deals"]) == (won, lost)
    assert totals["joint_win_rate"] == f"{(Decimal(won) / (won + lost)).quantize(Decimal('0.0001'))}"
    revenue = sum((f["won_revenue"] for f in figures.values()), Decimal(0))
    incentives = Decimal(totals["earnings"]) + Decimal(totals["mdf"])
    assert totals["won_revenue"] == f"{revenue.quantize(CENT):.2f}"
    assert totals["cost_of_revenue"] == f"{(incentives / revenue).quantize(Decimal('0.0001'))}"
    tiers: dict[str, int] = defaultdict(int)
    exited = 0
    for s in statements["partners"]:
        assert by_partner[s["partner_id"]]["tier_shown"] == s["tier_shown"]
        if s["tier_shown"] == f"Exited (was {s['tier']})":
            exited += 1  # a partner that has left holds no tier
        else:
            tiers[s["tier"]] += 1
    assert totals["tiers"] == dict(sorted(tiers.items())) and totals["exited"] == exited
    assert totals["partners"] == sum(tiers.values())  # the partners in the program: P004 has left


def test_the_csv_carries_the_numbers_of_the_json(tmp_path, sqlite_url):
    _run_two_periods(tmp_path, "examples", sqlite_url)
    report = json.loads(_report(sqlite_url, "json"))
    rows = list(csv.DictReader(_report(sqlite_url, "csv").splitlines()))
    cell = {(r["period"], r["scope"], r["id"], r["figure"]): r["value"] for r in rows}
    for t in report["trend"]:
        for name in (
            "earnings",
            "mdf",
            "won_revenue",
            "won_margin",
            "sourced_pipeline",
            "joint_win_rate",
            "mdf_funded",
        ):
            assert cell[(t["period"], "program", "", name)] == (t[name] or "")
        for kind, amount in t["by_kind"].items():
            assert cell[(t["period"], "program", "", f"by_kind.{kind}")] == amount
    for p in report["partners"]:
        for name in (
            "tier",
            "previous_tier",
            "score",
            "earnings",
            "mdf",
            "sourced_pipeline",
            "win_rate",
            "attainment",
        ):
            assert cell[("2026-Q3", "partner", p["id"], name)] == (p[name] or "")
    for c in report["campaigns"]:
        assert cell[("2026-Q3", "campaign", c["campaign"], "funded")] == c["funded"]


def test_mdf_per_campaign_exits_and_guardrails_reach_the_watch_lists(tmp_path, sqlite_url):
    _run_two_periods(tmp_path, "examples", sqlite_url)
    report = json.loads(_report(sqlite_url, "json"))
    # The example's budget of 115,000 scales the period's capped payouts: they use it whole.
    assert report["totals"]["budget"] == {
        "program_budget": "115000.00",
        "in_budget": "115000.00",
        "used": "1.0000",
        "outside_budget": "35600.00",
        "outside_by_kind": {"clawback": "-8400.00", "mdf": "44000.00"},
    }
    campaigns = {c["campaign"]: c for c in report["campaigns"]}
    # M001 12,000 and M002 25,000 approved for P002 (Gold, MDF budget 30,000): 12,000 + 18,000 funded.
    assert campaigns["NA Data Summit"]["funded"] == "30000.00"
    assert {c for c in campaigns} == {"NA Data Summit", "EMEA Cloud Push", "APAC Roadshow"}
    exiting = {r["id"]: r for r in report["watch"]["exiting"]}
    assert set(exiting) == {"P004"} and exiting["P004"]["exit_on"] == "2026-08-15"
    # what is owed is what P004's exit settlement says, figure for figure
    settlement = cosell(
        "settlement", "P004", "--period", "2026-Q3", "--format", "json", "--ledger", sqlite_url
    )
    owed = {k: exiting["P004"][k] for k in ("paid", "owed", "projected", "pending_approval", "at_risk")}
    assert owed == json.loads(settlement.stdout)["totals"]
    assert (owed["owed"], owed["projected"]) == ("0.00", "3048.00")
    guarded = report["watch"]["guarded_deals"]
    assert guarded and {g["action"] for g in guarded} <= {"withheld", "floored"}
    for g in guarded:
        if g["action"] == "withheld":
            assert Decimal(g["discount_pct"]) > 25
        else:
            assert Decimal(g["margin_pct"]) < 30


def test_a_period_run_before_the_report_was_recorded_shows_not_recorded_never_zero(tmp_path, sqlite_url):
    _run_two_periods(tmp_path, "starter", sqlite_url)
    # What a run of an older cosell left: the statement record without the report's document.
    execute(
        sqlite_url,
        "UPDATE cosell_statement_runs SET data = json_remove(data, '$.report') WHERE period = '2026-Q3'",
    )
    report = json.loads(_report(sqlite_url, "json"))
    totals = report["totals"]
    assert totals["recorded"] is False and report["trend"][0]["recorded"] is True
    assert totals["won_revenue"] is None and totals["joint_win_rate"] is None and totals["mdf_funded"] is None
    assert totals["earnings"] == "66152.00"  # lines are always there
    assert all(p["won_revenue"] is None and p["earnings"] is not None for p in report["partners"])
    page = _report(sqlite_url, "html")
    assert "not recorded" in page and "2026-Q3: run before cosell recorded" in page


def test_fewer_periods_and_errors_are_worded(tmp_path, sqlite_url):
    _run_two_periods(tmp_path, "starter", sqlite_url)
    assert json.loads(_report(sqlite_url, "json", "--periods", "0"))["periods"] == ["2026-Q3"]
    missing = cosell("report", "--period", "2027-Q1", "--ledger", sqlite_url, "--format", "json")
    assert missing.exit_code == 2 and "holds no run of 2027-Q1" in missing.output
    bad = cosell("report", "--period", "2026-Q3", "--ledger", sqlite_url, "--format", "pdf")
    assert bad.exit_code == 2 and "--format" in bad.output
    nothing = cosell("report", "--period", "2026-Q3", "--ledger", f"sqlite:///{tmp_path}/none.db")
    assert nothing.exit_code == 2 and "no ledger" in nothing.output
    written = cosell("report", "--period", "2026-Q3", "--ledger", sqlite_url, "-o", tmp_path / "r.html")
    assert written.exit_code == 0 and (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
