"""The NPS plugin, tested the way a plugin author would: with cosell.testing's builders, fixtures and
command-line harness, and with no plugin but this one next to the built-in rules."""

from decimal import Decimal

import pytest
from cosell_nps import plugin

from cosell.errors import ProgramError
from cosell.testing import assert_hookimpl_signature, deal, partner, program

pytestmark = pytest.mark.cosell_plugins(plugin)

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


def test_a_score_in_other_scripts_digits_is_no_score(run_program):
    result = run_program(program(PROGRAM), [partner("P1", attributes={"nps": "٧٠"})])  # Arabic-Indic 70
    assert result.report.partners[0]["score"] == "0.00" and result.lines_of("P1", "nps_bonus") == []


def test_the_attribute_may_be_given_as_field_as_a_crm_fields_name(run_program):
    text = PROGRAM.replace("nps: {attribute: nps,", "nps: {field: NPS_Score__c,")
    result = run_program(program(text), [partner("P1", attributes={"NPS_Score__c": "72"})])
    assert [ln.amount for ln in result.lines_of("P1", "nps_bonus")] == [Decimal("750.00")]


def test_settings_are_checked_with_the_line_of_the_bad_key(run_program):
    bad = PROGRAM.replace("bonus: 750}", "bonus: 750, bonus_currency: EUR}")
    with pytest.raises(ProgramError) as info:
        run_program(program(bad), [partner("P1")])
    assert str(info.value.problems[0]) == "<test program>:11: plugins.nps.bonus_currency: unknown key"


def test_the_cli_scores_on_nps_pays_the_bonus_and_writes_only_changed_fields(cosell_cli):
    cosell_cli.write_program(PROGRAM)
    cosell_cli.write_records(
        [partner("P1", attributes={"nps": "64"}), partner("P2", attributes={"nps": "30"})],
        [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")],
    )
    first = cosell_cli.run("--json")
    assert first.exit_code == 0, first.stderr
    scores = {row["id"]: (row["score"], row["tier"]) for row in first.json()["partners"]}
    assert scores == {"P1": ("100.00", "Silver"), "P2": ("60.00", "Registered")}
    accounts = {row["id"]: row for row in first.csv("accounts.csv")}
    assert accounts["P1"]["cosell_period_earnings"] == "850.00"  # 1000 × 0.10 + the 750.00 bonus

    again = cosell_cli.run()
    assert again.exit_code == 0 and "0 record(s) to update" in again.stdout

    statement = cosell_cli.statement("--format", "csv")
    assert "P1,2026-Q3,nps_bonus,,750.00," in statement.stdout

    explained = cosell_cli.explain("P1")
    assert explained.exit_code == 0 and "NPS bonus" in explained.stdout


def test_plugins_lists_the_metric_line_kind_and_settings(cosell_cli):
    [nps] = [p for p in cosell_cli.invoke("plugins", "--json").json() if p["name"] == "nps"]
    assert [m["name"] for m in nps["metrics"]] == ["nps"]
    assert [k["name"] for k in nps["line_kinds"]] == ["nps_bonus"]
    assert nps["settings"]["key"] == "nps"
    assert [f["name"] for f in nps["settings"]["fields"]] == ["attribute", "bonus_threshold", "bonus"]
