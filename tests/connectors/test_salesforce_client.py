"""The Salesforce client under responses: paging, errors as cosell's, retries honouring Retry-After,
TLS trust, write batches, and secrets kept out of everything a user or a log sees."""

import json
import logging
import socket
import threading
from datetime import date
from decimal import Decimal

import pytest
import requests
import responses

from cosell.connector import ClaimLeftOut, FieldWrite
from cosell.connectors import common
from cosell.connectors.common import RetryPolicy
from cosell.connectors.salesforce.client import Credentials, Redactor, SalesforceSession, connect
from cosell.connectors.salesforce.connector import SalesforceConnector
from cosell.connectors.salesforce.mapping import SalesforceSettings
from cosell.errors import ConfigError, UnreachableError
from cosell.ledger import Ledger
from cosell.program import Program

INSTANCE = "https://acme.my.salesforce.com"
TOKEN = "00DTOPSECRET!AQ4AQFvRzNLpWq8e2"
API = f"{INSTANCE}/services/data/v59.0"
ENV = {"SF_INSTANCE_URL": INSTANCE, "SF_ACCESS_TOKEN": TOKEN}
FAST = RetryPolicy(budget_seconds=3, initial_wait=0.01, max_wait=0.05)
LIMITS = {"Sforce-Limit-Info": "api-usage=1234/15000"}


def client(policy=FAST, env=ENV):
    return connect(env, api_version="59.0", retry=policy, timeout=5)


def connector(**settings):
    return SalesforceConnector(client(), SalesforceSettings(**settings))


def query_page(records, *, done=True, next_url=None):
    body = {"totalSize": len(records), "done": done, "records": records}
    if next_url:
        body["nextRecordsUrl"] = next_url
    return body


# --- auth ------------------------------------------------------------------------------------------


def test_no_credentials_is_a_config_error_naming_the_variables():
    with pytest.raises(ConfigError) as err:
        Credentials.from_env({})
    assert "SF_ACCESS_TOKEN" in err.value.render() and "SF_PRIVATE_KEY_FILE" in err.value.render()


def test_each_login_flow_is_chosen_from_the_environment():
    assert Credentials.from_env(ENV).flow == "session"
    pw = {"SF_USERNAME": "u@x", "SF_PASSWORD": "pw-secret", "SF_SECURITY_TOKEN": "tok-secret"}
    assert Credentials.from_env(pw).flow == "password"
    jwt = {"SF_USERNAME": "u@x", "SF_CONSUMER_KEY": "ck", "SF_PRIVATE_KEY_FILE": "/k.pem"}
    assert Credentials.from_env(jwt).flow == "jwt"
    assert "pw-secret" not in repr(Credentials.from_env(pw)) and TOKEN not in repr(Credentials.from_env(ENV))


def test_an_http_instance_url_is_refused():
    with pytest.raises(ConfigError, match="https"):
        Credentials.from_env({"SF_INSTANCE_URL": "http://x", "SF_ACCESS_TOKEN": TOKEN})


def test_sf_ca_bundle_wins_over_requests_ca_bundle(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/other.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/other.pem")
    session = SalesforceSession(ca_bundle=str(ca), retry=FAST, timeout=5, redact=lambda t: t)  # type: ignore[arg-type]
    assert session.merge_environment_settings(INSTANCE, {}, None, None, None)["verify"] == str(ca)
    plain = SalesforceSession(ca_bundle=None, retry=FAST, timeout=5, redact=lambda t: t)  # type: ignore[arg-type]
    assert plain.merge_environment_settings(INSTANCE, {}, None, False, None)["verify"] is not False


def test_a_missing_ca_bundle_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="SF_CA_BUNDLE"):
        client(env={**ENV, "SF_CA_BUNDLE": str(tmp_path / "nope.pem")})


# --- reading ---------------------------------------------------------------------------------------


