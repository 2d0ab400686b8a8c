"""Two `cosell run` processes of two periods overlap on one Salesforce org: the 2026-Q4 run reads the org,
a rerun of 2026-Q3 (a late win) writes its tier meanwhile, then the 2026-Q4 run plans and writes. The
account ends with 2026-Q4's values, as if the runs had gone one after the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from typer.testing import CliRunner

from cosell.cli import app
from cosell.contrib.sandbox import Sandbox
from held_run import held_run
from sandboxes import module_sandbox, salesforce_env

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]

sandbox, sb = module_sandbox(seed=3, partners=30, deals=600)


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
    args = ["run", "--connector", "salesforce", "--program", str(program), "--period", "2026-Q4"]
    with held_run(args, folder=tmp_path, env=env, before_history=True) as child:
        # meanwhile a big late win for 2026-Q3 and its rerun: the account is written Silver
        sf.Opportunity.update(
            late["Id"], {"StageName": "Closed Won", "CloseDate": "2026-09-20", "Amount": 900000}
        )
        assert tiers(env, "2026-Q3")[partner] != "Registered"
    assert child.returncode == 0, child.output + child.errors

    alone = tiers(env, "2026-Q4", "--dry-run")[partner]  # what 2026-Q4 holds for it, the runs in order
    held = sf.query(f"SELECT Cosell_Tier__c FROM Account WHERE Id = '{partner}'")["records"][0]
    assert held["Cosell_Tier__c"] == alone == "Registered"
