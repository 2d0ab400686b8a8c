"""The sandbox's HubSpot record merge (``POST /crm/v3/objects/{type}/merge``): a new record with a new id,
the old ids gone from listings but still leading to it, associations moved, its errors and rate limits,
and the Python way for tests to merge."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

import pytest
import requests
from hubspot.crm.companies import PublicMergeInput

from cosell.contrib.sandbox import MergeRefused, Sandbox, serve
from hubspot import HubSpot
from sandboxes import module_sandbox

pytestmark = pytest.mark.sandbox

sandbox, sb = module_sandbox(seed=21, partners=12, deals=300)

SIMPLE_OBJECT_KEYS = {"id", "properties", "createdAt", "updatedAt", "archived"}


def hubspot(sb: Sandbox, method: str, path: str, **kw: Any) -> requests.Response:
    """One call to the sandbox's HubSpot API with the token (``params=`` a query, ``json=`` a body)."""
    auth = {"Authorization": f"Bearer {sb.token}"}
    return requests.request(
        method, f"{sb.hubspot_base_url}{path}", headers=auth, verify=sb.ca_bundle, timeout=30, **kw
    )


def merge(sb: Sandbox, object_type: str, primary: str, other: str) -> requests.Response:
    body = {"primaryObjectId": primary, "objectIdToMerge": other}
    return hubspot(sb, "POST", f"/crm/v3/objects/{object_type}/merge", json=body)


def merged(sb: Sandbox, object_type: str, primary: str, other: str) -> str:
    """The id of the record a merge made (the merge must succeed)."""
    answer = merge(sb, object_type, primary, other)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def get(sb: Sandbox, object_type: str, object_id: str, **params: Any) -> requests.Response:
    return hubspot(sb, "GET", f"/crm/v3/objects/{object_type}/{object_id}", params=params)


def listed(sb: Sandbox, object_type: str, **params: Any) -> list[dict[str, Any]]:
    """Every record the list endpoint pages through."""
    records: list[dict[str, Any]] = []
    after = None
    while True:
        query = {"limit": 100, **params, **({"after": after} if after else {})}
        answer = hubspot(sb, "GET", f"/crm/v3/objects/{object_type}", params=query)
        assert answer.status_code == 200, answer.text
        records += answer.json()["results"]
        after = (answer.json().get("paging") or {}).get("next", {}).get("after")
        if after is None:
            return records


def ids_of(sb: Sandbox, object_type: str, n: int) -> list[str]:
    return [r["id"] for r in listed(sb, object_type)[:n]]


