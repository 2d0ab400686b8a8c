"""``cosell audit``: every line, adjustment, tier decision and discard of a range of periods, each with
the run that made it and the sha256 of the program that run computed with.

Each kind of record comes from one small function of :data:`AUDIT_SOURCES`; another kind of record adds
its rows by appending one function that takes the :class:`AuditScope` and yields :class:`AuditRow`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .periods import Period

if TYPE_CHECKING:
    from .ledger import Ledger


NOT_RECORDED = "not recorded"
"""The program digest of a run recorded before the ledger kept run records."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audited fact. ``record`` says what it is (``line``, ``tier``, ``adjustment``, ``tier_exception``,
    ``discard``);
    ``kind`` what happened (a line's kind, the tier assigned, an adjustment's action); ``ref`` the id of
    the record it belongs to (a line's position, an adjustment's or a discard's id)."""

    record: str
    period: str | None
    run_id: int | None
    program_sha256: str | None
    partner_id: str | None = None
    kind: str = ""
    deal_id: str | None = None
    amount: Decimal | None = None
    by: str | None = None
    at: str | None = None
    text: str = ""
    ref: str = ""

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["amount"] = None if self.amount is None else f"{self.amount:.2f}"
        return row


AUDIT_COLUMNS = tuple(AuditRow.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class AuditScope:
    """What a row source reads: the ledger, the periods of the range holding results (oldest first,
    keys), the run whose results each holds, and the program digest of every run."""

    ledger: Ledger
    start: Period
    end: Period
    periods: tuple[str, ...] = ()
    latest_runs: Mapping[str, int] = field(default_factory=dict)
    digests: Mapping[int, str | None] = field(default_factory=dict)

    def covers(self, period: str | None) -> bool:
        if period is None:
            return False
        try:
            start = Period.parse(period).start
        except ValueError:
            return False
        return self.start.start <= start <= self.end.end

    def covers_day(self, day: date) -> bool:
        return self.start.start <= day <= self.end.end

    def digest(self, run_id: int | None) -> str | None:
        """The run's program sha256; NOT_RECORDED for a run recorded before run records; None for no run."""
        if run_id is None:
            return None
        return self.digests.get(run_id) or NOT_RECORDED

    def period_row(self, record: str, period: str, **facts: Any) -> AuditRow:
        """A row of a fact the period's current results hold (a line, a tier decision): its run is the
        period's latest."""
        run_id = self.latest_runs.get(period)
        return AuditRow(record, period, run_id, self.digest(run_id), **facts)


RowSource = Callable[[AuditScope], Iterable[AuditRow]]


def line_rows(scope: AuditScope) -> Iterator[AuditRow]:
    """Every payout line of the periods, in stored order."""
    for period in scope.periods:
        for seq, line in enumerate(scope.ledger.lines(period)):
            yield scope.period_row(
                "line",
                period,
                partner_id=line.partner_id,
                kind=line.kind,
                deal_id=line.deal_id,
                amount=line.amount,
                text=line.explanation,
                ref=str(seq),
            )


def tier_rows(scope: AuditScope) -> Iterator[AuditRow]:
    """Every tier decision: the tier assigned, the reason, the score and the eligible tier."""
    for period in scope.periods:
        for standing in scope.ledger.standings(period):
            yield scope.period_row(
                "tier",
                period,
                partner_id=standing.partner_id,
                kind=standing.assigned,
                text=f"{standing.reason} (score {standing.score}, eligible {standing.eligible})",
            )


def adjustment_rows(scope: AuditScope) -> Iterator[AuditRow]:
    """Every event of each adjustment that belongs to, or was paid in, a period of the range (one
    without a period, not paid yet: proposed within the range's dates): who proposed, approved, rejected, when, and
    the run that applied it (a rerun that pays it again adds its ``reapplied`` event: the latest such row
    names the run whose line holds the payment)."""
    run_periods: dict[int, str | None] = {}

    def period_of_run(run_id: int) -> str | None:
        if run_id not in run_periods:
            run = scope.ledger.stored_run(run_id)
            run_periods[run_id] = None if run is None else run.period
        return run_periods[run_id]

    for adjustment in scope.ledger.adjustments():
        belongs = scope.covers(adjustment.period) or scope.covers(adjustment.applied_period)
        if adjustment.period is None and adjustment.applied_period is None:
            belongs = scope.covers_day(date.fromisoformat(adjustment.proposed_at[:10]))
        for event in scope.ledger.adjustment_events(adjustment.id):
            run_id = event.run_id  # the run that (re)applied or unapplied it; none for a person's decision
            # A run's event belongs to the period of that run (paid in 2026-Q3, unapplied when 2026-Q3
            # was discarded, paid again in 2026-Q4); a person's decision to the adjustment's period (a
            # correction to a closed 2026-Q3 paid in 2026-Q4 is decided for 2026-Q3), or, for one
            # without a period, to the period that paid it
            period = adjustment.period or adjustment.applied_period
            if run_id is not None:
                period = period_of_run(run_id) or adjustment.applied_period or period
                if not scope.covers(period):
                    continue
            elif not belongs:
                continue
            by = event.actor
            if by is None and event.action == "approved":
                by = "program threshold"
            yield AuditRow(
                "adjustment",
                period,
                run_id,
                scope.digest(run_id),
                partner_id=adjustment.partner_id,
                kind=event.action,
                deal_id=adjustment.deal_id,
                amount=adjustment.amount,
                by=by,
                at=event.at,
                text=event.reason or adjustment.reason,
                ref=str(adjustment.id),
            )


def discard_rows(scope: AuditScope) -> Iterator[AuditRow]:
    """Every discard of a period of the range: one row per partner whose lines it removed (count and
    total), one row when it removed none."""
    for discard in scope.ledger.discards():
        if not scope.covers(discard.period):
            continue
        digest = scope.digest(discard.run_id)
        partners = discard.partners.items() or [(None, (0, None))]
        for partner_id, (count, total) in partners:
            yield AuditRow(
                "discard",
                discard.period,
                discard.run_id,
                digest,
                partner_id=partner_id,
                kind="discarded",
                amount=total,
                by=discard.by,
                at=discard.at,
                text=f"{count} line(s) removed: {discard.reason}",
                ref=str(discard.id),
            )


def exception_rows(scope: AuditScope) -> Iterator[AuditRow]:
    """Every event of each tier exception that could shape a period of the range: its last period is not
    before the range's first, and it was proposed within the range's dates or before a run of the range
    (the body decides after a quarter's first run, and the rerun applies it)."""
    run_starts = [
        run.started_at for run_id in scope.latest_runs.values() if (run := scope.ledger.stored_run(run_id))
    ]
    for exception in scope.ledger.tier_exceptions():
        try:
            until = Period.parse(exception.until)
        except ValueError:
            continue
        proposed = exception.proposed_at
        before_a_run = any(started >= proposed for started in run_starts)
        if until.end < scope.start.start or not (
            scope.covers_day(date.fromisoformat(proposed[:10])) or before_a_run
        ):
            continue
        for event in scope.ledger.tier_exception_events(exception.id):
            yield AuditRow(
                "tier_exception",
                exception.until,
                event.run_id,
                scope.digest(event.run_id),
                partner_id=exception.partner_id,
                kind=event.action,
                by=event.actor,
                at=event.at,
                text=f"at least {exception.tier} through {exception.until}: {event.reason or exception.reason}",
                ref=str(exception.id),
            )


AUDIT_SOURCES: list[RowSource] = [line_rows, tier_rows, adjustment_rows, exception_rows, discard_rows]
"""The row sources of ``cosell audit``, in the order their rows are listed."""


def audit_rows(
    ledger: Ledger, start: Period, end: Period, sources: Sequence[RowSource] | None = None
) -> Iterator[AuditRow]:
    """The audit of the periods from ``start`` to ``end`` (both included), source by source."""
    scope = AuditScope(ledger, start, end)
    periods = tuple(p for p, _ in ledger.periods() if scope.covers(p))
    latest = {p: run.id for p in periods if (run := ledger.latest_run(p)) is not None}
    scope = AuditScope(ledger, start, end, periods, latest, ledger.program_digests())
    for source in AUDIT_SOURCES if sources is None else sources:
        yield from source(scope)