@responses.activate
def test_query_follows_next_records_url_page_by_page():
    responses.get(
        f"{API}/query/",
        json=query_page(
            [{"Id": "001000000000001"}], done=False, next_url="/services/data/v59.0/query/01gX-2000"
        ),
    )
    responses.get(f"{API}/query/01gX-2000", json=query_page([{"Id": "001000000000002"}]))
    rows = list(client().query("SELECT Id FROM Account"))
    assert [r["Id"] for r in rows] == ["001000000000001", "001000000000002"]
    assert len(responses.calls) == 2


@responses.activate
def test_numbers_arrive_as_decimal_not_float():
    responses.get(f"{API}/query/", json=query_page([{"Id": "006000000000001", "Amount": 1234.55}]))
    (row,) = client().query("SELECT Id, Amount FROM Opportunity")
    assert row["Amount"] == Decimal("1234.55") and isinstance(row["Amount"], Decimal)


@responses.activate
def test_a_refused_token_is_exit_4_and_the_token_appears_nowhere(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    responses.get(
        f"{API}/queryAll/",
        status=401,
        json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    responses.get(
        f"{API}/query/",
        status=401,
        json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    conn = connector()
    with Ledger.connect("sqlite://") as ledger, pytest.raises(UnreachableError) as err:
        conn.read(
            Program.model_validate(
                {
                    "program": "p",
                    "period": "2026-Q3",
                    "currency": "USD",
                    "tiers": [{"name": "T", "min_score": 0}],
                }
            ),
            ledger,
        )
    assert err.value.exit_code == 4 and "INVALID_SESSION_ID" in err.value.render()
    seen = err.value.render() + repr(err.value) + repr(conn) + repr(conn.client) + caplog.text
    seen += "".join(capsys.readouterr())
    assert TOKEN not in seen and TOKEN[:12] not in seen


@responses.activate
def test_an_unknown_field_is_a_config_error_with_salesforce_s_words():
    responses.get(
        f"{API}/query/",
        status=400,
        json=[{"message": "No such column 'Foo__c' on entity 'Opportunity'.", "errorCode": "INVALID_FIELD"}],
    )
    with pytest.raises(ConfigError, match="INVALID_FIELD: No such column 'Foo__c'"):
        list(client().query("SELECT Foo__c FROM Opportunity"))


@responses.activate
def test_a_forbidden_request_other_than_the_limit_is_exit_4():
    responses.get(
        f"{API}/query/", status=403, json=[{"message": "no access", "errorCode": "INSUFFICIENT_ACCESS"}]
    )
    with pytest.raises(UnreachableError, match="INSUFFICIENT_ACCESS"):
        list(client().query("SELECT Id FROM Account"))


# --- retries ---------------------------------------------------------------------------------------


@responses.activate
def test_5xx_and_request_limit_exceeded_are_retried_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="cosell.connectors")
    responses.get(f"{API}/query/", status=503, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])
    responses.get(
        f"{API}/query/",
        status=403,
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    responses.get(f"{API}/query/", json=query_page([{"Id": "001000000000001"}]), headers=LIMITS)
    sf = client()
    assert len(list(sf.query("SELECT Id FROM Account"))) == 1
    assert len(responses.calls) == 3
    assert "HTTP 503 SERVER_UNAVAILABLE" in caplog.text and "REQUEST_LIMIT_EXCEEDED" in caplog.text
    assert TOKEN not in caplog.text
    assert sf.notes() == ["Salesforce API calls: 1,234 of 15,000 used today"]


@responses.activate
def test_retry_after_is_honoured_instead_of_the_backoff(monkeypatch):
    waits = []
    original = RetryPolicy.wait

    def recording(policy, state):
        waits.append(original(policy, state))
        return 0.0  # do not actually sleep in the test

    monkeypatch.setattr(common.random, "uniform", lambda a, b: 99.0)  # the backoff, were it used
    monkeypatch.setattr(RetryPolicy, "wait", recording)
    responses.get(f"{API}/query/", status=503, headers={"Retry-After": "7"}, json=[])
    responses.get(f"{API}/query/", status=503, json=[])
    responses.get(f"{API}/query/", json=query_page([]))
    list(client(RetryPolicy(budget_seconds=60, initial_wait=5, max_wait=30)).query("SELECT Id FROM Account"))
    assert waits == [7.0, 99.0]  # the server's 7 s; then, with no Retry-After, the (patched) jittered backoff


@responses.activate
def test_connection_errors_are_retried_until_the_time_budget_then_exit_4():
    responses.get(f"{API}/query/", body=requests.ConnectionError("refused"))
    with pytest.raises(UnreachableError, match="still failing") as err:
        list(
            client(RetryPolicy(budget_seconds=0.3, initial_wait=0.01, max_wait=0.02)).query(
                "SELECT Id FROM Account"
            )
        )
    assert err.value.exit_code == 4 and len(responses.calls) > 2


# --- writing ---------------------------------------------------------------------------------------


def _collection_answer(request):
    body = json.loads(request.body)
    results = []
    for rec in body["records"]:
        if rec["id"].endswith("BAD"):
            results.append(
                {
                    "id": rec["id"],
                    "success": False,
                    "errors": [
                        {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Nope", "fields": []}
                    ],
                }
            )
        else:
            results.append({"id": rec["id"], "success": True, "errors": []})
    return (200, {}, json.dumps(results))


@responses.activate
def test_write_sends_only_managed_fields_numbers_as_json_numbers_and_all_or_none_false():
    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=_collection_answer)
    writes = [
        FieldWrite(
            "deal",
            "006000000000001AAA",
            {"incentive": "13320.00", "incentive_status": "Earned", "incentive_note": None},
        ),
        FieldWrite("account", "001000000000001AAA", {"score": "71.50", "tier": "Gold"}),
        FieldWrite("deal", "006000000000002BAD", {"incentive": "1.10"}),
    ]
    outcomes = connector().write(writes)
    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[2].error == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Nope"
    raw = responses.calls[0].request.body.decode()
    assert '"Cosell_Incentive__c": 13320.00' in raw and '"Cosell_Score__c": 71.50' in raw
    body = json.loads(raw)
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "attributes": {"type": "Opportunity"},
        "id": "006000000000001AAA",
        "Cosell_Incentive__c": 13320.0,
        "Cosell_Incentive_Status__c": "Earned",
        "Cosell_Incentive_Note__c": None,
    }
    assert body["records"][1]["attributes"] == {"type": "Account"}


@responses.activate
def test_write_never_sends_a_field_cosell_does_not_manage():
    with pytest.raises(ValueError, match="not a field cosell manages"):
        connector().write([FieldWrite("deal", "006000000000001AAA", {"Amount": "1"})])
    assert not responses.calls


@responses.activate
def test_locked_rows_are_retried_in_smaller_batches_then_reported():
    calls = []

    def answer(request):
        body = json.loads(request.body)
        calls.append(len(body["records"]))
        locked = len(calls) == 1
        return (
            200,
            {},
            json.dumps(
                [
                    {
                        "id": r["id"],
                        "success": not (locked and r["id"].startswith("0060")),
                        "errors": []
                        if not (locked and r["id"].startswith("0060"))
                        else [
                            {
                                "statusCode": "UNABLE_TO_LOCK_ROW",
                                "message": "unable to obtain exclusive access",
                                "fields": [],
                            }
                        ],
                    }
                    for r in body["records"]
                ]
            ),
        )

    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=answer)
    writes = [FieldWrite("deal", f"0060000000000{i:02d}AAA", {"incentive": "1"}) for i in range(5)]
    writes.append(FieldWrite("deal", "006100000000099AAA", {"incentive": "1"}))
    outcomes = connector(write_batch_size=200).write(writes)
    assert all(o.ok for o in outcomes)
    assert calls[0] == 6 and sum(calls[1:]) == 5 and max(calls[1:]) < 6


