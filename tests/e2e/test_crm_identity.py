"""A ledger keeps each CRM's snapshot, cursors and outbox under the CRM's own id (Salesforce organization
id, HubSpot portal id), and reads the managed values whole again when asked (--full-sync) or when the
last full read is old: so a restored or swapped CRM under the same ledger ends with every managed field
written, not with the snapshot's stale copy trusted."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cosell.contrib.sandbox import Sandbox, serve
from cosell.ledger import Ledger
from sandboxes import cosell_in as cosell
from sandboxes import hubspot_vars, salesforce_env, salesforce_org_values

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SIZE = {"seed": 5, "partners": 12, "deals": 160}
HUBSPOT_MANAGED = {
    "companies": ["cosell_tier", "cosell_score", "cosell_period_earnings"],
    "deals": ["cosell_incentive", "cosell_incentive_status", "cosell_incentive_note"],
}


def hubspot_values(sb: Sandbox) -> dict[str, tuple[Any, ...]]:
    from hubspot import HubSpot

    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    out: dict[str, tuple[Any, ...]] = {}
    for object_type, props in HUBSPOT_MANAGED.items():
        after = None
        while True:
            page = hs.crm.objects.basic_api.get_page(object_type, limit=100, after=after, properties=props)
            for r in page.results:
                out[f"{object_type}/{r.id}"] = tuple(r.properties.get(p) for p in props)
            if not (page.paging and page.paging.next):
                break
            after = page.paging.next.after
    return out


class Crm:
    """One CRM's side of the tests: its environment, its managed values, its storage key."""

    def __init__(
        self,
        name: str,
        env: Callable[[Sandbox, Path], dict[str, str]],
        values: Callable[[Sandbox], dict[str, tuple[Any, ...]]],
        key: Callable[[Sandbox], str],
        ids: dict[str, Any],
        other_ids: dict[str, Any],
        settings: str,
    ) -> None:
        self.name, self.env, self.values, self.key = name, env, values, key
        self.ids, self.other_ids, self.settings = ids, other_ids, settings


SALESFORCE = Crm(
    "salesforce",
    salesforce_env,
    salesforce_org_values,
    lambda sb: f"salesforce:{sb.org_id}",
    {"org_id": "00D5e000000AbCdEAA"},
    {"org_id": "00D5e000000ZyXwEAA"},
    "",
)
HUBSPOT = Crm(
    "hubspot",
    hubspot_vars,
    hubspot_values,
    lambda sb: f"hubspot:{sb.portal_id}",
    {"portal_id": 20_000_001},
    {"portal_id": 20_000_002},
    "plugins:\n  hubspot: {search_requests_per_second: 1000, retry_budget_seconds: 60}\n",
)


@pytest.fixture(params=[SALESFORCE, HUBSPOT], ids=lambda c: c.name)
def crm(request: pytest.FixtureRequest) -> Crm:
    return request.param  # type: ignore[no-any-return]


def program(folder: Path, crm: Crm) -> Path:
    path = folder / "program.yaml"
    path.write_text((ROOT / "examples" / "program.yaml").read_text() + "\n" + crm.settings)
    return path


def run(crm: Crm, env: dict[str, str], folder: Path, *extra: str) -> dict[str, Any]:
    result = cosell(
        env, "run", "--program", str(program(folder, crm)), "--connector", crm.name, "--json", *extra
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output[result.output.index("{") :]))


def setup(crm: Crm, env: dict[str, str]) -> None:
    assert cosell(env, "setup", crm.name).exit_code == 0


def settled(crm: Crm, env: dict[str, str], folder: Path) -> None:
    """An unchanged rerun: it reads cosell's own writes back, so the snapshot holds the written values
    (the state a restore or a swap finds)."""
    assert run(crm, env, folder)["written"] == 0


