"""``cosell setup salesforce``: create the managed custom fields through the Tooling API, idempotently,
check the fields the mapping reads, and say what an admin must do next (field-level security).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosell.connector import SetupResult
from cosell.program import MAX_BENEFITS_TEXT

from .client import SalesforceClient, describe_error
from .connector import client_from, settings_from
from .mapping import SalesforceSettings


@dataclass(frozen=True, slots=True)
class FieldSpec:
    sobject: str
    api_name: str
    metadata: Mapping[str, Any]
    accepted_types: tuple[str, ...]
    """describe ``type`` values that count as the right type for an existing field."""

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.api_name}"


STATUS_VALUES = ("Projected", "Earned", "Withheld", "Clawed back")
BENEFITS_LENGTH = MAX_BENEFITS_TEXT
"""The benefits field's length: what a tier's benefits may add up to (one a line)."""


def field_specs(settings: SalesforceSettings) -> list[FieldSpec]:
    f = settings.fields
    picklist = {
        "restricted": False,
        "valueSetDefinition": {
            "sorted": False,
            "value": [{"fullName": v, "label": v, "default": False} for v in STATUS_VALUES],
        },
    }
    money = {"type": "Currency", "precision": 18, "scale": 2}
    return [
        FieldSpec(
            "Account", f.tier, {"label": "Cosell Tier", "type": "Text", "length": 80}, ("string", "picklist")
        ),
        FieldSpec(
            "Account",
            f.score,
            {"label": "Cosell Score", "type": "Number", "precision": 8, "scale": 2},
            ("double",),
        ),
        FieldSpec("Account", f.period_earnings, {"label": "Cosell Period Earnings", **money}, ("currency",)),
        FieldSpec(
            "Account",
            f.tier_benefits,
            {
                "label": "Cosell Tier Benefits",
                "type": "LongTextArea",
                "length": BENEFITS_LENGTH,
                "visibleLines": 5,
            },
            ("textarea",),
        ),
        FieldSpec("Opportunity", f.incentive, {"label": "Cosell Incentive", **money}, ("currency",)),
        FieldSpec(
            "Opportunity",
            f.incentive_status,
            {"label": "Cosell Incentive Status", "type": "Picklist", "valueSet": picklist},
            ("picklist", "string"),
        ),
        FieldSpec(
            "Opportunity",
            f.incentive_note,
            {"label": "Cosell Incentive Note", "type": "Text", "length": 255},
            ("string", "textarea"),
        ),
    ]


def setup(options: Mapping[str, Any]) -> SetupResult:
    settings = settings_from(options)
    return setup_fields(client_from(options, settings), settings)


def setup_fields(client: SalesforceClient, settings: SalesforceSettings) -> SetupResult:
    described = {obj: _fields(client, obj) for obj in ("Account", "Opportunity")}
    created, existing, problems = [], [], []
    for spec in field_specs(settings):
        found = described[spec.sobject].get(spec.api_name.lower())
        if found is not None:
            if found.get("type") in spec.accepted_types:
                existing.append(spec.full_name)
            else:
                want = " or ".join(spec.accepted_types)
                problems.append(
                    f"{spec.full_name} exists as {found.get('type')}, not {want}: rename it, or name another "
                    "field in plugins.salesforce.fields"
                )
            continue
        outcome = _create(client, spec)
        if outcome is None:
            created.append(spec.full_name)
        elif outcome.startswith("DUPLICATE_DEVELOPER_NAME"):
            # it exists, but this user cannot see it: field-level security hides it from describe
            existing.append(spec.full_name)
            problems.append(f"{spec.full_name} exists but is hidden from this user: grant access (see below)")
        else:
            problems.append(f"{spec.full_name} could not be created: {outcome}")
    problems.extend(_mapping_problems(settings, described))
    names = ", ".join(s.full_name for s in field_specs(settings))
    steps = (
        "Field-level security: fields made through the Tooling API are visible to no profile yet. In Setup → "
        "Permission Sets create one (e.g. 'cosell') with Read and Edit access to "
        f"{names}, and assign it to the integration user cosell runs as.",
        "Give the same fields Read access (another permission set, or the profiles) to the sales reps and "
        "partner managers who should see them, and add them to the Account and Opportunity page layouts.",
        "Then run: cosell run --program program.yaml --connector salesforce",
    )
    return SetupResult(tuple(created), tuple(existing), tuple(problems), steps)


def _fields(client: SalesforceClient, sobject: str) -> dict[str, Mapping[str, Any]]:
    described = client.describe(sobject)
    return {str(f["name"]).lower(): f for f in described.get("fields", []) if isinstance(f, Mapping)}


def _create(client: SalesforceClient, spec: FieldSpec) -> str | None:
    """Create one field (the Tooling API takes ``FullName`` and ``Metadata``); None when created, else
    ``CODE: message``."""
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    payload = json.dumps({"FullName": spec.full_name, "Metadata": dict(spec.metadata)}).encode("utf-8")

    def post() -> str | None:
        try:
            client.sf.restful("tooling/sobjects/CustomField", method="POST", data=payload)
        except SalesforceMalformedRequest as exc:
            return describe_error(exc.content)
        return None

    return client.call(f"create {spec.full_name}", post)


def _mapping_problems(settings: SalesforceSettings, described: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Fields the mapping reads that the org lacks, each with what to map instead."""
    problems = []
    account, opportunity = described["Account"], described["Opportunity"]
    if "ispartner" not in account and "IsPartner" in settings.partner_filter:
        problems.append(
            "Account.IsPartner does not exist (partner features are off in this org): set "
            "plugins.salesforce.partner_filter to a condition that finds your partners, e.g. "
            '"Type = \'Partner\'" or "Partner_Type__c != null"'
        )
    if settings.partner_account_field == "PartnerAccountId" and "partneraccountid" not in opportunity:
        problems.append(
            "Opportunity.PartnerAccountId does not exist (partner features are off): set "
            "plugins.salesforce.partner_account_field to a lookup to the partner Account (e.g. "
            "Partner_Account__c), or to null to take partners from OpportunityPartner only"
        )
    if settings.currency_field == "CurrencyIsoCode" and "currencyisocode" not in opportunity:
        problems.append(
            "Opportunity.CurrencyIsoCode does not exist (a single-currency org): set "
            "plugins.salesforce.currency_field to null; amounts are then in the program currency"
        )
    checks = [
        ("Account", settings.partner_status_field, "partner_status_field"),
        ("Account", settings.partner_joined_field, "partner_joined_field"),
        ("Account", settings.partner_exit_field, "partner_exit_field"),
        ("Opportunity", settings.discount_field, "discount_field"),
        ("Opportunity", settings.margin_field, "margin_field"),
        ("Opportunity", settings.refund_field, "refund_field"),
    ]
    for obj, api, key in checks:
        if api and "." not in api and api.lower() not in described[obj]:
            problems.append(
                f"{obj}.{api} does not exist: set plugins.salesforce.{key} to another field or null"
            )
    return problems
