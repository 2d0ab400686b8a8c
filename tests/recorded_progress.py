"""A Progress that records each step, its total and what it was advanced by (for tests of progress)."""

from __future__ import annotations

from collections.abc import Callable


class RecordedProgress:
    def __init__(self) -> None:
        self.steps: list[tuple[str, int | None, list[int]]] = []

    def step(self, name: str, total: int | None = None) -> Callable[[int], None]:
        advanced: list[int] = []
        self.steps.append((name, total, advanced))
        return advanced.append
