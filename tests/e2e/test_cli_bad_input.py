"""Bad input through the CLI: a located error (exit 2, all problems at once, nothing written) or, for
values that are valid but probably not meant, a warning naming where they are."""

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from invoke import cosell

RUN = ("run", "--program", "program.yaml", "--input", "data", "--output", "out")


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(*extra):
    """Run the example; it must exit 2 and write nothing. Returns the output."""
    result = cosell(*RUN, *extra)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert not Path("out").exists()
    assert cosell("statement", "--period", "2026-Q3").exit_code == 2  # the ledger holds no run
    return result.output


def program_refused(command):
    result = cosell("validate", "program.yaml") if command == "validate" else cosell(*RUN)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    return result.output


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- the CSV folder --------------------------------------------------------------------------------


def test_a_partner_named_twice_on_a_deal_with_different_shares_names_both_rows(work):
    # deals.csv line 7 names P002 on D2001 with no share; a second row gives it a fifth.
    with (work / "data" / "deal_partners.csv").open("a", encoding="utf-8") as fh:
        fh.write("D2001,P002,influenced,0.2\n")
    output = refused()
    assert (
        "deal_partners.csv:6: share: partner 'P002' is named twice on deal 'D2001' with different shares: "
        "'0.2' here, no share on deals.csv:7"
    ) in output


def test_a_partner_named_twice_with_the_same_share_is_merged_and_counted_once(work):
    edit(
        work / "data" / "deals.csv",
        "2026-07-01,2026-08-10,12,38,,,P002,sourced,",
        "2026-07-01,2026-08-10,12,38,,,P002,sourced,0.6",
    )
    with (work / "data" / "deal_partners.csv").open("a", encoding="utf-8") as fh:
        fh.write("D2001,P002,cosell,0.60\n")
    result = cosell(*RUN, "--json")
    assert result.exit_code == 0, result.output


def test_negative_deal_and_claim_amounts_are_input_errors(work):
    edit(work / "data" / "deals.csv", "Data platform,180000,EUR", "Data platform,-180000,EUR")
    edit(work / "data" / "mdf_claims.csv", "NA Data Summit,12000,", "NA Data Summit,-12000,")
    output = refused()
    assert "deals.csv:2: amount: '-180000' must be at least 0: a refund is a refunded_on date" in output
    assert "mdf_claims.csv:2: amount: '-12000' must be at least 0" in output


def test_a_control_character_in_an_id_is_an_input_error_naming_its_line(work):
    edit(work / "data" / "mdf_claims.csv", "M001,", '"M0\x1e01",')
    output = refused()
    assert "mdf_claims.csv:2: id:" in output and "control character" in output


def test_a_name_with_line_breaks_and_control_characters_reads_on_one_line(work):
    edit(work / "data" / "deals.csv", "Northwind - Data platform,", '"Northwind -\r\nData\x1eplatform\x07",')
    edit(work / "data" / "mdf_claims.csv", "M001,P002,NA Data Summit,", 'M001,P002,"NA Data\u2028Summit",')
    result = cosell(*RUN)
    assert result.exit_code == 0, result.output
    assert cosell("explain", "P001", "--program", "program.yaml", "--input", "data").exit_code == 0
    statement = cosell("statement", "--period", "2026-Q3", "--format", "csv")
    assert "Northwind - Data platform" in statement.output


@pytest.mark.parametrize("amount", ["9e18", "99999999999999999999.999", "1e30", "1000000000000.01"])
def test_an_amount_beyond_what_the_ledger_holds_is_too_large(work, amount):
    edit(work / "data" / "deals.csv", "Data platform,180000,EUR", f"Data platform,{amount},EUR")
    edit(work / "data" / "mdf_claims.csv", "NA Data Summit,12000,", f"NA Data Summit,{amount},")
    output = refused()
    assert f"deals.csv:2: amount: '{amount}' is too large: it must be at most 1,000,000,000,000" in output
    assert f"mdf_claims.csv:2: amount: '{amount}' is too large" in output


def test_an_amount_too_large_once_converted_is_an_input_error(work):
    # 999,999,999,999 EUR × 1.08 is more than the bound in USD.
    edit(work / "data" / "deals.csv", "Data platform,180000,EUR", "Data platform,999999999999,EUR")
    output = refused()
    assert "deal D1001: amount: 1,079,999,999,998.92 USD after conversion is too large" in output


def test_a_deal_closed_before_it_was_created_is_an_input_error(work):
    edit(work / "data" / "deals.csv", "won,2026-07-02,2026-08-20", "won,2026-07-02,2026-06-27")
    assert "deals.csv:2: closed_on: 2026-06-27 is before created_on 2026-07-02" in refused()


