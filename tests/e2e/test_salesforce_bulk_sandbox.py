"""Bulk API 2.0 end to end against the sandbox: a large write-back goes through one ingest job, a large
read through a query job, and a job a killed run left is settled instead of sent again.

The thresholds are lowered in the program's ``plugins.salesforce`` so a 2,500-deal org is "large".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cosell.cli import app
from cosell.connector import FieldWrite
from cosell.connectors.salesforce import bulk as bulk_module
from cosell.connectors.salesforce.connector import SalesforceConnector
from cosell.contrib.sandbox import Sandbox
from cosell.ledger import Ledger
from cosell.program import load_program
from sandboxes import module_sandbox
from sandboxes import salesforce_env as env_of
from sandboxes import salesforce_org_values as org_values

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "examples" / "program.yaml"
PATCH = "PATCH /services/data/vXX.X/composite/sobjects"
INGEST = "POST /services/data/vXX.X/jobs/ingest"
QUERY_JOB = "POST /services/data/vXX.X/jobs/query"


sandbox, sb = module_sandbox(seed=3, partners=30, deals=2500, drop_ca_variables=False)


def program_with(folder: Path, **settings: Any) -> Path:
    """The example program with a ``plugins.salesforce`` section."""
    path = folder / "program.yaml"
    text = PROGRAM.read_text()
    if settings:
        text += "plugins:\n  salesforce:\n" + "".join(
            f"    {k}: {json.dumps(v)}\n" for k, v in settings.items()
        )
    path.write_text(text)
    return path


def cosell(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def calls(sb: Sandbox, key: str) -> int:
    return int(sb.stats()["requests"].get(key, 0))


def test_a_large_write_back_goes_through_one_bulk_job_and_leaves_the_org_as_collections_do(
    sb: Sandbox, tmp_path: Path
) -> None:
    # the reference: collections only
    (tmp_path / "rest").mkdir()
    env = env_of(sb, tmp_path / "rest")
    assert cosell(env, "setup", "salesforce").exit_code == 0
    program = program_with(tmp_path / "rest", bulk_write_threshold=None)
    assert cosell(env, "run", "--program", str(program), "--connector", "salesforce").exit_code == 0
    reference = org_values(sb)
    assert calls(sb, INGEST) == 0

    sb.reset()
    (tmp_path / "bulk").mkdir()
    env = env_of(sb, tmp_path / "bulk")
    assert cosell(env, "setup", "salesforce").exit_code == 0
    program = program_with(tmp_path / "bulk", bulk_write_threshold=300)
    result = cosell(env, "run", "--program", str(program), "--connector", "salesforce", "--json")
    assert result.exit_code == 0, result.output
    stats = sb.stats()
    deals, accounts = stats["records_written"]["Opportunity"], stats["records_written"]["Account"]
    assert deals > 300 and json.loads(result.output)["written"] == deals + accounts
    assert stats["requests"][INGEST] == 1  # one job for every Opportunity
    assert stats["requests"]["PUT /services/data/vXX.X/jobs/ingest/{id}/batches"] == 1
    # the 30 partner Accounts (under the threshold) go by collections; no Opportunity does
    assert stats["requests"].get(PATCH, 0) == math.ceil(accounts / 200)
    assert org_values(sb) == reference
    with Ledger.connect(f"sqlite:///{tmp_path / 'bulk'}/ledger.db") as ledger:
        assert not ledger.cursor(f"salesforce:{sb.org_id}", "bulk_job:Opportunity")  # settled and forgotten

    again = cosell(env, "run", "--program", str(program), "--connector", "salesforce", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["written"] == 0
    assert calls(sb, INGEST) == 1


def test_a_bulk_query_read_gives_the_same_records_as_the_rest_read(sb: Sandbox, tmp_path: Path) -> None:
    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    program = load_program(PROGRAM).program
    records = {}
    for label, threshold in (("rest", None), ("bulk", 500)):
        options = {"env": env, "settings": {"salesforce": {"bulk_query_threshold": threshold}}}
        connector = SalesforceConnector.from_options(options)
        with Ledger.connect("sqlite://") as ledger:
            records[label] = connector.read(program, ledger)
            snapshot = sorted(ledger.snapshot(f"salesforce:{sb.org_id}", "Opportunity"))
            if label == "bulk":
                # a rerun reads incrementally over REST and finds nothing new: the snapshot's values
                # are typed the same whichever path read them
                assert connector.sync(program, ledger)["Opportunity"] == 0
                assert sorted(ledger.snapshot(f"salesforce:{sb.org_id}", "Opportunity")) == snapshot
    assert calls(sb, QUERY_JOB) >= 2  # Opportunity and OpportunityPartner (2,500 deals, 2,500+ rows)
    assert records["bulk"] == records["rest"]
    assert len(records["bulk"].deals) > 1000


def _deal_writes(sb: Sandbox, n: int) -> list[FieldWrite]:
    ids = sorted(i for i in org_values(sb) if i.startswith("006"))[:n]
    return [
        FieldWrite(
            "deal", rid, {"incentive": f"{k}.25", "incentive_status": "Projected", "incentive_note": None}
        )
        for k, rid in enumerate(ids)
    ]


def bulk_org(sb: Sandbox, folder: Path) -> tuple[Any, dict[str, Any]]:
    """The org set up for cosell, the example program, and connector options that write 100 records or
    more through a Bulk job."""
    env = env_of(sb, folder)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    return load_program(PROGRAM).program, {
        "env": env,
        "settings": {"salesforce": {"bulk_write_threshold": 100}},
    }


def test_a_job_closed_by_a_killed_run_is_settled_not_sent_again(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program, options = bulk_org(sb, tmp_path)
    writes = _deal_writes(sb, 150)
    with Ledger.connect(f"sqlite:///{tmp_path}/ledger.db") as ledger:
        first = SalesforceConnector.from_options(options)
        first.sync(program, ledger)

        def killed(self: Any, job_id: str, sobject: str) -> Any:
            raise KeyboardInterrupt  # the run dies after closing the job, before reading its results

        with monkeypatch.context() as m:
            m.setattr(bulk_module.BulkIngest, "_finish", killed)
            with pytest.raises(KeyboardInterrupt):
                first.write(writes)
        assert ledger.cursor(f"salesforce:{sb.org_id}", "bulk_job:Opportunity")
        assert sb.stats()["records_written"]["Opportunity"] == 150

        # the rerun, as write_pending would do it without a read: the job is settled and its results used
        second = SalesforceConnector.from_options(options)
        second._ledger = ledger
        outcomes = second.write(writes)
        assert all(o.ok for o in outcomes)
        assert calls(sb, INGEST) == 1 and calls(sb, PATCH) == 0
        assert sb.stats()["records_written"]["Opportunity"] == 150  # nothing written twice
        assert not ledger.cursor(f"salesforce:{sb.org_id}", "bulk_job:Opportunity")


def test_a_job_never_closed_is_aborted_and_its_records_sent_in_a_new_one(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program, options = bulk_org(sb, tmp_path)
    writes = _deal_writes(sb, 120)
    with Ledger.connect(f"sqlite:///{tmp_path}/ledger.db") as ledger:
        first = SalesforceConnector.from_options(options)
        first.sync(program, ledger)
        real_raw = first.client.raw

        def dies_on_upload(method: str, path: str, **kwargs: Any) -> Any:
            if method == "PUT":
                raise KeyboardInterrupt
            return real_raw(method, path, **kwargs)

        monkeypatch.setattr(first.client, "raw", dies_on_upload)
        with pytest.raises(KeyboardInterrupt):
            first.write(writes)
        assert sb.stats()["records_written"].get("Opportunity", 0) == 0

        second = SalesforceConnector.from_options(options)
        second.sync(program, ledger)  # settles: the open job is aborted
        assert calls(sb, "PATCH /services/data/vXX.X/jobs/ingest/{id}") == 1
        assert all(o.ok for o in second.write(writes))
        assert calls(sb, INGEST) == 2
        assert sb.stats()["records_written"]["Opportunity"] == 120
    values = org_values(sb)
    assert values[writes[7].record_id] == (7.25, "Projected", None)


def test_a_sync_while_a_run_uploads_its_bulk_job_leaves_the_job_to_that_run(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program, options = bulk_org(sb, tmp_path)
    writes = _deal_writes(sb, 110)
    url = f"sqlite:///{tmp_path}/ledger.db"
    with Ledger.connect(url) as ledger:
        running = SalesforceConnector.from_options(options)
        running.sync(program, ledger)
        real_raw = running.client.raw
        synced: list[list[str]] = []

        def sync_meanwhile(method: str, path: str, **kwargs: Any) -> Any:
            if method == "PUT" and not synced:  # a scheduled `cosell sync` starts mid-upload
                other = SalesforceConnector.from_options(options)
                with Ledger.connect(url) as other_ledger:
                    other.sync(program, other_ledger)
                synced.append(list(other.notes()))
            return real_raw(method, path, **kwargs)

        monkeypatch.setattr(running.client, "raw", sync_meanwhile)
        with ledger.hold_target(running.target):  # as a run holds it from planning to sending
            outcomes = running.write(writes)
    assert synced and any("left to it" in note for note in synced[0])
    assert all(o.ok for o in outcomes)
    assert calls(sb, "PATCH /services/data/vXX.X/jobs/ingest/{id}") == 1  # closed by its run, never aborted
    assert sb.stats()["records_written"]["Opportunity"] == 110


def test_a_change_made_while_a_chunked_bulk_query_runs_is_read_by_the_next_sync(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Bulk query job is split into chunks evaluated one after another, not at one moment: a deal in
    # an early chunk is read as it was, though it changes while later chunks run; a deal in the last
    # chunk is read with a stamp more than the overlap (300 s) newer. The next incremental read must
    # still ask for the first deal's change.
    import requests

    from cosell.connectors.salesforce.client import SalesforceClient

    def patch(deal_id: str, values: dict[str, Any]) -> None:
        answer = requests.patch(
            f"{sb.base_url}/services/data/v59.0/sobjects/Opportunity/{deal_id}",
            json=values,
            headers={"Authorization": f"Bearer {sb.token}"},
            verify=sb.ca_bundle,
            timeout=30,
        )
        assert answer.status_code == 204, answer.text

    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    program = load_program(PROGRAM).program
    options = {"env": env, "settings": {"salesforce": {"bulk_query_threshold": 500}}}
    store = sb._server.state.sf_store
    live = sorted(i for i, r in store.objects["Opportunity"].records.items() if not r.get("IsDeleted"))
    early, late = live[0], live[-1]

    restful = SalesforceClient.restful
    job: dict[str, str] = {}

    def meanwhile(
        self: SalesforceClient, path: str, *, method: str = "GET", body: str | None = None, **kw: Any
    ) -> Any:
        answer = restful(self, path, method=method, body=body, **kw)
        if path == "jobs/query" and "FROM Opportunity" in (body or "") and not job:
            job["id"] = str(answer["id"])  # its first chunk is evaluated: the early deal as it was
            patch(early, {"Amount": 777777})
            for n in range(310):  # then, for more than the overlap, the late deal changes on and on
                patch(late, {"Name": f"renamed {n}"})
        return answer

    previous = sb.set_query_chunk(1500)  # ~2,500 deal ids: two chunks
    try:
        with Ledger.connect(f"sqlite:///{tmp_path}/ledger.db") as ledger:
            monkeypatch.setattr(SalesforceClient, "restful", meanwhile)
            SalesforceConnector.from_options(options).sync(program, ledger)
            monkeypatch.setattr(SalesforceClient, "restful", restful)
            assert job, "the Opportunity read went through a Bulk query job"
            first = dict(ledger.snapshot(f"salesforce:{sb.org_id}", "Opportunity"))
            assert first[late]["name"] == "renamed 309" and first[early]["amount"] != 777777
            SalesforceConnector.from_options(options).sync(program, ledger)
            snapshot = dict(ledger.snapshot(f"salesforce:{sb.org_id}", "Opportunity"))
    finally:
        sb.set_query_chunk(previous)
    assert snapshot[early]["amount"] == 777777
