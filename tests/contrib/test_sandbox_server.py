"""Sandbox-wide behaviour: TLS, counters, reset, determinism, faults and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cosell.contrib.sandbox import FaultSpecError, Sandbox, parse_faults, serve
from cosell.contrib.sandbox.server import normalise_path

pytestmark = pytest.mark.sandbox


@pytest.fixture(autouse=True)
def _no_env_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    with serve(seed=5, partners=10, deals=300) as sandbox:
        yield sandbox


def sf_get(sb: Sandbox, path: str, **params: str) -> requests.Response:
    return requests.get(
        f"{sb.base_url}/services/data/v59.0/{path}",
        params=params,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=10,
    )


def hs_post(sb: Sandbox, path: str, body: object) -> requests.Response:
    return requests.post(
        f"{sb.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=10,
    )


def test_tls_is_verified_against_the_sandbox_ca_bundle(sb: Sandbox) -> None:
    assert sb.base_url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sb.base_url}/_sandbox/stats", verify=True, timeout=10)
    assert requests.get(f"{sb.base_url}/_sandbox/stats", verify=sb.ca_bundle, timeout=10).status_code == 200
    localhost = sb.base_url.replace("127.0.0.1", "localhost")
    assert requests.get(f"{localhost}/_sandbox/stats", verify=sb.ca_bundle, timeout=10).status_code == 200


def test_info_has_the_urls_token_and_ca_bundle(sb: Sandbox) -> None:
    info = sb.info()
    assert info["salesforce_instance_url"] == info["hubspot_base_url"] == sb.base_url
    assert info["token"] == sb.token and os.path.exists(info["ca_bundle"])


def test_stats_count_requests_by_normalised_path_and_written_records(sb: Sandbox) -> None:
    oid = sf_get(sb, "query", q="SELECT Id FROM Opportunity LIMIT 1").json()["records"][0]["Id"]
    sf_get(sb, f"sobjects/Opportunity/{oid}")
    sf_get(sb, f"sobjects/Opportunity/{oid}")
    hs_post(sb, "/crm/v3/objects/deals/search", {"limit": 1})
    stats = requests.get(f"{sb.base_url}/_sandbox/stats", verify=sb.ca_bundle, timeout=10).json()
    assert stats["requests"] == {
        "GET /services/data/vXX.X/query": 1,
        "GET /services/data/vXX.X/sobjects/Opportunity/{id}": 2,
        "POST /crm/v3/objects/deals/search": 1,
    }
    assert stats["records_written"] == {"Opportunity": 0, "Account": 0, "deals": 0, "companies": 0}


def test_normalise_path_replaces_versions_and_ids() -> None:
    assert (
        normalise_path("/services/data/v62.0/query/01g8d0000004C93AAE-2000")
        == "/services/data/vXX.X/query/{id}"
    )
    assert normalise_path("/crm/v3/objects/deals/20010000003") == "/crm/v3/objects/deals/{id}"
    assert normalise_path("/services/data/v59.0/jobs/ingest/7508d0000004C94AAE/batches") == (
        "/services/data/vXX.X/jobs/ingest/{id}/batches"
    )
    assert normalise_path("/crm/v3/objects/2-9000001/search") == "/crm/v3/objects/2-9000001/search"


def test_reset_reseeds_data_and_zeroes_counters(sb: Sandbox) -> None:
    oid = sf_get(sb, "query", q="SELECT Id FROM Opportunity ORDER BY Id LIMIT 1").json()["records"][0]["Id"]
    requests.patch(
        f"{sb.base_url}/services/data/v59.0/sobjects/Opportunity/{oid}",
        json={"Amount": 1},
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=10,
    )
    assert sb.stats()["records_written"]["Opportunity"] == 1
    assert requests.post(f"{sb.base_url}/_sandbox/reset", verify=sb.ca_bundle, timeout=10).status_code == 200
    stats = sb.stats()
    assert {k: stats[k] for k in ("requests", "records_written", "rate_limited")} == {
        "requests": {},
        "records_written": {"Opportunity": 0, "Account": 0, "deals": 0, "companies": 0},
        "rate_limited": {},
    }
    assert stats["hubspot_records"]["deals"] > 0 and stats["cpu_seconds"] > 0
    amount = sf_get(sb, f"sobjects/Opportunity/{oid}").json()["Amount"]
    assert amount != 1


def test_same_seed_gives_same_ids_and_another_seed_other_ids() -> None:
    def snapshot(seed: int) -> tuple[list[str], list[str]]:
        with serve(seed=seed, partners=5, deals=50) as s:
            sf = sf_get(s, "query", q="SELECT Id, Amount FROM Opportunity ORDER BY Id").json()["records"]
            hs = hs_post(s, "/crm/v3/objects/deals/search", {"limit": 100, "properties": ["amount"]}).json()
            return [f"{r['Id']}:{r['Amount']}" for r in sf], [
                f"{d['id']}:{d['properties']['amount']}" for d in hs["results"]
            ]

    first, again, other = snapshot(3), snapshot(3), snapshot(4)
    assert first == again
    assert first[0] != other[0] and first[1] != other[1]
    assert all(len(x.split(":")[0]) == 18 and x.startswith("006") for x in first[0])
    assert all(x.split(":")[0].isdigit() for x in first[1])


def test_failing_requests_are_a_deterministic_function_of_seed_and_counter() -> None:
    faults = parse_faults("429=0.3,503=0.1")
    seq = [faults.decide(9, n) for n in range(1, 2001)]
    assert seq == [faults.decide(9, n) for n in range(1, 2001)]
    assert seq != [faults.decide(10, n) for n in range(1, 2001)]
    assert 0.25 < seq.count(429) / 2000 < 0.35
    assert 0.07 < seq.count(503) / 2000 < 0.13


def test_fault_spec_parsing() -> None:
    f = parse_faults("429=0.3,503=0.1,latency=50ms,stop_after=500,invalid=006A;006B,retry_after=2")
    assert (f.rate_429, f.rate_503, f.latency_s, f.stop_after, f.retry_after) == (0.3, 0.1, 0.05, 500, 2)
    assert f.invalid == {"006A", "006B"}
    with pytest.raises(FaultSpecError):
        parse_faults("teapot=1")
    with pytest.raises(FaultSpecError):
        parse_faults("429=2")
    assert parse_faults("gaps=0.5").gaps == 0.5
    with pytest.raises(FaultSpecError, match="gaps: expected a share below 1"):
        parse_faults("gaps=1")


def test_503_fault_carries_retry_after_on_both_sides(sb: Sandbox) -> None:
    sb.set_faults({"503": 1.0})
    sf = sf_get(sb, "query", q="SELECT Id FROM Account")
    hs = hs_post(sb, "/crm/v3/objects/deals/search", {})
    assert sf.status_code == hs.status_code == 503
    assert sf.headers["Retry-After"] == hs.headers["Retry-After"] == "1"


def test_faults_change_at_runtime_over_http(sb: Sandbox) -> None:
    r = requests.post(
        f"{sb.base_url}/_sandbox/faults", json={"spec": "429=1.0"}, verify=sb.ca_bundle, timeout=10
    )
    assert r.json()["429"] == 1.0
    assert hs_post(sb, "/crm/v3/objects/deals/search", {}).status_code == 429
    requests.post(f"{sb.base_url}/_sandbox/faults", json={}, verify=sb.ca_bundle, timeout=10)
    assert hs_post(sb, "/crm/v3/objects/deals/search", {}).status_code == 200


def test_stop_after_drops_every_later_request_without_an_answer(sb: Sandbox) -> None:
    sb.set_faults("stop_after=2")
    assert sf_get(sb, "query", q="SELECT Id FROM Account").status_code == 200
    assert hs_post(sb, "/crm/v3/objects/deals/search", {}).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        sf_get(sb, "query", q="SELECT Id FROM Account")
    with pytest.raises(requests.exceptions.ConnectionError):
        hs_post(sb, "/crm/v3/objects/deals/search", {})
    assert requests.get(f"{sb.base_url}/_sandbox/stats", verify=sb.ca_bundle, timeout=10).status_code == 200


COSELL = str(Path(sys.executable).with_name("cosell"))


@pytest.mark.parametrize("command", [[sys.executable, "-m", "cosell.contrib.sandbox"], [COSELL, "sandbox"]])
def test_command_line_prints_the_connection_json_first(command: list[str]) -> None:
    with subprocess.Popen(
        [
            *command,
            "--seed",
            "2",
            "--partners",
            "3",
            "--deals",
            "20",
            "--faults",
            "latency=1ms",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:  # its exit closes the pipe
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            assert set(info) >= {"salesforce_instance_url", "hubspot_base_url", "token", "ca_bundle"}
            r = requests.get(
                f"{info['salesforce_instance_url']}/services/data/v59.0/query",
                params={"q": "SELECT COUNT() FROM Account WHERE IsPartner = true"},
                headers={"Authorization": f"Bearer {info['token']}"},
                verify=info["ca_bundle"],
                timeout=10,
            )
            assert r.json()["totalSize"] == 3
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_each_sandbox_is_a_new_org_and_a_reset_keeps_its_ids() -> None:
    def hs_details(s: Sandbox) -> dict[str, object]:
        answer = requests.get(
            f"{s.base_url}/account-info/v3/details",
            headers={"Authorization": f"Bearer {s.token}"},
            verify=s.ca_bundle,
            timeout=10,
        )
        assert answer.status_code == 200
        return dict(answer.json())

    def org_id(s: Sandbox) -> str:
        rows = sf_get(s, "query", q="SELECT Id, IsSandbox FROM Organization").json()["records"]
        assert len(rows) == 1 and rows[0]["IsSandbox"] is True
        return str(rows[0]["Id"])

    with serve(seed=3, partners=2, deals=5, org_id="00D5e000000AbCdEAA", portal_id=20_000_001) as s:
        assert org_id(s) == s.org_id == s.info()["org_id"] == "00D5e000000AbCdEAA"
        details = hs_details(s)
        assert details["portalId"] == s.portal_id == s.info()["portal_id"] == 20_000_001
        assert {"accountType", "timeZone", "companyCurrency", "uiDomain"} <= set(details)
        s.reset()  # a restore from backup: the same org
        assert org_id(s) == "00D5e000000AbCdEAA" and hs_details(s)["portalId"] == 20_000_001
    with serve(seed=3, partners=2, deals=5) as a, serve(seed=3, partners=2, deals=5) as b:
        # a refresh: the same records and ids, another org
        assert org_id(a) != org_id(b) and org_id(a).startswith("00D") and len(org_id(a)) == 18
        assert hs_details(a)["portalId"] != hs_details(b)["portalId"]
