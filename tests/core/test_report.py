"""The program report's rules: what a run records for it (``cosell_report_facts``), tier movement,
the watch lists, the figures per campaign."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from cosell import hookimpl
from cosell.errors import PluginError
from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.report import CampaignFunds, ReportFacts
from cosell.report.facts import report_doc
from cosell.report.model import build
from cosell.results import LineKind, PayoutLine
from cosell.testing import compute_period, deal, mdf_claim, partner, program, run_program
from ledgers import execute

PROGRAM = dict(
    scoring={"scale": 100, "metrics": {"sourced_pipeline": {"weight": 1, "target": 100000}}},
    tiers=[
        {"name": "Registered", "min_score": 0, "commission_rate": "0.05"},
        {
            "name": "Silver",
            "min_score": 40,
            "commission_rate": "0.10",
            "quota": 50000,
            "mdf_budget": 10000,
            "requires": {"won_revenue": 100000},
        },
    ],
    demotion_grace_periods=1,
    guardrails={"max_discount_pct": 25, "min_margin_pct": 30, "margin_floor_factor": "0.5"},
    mdf={"release_on_approval": "0.5", "release_pipeline_multiple": 2},
)


def _report(ledger: Ledger, period: str = "2026-Q3", before: int = 4) -> dict:
    kinds = {name: kind for name, (_, kind) in Plugins().line_kinds().items()}
    return build(ledger, Period.parse(period), before, kinds)


def _report_after_q2_and_q3(url: str, partners: list) -> dict:
    """The 2026-Q3 report of a ledger where the test program ran 2026-Q2 then 2026-Q3 over ``partners``."""
    loaded = program(**PROGRAM)
    with Ledger.connect(url) as ledger:
        run_program(loaded, partners, [], ledger=ledger, period="2026-Q2")
        run_program(loaded, partners, [], ledger=ledger, period="2026-Q3")
        return _report(ledger)


def test_a_partner_within_ten_percent_of_the_next_tier_is_listed_with_what_it_lacks(sqlite_url):
    with Ledger.connect(sqlite_url) as ledger:
        run_program(
            program(**PROGRAM),
            [partner("NEAR"), partner("FAR")],
            [
                deal("D1", 37000, partners=["NEAR"], created_on="2026-07-02"),
                deal("D2", 95000, partners=["NEAR"], created_on="2026-04-02", won_on="2026-08-01"),
                deal("D3", 30000, partners=["FAR"], created_on="2026-07-02"),
            ],
            ledger=ledger,
        )
        near = _report(ledger)["watch"]["near_next_tier"]
    # NEAR: score 37 (≥ 90 % of 40) and won revenue 95,000 (≥ 90 % of 100,000); FAR's score is 30.
    assert [r["id"] for r in near] == ["NEAR"]
    assert near[0]["next_tier"] == "Silver"
    assert near[0]["lacks"] == [
        {"what": "score", "value": "37.00", "needed": "40"},
        {"what": "won_revenue", "value": "95000", "needed": "100000"},
    ]


def test_a_partner_kept_above_its_eligible_tier_is_in_grace_and_a_promotion_says_so(sqlite_url):
    loaded = program(**PROGRAM)
    with Ledger.connect(sqlite_url) as ledger:
        q2 = [
            deal("D1", 60000, partners=["DOWN"], created_on="2026-04-02"),
            deal("D2", 120000, partners=["DOWN"], created_on="2026-04-02", won_on="2026-05-01"),
        ]
        run_program(loaded, [partner("DOWN"), partner("UP")], q2, ledger=ledger, period="2026-Q2")
        q3 = [
            *q2,
            deal("D3", 60000, partners=["UP"], created_on="2026-07-02"),
            deal("D4", 120000, partners=["UP"], created_on="2026-07-02", won_on="2026-08-01"),
        ]
        run_program(loaded, [partner("DOWN"), partner("UP")], q3, ledger=ledger, period="2026-Q3")
        report = _report(ledger)
    rows = {r["id"]: r for r in report["partners"]}
    assert (rows["DOWN"]["tier"], rows["DOWN"]["eligible_tier"], rows["DOWN"]["movement"]) == (
        "Silver", "Registered", "grace")  # fmt: skip
    assert (rows["UP"]["previous_tier"], rows["UP"]["tier"], rows["UP"]["movement"]) == (
        "Registered",
        "Silver",
        "promoted",
    )
    assert [r["id"] for r in report["watch"]["grace"]] == ["DOWN"]
    # UP won 120,000 against the Silver quota of 50,000.
    assert rows["UP"]["attainment"] == "2.4000"
    assert report["totals"]["tiers"] == {"Silver": 2}
    assert report["trend"][0]["tiers"] == {"Registered": 1, "Silver": 1}


def test_guardrails_margin_and_mdf_per_campaign_are_recorded_by_the_run(sqlite_url):
    deals = [
        deal("WIDE", 10000, partners=["P1"], won_on="2026-07-10", discount_pct=40, margin_pct=50),
        deal("THIN", 20000, partners=["P1"], won_on="2026-07-11", discount_pct=5, margin_pct=20),
        deal("FAIR", 30000, partners=["P1"], won_on="2026-07-12", margin_pct=40),
        deal("NOMARGIN", 40000, partners=["P1"], won_on="2026-07-13"),
        deal("CAMP", 9000, partners=["P1"], created_on="2026-08-01", campaign="Summit"),
    ]
    claims = [mdf_claim("M1", "P1", "Summit", 4000, approved_on="2026-07-20")]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(program(**PROGRAM), [partner("P1")], deals, mdf_claims=claims, ledger=ledger)
        report = _report(ledger)
    p1 = report["partners"][0]
    # margin where known: 10,000 × 50 % + 20,000 × 20 % + 30,000 × 40 % = 21,000, over 60,000 of revenue
    assert (p1["won_revenue"], p1["won_margin"]) == ("100000.00", "21000.00")
    assert report["totals"]["margin_known_revenue"] == "60000.00"
    guarded = {g["deal_id"]: g for g in report["watch"]["guarded_deals"]}
    assert (guarded["WIDE"]["action"], guarded["WIDE"]["discount_pct"]) == ("withheld", "40")
    assert (guarded["THIN"]["action"], guarded["THIN"]["margin_pct"]) == ("floored", "20")
    assert set(guarded) == {"WIDE", "THIN"}
    assert report["watch"]["discount_pattern"] == [
        {"id": "P1", "name": "Partner P1", "withheld": 1, "floored": 1, "mean_discount_pct": "22.5",
         "max_discount_pct": "40"}
    ]  # fmt: skip
    # P1 is Silver (sourced 109,000, won 100,000): M1 is funded 4,000 of the 10,000 MDF budget.
    campaigns = {c["campaign"]: c for c in report["campaigns"]}
    assert (campaigns["Summit"]["funded"], campaigns["Summit"]["pipeline"]) == ("4000.00", "9000.00")


def test_a_funded_campaign_gives_its_pipeline_per_mdf_dollar(sqlite_url):
    deals = [
        deal("BIG", 200000, partners=["P1"], created_on="2026-07-02"),
        deal("WON", 150000, partners=["P1"], created_on="2026-04-02", won_on="2026-07-05"),
        deal("CAMP", 9000, partners=["P1"], created_on="2026-08-01", campaign="Summit"),
    ]
    claims = [mdf_claim("M1", "P1", "Summit", 4000, approved_on="2026-07-20")]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(program(**PROGRAM), [partner("P1")], deals, mdf_claims=claims, ledger=ledger)
        report = _report(ledger)
    assert report["partners"][0]["tier"] == "Silver"
    # funded 4,000, half paid on approval; the campaign's 9,000 reaches 2 × 4,000: the rest is released.
    assert report["campaigns"] == [
        {"campaign": "Summit", "funded": "4000.00", "released": "4000.00", "pending": "0.00",
         "pipeline": "9000.00", "pipeline_per_mdf_dollar": "2.2500"}
    ]  # fmt: skip
    totals = report["totals"]
    assert (totals["mdf"], totals["mdf_funded"], totals["pipeline_per_mdf_dollar"]) == (
        "4000.00",
        "4000.00",
        "2.2500",
    )
    assert Decimal(totals["incentives"]) == Decimal(totals["earnings"]) + Decimal(totals["mdf"])


def test_campaign_names_with_dollar_signs_and_braces_are_drawn_as_written_in_the_charts(sqlite_url):
    from cosell.report.render import render

    push, spend = "$1M Pipeline Push ($50k MDF)", "Spend $10k {get $1k back}"
    deals = [
        deal("WON", 150000, partners=["P1"], created_on="2026-04-02", won_on="2026-07-05"),
        deal("PUSH", 9000, partners=["P1"], created_on="2026-08-01", campaign=push),
        deal("SPEND", 7000, partners=["P1"], created_on="2026-08-02", campaign=spend),
    ]
    claims = [
        mdf_claim("M1", "P1", push, 4000, approved_on="2026-07-20"),
        mdf_claim("M2", "P1", spend, 1000, approved_on="2026-07-21"),
    ]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(program(**PROGRAM), [partner("P1")], deals, mdf_claims=claims, ledger=ledger)
        report = _report(ledger)
    page = render(report, "html")  # a "$…{…$" name is no TeX math to parse (it raised before)
    charts = "".join(re.findall(r"<svg.*?</svg>", page, re.S))
    assert f">{push}" in charts and f">{spend}" in charts  # the campaign axis


def test_kind_and_tier_names_from_the_program_are_drawn_as_written_in_the_legends():
    from cosell.report import charts

    kinds = charts.incentives_by_kind([{"period": "2026-Q3", "by_kind": {"$bonus$": "10", "x": "1"}}])
    tiers = charts.tier_distribution([{"period": "2026-Q3", "tiers": {"$$ Club": 2}}], ["$$ Club"])
    assert ">$bonus$<" in kinds and ">$$ Club<" in tiers


def test_a_ratio_reads_on_the_page_as_the_json_has_it_a_percentage_with_two_places(sqlite_url):
    from cosell.report.render import render

    # P1 is Silver (score 100, won 100,525 ≥ 100,000), quota 50,000: attainment 100,525 ÷ 50,000 =
    # 2.0105 exactly, 201.05 % (rounded again half-even to one place it read 201.0 %); commission 10 %
    deals = [deal("D1", 100525, partners=["P1"], created_on="2026-07-01", won_on="2026-07-02")]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(program(**PROGRAM), [partner("P1")], deals, ledger=ledger)
        report = _report(ledger)
    (p1,) = report["partners"]
    assert (p1["tier"], p1["attainment"], report["totals"]["cost_of_revenue"]) == (
        "Silver",
        "2.0105",
        "0.1000",
    )
    page = render(report, "html")
    assert '<td class="num" data-sort="2.0105">201.05 %</td>' in page
    assert '<div class="label">Cost / won revenue</div><div class="value">10.00 %</div>' in page


class _Clash:
    @hookimpl
    def cosell_report_facts(self) -> ReportFacts:
        return ReportFacts(won_revenue=Decimal(1))


class _Wrong:
    @hookimpl
    def cosell_report_facts(self) -> dict[str, int]:
        return {"won_revenue": 1}


@pytest.mark.parametrize(
    ("plugin", "message"),
    [(_Clash(), "gave won_revenue, which plugin 'metrics' gives already"), (_Wrong(), "not a ReportFacts")],
)
def test_report_facts_a_plugin_gets_wrong_are_an_error_naming_it(plugin, message):
    plugins = Plugins(entry_points=False, extra={"other": plugin})
    computation = compute_period(program(**PROGRAM), [partner("P1")], plugins=plugins)
    with pytest.raises(PluginError, match=message) as caught:
        report_doc(computation, plugins)
    assert caught.value.plugin == "other"


def test_a_plugin_may_give_what_the_built_in_rules_leave_out():
    class Funds:
        @hookimpl
        def cosell_report_facts(self) -> ReportFacts:
            return ReportFacts(campaigns=())

    loaded = program(**{k: v for k, v in PROGRAM.items() if k != "mdf"})
    plugins = Plugins(entry_points=False, extra={"funds": Funds()})
    doc = report_doc(compute_period(loaded, [partner("P1")], plugins=plugins), plugins)
    columns = json.loads(doc["partners"])
    assert columns["id"] == ["P1"] and columns["campaigns"] == [[]]


def test_names_from_the_crm_are_escaped_on_the_page_and_defused_in_the_csv(sqlite_url):
    from cosell.report.render import render

    names = [partner("P1", name="<script>alert(1)</script>"), partner("P2", name='=HYPERLINK("x")')]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(
            program(**PROGRAM), names, [deal("D1", 1000, partners=["P1"], won_on="2026-07-02")], ledger=ledger
        )
        report = _report(ledger)
    page = render(report, "html")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own sorting script, inline
    assert "'=HYPERLINK" in render(report, "csv")


def test_exiting_partners_are_listed_with_their_settlements_totals_and_long_gone_ones_are_not(sqlite_url):
    from cosell.cli_settlement import settlement_in

    partners = [
        partner("LEAVING", status="exiting", exit_on="2026-08-15"),
        partner("GONE", status="exited", exit_on="2025-01-31"),
        partner("LATER", status="exiting", exit_on="2026-12-31"),
        partner("STAYING"),
    ]
    deals = [deal("OPEN", 10000, partners=["LEAVING"], created_on="2026-07-02")]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(program(**PROGRAM, wind_down_days=60), partners, deals, ledger=ledger)
        # approved after the run: owed, paid at the next run, as the settlement says
        late = ledger.propose_adjustment(
            partner_id="LEAVING", amount=Decimal("250.00"), reason="event", by="ann"
        )
        ledger.approve_adjustment(late.id, by="carol")
        exiting = _report(ledger)["watch"]["exiting"]
        settlement = settlement_in(ledger, Period.parse("2026-Q3"), "LEAVING")
    # LEAVING is Registered (score 10) and left on 2026-08-15: the open deal would pay 10,000 × 5 % = 500
    # if won within the wind-down. That is not owed, only projected: the settlement's owed is the
    # adjustment alone. LATER leaves after the period: still exiting, owed nothing yet.
    assert exiting == [
        {"id": "LATER", "name": "Partner LATER", "status": "exiting", "exit_on": "2026-12-31",
         "tier_shown": "Registered", "paid": "0.00", "owed": "0.00", "projected": "0.00",
         "pending_approval": "0.00", "at_risk": "0.00"},
        {"id": "LEAVING", "name": "Partner LEAVING", "status": "exiting", "exit_on": "2026-08-15",
         "tier_shown": "Exited (was Registered)", "paid": "0.00", "owed": "250.00", "projected": "500.00",
         "pending_approval": "0.00", "at_risk": "0.00"},
    ]  # fmt: skip
    assert (settlement.total("owed"), settlement.total("projected")) == (Decimal("250.00"), Decimal("500.00"))


def test_a_partner_that_has_left_is_counted_as_exited_not_under_the_tier_it_held(sqlite_url):
    from cosell.report.render import render

    partners = [
        partner("LEAVING", status="exiting", exit_on="2026-08-15"),
        partner("GONE", status="exited", exit_on="2025-01-31"),
        partner("LATER", status="exiting", exit_on="2026-12-31"),
        partner("STAYING"),
    ]
    report = _report_after_q2_and_q3(sqlite_url, partners)
    rows = {r["id"]: r for r in report["partners"]}
    assert {pid: (r["tier"], r["tier_shown"], r["movement"]) for pid, r in rows.items()} == {
        "GONE": ("Registered", "Exited (was Registered)", "exited"),
        "LATER": ("Registered", "Registered", "held"),
        "LEAVING": ("Registered", "Exited (was Registered)", "exited"),
        "STAYING": ("Registered", "Registered", "held"),
    }
    # 2026-Q2 ends on 2026-06-30: LEAVING still held its tier then; GONE had left
    assert [(t["tiers"], t["exited"], t["partners"]) for t in report["trend"]] == [
        ({"Registered": 3}, 1, 3),
        ({"Registered": 2}, 2, 2),
    ]
    assert report["totals"]["tiers"] == {"Registered": 2} and report["totals"]["exited"] == 2
    assert [(t["name"], t["partners"]) for t in report["tiers"]] == [("Registered", 2), ("Silver", 0)]
    assert [r["id"] for r in report["watch"]["near_next_tier"]] == []
    page = render(report, "html")
    assert '<span class="badge exited">exited</span>' in page
    assert '<span class="muted">Exited</span></td><td class="num">2</td>' in page  # the tiers table

    # A period recorded before the count of exits was kept: counted from its partners' recorded exits.
    execute(
        sqlite_url,
        "UPDATE cosell_statement_runs SET data = json_remove(data, '$.report.totals.exited') "
        "WHERE period = '2026-Q2'",
    )
    with Ledger.connect(sqlite_url) as ledger:
        assert _report(ledger)["trend"] == report["trend"]


def test_the_trend_counts_the_partners_in_the_program_as_the_tiers_do_never_the_exited(sqlite_url):
    from cosell.report.render import render

    partners = [
        partner("LEAVING", status="exiting", exit_on="2026-08-15"),
        partner("GONE", status="exited", exit_on="2025-01-31"),
        partner("STAYING"),
    ]
    report = _report_after_q2_and_q3(sqlite_url, partners)
    # 2026-Q2: GONE had left (LEAVING still held its tier); 2026-Q3: both had left
    assert [(t["partners"], t["exited"]) for t in report["trend"]] == [(2, 1), (1, 2)]
    for t in report["trend"]:
        assert t["partners"] == sum(t["tiers"].values())
    assert report["totals"]["partners"] == sum(t["partners"] for t in report["tiers"]) == 1
    page = render(report, "html")
    trend = page.split("<h2>Trend</h2>", 1)[1].split("</table>", 1)[0]
    assert '<td class="">2026-Q2</td><td class="">open</td><td class="num">2</td>' in trend
    assert '<td class="">2026-Q3</td><td class="">open</td><td class="num">1</td>' in trend


def test_the_report_lists_each_tiers_benefits_with_how_many_partners_hold_it(sqlite_url):

    tiers = [
        {"name": "Registered", "min_score": 0, "benefits": ["partner portal"]},
        {
            "name": "Silver",
            "min_score": 40,
            "benefits": ["early access to the roadmap", "deal desk within 24 h"],
        },
    ]
    loaded = program(**{**PROGRAM, "tiers": tiers})
    deals = [deal("D1", 60000, partners=["P1"], created_on="2026-07-02")]
    with Ledger.connect(sqlite_url) as ledger:
        run_program(loaded, [partner("P1"), partner("P2")], deals, ledger=ledger)
        listed = _report(ledger)["tiers"]
    assert [(t["name"], t["partners"], t["benefits"]) for t in listed] == [
        ("Registered", 1, ["partner portal"]),
        ("Silver", 1, ["early access to the roadmap", "deal desk within 24 h"]),
    ]


def test_a_partner_held_by_a_tier_exception_shows_the_exception_not_a_grace(sqlite_url):
    with Ledger.connect(sqlite_url) as ledger:
        granted = ledger.propose_tier_exception(
            partner_id="HELD", tier="Silver", until=Period.parse("2026-Q4"), reason="launch partner", by="ann"
        )
        ledger.approve_tier_exception(granted.id, by="carol")
        run_program(
            program(**PROGRAM),
            [partner("HELD")],
            [deal("D1", 1000, partners=["HELD"], created_on="2026-07-02")],
            ledger=ledger,
        )
        report = _report(ledger)
    (row,) = report["partners"]
    assert (row["tier"], row["eligible_tier"], row["movement"]) == ("Silver", "Registered", "exception")
    assert row["tier_shown"] == "Silver (exception until 2026-Q4: launch partner)"
    assert report["watch"]["grace"] == []


def _funds(**amounts: object) -> ReportFacts:
    figures = {"funded": Decimal(0), "released": Decimal(0), "pending": Decimal(0), "pipeline": Decimal(0)}
    return ReportFacts(campaigns=(CampaignFunds("Spring Summit", **{**figures, **amounts}),))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "said"),
    [
        (_funds(funded=Decimal("Infinity")), "campaign 'Spring Summit': funded Infinity is not an amount"),
        (_funds(released=Decimal("NaN")), "campaign 'Spring Summit': released NaN is not an amount"),
        (_funds(pending=Decimal("1E+30")), "campaign 'Spring Summit': pending 1E+30 is not an amount"),
        (_funds(pipeline=12.5), "campaign 'Spring Summit': pipeline is float 12.5, not a Decimal"),
        (ReportFacts(campaigns=[]), "campaigns is [], not a tuple of CampaignFunds"),
    ],
    ids=["infinite", "nan", "huge", "float", "list"],
)
def test_report_amounts_a_plugin_gives_that_cosell_cannot_keep_stop_the_run_naming_it(
    cosell_ledger, facts, said
):
    class Funds:
        @hookimpl
        def cosell_report_facts(self) -> ReportFacts:
            return facts

    loaded = program(**{k: v for k, v in PROGRAM.items() if k != "mdf"})
    plugins = Plugins(entry_points=False, extra={"funds": Funds()})
    with pytest.raises(PluginError) as caught:
        run_program(loaded, [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    assert caught.value.plugin == "funds" and caught.value.exit_code == 2
    assert "cosell_report_facts" in str(caught.value) and said in str(caught.value)
    assert cosell_ledger.periods() == []


class _Largest:
    """Lines as large as a plugin may give: 10^15 each, a hundred of them (past 2^63 cents in all)."""

    @hookimpl
    def cosell_line_kinds(self) -> list[LineKind]:
        return [LineKind("grant", "Grant", capped=False, in_budget=False)]

    @hookimpl
    def cosell_payout_lines(self, partner) -> list[PayoutLine]:  # type: ignore[no-untyped-def]
        largest = [PayoutLine(partner.id, "grant", Decimal(10) ** 15, "grant") for _ in range(100)]
        return [*largest, PayoutLine(partner.id, "grant", Decimal("-0.01"), "correction"),
                PayoutLine(partner.id, "grant", Decimal("12.34"), "top-up")]  # fmt: skip


def test_the_report_and_a_discard_sum_the_largest_lines_exactly(ledger_url):
    plugins = Plugins(entry_points=False, extra={"largest": _Largest()})
    loaded = program(**{k: v for k, v in PROGRAM.items() if k not in ("mdf", "caps")})
    with Ledger.connect(ledger_url) as ledger:
        run_program(loaded, [partner("P1")], ledger=ledger, plugins=plugins)
        kinds = {name: kind for name, (_, kind) in plugins.line_kinds().items()}
        report = build(ledger, Period.parse("2026-Q3"), 4, kinds)
        assert report["totals"]["by_kind"]["grant"] == "100000000000000012.33"
        discarded = ledger.discard_period(Period.parse("2026-Q3"), by="test", reason="too large")
        assert discarded.partners["P1"][1] == Decimal("100000000000000012.33")


def test_the_exiting_partners_table_on_the_page_shows_paid_and_pending_approval_too(sqlite_url):
    from cosell.report.render import render

    partners = [partner("LEAVING", status="exiting", exit_on="2026-08-15")]
    # won within the wind-down: 10,000 × 5 % = 500.00 paid in the period
    deals = [deal("WON", 10000, partners=["LEAVING"], created_on="2026-07-02", won_on="2026-08-20")]
    with Ledger.connect(sqlite_url) as ledger:
        ledger.propose_adjustment(
            partner_id="LEAVING", amount=Decimal("2000.00"), reason="goodwill", by="ann"
        )
        run_program(program(**PROGRAM, wind_down_days=60), partners, deals, ledger=ledger)
        report = _report(ledger)
    [row] = report["watch"]["exiting"]
    assert (row["paid"], row["pending_approval"]) == ("500.00", "2000.00")
    page = render(report, "html")
    # eight columns: the list takes the page's whole width rather than scroll its last ones out of sight
    assert '<section class="full"><h3>Exiting partners and what is still owed</h3>' in page
    section = page[page.index("Exiting partners and what is still owed") :]
    section = section[: section.index("</section>")]
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", section)
    assert heads == [
        "Partner", "Name", "Exit on", "Paid", "Owed", "May still be owed", "Pending approval", "May be taken back"
    ]  # fmt: skip
    cells = re.findall(r"<td[^>]*>(.*?)</td>", section)
    assert cells[3:] == ["500.00", "0.00", "0.00", "2,000.00", "0.00"]


def test_a_partners_first_period_without_an_earlier_tier_is_new_and_one_the_crm_tier_seeds_moves_from_it(
    sqlite_url,
):
    # First period in the ledger for all four. FRESH and RISING have no tier anywhere before it: they are
    # new, whichever tier they reach (Registered, the lowest, or Silver), and no earlier tier is named.
    # SEEDED and LIFTED start from the tier their CRM shows (Registered), which the demotion grace counts
    # from too: SEEDED holds it, LIFTED is promoted from it.
    partners = [
        partner("FRESH"),
        partner("RISING"),
        partner("SEEDED", crm_tier="Registered"),
        partner("LIFTED", crm_tier="Registered"),
    ]
    silver = [
        deal(f"D{pid}", 120000, partners=[pid], created_on="2026-07-02", won_on="2026-08-01")
        for pid in ("RISING", "LIFTED")
    ]
    with Ledger.connect(sqlite_url) as ledger:
        run = run_program(program(**PROGRAM), partners, silver, ledger=ledger)
        report = _report(ledger)
    rows = {r["id"]: (r["previous_tier"], r["tier"], r["movement"]) for r in report["partners"]}
    assert rows == {
        "FRESH": (None, "Registered", "new"),
        "RISING": (None, "Silver", "new"),
        "SEEDED": ("Registered", "Registered", "held"),
        "LIFTED": ("Registered", "Silver", "promoted"),
    }
    assert {r["id"]: r["previous_tier"] for r in run.report.partners} == {
        "FRESH": None, "RISING": None, "SEEDED": "Registered", "LIFTED": "Registered"
    }  # fmt: skip


def test_the_run_stores_in_one_pass_what_the_statement_record_and_the_report_document_make():
    """``stored_statement`` makes each partner's statement record and report facts in one pass over the
    partners: the texts are those of ``run_record``, ``encode``, ``with_report`` and ``with_pilot``."""
    from cosell.engine import stored_statement
    from cosell.pilots import with_pilot
    from cosell.report.facts import with_report
    from cosell.statements.facts import encode, run_record

    plugins = Plugins()
    computation = compute_period(
        program(**PROGRAM),
        [partner("P1"), partner("P2", status="exiting", exit_on="2026-12-31"), partner("P3")],
        [
            deal("D1", 60000, partners=["P1"], won_on="2026-08-01", discount_pct=30),
            deal("D2", 90000, partners=["P1", ("P2", "cosell", "0.4")], won_on="2026-08-10", margin_pct=20),
            deal("D3", 40000, partners=["P2"], campaign="Push"),
            deal("D4", 20000, partners=["P3"], lost_on="2026-09-01"),
        ],
        mdf_claims=[mdf_claim("M1", "P2", "Push", 5000, approved_on="2026-07-15")],
        period="2026-Q3",
        plugins=plugins,
    )
    run_text, partner_texts = stored_statement(computation, plugins)
    expected_run, expected_partners = with_pilot(
        with_report(encode(run_record(computation, plugins)), computation, plugins), computation
    )
    assert run_text == expected_run
    assert list(partner_texts.items()) == list(expected_partners.items())
    assert json.loads(partner_texts["P1"])["deal_names"] == {"D1": "Deal D1", "D2": "Deal D2"}
