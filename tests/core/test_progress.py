"""Progress on every long step of a run: the engine's steps in order, a connector told where to show its
own (records read, retries), and the terminal bars counting a step that has no total."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TextColumn

from cosell.cli import _Bars
from cosell.computation import Progress as RunProgress
from cosell.connectors.files import FilesConnector
from cosell.engine import run
from cosell.ledger import Ledger
from cosell.pluginmanager import Plugins
from cosell.program import Program, load_program
from cosell.records import RecordSet
from recorded_progress import RecordedProgress

ROOT = Path(__file__).resolve().parents[2]


class Watched(FilesConnector):
    """The files connector, noting the progress the engine hands it before reading."""

    given: RunProgress | None = None

    def show_progress(self, progress: RunProgress) -> None:
        self.given = progress

    def read(self, program: Program, ledger: object = None) -> RecordSet:
        assert self.given is not None, "show_progress comes before read"
        return super().read(program, ledger)


def test_a_run_shows_reading_computing_comparing_storing_and_writing_back_in_order(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    connector = Watched(tmp_path / "data", tmp_path / "out")
    progress = RecordedProgress()
    with Ledger.connect(f"sqlite:///{tmp_path / 'ledger.db'}") as book:
        report = run(
            load_program(ROOT / "examples" / "program.yaml"), connector, book, Plugins(), progress=progress
        )
    assert connector.given is progress
    names = [name for name, _, _ in progress.steps]
    assert names == [
        "reading records",
        "computing partners",
        "comparing with the target",
        "storing in the ledger",
        "writing back",
    ]
    computing = progress.steps[1]
    assert computing[1] == len(report.partners) and sum(computing[2]) == len(report.partners)
    writing = progress.steps[-1]
    assert writing[1] == len(report.changes) and sum(writing[2]) == len(report.changes)


def test_terminal_bars_count_a_step_without_total_and_end_it_when_the_next_starts() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with Progress(TextColumn("{task.description}"), MofNCompleteColumn(), console=console) as shown:
        bars = _Bars(shown)
        bars.step("reading records")
        read = bars.step("reading deals")
        read(200)
        read(150)
        assert [(t.completed, t.total) for t in shown.tasks] == [(1, 1), (350, None)]
        bars.step("computing partners", 3)(3)
        assert [(t.description, t.completed, t.total) for t in shown.tasks] == [
            ("reading records", 1, 1),
            ("reading deals", 350, 350),
            ("computing partners", 3, 3),
        ]


def test_bars_are_silent_off_a_terminal() -> None:
    advance = _Bars(None).step("reading deals")
    advance(100)  # nothing to show, nothing raised
