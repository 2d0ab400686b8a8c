"""The NPS plugin, tested the way a plugin author would: with cosell.testing's builders and fixtures."""

from decimal import Decimal

import pytest
from cosell_nps import plugin

from cosell.errors import ProgramError
from cosell.testing import assert_hookimpl_signature, deal, partner, program

PROGRAM = """\
program: NPS program
period: 2026-Q3
currency: USD
scoring:
  metrics:
    nps: {weight: 1, target: 50}
tiers:
  - {name: Registered, min_score: 0, commission_rate: "0.05"}
  - {name: Silver, min_score: 80, commission_rate: "0.10"}
plugins:
  nps: {attribute: nps, bonus_threshold: 60, bonus: 750}
"""


def test_the_plugin_implements_real_hooks_with_arguments_they_pass():
    assert_hookimpl_signature(plugin)


def test_nps_scores_against_its_target_and_decides_the_tier(run_program):
    result = run_program(
        program(PROGRAM),
        [partner("P1", attributes={"nps": "45"}), partner("P2", attributes={"nps": "72"})],
        [
            deal("D1", "1000", partners=["P1"], won_on="2026-08-01"),
            deal("D2", "1000", partners=["P2"], won_on="2026-08-01"),
        ],
    )
    partners = {row["id"]: row for row in result.report.partners}
    assert partners["P1"]["score"] == "90.00"  # 100 × min(45 ÷ 50, 1)
    assert partners["P1"]["tier"] == "Silver"
    assert result.fields[("account", "P2")]["tier"] == "Silver"


def test_bonus_is_paid_at_or_above_the_threshold_only(run_program):
    result = run_program(
        program(PROGRAM),
        [partner("P1", attributes={"nps": "60"}), partner("P2", attributes={"nps": "59.9"})],
    )
    [bonus] = result.lines_of("P1", "nps_bonus")
    assert bonus.amount == Decimal("750.00") and "NPS 60 is at or above 60" in bonus.explanation
    assert result.lines_of("P2", "nps_bonus") == []
    assert "P1,2026-Q3,nps_bonus,,750.00," in result.statement_csv


def test_a_missing_or_bad_score_is_undefined_and_scores_zero(run_program):
    result = run_program(program(PROGRAM), [partner("P1"), partner("P2", attributes={"nps": "great"})])
    assert [row["score"] for row in result.report.partners] == ["0.00", "0.00"]


def test_settings_are_checked_with_the_line_of_the_bad_key(run_program):
    bad = PROGRAM.replace("bonus: 750}", "bonus: 750, bonus_currency: EUR}")
    with pytest.raises(ProgramError) as info:
        run_program(program(bad), [partner("P1")])
    assert str(info.value.problems[0]) == "<test program>:11: plugins.nps.bonus_currency: unknown key"