def test_a_refund_before_the_win_is_an_input_error(work):
    # D4001 was won on 2026-08-01: a refund dated before it would claw back in 2026-Q4 what 2026-Q3 paid,
    # explained as refunded "-17 days after it was won".
    edit(work / "data" / "deals.csv", "2026-08-01,10,40,,,P004", "2026-08-01,10,40,,2026-07-15,P004")
    assert (
        "deals.csv:16: refunded_on: 2026-07-15 is before closed_on 2026-08-01: a deal is refunded on or "
        "after the day it is won"
    ) in refused()


def test_a_refund_of_a_deal_not_won_is_an_input_error(work):
    edit(
        work / "data" / "deals.csv",
        "2026-07-15,,5,45,EMEA Cloud Push,,P001",
        "2026-07-15,,5,45,EMEA Cloud Push,2026-08-01,P001",
    )
    edit(work / "data" / "deals.csv", "2026-09-02,,,,,P001", "2026-09-02,,,,2026-09-03,P001")
    output = refused()
    assert (
        "deals.csv:3: refunded_on: 2026-08-01 is given on a deal that is open: only a won deal is refunded"
        in output
    )
    assert (
        "deals.csv:5: refunded_on: 2026-09-03 is given on a deal that is lost: only a won deal is refunded"
        in output
    )


def test_unicode_digits_in_a_number_cell_are_refused(work):
    edit(work / "data" / "deals.csv", "Data platform,180000,EUR", "Data platform,١٨٠٠٠٠,EUR")
    edit(work / "data" / "activities.csv", "D1001,2", "D1001,٢")
    output = refused()
    assert "deals.csv:2: amount: '١٨٠٠٠٠' is not a number: use the digits 0-9" in output
    assert "activities.csv:2: quantity: '٢' is not a number" in output


def test_a_csv_file_that_is_not_utf8_names_its_line(work):
    path = work / "data" / "partners.csv"
    path.write_bytes(path.read_bytes().replace(b"Northwind", "Nörthwind".encode("latin-1")))
    assert "partners.csv:2: not UTF-8 text (byte 0xf6): save the file as UTF-8" in refused()


def test_a_file_cosell_does_not_read_is_a_warning_naming_the_file_it_resembles(work, caplog):
    (work / "data" / "activities.csv").rename(work / "data" / "Activities.csv")
    (work / "data" / "mdf_claims.csv").rename(work / "data" / "mdf_claim.csv")
    result = cosell(*RUN)
    assert result.exit_code == 0, result.output
    assert warnings(caplog) == [
        "Activities.csv: cosell does not read this file: did you mean activities.csv?",
        "mdf_claim.csv: cosell does not read this file: did you mean mdf_claims.csv?",
        "activities.csv: not in data: the program counts activities, and every partner has none",
        "mdf_claims.csv: not in data: the program releases MDF, and no partner has a claim",
    ]


def test_a_missing_optional_file_the_program_does_not_need_is_no_warning(work, caplog):
    (work / "data" / "mdf_claims.csv").unlink()
    edit(work / "program.yaml", 'mdf: {release_on_approval: "0.5", release_pipeline_multiple: 3}\n', "")
    result = cosell(*RUN)
    assert result.exit_code == 0, result.output
    assert warnings(caplog) == []


