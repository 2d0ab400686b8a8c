"""Properties over random programs and data: the invariants every rule together must keep."""

import decimal
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosell.testing import activity, compute_period, deal, mdf_claim, partner, program

PARTNERS = [f"P{i}" for i in range(1, 6)]
DAYS = [f"2026-{m:02d}-{d:02d}" for m in (5, 6, 7, 8, 9, 10) for d in (1, 10, 20, 28)]

money = st.decimals(min_value=0, max_value=500000, places=2, allow_nan=False, allow_infinity=False)
rate = st.decimals(min_value=0, max_value="0.3", places=3)


@st.composite
def programs(draw):
    tiers = [
        {
            "name": "Registered",
            "min_score": 0,
            "commission_rate": str(draw(rate)),
            "mdf_budget": str(draw(money)),
        }
    ]
    if draw(st.booleans()):
        tiers.append(
            {
                "name": "Gold",
                "min_score": draw(st.integers(1, 100)),
                "commission_rate": str(draw(rate)),
                "quota": str(draw(money)),
            }
        )
    caps = {}
    if draw(st.booleans()):
        caps["per_partner"] = str(draw(money))
    if draw(st.booleans()):
        caps["program_budget"] = str(draw(money))
    return program(
        tiers=tiers,
        fx={"EUR": "1.08"},
        qualified_stages=["Proposal"],
        scoring={
            "metrics": {
                "sourced_pipeline": {"weight": 1, "target": 100000},
                "win_rate": {"weight": 1, "target": "0.5"},
            }
        },
        payouts={
            "baseline_per_qualified_opportunity": str(draw(money)),
            "signing_bonus": str(draw(money)),
            "role_multipliers": {"cosell": "0.5", "influenced": "0.25"},
            "accelerators": [{"attainment": "1.0", "multiplier": "1.25"}],
            "milestones": [{"name": "first_win", "kind": "first_win", "amount": str(draw(money))}],
        },
        guardrails={"max_discount_pct": 25, "min_margin_pct": 30, "margin_floor_factor": "0.5"},
        caps=caps or None,
        clawback_window_days=draw(st.integers(0, 120)),
        mdf={"release_on_approval": "0.5", "release_pipeline_multiple": 3},
        wind_down_days=draw(st.integers(0, 90)),
    )


@st.composite
def records(draw):
    people = []
    for pid in PARTNERS:
        status = draw(st.sampled_from(["active", "active", "exiting"]))
        fields = {"status": status, "exit_on": draw(st.sampled_from(DAYS))} if status != "active" else {}
        people.append(partner(pid, joined_on=draw(st.sampled_from(DAYS)), **fields))
    deals = []
    for i in range(draw(st.integers(0, 25))):
        who = draw(st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=3, unique=True))
        roles = [(p, draw(st.sampled_from(["sourced", "cosell", "influenced"]))) for p in who]
        created = draw(st.sampled_from(DAYS))
        outcome = draw(st.sampled_from(["open", "won", "lost"]))
        closed = draw(st.sampled_from([d for d in DAYS if d >= created]))
        extra = {}
        if outcome == "won" and draw(st.booleans()):
            extra["refunded_on"] = draw(st.sampled_from([d for d in DAYS if d >= closed]))
        deals.append(
            deal(
                f"D{i}",
                draw(money),
                partners=roles,
                created_on=created,
                won_on=closed if outcome == "won" else None,
                lost_on=closed if outcome == "lost" else None,
                currency=draw(st.sampled_from(["USD", "EUR"])),
                stage=None if outcome != "open" else draw(st.sampled_from(["Proposal", "Discovery"])),
                discount_pct=str(draw(st.integers(0, 40))),
                margin_pct=str(draw(st.integers(10, 60))),
                campaign=draw(st.sampled_from([None, "Launch"])),
                **extra,
            )
        )
    acts = [
        activity(f"A{i}", draw(st.sampled_from(PARTNERS)), "joint_demo", draw(st.sampled_from(DAYS)))
        for i in range(draw(st.integers(0, 10)))
    ]
    claims = [
        mdf_claim(
            f"M{i}",
            draw(st.sampled_from(PARTNERS)),
            "Launch",
            draw(money),
            approved_on=draw(st.sampled_from(DAYS)),
        )
        for i in range(draw(st.integers(0, 5)))
    ]
    return people, deals, acts, claims


def compute_strictly(prog, data):
    """Compute with the decimal context trapping any float mixed into a Decimal operation."""
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        return compute_period(prog, *data)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs(), records())
def test_every_amount_is_decimal_cents_and_no_float_enters_a_money_path(prog, data):
    result = compute_strictly(prog, data)
    for line in result.all_lines():
        assert isinstance(line.amount, Decimal) and line.amount == line.amount.quantize(Decimal("0.01"))
        assert line.explanation
    for projection in result.projections:
        assert isinstance(projection.amount, Decimal)


@SETTINGS
@given(programs(), records())
def test_no_partner_is_above_its_cap_and_capped_totals_never_exceed_the_budget(prog, data):
    result = compute_strictly(prog, data)
    caps = prog.program.caps
    kinds = result.context.line_kinds

    def total(lines, counts):
        return sum(
            (ln.amount for ln in lines if counts(kinds[ln.kind]) or kinds[ln.kind].adjustment), Decimal(0)
        )

    if caps and caps.per_partner is not None:
        for lines in result.lines.values():
            assert total(lines, lambda k: k.capped) <= caps.per_partner
    if caps and caps.program_budget is not None:
        whole = sum((total(lines, lambda k: k.in_budget) for lines in result.lines.values()), Decimal(0))
        assert whole <= caps.program_budget


@SETTINGS
@given(programs(), records())
def test_period_earnings_equal_the_sum_of_the_lines_mdf_left_out(prog, data):
    result = compute_strictly(prog, data)
    for pid, lines in result.lines.items():
        assert result.earnings(pid) == sum((ln.amount for ln in lines if ln.kind != "mdf"), Decimal(0))


@SETTINGS
@given(programs(), records())
def test_same_input_gives_the_same_output(prog, data):
    people, deals, acts, claims = data
    first = compute_strictly(prog, data)
    second = compute_strictly(prog, (list(reversed(people)), deals, acts, claims))
    assert first.all_lines() == second.all_lines()
    assert first.projections == second.projections
    assert first.standings == second.standings