@responses.activate
def test_current_values_query_the_org_by_id_when_nothing_was_synced():
    responses.get(
        f"{API}/query/",
        json=query_page(
            [
                {
                    "Id": "006000000000001AAA",
                    "Cosell_Incentive__c": 12.5,
                    "Cosell_Incentive_Status__c": "Earned",
                    "Cosell_Incentive_Note__c": None,
                }
            ]
        ),
    )
    values = connector().current_values([("deal", "006000000000001AAA"), ("deal", "bogus")])
    assert values == {
        ("deal", "006000000000001AAA"): {
            "incentive": "12.5",
            "incentive_status": "Earned",
            "incentive_note": None,
        }
    }
    assert "Id+IN+%28%27006000000000001AAA%27%29" in responses.calls[0].request.url


def test_dates_from_datetimes_follow_the_program_zone():
    from zoneinfo import ZoneInfo

    from cosell.connectors.salesforce.reader import to_date

    assert to_date("2026-07-01T02:30:00.000+0000", ZoneInfo("America/New_York")) == date(2026, 6, 30)
    assert to_date("2026-07-01", ZoneInfo("America/New_York")) == date(2026, 7, 1)
    assert to_date(None, ZoneInfo("UTC")) is None


def test_bad_records_are_reported_all_at_once_naming_object_id_and_field():
    from cosell.connectors.salesforce.reader import records_from_snapshot
    from cosell.errors import InputError

    program = Program.model_validate(
        {"program": "p", "period": "2026-Q3", "currency": "USD", "tiers": [{"name": "T", "min_score": 0}]}
    )
    deal = {"name": "D", "amount": Decimal(10), "stage": "Prospecting", "won": False, "closed": False}
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(
            "salesforce",
            "Account",
            [
                (
                    "001000000000001AAA",
                    {"name": "P", "created": "2026-01-01T00:00:00.000+0000", "status": "Gone"},
                )
            ],
        )
        ledger.snapshot_upsert(
            "salesforce",
            "Opportunity",
            [
                (
                    "006000000000001AAA",
                    {**deal, "created": "2026-07-01T00:00:00.000+0000", "discount": Decimal(140)},
                ),
                ("006000000000002AAA", {**deal, "created": "yesterday"}),
            ],
        )
        with pytest.raises(InputError) as err:
            records_from_snapshot(ledger, SalesforceSettings(), program, "salesforce")
    text = err.value.render()
    assert "Account 001000000000001AAA: Partner_Status__c: 'Gone' is not a known partner status" in text
    assert "Opportunity 006000000000001AAA: Discount_Percent__c:" in text
    assert "Opportunity 006000000000002AAA: CreatedDate:" in text
    assert len(err.value.problems) == 3


