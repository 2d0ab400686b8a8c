"""`cosell compare --connector salesforce|hubspot` against the sandbox: it reads what changed in the CRM
since the last run and computes with it, and it writes nothing: no CRM call that changes a record, no
snapshot, cursor or line kept in the ledger."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from cosell.cli import app
from cosell.connector import FieldWrite
from cosell.connectors.salesforce.connector import SalesforceConnector
from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from cosell.program import load_program
from sandboxes import hubspot_vars, module_sandbox, salesforce_org_values
from sandboxes import salesforce_env as env_of

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
FAST_HUBSPOT = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"
READS = ("GET ", "/query", "/search", "/batch/read")
"""What a request that only reads looks like in the sandbox's stats (searches and batch reads are POSTs)."""

sandbox, sb = module_sandbox(seed=5, partners=12, deals=300, drop_ca_variables=False)


def cosell(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def programs(folder: Path, extra: str = "") -> tuple[str, str]:
    text = (ROOT / "examples" / "program.yaml").read_text(encoding="utf-8") + extra
    variant = text.replace('commission_rate: "0.08"', 'commission_rate: "0.10"')
    (folder / "program.yaml").write_text(text, encoding="utf-8")
    (folder / "variant.yaml").write_text(variant, encoding="utf-8")
    return str(folder / "program.yaml"), str(folder / "variant.yaml")


def requests_made(sb: Sandbox) -> dict[str, int]:
    return dict(sb.stats()["requests"])


def writing_requests(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The requests made in between that are not reads."""
    return [
        key
        for key, n in after.items()
        if n != before.get(key, 0) and not (key.startswith("GET ") or key.split("?")[0].endswith(READS[1:]))
    ]


def check_compare_reads_changes_and_writes_nothing(
    sb: Sandbox, env: dict[str, str], connector: str, program: str, variant: str, change: Any
) -> None:
    assert cosell(env, "setup", connector).exit_code == 0
    first = cosell(env, "run", "--program", program, "--connector", connector)
    assert first.exit_code in (0, 3), first.output
    change()  # a won deal's amount changes in the CRM after the run
    ledger = Path(env["COSELL_LEDGER"].removeprefix("sqlite:///"))
    digest = hashlib.sha256(ledger.read_bytes()).hexdigest()
    before = requests_made(sb)
    compared = cosell(
        env, "compare", "-p", program, "-p", variant, "--connector", connector, "--format", "json"
    )
    assert compared.exit_code == 0, compared.output
    assert writing_requests(before, requests_made(sb)) == []
    assert hashlib.sha256(ledger.read_bytes()).hexdigest() == digest
    # A real run now reads the same change: its partners are exactly what compare showed for the base.
    rerun = cosell(env, "run", "--program", program, "--connector", connector, "--json", "--dry-run")
    assert rerun.exit_code == 0, rerun.output
    report = json.loads(rerun.output[rerun.output.index("{") :])
    figures = {p["id"]: p["results"][0] for p in json.loads(compared.output)["partners"]}
    assert figures == {
        row["id"]: {
            "tier": row["tier"],
            "tier_shown": row["tier_shown"],
            "score": row["score"],
            "earnings": row["earnings"],
        }
        for row in report["partners"]
    }


def test_compare_over_salesforce_reads_the_orgs_changes_and_writes_nothing(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = env_of(sb, tmp_path)
    program, variant = programs(tmp_path)
    headers = {"Authorization": f"Bearer {sb.token}"}

    def change() -> None:
        query = f"{sb.base_url}/services/data/v59.0/query?q=SELECT Id FROM Opportunity WHERE IsWon = true"
        deal = requests.get(query, headers=headers, verify=sb.ca_bundle, timeout=30).json()["records"][0][
            "Id"
        ]
        answer = requests.patch(
            f"{sb.base_url}/services/data/v59.0/sobjects/Opportunity/{deal}",
            json={"Amount": 987654.32},
            headers=headers,
            verify=sb.ca_bundle,
            timeout=30,
        )
        assert answer.status_code == 204, answer.text

    check_compare_reads_changes_and_writes_nothing(sb, env, "salesforce", program, variant, change)


def test_compare_over_hubspot_reads_the_portals_changes_and_writes_nothing(
    sb: Sandbox, tmp_path: Path
) -> None:
    env = {
        "HUBSPOT_ACCESS_TOKEN": sb.token,
        "HUBSPOT_BASE_URL": sb.hubspot_base_url,
        "HUBSPOT_CA_BUNDLE": sb.ca_bundle,
        "COSELL_LEDGER": f"sqlite:///{tmp_path}/ledger.db",
        "COSELL_LOG": str(tmp_path / "cosell.log"),
        "COSELL_LOAD_PLUGINS": "",
    }
    program, variant = programs(tmp_path, FAST_HUBSPOT)

    def change() -> None:
        with Ledger.connect(env["COSELL_LEDGER"], create=False) as book:
            won = next(
                d
                for d, p in book.snapshot(f"hubspot:{sb.portal_id}", "deals")
                if p.get("dealstage") == "closedwon"
            )
        answer = requests.patch(
            f"{sb.hubspot_base_url}/crm/v3/objects/deals/{won}",
            json={"properties": {"amount": "987654.32"}},
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=sb.ca_bundle,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    check_compare_reads_changes_and_writes_nothing(sb, env, "hubspot", program, variant, change)


def test_compare_leaves_a_bulk_job_a_killed_run_left_for_the_next_run_to_settle(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_of(sb, tmp_path)
    settings = "plugins:\n  salesforce: {bulk_write_threshold: 100}\n"
    program, variant = programs(tmp_path, "\n" + settings)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    options = {"env": env, "settings": {"salesforce": {"bulk_write_threshold": 100}}}
    deals = [i for i in salesforce_org_values(sb) if i.startswith("006")][:120]
    writes = [FieldWrite("deal", rid, {"incentive": "1.25"}) for rid in deals]
    with Ledger.connect(env["COSELL_LEDGER"]) as ledger:
        killed = SalesforceConnector.from_options(options)
        killed.sync(load_program(program).program, ledger)
        real_raw = killed.client.raw

        def dies_on_upload(method: str, path: str, **kwargs: Any) -> Any:
            if method == "PUT":
                raise KeyboardInterrupt
            return real_raw(method, path, **kwargs)

        monkeypatch.setattr(killed.client, "raw", dies_on_upload)
        with pytest.raises(KeyboardInterrupt):
            killed.write(writes)
        job = ledger.state(f"salesforce:{sb.org_id}", "bulk_job:Opportunity")
    assert job
    before = requests_made(sb)
    compared = cosell(env, "compare", "-p", program, "-p", variant, "--connector", "salesforce")
    assert compared.exit_code == 0, compared.output
    assert writing_requests(before, requests_made(sb)) == []  # the open job is not aborted
    with Ledger.connect(env["COSELL_LEDGER"], create=False) as ledger:
        assert ledger.state(f"salesforce:{sb.org_id}", "bulk_job:Opportunity") == job


def test_the_sandbox_s_deals_close_on_the_same_day_through_salesforce_and_hubspot_in_new_york(
    sb: Sandbox, tmp_path: Path
) -> None:
    # Both CRMs hold the same seeded deals; HubSpot's closedate is the day at midnight UTC, which in the
    # example program's timezone (America/New_York) is the evening before: it must still be that day.
    from cosell.connectors.hubspot.writer import HubSpotConnector

    program_file, _ = programs(tmp_path, FAST_HUBSPOT)
    program = load_program(Path(program_file)).program
    assert program.timezone == "America/New_York"
    sf_env, hs_env = env_of(sb, tmp_path), hubspot_vars(sb, tmp_path)
    for env, connector in ((sf_env, "salesforce"), (hs_env, "hubspot")):
        assert cosell(env, "setup", connector).exit_code == 0  # the managed fields the reads ask for
    with Ledger.connect(f"sqlite:///{tmp_path}/read.db") as ledger:
        salesforce = SalesforceConnector.from_options({"env": sf_env, "settings": {}}).read(program, ledger)
        settings = {"hubspot": {"search_requests_per_second": 1000}}
        hubspot = HubSpotConnector.from_options({"env": hs_env, "settings": settings}).read(program, ledger)
    on_salesforce = {d.name: d.closed_on for d in salesforce.deals}
    on_hubspot = {d.name: d.closed_on for d in hubspot.deals}
    assert on_hubspot.keys() == on_salesforce.keys()
    assert sum(day is not None for day in on_hubspot.values()) > 50
    assert on_hubspot == on_salesforce
