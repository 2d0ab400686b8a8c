"""The outbox stores values as json.dumps writes them, and marks confirmed writes by ranges of consecutive ids: exactly the ids given, whatever their
gaps, order or repeats, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosell.connector import FieldWrite
from cosell.ledger import Ledger, _id_ranges, _values_text
from cosell.periods import Period

TARGET = "files:/tmp/out"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.connect(ledger_url) as opened:
        yield opened


def store_writes(ledger: Ledger, writes: list[FieldWrite]) -> None:
    """A run of 2026-Q3 that stores nothing but ``writes``, pending for TARGET."""
    ledger.record_run(
        period=Period.parse("2026-Q3"),
        program="p",
        connector="files",
        target=TARGET,
        lines=(),
        standings=(),
        projections=(),
        writes=writes,
    )


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=40))
def test_ranges_cover_exactly_the_ids_given(ids: list[int]) -> None:
    ranges = _id_ranges(ids)
    covered = [i for low, high in ranges for i in range(low, high + 1)]
    assert covered == sorted(set(ids))
    assert all(b[0] > a[1] + 1 for a, b in itertools.pairwise(ranges))  # fewest: never adjacent


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picked=st.lists(st.integers(min_value=0, max_value=29), max_size=30))
def test_marking_written_sets_done_on_exactly_the_ids_given(ledger: Ledger, picked: list[int]) -> None:
    writes = [FieldWrite("deal", f"D{i}", {"incentive": "1.00"}) for i in range(30)]
    store_writes(ledger, writes)
    pending = ledger.pending_writes(TARGET)
    chosen = {pending[i].id for i in picked}
    ledger.mark_written([pending[i].id for i in picked])
    assert {i.id for i in ledger.pending_writes(TARGET)} == {i.id for i in pending} - chosen


@given(
    st.dictionaries(
        st.text() | st.integers(),
        st.none() | st.text() | st.integers() | st.booleans() | st.lists(st.text(), max_size=2),
        max_size=5,
    )
)
def test_outbox_values_are_stored_as_the_json_text_json_dumps_gives(values: dict[object, object]) -> None:
    assert _values_text(values) == json.dumps(values, ensure_ascii=False, separators=(",", ":"))  # type: ignore[arg-type]


def test_old_values_shared_by_writes_are_stored_as_each_writes_own_would_be(ledger: Ledger) -> None:
    none = MappingProxyType(dict.fromkeys(("incentive", "note")))
    other = MappingProxyType({"incentive": "2.00", "note": None})
    olds = [none, {"incentive": "1.00", "note": "é"}, other, none, dict(none), other, {}]
    writes = [FieldWrite("deal", f"D{i}", {"incentive": "3.00"}, old) for i, old in enumerate(olds)]
    store_writes(ledger, writes)
    stored = [item.write.old for item in ledger.outbox()]
    assert stored == [dict(old) for old in olds]
