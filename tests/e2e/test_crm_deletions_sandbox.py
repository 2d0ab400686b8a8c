"""Records deleted in the CRM leave cosell's snapshot, its payouts and its write-back, against the sandbox:
through the incremental read while the CRM still keeps them, through the id check once it purged them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from cosell.connectors.common import RECONCILED_STREAM
from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from hubspot import HubSpot
from sandboxes import cosell_in as cosell
from sandboxes import hubspot_vars, module_sandbox, run_json
from sandboxes import salesforce_env as env_of

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-Q3"  # the example program's open period
FAST = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"

sandbox, sb = module_sandbox(seed=5, partners=30, deals=1200)


def run(env: dict[str, str], connector: str) -> dict[str, Any]:
    return run_json(env, connector)


def refused_run(env: dict[str, str], connector: str) -> str:
    """A run some of whose writes the CRM refused (exit 3); its output."""
    result = cosell(env, "run", "--program", env["PROGRAM"], "--connector", connector)
    assert result.exit_code == 3, result.output
    return result.output


def first_run(env: dict[str, str], connector: str) -> None:
    """Set up, run, and sync once more, so the snapshot holds what cosell wrote (its writes come back
    in the next read): a rerun then has nothing to write."""
    assert cosell(env, "setup", connector).exit_code == 0
    run(env, connector)
    synced = cosell(env, "sync", "--program", env["PROGRAM"], "--connector", connector)
    assert synced.exit_code == 0, synced.output


def salesforce(sb: Sandbox, folder: Path) -> dict[str, str]:
    return {**env_of(sb, folder), "PROGRAM": str(ROOT / "examples" / "program.yaml")}


def hubspot(sb: Sandbox, folder: Path) -> dict[str, str]:
    program = folder / "program.yaml"
    program.write_text((ROOT / "examples" / "program.yaml").read_text() + FAST)
    return {**hubspot_vars(sb, folder), "PROGRAM": str(program)}


def earnings(env: dict[str, str]) -> dict[str, Any]:
    """Deal id → the sum of its payout lines in the open period."""
    out: dict[str, Any] = {}
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        for line in book.lines(PERIOD):
            if line.deal_id is not None:
                out[line.deal_id] = out.get(line.deal_id, 0) + line.amount
    return out


def a_paying_deal(env: dict[str, str]) -> str:
    return next(deal for deal, amount in sorted(earnings(env).items()) if amount > 0)


def snapshot_ids(env: dict[str, str], connector: str, obj: str) -> set[str]:
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        return {rid for rid, _ in book.snapshot(connector, obj)}


def age_last_check(env: dict[str, str], connector: str, days: int) -> None:
    """As if the snapshot was last checked against the CRM's ids ``days`` days ago."""
    then = datetime.now(UTC) - timedelta(days=days)
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        assert book.cursor(connector, RECONCILED_STREAM), "the first run records its check"
        book.set_cursor(connector, RECONCILED_STREAM, then.isoformat().replace("+00:00", "Z"))


def simple_salesforce(sb: Sandbox) -> Salesforce:
    session = requests.Session()
    session.verify = sb.ca_bundle
    return Salesforce(instance_url=sb.salesforce_instance_url, session_id=sb.token, session=session)


def hubspot_client(sb: Sandbox) -> HubSpot:
    return HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)


# --- Salesforce -----------------------------------------------------------------------------------