def search(sb: Sandbox, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = hubspot(sb, "POST", f"/crm/v3/objects/{object_type}/search", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def patch(sb: Sandbox, object_type: str, object_id: str, properties: dict[str, Any]) -> requests.Response:
    return hubspot(sb, "PATCH", f"/crm/v3/objects/{object_type}/{object_id}", json={"properties": properties})


def associations(sb: Sandbox, from_type: str, to_type: str, ids: list[str]) -> requests.Response:
    body = {"inputs": [{"id": i} for i in ids]}
    return hubspot(sb, "POST", f"/crm/v4/associations/{from_type}/{to_type}/batch/read", json=body)


def labels_by_target(answer: dict[str, Any]) -> dict[str, dict[int, list[tuple[str, int, str | None]]]]:
    """A v4 batch read as {from id: {to id: [(category, typeId, label), …]}}."""
    return {
        r["from"]["id"]: {
            to["toObjectId"]: [(t["category"], t["typeId"], t["label"]) for t in to["associationTypes"]]
            for to in r["to"]
        }
        for r in answer["results"]
    }


def co_sold_deal(sb: Sandbox) -> tuple[str, str, str]:
    """A deal with a sourcing (Partner) and a co-selling (Co-sell) partner: (deal, sourcing, co-selling)."""
    deals = ids_of(sb, "deals", 100)
    links = labels_by_target(associations(sb, "deals", "companies", deals).json())
    for deal, targets in links.items():
        by_label = {label: str(to) for to, types in targets.items() for _, _, label in types if label}
        if {"Partner", "Co-sell"} <= set(by_label):
            return deal, by_label["Partner"], by_label["Co-sell"]
    raise AssertionError("no co-sold deal among the first 100")


# ------------------------------------------------------------------------------------ the new record
def test_a_merge_answers_200_with_a_new_record_under_a_new_id_as_the_simple_public_object(
    sb: Sandbox,
) -> None:
    before = [int(r["id"]) for r in listed(sb, "deals")]
    primary, other = map(str, before[3:5])
    answer = merge(sb, "deals", primary, other)
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert set(record) == SIMPLE_OBJECT_KEYS and record["archived"] is False
    assert record["id"] not in (primary, other) and int(record["id"]) > max(before)
    assert record["properties"]["hs_object_id"] == record["id"]


def test_the_merged_record_keeps_the_primarys_values_and_takes_the_others_where_the_primary_has_none(
    sb: Sandbox,
) -> None:
    primary, other = ids_of(sb, "deals", 2)
    assert patch(sb, "deals", primary, {"amount": "100", "campaign_name": ""}).status_code == 200
    assert patch(sb, "deals", other, {"amount": "200", "campaign_name": "Partner summit"}).status_code == 200
    asked = "amount,campaign_name,dealname,createdate,hs_lastmodifieddate,hs_object_id"
    first = get(sb, "deals", primary, properties=asked).json()
    second = get(sb, "deals", other, properties=asked).json()
    answer = merge(sb, "deals", primary, other)
    new_id = answer.json()["id"]
    record = get(sb, "deals", new_id, properties=asked).json()
    props = record["properties"]
    assert props["amount"] == "100" and props["dealname"] == first["properties"]["dealname"]
    assert props["campaign_name"] == "Partner summit"  # the primary has none
    assert props["hs_object_id"] == new_id
    assert (
        props["createdate"] == first["properties"]["createdate"] and record["createdAt"] == first["createdAt"]
    )
    # modified now, by the sandbox's logical clock (the clock every answer's Date header gives)
    clock = email.utils.parsedate_to_datetime(answer.headers["Date"])
    stamp = dt.datetime.fromisoformat(props["hs_lastmodifieddate"].replace("Z", "+00:00"))
    assert stamp == clock and record["updatedAt"] == props["hs_lastmodifieddate"]
    assert stamp > dt.datetime.fromisoformat(second["updatedAt"].replace("Z", "+00:00"))


def test_a_merged_deals_closed_flags_follow_the_stage_it_takes(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    patch(sb, "deals", primary, {"dealstage": ""})
    patch(sb, "deals", other, {"dealstage": "closedwon"})
    new_id = merged(sb, "deals", primary, other)
    props = get(sb, "deals", new_id, properties="dealstage,hs_is_closed_won,hs_is_closed").json()[
        "properties"
    ]
    assert (props["dealstage"], props["hs_is_closed_won"], props["hs_is_closed"]) == (
        "closedwon",
        "true",
        "true",
    )


def test_hs_merged_object_ids_lists_both_ids_ascending_and_is_returned_only_when_asked_for(
    sb: Sandbox,
) -> None:
    low, high = ids_of(sb, "companies", 2)
    new_id = merged(sb, "companies", high, low)  # the primary has the higher id
    assert "hs_merged_object_ids" not in get(sb, "companies", new_id).json()["properties"]
    asked = get(sb, "companies", new_id, properties="hs_merged_object_ids").json()["properties"]
    assert asked["hs_merged_object_ids"] == f"{low};{high}"
    untouched = ids_of(sb, "companies", 1)[0]
    never = get(sb, "companies", untouched, properties="hs_merged_object_ids").json()["properties"]
    assert never["hs_merged_object_ids"] is None  # asked for, a record never merged into has none


def test_hs_merged_object_ids_is_read_only(sb: Sandbox) -> None:
    answer = patch(sb, "deals", ids_of(sb, "deals", 1)[0], {"hs_merged_object_ids": "1;2"})
    assert answer.status_code == 400 and "READ_ONLY_VALUE" in answer.json()["message"]


def test_merges_accumulate_merged_ids_and_old_ids_lead_to_the_last_record_transitively(sb: Sandbox) -> None:
    a, b, d = ids_of(sb, "deals", 3)
    c = merged(sb, "deals", a, b)
    e = merged(sb, "deals", d, c)  # the earlier merge's record is the one merged in this time
    ordered = ";".join(str(i) for i in sorted(int(i) for i in (a, b, c, d)))
    for old in (a, b, c, d):
        record = get(sb, "deals", old, properties="hs_merged_object_ids")
        assert record.status_code == 200, old
        assert record.json()["id"] == e and record.json()["properties"]["hs_merged_object_ids"] == ordered


def test_every_object_type_the_sandbox_serves_merges(sb: Sandbox) -> None:
    for object_type in ("companies", "deals", "meetings", "p_mdf_claims", "0-3", "2-9000001"):
        primary, other = ids_of(sb, object_type, 2)
        new_id = merged(sb, object_type, primary, other)
        assert get(sb, object_type, primary).json()["id"] == new_id, object_type


def test_the_unmodified_hubspot_client_merges_companies(sb: Sandbox) -> None:
    hs = HubSpot(access_token=sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)
    primary, other = ids_of(sb, "companies", 2)
    record = hs.crm.companies.basic_api.merge(
        PublicMergeInput(primary_object_id=primary, object_id_to_merge=other)
    )
    assert record.id not in (primary, other)
    assert hs.crm.companies.basic_api.get_by_id(other).id == record.id


# --------------------------------------------------------------------------- the old ids after a merge
def test_merged_ids_leave_the_list_and_are_not_listed_as_archived(sb: Sandbox) -> None:
    before = [r["id"] for r in listed(sb, "deals")]  # builds the id index the merge must keep right
    live = sb.stats()["hubspot_records"]["deals"]
    primary, other = before[10], before[20]
    new_id = merged(sb, "deals", primary, other)
    after = [r["id"] for r in listed(sb, "deals")]
    assert primary not in after and other not in after and after[-1] == new_id
    assert [int(i) for i in after] == sorted(int(i) for i in after)
    assert len(after) == live - 1 == sb.stats()["hubspot_records"]["deals"]
    archived = {r["id"] for r in listed(sb, "deals", archived="true")}
    assert not archived & {primary, other, new_id}


def since(stamp: str) -> dict[str, Any]:
    """A search for what changed at ``stamp`` or later (the incremental read the modification index serves)."""
    changed = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": stamp}
    return {"filterGroups": [{"filters": [changed]}], "limit": 200}


def test_merged_ids_leave_search_and_the_new_record_is_found_by_what_changed_since(sb: Sandbox) -> None:
    every = listed(sb, "deals", properties="hs_lastmodifieddate")
    search(sb, "deals", since(max(r["properties"]["hs_lastmodifieddate"] for r in every)))  # builds the index
    total_before = search(sb, "deals", {"limit": 1})["total"]
    primary, other = every[0]["id"], every[1]["id"]
    stamp = patch(sb, "deals", primary, {"amount": "1"}).json()["properties"]["hs_lastmodifieddate"]
    patch(sb, "deals", other, {"amount": "2"})
    assert {r["id"] for r in search(sb, "deals", since(stamp))["results"]} == {primary, other}
    new_id = merged(sb, "deals", primary, other)
    assert [r["id"] for r in search(sb, "deals", since(stamp))["results"]] == [new_id]
    assert search(sb, "deals", {"limit": 1})["total"] == total_before - 1
    by_id = {"propertyName": "hs_object_id", "operator": "IN", "values": [primary, other, new_id]}
    found = search(sb, "deals", {"filterGroups": [{"filters": [by_id]}], "limit": 10})
    assert [r["id"] for r in found["results"]] == [new_id]


def test_reading_a_merged_away_id_answers_the_new_record_under_its_new_id(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    new_id = merged(sb, "deals", primary, other)
    for old in (primary, other):
        answer = get(sb, "deals", old)
        assert answer.status_code == 200 and answer.json()["id"] == new_id


def test_a_batch_read_naming_old_ids_returns_the_new_record_once(sb: Sandbox) -> None:
    primary, other, live = ids_of(sb, "deals", 3)
    new_id = merged(sb, "deals", primary, other)
    body = {"inputs": [{"id": i} for i in (primary, live, other, new_id)], "properties": ["amount"]}
    answer = hubspot(sb, "POST", "/crm/v3/objects/deals/batch/read", json=body)
    assert answer.status_code == 200, answer.text
    assert [r["id"] for r in answer.json()["results"]] == [new_id, live]


def test_a_patch_of_a_merged_away_id_writes_the_new_record_and_answers_under_its_id(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    new_id = merged(sb, "deals", primary, other)
    answer = patch(sb, "deals", other, {"amount": "4242"})
    assert answer.status_code == 200 and answer.json()["id"] == new_id
    assert get(sb, "deals", new_id, properties="amount").json()["properties"]["amount"] == "4242"


def test_a_batch_update_of_a_merged_away_id_writes_the_new_record_and_answers_under_its_id(
    sb: Sandbox,
) -> None:
    primary, other, live = ids_of(sb, "deals", 3)
    new_id = merged(sb, "deals", primary, other)
    body = {"inputs": [{"id": primary, "properties": {"margin_percent": "41"}},
                       {"id": live, "properties": {"margin_percent": "42"}}]}  # fmt: skip
    answer = hubspot(sb, "POST", "/crm/v3/objects/deals/batch/update", json=body)
    assert answer.status_code == 200, answer.text
    assert [r["id"] for r in answer.json()["results"]] == [new_id, live]
    assert (
        get(sb, "deals", new_id, properties="margin_percent").json()["properties"]["margin_percent"] == "41"
    )


def test_a_batch_update_naming_two_ids_of_one_merged_record_is_refused_as_duplicate_ids(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    new_id = merged(sb, "deals", primary, other)
    body = {"inputs": [{"id": i, "properties": {"amount": "1"}} for i in (primary, new_id)]}
    answer = hubspot(sb, "POST", "/crm/v3/objects/deals/batch/update", json=body)
    assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"
    assert "Duplicate IDs" in answer.json()["message"]


def test_archiving_a_merged_away_id_archives_the_new_record(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    new_id = merged(sb, "deals", primary, other)
    assert hubspot(sb, "DELETE", f"/crm/v3/objects/deals/{primary}").status_code == 204
    assert get(sb, "deals", new_id).status_code == 404
    assert get(sb, "deals", other, archived="true").json()["id"] == new_id
    sb.purge()
    assert get(sb, "deals", other, archived="true").status_code == 404


# ---------------------------------------------------------------------------------------- associations
def test_both_records_associations_move_to_the_new_record_with_shared_ones_labelled_primarys_first(
    sb: Sandbox,
) -> None:
    deal, sourcing, co_selling = co_sold_deal(sb)
    deals_of = labels_by_target(associations(sb, "companies", "deals", [sourcing, co_selling]).json())
    meetings_of = labels_by_target(associations(sb, "companies", "meetings", [sourcing, co_selling]).json())
    assert meetings_of  # at least one of the two partners has meetings
    new_id = merged(sb, "companies", sourcing, co_selling)
    now = labels_by_target(associations(sb, "companies", "deals", [new_id]).json())[new_id]
    assert set(now) == set(deals_of[sourcing]) | set(deals_of[co_selling])
    assert now[int(deal)] == [("HUBSPOT_DEFINED", 342, None), ("USER_DEFINED", 101, "Partner"),
                              ("USER_DEFINED", 102, "Co-sell")]  # fmt: skip
    met = labels_by_target(associations(sb, "companies", "meetings", [new_id]).json())[new_id]
    assert set(met) == set(meetings_of.get(sourcing, {})) | set(meetings_of.get(co_selling, {}))


def test_records_associated_with_merged_records_point_to_the_new_record(sb: Sandbox) -> None:
    deal, sourcing, co_selling = co_sold_deal(sb)
    before = labels_by_target(associations(sb, "deals", "companies", [deal]).json())[deal]
    new_id = merged(sb, "companies", co_selling, sourcing)  # the co-selling partner is the primary
    after = labels_by_target(associations(sb, "deals", "companies", [deal]).json())[deal]
    assert int(sourcing) not in after and int(co_selling) not in after
    assert after[int(new_id)] == [("HUBSPOT_DEFINED", 341, None), ("USER_DEFINED", 102, "Co-sell"),
                                  ("USER_DEFINED", 101, "Partner")]  # fmt: skip
    assert {k: v for k, v in after.items() if k != int(new_id)} == {
        k: v for k, v in before.items() if k not in (int(sourcing), int(co_selling))
    }
    inline = get(sb, "deals", deal, associations="companies").json()["associations"]["companies"]["results"]
    assert new_id in {a["id"] for a in inline} and not {sourcing, co_selling} & {a["id"] for a in inline}


def test_association_reads_of_a_merged_away_id_answer_as_for_a_record_with_no_associations(
    sb: Sandbox,
) -> None:
    _, sourcing, co_selling = co_sold_deal(sb)
    merged(sb, "companies", sourcing, co_selling)
    batch = associations(sb, "companies", "deals", [sourcing])
    assert batch.status_code == 207 and batch.json()["results"] == []
    (error,) = batch.json()["errors"]
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["context"] == {"fromObjectId": [sourcing]}
    listing = hubspot(sb, "GET", f"/crm/v4/objects/companies/{co_selling}/associations/deals")
    assert listing.status_code == 200 and listing.json() == {"results": []}


# ----------------------------------------------------------------------------------------------- errors
def assert_error(answer: requests.Response, status: int, category: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = dict(answer.json())
    assert body["status"] == "error" and body["category"] == category and body["correlationId"]
    return body


@pytest.mark.parametrize(
    "body",
    [{}, {"primaryObjectId": "1"}, {"objectIdToMerge": "1"}, {"primaryObjectId": None, "objectIdToMerge": "1"},
     {"primaryObjectId": "", "objectIdToMerge": "1"}],
)  # fmt: skip
def test_a_merge_without_both_ids_is_a_400_validation_error_naming_what_is_missing(
    sb: Sandbox, body: dict[str, Any]
) -> None:
    answer = hubspot(sb, "POST", "/crm/v3/objects/deals/merge", json=body)
    error = assert_error(answer, 400, "VALIDATION_ERROR")
    for key in ("primaryObjectId", "objectIdToMerge"):
        assert (key in error["message"]) == (not body.get(key))


def test_merging_a_record_with_itself_is_a_400_validation_error(sb: Sandbox) -> None:
    deal = ids_of(sb, "deals", 1)[0]
    assert_error(merge(sb, "deals", deal, deal), 400, "VALIDATION_ERROR")
    assert get(sb, "deals", deal).json()["id"] == deal


def test_merging_an_unknown_or_archived_id_is_a_404_object_not_found_naming_it(sb: Sandbox) -> None:
    live, gone = ids_of(sb, "deals", 2)
    hubspot(sb, "DELETE", f"/crm/v3/objects/deals/{gone}")
    for primary, other, missing in ((live, "1", "1"), (gone, live, gone), ("1", "2", None)):
        error = assert_error(merge(sb, "deals", primary, other), 404, "OBJECT_NOT_FOUND")
        assert error["message"] == "Object not found.  objectId are usually numeric."
        assert error["context"] == {"id": [missing] if missing else ["1", "2"]}
    assert get(sb, "deals", live).json()["id"] == live


def test_merging_a_merged_away_id_again_is_a_404_as_for_a_missing_record(sb: Sandbox) -> None:
    primary, other, third = ids_of(sb, "deals", 3)
    new_id = merged(sb, "deals", primary, other)
    error = assert_error(merge(sb, "deals", third, other), 404, "OBJECT_NOT_FOUND")
    assert error["context"] == {"id": [other]}
    assert_error(merge(sb, "deals", new_id, primary), 404, "OBJECT_NOT_FOUND")


def test_a_merge_of_a_record_the_invalid_fault_names_is_a_400_validation_error(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    sb.set_faults({"invalid": [other]})
    assert_error(merge(sb, "deals", primary, other), 400, "VALIDATION_ERROR")
    assert get(sb, "deals", other).json()["id"] == other


def test_a_merge_of_an_unknown_object_type_is_refused_as_hubspot_does(sb: Sandbox) -> None:
    error = assert_error(merge(sb, "widgets", "1", "2"), 400, "VALIDATION_ERROR")
    assert error["message"] == "Unable to infer object type from: widgets"


def test_a_refused_merge_changes_nothing_and_a_merge_counts_as_one_record_written(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    live = sb.stats()["hubspot_records"]["deals"]
    merge(sb, "deals", primary, primary)
    merge(sb, "deals", primary, "1")
    assert sb.stats()["hubspot_records"]["deals"] == live
    assert sb.stats()["records_written"]["deals"] == 0
    merged(sb, "deals", primary, other)
    stats = sb.stats()
    assert stats["hubspot_records"]["deals"] == live - 1 and stats["records_written"]["deals"] == 1
    assert stats["requests"]["POST /crm/v3/objects/deals/merge"] == 3


# ------------------------------------------------------------------------------------------ rate limits
def test_a_merge_counts_against_the_burst_limit_like_any_other_write() -> None:
    with serve(seed=3, partners=5, deals=20, rate_limits="real", hubspot_burst=4) as running:
        a, b, c, d = ids_of(running, "deals", 4)  # one request
        answers = [
            merge(running, "deals", a, b),
            merge(running, "deals", c, d),
            patch(running, "deals", a, {}),
        ]
        refused = merge(running, "deals", a, c)
        assert [x.status_code for x in answers] == [200, 200, 200]
        assert [x.headers["X-HubSpot-RateLimit-Remaining"] for x in answers] == ["2", "1", "0"]
        assert refused.status_code == 429 and refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert running.stats()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}


# --------------------------------------------------------------------------------- merging from Python
def test_merge_hubspot_merges_as_the_api_does_without_counting_a_request_or_a_write(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "companies", 2)
    new_id = sb.merge_hubspot("companies", primary, other)
    assert get(sb, "companies", other).json()["id"] == new_id
    assert primary not in {r["id"] for r in listed(sb, "companies")}
    stats = sb.stats()
    assert "POST /crm/v3/objects/companies/merge" not in stats["requests"]
    assert stats["records_written"]["companies"] == 0


def test_merge_hubspot_refuses_what_the_api_refuses_with_its_status_and_category(sb: Sandbox) -> None:
    primary, other = ids_of(sb, "deals", 2)
    sb.merge_hubspot("deal", primary, other)  # the type as the API takes it: name, singular or id
    with pytest.raises(MergeRefused) as again:
        sb.merge_hubspot("deals", other, ids_of(sb, "deals", 1)[0])
    assert (again.value.status, again.value.category, again.value.ids) == (404, "OBJECT_NOT_FOUND", [other])
    with pytest.raises(MergeRefused) as itself:
        sb.merge_hubspot("deals", "1", "1")
    assert (itself.value.status, itself.value.category) == (400, "VALIDATION_ERROR")
    with pytest.raises(ValueError, match="Unable to infer object type from: widgets"):
        sb.merge_hubspot("widgets", "1", "2")
