"""One context manager for the steps that build millions of small objects."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small, acyclic objects are built (records
    read, lines computed, rows loaded): its passes over them would cost about as much as building them
    and could free nothing. Reference counting still frees what is dropped. The collector is enabled
    again afterwards only if it was enabled before, so pauses nest."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
