"""`cosell demo`: the sandbox, setup, a run through each installed CRM connector, and statements."""

import pytest
from typer.testing import CliRunner

from cosell.cli import app

pytestmark = pytest.mark.sandbox


def test_demo_runs_each_crm_and_writes_a_statement(tmp_path, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        app, ["demo", "--folder", str(tmp_path / "demo"), "--partners", "6", "--deals", "60"]
    )
    assert result.exit_code == 0, result.output
    assert "CRM sandbox on https://127.0.0.1:" in result.output
    assert "Partners, 2026-Q3" in result.output
    statements = sorted(p.name for p in (tmp_path / "demo").glob("statement-*.html"))
    assert statements, result.output
    assert "<svg" in (tmp_path / "demo" / statements[0]).read_text()


def test_the_demo_twice_in_one_folder_writes_every_field_again(tmp_path, monkeypatch):
    # each demo's sandbox is a new org: the ledger left by the first must not make the second trust
    # its snapshot (which held the first org's written values) and write nearly nothing
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    args = ["demo", "--folder", str(tmp_path / "demo"), "--partners", "6", "--deals", "60"]
    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    written = [line for line in first.output.splitlines() if "record(s) to update" in line]
    assert written and [ln for ln in second.output.splitlines() if "record(s) to update" in ln] == [
        line.rsplit("; run", 1)[0] + "; run 2." for line in written
    ]
    assert "is not the one this ledger last read" in second.output
