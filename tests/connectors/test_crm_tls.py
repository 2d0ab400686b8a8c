"""Both CRM connectors over real TLS (the sandbox): a certificate the CA bundle does not trust is said at
once, not retried as an outage; a CA file that cannot be used is a configuration error naming the
variable and the path."""

from __future__ import annotations

import time
from pathlib import Path

import certifi
import pytest

from cosell.connectors.common import RetryPolicy
from cosell.connectors.hubspot.client import Credentials as HubSpotCredentials
from cosell.connectors.hubspot.client import HubSpotClient
from cosell.connectors.hubspot.mapping import HubSpotSettings
from cosell.connectors.salesforce.client import SalesforceClient, connect
from cosell.connectors.salesforce.mapping import SalesforceSettings
from cosell.contrib.sandbox import Sandbox
from cosell.errors import ConfigError, UnreachableError
from sandboxes import module_sandbox

pytestmark = pytest.mark.sandbox

sandbox, sb = module_sandbox(seed=5, partners=3, deals=5)

PATIENT = RetryPolicy(budget_seconds=300)
"""The budget a run would spend on an outage: a trust failure must not wait for it."""

OTHER_CA = certifi.where()
"""A real CA bundle that does not hold the sandbox's CA."""


def salesforce(sb: Sandbox, ca: str, variable: str = "SF_CA_BUNDLE") -> SalesforceClient:
    env = {"SF_INSTANCE_URL": sb.salesforce_instance_url, "SF_ACCESS_TOKEN": sb.token, variable: ca}
    return connect(env, api_version="59.0", retry=PATIENT, timeout=5)


def hubspot(sb: Sandbox, **ca: str) -> HubSpotClient:
    env = {"HUBSPOT_ACCESS_TOKEN": sb.token, "HUBSPOT_BASE_URL": sb.hubspot_base_url, **ca}
    return HubSpotClient(HubSpotCredentials.from_env(env), policy=PATIENT)


def garbage(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return str(path)


def test_salesforce_says_at_once_that_the_certificate_is_not_trusted(sb: Sandbox) -> None:
    started = time.monotonic()
    client = salesforce(sb, OTHER_CA)  # the session login flow calls nothing yet
    with pytest.raises(UnreachableError) as caught:
        client.restful("sobjects")
    assert time.monotonic() - started < 10
    message = caught.value.render()
    assert "the TLS certificate of Salesforce's server was not trusted" in message
    assert "SF_CA_BUNDLE" in message and "SSLError (no answer)" not in message


def test_hubspot_says_at_once_that_the_certificate_is_not_trusted(sb: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(UnreachableError, match="HubSpot's server was not trusted") as caught:
        hubspot(sb, HUBSPOT_CA_BUNDLE=OTHER_CA).deal_stages()
    assert "HUBSPOT_CA_BUNDLE" in caught.value.render()
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("broken", ["missing", "garbage", "folder"])
def test_a_ca_file_that_cannot_be_used_is_a_config_error_naming_variable_and_path_on_both(
    sb: Sandbox, tmp_path: Path, broken: str
) -> None:
    path = {"missing": str(tmp_path / "nope.pem"), "garbage": garbage(tmp_path), "folder": str(tmp_path)}[
        broken
    ]
    for variable in ("SF_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        with pytest.raises(ConfigError) as on_salesforce:
            salesforce(sb, path, variable)
        assert variable in on_salesforce.value.render() and path in on_salesforce.value.render()
        assert on_salesforce.value.exit_code == 2
    for variable in ("HUBSPOT_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        with pytest.raises(ConfigError) as on_hubspot:
            hubspot(sb, **{variable: path})
        assert variable in on_hubspot.value.render() and path in on_hubspot.value.render()
        assert on_hubspot.value.exit_code == 2


def test_an_unreachable_crm_is_given_up_after_about_a_minute_by_default() -> None:
    assert RetryPolicy().budget_seconds == 60
    assert SalesforceSettings().retry_budget_seconds == 60
    assert HubSpotSettings().retry_budget_seconds == 60
