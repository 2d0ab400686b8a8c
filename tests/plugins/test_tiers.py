from decimal import Decimal
from types import MappingProxyType

from cosell.results import History, TierRecord
from cosell.testing import compute_period, deal, partner, program

TIERS = [
    {"name": "Registered", "min_score": 0, "commission_rate": "0.05"},
    {"name": "Silver", "min_score": 40, "commission_rate": "0.08"},
    {"name": "Gold", "min_score": 70, "commission_rate": "0.12", "requires": {"won_revenue": 250000}},
]
SCORING = {"metrics": {"sourced_pipeline": {"weight": 1, "target": 100000}}}


def decide(
    pipeline, *, won="0", history=(), grace=1, crm_tier=None, period="2026-Q3", left=None, first_read=None
):
    """A partner whose score is pipeline ÷ 1000 (capped at 100) and whose won revenue is ``won``; one
    that exited on ``left``, if given; ``first_read``: the tier field as the ledger says cosell first read it
    (a mapping of one partner: ``{"P1": None}`` for an empty field)."""
    prog = program(tiers=TIERS, scoring=SCORING, demotion_grace_periods=grace, period=period)
    start = {"2026-Q3": "2026-07-01", "2026-Q4": "2026-10-01"}[period]
    deals = [deal("D1", pipeline, partners=["P1"], created_on=start)]
    if Decimal(won):
        deals.append(deal("D2", won, partners=[("P1", "influenced")], created_on="2026-01-01", won_on=start))
    fields = {"crm_tier": crm_tier} if crm_tier else {}
    if left is not None:
        fields.update(status="exited", exit_on=left)
    hist = History(
        tiers=MappingProxyType({"P1": tuple(history)}), crm_tiers=MappingProxyType(first_read or {})
    )
    return compute_period(prog, [partner("P1", **fields)], deals, history=hist).standings[0].tier


def test_eligible_tier_is_highest_reached_by_score():
    assert decide("45000").eligible == "Silver"
    assert decide("39994").eligible == "Registered"  # 39.99
    assert decide("39995").eligible == "Silver"  # the score is rounded (to 40.00) before tiers compare it


def test_tier_requires_every_named_metric_to_reach_its_value():
    assert decide("80000", won="249999.99").eligible == "Silver"  # score 80 but won revenue short
    assert decide("80000", won="250000").eligible == "Gold"  # exactly reached counts


def test_promotion_is_immediate():
    history = [TierRecord("2026-Q2", Decimal(10), "Registered", "Registered")]
    decision = decide("45000", history=history)
    assert (decision.eligible, decision.assigned, decision.previous) == ("Silver", "Silver", "Registered")


def test_demotion_waits_for_more_than_the_grace_periods_below():
    # grace 1: first period below keeps Gold, the second consecutive one drops to the eligible tier
    q2 = TierRecord("2026-Q2", Decimal(80), "Gold", "Gold")
    first = decide("45000", history=[q2])
    assert (first.eligible, first.assigned, first.periods_below) == ("Silver", "Gold", 1)
    q3 = TierRecord("2026-Q3", Decimal(45), first.eligible, first.assigned)
    second = decide("10000", history=[q2, q3], period="2026-Q4")
    assert (second.eligible, second.assigned, second.periods_below) == ("Registered", "Registered", 2)


def test_periods_below_count_every_consecutive_one_past_the_first_records_looked_at():
    # grace 1: the three latest records are looked at first; all below Gold, so the fourth is read too
    history = [
        TierRecord(period, Decimal(45), "Silver", "Gold")
        for period in ("2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2")
    ]
    decision = decide("45000", history=history)
    assert (decision.eligible, decision.assigned, decision.periods_below) == ("Silver", "Silver", 5)


def test_a_partner_below_its_tier_is_decided_from_one_question_to_the_history():
    # The latest records of the grace plus two, asked once: a ledger reads them for every partner in one
    # query, where asking for the tier held and then for the grace would read twice.
    asked: list[int] = []

    class Counted(History):
        __slots__ = ()

        def last_tiers(self, partner_id: str, n: int = 1) -> tuple[TierRecord, ...]:
            asked.append(n)
            return super().last_tiers(partner_id, n)

    prog = program(tiers=TIERS, scoring=SCORING, demotion_grace_periods=1)
    q2 = TierRecord("2026-Q2", Decimal(80), "Gold", "Gold")
    history = Counted(tiers=MappingProxyType({"P1": (q2,)}))
    deals = [deal("D1", "45000", partners=["P1"], created_on="2026-07-01")]
    decision = compute_period(prog, [partner("P1")], deals, history=history).standings[0].tier
    assert (decision.eligible, decision.assigned, decision.periods_below) == ("Silver", "Gold", 1)
    assert asked == [3]


def test_demotion_with_zero_grace_is_immediate():
    q2 = TierRecord("2026-Q2", Decimal(80), "Gold", "Gold")
    assert decide("45000", history=[q2], grace=0).assigned == "Silver"


