"""Tier benefits reach the partner's account: `cosell setup` creates the long-text field, `cosell run` writes
the tier's benefits one a line, only when they changed (Salesforce and HubSpot sandboxes, real clients)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from cosell.cli import app
from cosell.contrib.sandbox import Sandbox
from cosell.program import load_program
from hubspot import HubSpot
from sandboxes import hubspot_env, module_sandbox
from sandboxes import salesforce_env as env_of

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
FAST = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"
TOOLING = "/services/data/v59.0/tooling/sobjects/CustomField"
Holdings = dict[str, tuple[str | None, str | None]]
"""Account id → (tier, benefits) as the CRM holds them."""

sandbox, sb = module_sandbox(seed=5, partners=24, deals=400, drop_ca_variables=False)


def benefits_of(program: Path) -> dict[str, str]:
    """Tier → what its accounts should hold: the benefits one a line."""
    return {t.name: "\n".join(t.benefits) for t in load_program(program).program.tiers}


def program_in(folder: Path, extra: str = "") -> Path:
    path = folder / "program.yaml"
    path.write_text((ROOT / "examples" / "program.yaml").read_text() + extra)
    return path


def cosell(env: dict[str, str] | None, *args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def rename_gold_benefit(program: Path) -> None:
    text = program.read_text()
    assert "a named partner manager]" in text
    program.write_text(
        text.replace("a named partner manager]", "a named partner manager and an executive sponsor]")
    )


# --- Salesforce ------------------------------------------------------------------------------------


def sf_get(sb: Sandbox, path: str) -> Any:
    answer = requests.get(
        sb.base_url + path, headers={"Authorization": f"Bearer {sb.token}"}, verify=sb.ca_bundle, timeout=30
    )
    answer.raise_for_status()
    return answer.json()


def sf_accounts(sb: Sandbox) -> dict[str, tuple[str | None, str | None]]:
    """Account id → (tier, benefits) as the org holds them."""
    query = "SELECT Id, Cosell_Tier__c, Cosell_Tier_Benefits__c FROM Account WHERE Cosell_Tier__c != null"
    answer = sf_get(sb, f"/services/data/v59.0/query?q={query}")
    return {r["Id"]: (r["Cosell_Tier__c"], r["Cosell_Tier_Benefits__c"]) for r in answer["records"]}


def accounts_written(sb: Sandbox) -> int:
    return int(sb.stats()["records_written"].get("Account", 0))


def test_salesforce_setup_creates_the_benefits_field_as_a_long_text_area(sb: Sandbox, tmp_path: Path) -> None:
    env = env_of(sb, tmp_path)
    first = cosell(env, "setup", "salesforce")
    assert "Account.Cosell_Tier_Benefits__c" in first.output
    field = next(
        f
        for f in sf_get(sb, "/services/data/v59.0/sobjects/Account/describe")["fields"]
        if f["name"] == "Cosell_Tier_Benefits__c"
    )
    assert field["type"] == "textarea" and field["length"] == 32768
    again = cosell(env, "setup", "salesforce")
    assert (
        "exists    Account.Cosell_Tier_Benefits__c" in again.output
        or "Account.Cosell_Tier_Benefits__c" in again.output
    )
    assert sb.stats()["requests"][f"POST {TOOLING.replace('v59.0', 'vXX.X')}"] == 7


def test_salesforce_refuses_a_long_text_area_without_its_length_or_lines_as_the_real_api_does(
    sb: Sandbox,
) -> None:
    def create(metadata: dict[str, Any]) -> requests.Response:
        return requests.post(
            sb.base_url + TOOLING,
            json={
                "FullName": "Account.Notes_X__c",
                "Metadata": {"label": "X", "type": "LongTextArea", **metadata},
            },
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=sb.ca_bundle,
            timeout=30,
        )

    for metadata, message in (
        ({"visibleLines": 5}, "Length: value not specified"),
        ({"length": 100, "visibleLines": 5}, "Length: value outside of valid range"),
        ({"length": 4000}, "Visible Lines: value not specified"),
    ):
        refused = create(metadata)
        assert refused.status_code == 400 and message in refused.text
    assert create({"length": 4000, "visibleLines": 3}).status_code == 201


def benefits_follow_the_program(
    program: Path, run: Callable[[], object], held: Callable[[], Holdings], written: Callable[[], int]
) -> None:
    """The first run writes each account its tier's benefits, one a line; a rerun writes nothing; after a
    Gold benefit changes in the program, only the Gold accounts are written again."""
    run()
    expected = benefits_of(program)
    accounts = held()
    assert len({tier for tier, _ in accounts.values()}) >= 2
    for tier, benefits in accounts.values():
        assert benefits == expected.get(tier)  # a partner that has left ("Exited (was Gold)") holds none
    assert any("\n" in (benefits or "") for _, benefits in accounts.values())  # one benefit a line

    before = written()
    run()
    assert written() == before

    rename_gold_benefit(program)
    run()
    gold = {rid for rid, (tier, _) in accounts.items() if tier == "Gold"}
    assert gold and written() - before == len(gold)
    after = held()
    assert all(
        (after[rid][1] or "").endswith("a named partner manager and an executive sponsor") for rid in gold
    )
    assert all(after[rid] == accounts[rid] for rid in accounts if rid not in gold)


def test_salesforce_accounts_get_their_tiers_benefits_once_and_again_only_when_they_change(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = env_of(sb, tmp_path)
    program = program_in(tmp_path)
    cosell(env, "setup", "salesforce")
    benefits_follow_the_program(
        program,
        lambda: cosell(env, "run", "--program", str(program), "--connector", "salesforce"),
        lambda: sf_accounts(sb),
        lambda: accounts_written(sb),
    )


# --- HubSpot ---------------------------------------------------------------------------------------


@pytest.fixture()
def hs_env(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hubspot_env(sb, tmp_path, monkeypatch)
    monkeypatch.setenv("COSELL_LOAD_PLUGINS", "")
    return program_in(tmp_path, FAST)


def hs_companies(sb: Sandbox) -> dict[str, tuple[str | None, str | None]]:
    """Company id → (tier, benefits) as the portal holds them, for the companies cosell gave a tier."""
    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    out: dict[str, tuple[str | None, str | None]] = {}
    after = None
    while True:
        page = hs.crm.objects.basic_api.get_page(
            "companies", limit=100, after=after, properties=["cosell_tier", "cosell_tier_benefits"]
        )
        for r in page.results:
            if r.properties.get("cosell_tier"):
                out[r.id] = (r.properties["cosell_tier"], r.properties.get("cosell_tier_benefits"))
        if not (page.paging and page.paging.next):
            return out
        after = page.paging.next.after


def companies_written(sb: Sandbox) -> int:
    return int(sb.stats()["records_written"].get("companies", 0))


def test_hubspot_setup_creates_the_benefits_property_as_a_textarea(sb: Sandbox, hs_env: Path) -> None:
    first = cosell(None, "setup", "hubspot")
    assert "companies.cosell_tier_benefits (string)" in first.output
    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    prop = hs.crm.properties.core_api.get_by_name("companies", "cosell_tier_benefits")
    assert prop.type == "string" and prop.field_type == "textarea" and prop.group_name == "cosell"
    again = cosell(None, "setup", "hubspot")
    assert "created   companies.cosell_tier_benefits" not in again.output


def test_hubspot_companies_get_their_tiers_benefits_once_and_again_only_when_they_change(
    sb: Sandbox, hs_env: Path
) -> None:
    cosell(None, "setup", "hubspot")
    benefits_follow_the_program(
        hs_env,
        lambda: cosell(None, "run", "--program", str(hs_env), "--connector", "hubspot"),
        lambda: hs_companies(sb),
        lambda: companies_written(sb),
    )