def test_a_negative_oversized_or_non_ascii_amount_is_refused_naming_the_opportunity():
    from cosell.connectors.salesforce.reader import records_from_snapshot
    from cosell.errors import InputError

    program = Program.model_validate(
        {"program": "p", "period": "2026-Q3", "currency": "USD", "tiers": [{"name": "T", "min_score": 0}]}
    )
    deal = {"name": "D", "stage": "Closed Won", "won": True, "closed": True, "close_date": "2026-07-02"}
    deal["created"] = "2026-07-01T00:00:00.000+0000"
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(
            "salesforce:00D000000000001AAA",
            "Opportunity",
            [
                ("006000000000001AAA", {**deal, "amount": Decimal(-10)}),
                ("006000000000002AAA", {**deal, "amount": Decimal("1e30")}),
                ("006000000000003AAA", {**deal, "amount": "١٠"}),
            ],
        )
        with pytest.raises(InputError) as err:
            records_from_snapshot(ledger, SalesforceSettings(), program, "salesforce:00D000000000001AAA")
    assert [str(p) for p in err.value.problems] == [
        "Opportunity 006000000000001AAA: Amount: Input should be greater than or equal to 0",
        "Opportunity 006000000000002AAA: Amount: Input should be less than or equal to 1000000000000",
        "Opportunity 006000000000003AAA: Amount: '١٠' is not a number",
    ]


