"""A partner whose ``joined_on`` is after a period's last day is not in that period's run: no score, tier
or lines, not counted in the report; the run says it left it out. Deals naming it then earn it nothing,
then or later."""

from __future__ import annotations

from decimal import Decimal

from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.report.model import build
from cosell.testing import deal, mdf_claim, partner, program, run_program

PROGRAM = dict(
    tiers=[
        {"name": "Registered", "min_score": 0, "commission_rate": "0.05", "mdf_budget": 10000},
        {"name": "Silver", "min_score": 40, "commission_rate": "0.10"},
    ],
    scoring={"scale": 100, "metrics": {"sourced_pipeline": {"weight": 1, "target": 100000}}},
    mdf={"release_on_approval": "0.5", "release_pipeline_multiple": 2},
    payouts={
        "signing_bonus": 1000,
        "milestones": [{"name": "first_win", "kind": "first_win", "amount": 2500}],
    },
)


def _report(ledger: Ledger, period: str) -> dict:
    kinds = {name: kind for name, (_, kind) in Plugins().line_kinds().items()}
    return build(ledger, Period.parse(period), 4, kinds)


def test_a_partner_that_joins_after_the_period_is_left_out_of_its_run_and_earns_nothing_on_its_deals(
    sqlite_url,
):
    loaded = program(**PROGRAM)
    partners = [partner("OLD", joined_on="2025-01-01"), partner("LATER", joined_on="2026-08-01")]
    deals = [
        # won in 2026-Q2, before LATER joined, shared with OLD (no shares given: half each)
        deal("SHARED", 100000, partners=["OLD", "LATER"], created_on="2026-04-02", won_on="2026-05-10"),
        # won in 2026-Q2 by LATER alone, before it joined
        deal("EARLY", 20000, partners=["LATER"], created_on="2026-04-02", won_on="2026-05-20"),
        # won in 2026-Q3, after it joined
        deal("FIRST", 30000, partners=["LATER"], created_on="2026-08-05", won_on="2026-09-12"),
    ]
    # approved in 2026-Q2, before LATER joined
    claims = [mdf_claim("C1", "LATER", "Launch", 1000, approved_on="2026-06-01")]
    with Ledger.connect(sqlite_url) as ledger:
        # an adjustment approved before it joined waits for its first period
        early = ledger.propose_adjustment(partner_id="LATER", amount=Decimal("300.00"), reason="x", by="ann")
        ledger.approve_adjustment(early.id, by="carol")
        q2 = run_program(loaded, partners, deals, mdf_claims=claims, ledger=ledger, period="2026-Q2")
        ledger.close_period(Period.parse("2026-Q2"))
        q3 = run_program(loaded, partners, deals, mdf_claims=claims, ledger=ledger, period="2026-Q3")
        report_q2, report_q3 = _report(ledger, "2026-Q2"), _report(ledger, "2026-Q3")

    # 2026-Q2 (ends 2026-06-30): LATER is not in the run at all. OLD is paid on its half of SHARED, as
    # the deal's shares say (LATER's half is paid to no one)
    assert [row["id"] for row in q2.report.partners] == ["OLD"]
    assert {line.partner_id for line in q2.lines} == {"OLD"}
    [shared] = [ln for ln in q2.lines if (ln.kind, ln.deal_id) == ("commission", "SHARED")]
    assert "share 0.5" in shared.explanation
    assert any(
        "LATER" in note and "joined the program on 2026-08-01" in note and "after 2026-Q2" in note
        and "earns nothing" in note
        for note in q2.report.notes
    )  # fmt: skip
    assert any(
        f"adjustment {early.id} for LATER: it joined the program on 2026-08-01" in n for n in q2.report.notes
    )
    assert q2.fields.get(("account", "LATER")) is None
    assert [r["id"] for r in report_q2["partners"]] == ["OLD"]
    assert report_q2["totals"]["partners"] == 1

    # 2026-Q3: LATER's first period. SHARED and EARLY, won in closed 2026-Q2 before it joined, are not paid
    # late, C1 is not funded late, and EARLY is no first win: FIRST is (score 30, Registered: 30,000 × 5 % = 1,500.00 commission),
    # with the signing bonus.
    later = {(line.kind, line.deal_id): line.amount for line in q3.lines if line.partner_id == "LATER"}
    assert later == {
        ("signing_bonus", None): Decimal("1000.00"),
        ("commission", "FIRST"): Decimal("1500.00"),
        ("milestone", "FIRST"): Decimal("2500.00"),
        ("adjustment", None): Decimal("300.00"),
    }
    assert not any("LATER" in note for note in q3.report.notes)
    rows = {r["id"]: r for r in report_q3["partners"]}
    assert (rows["LATER"]["previous_tier"], rows["LATER"]["movement"]) == (None, "new")
    assert [t["partners"] for t in report_q3["trend"]] == [1, 2]


def test_the_run_of_the_example_before_fabrikam_joined_leaves_it_out_and_explain_says_why(
    tmp_path, monkeypatch
):
    import shutil
    from pathlib import Path

    from invoke import cosell

    examples = Path(__file__).resolve().parents[2] / "examples"
    monkeypatch.chdir(tmp_path)
    shutil.copytree(examples, tmp_path / "ex")
    common = ["--program", "ex/program.yaml", "--input", "ex/data", "--ledger", "sqlite:///h.db"]
    run = cosell("run", *common, "--output", "out", "--period", "2026-Q2")
    assert run.exit_code == 0, run.output
    assert "│ P003" not in run.output  # no row in the table
    assert "partner P003 (Fabrikam Resellers) joined the program on 2026-08-01, after 2026-Q2" in run.output
    explain = cosell("explain", "P003", *common, "--period", "2026-Q2")
    assert explain.exit_code == 2
    assert "joined the program on 2026-08-01, after 2026-Q2" in explain.output


def test_a_rerun_after_joined_on_moved_past_the_period_says_the_partners_earlier_lines_are_no_longer_paid(
    sqlite_url,
):
    loaded = program(**PROGRAM)
    deals = [deal("WON", 10000, partners=["P1"], created_on="2026-04-02", won_on="2026-05-10")]
    with Ledger.connect(sqlite_url) as ledger:
        first = run_program(
            loaded, [partner("P1", joined_on="2026-04-15")], deals, ledger=ledger, period="2026-Q2"
        )
        # signing bonus 1,000.00 + first win 2,500.00 + 10,000 × 5 % = 500.00 commission
        assert sum(line.amount for line in first.lines) == Decimal("4000.00")
        # the CRM's joined date corrected: P1 joins in 2026-Q3
        again = run_program(
            loaded, [partner("P1", joined_on="2026-07-15")], deals, ledger=ledger, period="2026-Q2"
        )
    assert again.lines == []
    assert any(
        "P1" in note and "4,000.00 USD in all, are no longer paid (it joined after 2026-Q2)" in note
        for note in again.report.notes
    )
    assert not any("no longer among the records" in note for note in again.report.notes)
