"""The CRM sandbox for tests: one server per test module, reset (faults cleared) for each test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner, Result

from cosell.cli import app
from cosell.contrib.sandbox import Sandbox, serve

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Set on many machines; requests lets them override a session's verify=."""


def module_sandbox(
    *, seed: int, partners: int, deals: int, drop_ca_variables: bool = True, fresh_name: str = "sb"
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Fixtures ``sandbox`` (the module's server) and ``sb`` (the same, reset for the test; named
    ``fresh_name`` when a module wraps it in a ``sb`` of its own).

    ``drop_ca_variables`` removes REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE while the server runs, for tests
    that drive the raw clients; connector tests keep them, since the connector's own CA setting must win.
    """

    @pytest.fixture(scope="module", name="sandbox")
    def sandbox() -> Iterator[Sandbox]:
        with pytest.MonkeyPatch.context() as mp:
            if drop_ca_variables:
                for name in CA_VARIABLES:
                    mp.delenv(name, raising=False)
            with serve(seed=seed, partners=partners, deals=deals) as running:
                yield running

    @pytest.fixture(name=fresh_name)
    def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
        sandbox.set_faults(None)
        sandbox.reset()
        yield sandbox
        sandbox.set_faults(None)

    return sandbox, sb


SALESFORCE_ACCOUNT_FIELDS = ("Cosell_Tier__c", "Cosell_Score__c", "Cosell_Period_Earnings__c")
SALESFORCE_DEAL_FIELDS = ("Cosell_Incentive__c", "Cosell_Incentive_Status__c", "Cosell_Incentive_Note__c")


def salesforce_org_values(sb: Sandbox) -> dict[str, tuple[Any, ...]]:
    """Every managed value the sandbox org holds, by record id (read with plain requests, not the connector)."""
    out: dict[str, tuple[Any, ...]] = {}
    for obj, fields in (("Account", SALESFORCE_ACCOUNT_FIELDS), ("Opportunity", SALESFORCE_DEAL_FIELDS)):
        url: str | None = f"/services/data/v59.0/query?q=SELECT Id, {', '.join(fields)} FROM {obj}"
        while url:
            answer = requests.get(
                sb.base_url + url,
                headers={"Authorization": f"Bearer {sb.token}"},
                verify=sb.ca_bundle,
                timeout=30,
            ).json()
            for record in answer["records"]:
                out[record["Id"]] = tuple(record[f] for f in fields)
            url = answer.get("nextRecordsUrl")
    return out


def salesforce_env(sb: Sandbox, folder: Path) -> dict[str, str]:
    """What a RevOps user sets to run cosell against the sandbox org, with a ledger and log in ``folder``."""
    return {
        "SF_INSTANCE_URL": sb.salesforce_instance_url,
        "SF_ACCESS_TOKEN": sb.token,
        "SF_CA_BUNDLE": sb.ca_bundle,
        "COSELL_LEDGER": f"sqlite:///{folder}/ledger.db",
        "COSELL_LOG": str(folder / "cosell.log"),
        "COSELL_LOAD_PLUGINS": "",  # built-in plugins only: other packages in the venv do not matter
    }


def hubspot_vars(sb: Sandbox, folder: Path) -> dict[str, str]:
    """What a RevOps user sets to run cosell against the sandbox portal, with a ledger and log in ``folder``."""
    return {
        "HUBSPOT_ACCESS_TOKEN": sb.token,
        "HUBSPOT_BASE_URL": sb.hubspot_base_url,
        "HUBSPOT_CA_BUNDLE": sb.ca_bundle,
        "COSELL_LEDGER": f"sqlite:///{folder}/ledger.db",
        "COSELL_LOG": str(folder / "cosell.log"),
        "COSELL_LOAD_PLUGINS": "",  # built-in plugins only, as in salesforce_env
    }


def hubspot_env(sb: Sandbox, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a RevOps user sets to run cosell against the sandbox portal, working in ``folder`` (the
    ledger and log there too)."""
    monkeypatch.chdir(folder)
    for name, value in hubspot_vars(sb, folder).items():
        if name != "COSELL_LOAD_PLUGINS":  # these tests load the installed plugins, as a user's run does
            monkeypatch.setenv(name, value)


def cosell_in(env: dict[str, str], *args: str) -> Result:
    """``cosell ARGS...`` in-process with ``env`` as its whole environment (the sandbox's credentials)."""
    return CliRunner().invoke(app, list(args), env=env)


def run_json(env: dict[str, str], connector: str, *more: str) -> dict[str, Any]:
    """``cosell run --json`` of the program ``env["PROGRAM"]`` names through ``connector``, which must
    succeed; its JSON document."""
    result = cosell_in(env, "run", "--program", env["PROGRAM"], "--connector", connector, *more, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output[result.output.index("{") :]))
