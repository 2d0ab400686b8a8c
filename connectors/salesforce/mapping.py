"""Where each canonical field lives in a Salesforce org: the connector's settings (``plugins.salesforce``
in the program file), with defaults for a standard org with partner features on (SPEC "Where records
come from in a CRM"), and the mapping of cosell's managed fields to API names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cosell.connector import ObjectName
from cosell.connectors.common import ManagedName, check_managed_names
from cosell.records import ClaimStatus, PartnerStatus, Role

from . import soql

SOBJECT_OF: Mapping[ObjectName, str] = {"account": "Account", "deal": "Opportunity"}
"""Where cosell's managed fields are written: partner fields on Account, deal fields on Opportunity."""


class ManagedFieldNames(BaseModel):
    """API names of the fields cosell writes (created by ``cosell setup salesforce``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str = "Cosell_Tier__c"
    score: str = "Cosell_Score__c"
    period_earnings: str = "Cosell_Period_Earnings__c"
    tier_benefits: str = "Cosell_Tier_Benefits__c"
    incentive: str = "Cosell_Incentive__c"
    incentive_status: str = "Cosell_Incentive_Status__c"
    incentive_note: str = "Cosell_Incentive_Note__c"

    @field_validator("*")
    @classmethod
    def _custom_field(cls, value: str) -> str:
        soql.name(value)
        if "." in value:
            raise ValueError(f"{value!r}: give the field's API name, without the object")
        return value

    def api_name(self, canonical: str) -> str:
        return str(getattr(self, canonical))


_DEFAULT_ROLES: dict[str, Role] = {
    # OpportunityPartner.Role values of a standard org, plus common custom ones
    "Reseller": "sourced",
    "VAR/Reseller": "sourced",
    "Referrer": "sourced",
    "Distributor": "sourced",
    "Co-sell": "cosell",
    "System Integrator": "cosell",
    "Consultant": "cosell",
    "Influencer": "influenced",
    "Agency": "influenced",
}


_DEFAULT_PARTNER_STATUS: dict[str, PartnerStatus] = {
    "Active": "active",
    "Exiting": "exiting",
    "Exited": "exited",
}
_DEFAULT_CLAIM_STATUS: dict[str, ClaimStatus] = {
    "Draft": "submitted",
    "Submitted": "submitted",
    "Approved": "approved",
    "Paid": "paid",
    "Rejected": "rejected",
}


class SalesforceSettings(BaseModel):
    """The ``plugins.salesforce`` section of a program file. Every key has a default for a standard org;
    field settings set to null switch that mapping off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_version: str = Field("59.0", pattern=r"^\d{2,3}\.\d$")

    # partners: Accounts
    partner_filter: str = "IsPartner = true"
    partner_name_field: str = "Name"
    partner_status_field: str | None = "Partner_Status__c"
    partner_status_values: dict[str, PartnerStatus] = Field(
        default_factory=lambda: dict(_DEFAULT_PARTNER_STATUS)
    )
    partner_joined_field: str | None = "Partner_Joined_On__c"
    partner_exit_field: str | None = "Partner_Exit_On__c"
    partner_attribute_fields: tuple[str, ...] = ("Partner_Type__c",)

    # deals: Opportunities and their partners
    opportunity_filter: str | None = None
    partner_account_field: str | None = "PartnerAccountId"
    partner_account_role: Role = "sourced"
    opportunity_partners: bool = True
    opportunity_partner_roles: dict[str, Role] = Field(default_factory=lambda: dict(_DEFAULT_ROLES))
    unmapped_partner_role: Role | None = "influenced"
    currency_field: str | None = "CurrencyIsoCode"
    discount_field: str | None = "Discount_Percent__c"
    margin_field: str | None = "Margin_Percent__c"
    campaign_field: str | None = "Campaign.Name"
    refund_field: str | None = "Refund_Date__c"

    # activities: Tasks and Events on the partner account
    activity_objects: tuple[str, ...] = ("Task", "Event")
    activity_partner_field: str = "WhatId"
    activity_date_field: str = "ActivityDate"
    activity_type_field: str | None = "Cosell_Activity_Type__c"
    activity_type_fallback: str | None = "Type"

    # MDF claims
    mdf_object: str | None = "PartnerFundClaim"
    mdf_partner_field: str = "ChannelPartnerId"
    mdf_amount_field: str = "Amount"
    mdf_status_field: str = "Status"
    mdf_status_values: dict[str, ClaimStatus] = Field(default_factory=lambda: dict(_DEFAULT_CLAIM_STATUS))
    mdf_approved_on_field: str | None = "Approved_On__c"
    mdf_campaign_field: str | None = "Request.Campaign.Name"
    mdf_currency_field: str | None = "CurrencyIsoCode"

    # what cosell writes
    fields: ManagedFieldNames = Field(default_factory=ManagedFieldNames)

    # limits
    write_batch_size: int = Field(200, ge=1, le=200)
    retry_budget_seconds: float = Field(60.0, gt=0)
    request_timeout_seconds: float = Field(120.0, gt=0)
    overlap_seconds: int = Field(300, ge=0)
    full_read_after_days: float | None = Field(7.0, gt=0)
    """Read every stream whole again once the last full read is this old; null: only when asked."""
    lock_retry_rounds: int = Field(3, ge=0, le=10)

    # Bulk API 2.0
    bulk_write_threshold: int | None = Field(2000, ge=1)
    """Records of one sObject in one write call from which one Bulk ingest job is used; null: never."""
    bulk_write_batch_size: int = Field(10_000, ge=200, le=150_000)
    """Records handed to one write call when Bulk writes are on (so the most one job carries)."""
    bulk_query_threshold: int | None = Field(10_000, ge=1)
    """A read whose query matches more records than this goes through a Bulk query job; null: never."""
    bulk_query_page_size: int = Field(50_000, ge=2000)
    bulk_poll_timeout_seconds: float = Field(1800.0, gt=0)

    @model_validator(mode="after")
    def _names_are_names(self) -> SalesforceSettings:
        for key, value in self:
            if key.endswith(("_field", "_object")) and isinstance(value, str):
                _checked(key, value, soql.name)
        for value in (*self.partner_attribute_fields, *self.activity_objects):
            _checked("a field or object", value, soql.name)
        _checked("partner_filter", self.partner_filter, soql.checked_filter)
        if self.opportunity_filter is not None:
            _checked("opportunity_filter", self.opportunity_filter, soql.checked_filter)
        return self

    @model_validator(mode="after")
    def _managed_fields_are_cosells(self) -> SalesforceSettings:
        given = self.fields.model_fields_set
        managed = [
            ManagedName(role, str(value), ("fields", role), role in given) for role, value in self.fields
        ]
        check_managed_names("SalesforceSettings", managed, self.read_fields(), _not_custom)
        return self

    def read_fields(self) -> list[tuple[tuple[str | int, ...], str | None]]:
        """Every field name the reader reads, with the setting that names it (the fixed ones by their
        use): a managed field may be none of them."""
        out: list[tuple[tuple[str | int, ...], str | None]] = [
            (("Opportunity",), name) for name in _FIXED_READS
        ]
        for key, value in self:
            if key.endswith("_field") and isinstance(value, str):
                out.append(((key,), value))
        out += [(("partner_attribute_fields", i), n) for i, n in enumerate(self.partner_attribute_fields)]
        return out

    def role_of(self, crm_role: str | None) -> Role | None:
        if crm_role is None:
            return self.unmapped_partner_role
        return self.opportunity_partner_roles.get(crm_role, self.unmapped_partner_role)


_FIXED_READS = ("Id", "SystemModstamp", "IsDeleted", "CreatedDate", "Name", "Amount", "StageName", "IsWon",
                "IsClosed", "CloseDate")  # fmt: skip
"""Fields the reader reads whatever the settings say."""


def _not_custom(name: str) -> str | None:
    if not name.lower().endswith("__c"):
        return "it is a standard field; cosell writes only custom fields it creates (API names end in __c)"
    return None


def _checked(key: str, value: str, check: Any) -> None:
    try:
        check(value)
    except soql.SoqlError as exc:
        raise ValueError(f"{key}: {exc}") from None


def flatten(row: Mapping[str, Any], path: str) -> Any:
    """A value of a REST query record by its SOQL path (``Campaign.Name`` reads the nested object); a
    Bulk CSV row has the path as its column name."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = _get_ci(value, part)
    return value


def _get_ci(row: Mapping[str, Any], key: str) -> Any:
    if key in row:
        return row[key]
    lower = key.lower()
    for k, v in row.items():
        if k.lower() == lower:
            return v
    return None