# --- the program file ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'commission_rate: "0.12"',
            'commission_rate: "12"',
            "program.yaml:20: tiers[2].commission_rate: 12 is more than 1: rates are fractions: did you mean 0.12?",
        ),
        (
            'margin_floor_factor: "0.5"',
            "margin_floor_factor: 50",
            "program.yaml:34: guardrails.margin_floor_factor: 50 is more than 1: rates are fractions: did you mean 0.5?",
        ),
        (
            'release_on_approval: "0.5"',
            "release_on_approval: 50",
            "program.yaml:37: mdf.release_on_approval: 50 is more than 1: rates are fractions: did you mean 0.5?",
        ),
        (
            'cosell: "0.5"',
            "cosell: 50",
            "program.yaml:25: payouts.role_multipliers.cosell: 50 is more than 10: a multiplier of 1.5 pays 150%: did you mean 0.5?",
        ),
        (
            'multiplier: "1.25"',
            "multiplier: 125",
            "program.yaml:26: payouts.accelerators[0].multiplier: 125 is more than 10",
        ),
        (
            'fx: {EUR: "1.08"',
            'fx: {USD: "1", EUR: "1.08"',
            "program.yaml:6: fx.USD: the program's own currency takes no rate (it is always 1): remove it",
        ),
        (
            "signing_bonus: 1000",
            'signing_bonus: "١٠٠٠"',
            "program.yaml:27: payouts.signing_bonus: '١٠٠٠' is not a number: use the digits 0-9",
        ),
        (
            "per_partner: 50000",
            "per_partner: 1e30",
            "program.yaml:35: caps.per_partner: 1E+30 is too large: numbers in a program are at most 1,000,000,000,000",
        ),
        (
            "clawback_window_days: 90",
            "clawback_window_days: 10000000000",
            "program.yaml:36: clawback_window_days: Input should be less than or equal to 36500",
        ),
        (
            "wind_down_days: 60",
            "wind_down_days: 10000000000",
            "program.yaml:38: wind_down_days: Input should be less than or equal to 36500",
        ),
        (
            'release_on_approval: "0.5"',
            "release_on_approval: .nan",
            "program.yaml:37: not valid YAML: '.nan' is not a finite number",
        ),
        (
            'release_on_approval: "0.5"',
            "release_on_approval: -.inf",
            "program.yaml:37: not valid YAML: '-.inf' is not a finite number",
        ),
        (
            "target: 500000}",
            "target: 1e-999999999}",
            "program.yaml:12: scoring.metrics.sourced_pipeline.target: 1E-999999999 has more than 12 decimal places",
        ),
        (
            "program: Global Partner Program",
            "program: !!int abc",
            "program.yaml:3: not valid YAML: cannot read this value: invalid literal for int()",
        ),
        (
            "period: 2026-Q3",
            "period: 2026-13-45",
            "program.yaml:4: not valid YAML: cannot read this value: month must be in 1..12",
        ),
        (
            "period: 2026-Q3",
            "period: 0001-Q1",
            "program.yaml:4: period: '0001-Q1' is not a period: the year must be from 1900 to 2999",
        ),
        (
            'commission_rate: "0.12"',
            "commission_rate: &rate true",
            "program.yaml:20: tiers[2].commission_rate: Decimal input should be an integer, float, string or Decimal",
        ),
        (
            'accelerators: [{attainment: "1.0", multiplier: "1.25"}, {attainment: "1.5"',
            'accelerators: [{attainment: "1.0", multiplier: "1.25"}, {attainment: "1"',
            "program.yaml:26: payouts.accelerators[1].attainment: 1 appears twice (first in accelerators[0])",
        ),
        (
            "clawback_window_days: 90",
            "clawback_window_days: true",
            "program.yaml:36: clawback_window_days: true is not a number: write a whole number",
        ),
        (
            "timezone: America/New_York",
            "timezone: localtime",
            "program.yaml:39: timezone: 'localtime' is not an IANA time zone (e.g. UTC, America/New_York)",
        ),
        (
            "clawback_window_days: 90",
            "clawback_window_days: !!bool maybe",
            "program.yaml:36: not valid YAML: cannot read this value as !!bool",
        ),
        (
            "clawback_window_days: 90",
            'clawback_window_days: !!int ""',
            "program.yaml:36: not valid YAML: cannot read this value as !!int",
        ),
        (
            "clawback_window_days: 90",
            "clawback_window_days: !!omap abc",
            "program.yaml:36: not valid YAML: cannot read this value as !!omap",
        ),
        (
            'fx: {EUR: "1.08", GBP: "1.27"}',
            'fx: !!omap [EUR: "1.08", EUR: "1.2"]',
            "program.yaml:6: duplicate key 'EUR': each key may appear once",
        ),
    ],
)
def test_a_program_value_that_cannot_be_meant_is_a_located_error(work, command, old, new, expected):
    edit(work / "program.yaml", old, new)
    assert expected in program_refused(command)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_percentage_given_as_a_fraction_is_a_located_warning(work, caplog, command):
    edit(work / "program.yaml", "max_discount_pct: 25", 'max_discount_pct: "0.25"')
    edit(work / "program.yaml", "min_margin_pct: 30", "min_margin_pct: 0.3")
    result = cosell("validate", "program.yaml") if command == "validate" else cosell(*RUN)
    assert result.exit_code == 0, result.output
    assert warnings(caplog) == [
        "program.yaml:32: guardrails.max_discount_pct: 0.25 is less than 1%: percentages are 0-100: "
        "did you mean 25?",
        "program.yaml:33: guardrails.min_margin_pct: 0.3 is less than 1%: percentages are 0-100: did you mean 30?",
    ]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_yaml_alias_bomb_is_refused_at_once(work, command):
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with (work / "program.yaml").open("a", encoding="utf-8") as fh:
        fh.write("plugins:\n bomb:\n" + "\n".join(lines) + "\n")
    started = time.monotonic()
    output = program_refused(command)
    assert time.monotonic() - started < 10
    assert "program.yaml:43: not valid YAML: alias *a0 is not allowed in a program file" in output


