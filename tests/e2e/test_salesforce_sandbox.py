"""The Salesforce connector end to end: the real CLI and simple-salesforce against the sandbox's org.

REQUESTS_CA_BUNDLE stays as this machine sets it: SF_CA_BUNDLE must win over it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from cosell.cli import app
from cosell.contrib.sandbox import Sandbox
from sandboxes import module_sandbox
from sandboxes import salesforce_env as env_of
from sandboxes import salesforce_org_values as org_values

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "examples" / "program.yaml"
PATCH = "PATCH /services/data/vXX.X/composite/sobjects"


sandbox, sb = module_sandbox(seed=3, partners=30, deals=1500, drop_ca_variables=False)


def cosell(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def run(env: dict[str, str], *extra: str) -> Any:
    return cosell(env, "run", "--program", str(PROGRAM), "--connector", "salesforce", *extra)


def patch_calls(sb: Sandbox) -> int:
    return int(sb.stats()["requests"].get(PATCH, 0))


def edit(sb: Sandbox, sobject: str, record_id: str, values: dict[str, Any]) -> None:
    """A user's edit in the org, through its REST API."""
    requests.patch(
        f"{sb.base_url}/services/data/v59.0/sobjects/{sobject}/{record_id}",
        json=values,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=30,
    ).raise_for_status()


def written(sb: Sandbox) -> int:
    w = sb.stats()["records_written"]
    return int(w.get("Opportunity", 0)) + int(w.get("Account", 0))


def test_setup_creates_the_fields_once_and_then_finds_them(sb: Sandbox, tmp_path: Path) -> None:
    env = env_of(sb, tmp_path)
    first = cosell(env, "setup", "salesforce")
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == 7 and "Opportunity.Cosell_Incentive_Note__c" in first.output
    assert "Permission Sets" in first.output
    again = cosell(env, "setup", "salesforce")
    assert again.exit_code == 0, again.output
    assert again.output.count("exists") == 7 and "created" not in again.output
    assert sb.stats()["requests"]["POST /services/data/vXX.X/tooling/sobjects/CustomField"] == 7


