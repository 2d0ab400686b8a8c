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
