"""A tier's ``benefits``: short one-line texts, each error naming the file, line and item."""

import itertools

import pytest

from cosell.errors import ProgramError
from cosell.program import parse_program

PROGRAM = """\
program: P
period: 2026-Q3
currency: USD
tiers:
  - name: Registered
    min_score: 0
  - name: Gold
    min_score: 70
    benefits:
{items}
"""


def with_benefits(*items):
    return PROGRAM.format(items="\n".join(f"      - {item}" for item in items))


def problems_of(text):
    with pytest.raises(ProgramError) as info:
        parse_program(text, "prog.yaml")
    return [str(p) for p in info.value.problems]


def test_benefits_are_read_in_order_and_a_tier_without_them_has_none():
    p = parse_program(with_benefits("early access to the roadmap", '"deal desk within 24 h"')).program
    assert p.tiers[0].benefits == ()
    assert p.tiers[1].benefits == ("early access to the roadmap", "deal desk within 24 h")


def test_an_empty_benefit_is_refused_with_its_line():
    assert problems_of(with_benefits("early access", '"  "')) == [
        "prog.yaml:11: tiers[1].benefits[1]: a benefit is empty: write what holding the tier brings, "
        "e.g. 'deal desk within 24 h'"
    ]


def test_a_benefit_of_more_than_one_line_is_refused():
    [problem] = problems_of(with_benefits('"roadmap\\nbriefings"'))
    assert problem == (
        "prog.yaml:10: tiers[1].benefits[0]: a benefit is one line: list each benefit as its own item"
    )


def test_a_benefit_that_is_not_text_is_refused_so_yaml_never_turns_it_into_a_number():
    [problem] = problems_of(with_benefits("24"))
    assert problem == "prog.yaml:10: tiers[1].benefits[0]: 24 is not text: quote it"


def test_a_long_benefit_is_refused():
    [problem] = problems_of(with_benefits("x" * 201))
    assert problem == "prog.yaml:10: tiers[1].benefits[0]: a benefit is at most 200 characters: keep it short"


def test_a_benefit_listed_twice_is_refused():
    [problem] = problems_of(with_benefits("deal registration", "Deal registration"))
    assert problem.startswith("prog.yaml:9: tiers[1].benefits: a benefit is listed twice")


def test_benefits_must_be_a_list():
    text = PROGRAM.format(items="").replace("    benefits:\n", '    benefits: "early access"\n')
    [problem] = problems_of(text)
    assert problem.startswith("prog.yaml:9: tiers[1].benefits:")


def test_the_bundled_programs_list_benefits_for_every_tier():
    from pathlib import Path

    from cosell.program import load_program

    root = Path(__file__).resolve().parents[2]
    for path in (root / "examples" / "program.yaml", root / "core" / "starter" / "program.yaml"):
        tiers = load_program(path).program.tiers
        assert all(t.benefits for t in tiers), path
        # each tier keeps what the one below brings, so "what the next adds" is never a loss
        for lower, higher in itertools.pairwise(tiers):
            assert set(lower.benefits) <= set(higher.benefits)
