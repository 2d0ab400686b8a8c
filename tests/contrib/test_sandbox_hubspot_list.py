"""The sandbox's HubSpot list endpoint (``GET /crm/v3/objects/{type}``): paging by cursor, its limits and
errors, inline associations, the indexes that keep a page or an incremental search off a scan, and how
the real rate limits count it."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from cosell.contrib.sandbox import Sandbox, serve
from sandboxes import module_sandbox

pytestmark = pytest.mark.sandbox

sandbox, sb = module_sandbox(seed=5, partners=10, deals=450)


def hubspot(sb: Sandbox, method: str, path: str, **kw: Any) -> requests.Response:
    """One call to the sandbox's HubSpot API with the token (``params=`` a query, ``json=`` a body)."""
    auth = {"Authorization": f"Bearer {sb.token}"}
    return requests.request(
        method, f"{sb.hubspot_base_url}{path}", headers=auth, verify=sb.ca_bundle, timeout=30, **kw
    )


def get(sb: Sandbox, path: str, **params: Any) -> requests.Response:
    return hubspot(sb, "GET", path, params=params)


def post(sb: Sandbox, path: str, body: dict[str, Any]) -> requests.Response:
    return hubspot(sb, "POST", path, json=body)


def every_page(sb: Sandbox, limit: int, **params: Any) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        answer = get(
            sb, "/crm/v3/objects/deals", limit=limit, **({"after": after} if after else {}), **params
        )
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        after = (answer.json().get("paging") or {}).get("next", {}).get("after")
        if after is None:
            return pages


def test_the_list_pages_every_live_record_once_by_ascending_id_following_paging_next_after(
    sb: Sandbox,
) -> None:
    pages = every_page(sb, 100, properties="amount,dealstage")
    ids = [int(r["id"]) for page in pages for r in page["results"]]
    live = sb.stats()["hubspot_records"]["deals"]
    assert len(ids) == len(set(ids)) == live and ids == sorted(ids)
    assert [len(p["results"]) for p in pages[:-1]] == [100] * (len(pages) - 1)
    assert "paging" not in pages[-1]
    first = pages[0]["results"][0]
    assert {"amount", "dealstage", "hs_object_id", "hs_lastmodifieddate"} <= set(first["properties"])
    assert pages[0]["paging"]["next"]["after"] == pages[1]["results"][0]["id"]


def test_archived_records_leave_the_list_and_are_listed_with_archived_true(sb: Sandbox) -> None:
    gone = every_page(sb, 100)[1]["results"][5]["id"]
    deleted = hubspot(sb, "DELETE", f"/crm/v3/objects/deals/{gone}")
    assert deleted.status_code == 204
    assert gone not in {r["id"] for page in every_page(sb, 100) for r in page["results"]}
    assert gone in {r["id"] for page in every_page(sb, 100, archived="true") for r in page["results"]}


@pytest.mark.parametrize(
    ("params", "problem"),
    [({"limit": 101}, "limit must be between 1 and 100, got 101"), ({"limit": 0}, "between 1 and 100"),
     ({"after": "abc"}, "limit and after must be integers")],
)  # fmt: skip
def test_a_list_request_outside_the_real_limits_is_a_400_validation_error(
    sb: Sandbox, params: dict[str, Any], problem: str
) -> None:
    answer = get(sb, "/crm/v3/objects/deals", **params)
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR" and problem in answer.json()["message"]


def test_an_unknown_object_type_is_refused_as_hubspot_does(sb: Sandbox) -> None:
    answer = get(sb, "/crm/v3/objects/widgets", limit=10)
    assert answer.status_code == 400
    assert "Unable to infer object type from: widgets" in answer.json()["message"]


def test_inline_associations_name_each_associated_company_with_its_v3_type(sb: Sandbox) -> None:
    page = get(sb, "/crm/v3/objects/deals", limit=5, associations="companies").json()
    inline = page["results"][0]["associations"]["companies"]["results"]
    assert inline and all(set(a) == {"id", "type"} for a in inline)
    assert any(a["type"] == "deal_to_company" for a in inline)