def test_a_refund_before_the_win_or_of_a_deal_not_won_is_refused_naming_the_opportunity():
    from cosell.connectors.salesforce.reader import records_from_snapshot
    from cosell.errors import InputError

    program = Program.model_validate(
        {"program": "p", "period": "2026-Q3", "currency": "USD", "tiers": [{"name": "T", "min_score": 0}]}
    )
    won = {"name": "D", "amount": Decimal(10), "stage": "Closed Won", "won": True, "closed": True}
    won |= {"created": "2026-07-01T00:00:00.000+0000", "close_date": "2026-08-01"}
    opened = {**won, "stage": "Proposal", "won": False, "closed": False}
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(
            "salesforce",
            "Opportunity",
            [
                ("006000000000001AAA", {**won, "refund": "2026-07-15"}),
                ("006000000000002AAA", {**opened, "refund": "2026-08-15"}),
                ("006000000000003AAA", {**won, "refund": "2026-08-01"}),  # refunded the day it was won
            ],
        )
        with pytest.raises(InputError) as err:
            records_from_snapshot(ledger, SalesforceSettings(), program, "salesforce")
    assert [str(p) for p in err.value.problems] == [
        "Opportunity 006000000000001AAA: Refund_Date__c: 2026-07-15 is before closed_on 2026-08-01: a deal "
        "is refunded on or after the day it is won",
        "Opportunity 006000000000002AAA: Refund_Date__c: 2026-08-15 is given on a deal that is open: only a "
        "won deal is refunded",
    ]


MERGE_PROGRAM = Program.model_validate(
    {"program": "p", "period": "2026-Q3", "currency": "USD", "tiers": [{"name": "T", "min_score": 0}]}
)
MERGE_KEY = "salesforce:00D000000000001AAA"
VICTIM, MASTER = "001000000000002AAA", "001000000000001AAA"
ACCOUNT = {"name": "P", "created": "2026-01-01T00:00:00.000+0000"}


def test_accounts_merged_into_others_are_left_out_and_listed_as_merges_their_rows_counting_for_the_master():
    from cosell.connectors.salesforce.reader import MERGED, records_from_snapshot

    with Ledger.connect("sqlite://") as ledger:
        # a partner row still names the victim (its deletion already left the snapshot)
        ledger.snapshot_upsert(MERGE_KEY, "Account", [(MASTER, ACCOUNT)])
        ledger.snapshot_upsert(
            MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER}), ("001000000000009AAA", {"into": VICTIM})]
        )
        deal = {"name": "D", "amount": Decimal(10), "stage": "Prospecting", "won": False, "closed": False}
        ledger.snapshot_upsert(
            MERGE_KEY, "Opportunity", [("006000000000001AAA", {**deal, "created": ACCOUNT["created"]})]
        )
        ledger.snapshot_upsert(
            MERGE_KEY,
            "OpportunityPartner",
            [("00K000000000001AAA", {"deal": "006000000000001AAA", "partner": VICTIM, "role": "Reseller"})],
        )
        built = records_from_snapshot(ledger, SalesforceSettings(), MERGE_PROGRAM, MERGE_KEY)
    records = built.records
    assert [p.id for p in records.partners] == [MASTER]
    assert [i.partner_id for i in records.deals[0].partners] == [MASTER]
    assert sorted((m.kind, m.former_id, m.id) for m in records.merges) == [
        ("partner", VICTIM, MASTER),
        ("partner", "001000000000009AAA", VICTIM),  # merged into it before: the engine follows the chain
    ]


def test_an_account_merged_while_the_sync_read_is_merged_though_the_snapshot_still_holds_it():
    # the merge landed after the Account stream was read and before the merges were asked for
    from cosell.connectors.salesforce.reader import MERGED, records_from_snapshot

    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(MERGE_KEY, "Account", [(MASTER, ACCOUNT), (VICTIM, ACCOUNT)])
        ledger.snapshot_upsert(MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER})])
        records = records_from_snapshot(ledger, SalesforceSettings(), MERGE_PROGRAM, MERGE_KEY).records
    assert [p.id for p in records.partners] == [MASTER]
    assert [(m.former_id, m.id) for m in records.merges] == [(VICTIM, MASTER)]


