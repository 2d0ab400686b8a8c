"""A statement's projection of open deals is commission before the caps: for a partner whose period's lines
already reach the per-partner cap, the statement says so beside it, and the CRM's deal field is unchanged."""

from __future__ import annotations

from example_runs import two_periods
from invoke import ok

BESIDE = "before the per-partner cap of 50,000.00, which your lines this period already reach"


def _statement(partner: str) -> str:
    return ok("statement", "--period", "2026-Q3", "--partner", partner, "--format", "html").stdout


def test_a_projection_of_a_partner_already_at_its_cap_says_the_cap_is_reached(work):
    two_periods()
    at_cap = _statement("P002")  # capped from 63,600.00 to 50,000.00; 51,360.00 projected
    assert "capped from 63,600.00 to 50,000.00" in at_cap and "51,360.00" in at_cap
    assert at_cap.count(BESIDE) == 2  # the Projected card and the projections' subtotal
    under = _statement("P001")  # within the cap: its projection is what it reads
    assert "Projected, not paid" in under and "already reach" not in under
    # the CRM's deal field keeps its contract (the commission before caps): out-deals.csv in the golden
    # files (tests/e2e/test_example_golden.py) is unchanged
