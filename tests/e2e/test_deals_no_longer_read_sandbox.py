"""An open deal cosell showed a projection on that the connector no longer reads has its projection
cleared by the next run, once, against the sandbox with the real client libraries: a Salesforce
Opportunity that leaves the ``opportunity_filter``; a deleted one is not written (no refusal, no failed
run); a HubSpot deal archived, or merged into a new record, is not written under its old id. After
``cosell discard``, the rerun clears what the discarded run showed on Opportunities it no longer reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from hubspot import HubSpot
from sandboxes import cosell_in as cosell
from sandboxes import hubspot_vars, module_sandbox, run_json
from sandboxes import salesforce_env as env_of

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-Q3"  # the example program's open period
# Deals count from qualification on: a rep moving an Opportunity back to Prospecting takes it out.
SALESFORCE_FILTER = "\nplugins:\n  salesforce: {opportunity_filter: \"StageName != 'Prospecting'\"}\n"
HUBSPOT_FAST = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"
SF_DEAL = ("Cosell_Incentive__c", "Cosell_Incentive_Status__c", "Cosell_Incentive_Note__c")
HS_DEAL = ("cosell_incentive", "cosell_incentive_status", "cosell_incentive_note")

sandbox, sb = module_sandbox(seed=5, partners=30, deals=600)


def run(env: dict[str, str], connector: str) -> dict[str, Any]:
    return run_json(env, connector)


def first_run(env: dict[str, str], connector: str) -> None:
    """Set up, run, and sync once more, so the snapshot holds what cosell wrote."""
    assert cosell(env, "setup", connector).exit_code == 0
    run(env, connector)
    synced = cosell(env, "sync", "--program", env["PROGRAM"], "--connector", connector)
    assert synced.exit_code == 0, synced.output


def program(folder: Path, plugins: str) -> str:
    path = folder / "program.yaml"
    text = (ROOT / "examples" / "program.yaml").read_text()
    assert "\nplugins:" not in text
    path.write_text(text + plugins)
    return str(path)


def projected_deals(env: dict[str, str]) -> list[str]:
    """The deals the period's results project, in id order."""
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        return sorted({p.deal_id for p in book.projections(PERIOD)})


def changed_deals(report: dict[str, Any]) -> set[str]:
    return {c["id"] for c in report["changes"] if c["object"] == "deal"}


# --- Salesforce ------------------------------------------------------------------------------------


def simple_salesforce(sb: Sandbox) -> Salesforce:
    session = requests.Session()
    session.verify = sb.ca_bundle
    return Salesforce(instance_url=sb.salesforce_instance_url, session_id=sb.token, session=session)


def sf_deal(sf: Salesforce, record_id: str) -> tuple[Any, ...]:
    found = sf.query(f"SELECT {', '.join(SF_DEAL)} FROM Opportunity WHERE Id = '{record_id}'")["records"]
    assert len(found) == 1
    return tuple(found[0][f] for f in SF_DEAL)


def salesforce(sb: Sandbox, folder: Path) -> tuple[dict[str, str], Salesforce, list[str]]:
    env = {**env_of(sb, folder), "PROGRAM": program(folder, SALESFORCE_FILTER)}
    first_run(env, "salesforce")
    return env, simple_salesforce(sb), projected_deals(env)


def test_salesforce_an_opportunity_that_leaves_the_filter_has_its_projection_cleared_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, sf, projected = salesforce(sb, tmp_path)
    deal = projected[0]
    amount, status, note = sf_deal(sf, deal)
    assert status in ("Projected", "Withheld") and amount is not None and note

    sf.Opportunity.update(deal, {"StageName": "Prospecting"})  # out of the filter: cosell no longer reads it
    cleared = run(env, "salesforce")
    assert sf_deal(sf, deal) == (None, None, None)
    change = next(c for c in cleared["changes"] if c["id"] == deal)
    assert change["old"]["incentive_status"] == status and set(change["values"].values()) == {None}

    written = sb.stats()["records_written"]["Opportunity"]
    again = run(env, "salesforce")  # written once: nothing left to take back
    assert sb.stats()["records_written"]["Opportunity"] == written
    assert deal not in changed_deals(again) and not again["failures"]