def test_a_period_back_at_the_tier_resets_the_grace_count():
    history = [
        TierRecord("2026-Q1", Decimal(45), "Silver", "Gold"),  # below, kept
        TierRecord("2026-Q2", Decimal(80), "Gold", "Gold"),  # back at Gold
    ]
    assert decide("45000", history=history).assigned == "Gold"  # first period below again


def test_current_tier_comes_from_crm_when_ledger_has_none_else_lowest():
    assert decide("45000", crm_tier="Gold").assigned == "Gold"  # within grace of the CRM's Gold
    assert decide("45000", crm_tier="Platinum").assigned == "Silver"  # unknown CRM tier: lowest, promoted
    # no tier in the ledger or the CRM: measured from the lowest tier, but it held none before (it is new)
    fresh = decide("10000")
    assert (fresh.previous, fresh.assigned) == (None, "Registered")
    assert fresh.reason.endswith("; starts at Registered (no earlier tier)")


def test_ledger_history_wins_over_crm_tier():
    history = [TierRecord("2026-Q2", Decimal(10), "Registered", "Registered")]
    assert decide("45000", history=history, crm_tier="Gold").assigned == "Silver"


def test_the_crm_tier_as_cosell_first_read_it_wins_over_the_field_as_it_reads_now():
    # the field holds Gold, which cosell wrote: the partner starts from the Registered first read
    decision = decide("45000", crm_tier="Gold", first_read={"P1": "Registered"})
    assert (decision.previous, decision.assigned) == ("Registered", "Silver")
    assert "promoted to Silver (from Registered, tier the CRM showed before cosell)" in decision.reason
    empty = decide("10000", crm_tier="Gold", first_read={"P1": None})  # first read empty: a new partner
    assert (empty.previous, empty.assigned) == (None, "Registered")
    assert "starts at Registered (no earlier tier)" in empty.reason and "Gold" not in empty.reason
    assert decide("10000", crm_tier="Gold", first_read={"P2": "Silver"}).assigned == "Gold"  # another's


def test_the_crm_tier_field_as_cosell_writes_it_names_the_tier_to_start_from():
    # a new ledger reads the tier from the CRM field cosell wrote: an exception's or an exit's text too
    for shown in ("Gold", "Gold (exception until 2027-Q2: launch partner)", "Exited (was Gold)"):
        decision = decide("10000", crm_tier=shown)
        assert (decision.previous, decision.assigned) == ("Gold", "Gold"), shown  # kept under the grace
    assert (
        decide("10000", crm_tier="Platinum (exception until 2027-Q2: x)").previous is None
    )  # no tier of ours


def test_a_partner_short_of_the_lowest_tier_holds_it_and_the_reason_says_it_was_not_reached():
    lowest = [
        {"name": "Silver", "min_score": 50, "commission_rate": "0.08", "requires": {"won_revenue": 5000}},
        {"name": "Gold", "min_score": 70},
    ]
    prog = program(tiers=lowest, scoring=SCORING)
    deals = [deal("D1", "33000", partners=["P1"], created_on="2026-07-01")]
    tier = compute_period(prog, [partner("P1")], deals).standings[0].tier
    assert tier.eligible == tier.assigned == "Silver"
    assert tier.reason.startswith(
        "score 33.00 reaches no tier (Silver, the lowest, needs min 50, won_revenue 0 < 5,000): "
        "eligible for Silver, the lowest tier, all the same"
    )
    assert "makes it eligible" not in tier.reason


def test_a_requirement_missed_by_less_than_a_cent_is_not_shown_as_reached():
    reason = decide("80000", won="249999.9984").reason
    assert "Gold needs won_revenue 249,999.9984 < 250,000" in reason
    assert "Gold needs won_revenue 249,000 < 250,000" in decide("80000", won="249000").reason


def test_the_reason_of_a_partner_that_has_left_says_it_left_never_that_it_stays_nor_its_tier_label():
    # its tier reads "Exited (was Silver)" wherever the reason is shown: the reason says why, not that
    held = [TierRecord("2026-Q2", Decimal(45), "Silver", "Silver")]
    left = "2026-08-15"
    stays = decide("45000", history=held, left=left)
    assert stays.assigned == "Silver" and stays.reason == (
        "score 45.00 makes it eligible for Silver (min 40); left the program on 2026-08-15"
    )
    up = decide("80000", won="250000", history=held, left=left)
    assert up.assigned == "Silver" and up.reason.endswith(
        "; left the program on 2026-08-15: no promotion from Silver, the tier of 2026-Q2"
    )
    grace = decide("10000", history=held, left=left)
    assert grace.assigned == "Silver" and grace.reason.endswith(
        "below it for 1 of 1 grace period(s); left the program on 2026-08-15"
    )
    drops = decide("10000", history=held, grace=0, left=left)
    assert drops.assigned == "Registered" and drops.reason.endswith(
        "drops to Registered; left the program on 2026-08-15"
    )
    for decision in (stays, up, grace, drops):
        assert "stays" not in decision.reason and "keeps Silver (tier of 2026-Q2), no" not in decision.reason
        assert "Exited" not in decision.reason
    # a partner leaving after the period's end still holds its tier in it
    assert decide("45000", history=held, left="2026-10-01").reason.endswith("; stays Silver")
