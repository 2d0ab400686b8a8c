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
            return None
        approvers = None if g is None else g.approvers
        if not_approver(item.approved_by, approvers):
            assert approvers is not None
            return (
                f"approved by {item.approved_by}, but {item.approved_by} is not among its approvers "
                f"({', '.join(approvers) or 'none named'})"
            )
        return None
