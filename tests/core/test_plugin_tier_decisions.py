"""A plugin that decides the tier (``cosell_tier``) decides it under the same governance as the built-in
rule: an approved tier exception lifts whatever tier the plugin assigns, a partner that has left is never
lifted, and the tier the partner held before is filled in from the ledger when the plugin leaves it out."""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

from cosell import hookimpl
from cosell.results import History, TierDecision, TierException, TierRecord
from cosell.testing import compute_period, deal, partner, program
from cosell.tier_exceptions import held_by_exception

TIERS = [
    {"name": "Registered", "min_score": 0, "commission_rate": "0.05"},
    {"name": "Silver", "min_score": 40, "commission_rate": "0.08"},
    {"name": "Gold", "min_score": 70, "commission_rate": "0.12"},
]
SCORING = {"metrics": {"sourced_pipeline": {"weight": 1, "target": 100000}}}
GOLD_UNTIL_Q4 = TierException(3, "P1", "Gold", "2026-Q4", "launch  partner", "ann", "bob")


class Probation:
    """Keeps P1 at Registered whatever it scores, as a plugin of its own may decide."""

    def __init__(self, previous: str | None = "Registered") -> None:
        self.previous = previous

    @hookimpl(tryfirst=True)
    def cosell_tier(self, partner, score, metrics, context):
        if partner.id != "P1":
            return None
        return TierDecision("Registered", "Registered", self.previous, 0, "on probation")


def decide(*plugins, exceptions=(), tiers=(), left=None, crm_tier=None):
    prog = program(tiers=TIERS, scoring=SCORING)
    fields = {"crm_tier": crm_tier} if crm_tier else {}
    if left is not None:
        fields.update(status="exited", exit_on=left)
    history = History(
        tiers=MappingProxyType({"P1": tuple(tiers)}) if tiers else MappingProxyType({}),
        tier_exceptions=tuple(exceptions),
    )
    computed = compute_period(
        prog,
        [partner("P1", **fields)],
        [deal("D1", "30000", partners=["P1"], created_on="2026-07-01")],
        history=history,
        plugins=list(plugins),
    )
    return computed.standings[0].tier


def test_an_approved_exception_lifts_the_tier_a_plugin_decides():
    decided = decide(Probation(), exceptions=[GOLD_UNTIL_Q4])
    assert (decided.eligible, decided.assigned, decided.exception) == ("Registered", "Gold", GOLD_UNTIL_Q4)
    assert decided.shown == "Gold (exception until 2026-Q4: launch partner)"
    assert decided.reason == (
        "on probation; held at Gold by tier exception 3 until 2026-Q4 "
        "(launch partner; proposed by ann, approved by bob)"
    )


def test_an_exception_never_lifts_a_partner_that_has_left_whatever_plugin_decides_its_tier():
    decided = decide(Probation(), exceptions=[GOLD_UNTIL_Q4], left="2026-08-15")
    assert (decided.assigned, decided.exception) == ("Registered", None)
    assert decided.reason == "on probation; tier exception 3 (Gold) not applied: the partner has left"


def test_applying_the_exceptions_again_adds_nothing_to_the_decision():
    gone = TierException(4, "P1", "Platinum", "2026-Q4", "renamed since", "ann", "bob")
    for left in (None, "2026-08-15"):
        once = decide(Probation(), exceptions=[GOLD_UNTIL_Q4, gone], left=left)
        assert once.reason.count("tier exception 4 names Platinum") == 1
        computed = compute_period(
            program(tiers=TIERS, scoring=SCORING),
            [partner("P1", **({} if left is None else {"status": "exited", "exit_on": left}))],
            history=History(tier_exceptions=(GOLD_UNTIL_Q4, gone)),
        )
        twice = held_by_exception(once, computed.facts[0], computed.context)
        assert twice == once


def test_the_built_in_tier_rule_still_applies_an_exception_once():
    decided = decide(exceptions=[GOLD_UNTIL_Q4])
    assert (decided.eligible, decided.assigned) == ("Registered", "Gold")
    assert decided.reason.count("held at Gold by tier exception 3") == 1


def test_the_previous_tier_a_plugin_leaves_out_comes_from_the_ledger_else_the_crm():
    held = [TierRecord("2026-Q2", Decimal(80), "Gold", "Gold")]
    assert decide(Probation(previous=None), tiers=held).previous == "Gold"
    assert (
        decide(Probation(previous=None), crm_tier="Silver (exception until 2026-Q2: x)").previous == "Silver"
    )
    assert decide(Probation(previous=None)).previous is None  # nothing held before
    assert decide(Probation(previous="Silver"), tiers=held).previous == "Silver"  # the plugin's own answer
