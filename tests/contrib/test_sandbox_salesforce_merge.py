"""The sandbox's Salesforce Account merge (an admin's merge in the org, Apex ``Database.merge``, the SOAP
``merge()`` call; the REST API has none, so tests merge through ``sb.merge_salesforce_accounts``): the
victims go to the recycle bin with ``MasterRecordId`` set, what pointed to them points to the master, and
incremental reads see both; its refusals; ``MasterRecordId`` is read-only. An admin's undelete
(``sb.undelete_salesforce``) brings a record back without undoing what a merge moved. Driven over HTTP with
the unmodified simple-salesforce client."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from cosell.contrib.sandbox import Sandbox
from cosell.contrib.sandbox.salesforce import SalesforceMergeRefused, SalesforceUndeleteRefused
from cosell.contrib.sandbox.store import SFField
from sandboxes import module_sandbox

pytestmark = pytest.mark.sandbox

sandbox, sb = module_sandbox(seed=23, partners=12, deals=300)

LOOKUPS_TO_ACCOUNT = (
    ("Opportunity", "AccountId"),
    ("Opportunity", "PartnerAccountId"),
    ("OpportunityPartner", "AccountToId"),  # read-only through the API
    ("Task", "WhatId"),
    ("Task", "AccountId"),  # read-only through the API
    ("Event", "WhatId"),
    ("Event", "AccountId"),  # read-only through the API
    ("PartnerFundRequest", "ChannelPartnerId"),
    ("PartnerFundClaim", "ChannelPartnerId"),
)
"""Every lookup to Account among the seeded sObjects."""


def client(sb: Sandbox) -> Salesforce:
    session = requests.Session()
    session.verify = sb.ca_bundle
    return Salesforce(instance_url=sb.salesforce_instance_url, session_id=sb.token, session=session)


def rows(sf: Salesforce, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Every record a query (``queryAll`` with ``include_deleted``) returns, its ``attributes`` dropped."""
    found = sf.query_all(soql, include_deleted=include_deleted)["records"]
    return [{k: v for k, v in r.items() if k != "attributes"} for r in found]


def ids(sf: Salesforce, soql: str, *, include_deleted: bool = False) -> set[str]:
    return {r["Id"] for r in rows(sf, soql, include_deleted=include_deleted)}


def pointing_to(sf: Salesforce, *account_ids: str) -> dict[str, dict[tuple[str, str], set[str]]]:
    """Per account, the live records (archived activities included) each lookup to Account points to it
    from, by ``(sObject, lookup)``; lookups with none left out."""
    listed = ", ".join(f"'{i}'" for i in account_ids)
    out: dict[str, dict[tuple[str, str], set[str]]] = {i: {} for i in account_ids}
    for sobject in dict.fromkeys(s for s, _ in LOOKUPS_TO_ACCOUNT):
        lookups = [lookup for s, lookup in LOOKUPS_TO_ACCOUNT if s == sobject]
        where = " OR ".join(f"{lookup} IN ({listed})" for lookup in lookups)
        soql = f"SELECT Id, {', '.join(lookups)} FROM {sobject} WHERE IsDeleted = false AND ({where})"
        for r in rows(sf, soql, include_deleted=True):
            for lookup in lookups:
                if r[lookup] in out:
                    out[r[lookup]].setdefault((sobject, lookup), set()).add(r["Id"])
    return out


def account(sf: Salesforce, account_id: str) -> dict[str, Any]:
    """One account as ``queryAll`` reads it (the recycle bin included)."""
    fields = "Id, Name, Type, IsPartner, Website, IsDeleted, MasterRecordId, LastModifiedDate, SystemModstamp"
    soql = f"SELECT {fields} FROM Account WHERE Id = '{account_id}'"
    [found] = rows(sf, soql, include_deleted=True)
    return found


def partner_with_claims(sf: Salesforce) -> str:
    return str(
        rows(sf, "SELECT ChannelPartnerId FROM PartnerFundClaim ORDER BY Id LIMIT 1")[0]["ChannelPartnerId"]
    )


