"""The audit's rows: each fact with the run that made it and that run's program digest; another kind of
record joins the audit with one row source."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from test_ledger_runs import line, provenance, store

from cosell.audit import AUDIT_SOURCES, NOT_RECORDED, AuditRow, AuditScope, audit_rows
from cosell.ledger import Ledger
from cosell.periods import Period

Q2, Q3, Q4 = (Period.parse(f"2026-Q{q}") for q in (2, 3, 4))


def test_lines_carry_their_periods_latest_run_and_its_program_digest_or_not_recorded() -> None:
    with Ledger.connect("sqlite://") as ledger:
        old = store(ledger, Q2, line("P1", "1.00"))  # a run stored without a record
        store(ledger, Q3, line("P1", "2.00"))
        rerun = store(
            ledger, Q3, line("P1", "3.00"), line("P2", "-0.50", "clawback"), run=provenance(P1="3.00")
        )
        rows = list(audit_rows(ledger, Q2, Q3))
    assert [
        (r.record, r.period, r.run_id, r.program_sha256, r.partner_id, r.kind, r.amount) for r in rows
    ] == [
        ("line", "2026-Q2", old, NOT_RECORDED, "P1", "commission", Decimal("1.00")),
        ("line", "2026-Q3", rerun, provenance().program_sha256, "P1", "commission", Decimal("3.00")),
        ("line", "2026-Q3", rerun, provenance().program_sha256, "P2", "clawback", Decimal("-0.50")),
    ]
    assert rows[2].as_dict()["amount"] == "-0.50"


def test_another_kind_of_record_joins_the_audit_with_one_row_source() -> None:
    def exception_rows(scope: AuditScope) -> Iterator[AuditRow]:
        for period in scope.periods:
            yield scope.period_row("tier_exception", period, partner_id="P1", kind="Gold", by="carol")

    with Ledger.connect("sqlite://") as ledger:
        run = store(ledger, Q3, line("P1", "2.00"), run=provenance())
        store(ledger, Q4, run=provenance())
        rows = list(audit_rows(ledger, Q3, Q3, [*AUDIT_SOURCES, exception_rows]))
    assert [(r.record, r.run_id, r.by) for r in rows] == [
        ("line", run, None),
        ("tier_exception", run, "carol"),
    ]


def test_tier_exceptions_are_audited_with_who_proposed_approved_and_rejected_them() -> None:
    with Ledger.connect("sqlite://") as ledger:
        store(ledger, Q3, line("P1", "2.00"), run=provenance())
        granted = ledger.propose_tier_exception(
            partner_id="P1", tier="Gold", until=Q4, reason="launch", by="ann"
        )
        ledger.approve_tier_exception(granted.id, by="carol")
        refused = ledger.propose_tier_exception(
            partner_id="P2", tier="Gold", until=Q3, reason="ask", by="ann"
        )
        ledger.reject_tier_exception(refused.id, by="dave", reason="earn it")
        store(ledger, Q3, line("P1", "2.00"), run=provenance())  # the rerun that applies the exception
        rows = [r for r in audit_rows(ledger, Q3, Q3) if r.record == "tier_exception"]
        assert list(audit_rows(ledger, Q2, Q2)) == []  # no run of 2026-Q2 came after them
    assert [(r.partner_id, r.kind, r.by, r.text, r.ref) for r in rows] == [
        ("P1", "proposed", "ann", "at least Gold through 2026-Q4: launch", str(granted.id)),
        ("P1", "approved", "carol", "at least Gold through 2026-Q4: launch", str(granted.id)),
        ("P2", "proposed", "ann", "at least Gold through 2026-Q3: ask", str(refused.id)),
        ("P2", "rejected", "dave", "at least Gold through 2026-Q3: earn it", str(refused.id)),
    ]