def test_salesforce_after_discard_the_rerun_clears_opportunities_the_discarded_run_paid_or_projected(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, sf, projected = salesforce(sb, tmp_path)
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        paid = sorted({line.deal_id for line in book.lines(PERIOD) if line.deal_id})
    earned = next(deal for deal in paid if sf_deal(sf, deal)[1] == "Earned")
    open_deal = projected[0]
    assert sf_deal(sf, open_deal)[1] in ("Projected", "Withheld")
    discarded = cosell(env, "discard", "--period", PERIOD, "--reason", "wrong filter", "--by", "ann")
    assert discarded.exit_code == 0, discarded.output
    for deal in (earned, open_deal):  # out of the filter: the rerun no longer reads them
        sf.Opportunity.update(deal, {"StageName": "Prospecting"})
    rerun = run(env, "salesforce")
    assert not rerun["failures"]
    assert sf_deal(sf, earned) == (None, None, None)
    assert sf_deal(sf, open_deal) == (None, None, None)
    again = run(env, "salesforce")
    assert {earned, open_deal}.isdisjoint(changed_deals(again)) and not again["failures"]


def test_salesforce_a_projected_opportunity_deleted_is_not_written(sb: Sandbox, tmp_path: Path) -> None:
    env, sf, projected = salesforce(sb, tmp_path)
    binned, purged = projected[:2]
    sf.Opportunity.delete(binned)  # in the recycle bin: the incremental read sees it deleted
    sf.Opportunity.delete(purged)
    sb.purge()  # gone for good, before the next read
    for _ in range(2):
        rerun = run(env, "salesforce")  # exit 0: nothing to clear on records the org no longer has
        assert not rerun["failures"]
        assert {binned, purged}.isdisjoint(changed_deals(rerun))


# --- HubSpot ---------------------------------------------------------------------------------------


def hubspot(sb: Sandbox, folder: Path) -> tuple[dict[str, str], HubSpot, list[str]]:
    env = {**hubspot_vars(sb, folder), "PROGRAM": program(folder, HUBSPOT_FAST)}
    first_run(env, "hubspot")
    client = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    return env, client, projected_deals(env)


def hs_deal(hs: HubSpot, deal: str) -> tuple[Any, ...]:
    found = hs.crm.deals.basic_api.get_by_id(deal, properties=list(HS_DEAL))
    return tuple(found.properties.get(p) or None for p in HS_DEAL)


def test_hubspot_a_projected_deal_archived_is_not_written(sb: Sandbox, tmp_path: Path) -> None:
    env, hs, projected = hubspot(sb, tmp_path)
    deals = set(projected[:2])
    for deal in deals:
        hs.crm.deals.basic_api.archive(deal)  # the next sync lists it among the archived
    for purge in (False, True):
        if purge:
            sb.purge()  # gone for good: its id reads as unknown
        rerun = run(env, "hubspot")  # exit 0: nothing to clear on records the portal no longer has
        assert not rerun["failures"] and deals.isdisjoint(changed_deals(rerun))


def test_hubspot_projected_deals_merged_are_shown_on_the_new_record_and_not_written_by_their_old_ids(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, hs, projected = hubspot(sb, tmp_path)
    first, second = projected[:2]
    merged = sb.merge_hubspot("deals", first, second)  # a new record, a new id: the old ids lead to it
    rerun = run(env, "hubspot")  # exit 0: no write to the old ids (HubSpot answers it under the new one)
    assert not rerun["failures"]
    assert {first, second}.isdisjoint(changed_deals(rerun))
    assert hs_deal(hs, merged)[1] in ("Projected", "Withheld")
    again = run(env, "hubspot")
    assert not again["failures"] and {first, second, merged}.isdisjoint(changed_deals(again))


def test_hubspot_a_projected_deal_archived_is_asked_of_the_portal_once(sb: Sandbox, tmp_path: Path) -> None:
    env, hs, projected = hubspot(sb, tmp_path)
    hs.crm.deals.basic_api.archive(projected[0])  # no longer read: what the portal holds is asked of it
    rerun = run(env, "hubspot")
    calls = next(n for n in rerun["notes"] if n.startswith("HubSpot API calls: "))
    counts = dict(c.rsplit(" ", 1) for c in calls.removeprefix("HubSpot API calls: ").split(", "))
    assert counts.get("batch_read") == "1", calls  # one batch read finds it gone; no second asks again
    assert not rerun["failures"] and projected[0] not in changed_deals(rerun)