def customer_with_a_deleted_deal(sf: Salesforce) -> tuple[str, str]:
    """A customer account and a deal of it in the recycle bin (the seed deletes about 1 % of deals)."""
    deal = rows(
        sf, "SELECT Id, AccountId FROM Opportunity WHERE IsDeleted = true ORDER BY Id", include_deleted=True
    )[0]
    return str(deal["AccountId"]), str(deal["Id"])


def other_partner(sf: Salesforce, *besides: str) -> str:
    excluded = ", ".join(f"'{i}'" for i in besides)
    soql = f"SELECT Id FROM Account WHERE IsPartner = true AND Id NOT IN ({excluded}) ORDER BY Id LIMIT 1"
    return str(rows(sf, soql)[0]["Id"])


def refused(sb: Sandbox, *ids: str) -> SalesforceMergeRefused:
    """What refuses the merge of ``ids`` (the master first)."""
    with pytest.raises(SalesforceMergeRefused) as caught:
        sb.merge_salesforce_accounts(*ids)
    return caught.value


def test_describe_lists_master_record_id_as_a_read_only_nillable_lookup_to_account_null_on_live_accounts(
    sb: Sandbox,
) -> None:
    sf = client(sb)
    field = next(f for f in sf.Account.describe()["fields"] if f["name"] == "MasterRecordId")
    assert field["type"] == "reference"
    assert field["referenceTo"] == ["Account"]
    assert field["relationshipName"] == "MasterRecord"
    assert field["nillable"] is True
    assert (field["createable"], field["updateable"]) == (False, False)
    everything = sf.query_all("SELECT Id, MasterRecordId FROM Account", include_deleted=True)["records"]
    assert everything and all(r["MasterRecordId"] is None for r in everything)
    assert ids(sf, "SELECT Id FROM Account WHERE MasterRecordId != null", include_deleted=True) == set()


def test_a_merge_moves_the_victims_to_the_recycle_bin_with_the_masters_id_and_the_master_keeps_its_values(
    sb: Sandbox,
) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    customer, _ = customer_with_a_deleted_deal(sf)
    master = other_partner(sf, victim, customer)
    before = account(sf, master)

    result = sb.merge_salesforce_accounts(master[:15], victim, customer)  # a 15-character id does too

    assert result["id"] == master
    assert result["mergedRecordIds"] == [victim, customer]
    after = account(sf, master)
    assert {k: v for k, v in after.items() if k not in ("LastModifiedDate", "SystemModstamp")} == {
        k: v for k, v in before.items() if k not in ("LastModifiedDate", "SystemModstamp")
    }
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    # query no longer returns a victim; queryAll does, deleted, pointing to the master
    assert ids(sf, f"SELECT Id FROM Account WHERE Id IN ('{victim}', '{customer}', '{master}')") == {master}
    merged = rows(
        sf,
        "SELECT Id, IsDeleted, MasterRecordId, MasterRecord.Name, LastModifiedDate, SystemModstamp FROM Account "
        "WHERE IsDeleted = true AND MasterRecordId != null",
        include_deleted=True,
    )
    assert {r["Id"] for r in merged} == {victim, customer}
    for r in merged:
        assert r["IsDeleted"] is True
        assert r["MasterRecordId"] == master
        assert r["MasterRecord"]["Name"] == before["Name"]
        assert r["LastModifiedDate"] == r["SystemModstamp"] == after["SystemModstamp"]
    assert ids(sf, f"SELECT Id FROM Account WHERE MasterRecordId = '{master}'", include_deleted=True) == {
        victim,
        customer,
    }
    assert ids(sf, f"SELECT Id FROM Account WHERE MasterRecordId = '{master}'") == set()
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(victim)


