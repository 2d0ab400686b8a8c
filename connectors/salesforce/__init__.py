"""The Salesforce connector: partners, deals, activities and MDF claims from a Salesforce org, and
cosell's fields written back to it (docs/salesforce.md).

Importing this module needs no simple-salesforce: the library is imported when a connector is built,
and its absence is a ConfigError with the install hint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from cosell.connector import Connector, ConnectorSpec, SetupResult
from cosell.hookspecs import hookimpl

from .mapping import ManagedFieldNames, SalesforceSettings

__all__ = ["ManagedFieldNames", "SalesforceSettings", "cosell_plugin_settings", "cosell_register_connectors"]


def _salesforce_connector(options: Mapping[str, Any]) -> Connector:
    from .connector import SalesforceConnector

    return SalesforceConnector.from_options(options)


def _salesforce_setup(options: Mapping[str, Any]) -> SetupResult:
    from .setup import setup

    return setup(options)


@hookimpl
def cosell_register_connectors(register: Callable[[ConnectorSpec], None]) -> None:
    register(
        ConnectorSpec(
            name="salesforce",
            factory=_salesforce_connector,
            description="Salesforce: Accounts, Opportunities, Tasks/Events and MDF claims; fields on Account and Opportunity",
            setup=_salesforce_setup,
            extra="salesforce",
            env=(
                "SF_INSTANCE_URL",
                "SF_ACCESS_TOKEN",
                "SF_USERNAME",
                "SF_PASSWORD",
                "SF_SECURITY_TOKEN",
                "SF_CONSUMER_KEY",
                "SF_PRIVATE_KEY_FILE",
                "SF_DOMAIN",
                "SF_CA_BUNDLE",
            ),
            default_for=("sync",),
        )
    )


@hookimpl
def cosell_plugin_settings() -> tuple[str, type[BaseModel]]:
    return ("salesforce", SalesforceSettings)
