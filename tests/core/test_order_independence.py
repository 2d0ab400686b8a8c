"""The same records in another order give the same money and the same stored figures: sums of amounts ×
shares are added exactly and rounded once (cosell.money.exact_sum)."""

from cosell.periods import Period
from cosell.pilots import partner_facts
from cosell.report.facts import merged_facts
from cosell.testing import compute_period, deal, mdf_claim, partner, plugins_for, program

AMOUNTS = ["4874.77", "1669.68", "2455.55"]  # 9,000.00: a third each to P1 is exactly the 3,000.00 needed
PLAN = program(
    tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10", "mdf_budget": 10000, "quota": 3000}],
    mdf={"release_on_approval": "0.5", "release_pipeline_multiple": 3},
)
PARTNERS = [partner("P1"), partner("P2"), partner("P3")]


def deals(order):
    return [
        deal(f"D{i}", AMOUNTS[i], partners=["P1", "P2", "P3"], created_on="2026-07-02", campaign="C1")
        for i in order
    ]


def mdf_lines(order):
    claim = mdf_claim("M1", "P1", "C1", "1000", status="approved", approved_on="2026-07-01")
    result = compute_period(PLAN, PARTNERS, deals(order), mdf_claims=[claim], period="2026-Q3")
    return sorted((ln.amount, ln.explanation) for ln in result.lines["P1"] if ln.kind == "mdf")


def test_mdf_release_does_not_depend_on_the_order_of_the_deals():
    first, second = mdf_lines([0, 1, 2]), mdf_lines([1, 2, 0])
    assert [a for a, _ in first] == [a for a, _ in second]


WON = ["2738782.88", "1266142.43", "5319693.75"]


def won_deals(order):
    return [
        deal(
            f"W{i}",
            WON[i],
            partners=["P1", "P2", "P3"],
            created_on="2026-07-02",
            won_on="2026-08-01",
            margin_pct="40",
        )
        for i in order
    ]


def test_report_facts_and_pilot_facts_do_not_depend_on_the_order_of_the_deals():
    out = []
    for order in ([0, 1, 2], [2, 1, 0]):
        result = compute_period(PLAN, PARTNERS, won_deals(order), period="2026-Q3")
        facts = result.facts[0]
        standing = result.standings[0]
        report = merged_facts(plugins_for(None), facts, standing, result.lines["P1"], result.context)
        pilot = partner_facts(facts, Period.parse("2026-Q3"), ())
        out.append(
            (standing.metrics["won_revenue"], report.won_revenue, report.won_margin, pilot["won_revenue"])
        )
    assert out[0] == out[1]


def test_won_revenue_is_the_same_in_any_order_whatever_the_digits_of_the_shares():
    # Three products of 4E-17 each (0.04 × a share of 1E-15): added one by one to 100,000,000,000 at 28
    # digits, each is under half the last digit and lost; added together first, they are not.
    def won(order):
        ds = [
            deal("D1", "100000000000", partners=["P1"], won_on="2026-08-01"),
            *(
                deal(
                    f"D{n}",
                    "0.04",
                    partners=[("P1", "sourced", "1E-15"), ("P2", "sourced", None)],
                    won_on="2026-08-01",
                )
                for n in (2, 3, 4)
            ),
        ]
        result = compute_period(PLAN, PARTNERS, [ds[i] for i in order], period="2026-Q3")
        return result.standings[0].metrics["won_revenue"]

    a, b = won([0, 1, 2, 3]), won([1, 2, 3, 0])
    assert a == b
