"""What a run's program's governance would have approved: the check each run makes of the approvals it
is about to pay or apply, and how two governance sections compare."""

from __future__ import annotations

from decimal import Decimal

from cosell.governance import ApprovalCheck, Refusal, same_governance
from cosell.program import Governance
from cosell.results import ApprovedAdjustment, TierException

CAROL_DAVE = Governance(approvers=("carol", "dave"), require_approval_over=Decimal("500"))


def adjustment(amount: str, approved_by: str | None, id: int = 1) -> ApprovedAdjustment:
    return ApprovedAdjustment(id, "P1", Decimal(amount), "rebate", "ann", approved_by)


def test_a_threshold_approval_holds_at_or_below_the_runs_threshold_in_absolute_value() -> None:
    assert ApprovalCheck(CAROL_DAVE)(adjustment("500", None))
    assert ApprovalCheck(CAROL_DAVE)(adjustment("-500", None))
    check = ApprovalCheck(CAROL_DAVE)
    assert not check(adjustment("-500.01", None, id=7))
    (refusal,) = check.refused
    assert refusal == Refusal(
        "adjustment",
        7,
        "a program's threshold approved it, but its amount -500.01, in absolute value, is over the "
        "require_approval_over of 500.00",
    )


def test_a_run_pays_a_partners_threshold_approvals_only_while_together_at_or_below_the_threshold() -> None:
    check = ApprovalCheck(CAROL_DAVE)
    assert check(adjustment("300", None, id=1))
    assert not check(adjustment("-300", None, id=2))  # a clawback counts by its absolute value
    assert check(adjustment("200", None, id=3))  # 300 + 200: what was refused does not count
    assert not check(adjustment("0.01", None, id=4))
    assert check(ApprovedAdjustment(5, "P2", Decimal("500"), "rebate", "ann", None))  # another partner
    assert check(adjustment("9000", "carol", id=6))  # a person's approval is not the threshold's
    assert [r.id for r in check.refused] == [2, 4]
    assert check.refused[1].why == (
        "a program's threshold approved it, but with adjustments 1 and 3 approved by the threshold, P1 "
        "would receive 500.01 above the require_approval_over of 500.00"
    )
    assert "would have 600.00 moved, in absolute value," in check.refused[0].why


def test_a_program_without_a_threshold_approves_nothing_by_threshold_and_without_approvers_anyone() -> None:
    for governance in (None, Governance(approvers=("carol",))):
        check = ApprovalCheck(governance)
        assert not check(adjustment("1", None))
        assert "has no require_approval_over" in check.refused[0].why
    check = ApprovalCheck(Governance(require_approval_over=Decimal("10")))
    assert check(adjustment("9000", "bob")) and check.refused == []


def test_a_persons_approval_holds_when_the_runs_program_names_them_whatever_the_spelling() -> None:
    check = ApprovalCheck(CAROL_DAVE)
    assert check(adjustment("9000", " Dave "))
    exception = TierException(3, "P6", "Gold", "2026-Q4", "launch", "ann", "eve")
    assert not check(exception)
    (refusal,) = check.refused
    assert (refusal.noun, refusal.id) == ("tier exception", 3)
    assert refusal.note().startswith("tier exception 3 is not applied: approved by eve, but eve is not among")


def test_two_sections_are_the_same_governance_whatever_the_order_or_case_of_the_approvers() -> None:
    assert same_governance(
        CAROL_DAVE, Governance(approvers=("Dave", "carol"), require_approval_over=Decimal("500.00"))
    )
    assert not same_governance(CAROL_DAVE, Governance(approvers=("carol", "dave")))
    assert same_governance(None, Governance())
    assert not same_governance(None, Governance(approvers=()))
