"""A connector that writes locally (the files connector: its output folder) has each batch marked
written beside the write, in a transaction committed only once the connector confirmed every write.
Until then every reader sees the rows pending; a write refused, an exception or a killed process leaves
them pending (or failed, with the target's error), as when the batch is marked after it is sent. On
SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest

from cosell.computation import Silent
from cosell.connector import FieldWrite, RecordKey, WriteOutcome
from cosell.ledger import Ledger, outbox_table
from cosell.outbox import write_pending
from cosell.periods import Period

TARGET = "files:/tmp/out"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def store(ledger: Ledger, count: int = 10) -> tuple[int, list[FieldWrite]]:
    writes = [FieldWrite("deal", f"D{i}", {"incentive": f"{i}.00"}) for i in range(count)]
    run_id = ledger.record_run(
        period=Period.parse("2026-Q3"), program="p", connector="local", target=TARGET, lines=(),
        standings=(), projections=(), writes=writes,
    )  # fmt: skip
    return run_id, writes


def statuses(url: str) -> list[str]:
    """The outbox's statuses as another connection reads them."""
    with Ledger.connect(url) as other:
        return [item.status for item in other.outbox()]


class Local:
    """Writes locally, four records a batch; notes the statuses another connection reads during each
    write; refuses the records in ``refused``; raises ``fails`` on the batch holding ``fails_on``."""

    name = "local"
    write_batch_size = 4
    writes_locally = True

    def __init__(self, url: str, refused: Sequence[str] = (), fails_on: str | None = None) -> None:
        self.url, self.refused, self.fails_on = url, set(refused), fails_on
        self.seen: list[list[str]] = []

    def current_values(self, keys: Sequence[RecordKey]) -> dict[RecordKey, dict[str, object]]:
        return {}

    def write(self, batch: Sequence[FieldWrite]) -> list[WriteOutcome]:
        self.seen.append(statuses(self.url))
        if any(w.record_id == self.fails_on for w in batch):
            raise KeyboardInterrupt("killed while writing")
        return [
            WriteOutcome(
                w.key, w.record_id not in self.refused, "refused" if w.record_id in self.refused else None
            )
            for w in batch
        ]


def test_a_local_batch_is_pending_to_every_reader_while_it_is_written_and_done_once_confirmed(
    ledger: Ledger, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def marked_after_sending(*args: object) -> None:
        raise AssertionError("a local batch is marked beside its write, not after it")

    monkeypatch.setattr(Ledger, "mark_written", marked_after_sending)
    connector = Local(ledger_url)
    stored = store(ledger)
    written, failures = write_pending(connector, ledger, TARGET, Silent(), stored)  # type: ignore[arg-type]
    assert (written, failures) == (10, [])
    assert connector.seen == [
        ["pending"] * 10,
        ["done"] * 4 + ["pending"] * 6,
        ["done"] * 8 + ["pending"] * 2,
    ]
    assert statuses(ledger_url) == ["done"] * 10


def test_a_refused_local_write_is_kept_failed_with_its_error_and_the_rest_of_its_batch_done(
    ledger: Ledger, ledger_url: str
) -> None:
    connector = Local(ledger_url, refused=["D5"])
    written, failures = write_pending(connector, ledger, TARGET, Silent(), store(ledger))  # type: ignore[arg-type]
    assert (written, failures) == (9, ["deal D5: refused"])
    assert statuses(ledger_url) == ["done"] * 5 + ["failed"] + ["done"] * 4
    assert [item.error for item in ledger.outbox() if item.status == "failed"] == ["refused"]


def test_a_local_write_that_raises_leaves_its_batch_and_the_later_ones_pending(
    ledger: Ledger, ledger_url: str
) -> None:
    connector = Local(ledger_url, fails_on="D6")
    with pytest.raises(KeyboardInterrupt):
        write_pending(connector, ledger, TARGET, Silent(), store(ledger))  # type: ignore[arg-type]
    assert statuses(ledger_url) == ["done"] * 4 + ["pending"] * 6


def test_marking_beside_a_write_marks_none_of_the_rows_when_one_was_superseded_before_it_began(
    ledger: Ledger,
) -> None:
    store(ledger, 4)
    ids = [item.id for item in ledger.pending_writes(TARGET)]
    with ledger._write() as conn:  # another run superseded one row meanwhile
        conn.execute(outbox_table.update().where(outbox_table.c.id == ids[1]).values(status="superseded"))
    with ledger.marking_written(ids) as commit:
        assert commit() is False
    assert [item.status for item in ledger.outbox()] == ["pending", "superseded", "pending", "pending"]
    ledger.mark_written(ids)  # as the outbox then marks them: the superseded row stays so
    assert [item.status for item in ledger.outbox()] == ["done", "superseded", "done", "done"]


def test_marking_beside_a_write_leaves_the_rows_pending_when_the_block_ends_without_confirming(
    ledger: Ledger,
) -> None:
    store(ledger, 3)
    ids = [item.id for item in ledger.pending_writes(TARGET)]
    with ledger.marking_written(ids):
        pass
    assert [item.status for item in ledger.outbox()] == ["pending"] * 3
    with ledger.marking_written(ids) as commit:
        assert commit() is True
    assert [item.status for item in ledger.outbox()] == ["done"] * 3


KILLED_WHILE_MARKING = """
import os, signal, sys, time
from cosell.connector import FieldWrite
from cosell.ledger import Ledger
from cosell.periods import Period
ledger = Ledger.connect(sys.argv[1])
writes = [FieldWrite("deal", f"D{i}", {"incentive": "1.00"}) for i in range(20_000)]
ledger.record_run(period=Period.parse("2026-Q3"), program="p", connector="files", target="T",
                  lines=[], standings=[], projections=[], writes=writes)
ids = [item.id for item in ledger.pending_writes("T")]
with ledger.marking_written(ids) as commit:
    if sys.argv[2] == "confirmed":
        assert commit()
    time.sleep(1.0)  # the rows are marked meanwhile, in a transaction not committed unless confirmed
    print("killed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize(("confirmed", "left"), [("unconfirmed", "pending"), ("confirmed", "done")])
def test_a_process_killed_while_marking_beside_a_write_leaves_the_rows_as_the_target_confirmed_them(
    ledger_url: str, confirmed: str, left: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_WHILE_MARKING), ledger_url, confirmed],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout == "killed\n"
    assert Counter(statuses(ledger_url)) == {left: 20_000}
