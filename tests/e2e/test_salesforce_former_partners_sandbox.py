"""A Salesforce account cosell wrote as a partner that the connector no longer reads as one (its partner
status set to inactive, so the partner filter leaves it out) has its cosell fields cleared by the next run,
once, and its open deals' projections taken back, against the sandbox with the real client libraries
(HubSpot: test_hubspot_former_partners_sandbox.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from sandboxes import cosell_in as cosell
from sandboxes import module_sandbox, run_json
from sandboxes import salesforce_env as env_of

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-Q3"  # the example program's open period
# The example's partner filter, with the partner status an admin sets to "Inactive" on a partner that
# leaves the program without an exit (Exiting and Exited partners stay in and show "Exited (was …)").
SALESFORCE_FILTER = (
    "\n  salesforce: {partner_filter: \"IsPartner = true AND Partner_Status__c != 'Inactive'\"}\n"
)
SF_ACCOUNT = ("Cosell_Tier__c", "Cosell_Score__c", "Cosell_Period_Earnings__c", "Cosell_Tier_Benefits__c")
SF_DEAL = ("Cosell_Incentive__c", "Cosell_Incentive_Status__c", "Cosell_Incentive_Note__c")

sandbox, sb = module_sandbox(seed=5, partners=30, deals=1200)


def run(env: dict[str, str]) -> dict[str, Any]:
    return run_json(env, "salesforce")


def first_run(env: dict[str, str]) -> None:
    """Set up, run, and sync once more, so the snapshot holds what cosell wrote: a rerun then has
    nothing to write."""
    assert cosell(env, "setup", "salesforce").exit_code == 0
    run(env)
    synced = cosell(env, "sync", "--program", env["PROGRAM"], "--connector", "salesforce")
    assert synced.exit_code == 0, synced.output


def environment(sb: Sandbox, folder: Path) -> dict[str, str]:
    program = folder / "program.yaml"
    text = (ROOT / "examples" / "program.yaml").read_text()
    assert "\nplugins:" not in text
    program.write_text(text + "\nplugins:" + SALESFORCE_FILTER)
    return {**env_of(sb, folder), "PROGRAM": str(program)}


def after_a_first_run(sb: Sandbox, folder: Path) -> tuple[dict[str, str], Salesforce]:
    """The environment of a program over the sandbox's org once :func:`first_run` ran, and a client of
    the org."""
    env = environment(sb, folder)
    first_run(env)
    return env, simple_salesforce(sb)


def partners_alone_on_open_deals(env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Partners that are the only partner projected on some open deal, each with those deals, the
    partners with the most such deals first."""
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        projections = book.projections(PERIOD)
    by_deal: dict[str, set[str]] = {}
    for p in projections:
        by_deal.setdefault(p.deal_id, set()).add(p.partner_id)
    alone: dict[str, list[str]] = {}
    for deal, partners in sorted(by_deal.items()):
        if len(partners) == 1:
            alone.setdefault(next(iter(partners)), []).append(deal)
    return sorted(alone.items(), key=lambda item: (-len(item[1]), item[0]))


def changed_ids(report: dict[str, Any]) -> set[str]:
    return {c["id"] for c in report["changes"] if c["object"] == "account"}


def simple_salesforce(sb: Sandbox) -> Salesforce:
    session = requests.Session()
    session.verify = sb.ca_bundle
    return Salesforce(instance_url=sb.salesforce_instance_url, session_id=sb.token, session=session)


def sf_values(sf: Salesforce, sobject: str, record_id: str, fields: tuple[str, ...]) -> tuple[Any, ...]:
    found = sf.query(f"SELECT {', '.join(fields)} FROM {sobject} WHERE Id = '{record_id}'")["records"]
    assert len(found) == 1
    return tuple(found[0][f] for f in fields)


