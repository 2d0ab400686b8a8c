"""The HubSpot connector's client, writer and mapping, with HTTP faked at the urllib3 level (the
hubspot-api-client's own request path runs; only the connection pool answers from a script)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import urllib3

from cosell.connector import ClaimLeftOut, FieldWrite
from cosell.connectors.common import RetryPolicy
from cosell.connectors.hubspot.client import Credentials, HubSpotClient
from cosell.connectors.hubspot.mapping import HubSpotSettings, Snapshot, Stage, build_records
from cosell.connectors.hubspot.writer import HubSpotConnector
from cosell.errors import ConfigError, InputError, UnreachableError
from cosell.periods import Period
from hubspot import HubSpot

TOKEN = "pat-na1-0123-very-secret"
Answer = tuple[int, dict[str, Any], dict[str, str]]


class FakePool:
    """Stands in for urllib3's PoolManager: records each request, answers from ``reply``."""

    def __init__(self, reply: Callable[[str, str, dict[str, Any]], Answer]) -> None:
        self.reply = reply
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def request(
        self, method: str, url: str, body: Any = None, fields: Any = None, **_: Any
    ) -> urllib3.HTTPResponse:
        payload = json.loads(body) if body else {}
        if fields:  # a GET's query parameters, as urllib3 would encode them into the URL
            url = f"{url}?{urlencode(fields)}"
        self.requests.append((method, url, payload))
        status, answer, headers = self.reply(method, url, payload)
        return urllib3.HTTPResponse(
            body=json.dumps(answer).encode(),
            status=status,
            headers={"Content-Type": "application/json", **headers},
            preload_content=True,
        )


def faked(reply: Callable[[str, str, dict[str, Any]], Answer]) -> tuple[HubSpotClient, FakePool]:
    credentials = Credentials(TOKEN, "https://portal.invalid", None)
    api = HubSpot(access_token=TOKEN, host=credentials.base_url)
    client = HubSpotClient(credentials, policy=RetryPolicy(budget_seconds=5, initial_wait=0.01), api=api)
    pool = FakePool(reply)
    for name in ("search", "basic", "batch", "associations", "pipelines", "properties", "groups"):
        client._endpoint(name).api_client.rest_client.pool_manager = pool
    return client, pool


def deal_write(rid: str) -> FieldWrite:
    return FieldWrite(
        "deal", rid, {"incentive": "10.00", "incentive_status": "Earned", "incentive_note": None}
    )


def test_a_multi_status_answer_fails_only_the_records_it_names() -> None:
    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        ids = [i["id"] for i in body["inputs"]]
        error = {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "bad",
            "context": {"ids": ["2"]},
        }
        results = [{"id": i, "properties": {}, "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z", "archived": False} for i in ids if i != "2"]  # fmt: skip
        return 207, {"status": "COMPLETE", "results": results, "numErrors": 1, "errors": [error],
                     "startedAt": "2026-01-01T00:00:00Z", "completedAt": "2026-01-01T00:00:00Z"}, {}  # fmt: skip

    client, pool = faked(reply)
    outcomes = HubSpotConnector(client, HubSpotSettings()).write(
        [deal_write("1"), deal_write("2"), deal_write("3")]
    )
    assert [(o.key[1], o.ok) for o in outcomes] == [("1", True), ("2", False), ("3", True)]
    assert "VALIDATION_ERROR" in (outcomes[1].error or "")
    sent = pool.requests[0][2]["inputs"][0]["properties"]
    assert sent == {
        "cosell_incentive": "10.00",
        "cosell_incentive_status": "Earned",
        "cosell_incentive_note": "",
    }


def test_a_write_to_records_merged_since_the_read_says_so_naming_the_record_that_answered() -> None:
    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        # deals 1 and 2 were merged into 9 after the sync: HubSpot writes 9 and answers for it alone
        results = [{"id": "9" if i["id"] in ("1", "2") else i["id"], "properties": {}, "archived": False,
                    "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
                   for i in body["inputs"]]  # fmt: skip
        return 200, {"status": "COMPLETE", "results": results, "startedAt": "2026-01-01T00:00:00Z",
                     "completedAt": "2026-01-01T00:00:00Z"}, {}  # fmt: skip

    client, _ = faked(reply)
    outcomes = HubSpotConnector(client, HubSpotSettings()).write(
        [deal_write("1"), deal_write("2"), deal_write("3")]
    )
    assert [(o.key[1], o.ok) for o in outcomes] == [("1", False), ("2", False), ("3", True)]
    assert outcomes[0].error == (
        "merged into another record since this run read it: HubSpot answered for 9 instead; the next run "
        "writes the merged record's own values"
    )


def test_a_batch_refused_whole_is_split_until_the_bad_record_is_found() -> None:
    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        ids = [i["id"] for i in body["inputs"]]
        if "5" in ids:
            return (
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid",
                },
                {},
            )
        results = [{"id": i, "properties": {}, "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z", "archived": False} for i in ids]  # fmt: skip
        return 200, {"status": "COMPLETE", "results": results, "startedAt": "2026-01-01T00:00:00Z",
                     "completedAt": "2026-01-01T00:00:00Z"}, {}  # fmt: skip

    client, pool = faked(reply)
    outcomes = HubSpotConnector(client, HubSpotSettings()).write([deal_write(str(i)) for i in range(8)])
    assert [o.key[1] for o in outcomes if not o.ok] == ["5"]
    assert sum(o.ok for o in outcomes) == 7
    assert len(pool.requests) <= 7  # 1 + a binary search, not one call per record


