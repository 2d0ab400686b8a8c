from decimal import Decimal

import pytest

from cosell.errors import ProgramError
from cosell.program import load_program, parse_program, program_json_schema
from cosell.testing import program

MINIMAL = """\
program: P
period: 2026-Q3
currency: USD
tiers:
  - {name: Registered, min_score: 0}
"""


def problems_of(text):
    with pytest.raises(ProgramError) as info:
        parse_program(text, "prog.yaml")
    return [str(p) for p in info.value.problems]


def test_minimal_program_defaults_the_sections_left_out():
    p = parse_program(MINIMAL).program
    assert p.scoring is None and p.payouts is None and p.caps is None
    assert p.tiers[0].commission_rate == 0 and p.demotion_grace_periods == 0 and p.timezone == "UTC"


def test_yaml_str_tag_makes_a_value_text():
    text = MINIMAL.replace("program: P", "program: !!str 2026").replace(
        "period: 2026-Q3", "period: !!str 2026-Q3"
    )
    loaded = parse_program(text.replace("{name: Registered", "{name: !!str 2"), "prog.yaml").program
    assert (loaded.program, loaded.period, loaded.tiers[0].name) == ("2026", "2026-Q3", "2")


def test_unknown_key_is_refused_with_its_path_and_line():
    text = MINIMAL + "caps: {per_partner: 10, per_deal: 5}\n"
    assert problems_of(text) == ["prog.yaml:6: caps.per_deal: unknown key"]


def test_unknown_nested_key_in_a_list_names_the_item():
    text = MINIMAL.replace("min_score: 0}", "min_score: 0, rate: 1}")
    assert problems_of(text) == ["prog.yaml:5: tiers[0].rate: unknown key"]


def test_duplicate_key_is_refused_with_its_line():
    assert problems_of(MINIMAL + "currency: EUR\n") == [
        "prog.yaml:6: duplicate key 'currency': each key may appear once"
    ]


def test_unquoted_decimals_are_read_exactly_not_as_floats():
    p = parse_program(MINIMAL.replace("min_score: 0}", "min_score: 0, commission_rate: 0.07}")).program
    assert p.tiers[0].commission_rate == Decimal("0.07")


def test_targets_must_be_positive_and_weights_not_negative():
    text = MINIMAL + "scoring:\n  metrics:\n    win_rate: {weight: -1, target: 0}\n"
    found = problems_of(text)
    assert "prog.yaml:8: scoring.metrics.win_rate.weight: Input should be greater than or equal to 0" in found
    assert "prog.yaml:8: scoring.metrics.win_rate.target: Input should be greater than 0" in found


def test_tiers_must_rise_in_min_score():
    text = MINIMAL + "  - {name: Gold, min_score: 70}\n  - {name: Silver, min_score: 40}\n"
    [problem] = problems_of(text)
    assert problem.startswith("prog.yaml:4: tiers: ") and "'Silver' (40) comes after 'Gold' (70)" in problem


def test_min_margin_needs_the_floor_factor():
    assert problems_of(MINIMAL + "guardrails: {min_margin_pct: 30}\n") == [
        "prog.yaml:6: guardrails: `min_margin_pct` needs `margin_floor_factor`"
    ]


def test_mdf_needs_both_keys():
    [problem] = problems_of(MINIMAL + "mdf: {release_on_approval: 0.5}\n")
    assert problem == "prog.yaml:6: mdf.release_pipeline_multiple: required key is missing"


def test_period_timezone_and_currency_are_checked():
    text = MINIMAL.replace("2026-Q3", "2026-Q5").replace("USD", "usd") + "timezone: Mars/Olympus\n"
    found = problems_of(text)
    assert any(p.startswith("prog.yaml:2: period:") and "not a period" in p for p in found)
    assert any(p.startswith("prog.yaml:3: currency:") for p in found)
    assert any(p.startswith("prog.yaml:6: timezone:") and "IANA" in p for p in found)


def test_all_problems_are_reported_at_once():
    text = MINIMAL + "bogus: 1\nwind_down_days: -3\n"
    assert len(problems_of(text)) == 2


