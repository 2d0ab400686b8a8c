"""Shared by the CLI tests: a working folder holding a copy of the bundled example."""

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PROGRAM = ROOT / "examples" / "program.yaml"
EXAMPLE_DATA = ROOT / "examples" / "data"


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The working folder of a RevOps user: the example's program.yaml and data/, no ledger yet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSELL_LEDGER", raising=False)
    shutil.copytree(EXAMPLE_DATA, tmp_path / "data")
    shutil.copy(EXAMPLE_PROGRAM, tmp_path / "program.yaml")
    return tmp_path
