import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cosell import hookimpl
from cosell.errors import PluginError
from cosell.money import round_score
from cosell.results import Score
from cosell.testing import activity, compute_period, deal, partner, program
from program_strategies import FAST, build_program, compute_strictly, datas, program_docs


def score_of(prog, deals):
    return compute_period(prog, [partner("P1")], deals).standings[0].score


SCORING = {
    "scale": 100,
    "metrics": {
        "sourced_pipeline": {"weight": 3, "target": 100000},
        "win_rate": {"weight": 2, "target": "0.5"},
        "deal_velocity_days": {"weight": 1, "target": 30, "better": "lower"},
    },
}


def test_score_is_scale_times_weighted_fractions_capped_at_one_rounded_half_up():
    # pipeline 40000 → f = 0.4; win rate 1/3 → f = 2/3; velocity 45 days (lower better) → f = 30/45 = 2/3
    deals = [
        deal("D1", "40000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-15"),
        deal("D2", "1", partners=[("P1", "cosell")], created_on="2026-07-01", lost_on="2026-07-02"),
        deal("D3", "1", partners=[("P1", "cosell")], created_on="2026-07-01", lost_on="2026-07-03"),
    ]
    score = score_of(program(scoring=SCORING), deals)
    # 100 × (3×0.4 + 2×(2/3) + 1×(2/3)) ÷ 6 = 100 × 3.2 ÷ 6 = 53.333… → 53.33
    assert score.value == Decimal("53.33")
    assert score.parts[0].fraction == Decimal("0.4")


def test_fraction_is_capped_at_one_and_lower_is_better_is_one_at_zero():
    deals = [deal("D1", "900000", partners=["P1"], created_on="2026-07-01", won_on="2026-07-01")]  # 0 days
    score = score_of(program(scoring=SCORING), deals)
    assert score.value == Decimal("100.00")


def test_undefined_metric_scores_zero():
    deals = [
        deal("D1", "100000", partners=["P1"], created_on="2026-07-01")
    ]  # nothing closed: velocity undefined
    score = score_of(program(scoring=SCORING), deals)
    # pipeline f = 1, win rate 0 → f = 0, velocity undefined → 0: 100 × 3 ÷ 6
    assert score.value == Decimal("50.00")


def test_score_rounds_half_up_at_the_second_decimal():
    scoring = {"scale": 100, "metrics": {"sourced_pipeline": {"weight": 1, "target": 200000}}}
    assert score_of(program(scoring=scoring), [deal("D1", "24669", partners=["P1"])]).value == Decimal(
        "12.33"
    )
    # 12.3345 would round to 12.33, 12.335 to 12.34 (half up, not to even)
    assert score_of(program(scoring=scoring), [deal("D1", "24670", partners=["P1"])]).value == Decimal(
        "12.34"
    )  # 12.335


def test_no_scoring_section_scores_zero():
    assert score_of(program(), [deal("D1", "100000", partners=["P1"])]).value == 0


def test_a_score_exactly_half_a_hundredth_rounds_up_although_division_is_inexact():
    # 100 × (3 × 13/36 + 5 × 8/15) ÷ 8 = 46.875 exactly; 28-digit division gave 46.87499…
    scoring = {
        "scale": 100,
        "metrics": {
            "sourced_pipeline": {"weight": 3, "target": 36},
            "joint_activities": {"weight": 5, "target": 15},
        },
    }
    deals = [deal("D1", "13", partners=["P1"], created_on="2026-07-01")]
    prog = program(scoring=scoring)
    found = compute_period(prog, [partner("P1")], deals, [activity("A1", "P1", "webinar", "2026-07-05", 8)])
    assert found.standings[0].score.value == Decimal("46.88")


@given(
    parts=st.lists(
        st.tuples(
            st.integers(0, 5),  # weight (0 included)
            st.decimals(min_value=1, max_value=200, places=2),  # target
            st.one_of(st.none(), st.decimals(min_value=0, max_value=300, places=4)),  # value
            st.sampled_from(["higher", "lower"]),
        ),
        min_size=1,
        max_size=4,
    ),
    scale=st.sampled_from([Decimal(100), Decimal(1), Decimal("7.5")]),
)
def test_the_score_is_the_exact_weighted_value_rounded_half_up(parts, scale):
    from cosell.plugins.scoring import _rounded, fraction
    from cosell.results import ScorePart

    score_parts = [
        ScorePart(f"m{i}", value, target, Decimal(weight), fraction(value, target, better), better)
        for i, (weight, target, value, better) in enumerate(parts)
    ]
    total = sum((p.weight for p in score_parts), Decimal(0))
    assume(total > 0)

    def exact(p):
        if p.value is None:
            return Fraction(0)
        if p.better == "lower":
            reached = Fraction(1) if p.value <= 0 else Fraction(p.target) / Fraction(p.value)
        else:
            reached = Fraction(p.value) / Fraction(p.target)
        return min(max(reached, Fraction(0)), Fraction(1))

    value = Fraction(scale) * sum(Fraction(p.weight) * exact(p) for p in score_parts) / Fraction(total)
    expected = Decimal(math.floor(value * 100 + Fraction(1, 2))) / 100
    assert _rounded(scale, score_parts, total) == expected


