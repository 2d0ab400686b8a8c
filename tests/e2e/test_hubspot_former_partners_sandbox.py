"""A HubSpot company cosell wrote as a partner that the connector no longer reads as one (its partner
property emptied, and no deal names it with a partner label) has its cosell properties cleared by the next
run, once, against the sandbox with the real client library. The sandbox holds no deals here: a company a
deal names with a partner label is a partner whatever its property says, and the sandbox cannot take a label
off (the Salesforce test shows the open deals' projections taken back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hubspot.crm.objects import SimplePublicObjectInput

from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from hubspot import HubSpot
from sandboxes import cosell_in as cosell
from sandboxes import hubspot_vars, module_sandbox, run_json

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-Q3"  # the example program's open period
FAST = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"
ACCOUNT = ("cosell_tier", "cosell_score", "cosell_period_earnings", "cosell_tier_benefits")
NOT_A_PARTNER = SimplePublicObjectInput(properties={"partner_type": ""})

sandbox, sb = module_sandbox(seed=5, partners=12, deals=0)


def run(env: dict[str, str]) -> dict[str, Any]:
    return run_json(env, "hubspot")


def first_run(sb: Sandbox, folder: Path) -> dict[str, str]:
    """Set up, run, and sync once more, so the snapshot holds what cosell wrote: a rerun then has
    nothing to write. Returns the environment."""
    program = folder / "program.yaml"
    program.write_text((ROOT / "examples" / "program.yaml").read_text() + FAST)
    env = {**hubspot_vars(sb, folder), "PROGRAM": str(program)}
    assert cosell(env, "setup", "hubspot").exit_code == 0
    run(env)
    synced = cosell(env, "sync", "--program", env["PROGRAM"], "--connector", "hubspot")
    assert synced.exit_code == 0, synced.output
    return env


def unclaimed_partners(sb: Sandbox, env: dict[str, str]) -> list[str]:
    """The partner companies no MDF claim names (claims are left out with a note once their company is
    no partner: not what most of these tests are about)."""
    partners, claimed = partners_and_claimed(sb, env)
    return sorted(partners - claimed)


def partners_and_claimed(sb: Sandbox, env: dict[str, str]) -> tuple[set[str], set[str]]:
    """The partner companies, and the companies MDF claims name."""
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        partners = {s.partner_id for s in book.standings(PERIOD)}
        claimed = {
            str(props.get("partner_company_id"))
            for _, props in book.snapshot(f"hubspot:{sb.portal_id}", "p_mdf_claims")
        }
    return partners, claimed


def changed_ids(report: dict[str, Any]) -> set[str]:
    return {c["id"] for c in report["changes"] if c["object"] == "account"}


def hubspot_client(sb: Sandbox) -> HubSpot:
    return HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)


def held(hs: HubSpot, company: str) -> tuple[Any, ...]:
    found = hs.crm.objects.basic_api.get_by_id("companies", company, properties=list(ACCOUNT))
    return tuple(found.properties.get(p) or None for p in ACCOUNT)


def test_a_company_no_longer_a_partner_has_its_cosell_properties_cleared_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = first_run(sb, tmp_path)
    hs = hubspot_client(sb)
    company = unclaimed_partners(sb, env)[0]
    tier, score, earnings, _ = held(hs, company)
    assert tier and score is not None and earnings is not None

    hs.crm.objects.basic_api.update("companies", company, NOT_A_PARTNER)  # a customer now
    cleared = run(env)
    assert held(hs, company) == (None, None, None, None)
    change = next(c for c in cleared["changes"] if c["id"] == company)
    assert change["old"]["tier"] == tier and set(change["values"].values()) == {None}

    written = sb.stats()["records_written"]["companies"]
    again = run(env)  # written once: nothing left to clear
    assert sb.stats()["records_written"]["companies"] == written
    assert company not in changed_ids(again) and not again["failures"]


def test_a_company_no_longer_a_partner_and_archived_is_not_written(sb: Sandbox, tmp_path: Path) -> None:
    env = first_run(sb, tmp_path)
    hs = hubspot_client(sb)
    company = unclaimed_partners(sb, env)[0]
    hs.crm.objects.basic_api.update("companies", company, NOT_A_PARTNER)
    hs.crm.companies.basic_api.archive(company)  # the next sync lists it among the archived
    for _ in range(2):
        rerun = run(env)  # exit 0: nothing to clear on a record the portal no longer has
        assert company not in changed_ids(rerun) and not rerun["failures"]


def test_a_cleared_company_purged_before_the_next_read_is_cleared_by_no_write_and_leaves(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = first_run(sb, tmp_path)
    hs = hubspot_client(sb)
    company = unclaimed_partners(sb, env)[0]
    hs.crm.objects.basic_api.update("companies", company, NOT_A_PARTNER)
    assert company in changed_ids(run(env))  # cleared
    hs.crm.companies.basic_api.archive(company)
    sb.purge()  # gone for good before any read saw cosell's clearing come back
    # The snapshot still holds the values read before the clearing, as for any record purged between
    # two reads: the run clears them again, and the portal answers it has no such company. A record
    # that is gone shows nothing, so the clearing is done (no failure); the refusal makes the next sync
    # check the ids, and the company leaves the snapshot.
    again = run(env)
    assert company in changed_ids(again) and not again["failures"]
    for _ in range(2):
        rerun = run(env)
        assert company not in changed_ids(rerun) and not rerun["failures"]


def test_a_company_with_mdf_claims_no_longer_a_partner_is_cleared_and_its_claims_left_out_with_a_note(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = first_run(sb, tmp_path)
    hs = hubspot_client(sb)
    partners, claimed = partners_and_claimed(sb, env)
    company = sorted(partners & claimed)[0]
    hs.crm.objects.basic_api.update("companies", company, NOT_A_PARTNER)  # its claims stay as they are
    cleared = run(env)  # exit 0: the claims of a company that is no partner stop no one's payouts
    assert held(hs, company) == (None, None, None, None)
    [note] = [n for n in cleared["notes"] if "MDF claim" in n]
    assert "left out: the company each names is no partner of the program" in note
    assert f": company {company}" in note
    assert f"approved in {PERIOD} left out" in note
    again = run(env)  # every run of the period says so, while the claims name it
    assert company not in changed_ids(again) and any("MDF claim" in n for n in again["notes"])
    # A later period funds none of them (none was approved in it): its run does not name them again.
    later = run_json(env, "hubspot", "--period", "2027-Q1")
    assert not any("MDF claim" in n for n in later["notes"])