def test_salesforce_a_won_deal_deleted_and_purged_earns_nothing_once_the_ids_are_checked(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = salesforce(sb, tmp_path)
    first_run(env, "salesforce")
    deal = a_paying_deal(env)
    simple_salesforce(sb).Opportunity.delete(deal)
    sb.purge()  # the recycle bin emptied before cosell's next read: no read ever sees it deleted

    within = run(env, "salesforce")  # the last check is minutes old: the snapshot is not checked yet
    assert earnings(env)[deal] > 0
    assert not any("left" in note for note in within["notes"])

    age_last_check(env, f"salesforce:{sb.org_id}", days=16)
    rerun = run(env, "salesforce")
    assert deal not in earnings(env)
    assert deal not in snapshot_ids(env, f"salesforce:{sb.org_id}", "Opportunity")
    assert not rerun["failures"] and deal not in {c["id"] for c in rerun["changes"]}
    assert any("1 deleted record left it (Opportunity 1)" in note for note in rerun["notes"])
    quiet = run(env, "salesforce")  # checked just now: not again
    assert not any("ids checked" in note for note in quiet["notes"])


def test_salesforce_a_write_refused_for_a_purged_deal_makes_the_next_run_check_the_ids(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = salesforce(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    run(env, "salesforce")  # its writes are not read back yet: the snapshot holds the old values
    deal = a_paying_deal(env)
    simple_salesforce(sb).Opportunity.delete(deal)
    sb.purge()
    refused = refused_run(env, "salesforce")  # the deal looks unwritten, and the org has no such id
    assert f"deal {deal}: INVALID_CROSS_REFERENCE_KEY" in refused
    rerun = run(env, "salesforce")  # days early, but the refusal asked for the check
    assert deal not in earnings(env)
    assert any("(Opportunity 1)" in note for note in rerun["notes"])


def test_salesforce_a_deleted_deal_still_in_the_recycle_bin_leaves_through_the_incremental_read(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = salesforce(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    run(env, "salesforce")
    deal = a_paying_deal(env)
    simple_salesforce(sb).Opportunity.delete(deal)
    rerun = run(env, "salesforce")
    assert deal not in earnings(env)
    assert deal not in snapshot_ids(env, f"salesforce:{sb.org_id}", "Opportunity")
    assert not rerun["failures"]


def test_salesforce_an_archived_activity_is_read_on_a_full_read(sb: Sandbox, tmp_path: Path) -> None:
    sf = simple_salesforce(sb)
    task = sf.query("SELECT Id FROM Task ORDER BY Id LIMIT 1")["records"][0]["Id"]
    sf.Task.update(task, {"ActivityDate": "2025-12-20"})  # over 365 days before the org's today
    assert sf.query(f"SELECT Id FROM Task WHERE Id = '{task}'")["totalSize"] == 0  # archived
    env = salesforce(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    synced = cosell(env, "sync", "--program", env["PROGRAM"])  # the first sync: a full read
    assert synced.exit_code == 0, synced.output
    assert task in snapshot_ids(env, f"salesforce:{sb.org_id}", "Task")


# --- HubSpot --------------------------------------------------------------------------------------


def test_hubspot_a_won_deal_archived_and_purged_earns_nothing_once_the_ids_are_checked(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = hubspot(sb, tmp_path)
    first_run(env, "hubspot")
    deal = a_paying_deal(env)
    hubspot_client(sb).crm.deals.basic_api.archive(deal)
    sb.purge()  # 90 days went by without a run: the archive no longer lists it

    within = run(env, "hubspot")
    # the purge took its associations, so it names no partner now, but it still counts as a deal
    assert deal in snapshot_ids(env, f"hubspot:{sb.portal_id}", "deals")
    assert not any("left" in note for note in within["notes"])
    # No partner is paid on it now, so the run clears its fields; the portal has no such deal
    # (OBJECT_NOT_FOUND): nothing is left to clear, the run does not fail, and the refusal makes the
    # next sync check the portal's ids.
    assert not within["failures"] and deal in {c["id"] for c in within["changes"]}

    rerun = run(env, "hubspot")
    assert deal not in earnings(env)
    assert deal not in snapshot_ids(env, f"hubspot:{sb.portal_id}", "deals")
    assert deal not in snapshot_ids(env, f"hubspot:{sb.portal_id}", "links:deals")
    assert not rerun["failures"] and deal not in {c["id"] for c in rerun["changes"]}
    assert any("1 deleted record left it (deals 1)" in note for note in rerun["notes"])


def test_hubspot_an_archived_deal_not_yet_purged_leaves_through_the_incremental_read(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = hubspot(sb, tmp_path)
    assert cosell(env, "setup", "hubspot").exit_code == 0
    run(env, "hubspot")
    deal = a_paying_deal(env)
    hubspot_client(sb).crm.deals.basic_api.archive(deal)
    rerun = run(env, "hubspot")
    assert deal not in earnings(env)
    assert deal not in snapshot_ids(env, f"hubspot:{sb.portal_id}", "deals")
    assert not rerun["failures"]