def test_records_pointing_to_a_victim_point_to_the_master_and_come_back_in_an_incremental_query(
    sb: Sandbox,
) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    customer, deleted_deal = customer_with_a_deleted_deal(sf)
    master = other_partner(sf, victim, customer)
    before = pointing_to(sf, victim, customer, master)
    moved = {
        key: before[victim].get(key, set()) | before[customer].get(key, set()) for key in LOOKUPS_TO_ACCOUNT
    }
    kept = before[master]
    # every kind of lookup is exercised, read-only ones included
    assert {key for key, found in moved.items() if found} == set(LOOKUPS_TO_ACCOUNT)

    result = sb.merge_salesforce_accounts(master, victim, customer)

    after = pointing_to(sf, victim, customer, master)
    assert after[victim] == after[customer] == {}
    assert after[master] == {key: found | kept.get(key, set()) for key, found in moved.items()}
    # one edit of each record moved, stamped with the merge
    since = account(sf, master)["SystemModstamp"]
    changed: set[str] = set()
    for sobject in dict.fromkeys(s for s, _ in LOOKUPS_TO_ACCOUNT):
        stamped = rows(
            sf,
            f"SELECT Id, LastModifiedDate, SystemModstamp FROM {sobject} WHERE SystemModstamp >= {since}",
            include_deleted=True,
        )
        assert all(r["LastModifiedDate"] == r["SystemModstamp"] == since for r in stamped)
        expected = set().union(*(found for (s, _), found in moved.items() if s == sobject))
        assert {r["Id"] for r in stamped} == expected, sobject
        changed |= expected
    assert set(result["updatedRelatedIds"]) == changed
    assert len(result["updatedRelatedIds"]) == len(changed)  # each record once, however many lookups moved
    # the incremental read of accounts: the master through query, the victims through queryAll
    assert ids(sf, f"SELECT Id FROM Account WHERE SystemModstamp >= {since}") == {master}
    assert ids(sf, f"SELECT Id FROM Account WHERE SystemModstamp >= {since}", include_deleted=True) == {
        master,
        victim,
        customer,
    }
    # a deal already in the recycle bin keeps its lookup (and its stamps)
    [binned] = rows(
        sf,
        f"SELECT AccountId, SystemModstamp FROM Opportunity WHERE Id = '{deleted_deal}'",
        include_deleted=True,
    )
    assert binned["AccountId"] == customer
    assert binned["SystemModstamp"] < since


def test_a_custom_lookup_to_account_made_later_follows_the_merge_too(sb: Sandbox) -> None:
    sf = client(sb)
    # the sandbox's Tooling API makes no lookups: the field is added to the org as a Tooling-made one would be
    sb._server.state.sf_store.add_custom_field(
        "PartnerFundClaim",
        SFField(
            "Referred_By__c",
            "reference",
            custom=True,
            updateable=True,
            length=18,
            reference_to=("Account",),
            relationship_name="Referred_By__r",
        ),
    )
    victim = partner_with_claims(sf)
    master = other_partner(sf, victim)
    claim = str(
        rows(sf, f"SELECT Id FROM PartnerFundClaim WHERE ChannelPartnerId != '{victim}' LIMIT 1")[0]["Id"]
    )
    assert sf.PartnerFundClaim.update(claim, {"Referred_By__c": victim}) == 204

    result = sb.merge_salesforce_accounts(master, victim)

    assert claim in result["updatedRelatedIds"]
    [moved] = rows(
        sf, f"SELECT Referred_By__c, Referred_By__r.Name FROM PartnerFundClaim WHERE Id = '{claim}'"
    )
    assert moved["Referred_By__c"] == master
    assert moved["Referred_By__r"]["Name"] == account(sf, master)["Name"]