class MergesOrg:
    """Answers the two queries of read_merges: the deleted accounts with a master, the live ones by id."""

    def __init__(self, deleted: dict[str, str], live: set[str]) -> None:
        self.deleted, self.live = deleted, live
        self.queries: list[str] = []

    def query(self, text: str, include_deleted: bool = False):
        self.queries.append(text)
        if "MasterRecordId" in text:
            assert include_deleted
            return [{"Id": rid, "MasterRecordId": into} for rid, into in self.deleted.items()]
        return [{"Id": rid} for rid in sorted(self.live) if rid in text]


def test_a_merged_account_undeleted_from_the_recycle_bin_is_an_account_of_its_own_again_its_merge_kept_undone():
    from cosell.connectors.salesforce.reader import MERGED, read_merges

    purged, undeleted = "001000000000003AAA", VICTIM
    with Ledger.connect("sqlite://") as ledger:
        org = MergesOrg({VICTIM: MASTER, purged: MASTER}, set())
        assert read_merges(org, ledger, MERGE_KEY) == 2  # type: ignore[arg-type]
        # later: the bin was emptied of one, the other undeleted by an admin
        org = MergesOrg({}, {undeleted, MASTER})
        assert read_merges(org, ledger, MERGE_KEY) == 1  # type: ignore[arg-type]
        assert dict(ledger.snapshot(MERGE_KEY, MERGED)) == {
            purged: {"into": MASTER, "purged": True},
            undeleted: {"into": MASTER, "undone": True},
        }
        assert org.queries[1] == f"SELECT Id FROM Account WHERE (Id IN ('{undeleted}', '{purged}'))"
        # the next syncs ask for neither again: a purged record cannot come back, an undone one is live
        assert read_merges(org, ledger, MERGE_KEY) == 0  # type: ignore[arg-type]
        assert len(org.queries) == 3


def test_an_undeleted_merged_account_merged_again_is_merged_again():
    from cosell.connectors.salesforce.reader import MERGED, read_merges

    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER, "undone": True})])
        assert read_merges(MergesOrg({VICTIM: MASTER}, set()), ledger, MERGE_KEY) == 1  # type: ignore[arg-type]
        assert dict(ledger.snapshot(MERGE_KEY, MERGED)) == {VICTIM: {"into": MASTER}}


def test_an_undeleted_merged_account_merged_again_into_another_master_keeps_its_first_merge_undone():
    from cosell.connectors.salesforce.reader import MERGED, read_merges, records_from_snapshot

    other = "001000000000005AAA"
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(MERGE_KEY, "Account", [(MASTER, ACCOUNT), (other, ACCOUNT)])
        ledger.snapshot_upsert(MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER, "undone": True})])
        assert read_merges(MergesOrg({VICTIM: other}, set()), ledger, MERGE_KEY) == 1  # type: ignore[arg-type]
        assert dict(ledger.snapshot(MERGE_KEY, MERGED)) == {VICTIM: {"into": other, "earlier": [MASTER]}}
        # read again, nothing changes; undeleted again, both merges are undone
        assert read_merges(MergesOrg({VICTIM: other}, set()), ledger, MERGE_KEY) == 0  # type: ignore[arg-type]
        records = records_from_snapshot(ledger, SalesforceSettings(), MERGE_PROGRAM, MERGE_KEY).records
        assert sorted((m.former_id, m.id, m.undone) for m in records.merges) == [
            (VICTIM, MASTER, True),
            (VICTIM, other, False),
        ]
        assert read_merges(MergesOrg({}, {VICTIM}), ledger, MERGE_KEY) == 1  # type: ignore[arg-type]
        assert dict(ledger.snapshot(MERGE_KEY, MERGED)) == {
            VICTIM: {"into": other, "earlier": [MASTER], "undone": True}
        }
        # and merged a third time, into the first master: the merge into the other is the one undone
        assert read_merges(MergesOrg({VICTIM: MASTER}, set()), ledger, MERGE_KEY) == 1  # type: ignore[arg-type]
        assert dict(ledger.snapshot(MERGE_KEY, MERGED)) == {VICTIM: {"into": MASTER, "earlier": [other]}}


