"""The sandbox's HubSpot side, driven through the unmodified hubspot-api-client."""

from __future__ import annotations

import pytest
import requests
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from cosell.contrib.sandbox import Sandbox, serve
from hubspot import HubSpot
from sandboxes import module_sandbox

pytestmark = pytest.mark.sandbox


sandbox, sb = module_sandbox(seed=11, partners=40, deals=1500)


def client(sb: Sandbox, token: str | None = None) -> HubSpot:
    return HubSpot(access_token=token or sb.token, host=sb.hubspot_base_url, ssl_ca_cert=sb.ca_bundle)


def search(limit: int = 100, after: str | None = None, **kw: object) -> PublicObjectSearchRequest:
    return PublicObjectSearchRequest(limit=limit, after=after, **kw)


def deal_ids(hs: HubSpot, n: int) -> list[str]:
    ids: list[str] = []
    after = None
    while len(ids) < n:
        page = hs.crm.deals.basic_api.get_page(limit=100, after=after)
        ids += [d.id for d in page.results]
        after = page.paging.next.after
    return ids[:n]


def test_search_filters_sorts_and_pages_with_total(sb: Sandbox) -> None:
    hs = client(sb)
    won = FilterGroup(filters=[Filter(property_name="dealstage", operator="EQ", value="closedwon")])
    request = search(
        limit=100,
        filter_groups=[won],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["amount", "deal_currency_code", "dealstage", "closedate", "hs_lastmodifieddate"],
    )
    first = hs.crm.deals.search_api.do_search(public_object_search_request=request)
    assert first.total > 100 and len(first.results) == 100
    assert {d.properties["dealstage"] for d in first.results} == {"closedwon"}
    stamps = [d.properties["hs_lastmodifieddate"] for d in first.results]
    assert stamps == sorted(stamps)
    assert stamps[0].endswith("Z") and "." in stamps[0]
    second = hs.crm.deals.search_api.do_search(
        public_object_search_request=search(
            after=first.paging.next.after,
            filter_groups=[won],
            sorts=request.sorts,
            properties=request.properties,
        )
    )
    assert not {d.id for d in second.results} & {d.id for d in first.results}
    ranged = hs.crm.deals.search_api.do_search(
        public_object_search_request=search(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(
                            property_name="createdate",
                            operator="BETWEEN",
                            value="2026-04-01T00:00:00Z",
                            high_value="2026-06-30T23:59:59.999Z",
                        ),
                        Filter(property_name="deal_currency_code", operator="IN", values=["EUR", "GBP"]),
                        Filter(property_name="discount_percent", operator="GT", value="25"),
                    ]
                )
            ],
            properties=["createdate", "deal_currency_code", "discount_percent"],
        )
    )
    assert ranged.total > 0
    for d in ranged.results:
        assert "2026-04-01" <= d.properties["createdate"][:10] <= "2026-06-30"
        assert d.properties["deal_currency_code"] in ("EUR", "GBP")
        assert float(d.properties["discount_percent"]) > 25


def test_search_takes_200_a_page_and_over_200_is_a_validation_error(sb: Sandbox) -> None:
    hs = client(sb)
    page = hs.crm.deals.search_api.do_search(public_object_search_request=search(limit=200))
    assert len(page.results) == 200 and page.paging.next.after == "200"
    with pytest.raises(ApiException) as exc:
        hs.crm.deals.search_api.do_search(public_object_search_request=search(limit=201))
    assert exc.value.status == 400
    assert '"category":"VALIDATION_ERROR"' in exc.value.body


