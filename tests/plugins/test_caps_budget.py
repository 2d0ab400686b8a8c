import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cosell import hookimpl
from cosell.plugins.budget import scaled_totals
from cosell.results import LineKind, PayoutLine
from cosell.testing import compute_period, deal, mdf_claim, partner, program

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.10", "mdf_budget": 5000}]


def run(caps, amounts, *, plugins=None, **extra):
    partners = [partner(f"P{i}") for i in range(1, len(amounts) + 1)]
    deals = [
        deal(f"D{i}", amount, partners=[f"P{i}"], won_on="2026-08-01") for i, amount in enumerate(amounts, 1)
    ]
    claims = extra.pop("claims", ())
    return compute_period(program(tiers=TIERS, caps=caps, **extra), partners, deals, claims, plugins=plugins)


def test_cap_brings_a_partner_total_to_the_cap():
    result = run({"per_partner": 5000}, ["80000"])  # commission 8,000
    assert [(ln.kind, ln.amount) for ln in result.all_lines()] == [
        ("commission", Decimal("8000.00")),
        ("cap", Decimal("-3000.00")),
    ]
    assert result.earnings("P1") == Decimal("5000.00")


def test_a_cap_with_a_fraction_of_a_cent_caps_at_the_cent_below_it():
    result = run({"per_partner": "100.005"}, ["10000", "1000.1"])  # commissions 1,000.00 and 100.01
    assert [(ln.partner_id, ln.kind, ln.amount) for ln in result.all_lines()] == [
        ("P1", "commission", Decimal("1000.00")),
        ("P1", "cap", Decimal("-900.00")),
        ("P2", "commission", Decimal("100.01")),
        ("P2", "cap", Decimal("-0.01")),
    ]
    assert result.earnings("P1") == result.earnings("P2") == Decimal("100.00")
    # the explanation names the cap applied, not the program's figure rounded up past what was paid
    cap = next(ln for ln in result.all_lines() if ln.partner_id == "P2" and ln.kind == "cap")
    assert cap.explanation.endswith("add up to 100.01, above the per-partner cap of 100.00")


def test_cap_and_budget_both_binding_scale_the_capped_totals():
    # commissions 8,000 / 3,000 / 1,000; cap 5,000 → 5,000 / 3,000 / 1,000 = 9,000 > budget 6,000
    # scaled: 5000×6000/9000 = 3333.333…, 2000, 666.666… → floors 3333.33, 2000.00, 666.66 (5999.99);
    # the leftover cent goes to the largest remainder: P3 (0.00666…) over P1 (0.00333…)
    result = run({"per_partner": 5000, "program_budget": 6000}, ["80000", "30000", "10000"])
    assert [result.earnings(p) for p in ("P1", "P2", "P3")] == [
        Decimal("3333.33"),
        Decimal("2000.00"),
        Decimal("666.67"),
    ]
    budget_lines = [(ln.partner_id, ln.amount) for ln in result.all_lines() if ln.kind == "budget"]
    assert budget_lines == [
        ("P1", Decimal("-1666.67")),
        ("P2", Decimal("-1000.00")),
        ("P3", Decimal("-333.33")),
    ]
    assert sum(result.earnings(p) for p in ("P1", "P2", "P3")) == Decimal("6000.00")


def test_leftover_cents_go_to_the_largest_remainders_with_ties_by_partner_id():
    scaled = scaled_totals(
        {"P2": Decimal("1.00"), "P1": Decimal("1.00"), "P3": Decimal("1.00")}, Decimal("2.00")
    )
    # each exact share is 0.666…: floors 0.66 × 3 = 1.98; two cents left, equal remainders: P1 and P2 get them
    assert scaled == {"P1": Decimal("0.67"), "P2": Decimal("0.67"), "P3": Decimal("0.66")}


def test_equal_remainders_of_totals_of_different_sizes_are_a_tie_broken_by_partner_id():
    # 142, 139 and 172 scaled to 302 of 453: every exact share ends in 0.00666…; two cents left over
    totals = {"P1": Decimal("142.00"), "P2": Decimal("139.00"), "P3": Decimal("172.00")}
    scaled = scaled_totals(totals, Decimal("302"))
    assert scaled == {"P1": Decimal("94.67"), "P2": Decimal("92.67"), "P3": Decimal("114.66")}


