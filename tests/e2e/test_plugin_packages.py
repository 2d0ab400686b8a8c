"""The example plugin packages in contrib/, installed as a user would install them, used from the CLI."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosell.cli import app

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("cosell_nps", reason="install contrib/cosell-nps (the README's test command does)")

PROGRAM = """\
program: Partner health program
period: 2026-Q3
currency: USD
fx: {EUR: "1.08", GBP: "1.27"}
scoring:
  metrics:
    nps: {weight: 1, target: 50}
    win_rate: {weight: 1, target: "0.5"}
tiers:
  - {name: Registered, min_score: 0, commission_rate: "0.05"}
  - {name: Silver, min_score: 60, commission_rate: "0.08"}
plugins:
  nps: {attribute: nps, bonus_threshold: 60, bonus: 750}
"""


def test_a_program_scoring_on_the_nps_metric_runs_end_to_end_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples" / "data", "data")
    partners = Path("data/partners.csv").read_text().splitlines()
    scores = ["nps", "64", "38", "71", "", "55", "12"]
    Path("data/partners.csv").write_text(
        "\n".join(f"{row},{nps}" for row, nps in zip(partners, scores, strict=True)) + "\n"
    )
    Path("program.yaml").write_text(PROGRAM)
    runner = CliRunner()
    plugins = json.loads(runner.invoke(app, ["plugins", "--json"]).output)
    nps = next(p for p in plugins if p["name"] == "nps")
    assert nps["package"] == "cosell-nps" and "cosell_metrics" in nps["hooks"]

    result = runner.invoke(
        app, ["run", "--program", "program.yaml", "--input", "data", "--output", "out", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = {p["id"]: p for p in json.loads(result.output)["partners"]}
    # P001: NPS 64 → 1; win rate 1 won of 2 closed = 0.5 → 1: score 100, Silver
    assert (report["P001"]["score"], report["P001"]["tier"]) == ("100.00", "Silver")
    statement = runner.invoke(app, ["statement", "--period", "2026-Q3", "--format", "csv"]).output
    assert "P001,2026-Q3,nps_bonus,,750.00," in statement and "P003,2026-Q3,nps_bonus,,750.00," in statement
    assert "P002,2026-Q3,nps_bonus" not in statement
