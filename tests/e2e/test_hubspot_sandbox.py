"""`cosell setup/sync/run --connector hubspot` against the sandbox, through the unmodified hubspot-api-client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cosell.cli import app
from cosell.contrib.sandbox import Sandbox, serve
from cosell.ledger import Ledger
from hubspot import HubSpot
from sandboxes import hubspot_env, module_sandbox

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
FAST = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n"
MANAGED = {
    "companies": ["cosell_tier", "cosell_score", "cosell_period_earnings"],
    "deals": ["cosell_incentive", "cosell_incentive_status", "cosell_incentive_note"],
}


sandbox, fresh = module_sandbox(seed=7, partners=30, deals=1200, drop_ca_variables=False, fresh_name="fresh")


@pytest.fixture()
def sb(fresh: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    point_at(fresh, tmp_path, monkeypatch)
    return fresh


def point_at(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hubspot_env(sb, tmp_path, monkeypatch)
    (tmp_path / "program.yaml").write_text((ROOT / "examples" / "program.yaml").read_text() + FAST)


def cosell(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run(*extra: str) -> Result:
    return cosell("run", "--program", "program.yaml", "--connector", "hubspot", "--json", *extra)


def report(result: Result) -> dict[str, Any]:
    assert result.exit_code in (0, 3), result.output
    return dict(json.loads(result.output[result.output.index("{") :]))


def writes(sb: Sandbox) -> int:
    stats = sb.stats()
    return sum(n for key, n in stats["requests"].items() if key.endswith("/batch/update"))


def org_state(sb: Sandbox) -> dict[str, dict[str, dict[str, str | None]]]:
    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    state: dict[str, dict[str, dict[str, str | None]]] = {}
    for object_type, props in MANAGED.items():
        rows: dict[str, dict[str, str | None]] = {}
        after = None
        while True:
            page = hs.crm.objects.basic_api.get_page(object_type, limit=100, after=after, properties=props)
            for r in page.results:
                rows[r.id] = {p: r.properties.get(p) for p in props}
            if not (page.paging and page.paging.next):
                break
            after = page.paging.next.after
        state[object_type] = rows
    return state


def test_setup_creates_properties_once_then_lists_them(sb: Sandbox) -> None:
    first = cosell("setup", "hubspot")
    assert first.exit_code == 0, first.output
    assert "created   deals.cosell_incentive (number)" in first.output
    again = cosell("setup", "hubspot")
    assert again.exit_code == 0 and "created" not in again.output.replace("created them", "")
    assert "deals.cosell_incentive_status (enumeration)" in again.output


def test_first_run_writes_then_unchanged_rerun_sends_nothing_and_a_change_sends_one(sb: Sandbox) -> None:
    assert cosell("setup", "hubspot").exit_code == 0
    first = report(run())
    changed = len(first["changes"]) if "changes" in first else None
    calls = writes(sb)
    written = sum(sb.stats()["records_written"].values())
    assert written > 100 and (changed is None or changed == written)
    assert calls <= -(-written // 100) + 1  # one extra call when a batch holds companies and deals

    report(run())
    assert writes(sb) == calls  # unchanged rerun: 0 write calls

    # incremental: one won deal's amount changes in the portal; the rerun reads it and rewrites it
    with Ledger.connect(os.environ["COSELL_LEDGER"]) as book:
        won = [
            d
            for d, p in book.snapshot(f"hubspot:{sb.portal_id}", "deals")
            if p.get("dealstage") == "closedwon" and p.get("cosell_incentive")
        ]
    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    from hubspot.crm.objects import SimplePublicObjectInput

    old = hs.crm.objects.basic_api.get_by_id("deals", won[0], properties=["amount", "cosell_incentive"])
    amount = str(int(float(old.properties["amount"])) * 2)
    hs.crm.objects.basic_api.update("deals", won[0], SimplePublicObjectInput(properties={"amount": amount}))
    again = report(run())
    assert {c["id"] for c in again["changes"] if c["object"] == "deal"} == {won[0]}
    assert 1 <= writes(sb) - calls <= 2  # the deal, and its partners' earnings
    new = hs.crm.objects.basic_api.get_by_id("deals", won[0], properties=["cosell_incentive"])
    assert new.properties["cosell_incentive"] != old.properties["cosell_incentive"]


def test_refused_records_exit_3_and_the_others_are_written(sb: Sandbox) -> None:
    assert cosell("setup", "hubspot").exit_code == 0
    clean = report(run("--dry-run"))
    deal_ids = [c["id"] for c in clean["changes"] if c["object"] == "deal"][:2]
    sb.set_faults({"invalid": deal_ids})
    result = run()
    assert result.exit_code == 3, result.output
    assert all(d in result.output for d in deal_ids)
    assert sum(sb.stats()["records_written"].values()) == len(clean["changes"]) - 2
    sb.set_faults(None)
    assert run().exit_code == 0  # the refused ones are retried on the next run
    assert sum(sb.stats()["records_written"].values()) == len(clean["changes"])


def test_a_30_percent_429_storm_converges(sb: Sandbox) -> None:
    assert cosell("setup", "hubspot").exit_code == 0
    sb.set_faults("429=0.3,retry_after=0")
    result = run()
    assert result.exit_code == 0, result.output
    sb.set_faults(None)
    calls = writes(sb)
    report(run())
    assert writes(sb) == calls


def test_a_refused_token_is_exit_4_and_never_printed(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-secret-0000")
    result = run()
    assert result.exit_code == 4
    assert "401" in result.output and "secret-0000" not in result.output
    assert "secret-0000" not in (Path("cosell.log").read_text() if Path("cosell.log").exists() else "")


def test_more_than_10000_deals_are_all_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with serve(seed=5, partners=10, deals=10_500) as big:
        point_at(big, tmp_path, monkeypatch)
        hs = HubSpot(access_token=big.token, host=big.hubspot_base_url, ssl_ca_cert=big.ca_bundle)
        from hubspot.crm.objects import PublicObjectSearchRequest

        total = hs.crm.objects.search_api.do_search("deals", PublicObjectSearchRequest(limit=1)).total
        assert total > 10_000
        result = cosell("sync", "--program", "program.yaml", "--connector", "hubspot")
        assert result.exit_code == 0, result.output
        with Ledger.connect(os.environ["COSELL_LEDGER"]) as book:
            assert book.snapshot_count(f"hubspot:{big.portal_id}", "deals") == total
            # the first read listed them; a search (incremental reads) pages by key, a new query from the
            # last id read each page, so it never meets the 10,000-result cap and costs a call a page
            from cosell.connectors.hubspot.client import Credentials, HubSpotClient
            from cosell.connectors.hubspot.mapping import HubSpotSettings
            from cosell.connectors.hubspot.reader import SearchStream

            client = HubSpotClient(Credentials.from_env(os.environ), search_per_second=1000)
            key = f"hubspot:{big.portal_id}"
            stream = SearchStream(client, HubSpotSettings(), book, key, "deals", ["hs_object_id"], [])
            found = [r["id"] for page in stream.search(["hs_object_id"], [], None) for r in page]
            assert len(found) == len(set(found)) == total
            assert client.calls["search"] == -(-total // 200)


def test_kill_9_mid_write_back_then_rerun_converges_without_doubling(sb: Sandbox, tmp_path: Path) -> None:
    assert cosell("setup", "hubspot").exit_code == 0
    clean = report(run())
    expected_state = org_state(sb)
    expected_written = sum(sb.stats()["records_written"].values())
    assert expected_written > 300

    sb.reset()
    os.remove(tmp_path / "ledger.db")
    assert cosell("setup", "hubspot").exit_code == 0
    args = ["run", "--program", "program.yaml", "--connector", "hubspot"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cosell.cli import main; main()", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        slowed = False
        while time.monotonic() < deadline:
            stats = sb.stats()
            if not slowed and stats["requests"].get("GET /crm/v3/pipelines/deals"):
                sb.set_faults("latency=400ms")  # the reads are done: make each write slow
                slowed = True
            if sum(stats["records_written"].values()) >= 100:
                break
            time.sleep(0.02)
        landed = sum(sb.stats()["records_written"].values())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 100 <= landed < expected_written, "kill -9 came too early or too late"
    sb.set_faults(None)
    report(run())
    assert sum(sb.stats()["records_written"].values()) == expected_written  # nothing written twice
    assert org_state(sb) == expected_state
    assert clean  # the clean run's report was read


def test_setup_refuses_a_managed_property_that_lives_outside_cosells_group(sb: Sandbox) -> None:
    from hubspot.crm.properties import PropertyCreate

    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    hs.crm.properties.core_api.create(
        "deals",
        property_create=PropertyCreate(
            name="partner_incentive", label="Partner incentive", type="number", field_type="number",
            group_name="dealinformation",
        ),
    )  # fmt: skip
    program = Path("program.yaml").read_text()
    Path("program.yaml").write_text(program.replace("60}", "60, incentive_property: partner_incentive}"))
    result = cosell("setup", "hubspot", "--program", "program.yaml")
    assert result.exit_code == 3, result.output
    assert "deals.partner_incentive exists in the property group 'dealinformation'" in result.output


def test_full_reads_list_100_a_page_and_incremental_reads_search(sb: Sandbox) -> None:
    def calls() -> dict[str, int]:
        return dict(sb.stats()["requests"])

    def sync(*extra: str) -> dict[str, int]:
        before = calls()
        result = cosell("sync", "--program", "program.yaml", "--connector", "hubspot", *extra)
        assert result.exit_code == 0, result.output
        return {k: n - before.get(k, 0) for k, n in calls().items() if n != before.get(k, 0)}

    deals = sb.stats()["hubspot_records"]["deals"]
    first = sync()
    assert "POST /crm/v3/objects/deals/search" not in first
    # every deal page, and one listing of the archived ones
    assert first["GET /crm/v3/objects/deals"] == -(-deals // 100) + 1
    assert not any(key.endswith("/search") for key in first)
    incremental = sync()
    assert incremental["POST /crm/v3/objects/deals/search"] >= 1
    assert incremental["GET /crm/v3/objects/deals"] == 1  # the archived ids only
    full = sync("--full-sync")
    assert full["GET /crm/v3/objects/deals"] == -(-deals // 100) + 1
    assert "POST /crm/v3/objects/deals/search" not in full


def test_a_change_made_while_a_long_read_pages_is_read_by_the_next_sync(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot's pages are no snapshot: a deal changed after its page was read, while later pages show
    # newer stamps (here ~5 minutes of other writes, the sandbox's clock moving a second a write), must
    # be asked for again by the next incremental read.
    import requests

    from cosell.connectors.hubspot.client import HubSpotClient

    def patch(deal_id: str, properties: dict[str, str]) -> None:
        answer = requests.patch(
            f"{sb.hubspot_base_url}/crm/v3/objects/deals/{deal_id}",
            json={"properties": properties},
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=sb.ca_bundle,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    listing = HubSpotClient.list_page
    edited: list[str] = []

    def list_page(self: HubSpotClient, object_type: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        page = listing(self, object_type, *args, **kwargs)
        if object_type == "deals" and not kwargs.get("archived") and not edited and page["results"]:
            early = page["results"][0]["id"]  # read already
            edited.append(early)
            patch(early, {"amount": "777777"})
            for n in range(310):  # meanwhile the last deal, on the read's last page, changes again and again
                patch(last, {"dealname": f"renamed {n}"})
        return page

    store = sb._server.state.hs_store
    last = max((i for i, d in store.objects["deals"].items() if not d.archived), key=int)

    monkeypatch.setattr(HubSpotClient, "list_page", list_page)
    assert cosell("sync", "--program", "program.yaml", "--connector", "hubspot").exit_code == 0
    monkeypatch.setattr(HubSpotClient, "list_page", listing)
    assert cosell("sync", "--program", "program.yaml", "--connector", "hubspot").exit_code == 0
    with Ledger.connect(os.environ["COSELL_LEDGER"]) as ledger:
        snapshot = dict(ledger.snapshot(f"hubspot:{sb.portal_id}", "deals"))
    assert snapshot[edited[0]]["amount"] == "777777"


def test_a_deal_deleted_while_an_incremental_read_pages_makes_it_skip_no_changed_deal(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot's search `after` is an offset counted anew on each call: a lower deal deleted after the
    # first page moves every later deal one place back. The changed deals must all be read all the same.
    import requests

    from cosell.connectors.hubspot.client import HubSpotClient

    def call(method: str, path: str, body: Any = None) -> None:
        answer = requests.request(
            method,
            sb.hubspot_base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=sb.ca_bundle,
            timeout=30,
        )
        assert answer.status_code in (200, 204), answer.text

    Path("program.yaml").write_text(
        (ROOT / "examples" / "program.yaml").read_text()
        + "\nplugins:\n  hubspot: {search_requests_per_second: 1000, search_page_size: 10}\n"
    )
    assert cosell("sync", "--program", "program.yaml", "--connector", "hubspot").exit_code == 0
    store = sb._server.state.hs_store
    deals = sorted((i for i, d in store.objects["deals"].items() if not d.archived), key=int)[:30]
    for deal in deals:
        call("PATCH", f"/crm/v3/objects/deals/{deal}", {"properties": {"amount": f"7{deal[-4:]}"}})

    searching = HubSpotClient.search

    def search(self: HubSpotClient, object_type: str, body: Any) -> dict[str, Any]:
        page = searching(self, object_type, body)
        if object_type == "deals" and store.objects["deals"][deals[0]].archived is False:
            call("DELETE", f"/crm/v3/objects/deals/{deals[0]}")  # a user deletes a deal meanwhile
        return page

    monkeypatch.setattr(HubSpotClient, "search", search)
    assert cosell("sync", "--program", "program.yaml", "--connector", "hubspot").exit_code == 0
    with Ledger.connect(os.environ["COSELL_LEDGER"]) as ledger:
        snapshot = dict(ledger.snapshot(f"hubspot:{sb.portal_id}", "deals"))
    assert deals[0] not in snapshot
    assert {d: snapshot[d]["amount"] for d in deals[1:]} == {d: f"7{d[-4:]}" for d in deals[1:]}


def test_pages_short_or_empty_that_give_a_next_are_followed_by_full_and_incremental_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot may answer a page short of the limit, even empty, that still gives paging.next.after (the
    # sandbox's `gaps` fault): a read that stopped there would leave records and changes out.
    import requests

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    settings = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, requests_per_ten_seconds: 100000, search_page_size: 10}\n"

    def sync(folder: Path) -> dict[str, dict[str, Any]]:
        folder.mkdir()
        point_at(big, folder, monkeypatch)
        Path("program.yaml").write_text((ROOT / "examples" / "program.yaml").read_text() + settings)
        result = cosell("sync", "--program", "program.yaml", "--connector", "hubspot")
        assert result.exit_code == 0, result.output
        with Ledger.connect(os.environ["COSELL_LEDGER"]) as book:
            key = f"hubspot:{big.portal_id}"
            return {obj: dict(book.snapshot(key, obj)) for obj in ("companies", "deals", "meetings")}

    with serve(seed=3, partners=8, deals=150) as big:
        big.set_faults("gaps=0.97")  # about 33 places a record, some runs of 100 and more: empty pages
        first = sync(tmp_path / "gaps")
        deals = sorted(first["deals"], key=int)[::7]
        for deal in deals:
            answer = requests.patch(
                f"{big.hubspot_base_url}/crm/v3/objects/deals/{deal}",
                json={"properties": {"amount": f"7{deal[-4:]}"}},
                headers={"Authorization": f"Bearer {big.token}"},
                verify=big.ca_bundle,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        before = dict(big.stats()["requests"])
        result = cosell("sync", "--program", "program.yaml", "--connector", "hubspot")  # incremental
        assert result.exit_code == 0, result.output
        assert big.stats()["requests"]["POST /crm/v3/objects/deals/search"] > before.get(
            "POST /crm/v3/objects/deals/search", 0
        )
        with Ledger.connect(os.environ["COSELL_LEDGER"]) as book:
            key = f"hubspot:{big.portal_id}"
            synced = {obj: dict(book.snapshot(key, obj)) for obj in ("companies", "deals", "meetings")}
        big.set_faults(None)
        assert synced == sync(tmp_path / "whole")  # what a full read without gaps finds
    assert {deal: synced["deals"][deal]["amount"] for deal in deals} == {d: f"7{d[-4:]}" for d in deals}


def test_engagements_none_of_which_is_typed_yet_are_listed_whole_only_by_the_first_sync(sb: Sandbox) -> None:
    # The full read lists every meeting and keeps the typed ones; with none typed it keeps nothing, but
    # its cursor comes from every meeting it listed: later syncs search for changes instead.
    import requests

    settings = "\nplugins:\n  hubspot: {search_requests_per_second: 1000, activity_type_property: partner_activity}\n"
    Path("program.yaml").write_text((ROOT / "examples" / "program.yaml").read_text() + settings)
    auth = {"Authorization": f"Bearer {sb.token}"}
    for path, body in (
        ("/crm/v3/properties/meetings/groups", {"name": "partner", "label": "Partner"}),
        ("/crm/v3/properties/meetings", {"name": "partner_activity", "label": "Partner activity",
                                         "type": "string", "fieldType": "text", "groupName": "partner"}),
    ):  # fmt: skip
        answer = requests.post(
            sb.hubspot_base_url + path, json=body, headers=auth, verify=sb.ca_bundle, timeout=30
        )
        assert answer.status_code == 201, answer.text
    meetings = sb.stats()["hubspot_records"]["meetings"]
    listed = []
    for _ in range(3):
        before = sb.stats()["requests"].get("GET /crm/v3/objects/meetings", 0)
        result = cosell("sync", "--program", "program.yaml", "--connector", "hubspot")
        assert result.exit_code == 0, result.output
        listed.append(sb.stats()["requests"]["GET /crm/v3/objects/meetings"] - before)
    # every meeting and the archived ones once, then the archived ones only
    assert listed == [-(-meetings // 100) + 1, 1, 1]