def test_salesforce_an_account_set_inactive_has_its_cosell_fields_cleared_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, sf = after_a_first_run(sb, tmp_path)
    account, deals = next(
        (account, deals)
        for account, deals in partners_alone_on_open_deals(env)
        if sf_values(sf, "Account", account, ("Partner_Status__c",)) == ("Active",)
    )
    tier, score, earnings, _ = sf_values(sf, "Account", account, SF_ACCOUNT)
    assert tier and score is not None and earnings is not None
    assert all(sf_values(sf, "Opportunity", d, SF_DEAL)[1] in ("Projected", "Withheld") for d in deals)

    sf.Account.update(account, {"Partner_Status__c": "Inactive"})
    cleared = run(env)
    assert sf_values(sf, "Account", account, SF_ACCOUNT) == (None, None, None, None)
    for deal in deals:  # it still names the account, no partner of the program now: nothing projected
        assert sf_values(sf, "Opportunity", deal, SF_DEAL) == (None, None, None)
    change = next(c for c in cleared["changes"] if c["id"] == account)
    assert change["old"]["tier"] == tier and set(change["values"].values()) == {None}

    written = sb.stats()["records_written"]["Account"]
    again = run(env)  # written once: nothing left to clear
    assert sb.stats()["records_written"]["Account"] == written
    assert account not in changed_ids(again) and not again["failures"]


def test_salesforce_an_account_no_longer_a_partner_and_deleted_is_not_written(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, sf = after_a_first_run(sb, tmp_path)
    (account, _), (purged, _) = partners_alone_on_open_deals(env)[:2]
    sf.Account.update(account, {"Partner_Status__c": "Inactive"})
    sf.Account.delete(account)  # in the recycle bin: the incremental read sees it deleted
    sf.Account.update(purged, {"Partner_Status__c": "Inactive"})
    run(env)  # cleared: its tier is written empty
    sf.Account.delete(purged)
    sb.purge()  # gone for good, before the next read
    for _ in range(2):
        rerun = run(env)  # exit 0: nothing to clear on records the org no longer has
        assert not rerun["failures"]
        assert {account, purged}.isdisjoint(changed_ids(rerun))


def test_salesforce_an_account_set_inactive_mid_period_is_named_with_the_money_and_claims_the_period_drops(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, sf = after_a_first_run(sb, tmp_path)
    claims = sf.query_all(
        "SELECT Id, ChannelPartnerId FROM PartnerFundClaim "
        "WHERE Approved_On__c >= 2026-07-01 AND Approved_On__c <= 2026-09-30"
    )["records"]
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        paid = {line.partner_id for line in book.lines(PERIOD)}
    account = sorted(
        {c["ChannelPartnerId"] for c in claims} & paid,
        key=lambda a: sf_values(sf, "Account", a, ("Partner_Status__c",)) != ("Active",),
    )[0]
    its_claims = sorted(c["Id"] for c in claims if c["ChannelPartnerId"] == account)

    sf.Account.update(account, {"Partner_Status__c": "Inactive"})
    rerun = run(env)
    [left] = [n for n in rerun["notes"] if account in n and "no longer among the records" in n]
    assert f"its lines of {PERIOD} from the period's previous run" in left and "no longer paid" in left
    assert "its account's fields are cleared" in left and account in changed_ids(rerun)
    [claimed] = [n for n in rerun["notes"] if "MDF claim" in n]
    assert f"approved in {PERIOD} left out" in claimed
    assert f"claim {its_claims[0]}: account {account}" in claimed or claimed.endswith("more)")
    # Said by the run that dropped the lines; a later period funds none of those claims: not named again.
    again = run(env)
    assert not any(account in n and "no longer among the records" in n for n in again["notes"])
    later = run_json(env, "salesforce", "--period", "2027-Q1")
    assert not any("MDF claim" in n for n in later["notes"])


def test_salesforce_an_account_deleted_mid_period_is_named_without_saying_its_fields_are_cleared(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = environment(sb, tmp_path)
    first_run(env)
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        account = sorted({line.partner_id for line in book.lines(PERIOD) if line.amount})[0]
    simple_salesforce(sb).Account.delete(account)  # in the recycle bin: the incremental read sees it deleted

    rerun = run(env)

    [left] = [n for n in rerun["notes"] if account in n and "no longer among the records" in n]
    assert "no longer paid" in left and "cleared" not in left
    assert (
        "its account is not written: the write-back target no longer holds it, or holds no value of it to clear"
        in left
    )
    assert account not in changed_ids(rerun) and not rerun["failures"]
