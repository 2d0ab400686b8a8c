"""Bulk API 2.0 under responses: the ingest state machine (create, record, upload, close, poll, results),
refused records, a job a killed run left (closed: settled and used; open: aborted), the CSV sent, and
the query job with its locator paging and typed values."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import pytest
import responses
from responses import matchers

from cosell.connector import FieldWrite
from cosell.connectors.common import RetryPolicy, SnapshotSync
from cosell.connectors.common import Stream as SyncStream
from cosell.connectors.salesforce import bulk as bulk_module
from cosell.connectors.salesforce.bulk import BulkIngest, Poller, bulk_error_text, ingest_csv
from cosell.connectors.salesforce.client import SalesforceClient, connect
from cosell.connectors.salesforce.connector import SalesforceConnector
from cosell.connectors.salesforce.mapping import SalesforceSettings
from cosell.connectors.salesforce.reader import Source, Stream, StreamReader
from cosell.errors import UnreachableError
from cosell.ledger import Ledger

INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
ENV = {"SF_INSTANCE_URL": INSTANCE, "SF_ACCESS_TOKEN": "00DTOPSECRET!AQ4AQFvRzNLpWq8e2"}
FAST = RetryPolicy(budget_seconds=3, initial_wait=0.01, max_wait=0.05)
JOB = "7505e00000AbCdEAAV"
NOT_SLEEPING = Poller(timeout=60, sleep=lambda _s: None)


def deal_id(n: int) -> str:
    return f"006{n:012d}AAA"


def client() -> SalesforceClient:
    return connect(ENV, api_version="59.0", retry=FAST, timeout=5)


@pytest.fixture()
def ledger() -> Iterator[Ledger]:
    with Ledger.connect("sqlite://") as ledger:
        yield ledger


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_module.time, "sleep", lambda _s: None)


def connector(ledger: Ledger, **settings: Any) -> SalesforceConnector:
    conn = SalesforceConnector(client(), SalesforceSettings(**settings))
    conn._ledger = ledger
    conn._key = "salesforce"  # as a sync of the org would have set it (its organization id, here none)
    return conn


def writes(n: int) -> list[FieldWrite]:
    return [
        FieldWrite(
            "deal",
            deal_id(i),
            {"incentive": f"{i}.50", "incentive_status": "Earned", "incentive_note": None}
            if i % 2 == 0
            else {"incentive": "1200.005"},
        )
        for i in range(n)
    ]


def result_csv(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def job_info(state: str, **extra: Any) -> dict[str, Any]:
    return {"id": JOB, "object": "Opportunity", "operation": "update", "state": state, **extra}


def test_the_ingest_csv_holds_id_and_managed_fields_exact_decimals_na_for_null_and_blank_for_unchanged() -> (
    None
):
    body = ingest_csv(
        ["Cosell_Incentive_Note__c", "Cosell_Incentive__c"],
        [
            {"Id": deal_id(1), "Cosell_Incentive__c": Decimal("1200.005"), "Cosell_Incentive_Note__c": None},
            {"Id": deal_id(2), "Cosell_Incentive_Note__c": 'Earned: "Acme, Inc": 1.00 USD'},
        ],
    ).decode()
    assert body == (
        "Id,Cosell_Incentive_Note__c,Cosell_Incentive__c\n"
        f"{deal_id(1)},#N/A,1200.005\n"
        f'{deal_id(2)},"Earned: ""Acme, Inc"": 1.00 USD",\n'
    )


def test_a_note_holding_a_carriage_return_is_one_quoted_cell_of_the_ingest_csv() -> None:
    body = ingest_csv(
        ["Cosell_Incentive_Note__c"], [{"Id": deal_id(1), "Cosell_Incentive_Note__c": "Acme\rCorp"}]
    )
    assert list(csv.reader(io.StringIO(body.decode(), newline=""))) == [
        ["Id", "Cosell_Incentive_Note__c"],
        [deal_id(1), "Acme\rCorp"],
    ]


def test_bulk_errors_read_as_the_collections_path_reports_them() -> None:
    assert bulk_error_text("FIELD_CUSTOM_VALIDATION_EXCEPTION:Locked for changes: --") == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Locked for changes"
    )
    assert bulk_error_text("STRING_TOO_LONG:Note: data value too large:Cosell_Incentive_Note__c --") == (
        "STRING_TOO_LONG: Note: data value too large (Cosell_Incentive_Note__c)"
    )


@responses.activate
def test_a_large_write_is_one_job_recorded_before_upload_polled_with_backoff_and_mapped_per_record(
    ledger: Ledger,
) -> None:
    conn = connector(ledger, bulk_write_threshold=3)
    seen: list[str] = []

    def record_then_answer(request: Any) -> tuple[int, dict[str, str], str]:
        seen.append(ledger.cursor("salesforce", "bulk_job:Opportunity") or "")
        return 201, {}, ""

    create = responses.post(
        f"{API}/jobs/ingest",
        json=job_info("Open"),
        match=[
            matchers.json_params_matcher(
                {
                    "object": "Opportunity",
                    "operation": "update",
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                }
            )
        ],
    )
    responses.add_callback(responses.PUT, f"{API}/jobs/ingest/{JOB}/batches", callback=record_then_answer)
    close = responses.patch(
        f"{API}/jobs/ingest/{JOB}",
        json=job_info("UploadComplete"),
        match=[matchers.json_params_matcher({"state": "UploadComplete"})],
    )
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("InProgress"))
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("InProgress"))
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("JobComplete", numberRecordsFailed=1))
    header = ["Id", "Cosell_Incentive__c", "Cosell_Incentive_Note__c", "Cosell_Incentive_Status__c"]
    responses.get(
        f"{API}/jobs/ingest/{JOB}/successfulResults",
        body=result_csv(
            ["sf__Id", "sf__Created", *header],
            [[deal_id(i), "false", deal_id(i), "x", "", ""] for i in (0, 1, 2)],
        ),
    )
    responses.get(
        f"{API}/jobs/ingest/{JOB}/failedResults",
        body=result_csv(
            ["sf__Id", "sf__Error", *header],
            [
                [
                    deal_id(3),
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION:Locked for changes: --",
                    deal_id(3),
                    "",
                    "",
                    "",
                ]
            ],
        ),
    )
    outcomes = conn.write(writes(5))
    assert [o.ok for o in outcomes] == [True, True, True, False, False]
    assert outcomes[3].error == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Locked for changes"
    assert outcomes[4].error is not None and outcomes[4].error.startswith("BULK_JOB_JOBCOMPLETE")
    assert create.call_count == 1 and close.call_count == 1
    assert seen == [JOB]  # recorded before the upload
    assert not ledger.cursor("salesforce", "bulk_job:Opportunity")  # forgotten once settled
    upload = next(c for c in responses.calls if c.request.method == "PUT")
    assert upload.request.headers["Content-Type"] == "text/csv"
    lines = upload.request.body.decode().splitlines()
    assert lines[0] == "Id,Cosell_Incentive_Note__c,Cosell_Incentive_Status__c,Cosell_Incentive__c"
    assert lines[1] == f"{deal_id(0)},#N/A,Earned,0.50" and lines[2] == f"{deal_id(1)},,,1200.005"
    assert not any("composite" in c.request.url for c in responses.calls)


@responses.activate
def test_a_small_write_still_goes_by_collections_of_200(ledger: Ledger) -> None:
    conn = connector(ledger)  # threshold 2,000
    assert conn.write_batch_size == 10_000
    patch = responses.patch(
        f"{API}/composite/sobjects",
        json=[{"id": deal_id(i), "success": True, "errors": []} for i in range(200)],
    )
    conn.write(writes(400))
    assert patch.call_count == 2
    assert not any("jobs/ingest" in c.request.url for c in responses.calls)


@responses.activate
def test_a_failed_job_fails_its_records_with_the_jobs_error(ledger: Ledger) -> None:
    conn = connector(ledger, bulk_write_threshold=2)
    responses.post(f"{API}/jobs/ingest", json=job_info("Open"))
    responses.put(f"{API}/jobs/ingest/{JOB}/batches", status=201)
    responses.patch(f"{API}/jobs/ingest/{JOB}", json=job_info("UploadComplete"))
    responses.get(
        f"{API}/jobs/ingest/{JOB}",
        json=job_info("Failed", errorMessage="InvalidBatch : Field name not found : Cosell_Incentive__c"),
    )
    responses.get(f"{API}/jobs/ingest/{JOB}/successfulResults", body="sf__Id,sf__Created,Id\n")
    responses.get(f"{API}/jobs/ingest/{JOB}/failedResults", body="sf__Id,sf__Error,Id\n")
    outcomes = conn.write(writes(2))
    assert not any(o.ok for o in outcomes)
    assert outcomes[0].error == "BULK_JOB_FAILED: InvalidBatch : Field name not found : Cosell_Incentive__c"


@responses.activate
def test_locked_records_of_a_job_are_retried_by_collections(ledger: Ledger) -> None:
    conn = connector(ledger, bulk_write_threshold=2)
    responses.post(f"{API}/jobs/ingest", json=job_info("Open"))
    responses.put(f"{API}/jobs/ingest/{JOB}/batches", status=201)
    responses.patch(f"{API}/jobs/ingest/{JOB}", json=job_info("UploadComplete"))
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("JobComplete"))
    responses.get(
        f"{API}/jobs/ingest/{JOB}/successfulResults",
        body=f"sf__Id,sf__Created,Id\n{deal_id(0)},false,{deal_id(0)}\n",
    )
    responses.get(
        f"{API}/jobs/ingest/{JOB}/failedResults",
        body=f"sf__Id,sf__Error,Id\n{deal_id(1)},UNABLE_TO_LOCK_ROW:unable to obtain exclusive access: --,{deal_id(1)}\n",
    )
    patch = responses.patch(
        f"{API}/composite/sobjects", json=[{"id": deal_id(1), "success": True, "errors": []}]
    )
    assert all(o.ok for o in conn.write(writes(2)))
    assert patch.call_count == 1


@responses.activate
def test_a_job_a_killed_run_closed_is_waited_for_and_its_results_used_before_anything_is_sent(
    ledger: Ledger,
) -> None:
    ledger.set_cursor("salesforce", "bulk_job:Opportunity", JOB)
    conn = connector(ledger, bulk_write_threshold=2)
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("InProgress"))
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("JobComplete"))
    header = "sf__Id,sf__Created,Id,Cosell_Incentive__c,Cosell_Incentive_Note__c,Cosell_Incentive_Status__c"
    responses.get(
        f"{API}/jobs/ingest/{JOB}/successfulResults",
        body=f"{header}\n{deal_id(0)},false,{deal_id(0)},0.5,#N/A,Earned\n"
        f"{deal_id(1)},false,{deal_id(1)},999,,\n",  # the old job wrote another value for deal 1
    )
    responses.get(f"{API}/jobs/ingest/{JOB}/failedResults", body="sf__Id,sf__Error,Id\n")
    patch = responses.patch(
        f"{API}/composite/sobjects", json=[{"id": deal_id(1), "success": True, "errors": []}]
    )
    outcomes = conn.write(writes(2))
    assert all(o.ok for o in outcomes)
    assert patch.call_count == 1  # only deal 1 is sent: deal 0 already holds what the old job wrote
    assert json.loads(patch.calls[0].request.body)["records"][0]["id"] == deal_id(1)
    assert not any(c.request.method == "POST" for c in responses.calls)  # no second job
    assert not ledger.cursor("salesforce", "bulk_job:Opportunity")


@responses.activate
def test_a_recorded_job_never_closed_is_aborted(ledger: Ledger) -> None:
    ledger.set_cursor("salesforce", "bulk_job:Opportunity", JOB)
    bulk = BulkIngest(client(), ledger, NOT_SLEEPING)
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("Open"))
    abort = responses.patch(
        f"{API}/jobs/ingest/{JOB}",
        json=job_info("Aborted"),
        match=[matchers.json_params_matcher({"state": "Aborted"})],
    )
    result = bulk.settle("Opportunity")
    assert result is not None and result.state == "Aborted" and not result.succeeded
    assert abort.call_count == 1
    assert bulk.recorded("Opportunity") is None


@responses.activate
def test_a_job_still_running_past_the_timeout_stays_recorded_for_the_next_run(ledger: Ledger) -> None:
    bulk = BulkIngest(client(), ledger, Poller(timeout=0.01, initial_wait=1, sleep=lambda _s: None))
    responses.post(f"{API}/jobs/ingest", json=job_info("Open"))
    responses.put(f"{API}/jobs/ingest/{JOB}/batches", status=201)
    responses.patch(f"{API}/jobs/ingest/{JOB}", json=job_info("UploadComplete"))
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("InProgress"))
    with pytest.raises(UnreachableError) as err:
        bulk.update("Opportunity", ["Cosell_Incentive__c"], [{"Id": deal_id(0), "Cosell_Incentive__c": 1}])
    assert err.value.exit_code == 4 and "next run" in err.value.render()
    assert bulk.recorded("Opportunity") == JOB


@responses.activate
def test_a_read_above_the_query_threshold_goes_through_a_bulk_query_paged_by_locator() -> None:
    settings = SalesforceSettings(bulk_query_threshold=3000, bulk_query_page_size=2000)
    source = Source(client(), settings)
    first = {
        "totalSize": 3001,
        "done": False,
        "nextRecordsUrl": "/services/data/v59.0/query/01gX-2000",
        "records": [],
    }
    responses.get(f"{API}/query/", json=first)
    responses.post(
        f"{API}/jobs/query",
        json={"id": JOB, "state": "UploadComplete"},
        match=[
            matchers.json_params_matcher(
                {
                    "operation": "query",
                    "query": "SELECT Id, Amount, IsWon, Campaign.Name FROM Opportunity",
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                }
            )
        ],
    )
    responses.get(f"{API}/jobs/query/{JOB}", json={"id": JOB, "state": "InProgress"})
    responses.get(f"{API}/jobs/query/{JOB}", json={"id": JOB, "state": "JobComplete"})
    responses.get(
        f"{API}/sobjects/Opportunity/describe",
        json={
            "fields": [
                {"name": "Id", "type": "id"},
                {"name": "Amount", "type": "currency"},
                {"name": "IsWon", "type": "boolean"},
            ]
        },
    )
    header = '"Id","Amount","IsWon","Campaign.Name"\n'
    responses.get(
        f"{API}/jobs/query/{JOB}/results",
        body=header + f'"{deal_id(1)}","1200.50","true","Spring"\n',
        headers={"Sforce-Locator": "MjAwMA==", "Sforce-NumberOfRecords": "1"},
        match=[matchers.query_param_matcher({"maxRecords": "2000"})],
    )
    responses.get(
        f"{API}/jobs/query/{JOB}/results",
        body=header + f'"{deal_id(2)}","","false",""\n',
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
        match=[matchers.query_param_matcher({"maxRecords": "2000", "locator": "MjAwMA=="})],
    )
    rows = list(source.rows("SELECT Id, Amount, IsWon, Campaign.Name FROM Opportunity", "Opportunity"))
    assert rows == [
        {"Id": deal_id(1), "Amount": Decimal("1200.50"), "IsWon": True, "Campaign.Name": "Spring"},
        {"Id": deal_id(2), "Amount": None, "IsWon": False, "Campaign.Name": None},
    ]
    assert source.bulk_queries == 1


@responses.activate
def test_a_read_under_the_threshold_pages_over_rest_without_a_second_first_page() -> None:
    source = Source(client(), SalesforceSettings())
    responses.get(
        f"{API}/query/",
        json={
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": "/services/data/v59.0/query/01gX-2",
            "records": [{"Id": "a"}, {"Id": "b"}],
        },
    )
    responses.get(f"{API}/query/01gX-2", json={"totalSize": 3, "done": True, "records": [{"Id": "c"}]})
    assert [r["Id"] for r in source.rows("SELECT Id FROM Account", "Account")] == ["a", "b", "c"]
    assert len(responses.calls) == 2 and source.bulk_queries == 0


@responses.activate
def test_a_close_refused_because_a_first_attempt_landed_goes_on_to_the_results(ledger: Ledger) -> None:
    bulk = BulkIngest(client(), ledger, NOT_SLEEPING)
    responses.post(f"{API}/jobs/ingest", json=job_info("Open"))
    responses.put(f"{API}/jobs/ingest/{JOB}/batches", status=201)
    responses.patch(
        f"{API}/jobs/ingest/{JOB}",
        status=400,
        json=[{"errorCode": "INVALIDJOBSTATE", "message": f"Job {JOB} is not Open"}],
    )
    responses.get(f"{API}/jobs/ingest/{JOB}", json=job_info("JobComplete"))
    responses.get(
        f"{API}/jobs/ingest/{JOB}/successfulResults",
        body=f"sf__Id,sf__Created,Id,Cosell_Incentive__c\n{deal_id(0)},false,{deal_id(0)},1\n",
    )
    responses.get(f"{API}/jobs/ingest/{JOB}/failedResults", body="sf__Id,sf__Error,Id\n")
    result = bulk.update(
        "Opportunity", ["Cosell_Incentive__c"], [{"Id": deal_id(0), "Cosell_Incentive__c": 1}]
    )
    assert list(result.succeeded) == [deal_id(0)] and bulk.recorded("Opportunity") is None


def _synced_cursor(source: Source, ledger: Ledger) -> str | None:
    """The cursor a full sync of one Opportunity stream read through ``source`` leaves."""
    stream = Stream("Opportunity", {"name": "Name"})
    sync = SnapshotSync(ledger, "salesforce", overlap=timedelta(seconds=300))
    sync.run([SyncStream("Opportunity", stream.cursor_key, StreamReader(source, stream))])
    return ledger.cursor("salesforce", stream.cursor_key)


def _dated(hour: int, minute: int) -> dict[str, str]:
    return {"Date": f"Mon, 01 Mar 2027 {hour:02d}:{minute:02d}:00 GMT"}


def _deal(n: int, stamp: str) -> dict[str, Any]:
    return {"Id": deal_id(n), "SystemModstamp": stamp, "Name": f"deal {n}"}


@responses.activate
def test_a_bulk_read_stops_its_cursor_at_the_time_salesforce_answered_its_first_call(ledger: Ledger) -> None:
    # the job's chunks ran while deals changed: a deal stamped 12:15 was read, so one changed at 12:05
    # may have been read as it was before; the cursor stays at 12:00, when the read began
    settings = SalesforceSettings(bulk_query_threshold=3000, bulk_query_page_size=2000)
    responses.get(
        f"{API}/query/",
        json={"totalSize": 3001, "done": False, "nextRecordsUrl": "/x-2000", "records": []},
        headers=_dated(12, 0),
    )
    responses.post(f"{API}/jobs/query", json={"id": JOB, "state": "UploadComplete"}, headers=_dated(12, 1))
    responses.get(f"{API}/jobs/query/{JOB}", json={"id": JOB, "state": "JobComplete"}, headers=_dated(12, 30))
    responses.get(
        f"{API}/sobjects/Opportunity/describe",
        json={"fields": [{"name": "Id", "type": "id"}, {"name": "SystemModstamp", "type": "datetime"}]},
    )
    responses.get(
        f"{API}/jobs/query/{JOB}/results",
        body='"Id","SystemModstamp","Name"\n'
        f'"{deal_id(1)}","2027-03-01T11:59:00.000+0000","deal 1"\n'
        f'"{deal_id(2)}","2027-03-01T12:15:00.000+0000","deal 2"\n',
        headers={"Sforce-Locator": "null", **_dated(12, 31)},
    )
    source = Source(client(), settings)
    assert _synced_cursor(source, ledger) == "2027-03-01T12:00:00Z"
    assert source.bulk_queries == 1


@responses.activate
def test_a_rest_read_stops_its_cursor_at_the_time_salesforce_answered_its_first_page(ledger: Ledger) -> None:
    responses.get(
        f"{API}/query/",
        json={
            "totalSize": 2,
            "done": False,
            "nextRecordsUrl": "/services/data/v59.0/query/01gX-1",
            "records": [_deal(1, "2027-03-01T11:59:00.000+0000")],
        },
        headers=_dated(12, 0),
    )
    responses.get(
        f"{API}/query/01gX-1",
        json={"totalSize": 2, "done": True, "records": [_deal(2, "2027-03-01T12:15:00.000+0000")]},
        headers=_dated(12, 20),
    )
    source = Source(client(), SalesforceSettings(bulk_query_threshold=None))
    assert _synced_cursor(source, ledger) == "2027-03-01T12:00:00Z"


@responses.activate
def test_a_read_without_a_date_header_keeps_the_newest_stamp_as_its_cursor(ledger: Ledger) -> None:
    responses.get(
        f"{API}/query/",
        json={"totalSize": 1, "done": True, "records": [_deal(1, "2027-03-01T11:59:00.000+0000")]},
    )
    assert _synced_cursor(Source(client(), SalesforceSettings()), ledger) == "2027-03-01T11:59:00Z"


@responses.activate
@pytest.mark.parametrize("threshold", [None, 3000], ids=["rest", "bulk threshold"])
def test_a_full_read_of_an_object_without_records_saves_the_time_of_the_read_as_its_cursor(
    ledger: Ledger, threshold: int | None
) -> None:
    nothing = {"totalSize": 0, "done": True, "records": []}
    responses.get(f"{API}/query/", json=nothing, headers=_dated(12, 0))
    responses.get(f"{API}/queryAll/", json=nothing, headers=_dated(13, 0))
    source = Source(client(), SalesforceSettings(bulk_query_threshold=threshold))
    assert _synced_cursor(source, ledger) == "2027-03-01T12:00:00Z"
    # the next sync asks for the records stamped since the read, less the overlap, not for every record
    assert _synced_cursor(source, ledger) == "2027-03-01T12:00:00Z"
    asked = [unquote_plus(urlsplit(c.request.url).query) for c in responses.calls]
    assert [urlsplit(c.request.url).path.rsplit("/", 2)[-2] for c in responses.calls] == ["query", "queryAll"]
    assert "SystemModstamp >= 2027-03-01T11:55:00Z" in asked[1]
