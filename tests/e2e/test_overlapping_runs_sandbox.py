"""Two `cosell run` processes of two periods overlap on one Salesforce org: the 2026-Q4 run reads the org,
a rerun of 2026-Q3 (a late win) writes its tier meanwhile, then the 2026-Q4 run plans and writes. The
account ends with 2026-Q4's values, as if the runs had gone one after the other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from typer.testing import CliRunner

from cosell.cli import app
from cosell.contrib.sandbox import Sandbox
from sandboxes import module_sandbox, salesforce_env

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]

sandbox, sb = module_sandbox(seed=3, partners=30, deals=600)

PAUSED_AFTER_READING = """
import os, pathlib, time
import cosell.engine as engine
history = engine._history
def paused(*args, **kwargs):
    pathlib.Path(os.environ["READ_DONE"]).touch()
    while not pathlib.Path(os.environ["GO_ON"]).exists():
        time.sleep(0.05)
    return history(*args, **kwargs)
engine._history = paused
from cosell.cli import main
main()
"""
"""The `cosell` command, held after it read the org until the test lets it go on."""


def cosell(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def org(sb: Sandbox) -> Salesforce:
    session = requests.Session()
    session.verify = sb.ca_bundle
    return Salesforce(instance_url=sb.salesforce_instance_url, session_id=sb.token, session=session)


def tiers(env: dict[str, str], period: str, *extra: str) -> dict[str, str]:
    import json

    out = cosell(env, "run", "--connector", "salesforce", "--program", env["PROGRAM"], "--period", period,
                 "--json", *extra).output  # fmt: skip
    return {row["id"]: row["tier"] for row in json.loads(out[out.index("{") :])["partners"]}


def test_a_run_overlapping_another_periods_rerun_leaves_the_org_with_its_own_values(
    sb: Sandbox, tmp_path: Path
) -> None:
    program = tmp_path / "program.yaml"
    text = (ROOT / "examples" / "program.yaml").read_text()
    program.write_text(text.replace("demotion_grace_periods: 1", "demotion_grace_periods: 0"))
    env = {**salesforce_env(sb, tmp_path), "PROGRAM": str(program)}
    cosell(env, "setup", "salesforce")
    q3, q4 = tiers(env, "2026-Q3"), tiers(env, "2026-Q4", "--dry-run")
    sf = org(sb)
    lowest = {p for p in q3 if q3[p] == q4[p] == "Registered"}
    opportunities = sf.query_all(
        "SELECT Id, PartnerAccountId, CreatedDate FROM Opportunity WHERE IsClosed = false ORDER BY Id"
    )["records"]
    late = next(
        o for o in opportunities if o["PartnerAccountId"] in lowest and o["CreatedDate"] < "2026-09-01"
    )
    partner = late["PartnerAccountId"]

    # the 2026-Q4 run reads the org, then waits
    read_done, go_on = tmp_path / "read", tmp_path / "go"
    child = subprocess.Popen(
        [sys.executable, "-c", PAUSED_AFTER_READING, "run", "--connector", "salesforce", "--program",
         str(program), "--period", "2026-Q4"],
        env={**os.environ, **env, "READ_DONE": str(read_done), "GO_ON": str(go_on)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not read_done.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_done.exists(), child.stdout.read() if child.stdout else ""
        # meanwhile a big late win for 2026-Q3 and its rerun: the account is written Silver
        sf.Opportunity.update(
            late["Id"], {"StageName": "Closed Won", "CloseDate": "2026-09-20", "Amount": 900000}
        )
        assert tiers(env, "2026-Q3")[partner] != "Registered"
        go_on.touch()
        output, _ = child.communicate(timeout=180)
    finally:
        go_on.touch()
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, output

    alone = tiers(env, "2026-Q4", "--dry-run")[partner]  # what 2026-Q4 holds for it, the runs in order
    held = sf.query(f"SELECT Cosell_Tier__c FROM Account WHERE Id = '{partner}'")["records"][0]
    assert held["Cosell_Tier__c"] == alone == "Registered"
