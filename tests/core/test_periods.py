from datetime import date

import pytest

from cosell.periods import Period


def test_quarter_and_month_bounds():
    q = Period.parse("2026-Q3")
    assert (q.start, q.end, q.kind) == (date(2026, 7, 1), date(2026, 9, 30), "quarter")
    m = Period.parse("2024-02")
    assert (m.start, m.end) == (date(2024, 2, 1), date(2024, 2, 29))


def test_next_previous_and_containing():
    assert Period.parse("2026-Q4").next().key == "2027-Q1"
    assert Period.parse("2026-01").previous().key == "2025-12"
    assert Period.containing(date(2026, 9, 30), "quarter").key == "2026-Q3"
    assert date(2026, 7, 1) in Period.parse("2026-Q3") and date(2026, 10, 1) not in Period.parse("2026-Q3")


@pytest.mark.parametrize("text", ["2026-Q0", "2026-13", "26-Q1", "2026Q1", ""])
def test_bad_period_text_is_refused(text):
    with pytest.raises(ValueError):
        Period.parse(text)


@pytest.mark.parametrize(("text", "canonical"), [("2026-q3", "2026-Q3"), (" 2026-q1 ", "2026-Q1")])
def test_a_quarter_written_with_a_lowercase_q_is_refused_saying_how_to_write_it(text, canonical):
    with pytest.raises(ValueError, match=f"is not a period: write it {canonical}$"):
        Period.parse(text)
