"""A run whose lock is gone sends nothing more: on PostgreSQL the period and target locks live in a session
the server may close (idle_session_timeout, pg_terminate_backend, a pooler), and another run of the same
period then goes ahead; the write-back checks its locks and its rows before each batch, and stops (exit 5)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from cosell.computation import Silent
from cosell.connector import FieldWrite, RecordKey, WriteOutcome
from cosell.errors import LockHeldError
from cosell.ledger import Ledger
from cosell.outbox import write_pending
from cosell.periods import Period

TARGET = "crm:test-org"


class Recording:
    """A connector that keeps what it is sent, two records a batch; ``after_first`` runs after the first batch."""

    name = "fake"
    write_batch_size = 2

    def __init__(self, after_first: object = None) -> None:
        self.sent: list[FieldWrite] = []
        self.after_first = after_first

    def current_values(self, keys: Sequence[RecordKey]) -> dict[RecordKey, dict[str, object]]:
        return {}

    def write(self, batch: Sequence[FieldWrite]) -> list[WriteOutcome]:
        first = not self.sent
        self.sent.extend(batch)
        if first and callable(self.after_first):
            self.after_first()
        return [WriteOutcome(w.key, True) for w in batch]


def store(ledger: Ledger, amount: str) -> tuple[int, list[FieldWrite]]:
    writes = [FieldWrite("deal", f"D{i}", {"incentive": amount}) for i in range(6)]
    run_id = ledger.record_run(
        period=Period.parse("2026-Q3"), program="p", connector="fake", target=TARGET, lines=(),
        standings=(), projections=(), writes=writes,
    )  # fmt: skip
    return run_id, writes


def terminate_lock_sessions(url: str, ledger: Ledger) -> int:
    """End, from another session, the sessions holding ``ledger``'s period and target locks (as a DBA
    or a server's idle_session_timeout would)."""
    keys = [ledger._pg_key("period:2026-Q3"), ledger._pg_key(_target_token())]
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            pids = [
                conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
                    ),
                    {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
                ).scalar_one()
                for key in keys
            ]
            for pid in set(pids):
                conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
    finally:
        engine.dispose()
    return len(set(pids))


def _target_token() -> str:
    import hashlib

    return "target-" + hashlib.sha256(TARGET.encode()).hexdigest()[:16]


@pytest.fixture
def ledger(postgres_url: str) -> Iterator[Ledger]:
    with Ledger.connect(postgres_url) as opened:
        yield opened


@pytest.mark.postgres
def test_a_write_back_whose_lock_session_was_terminated_stops_with_exit_5_sending_nothing(
    ledger: Ledger, postgres_url: str
) -> None:
    connector = Recording()
    with ledger.hold_period("2026-Q3", 0), ledger.hold_target(TARGET, 0):
        stored = store(ledger, "1.00")
        assert terminate_lock_sessions(postgres_url, ledger) >= 1
        with pytest.raises(LockHeldError) as info:
            write_pending(connector, ledger, TARGET, Silent(), stored)  # type: ignore[arg-type]
    assert info.value.exit_code == 5
    assert "lock on" in str(info.value) and "was lost" in str(info.value)
    assert connector.sent == []
    assert len(ledger.pending_writes(TARGET)) == 6  # left for the next run


@pytest.mark.postgres
def test_a_run_whose_lock_session_was_terminated_stores_nothing(ledger: Ledger, postgres_url: str) -> None:
    with ledger.hold_period("2026-Q3", 0), ledger.hold_target(TARGET, 0):
        assert terminate_lock_sessions(postgres_url, ledger) >= 1
        with pytest.raises(LockHeldError, match="was lost"):
            store(ledger, "1.00")
    assert ledger.outbox() == [] and ledger.period_status("2026-Q3") is None


def test_a_write_back_stops_when_another_run_superseded_its_rows_meanwhile(ledger_url: str) -> None:
    """Once its rows are superseded (another run of the target stored since), the run sends no more of
    them: the later run's values are the ones to land."""
    with Ledger.connect(ledger_url) as ledger, Ledger.connect(ledger_url) as other:
        connector = Recording(after_first=lambda: store(other, "2.00"))
        stored = store(ledger, "1.00")
        with pytest.raises(LockHeldError, match="superseded"):
            write_pending(connector, ledger, TARGET, Silent(), stored)  # type: ignore[arg-type]
        assert [w.values["incentive"] for w in connector.sent] == ["1.00", "1.00"]  # the first batch only
        assert [item.write.values["incentive"] for item in ledger.pending_writes(TARGET)] == ["2.00"] * 6


class InParts(Recording):
    """Sends each batch in calls of one record (as Salesforce sends collections of 200 within a batch of
    10,000); ``between`` runs after the first call."""

    write_batch_size = 6

    def __init__(self, between: object) -> None:
        super().__init__()
        self.between = between
        self.check: object = None

    def check_before_each_call(self, check: object) -> None:
        self.check = check

    def write(self, batch: Sequence[FieldWrite]) -> list[WriteOutcome]:
        for write in batch:
            if callable(self.check):
                self.check()
            self.sent.append(write)
            if len(self.sent) == 1 and callable(self.between):
                self.between()
        return [WriteOutcome(w.key, True) for w in batch]


@pytest.mark.postgres
def test_a_connector_sending_a_batch_in_parts_stops_at_the_next_part_once_the_lock_is_lost(
    ledger: Ledger, postgres_url: str
) -> None:
    connector = InParts(between=lambda: terminate_lock_sessions(postgres_url, ledger))
    with ledger.hold_period("2026-Q3", 0), ledger.hold_target(TARGET, 0):
        stored = store(ledger, "1.00")
        with pytest.raises(LockHeldError, match="was lost"):
            write_pending(connector, ledger, TARGET, Silent(), stored)  # type: ignore[arg-type]
    assert len(connector.sent) == 1  # the part sent before the lock was lost, nothing after
    assert connector.check is None  # the check is taken back once the write-back ends