def test_an_account_undeleted_and_merged_into_another_between_two_syncs_keeps_its_first_merge_undone():
    from cosell.connectors.salesforce.reader import MERGED, read_merges

    other = "001000000000005AAA"
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER})])
        assert read_merges(MergesOrg({VICTIM: other}, set()), ledger, MERGE_KEY) == 1  # type: ignore[arg-type]
        assert dict(ledger.snapshot(MERGE_KEY, MERGED)) == {VICTIM: {"into": other, "earlier": [MASTER]}}


def test_an_undone_merge_reads_the_account_as_a_partner_and_the_merge_as_undone():
    from cosell.connectors.salesforce.reader import MERGED, records_from_snapshot

    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(MERGE_KEY, "Account", [(MASTER, ACCOUNT), (VICTIM, ACCOUNT)])
        ledger.snapshot_upsert(MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER, "undone": True})])
        records = records_from_snapshot(ledger, SalesforceSettings(), MERGE_PROGRAM, MERGE_KEY).records
    assert sorted(p.id for p in records.partners) == sorted([MASTER, VICTIM])
    assert [(m.former_id, m.id, m.undone) for m in records.merges] == [(VICTIM, MASTER, True)]


def test_an_answer_cut_off_mid_body_is_asked_again():
    """A connection dropped while the body arrives (requests' ChunkedEncodingError) is transient like
    one refused: the second, whole answer is read. A real loopback server, as `responses` cannot cut a
    body off."""
    answers: list[bytes] = [
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"totalSize": 1, ',
    ]
    whole = json.dumps(query_page([{"Id": "001A"}])).encode()
    asked: list[int] = []

    def serve(server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                asked.append(1)
                body = (
                    answers.pop(0)
                    if answers
                    else (
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(whole)
                        + whole
                    )
                )
                conn.sendall(body)

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        threading.Thread(target=serve, args=(server,), daemon=True).start()
        session = SalesforceSession(
            ca_bundle=None,
            retry=RetryPolicy(budget_seconds=10, initial_wait=0.01, max_wait=0.02),
            timeout=5,
            redact=Redactor(()),
        )
        answer = session.request(
            "GET", f"http://127.0.0.1:{server.getsockname()[1]}/services/data/v59.0/query"
        )
    assert answer.json()["records"] == [{"Id": "001A"}] and len(asked) == 2


def test_an_mdf_claim_of_an_account_that_is_no_partner_is_left_out_with_its_approval_date():
    from cosell.connectors.salesforce.reader import MERGED, records_from_snapshot

    claim = {"amount": Decimal(500), "status": "Approved", "approved_on": "2026-08-01"}
    customer = (
        "001000000000007AAA"  # no partner: the partner filter leaves it out (a customer, a partner that left)
    )
    with Ledger.connect("sqlite://") as ledger:
        ledger.snapshot_upsert(MERGE_KEY, "Account", [(MASTER, ACCOUNT)])
        ledger.snapshot_upsert(MERGE_KEY, MERGED, [(VICTIM, {"into": MASTER})])
        ledger.snapshot_upsert(
            MERGE_KEY,
            "PartnerFundClaim",
            [
                ("0ET000000000001AAA", {**claim, "partner": MASTER}),
                ("0ET000000000002AAA", {**claim, "partner": VICTIM}),  # merged into the master: its claim
                ("0ET000000000003AAA", {**claim, "partner": customer, "status": "Withdrawn"}),
                ("0ET000000000004AAA", {**claim}),  # a fund request of no channel partner
                ("0ET000000000005AAA", {**claim, "partner": customer, "approved_on": "not a date"}),
            ],
        )
        built = records_from_snapshot(ledger, SalesforceSettings(), MERGE_PROGRAM, MERGE_KEY)
    assert [c.id for c in built.records.mdf_claims] == ["0ET000000000001AAA", "0ET000000000002AAA"]
    # The run names those approved in the period it runs; a value the claim holds is not checked.
    assert built.claims_left_out == (
        ClaimLeftOut("0ET000000000003AAA", "account", customer, date(2026, 8, 1)),
        ClaimLeftOut("0ET000000000005AAA", "account", customer, None),
    )