def test_a_purge_removes_the_merged_accounts_from_query_all(sb: Sandbox) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    master = other_partner(sf, victim)
    sb.merge_salesforce_accounts(master, victim)
    merged = "SELECT Id FROM Account WHERE IsDeleted = true AND MasterRecordId != null"
    assert ids(sf, merged, include_deleted=True) == {victim}

    assert sb.purge()["salesforce"] > 0

    assert ids(sf, merged, include_deleted=True) == set()
    assert ids(sf, f"SELECT Id FROM Account WHERE Id = '{victim}'", include_deleted=True) == set()
    assert ids(sf, f"SELECT Id FROM Account WHERE Id = '{master}'") == {master}
    assert pointing_to(sf, master)[master]  # what moved to the master stays there


def test_a_merge_ticks_the_clock_but_is_no_api_request_and_no_record_written(sb: Sandbox) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    master = other_partner(sf, victim)
    used = sf.api_usage["api-usage"].used
    requests_before = sb.stats()["requests"]

    sb.merge_salesforce_accounts(master, victim)

    assert sb.stats()["requests"] == requests_before
    assert sb.stats()["records_written"]["Account"] == 0
    assert account(sf, master)["SystemModstamp"] == "2027-01-01T00:00:01.000+0000"  # the clock's first tick
    assert sf.api_usage["api-usage"].used == used + 1  # that query alone
    sf.Account.update(master, {"Website": "https://example.com"})
    assert account(sf, master)["SystemModstamp"] == "2027-01-01T00:00:02.000+0000"


def test_merging_an_account_with_itself_is_refused_invalid_id_field(sb: Sandbox) -> None:
    sf = client(sb)
    master = partner_with_claims(sf)
    other = other_partner(sf, master)
    assert refused(sb, master, master).code == "INVALID_ID_FIELD"
    assert refused(sb, master, master[:15]).code == "INVALID_ID_FIELD"
    assert refused(sb, master, other, other).code == "INVALID_ID_FIELD"
    assert account(sf, other)["IsDeleted"] is False


def test_merging_an_unknown_or_malformed_id_is_refused(sb: Sandbox) -> None:
    sf = client(sb)
    master = partner_with_claims(sf)
    other = other_partner(sf, master)
    unknown = "001" + "0" * 15
    for args in ((master, unknown), (unknown, master)):
        error = refused(sb, *args)
        assert (error.code, error.message) == ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    assert refused(sb, master, "not-an-id").code == "MALFORMED_ID"
    # a refusal changes nothing, even where another victim was good
    assert refused(sb, master, other, unknown).code == "INVALID_CROSS_REFERENCE_KEY"
    assert account(sf, other)["IsDeleted"] is False
    assert ids(sf, "SELECT Id FROM Account WHERE MasterRecordId != null", include_deleted=True) == set()


def test_merging_a_deleted_account_either_way_is_refused_entity_is_deleted(sb: Sandbox) -> None:
    sf = client(sb)
    gone = partner_with_claims(sf)
    master = other_partner(sf, gone)
    third = other_partner(sf, gone, master)
    assert sf.Account.delete(gone) == 204
    for args in ((master, gone), (gone, master), (master, third, gone)):
        error = refused(sb, *args)
        assert (error.code, error.message) == ("ENTITY_IS_DELETED", "entity is deleted")
    assert account(sf, third)["IsDeleted"] is False
    sb.merge_salesforce_accounts(master, third)
    error = refused(sb, third, master)  # a merged-away master is deleted too
    assert error.code == "ENTITY_IS_DELETED"


def test_merging_more_than_two_victims_at_once_is_refused_limit_exceeded(sb: Sandbox) -> None:
    sf = client(sb)
    partners = sorted(ids(sf, "SELECT Id FROM Account WHERE IsPartner = true"))[:4]
    error = refused(sb, *partners)
    assert error.code == "LIMIT_EXCEEDED"
    listed = ", ".join(f"'{i}'" for i in partners)
    assert ids(sf, f"SELECT Id FROM Account WHERE Id IN ({listed})") == set(partners)