def test_a_search_paged_by_key_gives_the_matching_records_past_the_id_in_id_order(sb: Sandbox) -> None:
    # each page a new query `hs_object_id > last id read`, sorted by hs_object_id: HubSpot's documented
    # way past 10,000 results, and the way to page a read that records deleted meanwhile cannot shift
    hs = client(sb)
    won = Filter(property_name="dealstage", operator="EQ", value="closedwon")
    by_id = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]

    def query(*filters: Filter, after: str | None = None) -> tuple[int, list[str]]:
        request = search(
            limit=200, after=after, filter_groups=[FilterGroup(filters=list(filters))], sorts=by_id
        )
        page = hs.crm.deals.search_api.do_search(public_object_search_request=request)
        return page.total, [d.id for d in page.results]

    total, every = query(won)
    while len(every) < total:
        every += query(won, after=str(len(every)))[1]
    assert total == len(every) > 250 and every == sorted(every, key=int)
    bound = every[40]
    past = Filter(property_name="hs_object_id", operator="GT", value=bound)
    assert query(won, past) == (total - 41, every[41:241])
    assert query(past, won, after="100")[1] == every[141:341]
    hs.crm.deals.basic_api.archive(every[50])  # a later query sees the portal as it is now
    assert query(won, past) == (total - 42, every[41:50] + every[51:242])


def _groups(*sizes: int) -> list[FilterGroup]:
    amount = Filter(property_name="amount", operator="GT", value="0")
    return [FilterGroup(filters=[amount] * n) for n in sizes]


@pytest.mark.parametrize(
    ("sizes", "allowed"),
    [
        ((10,), True),  # 10 filters in a group
        ((5, 5, 5, 5, 5), True),  # 5 groups, 25 filters in all
        ((11,), False),
        ((1, 1, 1, 1, 1, 1), False),  # a sixth group
        ((10, 10, 6), False),  # 26 filters in all
    ],
)
def test_search_filter_limits_are_5_groups_10_a_group_25_in_all(
    sb: Sandbox, sizes: tuple[int, ...], allowed: bool
) -> None:
    request = search(limit=1, filter_groups=_groups(*sizes))
    if allowed:
        assert client(sb).crm.deals.search_api.do_search(public_object_search_request=request).total > 0
        return
    with pytest.raises(ApiException) as exc:
        client(sb).crm.deals.search_api.do_search(public_object_search_request=request)
    assert exc.value.status == 400
    assert '"category":"VALIDATION_ERROR"' in exc.value.body


def test_an_archived_deal_is_read_only_with_archived_true_until_purged(sb: Sandbox) -> None:
    hs = client(sb)
    deal = deal_ids(hs, 1)[0]
    live_before = hs.crm.deals.search_api.do_search(public_object_search_request=search(limit=1)).total
    hs.crm.deals.basic_api.archive(deal)
    with pytest.raises(ApiException) as gone:
        hs.crm.deals.basic_api.get_by_id(deal)
    assert gone.value.status == 404
    assert hs.crm.deals.basic_api.get_by_id(deal, archived=True).archived is True
    assert deal not in deal_ids(hs, 100)
    assert (
        hs.crm.deals.search_api.do_search(public_object_search_request=search(limit=1)).total
        == live_before - 1
    )
    archived = hs.crm.deals.basic_api.get_page(limit=100, archived=True).results
    assert deal in {d.id for d in archived}
    assert sb.purge()["hubspot"] == len(archived)  # the seed archives about 1 % of deals too
    assert hs.crm.deals.basic_api.get_page(limit=100, archived=True).results == []
    with pytest.raises(ApiException) as purged:
        hs.crm.deals.basic_api.get_by_id(deal, archived=True)
    assert purged.value.status == 404


def test_search_stops_at_10000_results() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("REQUESTS_CA_BUNDLE", raising=False)
        mp.delenv("CURL_CA_BUNDLE", raising=False)
        with serve(seed=12, partners=5, deals=10_300) as big:
            hs = client(big)
            page = hs.crm.deals.search_api.do_search(public_object_search_request=search(after="9900"))
            assert page.total > 10_000
            assert page.paging.next.after == "10000"
            with pytest.raises(ApiException) as exc:
                hs.crm.deals.search_api.do_search(public_object_search_request=search(after="10000"))
            assert exc.value.status == 400


