"""The bundled example's statements, output folder and report stay byte for byte what they were: a change
meant to make a run faster (or to tidy code) must not change one byte a partner, finance or a CRM sees.

The files under ``tests/e2e/golden/`` were made by the released code. A change that means to alter what
is shown rewrites them on purpose, and the diff shows exactly what changed:

    COSELL_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/e2e/test_example_golden.py
"""

import os
import shutil
from pathlib import Path

import pytest

from example_runs import two_periods
from invoke import cosell

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
FORMATS = {"csv": "csv", "json": "json", "html": "html", "terminal": "txt"}
OUTPUTS = [
    *[(f"statement-{period}.{ext}", ["statement", "--period", period, "--format", fmt])
      for period in ("2026-Q2", "2026-Q3") for fmt, ext in FORMATS.items()],
    ("report-2026-Q3.json", ["report", "--period", "2026-Q3", "--format", "json"]),
    ("report-2026-Q3.csv", ["report", "--period", "2026-Q3", "--format", "csv"]),
    ("report-2026-Q3.html", ["report", "--period", "2026-Q3", "--format", "html"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The example run for 2026-Q2, closed, then for 2026-Q3 (the README's walk), and what it shows."""
    work = tmp_path_factory.mktemp("example")
    monkey = pytest.MonkeyPatch()
    try:
        shutil.copytree(ROOT / "examples" / "data", work / "data")
        shutil.copy(ROOT / "examples" / "program.yaml", work / "program.yaml")
        monkey.chdir(work)
        monkey.delenv("COSELL_LEDGER", raising=False)
        two_periods()
        files: dict[str, bytes] = {}
        for name, args in OUTPUTS:
            result = cosell(*args, "--output", f"produced-{name}")
            assert result.exit_code == 0, result.output
            files[name] = (work / f"produced-{name}").read_bytes()
        for path in sorted((work / "out").iterdir()):
            files[f"out-{path.name}"] = path.read_bytes()
        return files
    finally:
        monkey.undo()


def test_the_examples_statements_output_folder_and_report_are_byte_for_byte_the_golden_files(
    produced: dict[str, bytes],
) -> None:
    if os.environ.get("COSELL_WRITE_GOLDEN") == "1":
        for stale in GOLDEN.glob("*"):
            stale.unlink()
        for name, data in produced.items():
            (GOLDEN / name).write_bytes(data)
    golden = {path.name: path.read_bytes() for path in GOLDEN.iterdir()}
    assert sorted(produced) == sorted(golden)
    for name, data in produced.items():
        assert data == golden[name], f"{name} differs from tests/e2e/golden/{name}"
