"""Tier exceptions and settlements over drawn programs and drawn records: an exception lifts a partner that
has not left to at least its tier and never lowers one; every partner leaving the program gets a settlement
of whole cents, and an active one none."""

from __future__ import annotations

import decimal
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cosell.pluginmanager import Plugins
from cosell.results import History, TierException
from cosell.settlement import STATUSES, settlement_of
from cosell.testing import compute_period
from program_strategies import FAST, PARTNERS, build_program, datas, program_docs

CENT = Decimal("0.01")


@FAST
@given(program_docs(), datas(), st.data())
def test_an_exception_lifts_to_at_least_its_tier_and_never_lowers(doc, data, draw):
    loaded = build_program(doc)
    program = loaded.program
    tier = draw.draw(st.sampled_from([t.name for t in program.tiers]))
    who = draw.draw(st.sampled_from(PARTNERS))
    until = draw.draw(st.sampled_from(["2026-Q3", "2026-Q4"]))
    exception = TierException(7, who, tier, until, "launch partner", "ann", "bob")
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        earned = compute_period(loaded, *data.build())
        held = compute_period(loaded, *data.build(), history=History(tier_exceptions=(exception,)))
    for before, after, facts in zip(earned.standings, held.standings, held.facts, strict=True):
        if facts.id != who:
            assert after.tier == before.tier
            continue
        if facts.partner.left_by(held.context.period.end):  # never lifted: the reason says why
            assert (after.tier.assigned, after.tier.exception) == (before.tier.assigned, None)
            continue
        rank = program.tier_rank
        assert rank(after.tier.assigned) == max(rank(before.tier.assigned), rank(tier))
        assert after.tier.eligible == before.tier.eligible
        lifted = rank(tier) > rank(before.tier.assigned)
        assert (after.tier.exception is not None) == lifted
        if lifted:
            assert after.tier.shown == f"{tier} (exception until {until}: launch partner)"
            assert "tier exception 7" in after.tier.reason


@FAST
@given(program_docs(), datas())
def test_every_partner_leaving_gets_a_settlement_of_whole_cents_and_an_active_one_none(doc, data):
    loaded = build_program(doc)
    plugins = Plugins(entry_points=False)
    result = compute_period(loaded, *data.build(), plugins=plugins)
    for facts, standing in zip(result.facts, result.standings, strict=True):
        found = settlement_of(plugins, facts, standing, result.lines.get(facts.id, ()), result.context)
        if facts.partner.status == "active":
            assert found is None
            continue
        assert found is not None and found.partner_id == facts.id
        for item in found.items():
            assert item.status in STATUSES and item.amount == item.amount.quantize(CENT)
            assert item.explanation
        at_risk = found.total("at_risk")
        assert at_risk <= 0
        if found.last_day is not None and facts.partner.exit_on is not None:
            assert found.last_day >= facts.partner.exit_on