def test_list_pages_companies_with_partner_type(sb: Sandbox) -> None:
    hs = client(sb)
    companies = []
    after = None
    while True:
        page = hs.crm.companies.basic_api.get_page(
            limit=100, after=after, properties=["name", "partner_type"]
        )
        companies += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    partners = [c for c in companies if c.properties.get("partner_type")]
    assert len(partners) == 40
    assert {c.properties["partner_type"] for c in partners} >= {"Reseller", "Referral"}
    assert len(companies) > 40


def test_batch_update_takes_100_inputs_and_refuses_101(sb: Sandbox) -> None:
    hs = client(sb)
    ids = deal_ids(hs, 101)
    inputs = [SimplePublicObjectBatchInput(id=i, properties={"discount_percent": "5"}) for i in ids]
    with pytest.raises(ApiException) as exc:
        hs.crm.deals.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert exc.value.status == 400 and "VALIDATION_ERROR" in exc.value.body
    before = hs.crm.deals.basic_api.get_by_id(ids[0], properties=["hs_lastmodifieddate"])
    done = hs.crm.deals.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs[:100]))
    assert done.status == "COMPLETE" and len(done.results) == 100
    after = hs.crm.deals.basic_api.get_by_id(ids[0], properties=["hs_lastmodifieddate", "discount_percent"])
    assert after.properties["discount_percent"] == "5"
    assert after.properties["hs_lastmodifieddate"] > before.properties["hs_lastmodifieddate"]
    assert sb.stats()["records_written"]["deals"] == 100


def test_batch_update_with_an_invalid_record_is_a_207_with_per_record_errors(sb: Sandbox) -> None:
    hs = client(sb)
    ids = deal_ids(hs, 3)
    sb.set_faults({"invalid": [ids[1]]})
    inputs = [SimplePublicObjectBatchInput(id=i, properties={"margin_percent": "33"}) for i in ids]
    res = hs.crm.deals.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert type(res).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert res.num_errors == 1
    assert res.errors[0].category == "VALIDATION_ERROR"
    assert res.errors[0].context == {"ids": [ids[1]]}
    assert sorted(r.id for r in res.results) == sorted([ids[0], ids[2]])


def test_batch_update_with_unknown_property_is_refused_whole(sb: Sandbox) -> None:
    hs = client(sb)
    ids = deal_ids(hs, 2)
    inputs = [SimplePublicObjectBatchInput(id=i, properties={"cosell_incentive": "1"}) for i in ids]
    with pytest.raises(ApiException) as exc:
        hs.crm.deals.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert exc.value.status == 400
    assert "PROPERTY_DOESNT_EXIST" in exc.value.body
    assert sb.stats()["records_written"]["deals"] == 0


def test_batch_read_reports_missing_ids_in_a_207(sb: Sandbox) -> None:
    hs = client(sb)
    ids = deal_ids(hs, 2)
    res = hs.crm.deals.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            properties=["amount"], inputs=[SimplePublicObjectId(id=i) for i in [*ids, "1"]]
        )
    )
    assert len(res.results) == 2 and res.num_errors == 1
    assert res.errors[0].category == "OBJECT_NOT_FOUND"


def test_associations_v4_carry_partner_labels_beside_the_default(sb: Sandbox) -> None:
    hs = client(sb)
    ids = deal_ids(hs, 300)
    batch = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
    )
    res = hs.crm.associations.v4.batch_api.get_page("deals", "companies", batch)
    labels = {t.label for r in res.results for to in r.to for t in to.association_types}
    assert {"Partner", "Co-sell", "Primary", None} <= labels
    partner_links = [
        to for r in res.results for to in r.to if any(t.label == "Partner" for t in to.association_types)
    ]
    assert all(
        {(t.category, t.type_id) for t in to.association_types}
        >= {("HUBSPOT_DEFINED", 341), ("USER_DEFINED", 101)}
        for to in partner_links
    )
    too_many = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=str(i)) for i in range(1001)]
    )
    with pytest.raises(Exception) as exc:
        hs.crm.associations.v4.batch_api.get_page("deals", "companies", too_many)
    assert getattr(exc.value, "status", None) == 400
    raw = requests.get(
        f"{sb.hubspot_base_url}/crm/v4/associations/deals/companies/labels",
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=sb.ca_bundle,
        timeout=10,
    ).json()
    assert {r["label"] for r in raw["results"]} >= {"Partner", "Co-sell", "Influenced"}


