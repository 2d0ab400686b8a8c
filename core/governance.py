"""Whose governance decides: the program the ledger pays under.

Approvals of adjustments and tier exceptions are taken by people who hand in a program file, or none;
the program that pays is the one a run computes with. So the threshold and the approvers a decision is
checked against are those of the program the ledger's latest run computed with (``cosell runs``), and a
run checks again every approval it is about to pay against its own program's governance: what that
governance would not have approved is not paid, and goes back to pending (docs/governance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .money import show
from .program import Governance
from .results import ApprovedAdjustment, TierException


def same_person(a: str, b: str) -> bool:
    """Whether two names people typed are one person's ("Ann" and "ann " are)."""
    return a.strip().casefold() == b.strip().casefold()


def same_governance(a: Governance | None, b: Governance | None) -> bool:
    """Whether two governance sections decide alike: the same approvers (whatever their order, case or
    surrounding spaces) and the same threshold. No section decides as an empty one."""

    def decides(g: Governance | None) -> tuple[frozenset[str] | None, object]:
        if g is None:
            return None, None
        names = None if g.approvers is None else frozenset(n.strip().casefold() for n in g.approvers)
        return names, g.require_approval_over

    return decides(a) == decides(b)


def described(governance: Governance | None) -> str:
    """A governance section in a few words, for a message comparing two."""
    if governance is None or (governance.approvers is None and governance.require_approval_over is None):
        return "no governance"
    parts = []
    if governance.approvers is not None:
        parts.append(f"approvers ({', '.join(governance.approvers) or 'none named'})")
    if governance.require_approval_over is not None:
        parts.append(f"require_approval_over {show(governance.require_approval_over)}")
    return ", ".join(parts)


def not_approver(by: str, approvers: Sequence[str] | None) -> bool:
    """Whether ``by`` may not approve under a list of approvers (None: no list, anyone may)."""
    return approvers is not None and not any(same_person(by, name) for name in approvers)


def named(ids: Sequence[int]) -> str:
    """``adjustment 1``, ``adjustments 1 and 2``, ``adjustments 1, 2 and 3``."""
    texts = [str(i) for i in ids]
    if len(texts) == 1:
        return f"adjustment {texts[0]}"
    return f"adjustments {', '.join(texts[:-1])} and {texts[-1]}"


def over_threshold(
    partner_id: str,
    earlier: Sequence[tuple[int, Decimal]],
    amount: Decimal,
    threshold: Decimal,
    limit: str = "the threshold",
) -> str | None:
    """Why the threshold does not approve ``amount`` for ``partner_id`` (None: it does), given the
    ``earlier`` (id, amount) of the partner the threshold approved and not yet paid for good: together,
    this one included, they may move at most the threshold, each counted by its absolute value (a
    clawback moves money as a payment does). Splitting an amount into parts at or below the threshold
    would otherwise pay it whole with no second person. ``limit`` names the threshold in the message."""
    total = abs(amount) + sum((abs(a) for _, a in earlier), Decimal(0))
    if total <= threshold or not earlier:
        return None
    signed = amount < 0 or any(a < 0 for _, a in earlier)
    moved = (
        f"would have {show(total)} moved, in absolute value," if signed else f"would receive {show(total)}"
    )
    return (
        f"with {named([i for i, _ in earlier])} approved by the threshold, {partner_id} {moved} above "
        f"{limit} of {show(threshold)}"
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    """An approval the governance of a run's program would not have given: ``noun`` is ``adjustment``
    or ``tier exception``; ``why`` says what that governance says of it."""

    noun: str
    id: int
    why: str

    def note(self) -> str:
        """What the run says of it (a dry run too)."""
        paid = "paid" if self.noun == "adjustment" else "applied"
        return (
            f"{self.noun} {self.id} is not {paid}: {self.why}, under the governance of the program this "
            "run computes with; a run that stores sets it back to pending, for an approver to approve"
        )


@dataclass(slots=True)
class ApprovalCheck:
    """The check a run makes of each approved adjustment and tier exception it is about to pay or apply,
    against ``governance``, its own program's: called with each, it says whether the run may use it and
    keeps in ``refused`` what it may not."""

    governance: Governance | None
    refused: list[Refusal] = field(default_factory=list)
    by_threshold: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)
    """Per partner, the (id, amount) of the adjustments the threshold approved that the run pays so far."""

    def __call__(self, item: ApprovedAdjustment | TierException) -> bool:
        why = self._why(item)
        if why is not None:
            noun = "adjustment" if isinstance(item, ApprovedAdjustment) else "tier exception"
            self.refused.append(Refusal(noun, item.id, why))
        return why is None

    def _why(self, item: ApprovedAdjustment | TierException) -> str | None:
        g = self.governance
        if item.approved_by is None:  # an adjustment a program's threshold approved on proposal
            assert isinstance(item, ApprovedAdjustment)
            threshold = None if g is None else g.require_approval_over
            if threshold is None:
                return "a program's threshold approved it, but this program has no require_approval_over"
            if abs(item.amount) > threshold:
                amount = show(item.amount) + (", in absolute value," if item.amount < 0 else "")
                return (
                    f"a program's threshold approved it, but its amount {amount} is over the "
                    f"require_approval_over of {show(threshold)}"
                )
            earlier = self.by_threshold.setdefault(item.partner_id, [])
            split = over_threshold(
                item.partner_id, earlier, item.amount, threshold, "the require_approval_over"
            )
            if split is not None:
                return f"a program's threshold approved it, but {split}"
            earlier.append((item.id, item.amount))
            return None
        approvers = None if g is None else g.approvers
        if not_approver(item.approved_by, approvers):
            assert approvers is not None
            return (
                f"approved by {item.approved_by}, but {item.approved_by} is not among its approvers "
                f"({', '.join(approvers) or 'none named'})"
            )
        return None