def test_merging_records_of_an_sobject_salesforce_does_not_merge_is_refused(sb: Sandbox) -> None:
    sf = client(sb)
    deals = sorted(ids(sf, "SELECT Id FROM Opportunity"))[:2]
    error = refused(sb, *deals)
    assert (error.code, error.message) == ("INVALID_TYPE_FOR_OPERATION", "entity type does not support merge")
    account_id = partner_with_claims(sf)
    # an account's merge names accounts only: a deal is no account
    assert refused(sb, account_id, deals[0]).code == "INVALID_CROSS_REFERENCE_KEY"
    assert ids(sf, f"SELECT Id FROM Opportunity WHERE Id IN ('{deals[0]}', '{deals[1]}')") == set(deals)


def test_the_locked_and_invalid_faults_refuse_a_merge(sb: Sandbox) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    master = other_partner(sf, victim)
    sb.set_faults({"locked": [victim]})
    assert refused(sb, master, victim).code == "UNABLE_TO_LOCK_ROW"
    sb.set_faults({"invalid": [master]})
    assert refused(sb, master, victim).code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    sb.set_faults(None)
    assert sb.merge_salesforce_accounts(master, victim)["mergedRecordIds"] == [victim]


def test_writing_master_record_id_is_refused_as_a_read_only_field(sb: Sandbox) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    master = other_partner(sf, victim)
    with pytest.raises(SalesforceMalformedRequest) as single:
        sf.Account.update(victim, {"MasterRecordId": master})
    assert single.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert single.value.content[0]["fields"] == ["MasterRecordId"]
    collection = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "id": victim, "MasterRecordId": None}]},
    )
    assert collection[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert account(sf, victim)["MasterRecordId"] is None


def test_an_undeleted_merged_account_is_live_again_and_what_the_merge_moved_stays_with_the_master(
    sb: Sandbox,
) -> None:
    sf = client(sb)
    victim = partner_with_claims(sf)
    master = other_partner(sf, victim)
    sb.merge_salesforce_accounts(master, victim)
    moved = pointing_to(sf, master)[master]
    before = account(sf, victim)

    assert sb.undelete_salesforce(victim) == [victim]

    after = account(sf, victim)
    assert after["IsDeleted"] is False and after["SystemModstamp"] > before["SystemModstamp"]
    assert ids(sf, f"SELECT Id FROM Account WHERE Id = '{victim}'") == {victim}  # query sees it again
    merged = "SELECT Id FROM Account WHERE IsDeleted = true AND MasterRecordId != null"
    assert victim not in ids(sf, merged, include_deleted=True)
    assert pointing_to(sf, master)[master] == moved  # the merge's reparenting is not undone
    assert pointing_to(sf, victim)[victim] == {}


def test_an_undeleted_opportunity_comes_back_with_its_partner_rows(sb: Sandbox) -> None:
    sf = client(sb)
    _, deal = customer_with_a_deleted_deal(sf)
    rows_of = f"SELECT Id FROM OpportunityPartner WHERE OpportunityId = '{deal}'"
    deleted = ids(sf, rows_of, include_deleted=True)
    assert deleted and ids(sf, rows_of) == set()

    sb.undelete_salesforce(deal)

    assert ids(sf, f"SELECT Id FROM Opportunity WHERE Id = '{deal}'") == {deal}
    assert ids(sf, rows_of) == deleted


def test_an_undelete_of_a_live_purged_or_malformed_record_is_refused_changing_nothing(sb: Sandbox) -> None:
    sf = client(sb)
    live = other_partner(sf, "001000000000000AAA")
    _, deal = customer_with_a_deleted_deal(sf)
    for ids_, code in (
        ((deal, live), "UNDELETE_FAILED"),
        ((deal, "006000000000zzzAAA"), "INVALID_CROSS_REFERENCE_KEY"),
        ((deal, "not-an-id"), "MALFORMED_ID"),
    ):
        with pytest.raises(SalesforceUndeleteRefused) as caught:
            sb.undelete_salesforce(*ids_)
        assert caught.value.code == code
        assert ids(sf, f"SELECT Id FROM Opportunity WHERE Id = '{deal}'") == set()  # nothing undeleted
