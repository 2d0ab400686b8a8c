"""The HubSpot connector (``cosell[hubspot]``): partners, deals, activities and MDF claims from a portal's
CRM v3/v4 API, the managed properties written back with batch update. See docs/hubspot.md.

This module imports without hubspot-api-client; the factory and ``setup`` need it and say how to get it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from cosell.connector import ConnectorSpec, SetupResult
from cosell.hookspecs import hookimpl

from .mapping import HubSpotSettings

if TYPE_CHECKING:
    from .writer import HubSpotConnector

__all__ = ["HubSpotSettings", "cosell_plugin_settings", "cosell_register_connectors"]


def _require_client() -> None:
    try:
        import hubspot  # noqa: F401
    except ImportError:
        from cosell.errors import ConfigError

        from .client import INSTALL_HINT

        raise ConfigError("the hubspot connector needs hubspot-api-client", hint=INSTALL_HINT) from None


def _hubspot_connector(options: Mapping[str, Any]) -> HubSpotConnector:
    _require_client()
    from .writer import HubSpotConnector

    return HubSpotConnector.from_options(options)


def _hubspot_setup(options: Mapping[str, Any]) -> SetupResult:
    _require_client()
    from .setup import setup

    return setup(options)


@hookimpl
def cosell_register_connectors(register: Callable[[ConnectorSpec], None]) -> None:
    register(
        ConnectorSpec(
            name="hubspot",
            factory=_hubspot_connector,
            description="HubSpot CRM (HUBSPOT_ACCESS_TOKEN): companies, deals, engagements, MDF custom object",
            setup=_hubspot_setup,
            extra="hubspot",
            env=("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_BASE_URL", "HUBSPOT_CA_BUNDLE"),
        )
    )


@hookimpl
def cosell_plugin_settings() -> tuple[str, type[BaseModel]]:
    return ("hubspot", HubSpotSettings)
