"""The settlement hook: a plugin's part is recorded with the run and read back from the ledger; a wrong
answer stops the run naming the plugin."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cosell import hookimpl
from cosell.errors import PluginError
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, PayoutLine
from cosell.settlement import (
    OWED,
    PeriodAdjustments,
    SettlementItem,
    SettlementPart,
    decode_settlement,
    encode_settlement,
    settlement_of,
)
from cosell.testing import compute_period, partner, program, run_program

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.05"}]


class Loyalty:
    @hookimpl
    def cosell_settlement(self, partner):  # type: ignore[no-untyped-def]
        item = SettlementItem(OWED, Decimal("120.00"), "loyalty points paid out at the exit", due="2026-Q4")
        return SettlementPart("Loyalty", (item,), "points", earns_until=date(2026, 12, 31))


class Careless:
    @hookimpl
    def cosell_settlement(self):  # type: ignore[no-untyped-def]
        return {"owed": 120.0}


def settle(plugins: Plugins, **fields: object):  # type: ignore[no-untyped-def]
    prog = program(tiers=TIERS, wind_down_days=30)
    result = compute_period(prog, [partner("P1", **fields)], plugins=plugins)
    (facts,), (standing,) = result.facts, result.standings
    return settlement_of(plugins, facts, standing, result.lines.get("P1", ()), result.context)


def test_a_plugins_part_joins_the_settlement_and_its_last_day_sets_the_last_period() -> None:
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty()})
    found = settle(plugins, status="exiting", exit_on="2026-08-15")
    assert found is not None
    assert [p.title for p in found.parts][-1] == "Loyalty"
    assert found.total(OWED) == Decimal("120.00")
    # the wind-down ends on 2026-09-14, the loyalty part on 2026-12-31: the later one is the last day
    assert (found.last_day, found.last_period()) == (date(2026, 12, 31), "2026-Q4")
    assert decode_settlement(encode_settlement(found)) == found  # as the ledger keeps it
    assert settle(plugins) is None  # an active partner has none


def test_a_program_without_wind_down_has_no_last_period() -> None:
    prog = program(tiers=TIERS)
    plugins = Plugins(entry_points=False)
    result = compute_period(prog, [partner("P1", status="exited", exit_on="2026-08-15")], plugins=plugins)
    found = settlement_of(plugins, result.facts[0], result.standings[0], (), result.context)
    assert found is not None and found.open_ended and found.last_period() is None


def test_a_wrong_answer_names_the_plugin() -> None:
    plugins = Plugins(entry_points=False, extra={"careless": Careless()})
    with pytest.raises(PluginError, match="not a SettlementPart") as caught:
        settle(plugins, status="exiting", exit_on="2026-08-15")
    assert caught.value.plugin == "careless"


class Overflowing:
    def __init__(self, amount: object) -> None:
        self.amount = amount

    @hookimpl
    def cosell_settlement(self):  # type: ignore[no-untyped-def]
        return SettlementPart("Loyalty", (SettlementItem(OWED, self.amount, "points"),), "points")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (Decimal("Infinity"), "Infinity is not an amount cosell can keep"),
        (Decimal("NaN"), "NaN is not an amount cosell can keep"),
        (Decimal("1E+30"), "1E+30 is not an amount cosell can keep"),
        (Decimal("-1E+40"), "-1E+40 is not an amount cosell can keep"),
        (120.0, "is float 120.0, not a Decimal"),
        (Decimal("1.005"), "is not rounded to cents"),
    ],
)
def test_a_settlement_amount_cosell_cannot_keep_stops_the_run_naming_the_plugin(
    cosell_ledger, amount, said
) -> None:  # type: ignore[no-untyped-def]
    plugins = Plugins(entry_points=False, extra={"odd": Overflowing(amount)})
    people = [partner("P1", status="exiting", exit_on="2026-08-15")]
    with pytest.raises(PluginError) as caught:
        run_program(program(tiers=TIERS, wind_down_days=30), people, ledger=cosell_ledger, plugins=plugins)
    assert caught.value.plugin == "odd" and caught.value.exit_code == 2
    assert "cosell_settlement" in str(caught.value) and said in str(caught.value)
    assert cosell_ledger.periods() == []


KINDS = {
    k.name: k
    for k in (
        LineKind("commission", "Commission"),
        LineKind("extra", "Extra", in_budget=False),
        LineKind("cap", "Per-partner cap", capped=False, adjustment=True),
        LineKind("budget", "Program budget", capped=False, in_budget=False, adjustment=True),
    )
}


def test_a_line_is_paid_its_share_of_what_the_cap_and_the_budget_did_to_the_partners_total() -> None:
    def at(kind: str, amount: str) -> PayoutLine:
        return PayoutLine("P1", kind, Decimal(amount), kind)

    # 38,400.00 + 25,200.00 = 63,600.00 capped to 50,000.00, then scaled by the budget to 48,421.05:
    # 38,400.00 × 48,421.05 ÷ 63,600.00 = 29,235.35094… is what the first line was paid
    lines = [at("commission", "38400.00"), at("commission", "25200.00"), at("cap", "-13600.00"), at("budget", "-1578.95")]  # fmt: skip
    adjusted = PeriodAdjustments.of(lines, KINDS)
    assert adjusted.paid(lines[0], KINDS) == Decimal("29235.35")
    assert adjusted.text() == (
        "capped from 63,600.00 to 50,000.00 and scaled by the program budget from 50,000.00 to 48,421.05"
    )
    # a line inside the cap and outside the budget is capped, never scaled: 600 × 50,000 ÷ 63,600 = 471.698…
    lines = [at("commission", "63000.00"), at("extra", "600.00"), at("cap", "-13600.00"), at("budget", "-1000.00")]  # fmt: skip
    assert PeriodAdjustments.of(lines, KINDS).paid(lines[1], KINDS) == Decimal("471.70")
    # untouched by either: the line's amount, and nothing to say
    untouched = PeriodAdjustments.of(lines[:2], KINDS)
    assert untouched.paid(lines[0], KINDS) == Decimal("63000.00") and untouched.text() == ""
