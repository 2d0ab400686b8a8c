"""Records merged in the CRM keep their history, against the sandbox: a deal paid in a closed period and
merged into a new record is not paid again, a merged partner keeps its tier and earnings record."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from cosell.results import LedgerLine
from hubspot import HubSpot
from sandboxes import cosell_in as cosell
from sandboxes import hubspot_vars, module_sandbox, salesforce_env

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
CLOSED, NEXT, LATER = "2026-Q3", "2026-Q4", "2027-Q1"
FAST = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"

sandbox, sb = module_sandbox(seed=11, partners=30, deals=600)


def run(env: dict[str, str], period: str, connector: str = "hubspot") -> dict[str, Any]:
    result = cosell(
        env, "run", "--program", env["PROGRAM"], "--connector", connector, "--period", period, "--json"
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output[result.output.index("{") :]))


def hubspot(sb: Sandbox, folder: Path) -> dict[str, str]:
    program = folder / "program.yaml"
    program.write_text((ROOT / "examples" / "program.yaml").read_text() + FAST)
    return {**hubspot_vars(sb, folder), "PROGRAM": str(program)}


def lines(env: dict[str, str], period: str) -> list[LedgerLine]:
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        return list(book.lines(period))


def deal_property(sb: Sandbox, deal_id: str, name: str) -> str | None:
    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    return hs.crm.deals.basic_api.get_by_id(deal_id, properties=[name]).properties.get(name)


def test_hubspot_a_paid_deal_and_its_partner_merged_after_the_close_are_not_paid_again(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = hubspot(sb, tmp_path)
    assert cosell(env, "setup", "hubspot").exit_code == 0
    run(env, CLOSED)
    paid = [ln for ln in lines(env, CLOSED) if ln.kind == "commission" and ln.amount > 0]
    deal, partner = paid[0].deal_id, paid[0].partner_id
    assert deal is not None
    other_partner = next(ln.partner_id for ln in paid if ln.partner_id != partner)
    other_deal = next(ln.deal_id for ln in lines(env, CLOSED) if ln.deal_id not in (None, deal))
    assert other_deal is not None
    earned = sum(  # what a deal's field holds: its commission and clawback lines (a first win's bonus is not)
        (
            ln.amount
            for ln in lines(env, CLOSED)
            if ln.deal_id in (deal, other_deal) and ln.kind in ("commission", "clawback")
        ),
        Decimal(0),
    )
    assert cosell(env, "close", "--period", CLOSED).exit_code == 0

    # after the close, a user merges the paid deal with another (it stays won in the closed quarter) and
    # the partner with another partner company: HubSpot gives both results new ids
    new_deal = sb.merge_hubspot("deals", deal, other_deal)
    new_partner = sb.merge_hubspot("companies", partner, other_partner)
    run(env, NEXT)

    after = lines(env, NEXT)
    assert not [ln for ln in after if ln.deal_id == new_deal], "the merged deal was paid again"
    assert not [ln for ln in after if ln.partner_id == new_partner and ln.kind == "signing_bonus"]
    assert {ln.partner_id for ln in after} & {partner, other_partner} == set()  # the old ids are gone
    # the merged deal shows what its two old ids earned, the partner its standing under the new id
    assert Decimal(deal_property(sb, new_deal, "cosell_incentive") or "0") == earned
    assert deal_property(sb, new_deal, "cosell_incentive_status") == "Earned"
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        assert new_partner in {s.partner_id for s in book.standings(NEXT)}


def salesforce_merged_after_the_close(sb: Sandbox, folder: Path) -> tuple[dict[str, str], str, str, set[str]]:
    """A Salesforce run of CLOSED, closed; then an admin merges a paid partner's account (the victim) into
    another's (the master): Salesforce keeps the master's id, moves the victim's opportunities and partner
    rows to it and deletes the victim. Returns the environment, the master, the victim and its paid deals."""
    env = {**salesforce_env(sb, folder), "PROGRAM": str(ROOT / "examples" / "program.yaml")}
    assert cosell(env, "setup", "salesforce").exit_code == 0
    run(env, CLOSED, "salesforce")
    paid = [ln for ln in lines(env, CLOSED) if ln.kind == "commission" and ln.amount > 0]
    victim = paid[0].partner_id
    master = next(ln.partner_id for ln in paid if ln.partner_id != victim)
    victims_deals = {str(ln.deal_id) for ln in paid if ln.partner_id == victim}
    assert cosell(env, "close", "--period", CLOSED).exit_code == 0
    sb.merge_salesforce_accounts(master, victim)
    return env, master, victim, victims_deals


def standings_of(env: dict[str, str], period: str) -> set[str]:
    with Ledger.connect(env["COSELL_LEDGER"]) as book:
        return {s.partner_id for s in book.standings(period)}


def test_salesforce_a_partner_account_merged_into_another_after_the_close_keeps_its_deals_paid_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, master, victim, victims_deals = salesforce_merged_after_the_close(sb, tmp_path)
    run(env, NEXT, "salesforce")

    after = lines(env, NEXT)
    assert not [ln for ln in after if ln.deal_id in victims_deals], "the victim's deals were paid again"
    assert not [ln for ln in after if ln.partner_id == master and ln.kind == "signing_bonus"]
    assert master in standings_of(env, NEXT) and victim not in standings_of(env, NEXT)


def test_salesforce_a_merged_account_undeleted_later_leaves_the_deals_the_merge_moved_paid_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, master, victim, victims_deals = salesforce_merged_after_the_close(sb, tmp_path)
    run(env, NEXT, "salesforce")
    assert cosell(env, "close", "--period", NEXT).exit_code == 0

    # an admin undeletes the merged account: it is a partner again, its opportunities stay the master's
    sb.undelete_salesforce(victim)
    run(env, LATER, "salesforce")

    moved_paid_again = [ln for ln in lines(env, LATER) if ln.deal_id in victims_deals]
    assert not moved_paid_again
    assert {master, victim} <= standings_of(env, LATER)


def test_salesforce_an_undeleted_account_merged_again_into_another_leaves_the_first_masters_deals_paid_once(
    sb: Sandbox, tmp_path: Path
) -> None:
    env, master, victim, victims_deals = salesforce_merged_after_the_close(sb, tmp_path)
    other = next(
        ln.partner_id
        for ln in lines(env, CLOSED)
        if ln.kind == "commission" and ln.amount > 0 and ln.partner_id not in (master, victim)
    )
    run(env, NEXT, "salesforce")
    assert cosell(env, "close", "--period", NEXT).exit_code == 0
    sb.undelete_salesforce(victim)
    run(env, LATER, "salesforce")
    assert cosell(env, "close", "--period", LATER).exit_code == 0

    # the undeleted account is merged again, into another master: the deals the first merge moved stay
    # with the first master, and what the account was paid on them still counts as paid to it
    sb.merge_salesforce_accounts(other, victim)
    run(env, "2027-Q2", "salesforce")

    paid_again = [ln for ln in lines(env, "2027-Q2") if ln.deal_id in victims_deals]
    assert not paid_again
    assert master in standings_of(env, "2027-Q2") and victim not in standings_of(env, "2027-Q2")
