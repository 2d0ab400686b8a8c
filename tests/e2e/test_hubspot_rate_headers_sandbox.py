"""A `cosell setup` then `cosell run` right after another process's burst on the same portal, at the sandbox's real rate
limits: each reads what HubSpot's rate-limit headers say is left of the window and is never refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosell.cli import app
from cosell.connectors.common import RetryPolicy
from cosell.connectors.hubspot.client import Credentials, HubSpotClient
from cosell.contrib.sandbox import serve
from sandboxes import hubspot_env

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
BURST = 30
"""The sandbox's burst limit here (HubSpot's is 190): small, so a few calls spend the window."""


def test_setup_and_run_right_after_another_process_s_burst_are_never_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(seed=3, partners=5, deals=20, rate_limits="real", hubspot_burst=BURST) as sb:
        hubspot_env(sb, tmp_path, monkeypatch)
        settings = f"\nplugins:\n  hubspot: {{requests_per_ten_seconds: {BURST}}}\n"
        (tmp_path / "program.yaml").write_text((ROOT / "examples" / "program.yaml").read_text() + settings)
        other = HubSpotClient(
            Credentials(sb.token, sb.hubspot_base_url, sb.ca_bundle), policy=RetryPolicy(budget_seconds=5)
        )
        for _ in range(BURST - 2):  # another process's burst, within its own pacing
            other.properties("deals")
        setup = CliRunner().invoke(app, ["setup", "hubspot"])
        assert setup.exit_code == 0, setup.output
        result = CliRunner().invoke(
            app, ["run", "--program", "program.yaml", "--connector", "hubspot", "--json"]
        )
        assert result.exit_code in (0, 3), result.output
        assert json.loads(result.output[result.output.index("{") :])
        stats = sb.stats()
        assert stats["rate_limited"] == {}, stats
        assert sum(stats["requests"].values()) > BURST, stats  # they had to wait for the window to roll
