"""Two runs of two periods overlap on one CRM: the later period's run read the CRM before the other run's
writes landed, and plans against what the CRM holds once it holds the write-back (not what it read)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cosell.fields import FieldValues, RecordKey
from cosell.program import Program
from cosell.records import RecordSet
from cosell.snapshot import SnapshotStore
from cosell.testing import MemoryConnector, deal, partner, program, run_program

PLAN = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}])


@dataclass
class SyncingCrm(MemoryConnector):
    """A CRM connector's shape: ``current_values`` answers from what the last read synced (its snapshot),
    ``fresh_values`` from the CRM itself. ``during_read`` runs once, right after a read synced."""

    synced: dict[RecordKey, dict[str, str | None]] = field(default_factory=dict)
    during_read: Callable[[], object] | None = None

    def read(self, program: Program, ledger: SnapshotStore) -> RecordSet:
        self.synced = {key: dict(values) for key, values in self.fields.items()}
        hook, self.during_read = self.during_read, None
        if hook is not None:
            hook()
        return self.records

    def current_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        return {key: dict(self.synced[key]) for key in keys if key in self.synced}

    def fresh_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        return {key: dict(self.fields[key]) for key in keys if key in self.fields}


def test_a_run_plans_against_what_another_periods_run_wrote_after_it_read_the_crm(cosell_ledger):
    crm = SyncingCrm(records=None)  # type: ignore[arg-type]
    open_deal = [deal("D1", "2000", partners=["P1"])]
    late_win = [deal("D1", "2000", partners=["P1"], won_on="2026-09-20")]
    run_program(PLAN, [partner("P1")], open_deal, ledger=cosell_ledger, period="2026-Q3", connector=crm)
    assert crm.fields[("account", "P1")]["period_earnings"] == "0.00"

    def q3_rerun_lands() -> None:  # a late Q3 win, run again while the Q4 run computes
        run_program(PLAN, [partner("P1")], late_win, ledger=cosell_ledger, period="2026-Q3", connector=crm)
        assert crm.fields[("account", "P1")]["period_earnings"] == "200.00"

    crm.during_read = q3_rerun_lands
    q4 = run_program(PLAN, [partner("P1")], late_win, ledger=cosell_ledger, period="2026-Q4", connector=crm)
    assert crm.during_read is None  # the Q3 rerun did run in between
    # the latest period's values stand, not those of the older period written while the Q4 run computed
    assert q4.report.partners[0]["earnings"] == "0.00"
    assert crm.fields[("account", "P1")]["period_earnings"] == "0.00"