def filled(values: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    return {k: v for k, v in values.items() if any(x not in (None, "") for x in v)}


def test_a_restored_crm_gets_every_managed_field_back_with_full_sync(crm: Crm, tmp_path: Path) -> None:
    with serve(**SIZE, **crm.ids) as sb:
        env = crm.env(sb, tmp_path)
        setup(crm, env)
        first = run(crm, env, tmp_path)
        written = filled(crm.values(sb))
        settled(crm, env, tmp_path)
        assert first["written"] > 50 and len(written) > 50

        sb.reset()  # a backup restore: same org, records as they were, managed fields empty
        setup(crm, env)
        assert filled(crm.values(sb)) == {}
        again = run(crm, env, tmp_path, "--full-sync")
        assert again["written"] == first["written"]
        assert filled(crm.values(sb)) == written
        assert any("--full-sync" in note for note in again["notes"])


def test_a_full_read_older_than_full_read_after_days_rereads_the_managed_values(
    crm: Crm, tmp_path: Path
) -> None:
    with serve(**SIZE, **crm.ids) as sb:
        env = crm.env(sb, tmp_path)
        setup(crm, env)
        first = run(crm, env, tmp_path)
        written = filled(crm.values(sb))
        settled(crm, env, tmp_path)
        sb.reset()
        setup(crm, env)
        with Ledger.connect(env["COSELL_LEDGER"]) as ledger:
            last = ledger.cursor(crm.key(sb), "full_read_at")
            assert last is not None  # the first run read everything
            eight_days = datetime.now(UTC) - timedelta(days=8)
            ledger.set_cursor(crm.key(sb), "full_read_at", eight_days.isoformat().replace("+00:00", "Z"))
        again = run(crm, env, tmp_path)
        assert again["written"] == first["written"]
        assert filled(crm.values(sb)) == written
        assert any("more than 7 day(s) ago" in note for note in again["notes"])
        # and a run within the age reads only changes: nothing to write
        assert run(crm, env, tmp_path)["written"] == 0


def test_another_crm_under_the_same_ledger_starts_fresh_and_says_so(crm: Crm, tmp_path: Path) -> None:
    with serve(**SIZE, **crm.ids) as sb:
        env = crm.env(sb, tmp_path)
        setup(crm, env)
        first = run(crm, env, tmp_path)
        written = filled(crm.values(sb))
        settled(crm, env, tmp_path)
        first_key = crm.key(sb)
    # a refreshed sandbox: the same records and ids, a new org (portal) id, the same ledger
    with serve(**SIZE, **crm.other_ids) as other:
        env = crm.env(other, tmp_path)
        setup(crm, env)
        again = run(crm, env, tmp_path)
        assert again["written"] == first["written"]
        assert filled(crm.values(other)) == written
        assert any("is not the one this ledger last read" in note for note in again["notes"])
        with Ledger.connect(env["COSELL_LEDGER"]) as ledger:
            assert ledger.snapshot_count(first_key, "Opportunity" if crm.name == "salesforce" else "deals")
            assert ledger.snapshot_count(
                crm.key(other), "Opportunity" if crm.name == "salesforce" else "deals"
            )
            targets = {item.target for item in ledger.outbox()}
        assert targets == {first_key, crm.key(other)}


def test_a_ledger_synced_before_snapshots_were_keyed_by_the_crm_is_read_in_full_and_says_so(
    crm: Crm, tmp_path: Path
) -> None:
    with serve(**SIZE, **crm.ids) as sb:
        env = crm.env(sb, tmp_path)
        setup(crm, env)
        with Ledger.connect(env["COSELL_LEDGER"]) as ledger:
            # what an older cosell left: rows under the connector's bare name, holding stale values
            obj = "Opportunity" if crm.name == "salesforce" else "deals"
            ledger.snapshot_upsert(crm.name, obj, [("stale", {"name": "from before"})])
        first = run(crm, env, tmp_path)
        assert first["written"] > 50
        assert any("not keyed by the" in note for note in first["notes"])
        again = run(crm, env, tmp_path)
        assert again["written"] == 0 and not any("not keyed by the" in n for n in again["notes"])
