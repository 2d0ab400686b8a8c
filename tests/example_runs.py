"""Runs of the bundled example from the command line, in a test's working folder (the ``work`` fixture)."""

from invoke import cosell


def run(*extra: str) -> None:
    """``cosell run`` of the example's program and data, writing back to ``out/``."""
    result = cosell("run", "--program", "program.yaml", "--input", "data", "--output", "out", *extra)
    assert result.exit_code == 0, result.output


def two_periods() -> None:
    """2026-Q2 run and closed, then 2026-Q3: D2005's refund claws back its Q2 commission."""
    run("--period", "2026-Q2")
    assert cosell("close", "--period", "2026-Q2").exit_code == 0
    run()