# --- the score stays within the program's scale ---------------------------------------------------------

SCALES = ("100", "1", "0.01", "7.5", "99.995", "0.005", "1000000")
"""Scales with their boundaries: the default, one, a cent, a fraction, places past a cent, the largest sane."""


@st.composite
def scaled_programs(draw):
    """A whole drawn program whose scoring (scale, weights 0 included, targets) and tier thresholds (0, the
    scale, just above and below it, anything between) are drawn too; tiers without requirements, so the
    eligible tier follows from the score alone."""
    doc = draw(program_docs())
    scale = Decimal(
        draw(st.one_of(st.sampled_from(SCALES), st.decimals("0.01", "100000", places=3).map(str)))
    )
    weights = st.sampled_from(["0", "1", "2", "0.5", "1000"])
    metrics = {
        "joint_activities": {"weight": draw(weights), "target": draw(st.sampled_from(["1", "4", "0.5"]))},
        "win_rate": {"weight": draw(weights), "target": draw(st.sampled_from(["0.5", "1", "0.01"]))},
        "sourced_pipeline": {
            "weight": draw(weights),
            "target": draw(st.sampled_from(["0.01", "2500", "10000"])),
        },
        "deal_velocity_days": {
            "weight": draw(weights),
            "target": draw(st.sampled_from(["1", "30"])),
            "better": "lower",
        },
    }
    kept = draw(st.lists(st.sampled_from(sorted(metrics)), unique=True))
    doc["scoring"] = {"scale": str(scale), "metrics": {name: metrics[name] for name in kept}}
    near = {
        scale,
        scale / 2,
        round_score(scale),
        scale - Decimal("0.01"),
        scale + Decimal("0.01"),
        Decimal("0.01"),
    }
    anywhere = st.decimals(0, scale * 2, places=2)
    mins = draw(st.lists(st.one_of(st.sampled_from(sorted(m for m in near if m > 0)), anywhere), max_size=3))
    doc["tiers"] = [
        {"name": f"T{i}", "min_score": str(m), "commission_rate": "0.1"}
        for i, m in enumerate(sorted({Decimal(0), *mins}))
    ]
    return doc


def _eligible(loaded, score):
    return [tier.name for tier in loaded.program.tiers if tier.min_score <= score][-1]


@FAST
@given(doc=scaled_programs(), data=datas())
def test_the_built_in_score_stays_from_0_to_the_scale_and_decides_the_tier(doc, data):
    loaded = build_program(doc)
    scale = loaded.program.scoring.scale
    active = {p["id"] for p in data.partners if "status" not in p}  # one that has left is never promoted
    for standing in compute_strictly(loaded, data).standings:
        score = standing.score.value
        # the scale rounded as every score is: 99.995 of 99.995 is 100.00
        assert 0 <= score <= round_score(scale)
        if standing.partner_id in active:
            assert standing.tier.eligible == _eligible(loaded, score)


class Scorer:
    def __init__(self, value):
        self.value = value

    @hookimpl(tryfirst=True)
    def cosell_score(self, partner):
        return Score(self.value)


def test_a_plugins_score_above_the_programs_scale_stops_the_run_naming_the_plugin_and_partner():
    loaded = program(scoring={"scale": 100}, tiers=[{"name": "Registered", "min_score": 0}])
    with pytest.raises(PluginError) as info:
        compute_period(loaded, [partner("P1")], plugins={"scorer": Scorer(Decimal("150"))})
    text = info.value.render()
    assert info.value.plugin == "scorer" and "cosell_score" in text and "'P1'" in text
    assert "150" in text and "scoring.scale of 100" in text


@FAST
@given(doc=scaled_programs(), given_score=st.data())
def test_a_plugins_score_is_kept_up_to_the_scale_and_refused_above_it(doc, given_score):
    loaded = build_program(doc)
    scale = loaded.program.scoring.scale
    top = round_score(scale)
    value = given_score.draw(
        st.one_of(
            st.sampled_from(
                [Decimal(0), scale, top, top + Decimal("0.01"), top + Decimal("0.005"), scale * 2]
            ),
            st.decimals(0, scale * 2, places=3),
        )
    )
    plugins = {"scorer": Scorer(value)}
    if round_score(value) > top:
        with pytest.raises(PluginError) as info:
            compute_period(loaded, [partner("P1")], plugins=plugins)
        assert info.value.plugin == "scorer" and "'P1'" in info.value.render()
    else:
        standing = compute_period(loaded, [partner("P1")], plugins=plugins).standings[0]
        assert standing.score.value == round_score(value)
        assert standing.tier.eligible == _eligible(loaded, standing.score.value)


def test_without_a_scoring_section_a_plugins_score_keeps_its_own_scale():
    loaded = program(tiers=[{"name": "Registered", "min_score": 0}, {"name": "Gold", "min_score": 500}])
    result = compute_period(loaded, [partner("P1")], plugins={"scorer": Scorer(Decimal("750"))})
    assert (
        result.standings[0].score.value == Decimal("750.00") and result.standings[0].tier.eligible == "Gold"
    )
