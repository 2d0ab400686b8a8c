"""The sandbox's Salesforce side, driven through the unmodified simple-salesforce client."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from cosell.contrib.sandbox import Sandbox
from sandboxes import module_sandbox

pytestmark = pytest.mark.sandbox


sandbox, sb = module_sandbox(seed=7, partners=30, deals=4500)


def client(sb: Sandbox, token: str | None = None) -> Salesforce:
    session = requests.Session()
    session.verify = sb.ca_bundle
    return Salesforce(instance_url=sb.salesforce_instance_url, session_id=token or sb.token, session=session)


def opportunity_ids(sf: Salesforce, where: str = "", n: int = 5) -> list[str]:
    rows = sf.query(f"SELECT Id FROM Opportunity {where} ORDER BY Id LIMIT {n}")["records"]
    return [r["Id"] for r in rows]


def test_query_all_iter_pages_over_2000_records_with_next_records_url(sb: Sandbox) -> None:
    sf = client(sb)
    first = sf.query("SELECT Id, Amount FROM Opportunity")
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    assert first["records"][0]["attributes"]["type"] == "Opportunity"
    assert first["records"][0]["attributes"]["url"].startswith(
        "/services/data/v59.0/sobjects/Opportunity/006"
    )
    rows = list(sf.query_all_iter("SELECT Id, Amount FROM Opportunity"))
    assert len(rows) == first["totalSize"]
    assert len({r["Id"] for r in rows}) == len(rows)
    assert sb.stats()["requests"]["GET /services/data/vXX.X/query/{id}"] == 2


def test_deleted_records_are_visible_through_query_all_only(sb: Sandbox) -> None:
    sf = client(sb)
    live = sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    everything = sf.query_all("SELECT Id, IsDeleted FROM Opportunity", include_deleted=True)
    deleted = [r for r in everything["records"] if r["IsDeleted"]]
    assert deleted, "the seed marks about 1 % of deals deleted"
    assert everything["totalSize"] == live + len(deleted) == 4500
    assert sf.query(f"SELECT Id FROM Opportunity WHERE Id = '{deleted[0]['Id']}'")["totalSize"] == 0


def test_a_deleted_record_goes_to_the_recycle_bin_then_a_purge_removes_it_from_query_all(
    sb: Sandbox,
) -> None:
    sf = client(sb)
    deal = opportunity_ids(sf, "WHERE IsWon = true", 1)[0]
    partners = sf.query(f"SELECT Id FROM OpportunityPartner WHERE OpportunityId = '{deal}'")["totalSize"]
    assert sf.Opportunity.delete(deal) == 204
    assert sf.query(f"SELECT Id FROM Opportunity WHERE Id = '{deal}'")["totalSize"] == 0
    binned = sf.query_all(f"SELECT Id, IsDeleted FROM Opportunity WHERE Id = '{deal}'", include_deleted=True)
    assert [r["IsDeleted"] for r in binned["records"]] == [True]
    rows = f"SELECT Id FROM OpportunityPartner WHERE OpportunityId = '{deal}'"
    assert sf.query(rows)["totalSize"] == 0  # its partner rows go with it
    assert sf.query_all(rows, include_deleted=True)["totalSize"] == partners
    with pytest.raises(SalesforceResourceNotFound) as again:
        sf.Opportunity.delete(deal)
    assert again.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.update(deal, {"Amount": 1})
    assert sb.purge()["salesforce"] > 0
    assert (
        sf.query_all(f"SELECT Id FROM Opportunity WHERE Id = '{deal}'", include_deleted=True)["totalSize"]
        == 0
    )
    assert sf.query_all(rows, include_deleted=True)["totalSize"] == 0
    assert (
        sf.query_all("SELECT Id FROM Opportunity WHERE IsDeleted = true", include_deleted=True)["totalSize"]
        == 0
    )


def test_activities_older_than_365_days_are_archived_hidden_from_query_not_query_all(sb: Sandbox) -> None:
    sf = client(sb)
    task, event = (
        sf.query(f"SELECT Id FROM {obj} ORDER BY Id LIMIT 1")["records"][0]["Id"] for obj in ("Task", "Event")
    )
    # the org's today is the logical clock's (2027-01-01 onwards): 2025-12-31 is over 365 days ago
    sf.Task.update(task, {"ActivityDate": "2025-12-31"})
    sf.Event.update(event, {"ActivityDate": "2025-12-31"})
    for obj, rid in (("Task", task), ("Event", event)):
        where = f"SELECT Id, IsDeleted FROM {obj} WHERE Id = '{rid}'"
        assert sf.query(where)["totalSize"] == 0
        assert [r["IsDeleted"] for r in sf.query_all(where, include_deleted=True)["records"]] == [False]
    sf.Task.update(task, {"Status": "Not Started"})  # an open task is never archived
    assert sf.query(f"SELECT Id FROM Task WHERE Id = '{task}'")["totalSize"] == 1


def test_the_versions_resource_answers_without_a_session(sb: Sandbox) -> None:
    answer = requests.get(f"{sb.salesforce_instance_url}/services/data/", verify=sb.ca_bundle, timeout=30)
    assert answer.status_code == 200
    assert {"version": "59.0", "url": "/services/data/v59.0"}.items() <= answer.json()[0].items()
    denied = requests.get(
        f"{sb.salesforce_instance_url}/services/data/v59.0/limits", verify=sb.ca_bundle, timeout=30
    )
    assert denied.status_code == 401


def test_soql_where_order_limit_and_relationship_fields(sb: Sandbox) -> None:
    sf = client(sb)
    res = sf.query(
        "SELECT Id, Name, Amount, CurrencyIsoCode, StageName, Account.Name, PartnerAccount.Name FROM Opportunity "
        "WHERE (StageName = 'Closed Won' OR StageName = 'closed lost') AND CloseDate >= 2026-04-01 "
        "AND CloseDate < 2026-07-01 AND CreatedDate >= 2026-01-01T00:00:00Z AND CurrencyIsoCode IN ('EUR', 'GBP') "
        "ORDER BY Amount DESC, Id LIMIT 50"
    )
    rows = res["records"]
    assert 0 < len(rows) <= 50
    assert all(r["StageName"] in ("Closed Won", "Closed Lost") for r in rows)
    assert all(r["CurrencyIsoCode"] in ("EUR", "GBP") for r in rows)
    amounts = [r["Amount"] for r in rows]
    assert amounts == sorted(amounts, reverse=True)
    assert rows[0]["Account"]["attributes"]["type"] == "Account"
    assert rows[0]["Account"]["Name"].startswith("Customer ")
    partners = sf.query("SELECT Id, Name, IsPartner, Partner_Type__c FROM Account WHERE IsPartner = true")
    assert partners["totalSize"] == 30
    assert {r["Partner_Type__c"] for r in partners["records"]} >= {"Reseller", "Referral"}
    escaped = sf.query("SELECT Id FROM Account WHERE Name = 'O\\'Brien' OR Name LIKE 'Northwind%'")
    assert escaped["totalSize"] >= 1


def test_seeded_data_covers_every_quarter_currency_stage_and_guardrail(sb: Sandbox) -> None:
    sf = client(sb)
    rows = list(
        sf.query_all_iter(
            "SELECT CreatedDate, CloseDate, CurrencyIsoCode, StageName, Discount_Percent__c, Margin_Percent__c, "
            "CampaignId, Refund_Date__c FROM Opportunity"
        )
    )
    quarters = {(int(r["CreatedDate"][5:7]) - 1) // 3 + 1 for r in rows}
    assert quarters == {1, 2, 3, 4}
    assert {r["CurrencyIsoCode"] for r in rows} == {"USD", "EUR", "GBP"}
    assert {"Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"} <= {
        r["StageName"] for r in rows
    }
    assert any(r["Discount_Percent__c"] > 25 for r in rows)
    assert any(r["Margin_Percent__c"] < 30 for r in rows)
    assert any(r["CampaignId"] for r in rows)
    assert any(r["Refund_Date__c"] for r in rows)
    cosell = sf.query(
        "SELECT Id, OpportunityId, AccountToId, Role, IsPrimary FROM OpportunityPartner WHERE Role = 'Co-sell'"
    )
    assert cosell["totalSize"] > 0
    acts = sf.query("SELECT Id, WhatId, Cosell_Activity_Type__c, ActivityDate FROM Event")["records"]
    acts += sf.query("SELECT Id, WhatId, Cosell_Activity_Type__c, ActivityDate FROM Task")["records"]
    assert {a["Cosell_Activity_Type__c"] for a in acts} == {
        "joint_call",
        "joint_demo",
        "co_marketing_event",
        "training",
    }
    claims = sf.query(
        "SELECT Id, ChannelPartnerId, Amount, Status, Approved_On__c, Request.CampaignId FROM PartnerFundClaim"
    )["records"]
    assert {c["Status"] for c in claims} <= {"Draft", "Approved", "Rejected", "Paid"}
    assert all(c["Request"]["CampaignId"].startswith("701") for c in claims)


def test_unknown_field_is_invalid_field_and_bad_syntax_is_malformed_query(sb: Sandbox) -> None:
    sf = client(sb)
    with pytest.raises(SalesforceMalformedRequest) as bad_field:
        sf.query("SELECT Id, Nope__c FROM Opportunity")
    assert bad_field.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Opportunity'" in bad_field.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FROM Opportunity WHERE")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as quoted_date:
        sf.query("SELECT Id FROM Opportunity WHERE CloseDate > '2026-01-01'")
    assert quoted_date.value.content[0]["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"


def test_collection_update_of_200_records_succeeds_and_201_are_rejected(sb: Sandbox) -> None:
    sf = client(sb)
    ids = opportunity_ids(sf, n=201)
    records = [{"attributes": {"type": "Opportunity"}, "id": i, "Discount_Percent__c": 1.5} for i in ids]
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    result = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records[:200]}
    )
    assert len(result) == 200
    assert all(r["success"] and r["errors"] == [] for r in result)
    assert sb.stats()["records_written"]["Opportunity"] == 200


def test_collection_update_reports_per_record_errors_and_all_or_none_rolls_back(sb: Sandbox) -> None:
    sf = client(sb)
    ids = opportunity_ids(sf, n=3)
    sb.set_faults({"invalid": [ids[1]]})
    before = sf.query(f"SELECT Id, SystemModstamp FROM Opportunity WHERE Id = '{ids[0]}'")["records"][0]
    records: list[dict[str, Any]] = [
        {"attributes": {"type": "Opportunity"}, "id": i, "Margin_Percent__c": 42.0} for i in ids
    ]
    records[2]["Bogus__c"] = 1
    partial = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert partial[0] == {"id": ids[0], "success": True, "errors": []}
    assert partial[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert partial[2]["errors"][0]["statusCode"] == "INVALID_FIELD"
    after = sf.query(f"SELECT Id, SystemModstamp, Margin_Percent__c FROM Opportunity WHERE Id = '{ids[0]}'")
    assert after["records"][0]["Margin_Percent__c"] == 42.0
    assert after["records"][0]["SystemModstamp"] > before["SystemModstamp"]

    records = [{"attributes": {"type": "Opportunity"}, "id": i, "Margin_Percent__c": 11.0} for i in ids]
    rolled = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in rolled] == [False, False, False]
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    unchanged = sf.query(f"SELECT Margin_Percent__c FROM Opportunity WHERE Id = '{ids[0]}'")["records"][0]
    assert unchanged["Margin_Percent__c"] == 42.0


def test_locked_record_fails_with_unable_to_lock_row(sb: Sandbox) -> None:
    sf = client(sb)
    ids = opportunity_ids(sf, n=1)
    sb.set_faults({"locked": ids})
    res = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Opportunity"}, "id": ids[0], "Amount": 10}]},
    )
    assert res[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"


def test_sobject_patch_returns_204_and_bumps_system_modstamp(sb: Sandbox) -> None:
    sf = client(sb)
    oid = opportunity_ids(sf, n=1)[0]
    before = sf.Opportunity.get(oid)
    assert sf.Opportunity.update(oid, {"Discount_Percent__c": 3}) == 204
    after = sf.Opportunity.get(oid)
    assert after["Discount_Percent__c"] == 3.0
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    changed = sf.query(f"SELECT Id FROM Opportunity WHERE SystemModstamp > {before['SystemModstamp'][:19]}Z")
    assert oid in [r["Id"] for r in changed["records"]]


def test_tooling_custom_field_appears_in_describe_and_is_writable_and_duplicate_is_refused(
    sb: Sandbox,
) -> None:
    sf = client(sb)
    names = {f["name"] for f in sf.Opportunity.describe()["fields"]}
    assert {"Discount_Percent__c", "PartnerAccountId", "SystemModstamp"} <= names
    assert "Cosell_Incentive__c" not in names
    body = {
        "FullName": "Opportunity.Cosell_Incentive__c",
        "Metadata": {"type": "Currency", "label": "Cosell incentive", "precision": 18, "scale": 2},
    }
    created = sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
    assert created["success"] is True and created["id"].startswith("00N")
    with pytest.raises(SalesforceMalformedRequest) as dup:
        sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
    assert dup.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    field = next(f for f in sf.Opportunity.describe()["fields"] if f["name"] == "Cosell_Incentive__c")
    assert field["custom"] is True and field["updateable"] is True and field["type"] == "currency"
    note = {
        "FullName": "Opportunity.Cosell_Incentive_Note__c",
        "Metadata": {"type": "Text", "label": "Cosell incentive note", "length": 255},
    }
    sf.restful("tooling/sobjects/CustomField", method="POST", json=note)
    oid = opportunity_ids(sf, n=1)[0]
    res = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Opportunity"}, "id": oid, "Cosell_Incentive__c": 1234.565},
            ]
        },
    )
    assert res[0]["success"]
    row = sf.query(f"SELECT Cosell_Incentive__c FROM Opportunity WHERE Id = '{oid}'")["records"][0]
    assert row["Cosell_Incentive__c"] == pytest.approx(1234.57)
    too_long = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Opportunity"}, "id": oid, "Cosell_Incentive_Note__c": "x" * 256}
            ]
        },
    )
    assert too_long[0]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    listed = sf.toolingexecute(
        "query?q=SELECT+Id,DeveloperName,TableEnumOrId+FROM+CustomField+WHERE+TableEnumOrId='Opportunity'"
    )
    assert "Cosell_Incentive" in {r["DeveloperName"] for r in listed["records"]}


def test_bulk2_ingest_update_reports_successful_and_failed_results(sb: Sandbox) -> None:
    sf = client(sb)
    ids = opportunity_ids(sf, n=4)
    sb.set_faults({"invalid": [ids[3]]})
    rows = [{"Id": i, "Discount_Percent__c": "7.5"} for i in ids]
    result = sf.bulk2.Opportunity.update(records=rows, wait=0.05)
    assert result[0]["numberRecordsProcessed"] == 4
    assert result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    assert job_id.startswith("750")
    failed = sf.bulk2.Opportunity.get_failed_records(job_id)
    assert failed.splitlines()[0].startswith('"sf__Id","sf__Error"') or failed.startswith("sf__Id,sf__Error")
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in failed and ids[3] in failed
    ok = sf.bulk2.Opportunity.get_successful_records(job_id)
    assert len(ok.strip().splitlines()) == 4
    got = sf.query(f"SELECT Discount_Percent__c FROM Opportunity WHERE Id = '{ids[0]}'")["records"][0]
    assert got["Discount_Percent__c"] == 7.5
    assert sb.stats()["records_written"]["Opportunity"] == 3


def test_wrong_token_is_invalid_session_id(sb: Sandbox) -> None:
    with pytest.raises(SalesforceExpiredSession) as exc:
        client(sb, token="00Dnope").query("SELECT Id FROM Account LIMIT 1")
    assert exc.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_rate_limit_fault_is_403_request_limit_exceeded_with_retry_after_and_limit_info(sb: Sandbox) -> None:
    sf = client(sb)
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == 15000
    sb.set_faults("429=1.0,retry_after=0")
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert exc.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    raw = requests.get(
        f"{sb.salesforce_instance_url}/services/data/v59.0/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=10,
    )
    assert raw.status_code == 403 and raw.headers["Retry-After"] == "0"
    assert raw.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_latency_fault_slows_every_request(sb: Sandbox) -> None:
    sf = client(sb)
    sb.set_faults("latency=120ms")
    start = time.perf_counter()
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert time.perf_counter() - start >= 0.12


def test_bulk2_query_pages_csv_results_with_locators(sb: Sandbox) -> None:
    sf = client(sb)
    live = sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    pages = list(
        sf.bulk2.Opportunity.query(
            "SELECT Id, Amount, IsWon, Account.Name FROM Opportunity", max_records=2000, wait=0.05
        )
    )
    assert len(pages) == 3
    assert pages[0].splitlines()[0] == '"Id","Amount","IsWon","Account.Name"'
    assert sum(len(p.strip().splitlines()) - 1 for p in pages) == live
    everything = list(sf.bulk2.Opportunity.query_all("SELECT Id FROM Opportunity", wait=0.05))
    assert sum(len(p.strip().splitlines()) - 1 for p in everything) == 4500


def _bulk(sb: Sandbox, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(
        method,
        f"{sb.base_url}/services/data/v59.0/{path}",
        json=body,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=30,
    )


def _amounts(sb: Sandbox, job_id: str) -> dict[str, str]:
    answer = _bulk(sb, "GET", f"jobs/query/{job_id}/results?maxRecords=100000")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Sforce-Locator"] == "null"
    return {row["Id"]: row["Amount"] for row in csv.DictReader(io.StringIO(answer.text))}


def _first_and_last_live_deal(sf: Salesforce) -> tuple[str, str]:
    live = sorted(r["Id"] for r in sf.query_all("SELECT Id FROM Opportunity")["records"])
    return live[0], live[-1]


def test_a_bulk_query_job_within_one_chunk_is_evaluated_at_once(sb: Sandbox) -> None:
    sf = client(sb)
    _early, late = _first_and_last_live_deal(sf)
    before = sf.Opportunity.get(late)["Amount"]
    job = _bulk(
        sb, "POST", "jobs/query", {"operation": "query", "query": "SELECT Id, Amount FROM Opportunity"}
    )
    assert job.json()["state"] == "UploadComplete"
    sf.Opportunity.update(late, {"Amount": 222})  # after the job was evaluated: not in its result
    assert _bulk(sb, "GET", f"jobs/query/{job.json()['id']}").json()["state"] == "JobComplete"
    assert float(_amounts(sb, job.json()["id"])[late]) == before


def test_a_large_bulk_query_job_is_evaluated_chunk_by_chunk_so_its_result_is_no_snapshot(sb: Sandbox) -> None:
    # Salesforce splits a large query job into chunks of record ids processed one after another (in
    # parallel, retried): a record in a chunk processed early shows the state it had then, one in a
    # chunk processed later the state it has then.
    sf = client(sb)
    early, late = _first_and_last_live_deal(sf)
    early_before = sf.Opportunity.get(early)["Amount"]
    previous = sb.set_query_chunk(2000)  # ~4,500 deal ids: three chunks
    try:
        created = _bulk(
            sb, "POST", "jobs/query", {"operation": "query", "query": "SELECT Id, Amount FROM Opportunity"}
        ).json()
        assert created["state"] == "UploadComplete"
        sf.Opportunity.update(early, {"Amount": 111})  # its chunk, the first, is evaluated already
        sf.Opportunity.update(late, {"Amount": 222})  # its chunk, the last, is not
        refused = _bulk(sb, "GET", f"jobs/query/{created['id']}/results")
        assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALIDJOBSTATE"
        states = [_bulk(sb, "GET", f"jobs/query/{created['id']}").json()["state"] for _ in range(3)]
        assert states == ["InProgress", "JobComplete", "JobComplete"]  # a chunk more per look
        amounts = _amounts(sb, created["id"])
    finally:
        sb.set_query_chunk(previous)
    assert float(amounts[early]) == early_before and amounts[late] == "222"
    assert len(amounts) == sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]  # each live deal once