@given(
    totals=st.lists(st.decimals(min_value="0.01", max_value="100000", places=2), min_size=1, max_size=8),
    budget=st.decimals(min_value="0.01", max_value="100000", places=3),
)
def test_scaled_totals_are_exact_shares_floored_and_the_left_cents_go_by_remainder_then_id(totals, budget):
    by_partner = {f"P{i}": amount for i, amount in enumerate(totals)}
    whole = sum(by_partner.values(), Decimal(0))
    assume(whole > budget)
    scaled = scaled_totals(by_partner, budget)
    exact = {pid: Fraction(t) * Fraction(budget) * 100 / Fraction(whole) for pid, t in by_partner.items()}
    floors = {pid: math.floor(v) for pid, v in exact.items()}
    left = math.floor(Fraction(budget) * 100) - sum(floors.values())
    ranked = sorted(exact, key=lambda pid: (floors[pid] - exact[pid], pid))
    expected = {pid: Decimal(floors[pid] + (pid in ranked[:left])).scaleb(-2) for pid in exact}
    assert scaled == expected
    assert sum(scaled.values(), Decimal(0)) == Decimal(math.floor(Fraction(budget) * 100)).scaleb(-2)


def test_budget_not_binding_leaves_totals_alone():
    result = run({"program_budget": 100000}, ["80000"])
    assert [ln.kind for ln in result.all_lines()] == ["commission"]


def test_mdf_stays_outside_caps_and_period_earnings():
    claims = [mdf_claim("M1", "P1", "Launch", "4000", approved_on="2026-07-05")]
    prog = program(
        tiers=TIERS,
        caps={"per_partner": 1000},
        mdf={"release_on_approval": "0.5", "release_pipeline_multiple": 3},
    )
    result = compute_period(
        prog, [partner("P1")], [deal("D1", "80000", partners=["P1"], won_on="2026-08-01")], mdf_claims=claims
    )
    kinds = [(ln.kind, ln.amount) for ln in result.all_lines()]
    assert ("cap", Decimal("-7000.00")) in kinds and ("mdf", Decimal("2000.00")) in kinds
    assert result.earnings("P1") == Decimal("1000.00")


def _kicker(kind: LineKind, amount: Decimal = Decimal("40.00"), **mark: bool) -> object:
    """A plugin whose adjustment gives every partner a line of ``kind`` and ``amount``."""

    class Kicker:
        @hookimpl
        def cosell_line_kinds(self):
            return [kind]

        @hookimpl(**mark)
        def cosell_adjustments(self, lines):
            return [PayoutLine(pid, kind.name, amount, kind.title) for pid in sorted(lines)]

    return Kicker()


@pytest.mark.parametrize("mark", [{}, {"trylast": True}, {"tryfirst": True}])
def test_the_per_partner_cap_holds_a_capped_line_a_plugins_adjustment_adds_whatever_its_mark(mark):
    # commission 990.00 + kicker 40.00 = 1,030.00 subject to the cap of 1,000
    kicker = _kicker(LineKind("kicker", "Quarter-end kicker"), **mark)
    result = run({"per_partner": 1000}, ["9900"], plugins={"kicker": kicker})
    lines = [(ln.kind, ln.amount) for ln in result.all_lines()]
    assert ("kicker", Decimal("40.00")) in lines and ("cap", Decimal("-30.00")) in lines
    assert result.earnings("P1") == Decimal("1000.00")


def test_a_capped_deduction_a_plugins_adjustment_takes_counts_toward_the_cap_before_it_applies():
    # commission 8,000.00 − a capped deduction of 40.00 = 7,960.00 subject to the cap: capped to 1,000.00
    deduction = _kicker(LineKind("deduction", "Compliance deduction"), amount=Decimal("-40.00"))
    result = run({"per_partner": 1000}, ["80000"], plugins={"deduction": deduction})
    lines = [(ln.kind, ln.amount) for ln in result.all_lines()]
    assert lines == [
        ("commission", Decimal("8000.00")),
        ("deduction", Decimal("-40.00")),
        ("cap", Decimal("-6960.00")),
    ]
    assert result.earnings("P1") == Decimal("1000.00")


class CapWatcher:
    """A plugin of uncapped kinds only: its plain adjustment comes after the cap and sees the cap's line."""

    seen: list[str]

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("loyalty", "Loyalty", capped=False)]

    @hookimpl
    def cosell_adjustments(self, lines):
        self.seen = [line.kind for line in lines["P1"]]
        return [PayoutLine("P1", "loyalty", Decimal("40.00"), "loyalty, outside the cap")]


def test_an_adjustment_of_uncapped_kinds_still_comes_after_the_cap_and_is_not_capped():
    watcher = CapWatcher()
    result = run({"per_partner": 1000}, ["80000"], plugins={"watcher": watcher})
    assert watcher.seen == ["commission", "cap"]
    assert result.earnings("P1") == Decimal("1040.00")
