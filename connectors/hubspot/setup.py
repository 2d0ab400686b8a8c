"""``cosell setup hubspot``: the ``cosell`` property group and the managed properties on companies and
deals, created idempotently (found ones are listed; found with the wrong type, reported)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cosell.connector import SetupResult

from .client import HubSpotClient, HubSpotRefused
from .mapping import HubSpotSettings
from .writer import HubSpotConnector, settings_of

STATUS_OPTIONS = ("Projected", "Earned", "Withheld", "Clawed back")


def managed_properties(s: HubSpotSettings) -> dict[str, list[dict[str, Any]]]:
    """The property definitions ``setup`` creates, by HubSpot object type."""
    group = s.property_group

    def number(name: str, label: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "number", "field_type": "number", "group_name": group}

    def text(name: str, label: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "string", "field_type": "text", "group_name": group}

    status = {"name": s.incentive_status_property, "label": "cosell incentive status", "type": "enumeration",
              "field_type": "select", "group_name": group, "options": STATUS_OPTIONS}  # fmt: skip
    return {
        "companies": [
            text(s.tier_property, "cosell tier"),
            number(s.score_property, "cosell score"),
            number(s.period_earnings_property, "cosell period earnings"),
            {
                "name": s.tier_benefits_property,
                "label": "cosell tier benefits",
                "type": "string",
                "field_type": "textarea",
                "group_name": group,
            },
        ],
        "deals": [
            number(s.incentive_property, "cosell incentive"),
            status,
            text(s.incentive_note_property, "cosell incentive note"),
        ],
    }


_ACCEPTED = {
    "string": {"string", "enumeration"},
    "number": {"number"},
    "enumeration": {"enumeration", "string"},
}


def setup_portal(client: HubSpotClient, settings: HubSpotSettings) -> SetupResult:
    created: list[str] = []
    existing: list[str] = []
    problems: list[str] = []
    for object_type, definitions in managed_properties(settings).items():
        if settings.property_group not in client.property_groups(object_type):
            client.create_group(object_type, settings.property_group, "cosell")
            created.append(f"{object_type} property group {settings.property_group}")
        present = client.properties(object_type)
        for definition in definitions:
            name = definition["name"]
            where = f"{object_type}.{name}"
            found = present.get(name)
            if found is None:
                try:
                    client.create_property(object_type, definition)
                except HubSpotRefused as exc:
                    problems.append(f"{where}: HubSpot refused to create it: {exc.message}")
                    continue
                created.append(f"{where} ({definition['type']})")
            elif found.get("groupName") != settings.property_group:
                problems.append(
                    f"{where} exists in the property group {found.get('groupName')!r}, not cosell's "
                    f"{settings.property_group!r}: cosell writes only the properties it created (name "
                    "another property in the hubspot settings)"
                )
            elif found["type"] not in _ACCEPTED[definition["type"]]:
                problems.append(
                    f"{where} exists with type {found['type']}; cosell writes a {definition['type']} there "
                    "(delete it, or name another property in the hubspot settings)"
                )
            else:
                existing.append(f"{where} ({found['type']})")
    problems += _source_problems(client, settings)
    steps = (
        "deal→company association labels "
        + ", ".join(f"{label!r} ({role})" for label, role in settings.role_labels.items())
        + " name the partners of a deal: create them under Settings › Objects › Deals › Associations",
    )
    return SetupResult(tuple(created), tuple(existing), tuple(problems), steps)


def _source_problems(client: HubSpotClient, s: HubSpotSettings) -> list[str]:
    """The properties cosell reads that the portal lacks (say what to map instead)."""
    wanted: dict[str, list[str | None]] = {
        "companies": [s.partner_property, s.partner_status_property, s.partner_joined_property, s.partner_exit_property],
        "deals": [s.amount_property, s.currency_property, s.discount_property, s.margin_property,
                  s.campaign_property, s.refund_property],
    }  # fmt: skip
    problems = []
    for object_type, names in wanted.items():
        present = client.properties(object_type)
        for name in names:
            if name and name not in present:
                problems.append(
                    f"{object_type}.{name} (read by cosell) does not exist: create it, or set the hubspot "
                    "setting that names it (docs/hubspot.md)"
                )
    return problems


def setup(options: Mapping[str, Any]) -> SetupResult:
    connector = HubSpotConnector.from_options(options)
    return setup_portal(connector.client, settings_of(options))
