"""A `cosell` command in a process of its own, held at its read of the ledger's history until the test
lets it go on: what another process does meanwhile happens while the run computes, for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_HELD = """
import os, pathlib, time
import cosell.engine as engine
history = engine._history
def wait():
    pathlib.Path(os.environ["READ_DONE"]).touch()
    while not pathlib.Path(os.environ["GO_ON"]).exists():
        time.sleep(0.05)
def held(*args, **kwargs):
    if os.environ["HELD_BEFORE_HISTORY"]:
        wait()
        return history(*args, **kwargs)
    read = history(*args, **kwargs)
    wait()
    return read
engine._history = held
from cosell.cli import main
main()
"""


@dataclass
class Ended:
    """How the held command ended, once the ``with`` block let it go on."""

    returncode: int | None = None
    output: str = ""
    errors: str = ""


@contextmanager
def held_run(
    args: Sequence[str],
    *,
    folder: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    before_history: bool = False,
) -> Iterator[Ended]:
    """Start ``cosell ARGS...`` and wait until it has read the ledger's history (``before_history``: read
    the CRM, about to read the history); the block runs while it waits, then it goes on and ends."""
    read_done, go_on = folder / "read", folder / "go"
    child = subprocess.Popen(
        [sys.executable, "-c", _HELD, *args],
        cwd=cwd,
        env={
            **os.environ,
            **(env or {}),
            "READ_DONE": str(read_done),
            "GO_ON": str(go_on),
            "HELD_BEFORE_HISTORY": "1" if before_history else "",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ended = Ended()
    try:
        deadline = time.monotonic() + 120
        while not read_done.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_done.exists(), child.communicate()
        yield ended
        go_on.touch()
        ended.output, ended.errors = child.communicate(timeout=180)
        ended.returncode = child.returncode
    finally:
        go_on.touch()
        if child.poll() is None:
            child.kill()
