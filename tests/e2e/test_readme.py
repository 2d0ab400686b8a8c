"""The README's walk-through, run as written: its commands in order, and the figures it shows."""

import csv
import io
import re
import shlex
import shutil
from decimal import Decimal
from pathlib import Path

from invoke import cosell

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(text):
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def cosell_args(line):
    """The arguments of the `cosell` command at the end of a shell line (after `&&`, `.venv/bin/`)."""
    command = line.split("&&")[-1].strip()
    words = shlex.split(command)
    assert words[0].endswith("cosell"), line
    return words[1:]


def test_the_readme_walk_through_prints_the_figures_the_readme_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSELL_LEDGER", raising=False)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    found = blocks(README)
    setup = found[0][1].splitlines()
    first = cosell(*cosell_args(setup[0]))
    assert first.exit_code == 0, first.output
    table = next(body for lang, body in found if body.startswith("Partners, 2026-Q3"))
    assert table.strip() in first.output

    index = next(i for i, (lang, body) in enumerate(found) if "--period 2026-Q2" in body and lang == "sh")
    commands = [line for line in found[index][1].splitlines() if line.strip()]
    outputs = []
    for line in commands:
        result = cosell(*cosell_args(line))
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.output)
    shown = found[index + 1][1]
    assert outputs[-1] == shown
    rows = list(csv.DictReader(io.StringIO(shown)))
    earnings = sum((Decimal(r["amount"]) for r in rows if r["kind"] != "mdf"), Decimal(0))
    assert earnings == Decimal("40021.05") and "earns 40,021.05 in 2026-Q3" in README