def test_a_search_for_what_changed_since_finds_a_record_written_after_the_index_was_built(
    sb: Sandbox,
) -> None:
    stamps = [r["properties"]["hs_lastmodifieddate"] for p in every_page(sb, 100) for r in p["results"]]
    newest = max(stamps)
    since = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": newest}
    body = {"filterGroups": [{"filters": [since]}], "limit": 200, "properties": ["amount"]}
    before = post(sb, "/crm/v3/objects/deals/search", body).json()
    target = every_page(sb, 100)[2]["results"][0]["id"]
    assert target not in {r["id"] for r in before["results"]}
    update = {"inputs": [{"id": target, "properties": {"amount": "123.45"}}]}
    assert post(sb, "/crm/v3/objects/deals/batch/update", update).status_code == 200
    after = post(sb, "/crm/v3/objects/deals/search", body).json()
    assert after["total"] == before["total"] + 1
    assert {r["id"]: r["properties"]["amount"] for r in after["results"]}[target] == "123.45"
    older = {**since, "value": min(stamps)}
    everything = post(sb, "/crm/v3/objects/deals/search", {**body, "filterGroups": [{"filters": [older]}]})
    assert everything.json()["total"] == sb.stats()["hubspot_records"]["deals"]


def test_the_gaps_fault_answers_pages_short_or_empty_with_a_next_and_following_it_reads_every_record(
    sb: Sandbox,
) -> None:
    # HubSpot answers pages short of the limit, even empty, that still carry paging.next.after; with
    # `gaps` the sandbox does so for search and list pages, and a client that follows next loses nothing
    live = sorted(int(r["id"]) for page in every_page(sb, 100) for r in page["results"])
    sb.set_faults("gaps=0.8")
    listed = every_page(sb, 10)
    searched, after = [], None
    while True:
        body = {"limit": 10, "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
        answer = post(sb, "/crm/v3/objects/deals/search", {**body, **({"after": after} if after else {})})
        assert answer.status_code == 200, answer.text
        searched.append(answer.json())
        after = (answer.json().get("paging") or {}).get("next", {}).get("after")
        if after is None:
            break
    for pages in (listed, searched):
        sizes = [len(page["results"]) for page in pages[:-1]]
        assert 0 in sizes and max(sizes) < 10  # empty and short pages, each with a next
        assert [int(r["id"]) for page in pages for r in page["results"]] == live
    assert searched[0]["total"] > 3 * len(live)  # the places left out count in the total
    assert every_page(sb, 10) == listed  # the same places are left out every time
    archived = {r["id"] for page in every_page(sb, 10, archived="true") for r in page["results"]}
    sb.set_faults(None)
    assert archived and archived == {
        r["id"] for page in every_page(sb, 100, archived="true") for r in page["results"]
    }


def test_list_calls_count_against_the_burst_limit_but_not_the_search_limit() -> None:
    with serve(seed=3, partners=5, deals=20, rate_limits="real") as running, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {running.token}"
        url = f"{running.hubspot_base_url}/crm/v3/objects/deals"
        started = time.monotonic()
        statuses = [
            http.get(url, params={"limit": 5}, verify=running.ca_bundle).status_code for _ in range(195)
        ]
        elapsed = time.monotonic() - started
        assert statuses[:12] == [200] * 12  # 12 at once: search would have refused the fifth
        if elapsed < 9.5:  # all 195 within one 10-second window: the 191st on are refused
            assert statuses.count(429) == 5 and statuses[-5:] == [429] * 5
            assert running.stats()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 5}
        refused = http.get(url, params={"limit": 5}, verify=running.ca_bundle)
        if refused.status_code == 429:
            assert (refused.json()["errorType"], refused.json()["policyName"]) == (
                "RATE_LIMIT",
                "TEN_SECONDLY_ROLLING",
            )
        assert "SECONDLY" not in running.stats()["rate_limited"]