def test_pipelines_give_stage_labels_and_won_lost_metadata(sb: Sandbox) -> None:
    pipelines = client(sb).crm.pipelines.pipelines_api.get_all(object_type="deals").results
    stages = {s.id: s for s in pipelines[0].stages}
    assert stages["closedwon"].metadata == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"].metadata == {"isClosed": "true", "probability": "0.0"}
    assert stages["qualifiedtobuy"].label == "Qualification"


def test_property_and_group_creation_conflicts_on_the_second_try(sb: Sandbox) -> None:
    hs = client(sb)
    group = PropertyGroupCreate(name="cosell", label="cosell")
    created = hs.crm.properties.groups_api.create("deals", group)
    assert created.name == "cosell"
    with pytest.raises(Exception) as dup_group:
        hs.crm.properties.groups_api.create("deals", group)
    assert getattr(dup_group.value, "status", None) == 409
    prop = PropertyCreate(
        name="cosell_incentive",
        label="Cosell incentive",
        type="number",
        field_type="number",
        group_name="cosell",
    )
    assert hs.crm.properties.core_api.create("deals", prop).name == "cosell_incentive"
    with pytest.raises(Exception) as dup_prop:
        hs.crm.properties.core_api.create("deals", prop)
    assert getattr(dup_prop.value, "status", None) == 409
    ids = deal_ids(hs, 1)
    hs.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=ids[0], properties={"cosell_incentive": "12.50"})]
        )
    )
    got = hs.crm.deals.basic_api.get_by_id(ids[0], properties=["cosell_incentive"])
    assert got.properties["cosell_incentive"] == "12.50"


def test_meetings_and_mdf_claims_are_associated_with_partner_companies(sb: Sandbox) -> None:
    hs = client(sb)
    page = hs.crm.objects.basic_api.get_page(
        "meetings", limit=20, properties=["cosell_activity_type", "hs_timestamp"], associations=["companies"]
    )
    assert all(m.properties["cosell_activity_type"] for m in page.results)
    assert all(m.associations["companies"].results for m in page.results)
    claims = hs.crm.objects.search_api.do_search(
        "p_mdf_claims",
        public_object_search_request=search(properties=["amount", "status", "approved_on", "campaign"]),
    )
    assert claims.total > 0
    assert {c.properties["status"] for c in claims.results} <= {"submitted", "approved", "paid", "rejected"}


def test_wrong_token_is_invalid_authentication(sb: Sandbox) -> None:
    with pytest.raises(ApiException) as exc:
        client(sb, token="nope").crm.deals.basic_api.get_page(limit=1)
    assert exc.value.status == 401 and '"category":"INVALID_AUTHENTICATION"' in exc.value.body


def test_rate_limit_fault_is_429_with_retry_after_and_the_real_body(sb: Sandbox) -> None:
    # urllib3's default Retry (which the client uses when given none) honours Retry-After on a 429 for GETs,
    # so a GET is tried 4 times before the error surfaces; Retry-After 0 keeps that fast.
    sb.set_faults({"429": 1.0, "retry_after": 0})
    with pytest.raises(ApiException) as exc:
        client(sb).crm.deals.basic_api.get_page(limit=1)
    assert exc.value.status == 429
    assert exc.value.headers["Retry-After"] == "0"
    assert sb.stats()["requests"]["GET /crm/v3/objects/deals"] == 4
    assert '"policyName":"SECONDLY"' in exc.value.body and '"errorType":"RATE_LIMIT"' in exc.value.body