def test_first_run_writes_in_full_batches_and_an_unchanged_rerun_writes_nothing(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    first = run(env, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    changed = written(sb)
    assert changed > 200 and report["written"] == changed
    assert patch_calls(sb) == math.ceil(changed / 200)
    assert any(n.startswith("Salesforce API calls: ") for n in report["notes"])
    before = sb.stats()["requests"]
    again = run(env, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["written"] == 0
    after = sb.stats()["requests"]
    assert after.get(PATCH) == before.get(PATCH)  # 0 write calls
    read_calls = sum(after.values()) - sum(before.values())
    # five incremental queryAll, the demoted-partner check, OpportunityPartner, one query for each
    # relationship the fields read through (Opportunity's Campaign, the claims' Request and its Campaign),
    # and the accounts merged into others
    assert read_calls <= 12


def test_an_incremental_sync_reads_only_what_changed(sb: Sandbox, tmp_path: Path) -> None:
    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    assert run(env).exit_code == 0
    assert cosell(env, "sync", "--program", str(PROGRAM)).exit_code == 0  # absorbs cosell's own writes
    quiet = cosell(env, "sync", "--program", str(PROGRAM))
    assert "Opportunity" not in quiet.output or "0 Opportunity" in quiet.output
    deal = next(i for i, v in org_values(sb).items() if i.startswith("006") and v[0] is not None)
    edit(sb, "Opportunity", deal, {"Amount": 123456.78})
    synced = cosell(env, "sync", "--program", str(PROGRAM))
    assert synced.exit_code == 0, synced.output
    assert "1 Opportunity" in synced.output and "0 Account" in synced.output


def test_refused_records_exit_3_the_others_are_written_and_the_next_run_retries_them(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    bad = sorted(i for i in org_values(sb) if i.startswith("006"))[:400:100]
    sb.set_faults({"invalid": bad})
    first = run(env)
    assert first.exit_code == 3, first.output
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in first.output
    refused = [b for b in bad if b in first.output]
    assert refused, "some of the invalid ids have values to write"
    landed = written(sb)
    sb.set_faults(None)
    second = run(env, "--json")
    assert second.exit_code == 0, second.output
    assert written(sb) - landed == len(refused)


def test_a_30_percent_429_503_storm_still_converges(sb: Sandbox, tmp_path: Path) -> None:
    env = env_of(sb, tmp_path)
    done = cosell(env, "setup", "salesforce")
    assert done.exit_code == 0, done.output
    sb.set_faults("429=0.2,503=0.1,retry_after=0")
    stormy = run(env)
    assert stormy.exit_code == 0, stormy.output
    sb.set_faults(None)
    before = patch_calls(sb)
    calm = run(env, "--json")
    assert calm.exit_code == 0 and json.loads(calm.output)["written"] == 0
    assert patch_calls(sb) == before


def test_a_run_killed_mid_write_back_resumes_to_the_same_org_without_writing_twice(
    sb: Sandbox, tmp_path: Path
) -> None:
    # the reference: one uninterrupted run
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    env = env_of(sb, clean_dir)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    assert run(env).exit_code == 0
    reference, changed = org_values(sb), written(sb)

    sb.reset()
    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    env = env_of(sb, killed_dir)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    sb.set_faults("latency=150ms")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from cosell.cli import main; main()",
            "run",
            "--program",
            str(PROGRAM),
            "--connector",
            "salesforce",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while written(sb) == 0 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    partly = written(sb)
    assert 0 < partly < changed, "the kill landed between the first and the last write"
    sb.set_faults(None)
    resumed = run(env)
    assert resumed.exit_code == 0, resumed.output
    assert org_values(sb) == reference
    assert written(sb) == changed  # nothing written twice


def test_a_refused_token_exits_4_and_appears_in_no_output_or_log(sb: Sandbox, tmp_path: Path) -> None:
    env = {**env_of(sb, tmp_path), "SF_ACCESS_TOKEN": "00DWRONG!secret-token-value-123"}
    result = run(env)
    assert result.exit_code == 4, result.output
    assert "INVALID_SESSION_ID" in result.output
    log = tmp_path / "cosell.log"
    seen = result.output + (log.read_text() if log.exists() else "")
    assert "secret-token-value" not in seen and sb.token not in seen


def test_a_batch_that_lands_after_the_next_runs_sync_read_is_not_sent_again(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed run's last batch can reach the org after the process died, even after the next run has
    synced: the next run must compare that run's unconfirmed writes with the org itself, not with the
    records it just synced, or it sends them a second time."""
    from cosell.connectors.salesforce.connector import SalesforceConnector
    from cosell.connectors.salesforce.writer import CollectionsWriter

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    env = env_of(sb, clean_dir)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    assert run(env).exit_code == 0
    reference, changed = org_values(sb), written(sb)

    sb.reset()
    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    real_send, real_read = CollectionsWriter._send, SalesforceConnector.read
    sent: list[Any] = []

    def dies_sending_the_second_batch(self: CollectionsWriter, batch: Any) -> Any:
        sent.append(list(batch))
        if len(sent) == 2:
            raise SystemExit(137)  # killed: the second batch is in flight, unconfirmed
        return real_send(self, batch)

    monkeypatch.setattr(CollectionsWriter, "_send", dies_sending_the_second_batch)
    run(env)
    assert len(sent) == 2
    in_flight = sent[1]

    def lands_after_the_sync(self: SalesforceConnector, program: Any, ledger: Any) -> Any:
        records = real_read(self, program, ledger)
        real_send(self._writer, in_flight)  # the killed run's batch reaches the org now
        return records

    monkeypatch.setattr(CollectionsWriter, "_send", real_send)
    monkeypatch.setattr(SalesforceConnector, "read", lands_after_the_sync)
    resumed = run(env)
    assert resumed.exit_code == 0, resumed.output
    assert org_values(sb) == reference
    assert written(sb) == changed  # nothing written twice


def test_a_renamed_campaign_reaches_its_deals_and_claims_at_the_next_incremental_sync(
    sb: Sandbox, tmp_path: Path
) -> None:
    # Salesforce stamps only the record changed: renaming a Campaign leaves its Opportunities' and
    # claims' SystemModstamp as they were, while their Campaign.Name now reads otherwise.
    from cosell.ledger import Ledger

    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    assert cosell(env, "sync", "--program", str(PROGRAM)).exit_code == 0
    store = sb._server.state.sf_store
    opportunity = next(
        o for o in store.objects["Opportunity"].records.values() if o["CampaignId"] and not o["IsDeleted"]
    )
    edit(sb, "Campaign", opportunity["CampaignId"], {"Name": "Renamed Campaign"})
    synced = cosell(env, "sync", "--program", str(PROGRAM))
    assert synced.exit_code == 0, synced.output
    with Ledger.connect(env["COSELL_LEDGER"]) as ledger:
        deals = dict(ledger.snapshot(f"salesforce:{sb._server.state.org_id}", "Opportunity"))
    assert deals[opportunity["Id"]]["campaign"] == "Renamed Campaign"
    renamed = [i for i, d in deals.items() if d["campaign"] == "Renamed Campaign"]
    assert renamed and all(
        store.objects["Opportunity"].records[i]["CampaignId"] == opportunity["CampaignId"] for i in renamed
    )
