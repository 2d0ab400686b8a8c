"""Running the ``cosell`` command line inside a test."""

from typing import Any

from typer.testing import CliRunner, Result

from cosell.cli import app


def cosell(*args: Any) -> Result:
    """``cosell ARGS...`` in-process; the result has ``exit_code`` and ``output``."""
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(*args: Any) -> Result:
    """``cosell ARGS...`` that must succeed: a test fails showing the output when it exits otherwise."""
    result = cosell(*args)
    assert result.exit_code == 0, result.output
    return result


def run(ledger: str, *extra: Any) -> Result:
    """``cosell run`` of the bundled example in the ``work`` folder (program.yaml over data/, writing
    back to out/) on ``ledger``; must succeed."""
    return ok(
        "run", "--program", "program.yaml", "--input", "data", "--output", "out", "--ledger", ledger, *extra
    )


def explain(ledger: str, partner: str = "P001", period: str = "2026-Q3") -> Result:
    """``cosell explain`` of a partner of the bundled example in the ``work`` folder."""
    return cosell(
        "explain",
        partner,
        "--program",
        "program.yaml",
        "--input",
        "data",
        "--ledger",
        ledger,
        "--period",
        period,
    )