def test_a_burst_429_waits_retry_after_then_succeeds() -> None:
    answers = iter(
        [(429, {"status": "error", "policyName": "SECONDLY", "message": "secondly"}, {"Retry-After": "0"})]
    )

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        return next(answers, (200, {"results": [{"id": "default", "label": "Sales", "displayOrder": 0, "archived": False,
                                                  "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                                                  "stages": []}]}, {}))  # fmt: skip

    client, pool = faked(reply)
    assert client.deal_stages() == []
    assert len(pool.requests) == 2


def test_a_daily_limit_is_not_waited_for_it_is_exit_4() -> None:
    client, pool = faked(lambda *_: (429, {"status": "error", "policyName": "DAILY", "message": "daily"}, {}))
    with pytest.raises(UnreachableError) as caught:
        client.deal_stages()
    assert caught.value.exit_code == 4 and "daily" in str(caught.value)
    assert len(pool.requests) == 1


def test_a_refused_token_is_exit_4_and_the_token_appears_nowhere() -> None:
    client, _ = faked(
        lambda *_: (401, {"status": "error", "category": "INVALID_AUTHENTICATION", "message": "no"}, {})
    )
    with pytest.raises(UnreachableError) as caught:
        client.deal_stages()
    assert "401" in str(caught.value)
    for text in (
        str(caught.value),
        repr(client),
        repr(client.credentials),
        repr(HubSpotConnector(client, HubSpotSettings())),
    ):
        assert TOKEN not in text


def test_credentials_come_from_the_environment_and_the_hubspot_ca_bundle_wins() -> None:
    env = {
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "REQUESTS_CA_BUNDLE": "/etc/proxy.pem",
        "HUBSPOT_CA_BUNDLE": "/tmp/ca.pem",
    }
    credentials = Credentials.from_env(env)
    assert credentials.ca_bundle == "/tmp/ca.pem" and credentials.base_url == "https://api.hubapi.com"
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN"):
        Credentials.from_env({})


def test_the_module_imports_without_hubspot_api_client_and_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['hubspot'] = None\n"
        "import cosell.connectors.hubspot as h\n"
        "from cosell.errors import ConfigError\n"
        "try:\n    h._hubspot_connector({'env': {}})\nexcept ConfigError as e:\n    print(e.hint)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'cosell[hubspot]'" in result.stdout


WON_JUNE_30 = "2026-06-30T00:00:00.000Z"
"""A closedate on or before the refund dates the date tests give (a refund is never before the win)."""


def snapshot(**deal: Any) -> Snapshot:
    snap = Snapshot()
    snap.companies = {"10": {"name": "Acme", "partner_type": "Reseller", "partner_joined_on": "2025-01-01"},
                      "11": {"name": "Customer"}}  # fmt: skip
    snap.deals = {"20": {"dealname": "Big", "amount": "1000", "deal_currency_code": "EUR", "dealstage": "closedwon",
                         "createdate": "2026-07-01T02:00:00.000Z", "closedate": "2026-08-01T12:00:00.000Z", **deal}}  # fmt: skip
    snap.deal_links = {"20": [("11", []), ("10", ["Partner"])]}
    snap.stages = {"closedwon": Stage("Closed Won", True, True), "open1": Stage("Proposal", False, False)}
    return snap


def test_records_map_labels_to_roles_and_datetimes_to_dates_in_the_program_zone() -> None:
    records = build_records(snapshot(), HubSpotSettings(), ZoneInfo("America/New_York"), "USD")
    assert [p.id for p in records.partners] == ["10"]
    deal = records.deals[0]
    assert (deal.amount, deal.currency, deal.stage, deal.status) == (
        Decimal(1000),
        "EUR",
        "Closed Won",
        "won",
    )
    assert deal.created_on == date(2026, 6, 30)  # 02:00 UTC is still June 30 in New York
    assert [(i.partner_id, i.role) for i in deal.partners] == [("10", "sourced")]


@pytest.mark.parametrize("value", ["2026-07-01", "1782864000000", "2026-07-01T00:00:00.000Z"])
def test_a_date_property_at_midnight_utc_is_that_day_west_of_utc(value: str) -> None:
    # HubSpot's date properties hold midnight UTC, as epoch ms or ISO: in New York that moment is the
    # day before, but the property means the day itself.
    settings = HubSpotSettings()
    snap = snapshot(closedate=WON_JUNE_30, **{settings.refund_property: value})
    snap.companies["10"][settings.partner_joined_property] = value
    records = build_records(snap, settings, ZoneInfo("America/New_York"), "USD")
    assert records.deals[0].refunded_on == date(2026, 7, 1)
    assert records.partners[0].joined_on == date(2026, 7, 1)


@pytest.mark.parametrize("value", ["1782864000000", "2026-07-01T00:00:00.000Z"])
def test_a_closedate_at_midnight_utc_is_that_day_in_new_york_and_a_deal_closed_july_1_lands_in_q3(
    value: str,
) -> None:
    # HubSpot refuses a closedate that is not midnight UTC (INVALID_DATE): the value is a day. Read as a
    # moment in New York it would be June 30, and a deal won on the quarter's first day would count in Q2.
    records = build_records(snapshot(closedate=value), HubSpotSettings(), ZoneInfo("America/New_York"), "USD")
    closed = records.deals[0].closed_on
    assert closed == date(2026, 7, 1)
    assert closed in Period.parse("2026-Q3") and closed not in Period.parse("2026-Q2")


def test_a_closedate_holding_another_time_is_a_moment_in_the_program_zone() -> None:
    # a closedate set through the UI carries the moment the deal closed: taken in the program's zone
    snap = snapshot(closedate="2026-07-01T02:00:00.000Z")
    records = build_records(snap, HubSpotSettings(), ZoneInfo("America/New_York"), "USD")
    assert records.deals[0].closed_on == date(2026, 6, 30)


def test_a_date_property_holding_another_time_is_a_moment_in_the_program_zone() -> None:
    settings = HubSpotSettings()
    snap = snapshot(closedate=WON_JUNE_30, **{settings.refund_property: "2026-07-01T02:00:00.000Z"})
    records = build_records(snap, settings, ZoneInfo("America/New_York"), "USD")
    assert records.deals[0].refunded_on == date(2026, 6, 30)
    big = snapshot(closedate=WON_JUNE_30, **{settings.refund_property: "9" * 20})
    with pytest.raises(InputError, match=f"HubSpot deal 20: {settings.refund_property}: not a date"):
        build_records(big, settings, ZoneInfo("UTC"), "USD")


def test_a_refund_before_the_win_or_of_a_deal_not_won_is_refused_naming_the_deal() -> None:
    settings = HubSpotSettings()
    before = snapshot(**{settings.refund_property: "2026-07-15"})  # won 2026-08-01
    with pytest.raises(InputError) as caught:
        build_records(before, settings, ZoneInfo("UTC"), "USD")
    assert [str(p) for p in caught.value.problems] == [
        f"HubSpot deal 20: {settings.refund_property}: 2026-07-15 is before closed_on 2026-08-01: a deal is "
        "refunded on or after the day it is won"
    ]
    opened = snapshot(dealstage="open1", **{settings.refund_property: "2026-08-15"})
    with pytest.raises(InputError) as caught:
        build_records(opened, settings, ZoneInfo("UTC"), "USD")
    assert [str(p) for p in caught.value.problems] == [
        f"HubSpot deal 20: {settings.refund_property}: 2026-08-15 is given on a deal that is open: only a won "
        "deal is refunded"
    ]
    same_day = snapshot(**{settings.refund_property: "2026-08-01"})
    assert build_records(same_day, settings, ZoneInfo("UTC"), "USD").deals[0].refunded_on == date(2026, 8, 1)


def test_merged_companies_and_deals_go_by_their_new_ids_and_list_the_old_ones_as_merges() -> None:
    # companies 10 and 12 merged into 30, then 30 and 13 into 40 (HubSpot lists every absorbed id); deal 20
    # merged into 50. The snapshot still holds the merged-away records and an association to company 10.
    snap = snapshot()
    snap.companies["12"] = {"name": "Acme dup", "partner_type": "Reseller", "partner_joined_on": "2025-03-01"}
    snap.companies["30"] = {**snap.companies["10"], "hs_merged_object_ids": "10;12"}
    snap.companies["40"] = {**snap.companies["10"], "hs_merged_object_ids": "10;12;13;30"}
    snap.deals["50"] = {**snap.deals["20"], "hs_merged_object_ids": "20"}
    snap.deal_links["50"] = [("10", ["Partner"])]  # an association not moved yet: it names the old company
    records = build_records(snap, HubSpotSettings(), ZoneInfo("UTC"), "USD")
    assert [p.id for p in records.partners] == ["40"]
    assert [(d.id, [i.partner_id for i in d.partners]) for d in records.deals] == [("50", ["40"])]
    assert sorted((m.kind, m.former_id, m.id) for m in records.merges) == [
        ("deal", "20", "50"),
        ("partner", "10", "40"),
        ("partner", "12", "40"),
        ("partner", "13", "40"),
        ("partner", "30", "40"),
    ]


@pytest.mark.parametrize(
    ("obj", "lists", "problem"),
    [
        ("companies", {"10": "30", "30": "10"}, "HubSpot company 10: hs_merged_object_ids: the records list "
         "each other as merged into them: 10 → 30 → 10"),
        ("companies", {"12": "10", "13": "10"}, "HubSpot company 13: hs_merged_object_ids: lists 10, which 12 "
         "lists too"),
        ("deals", {"20": "50", "50": "20"}, "HubSpot deal 20: hs_merged_object_ids: the records list each other "
         "as merged into them: 20 → 50 → 20"),
    ],
)  # fmt: skip
def test_merge_lists_hubspot_never_makes_are_input_errors_not_payouts_moved_or_lost(
    obj: str, lists: dict[str, str], problem: str
) -> None:
    snap = snapshot()
    records = snap.companies if obj == "companies" else snap.deals
    template = records["10" if obj == "companies" else "20"]
    for rid, listed in lists.items():
        records[rid] = {**template, "hs_merged_object_ids": listed}
    with pytest.raises(InputError) as caught:
        build_records(snap, HubSpotSettings(), ZoneInfo("UTC"), "USD")
    assert [str(p) for p in caught.value.problems] == [problem]


def test_a_merged_mdf_claim_counts_once_and_a_claim_naming_a_merged_partner_goes_to_the_new_one() -> None:
    snap = snapshot()
    claim = {"amount": "500", "status": "approved", "approved_on": "2026-08-01", "campaign": "Launch"}
    snap.claims = {
        "40": {**claim, "partner_company_id": "10"},  # merged into 41, still in the snapshot
        "41": {**claim, "partner_company_id": "10", "hs_merged_object_ids": "40"},
        "42": {**claim, "partner_company_id": "10"},  # no association: the property names the old company
    }
    snap.companies["30"] = {**snap.companies["10"], "hs_merged_object_ids": "10"}
    records = build_records(snap, HubSpotSettings(), ZoneInfo("UTC"), "USD")
    assert [(c.id, c.partner_id) for c in records.mdf_claims] == [("41", "30"), ("42", "30")]


def test_the_properties_read_name_a_streams_cursor_so_reading_another_property_reads_it_in_full() -> None:
    from cosell.connectors.hubspot.reader import cursor_key

    base = cursor_key("companies", ["name", "partner_type"], [])
    assert base.startswith("companies#")
    assert cursor_key("companies", ["name", "partner_type", "region"], []) != base
    assert cursor_key("companies", ["name", "partner_type"], [{"propertyName": "partner_type"}]) != base
    assert cursor_key("companies", ["name", "partner_type"], []) == base


def test_bad_records_are_reported_together_naming_object_id_and_property() -> None:
    snap = snapshot(amount="lots", deal_currency_code="EURO")
    snap.deals["21"] = {"dealname": "X", "dealstage": "gone", "createdate": "2026-07-01T00:00:00Z"}
    with pytest.raises(InputError) as caught:
        build_records(snap, HubSpotSettings(), ZoneInfo("UTC"), "USD")
    text = str(caught.value)
    assert "HubSpot deal 20: amount: not a number" in text
    assert "HubSpot deal 20: deal_currency_code" in text
    assert "HubSpot deal 21: dealstage: stage 'gone'" in text


def test_a_negative_or_oversized_or_non_ascii_amount_is_refused_naming_the_deal() -> None:
    for amount, message in [
        ("-500", "HubSpot deal 20: amount: Input should be greater than or equal to 0"),
        ("1e30", "HubSpot deal 20: amount: Input should be less than or equal to 1000000000000"),
        ("١٠٠٠", "HubSpot deal 20: amount: not a number: '١٠٠٠'"),
    ]:
        with pytest.raises(InputError) as caught:
            build_records(snapshot(amount=amount), HubSpotSettings(), ZoneInfo("UTC"), "USD")
        assert [str(p) for p in caught.value.problems] == [message]
    with pytest.raises(InputError) as caught:
        build_records(snapshot(createdate="١٧٨٢٨٧٠٤٠٠٠٠٠"), HubSpotSettings(), ZoneInfo("UTC"), "USD")
    problems = [str(p) for p in caught.value.problems]
    assert "HubSpot deal 20: createdate: not a date: '١٧٨٢٨٧٠٤٠٠٠٠٠'" in problems


def test_calls_over_the_burst_limit_wait_for_the_oldest_to_leave_the_10_second_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cosell.connectors.hubspot import client as client_module

    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(client_module.time, "sleep", sleep)
    client = HubSpotClient(
        Credentials(TOKEN, "https://portal.invalid", None), per_ten_seconds=3, api=object()
    )
    for _ in range(3):
        client.call("calling", "other", lambda: None)
        now[0] += 1.0
    assert slept == []
    client.call("calling", "other", lambda: None)  # the 4th within 10 s of the 1st: waits until it leaves
    assert slept == [pytest.approx(10.0 + client_module.BURST_MARGIN_SECONDS - 3.0)]
    assert client.calls["other"] == 4


def listed_company(rid: int, partner_type: str | None) -> dict[str, Any]:
    return {"id": str(rid), "properties": {"partner_type": partner_type, "hs_lastmodifieddate": "2026-01-02T00:00:00Z"},
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z", "archived": False}  # fmt: skip


def company_stream(client: HubSpotClient) -> Any:
    from cosell.connectors.common import SnapshotSync
    from cosell.connectors.hubspot.reader import HubSpotSync
    from cosell.snapshot import ReadThroughSnapshot

    sync = SnapshotSync(ReadThroughSnapshot(None), "hubspot:1", overlap=timedelta(minutes=5))
    streams = HubSpotSync(client, HubSpotSettings(partner_values=("Reseller",)), sync).declared()
    return next(s for s in streams if s.object == "companies").source


def test_a_full_read_lists_every_record_100_a_page_and_keeps_those_the_first_read_filter_matches() -> None:
    pages = {
        None: ([listed_company(1, "reseller"), listed_company(2, None)], "3"),
        "3": ([listed_company(3, "Reseller"), listed_company(4, "Agency")], None),
    }

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        after = parse_qs(urlsplit(url).query).get("after", [None])[0]
        results, nxt = pages[after]
        answer: dict[str, Any] = {"results": results}
        if nxt:
            answer["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, answer, {}

    client, pool = faked(reply)
    read = [[row.id for row in page] for page in company_stream(client).pages(None)]
    assert read == [["1"], ["3"]]  # IN compares text regardless of case, as HubSpot's search does
    assert [m for m, _, _ in pool.requests] == ["GET", "GET"]
    query = parse_qs(urlsplit(pool.requests[1][1]).query)
    assert urlsplit(pool.requests[1][1]).path == "/crm/v3/objects/companies"
    assert query["limit"] == ["100"] and query["after"] == ["3"] and "archived" not in query
    assert "partner_type" in query["properties"]
    assert client.calls == {"list": 2}


def test_a_full_read_that_keeps_no_company_still_saves_a_cursor_from_every_company_it_listed() -> None:
    from cosell.connectors.common import SnapshotSync
    from cosell.connectors.hubspot.reader import HubSpotSync
    from cosell.snapshot import ReadThroughSnapshot

    newer = {**listed_company(3, "Agency"), "properties": {"partner_type": "Agency", "hs_lastmodifieddate": "2026-01-05T00:00:00Z"}}  # fmt: skip
    pages = {None: ([listed_company(1, None), newer], "3"), "3": ([listed_company(4, None)], None)}
    client, _ = faked(listing(pages))
    store = ReadThroughSnapshot(None)
    sync = SnapshotSync(store, "hubspot:1", overlap=timedelta(minutes=5))
    streams = HubSpotSync(client, HubSpotSettings(partner_values=("Reseller",), read_archived=False), sync)
    companies = next(s for s in streams.declared() if s.object == "companies")
    result = sync.stream(companies)
    assert (result.full, result.read) == (True, 0)  # no partner company among them
    assert store.cursor("hubspot:1", companies.cursor) == "2026-01-05T00:00:00Z"


def test_an_incremental_read_searches_200_a_page_for_the_records_changed_since_the_cursor() -> None:
    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        return 200, {"total": 1, "results": [listed_company(7, None)]}, {}

    client, pool = faked(reply)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    read = [[row.id for row in page] for page in company_stream(client).pages(since)]
    assert read == [["7"]]  # an incremental read keeps every change: a company may stop being a partner
    method, url, body = pool.requests[0]
    assert (method, urlsplit(url).path) == ("POST", "/crm/v3/objects/companies/search")
    assert body["limit"] == 200
    assert body["filterGroups"] == [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(int(since.timestamp() * 1000))}
    ]}]  # fmt: skip


class FakeSearch:
    """HubSpot's search over companies ``ids``, as the real one pages: sorted by id, filtered by
    ``hs_object_id > value`` when asked, ``after`` an offset into the results counted anew on each call.
    ``after_call`` runs after each answer (a user deleting a record meanwhile, ...)."""

    def __init__(
        self,
        ids: list[int],
        after_call: Callable[[int], None] = lambda n: None,
        left_out: dict[int, int] | None = None,
    ) -> None:
        self.ids = ids
        self.after_call = after_call
        self.left_out = left_out or {}
        """Places the answers leave out before a record (id → how many): pages short, or empty, with a next."""
        self.calls = 0

    def reply(self, method: str, url: str, body: dict[str, Any]) -> Answer:
        found = sorted(self.ids)
        for group in body.get("filterGroups") or ():
            for flt in group["filters"]:
                if flt["propertyName"] == "hs_object_id":
                    assert flt["operator"] in ("GT", "LT")
                    bound = int(flt["value"])
                    found = [i for i in found if (i > bound if flt["operator"] == "GT" else i < bound)]
        assert body["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        places = [p for i in found for p in [None] * self.left_out.get(i, 0) + [i]]
        start, limit = int(body.get("after") or 0), body["limit"]
        answer: dict[str, Any] = {
            "total": len(places),
            "results": [listed_company(i, None) for i in places[start : start + limit] if i is not None],
        }
        if start + limit < len(places):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        self.calls += 1
        self.after_call(self.calls)
        return 200, answer, {}


def test_a_record_deleted_while_an_incremental_read_pages_does_not_make_it_skip_another() -> None:
    # HubSpot's `after` is an offset counted anew on each call: once the lowest record is gone, the
    # records after the first page move one place back, and paging by offset never returns one of them.
    search = FakeSearch(list(range(1, 26)))
    search.after_call = lambda n: search.ids.remove(1) if n == 1 else None
    client, pool = faked(search.reply)
    stream = company_stream(client)
    stream.settings = HubSpotSettings(partner_values=("Reseller",), search_page_size=10)
    read = [row.id for page in stream.pages(datetime(2026, 1, 1, tzinfo=UTC)) for row in page]
    assert read == [str(i) for i in range(1, 26)]
    assert client.calls == {"search": 3}  # no more calls than pages
    assert [body.get("after") for _, _, body in pool.requests] == [None] * 3  # a new query a page


def test_a_search_page_short_or_empty_that_gives_a_next_is_not_the_last() -> None:
    # HubSpot's search may answer fewer results than the limit, even none, and still give
    # paging.next.after: the read goes on until a page gives no next.
    search = FakeSearch(list(range(1, 26)), left_out={11: 12})
    client, pool = faked(search.reply)
    stream = company_stream(client)
    stream.settings = HubSpotSettings(partner_values=("Reseller",), search_page_size=10)
    pages = [[row.id for row in page] for page in stream.pages(datetime(2026, 1, 1, tzinfo=UTC))]
    assert pages == [
        [str(i) for i in range(1, 11)],
        [str(i) for i in range(11, 19)],
        [str(i) for i in range(19, 26)],
    ]
    # the empty page (ten places left out) is followed by its next; the ids that page passed are asked
    # for again by key (none is found); a page with results is followed by a new query
    assert [body.get("after") for _, _, body in pool.requests] == [None, None, "10", None, None]
    assert pool.requests[3][2]["filterGroups"][0]["filters"][1:] == [
        {"propertyName": "hs_object_id", "operator": "GT", "value": "10"},
        {"propertyName": "hs_object_id", "operator": "LT", "value": "11"},
    ]


def test_a_place_left_out_that_goes_while_the_read_passes_an_empty_page_makes_it_skip_no_record() -> None:
    # After an empty page the query goes on at HubSpot's after, an offset counted anew on each call: a
    # place left out before the next record that goes meanwhile (the index catching up with a deletion)
    # moves that record back into the page already passed, and the offset's page starts past it.
    search = FakeSearch(list(range(1, 26)), left_out={11: 10})
    search.after_call = lambda n: search.left_out.update({11: 9}) if n == 2 else None
    client, _ = faked(search.reply)
    stream = company_stream(client)
    stream.settings = HubSpotSettings(partner_values=("Reseller",), search_page_size=10)
    read = [row.id for page in stream.pages(datetime(2026, 1, 1, tzinfo=UTC)) for row in page]
    assert sorted(read, key=int) == [str(i) for i in range(1, 26)]  # 11 too, and none twice


def listing(pages: dict[str | None, tuple[list[dict[str, Any]], str | None]]) -> Callable[..., Answer]:
    """The list endpoint answering ``pages`` (after → results, next)."""

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        after = parse_qs(urlsplit(url).query).get("after", [None])[0]
        results, nxt = pages[after]
        answer: dict[str, Any] = {"results": results}
        if nxt:
            answer["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, answer, {}

    return reply


def test_a_list_page_empty_or_short_that_gives_a_next_is_not_the_last() -> None:
    pages: dict[str | None, tuple[list[dict[str, Any]], str | None]] = {
        None: ([listed_company(1, "Reseller")], "5"),
        "5": ([], "9"),
        "9": ([listed_company(9, "Reseller"), listed_company(10, "Reseller")], None),
    }
    client, _ = faked(listing(pages))
    assert [[row.id for row in page] for page in company_stream(client).pages(None)] == [["1"], ["9", "10"]]
    assert client.archived_ids("companies") == ["1", "9", "10"]
    assert client.calls == {"list": 6}


def test_a_next_that_asks_for_a_page_already_asked_for_stops_the_read_instead_of_looping() -> None:
    pages: dict[str | None, tuple[list[dict[str, Any]], str | None]] = {
        None: ([listed_company(1, "Reseller")], "5"),
        "5": ([], "5"),
    }
    client, _ = faked(listing(pages))
    with pytest.raises(
        UnreachableError, match="listing HubSpot companies: HubSpot answered the page asked after 5 with"
    ):
        list(company_stream(client).pages(None))
    with pytest.raises(UnreachableError, match="archived HubSpot companies"):
        client.archived_ids("companies")

    def searching(method: str, url: str, body: dict[str, Any]) -> Answer:
        return 200, {"total": 30, "results": [], "paging": {"next": {"after": "10"}}}, {}

    client, pool = faked(searching)
    with pytest.raises(UnreachableError, match="searching HubSpot companies: HubSpot answered"):
        list(company_stream(client).pages(datetime(2026, 1, 1, tzinfo=UTC)))
    assert len(pool.requests) == 2


class FakeClock:
    """Stands in for the client module's ``time``: sleeping moves the clock on at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_calls_wait_when_the_rate_limit_headers_say_another_process_spent_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("cosell.connectors.hubspot.client.time", clock)
    most, others = 10, [clock.now] * 7  # another process's 7 calls, just made
    counted: list[float] = []
    refused = 0

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        nonlocal refused
        window = [t for t in others + counted if t > clock.now - 10]
        counted.append(clock.now)
        if len(window) >= most:
            refused += 1
            return (
                429,
                {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
                {},
            )
        headers = {
            "X-HubSpot-RateLimit-Max": str(most),
            "X-HubSpot-RateLimit-Remaining": str(most - len(window) - 1),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        }
        return 200, {"results": []}, headers

    client, pool = faked(reply)  # its own pacing allows 190 calls in 10 s
    for _ in range(6):
        client.properties("deals")
    assert refused == 0
    assert len(pool.requests) == 6
    # 3 calls fitted beside the other process's 7; the rest waited for its calls to leave the window
    assert 10.0 <= clock.slept <= 10.5


def test_answers_without_rate_limit_headers_leave_the_pacing_to_the_client_s_own_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("cosell.connectors.hubspot.client.time", clock)
    client, pool = faked(lambda method, url, body: (200, {"results": []}, {}))
    for _ in range(20):
        client.properties("deals")
    assert len(pool.requests) == 20 and clock.slept == 0.0


def test_calls_given_to_make_meanwhile_fill_the_waits_between_searches_and_delay_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cosell.connectors.hubspot import client as client_module

    clock = FakeClock()
    monkeypatch.setattr("cosell.connectors.hubspot.client.time", clock)
    sent: list[tuple[str, float]] = []

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        sent.append((urlsplit(url).path, clock.now))
        clock.now += 0.05  # each answer takes 50 ms
        return 200, {"results": [], "total": 0}, {}

    client, _ = faked(reply)
    client.meanwhile([lambda: client.properties("deals") for _ in range(20)])
    for _ in range(3):
        client.search("deals", {"filter_groups": [], "limit": 200})
    client.stop_meanwhile()
    client.search("deals", {"filter_groups": [], "limit": 200})

    searches = [t for path, t in sent if path.endswith("/search")]
    gap = 1 / 4 + client_module.SEARCH_MARGIN_SECONDS
    # Each search goes out when the pacing allows it, as it would with nothing to do meanwhile
    assert [b - a for a, b in itertools.pairwise(searches)] == [pytest.approx(gap)] * 3
    made = [t for path, t in sent if not path.endswith("/search")]
    # A search's answer takes 50 ms of its 260 ms turn: 4 calls of 50 ms fit in the 210 ms left, after
    # each of the first two searches; those not made by stop_meanwhile are dropped
    assert [sum(a < t < b for t in made) for a, b in itertools.pairwise(searches)] == [4, 4, 0]
    assert len(made) == 8


def test_associations_read_during_the_sync_count_for_the_deals_still_there_and_the_rest_are_read_after() -> (
    None
):
    from cosell.connectors.common import SnapshotSync
    from cosell.connectors.hubspot.reader import HubSpotSync, _EarlyLinks
    from cosell.snapshot import ReadThroughSnapshot

    links = {"1": [("c1", ("Sourced",))], "2": [("c2", ())], "4": [("c4", ("Influenced",))]}
    asked: list[list[str]] = []

    class Client:
        def associations(self, obj: str, to: str, ids: list[str]) -> dict[str, Any]:
            asked.append(list(ids))
            return {i: links[i] for i in ids if i in links}

    store = ReadThroughSnapshot(None)
    store.snapshot_upsert("hubspot:1", "links:deals", [("1", {"to": [["c9", []]]})])
    sync = HubSpotSync(Client(), HubSpotSettings(association_batch_size=2),  # type: ignore[arg-type]
                       SnapshotSync(store, "hubspot:1", overlap=timedelta(minutes=5)))  # fmt: skip
    early = _EarlyLinks(Client(), lambda: {"deals": ["1", "2", "3"]}, 2)  # type: ignore[arg-type]
    next(early.tasks())()  # one wait between searches: the first batch only
    # the sync removed deal 1 and added deal 4
    sync._links("deals", ["2", "3", "4"], early)

    assert asked == [["1", "2"], ["3", "4"]]
    assert dict(store.snapshot("hubspot:1", "links:deals")) == {
        "2": {"to": [["c2", []]]},
        "4": {"to": [["c4", ["Influenced"]]]},
    }


def test_the_associations_a_sync_leaves_in_memory_are_those_the_snapshot_reads_back() -> None:
    from dataclasses import astuple

    from cosell.connectors.common import SnapshotSync
    from cosell.connectors.hubspot.reader import HubSpotSync, _EarlyLinks, load_snapshot
    from cosell.snapshot import ReadThroughSnapshot

    key = "hubspot:1"
    # after this run: deal 1 keeps its link, 10 changes partner, 2 gains one, 3 has none, 4 is gone;
    # meeting m1 (typed) keeps its link; c7 is a company only a deal's partner label names
    links = {"1": [("c1", ("Partner",))], "10": [("c2", ("Influenced",))], "2": [("c7", ("Partner",))],
             "m1": [("c1", ())]}  # fmt: skip

    class Client:
        def associations(self, obj: str, to: str, ids: list[str]) -> dict[str, Any]:
            return {i: links[i] for i in ids if i in links}

        def batch_read(self, obj: str, ids: list[str], props: list[str]) -> list[dict[str, Any]]:
            return [{"id": i, "properties": {"name": f"Company {i}"}} for i in ids]

    store = ReadThroughSnapshot(None)
    store.snapshot_upsert(key, "companies", [("c1", {"name": "One"}), ("c2", {"name": "Two"})])
    store.snapshot_upsert(key, "deals", [(i, {"dealname": f"D{i}"}) for i in ("1", "10", "2", "3")])
    store.snapshot_upsert(key, "meetings", [("m1", {"cosell_activity_type": "joint_call"})])
    store.snapshot_upsert(key, "links:deals", [("1", {"to": [["c1", ["Partner"]]]}),
                                               ("10", {"to": [["c1", []]]}), ("4", {"to": [["c2", []]]})])  # fmt: skip
    settings = HubSpotSettings(activity_objects=["meetings"], mdf_object=None)
    sync = HubSpotSync(Client(), settings, SnapshotSync(store, key, overlap=timedelta(minutes=5)))  # type: ignore[arg-type]
    early = _EarlyLinks(Client(), sync._linked, 1000)  # type: ignore[arg-type]
    for obj, ids in sync._linked().items():
        sync._links(obj, ids, early)
    assert sync._labelled_companies() == 1

    synced = load_snapshot(store, settings, key, sync.links)
    stored = load_snapshot(store, settings, key)
    assert astuple(synced) == astuple(stored)
    assert list(synced.deal_links.items()) == list(stored.deal_links.items()) == [
        ("1", [("c1", ["Partner"])]), ("10", [("c2", ["Influenced"])]), ("2", [("c7", ["Partner"])])
    ]  # fmt: skip
    assert synced.activity_links == {"meetings": {"m1": [("c1", [])]}}
    assert "c7" in synced.companies


def test_an_association_read_that_fails_during_the_sync_is_raised_after_it_not_in_a_search() -> None:
    from cosell.connectors.hubspot.reader import _EarlyLinks

    class Client:
        def associations(self, obj: str, to: str, ids: list[str]) -> dict[str, Any]:
            raise UnreachableError("reading HubSpot deals→companies associations: still failing")

    early = _EarlyLinks(Client(), lambda: {"deals": ["1", "2", "3"]}, 1)  # type: ignore[arg-type]
    for task in early.tasks():
        task()  # raises nothing: the search it ran beside goes ahead
    assert early.read == {}
    with pytest.raises(UnreachableError, match="associations: still failing"):
        early.raise_failure()

    def unreadable() -> dict[str, list[str]]:
        raise OSError("the ledger is gone")

    early = _EarlyLinks(Client(), unreadable, 1)  # type: ignore[arg-type]
    assert list(early.tasks()) == []
    with pytest.raises(OSError, match="the ledger is gone"):
        early.raise_failure()


def test_tasks_listed_slowly_at_the_first_wait_still_fill_the_later_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("cosell.connectors.hubspot.client.time", clock)
    sent: list[str] = []

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        sent.append("search" if urlsplit(url).path.endswith("/search") else "other")
        clock.now += 0.05
        return 200, {"results": [], "total": 0}, {}

    client, _ = faked(reply)

    def tasks() -> Iterator[Callable[[], object]]:
        clock.now += 0.3  # listing what to do takes longer than a wait, once
        for _ in range(6):
            yield lambda: client.properties("deals")

    client.meanwhile(tasks())
    for _ in range(3):
        client.search("deals", {"filter_groups": [], "limit": 200})
    assert sent == ["search", "other", "search", "other", "other", "other", "other", "search"]


CLAIM = {"amount": "500", "status": "approved", "approved_on": "2026-08-01", "campaign": "Launch"}


def test_an_mdf_claim_naming_a_company_that_is_no_partner_is_left_out_with_its_approval_date() -> None:
    # company 11 is a customer, or a partner that left the program: its claims fund no one, and they
    # do not stop everyone's payouts either
    snap = snapshot()
    snap.claims = {
        "40": {**CLAIM, "partner_company_id": "10"},
        "41": dict(CLAIM),  # associated with the customer company
        "42": {**CLAIM, "partner_company_id": "11"},
        "43": {**CLAIM, "partner_company_id": "99"},  # a company the portal no longer has as a partner
        "46": {**CLAIM, "partner_company_id": "99", "approved_on": "soon"},  # not checked: left out
    }
    snap.claim_links = {"41": [("11", [])]}
    left_out: list[ClaimLeftOut] = []
    records = build_records(snap, HubSpotSettings(), ZoneInfo("UTC"), "USD", claims_left_out=left_out)
    assert [(c.id, c.partner_id) for c in records.mdf_claims] == [("40", "10")]
    approved = date(2026, 8, 1)
    assert left_out == [
        ClaimLeftOut("41", "company", "11", approved),
        ClaimLeftOut("42", "company", "11", approved),
        ClaimLeftOut("43", "company", "99", approved),
        ClaimLeftOut("46", "company", "99", None),
    ]


def test_an_mdf_claim_naming_no_company_at_all_is_an_input_error() -> None:
    snap = snapshot()
    snap.claims = {"44": dict(CLAIM), "45": {**CLAIM, "partner_company_id": "10"}}
    with pytest.raises(InputError) as caught:
        build_records(snap, HubSpotSettings(), ZoneInfo("UTC"), "USD")
    assert [str(p) for p in caught.value.problems] == [
        "HubSpot MDF claim 44: partner_company_id: names no company (no association to one, and no "
        "partner_company_id)"
    ]


def test_an_association_page_whose_next_repeats_its_cursor_stops_the_read_naming_it() -> None:
    # a record's associations paged with an after HubSpot gives again would be asked for ever
    asked: list[Any] = []

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        assert urlsplit(url).path == "/crm/v4/associations/deals/companies/batch/read"
        asked.append(body["inputs"])
        result: dict[str, Any] = {
            "from": {"id": "1"},
            "to": [{"toObjectId": 7, "associationTypes": [{"category": "USER_DEFINED", "typeId": 9, "label": "Partner"}]}],
        }  # fmt: skip
        if len(asked) < 4:  # enough to show the loop; the unguarded read then stops on its own
            result["paging"] = {"next": {"after": "500"}}
        return 200, {"status": "COMPLETE", "results": [result]}, {}

    client, _ = faked(reply)
    with pytest.raises(UnreachableError) as raised:
        client.associations("deals", "companies", ["1"])
    assert "deals→companies associations of deals 1" in str(raised.value)
    assert "asked after 500 with paging.next.after 500" in str(raised.value)
    assert asked == [[{"id": "1"}], [{"id": "1", "after": "500"}]]


def test_a_full_read_of_an_object_without_records_saves_the_time_of_the_read_as_its_cursor() -> None:
    from cosell.connectors.common import SnapshotSync
    from cosell.connectors.hubspot.reader import HubSpotSync
    from cosell.snapshot import ReadThroughSnapshot

    def reply(method: str, url: str, body: dict[str, Any]) -> Answer:
        if method == "GET":  # the list endpoint: no deal at all
            return 200, {"results": []}, {"Date": "Tue, 03 Mar 2026 10:00:00 GMT"}
        return 200, {"total": 0, "results": []}, {"Date": "Wed, 04 Mar 2026 10:00:00 GMT"}

    client, pool = faked(reply)
    store = ReadThroughSnapshot(None)
    sync = SnapshotSync(store, "hubspot:1", overlap=timedelta(minutes=5))
    streams = HubSpotSync(client, HubSpotSettings(read_archived=False), sync)
    deals = next(s for s in streams.declared() if s.object == "deals")
    first = sync.stream(deals)
    assert (first.full, first.read) == (True, 0)
    assert store.cursor("hubspot:1", deals.cursor) == "2026-03-03T10:00:00Z"
    assert sync.stream(deals).full is False  # the next read searches for changes since then
    method, url, body = pool.requests[-1]
    assert (method, urlsplit(url).path) == ("POST", "/crm/v3/objects/deals/search")
    since = datetime(2026, 3, 3, 9, 55, tzinfo=UTC)  # the time of the read, less the overlap
    assert body["filterGroups"][0]["filters"][0]["value"] == str(int(since.timestamp() * 1000))