def test_missing_file_is_a_program_error_naming_it(tmp_path):
    with pytest.raises(ProgramError) as info:
        load_program(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


def test_json_schema_forbids_unknown_keys():
    schema = program_json_schema()
    assert schema["additionalProperties"] is False
    assert "tiers" in schema["required"]


def test_fx_rate_of_program_currency_is_one_and_missing_is_none():
    p = program(fx={"EUR": "1.08"}).program
    assert p.fx_rate("USD") == 1 and p.fx_rate("EUR") == Decimal("1.08") and p.fx_rate("JPY") is None


def test_the_bundled_example_program_is_valid():
    p = load_program("examples/program.yaml").program
    assert [t.name for t in p.tiers] == ["Registered", "Silver", "Gold"]


@pytest.mark.parametrize(
    ("plain", "anchored"),
    [
        (
            MINIMAL.replace("min_score: 0}", "min_score: 0, commission_rate: true}"),
            MINIMAL.replace("min_score: 0}", "min_score: 0, commission_rate: &rate true}"),
        ),
        (MINIMAL + "payouts: {signing_bonus: true}\n", MINIMAL + "payouts: {signing_bonus: &b true}\n"),
        (MINIMAL + "clawback_window_days: false\n", MINIMAL + "clawback_window_days: &days false\n"),
    ],
)
def test_an_anchored_true_or_false_is_refused_exactly_like_a_plain_one(plain, anchored):
    # ruamel keeps an anchored boolean as an int subclass: read as 1 it would pay a 100 % commission
    assert problems_of(anchored) == problems_of(plain)


def test_a_benefit_written_as_an_anchored_true_is_named_as_true_not_1():
    text = MINIMAL.replace("min_score: 0}", "min_score: 0, benefits: [&perk true]}")
    assert problems_of(text) == ["prog.yaml:5: tiers[0].benefits[0]: True is not text: quote it"]


def test_two_accelerator_bands_at_one_attainment_are_refused_at_the_second():
    text = MINIMAL + (
        "payouts:\n"
        "  accelerators:\n"
        '    - {attainment: "1.0", multiplier: "1.25"}\n'
        '    - {attainment: 1, multiplier: "1.5"}\n'
    )
    assert problems_of(text) == [
        "prog.yaml:9: payouts.accelerators[1].attainment: 1 appears twice (first in accelerators[0]): "
        "one multiplier per attainment"
    ]


def test_two_milestones_of_one_name_are_refused_at_the_second():
    text = MINIMAL + (
        "payouts:\n"
        "  milestones:\n"
        "    - {name: first_win, kind: first_win, amount: 2500}\n"
        "    - {name: demo_sprint, kind: activities, type: joint_demo, count: 3, amount: 500}\n"
        "    - {name: first_win, kind: first_win, amount: 5000}\n"
    )
    assert problems_of(text) == [
        "prog.yaml:10: payouts.milestones[2].name: 'first_win' appears twice (first in milestones[0]): "
        "give each milestone its own name"
    ]


WHOLE_NUMBER_KEYS = {
    "clawback_window_days": "clawback_window_days: VALUE",
    "wind_down_days": "wind_down_days: VALUE",
    "demotion_grace_periods": "demotion_grace_periods: VALUE",
    "pilot.cohort.seed": 'pilot: {name: p, variant: v.yaml, cohort: {share: "0.5", seed: VALUE}}',
}


@pytest.mark.parametrize("value", ["true", "false"])
@pytest.mark.parametrize("key", WHOLE_NUMBER_KEYS)
def test_true_and_false_are_not_whole_numbers(key, value):
    assert problems_of(MINIMAL + WHOLE_NUMBER_KEYS[key].replace("VALUE", value) + "\n") == [
        f"prog.yaml:6: {key}: {value} is not a number: write a whole number"
    ]


def test_every_whole_number_key_of_the_program_refuses_true_and_false():
    schema = program_json_schema()

    def integer_keys(properties, prefix=""):
        for name, spec in properties.items():
            kinds = [spec, *spec.get("anyOf", [])]
            if any(k.get("type") == "integer" for k in kinds):
                yield prefix + name
            for ref in (k["$ref"] for k in kinds if "$ref" in k):
                definition = schema["$defs"][ref.rsplit("/", 1)[1]]
                yield from integer_keys(definition.get("properties", {}), f"{prefix}{name}.")

    assert set(integer_keys(schema["properties"])) == set(WHOLE_NUMBER_KEYS)


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "posix/UTC", "right/UTC"])
def test_a_timezone_that_is_not_an_iana_name_is_refused_even_when_the_machine_has_it(zone):
    assert problems_of(MINIMAL + f"timezone: {zone}\n") == [
        f"prog.yaml:6: timezone: {zone!r} is not an IANA time zone (e.g. UTC, America/New_York)"
    ]


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Europe/Berlin", "US/Eastern"])
def test_iana_time_zones_and_their_links_are_accepted(zone):
    assert parse_program(MINIMAL + f"timezone: {zone}\n").program.timezone == zone


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "clawback_window_days: !!bool maybe",
            "prog.yaml:6: not valid YAML: cannot read this value as !!bool",
        ),
        ('clawback_window_days: !!int ""', "prog.yaml:6: not valid YAML: cannot read this value as !!int"),
        ("clawback_window_days: !!omap abc", "prog.yaml:6: not valid YAML: cannot read this value as !!omap"),
        (
            'fx: !!omap [EUR: "1.08", EUR: "1.2"]',
            "prog.yaml:6: duplicate key 'EUR': each key may appear once",
        ),
        (
            "activity_weights: !!omap [{a: 1}, {a: 2}]",
            "prog.yaml:6: duplicate key 'a': each key may appear once",
        ),
    ],
)
def test_a_tagged_value_yaml_cannot_read_as_its_tag_is_refused_with_its_line(line, expected):
    assert problems_of(MINIMAL + line + "\n") == [expected]


def test_a_repeated_key_in_an_omap_is_a_duplicate_key_on_its_own_line():
    text = MINIMAL + 'fx: !!omap\n  - EUR: "1.08"\n  - GBP: "1.27"\n  - EUR: "1.2"\n'
    assert problems_of(text) == ["prog.yaml:9: duplicate key 'EUR': each key may appear once"]


@pytest.mark.parametrize(
    ("weights", "key"),
    [('{1: "1", "1": "2"}', "1"), ('{true: "1", "True": "2"}', "True"), ('{0.5: "1", "0.5": "2"}', "0.5")],
)
def test_two_keys_that_read_as_one_text_are_a_duplicate_key(weights, key):
    assert problems_of(MINIMAL + f"activity_weights: {weights}\n") == [
        f"prog.yaml:6: duplicate key {key!r}: each key may appear once"
    ]
