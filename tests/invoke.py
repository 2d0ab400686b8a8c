"""Running the ``cosell`` command line inside a test."""

from typing import Any

from typer.testing import CliRunner, Result

from cosell.cli import app


def cosell(*args: Any) -> Result:
    """``cosell ARGS...`` in-process; the result has ``exit_code`` and ``output``."""
    return CliRunner().invoke(app, [str(a) for a in args])