@pytest.mark.parametrize("command", ["validate", "run"])
def test_deeply_nested_lists_are_refused_with_their_line(work, command):
    with (work / "program.yaml").open("a", encoding="utf-8") as fh:
        fh.write("plugins:\n deep: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "program.yaml:41: not valid YAML: nested more than 32 levels deep" in program_refused(command)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_program_file_that_is_not_utf8_names_its_line(work, command):
    path = work / "program.yaml"
    path.write_bytes(path.read_bytes().replace(b"Global", "Glöbal".encode("latin-1")))
    assert "program.yaml:3: not UTF-8 text (byte 0xf6): save the file as UTF-8" in program_refused(command)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_nul_byte_in_the_program_names_its_line(work, command):
    edit(work / "program.yaml", "program: Global", "program: Glo\x00bal")
    assert "program.yaml:3: not valid YAML: character 0x0000 is not allowed" in program_refused(command)


@pytest.mark.parametrize(
    "command",
    [
        ("close", "--period", "2026-q3"),
        ("statement", "--period", "2026-q3"),
        ("report", "--period", "2026-q3"),
        ("adjust", "propose", "--partner", "P001", "--amount", "5", "--reason", "r", "--by", "ann",
         "--period", "2026-q3"),
        ("audit", "--from", "2026-q3", "--to", "2026-Q4"),
        ("run", "--program", "program.yaml", "--input", "data", "--output", "out", "--period", "2026-q3"),
    ],
    ids=lambda command: command[0],
)  # fmt: skip
def test_a_period_option_with_a_lowercase_q_says_how_to_write_it(work, command):
    result = cosell(*command)
    assert result.exit_code == 2, result.output
    option = "--from" if command[0] == "audit" else "--period"
    assert f"{option}: '2026-q3' is not a period: write it 2026-Q3" in result.output


def test_a_period_option_before_1900_names_the_year_range(work):
    result = cosell(*RUN, "--period", "0001-Q1")
    assert result.exit_code == 2, result.output
    assert "--period: '0001-Q1' is not a period: the year must be from 1900 to 2999" in result.output


def test_cosell_validate_prints_warnings_on_stderr_one_line_each(work):
    edit(work / "program.yaml", "max_discount_pct: 25", 'max_discount_pct: "0.25"')
    command = [sys.executable, "-c", "from cosell.cli import main; main()", "validate", "program.yaml"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "WARNING cosell.program: program.yaml:32: guardrails.max_discount_pct: 0.25 is less than 1%: "
        "percentages are 0-100: did you mean 25?"
    ]
    assert result.stdout.startswith("ok: program.yaml")


def test_an_output_that_is_a_file_is_a_config_error_and_nothing_is_written(work):
    (work / "out").write_text("not a folder\n")
    result = cosell("run", "--program", "program.yaml", "--input", "data", "--output", "out")
    assert result.exit_code == 2, result.output
    assert "--output: out is a file, not a folder" in result.output
    assert (work / "out").read_text() == "not a folder\n" and not (work / "cosell.db").exists()


@pytest.mark.parametrize(
    "command",
    [
        ("report", "--period", "2026-Q3"),
        ("statement", "--period", "2026-Q3", "--format", "csv"),
        ("settlement", "P004"),
        ("audit", "--from", "2026-Q3", "--to", "2026-Q3"),
    ],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("where", ["no-such-folder/file.txt", "."])
def test_an_output_file_that_cannot_be_written_is_named_with_exit_2(work, command, where):
    assert cosell(*RUN).exit_code == 0
    result = cosell(*command, "-o", where)
    assert result.exit_code == 2, result.output
    assert f"cannot write {where}" in result.output and "internal error" not in result.output


ID_COMMANDS = {
    "adjust approve": ("adjust", "approve", "{id}", "--by", "bob"),
    "adjust reject": ("adjust", "reject", "{id}", "--by", "bob", "--reason", "no"),
    "tier-override approve": ("tier-override", "approve", "{id}", "--by", "bob"),
    "tier-override reject": ("tier-override", "reject", "{id}", "--by", "bob", "--reason", "no"),
    "runs show": ("runs", "show", "{id}"),
    "runs diff": ("runs", "diff", "1", "{id}"),
}


@pytest.mark.parametrize("command", ID_COMMANDS.values(), ids=ID_COMMANDS.keys())
@pytest.mark.parametrize("given", ["99999999999999999999", str(2**63)])
def test_an_id_no_ledger_can_hold_is_refused_naming_the_argument_not_an_internal_error(work, command, given):
    assert cosell(*RUN).exit_code == 0
    result = cosell(*(given if part == "{id}" else part for part in command))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert given in result.output and "id" in result.output.lower()
    assert "1 to 9223372036854775807" in result.output


@pytest.mark.parametrize("command", ID_COMMANDS.values(), ids=ID_COMMANDS.keys())
def test_the_largest_id_a_ledger_holds_is_looked_up_and_not_found(work, command):
    assert cosell(*RUN).exit_code == 0
    result = cosell(*(str(2**63 - 1) if part == "{id}" else part for part in command))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "1 to 9223372036854775807" not in result.output
