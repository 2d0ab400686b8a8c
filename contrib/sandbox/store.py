"""In-memory stores of the two fake CRMs, both built from one :class:`~.seed.Dataset`.

``SalesforceStore`` holds sObjects (records are dicts keyed by the canonical field names, values
as Salesforce serialises them: text, float, bool, ``YYYY-MM-DD`` dates, and datetimes as
``2026-01-05T14:03:00.000+0000``). ``HubSpotStore`` holds CRM objects whose property values are
text, as HubSpot returns them.

Both have a logical clock for modification stamps: it starts at 2027-01-01T00:00:00Z, after every
seeded stamp, and moves one second per write request, so stamps are deterministic and a write is
always later than anything seeded.
"""

from __future__ import annotations

import datetime as dt
import string
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import seed as seedmod

CLOCK_START = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
ARCHIVE_AGE = dt.timedelta(days=365)
"""Salesforce archives Events, and closed Tasks, dated more than this before today."""
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


# --------------------------------------------------------------------------------------- formats
def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def sf_datetime(value: dt.datetime) -> str:
    v = _utc(value)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}."
        f"{v.microsecond // 1000:03d}+0000"
    )


def hs_datetime(value: dt.datetime) -> str:
    v = _utc(value)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}."
        f"{v.microsecond // 1000:03d}Z"
    )


def _millis(stamp: str | None) -> int:
    """Milliseconds since the epoch of an ``hs_datetime`` text (-1 for none)."""
    if not stamp:
        return -1
    parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def hs_date(value: dt.date) -> str:
    return value.isoformat()


def sf_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce id: key prefix, pod, a base-62 serial and the case-safe suffix."""
    digits = ""
    n = number % 62**9
    for _ in range(9):
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    id15 = prefix + "8d0" + digits
    suffix = ""
    for chunk in range(3):
        bits = 0
        for j, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << j
        suffix += _SUFFIX[bits]
    return id15 + suffix


def id15(value: str) -> str:
    return value[:15]


# ------------------------------------------------------------------------------- Salesforce side
@dataclass
class SFField:
    name: str
    type: str  # id, string, textarea, boolean, currency, double, percent, date, datetime, reference, picklist
    label: str = ""
    custom: bool = False
    updateable: bool = False
    nillable: bool = True
    length: int = 0
    precision: int = 0
    scale: int = 0
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "custom": self.custom,
            "updateable": self.updateable,
            "createable": self.updateable,
            "nillable": self.nillable,
            "filterable": True,
            "sortable": self.type != "textarea",
            "groupable": self.type not in ("textarea", "double", "currency", "percent", "datetime"),
            "calculated": False,
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 0,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "idLookup": self.name == "Id",
            "externalId": False,
            "unique": False,
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass
class SFObject:
    name: str
    key_prefix: str
    label: str
    fields: dict[str, SFField] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    lower: dict[str, str] = field(default_factory=dict)
    relationships: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower rel name -> (fk, target)

    def add_field(self, f: SFField) -> None:
        self.fields[f.name] = f
        self.lower[f.name.lower()] = f.name
        if f.relationship_name and f.reference_to:
            self.relationships[f.relationship_name.lower()] = (f.name, f.reference_to[0])

    def field_name(self, name: str) -> str | None:
        return self.lower.get(name.lower())


def _std(name: str, ftype: str, **kw: Any) -> SFField:
    return SFField(name, ftype, **kw)


def _system_fields(obj: SFObject) -> None:
    obj.add_field(_std("Id", "id", nillable=False, length=18))
    obj.add_field(_std("IsDeleted", "boolean", nillable=False))
    obj.add_field(_std("CreatedDate", "datetime", nillable=False))
    obj.add_field(_std("LastModifiedDate", "datetime", nillable=False))
    obj.add_field(_std("SystemModstamp", "datetime", nillable=False))


def _ref(name: str, target: str, rel: str, updateable: bool = True, custom: bool = False) -> SFField:
    return SFField(
        name,
        "reference",
        updateable=updateable,
        length=18,
        reference_to=(target,),
        relationship_name=rel,
        custom=custom,
    )


def salesforce_schema() -> dict[str, SFObject]:
    """The sObjects the sandbox serves, with their fields (custom fields created later are added)."""
    objs: dict[str, SFObject] = {}

    acc = SFObject("Account", "001", "Account")
    _system_fields(acc)
    # set by a merge on the accounts it deleted (the master's id), null on every other account
    acc.add_field(_ref("MasterRecordId", "Account", "MasterRecord", updateable=False))
    acc.add_field(_std("Name", "string", updateable=True, nillable=False, length=255))
    acc.add_field(
        _std(
            "Type",
            "picklist",
            updateable=True,
            length=255,
            picklist=("Channel Partner / Reseller", "Technology Partner", "Customer - Direct", "Prospect"),
        )
    )
    acc.add_field(_std("IsPartner", "boolean", updateable=True, nillable=False))
    acc.add_field(_std("Website", "string", updateable=True, length=255))
    acc.add_field(
        _std(
            "Partner_Type__c",
            "picklist",
            custom=True,
            updateable=True,
            length=255,
            picklist=("Reseller", "Referral", "Technology"),
        )
    )
    acc.add_field(
        _std(
            "Partner_Status__c",
            "picklist",
            custom=True,
            updateable=True,
            length=255,
            picklist=("Active", "Exiting", "Exited"),
        )
    )
    acc.add_field(_std("Partner_Joined_On__c", "date", custom=True, updateable=True))
    acc.add_field(_std("Partner_Exit_On__c", "date", custom=True, updateable=True))
    objs["Account"] = acc

    camp = SFObject("Campaign", "701", "Campaign")
    _system_fields(camp)
    camp.add_field(_std("Name", "string", updateable=True, nillable=False, length=80))
    camp.add_field(
        _std("Type", "picklist", updateable=True, length=255, picklist=("Webinar", "Conference", "Partners"))
    )
    camp.add_field(_std("StartDate", "date", updateable=True))
    camp.add_field(_std("IsActive", "boolean", updateable=True, nillable=False))
    objs["Campaign"] = camp

    opp = SFObject("Opportunity", "006", "Opportunity")
    _system_fields(opp)
    opp.add_field(_std("Name", "string", updateable=True, nillable=False, length=120))
    opp.add_field(_ref("AccountId", "Account", "Account"))
    opp.add_field(_ref("PartnerAccountId", "Account", "PartnerAccount"))
    opp.add_field(_std("Amount", "currency", updateable=True, precision=18, scale=2))
    opp.add_field(
        _std(
            "CurrencyIsoCode",
            "picklist",
            updateable=True,
            nillable=False,
            length=3,
            picklist=("USD", "EUR", "GBP"),
        )
    )
    opp.add_field(
        _std(
            "StageName",
            "picklist",
            updateable=True,
            nillable=False,
            length=255,
            picklist=tuple(s for s, _ in seedmod.STAGES),
        )
    )
    opp.add_field(_std("Probability", "percent", updateable=True, precision=3, scale=0))
    opp.add_field(_std("IsClosed", "boolean", nillable=False))
    opp.add_field(_std("IsWon", "boolean", nillable=False))
    opp.add_field(_std("CloseDate", "date", updateable=True, nillable=False))
    opp.add_field(_ref("CampaignId", "Campaign", "Campaign"))
    opp.add_field(_std("Discount_Percent__c", "percent", custom=True, updateable=True, precision=5, scale=2))
    opp.add_field(_std("Margin_Percent__c", "percent", custom=True, updateable=True, precision=5, scale=2))
    opp.add_field(_std("Refund_Date__c", "date", custom=True, updateable=True))
    objs["Opportunity"] = opp

    op = SFObject("OpportunityPartner", "00I", "Opportunity Partner")
    _system_fields(op)
    op.add_field(_ref("OpportunityId", "Opportunity", "Opportunity", updateable=False))
    op.add_field(_ref("AccountToId", "Account", "AccountTo", updateable=False))
    op.add_field(_std("Role", "picklist", length=40, picklist=("Reseller", "Co-sell", "Influencer")))
    op.add_field(_std("IsPrimary", "boolean", nillable=False))
    op.add_field(_ref("ReversePartnerId", "OpportunityPartner", "ReversePartner", updateable=False))
    objs["OpportunityPartner"] = op

    for name, prefix in (("Task", "00T"), ("Event", "00U")):
        act = SFObject(name, prefix, name)
        _system_fields(act)
        act.add_field(_std("Subject", "string", updateable=True, length=255))
        act.add_field(_ref("WhatId", "Account", "What"))
        act.add_field(_ref("AccountId", "Account", "Account", updateable=False))
        act.add_field(
            _std(
                "Type", "picklist", updateable=True, length=40, picklist=("Call", "Meeting", "Email", "Other")
            )
        )
        act.add_field(_std("ActivityDate", "date", updateable=True))
        if name == "Task":
            act.add_field(
                _std("Status", "picklist", updateable=True, length=40, picklist=("Not Started", "Completed"))
            )
        else:
            act.add_field(_std("ActivityDateTime", "datetime", updateable=True))
            act.add_field(_std("DurationInMinutes", "double", updateable=True, precision=8))
        act.add_field(
            _std(
                "Cosell_Activity_Type__c",
                "picklist",
                custom=True,
                updateable=True,
                length=255,
                picklist=seedmod.ACTIVITY_TYPES,
            )
        )
        objs[name] = act

    req = SFObject("PartnerFundRequest", "0Hv", "Partner Fund Request")
    _system_fields(req)
    req.add_field(_std("Title", "string", updateable=True, length=255))
    req.add_field(_ref("ChannelPartnerId", "Account", "ChannelPartner"))
    req.add_field(_ref("CampaignId", "Campaign", "Campaign"))
    req.add_field(_std("Amount", "currency", updateable=True, precision=18, scale=2))
    req.add_field(_std("RequestedAmount", "currency", updateable=True, precision=18, scale=2))
    req.add_field(
        _std("CurrencyIsoCode", "picklist", updateable=True, length=3, picklist=("USD", "EUR", "GBP"))
    )
    req.add_field(
        _std(
            "Status",
            "picklist",
            updateable=True,
            length=255,
            picklist=("Draft", "Submitted", "In Review", "Approved", "Rejected"),
        )
    )
    objs["PartnerFundRequest"] = req

    claim = SFObject("PartnerFundClaim", "0Hw", "Partner Fund Claim")
    _system_fields(claim)
    claim.add_field(_std("Title", "string", updateable=True, length=255))
    claim.add_field(_ref("ChannelPartnerId", "Account", "ChannelPartner"))
    claim.add_field(_ref("RequestId", "PartnerFundRequest", "Request"))
    claim.add_field(_std("Amount", "currency", updateable=True, precision=18, scale=2))
    claim.add_field(
        _std("CurrencyIsoCode", "picklist", updateable=True, length=3, picklist=("USD", "EUR", "GBP"))
    )
    claim.add_field(
        _std(
            "Status",
            "picklist",
            updateable=True,
            length=255,
            picklist=("Draft", "Approved", "Rejected", "Paid"),
        )
    )
    claim.add_field(_std("Approved_On__c", "date", custom=True, updateable=True))
    objs["PartnerFundClaim"] = claim

    # the org itself: one read-only record, its Id the organization id (SELECT Id FROM Organization)
    org = SFObject("Organization", "00D", "Organization")
    org.add_field(_std("Id", "id", nillable=False, length=18))
    org.add_field(_std("Name", "string", nillable=False, length=80))
    org.add_field(_std("OrganizationType", "string", length=40))
    org.add_field(_std("IsSandbox", "boolean", nillable=False))
    org.add_field(_std("InstanceName", "string", length=5))
    for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        org.add_field(_std(stamp, "datetime", nillable=False))
    objs["Organization"] = org
    return objs


class Clock:
    """Logical clock for modification stamps (see module docstring)."""

    def __init__(self) -> None:
        self.now = CLOCK_START

    def tick(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


class SalesforceStore:
    """The Salesforce org: sObjects, their records, custom fields made through the Tooling API."""

    def __init__(self, data: seedmod.Dataset) -> None:
        self.objects = salesforce_schema()
        self.lower = {name.lower(): name for name in self.objects}
        self.clock = Clock()
        self._serial = data.seed * 10_000_000 + 1_000_000
        self._build(data)

    def object_name(self, name: str) -> str | None:
        return self.lower.get(name.lower())

    def new_id(self, prefix: str) -> str:
        self._serial += 1
        return sf_id(prefix, self._serial)

    def _id(self, prefix: str, index: int, base: int) -> str:
        return sf_id(prefix, base + index + 1)

    def _build(self, data: seedmod.Dataset) -> None:
        s = data.seed * 10_000_000
        acc, opp = self.objects["Account"].records, self.objects["Opportunity"].records
        partner_ids = [self._id("001", p.index, s) for p in data.partners]
        customer_ids = [self._id("001", c.index, s + 500_000) for c in data.customers]
        campaign_ids = [self._id("701", c.index, s) for c in data.campaigns]
        for p, pid in zip(data.partners, partner_ids, strict=True):
            stamp = sf_datetime(p.created)
            acc[pid] = {
                "Id": pid,
                "IsDeleted": False,
                "MasterRecordId": None,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
                "Name": p.name,
                "Type": "Technology Partner"
                if p.partner_type == "Technology"
                else "Channel Partner / Reseller",
                "IsPartner": True,
                "Website": f"https://www.{p.domain}",
                "Partner_Type__c": p.partner_type,
                "Partner_Status__c": p.status,
                "Partner_Joined_On__c": p.joined_on.isoformat(),
                "Partner_Exit_On__c": p.exit_on.isoformat() if p.exit_on else None,
            }
        for c, cid in zip(data.customers, customer_ids, strict=True):
            stamp = sf_datetime(c.created)
            acc[cid] = {
                "Id": cid,
                "IsDeleted": False,
                "MasterRecordId": None,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
                "Name": c.name,
                "Type": "Customer - Direct",
                "IsPartner": False,
                "Website": f"https://www.{c.domain}",
                "Partner_Type__c": None,
                "Partner_Status__c": None,
                "Partner_Joined_On__c": None,
                "Partner_Exit_On__c": None,
            }
        camp = self.objects["Campaign"].records
        for cp, cid in zip(data.campaigns, campaign_ids, strict=True):
            stamp = sf_datetime(dt.datetime(2025, 12, 1, 9, tzinfo=dt.UTC))
            camp[cid] = {
                "Id": cid,
                "IsDeleted": False,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
                "Name": cp.name,
                "Type": "Partners",
                "StartDate": cp.start.isoformat(),
                "IsActive": True,
            }
        ops = self.objects["OpportunityPartner"].records
        op_serial = 0
        probabilities = {
            "Prospecting": 10.0,
            "Qualification": 20.0,
            "Proposal": 50.0,
            "Negotiation": 75.0,
            "Closed Won": 100.0,
            "Closed Lost": 0.0,
        }
        for d in data.deals:
            oid = self._id("006", d.index, s)
            created, modified = sf_datetime(d.created), sf_datetime(d.modified)
            sourced = next((dp.partner for dp in d.partners if dp.role == "sourced"), None)
            opp[oid] = {
                "Id": oid,
                "IsDeleted": d.deleted,
                "CreatedDate": created,
                "LastModifiedDate": modified,
                "SystemModstamp": modified,
                "Name": d.name,
                "AccountId": customer_ids[d.customer],
                "PartnerAccountId": partner_ids[sourced] if sourced is not None else None,
                "Amount": float(d.amount),
                "CurrencyIsoCode": d.currency,
                "StageName": d.stage,
                "Probability": probabilities[d.stage],
                "IsClosed": d.stage.startswith("Closed"),
                "IsWon": d.stage == "Closed Won",
                "CloseDate": d.close_date.isoformat(),
                "CampaignId": campaign_ids[d.campaign] if d.campaign is not None else None,
                "Discount_Percent__c": float(d.discount_pct),
                "Margin_Percent__c": float(d.margin_pct),
                "Refund_Date__c": d.refund_date.isoformat() if d.refund_date else None,
            }
            for dp in d.partners:
                op_serial += 1
                rid = sf_id("00I", s + op_serial)
                ops[rid] = {
                    "Id": rid,
                    "IsDeleted": d.deleted,
                    "CreatedDate": created,
                    "LastModifiedDate": created,
                    "SystemModstamp": created,
                    "OpportunityId": oid,
                    "AccountToId": partner_ids[dp.partner],
                    "Role": {"sourced": "Reseller", "cosell": "Co-sell", "influenced": "Influencer"}[dp.role],
                    "IsPrimary": dp.is_primary,
                    "ReversePartnerId": None,
                }
        tasks, events = self.objects["Task"].records, self.objects["Event"].records
        for a in data.activities:
            stamp = sf_datetime(a.occurred)
            row: dict[str, Any] = {
                "IsDeleted": False,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
                "Subject": a.subject,
                "WhatId": partner_ids[a.partner],
                "AccountId": partner_ids[a.partner],
                "ActivityDate": a.occurred.date().isoformat(),
                "Cosell_Activity_Type__c": a.kind,
            }
            if a.kind in ("joint_call", "training"):
                row["Id"] = self._id("00T", a.index, s)
                row["Type"] = "Call" if a.kind == "joint_call" else "Other"
                row["Status"] = "Completed"
                tasks[row["Id"]] = row
            else:
                row["Id"] = self._id("00U", a.index, s)
                row["Type"] = "Meeting"
                row["ActivityDateTime"] = stamp
                row["DurationInMinutes"] = 60.0
                events[row["Id"]] = row
        reqs = self.objects["PartnerFundRequest"].records
        req_ids = [self._id("0Hv", r.index, s) for r in data.fund_requests]
        stamp0 = sf_datetime(dt.datetime(2026, 1, 2, 9, tzinfo=dt.UTC))
        for r, rid in zip(data.fund_requests, req_ids, strict=True):
            reqs[rid] = {
                "Id": rid,
                "IsDeleted": False,
                "CreatedDate": stamp0,
                "LastModifiedDate": stamp0,
                "SystemModstamp": stamp0,
                "Title": f"MDF request {r.index + 1}",
                "ChannelPartnerId": partner_ids[r.partner],
                "CampaignId": campaign_ids[r.campaign],
                "Amount": float(r.amount),
                "RequestedAmount": float(r.amount),
                "CurrencyIsoCode": "USD",
                "Status": r.status,
            }
        claims = self.objects["PartnerFundClaim"].records
        for claim in data.fund_claims:
            cid = self._id("0Hw", claim.index, s)
            stamp = sf_datetime(claim.created)
            claims[cid] = {
                "Id": cid,
                "IsDeleted": False,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
                "Title": f"MDF claim {claim.index + 1}",
                "ChannelPartnerId": partner_ids[claim.partner],
                "RequestId": req_ids[claim.request],
                "Amount": float(claim.amount),
                "CurrencyIsoCode": "USD",
                "Status": claim.status,
                "Approved_On__c": claim.approved_on.isoformat() if claim.approved_on else None,
            }

    def find(self, obj: str, record_id: str) -> dict[str, Any] | None:
        records = self.objects[obj].records
        rec = records.get(record_id)
        if rec is None and len(record_id) == 15:
            for key in records:  # 15-char ids are accepted, case-sensitively
                if key[:15] == record_id:
                    return records[key]
        return rec

    def set_organization(self, org_id: str) -> None:
        """The org's one Organization record (its id survives a reset, like an org restored from backup)."""
        stamp = sf_datetime(dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC))
        self.objects["Organization"].records = {
            org_id: {
                "Id": org_id,
                "Name": "cosell sandbox",
                "OrganizationType": "Developer Edition",
                "IsSandbox": True,
                "InstanceName": "CS1",
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
        }

    def add_custom_field(self, obj: str, f: SFField) -> None:
        self.objects[obj].add_field(f)
        for rec in self.objects[obj].records.values():
            rec.setdefault(f.name, False if f.type == "boolean" else None)

    # -- the recycle bin and archived activities ------------------------------------------------------

    def archived(self, obj: str, rec: dict[str, Any]) -> bool:
        """An activity Salesforce has archived: an Event dated more than 365 days before the org's
        today (the logical clock's date), or a closed Task due that long ago. ``query`` hides them,
        ``queryAll`` returns them."""
        if obj not in ("Task", "Event"):
            return False
        day = rec.get("ActivityDate")
        if not day or (obj == "Task" and rec.get("Status") != "Completed"):
            return False
        return dt.date.fromisoformat(str(day)) < self.clock.now.date() - ARCHIVE_AGE

    def visible_to_query(self, obj: str, rec: dict[str, Any]) -> bool:
        """What ``query`` (not ``queryAll``) returns: neither in the recycle bin nor archived."""
        return not rec.get("IsDeleted") and not self.archived(obj, rec)

    def delete(self, obj: str, rec: dict[str, Any]) -> None:
        """Move a record to the recycle bin (``IsDeleted`` true, stamps bumped); an Opportunity takes
        its OpportunityPartner rows with it, as in a real org."""
        stamp = sf_datetime(self.clock.tick())
        doomed = [rec]
        if obj == "Opportunity":
            doomed += [
                r
                for r in self.objects["OpportunityPartner"].records.values()
                if r.get("OpportunityId") == rec["Id"] and not r.get("IsDeleted")
            ]
        for r in doomed:
            r.update({"IsDeleted": True, "LastModifiedDate": stamp, "SystemModstamp": stamp})

    def undelete(self, obj: str, rec: dict[str, Any]) -> None:
        """Bring a record back from the recycle bin (``IsDeleted`` false, stamps bumped) with what its
        delete took along: an Opportunity's partner rows (the API deletes them only with it)."""
        stamp = sf_datetime(self.clock.tick())
        back = [rec]
        if obj == "Opportunity":
            back += [
                r
                for r in self.objects["OpportunityPartner"].records.values()
                if r.get("OpportunityId") == rec["Id"] and r.get("IsDeleted")
            ]
        for r in back:
            r.update({"IsDeleted": False, "LastModifiedDate": stamp, "SystemModstamp": stamp})

    # -- merges: the victims to the recycle bin, what pointed to them to the master -----------------------

    def references_to(self, target: str) -> list[tuple[str, list[str]]]:
        """Each sObject with lookups to ``target`` and those lookups' names, read-only ones and custom
        fields made since included; ``MasterRecordId``, which a merge sets rather than follows, left out."""
        found = []
        for sobject in self.objects.values():
            names = [
                f.name
                for f in sobject.fields.values()
                if f.type == "reference" and target in f.reference_to and f.name != "MasterRecordId"
            ]
            if names:
                found.append((sobject.name, names))
        return found

    def merge(self, obj: str, master: dict[str, Any], victims: list[dict[str, Any]]) -> list[str]:
        """Merge live ``victims`` into live ``master`` (records of ``obj``) as Salesforce does, at one tick
        of the clock: each victim goes to the recycle bin as a delete sends it (``IsDeleted`` true, stamps
        bumped) with ``MasterRecordId`` the master's id; the master keeps its id and values, its stamps
        bumped; every live record of every sObject whose lookup points to a victim points to the master
        instead, its stamps bumped (a changed lookup is an edit of the record), read-only lookups too.
        Records in the recycle bin keep their lookups. Returns the ids of the records moved, in the order
        the sObjects are served."""
        stamp = sf_datetime(self.clock.tick())
        bumped = {"LastModifiedDate": stamp, "SystemModstamp": stamp}
        gone = {id15(v["Id"]) for v in victims}
        for victim in victims:
            victim.update({"IsDeleted": True, "MasterRecordId": master["Id"], **bumped})
        master.update(bumped)
        moved: list[str] = []
        for name, lookups in self.references_to(obj):
            for rec in self.objects[name].records.values():
                if rec.get("IsDeleted"):
                    continue
                changed = [f for f in lookups if rec.get(f) and id15(str(rec[f])) in gone]
                if changed:
                    rec.update({f: master["Id"] for f in changed})
                    rec.update(bumped)
                    moved.append(rec["Id"])
        return moved

    def purge(self) -> int:
        """Empty the recycle bin, as 15 days (or an admin emptying it) would: deleted records are gone,
        from ``queryAll`` too. Returns how many records went."""
        gone = 0
        for sobject in self.objects.values():
            deleted = [rid for rid, r in sobject.records.items() if r.get("IsDeleted")]
            for rid in deleted:
                del sobject.records[rid]
            gone += len(deleted)
        return gone


# ----------------------------------------------------------------------------------- HubSpot side
MDF_OBJECT_TYPE_ID = "2-9000001"
MDF_OBJECT_NAME = "p_mdf_claims"
STAGE_IDS = {
    "Prospecting": "appointmentscheduled",
    "Qualification": "qualifiedtobuy",
    "Proposal": "presentationscheduled",
    "Negotiation": "contractsent",
    "Closed Won": "closedwon",
    "Closed Lost": "closedlost",
}
ASSOC_LABELS = {"sourced": (101, "Partner"), "cosell": (102, "Co-sell"), "influenced": (103, "Influenced")}
OBJECT_TYPE_IDS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "meetings": "0-47",
    MDF_OBJECT_NAME: MDF_OBJECT_TYPE_ID,
}
ID_BASES = {
    "companies": 10_000_000_000,
    "deals": 20_000_000_000,
    "meetings": 30_000_000_000,
    MDF_OBJECT_NAME: 40_000_000_000,
}
"""Where each type's seeded ids start (plus ``seed × 10,000,000``): the types' ids never meet."""
# (from, to) -> default HUBSPOT_DEFINED unlabeled association type id
DEFAULT_ASSOC = {
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("meetings", "companies"): 188,
    ("companies", "meetings"): 187,
    (MDF_OBJECT_NAME, "companies"): 901,
    ("companies", MDF_OBJECT_NAME): 902,
}


@dataclass
class HSProperty:
    name: str
    label: str
    type: str  # string, number, date, datetime, enumeration, bool
    field_type: str
    group_name: str
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    hubspot_defined: bool = True
    read_only: bool = False
    created_at: str = "2025-01-01T00:00:00.000Z"
    display_order: int = -1

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "updatedAt": self.created_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": False,
            "formField": not self.read_only,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "archived": False,
        }
        if self.hubspot_defined:
            out["hubspotDefined"] = True
        return out


def _opts(*values: str) -> list[dict[str, Any]]:
    return [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(values)]


def _hs_props(object_type: str) -> dict[str, HSProperty]:
    info = (
        "dealinformation"
        if object_type == "deals"
        else ("companyinformation" if object_type == "companies" else f"{object_type}_information")
    )
    ro = {
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
        "hs_createdate",
        "hs_is_closed_won",
        "hs_is_closed",
        "hs_merged_object_ids",
    }
    common: list[tuple[str, str, str, str, list[dict[str, Any]], bool]] = [
        ("hs_object_id", "Record ID", "number", "number", [], True),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", [], True),
        # the ids merged into a record, `;`-separated, as HubSpot's multiple-checkbox values are
        ("hs_merged_object_ids", "Merged record IDs", "enumeration", "checkbox", [], True),
    ]
    specific: list[tuple[str, str, str, str, list[dict[str, Any]], bool]]
    if object_type == "companies":
        specific = [
            ("name", "Company name", "string", "text", [], True),
            ("domain", "Company Domain Name", "string", "text", [], True),
            ("createdate", "Create Date", "datetime", "date", [], True),
            (
                "partner_type",
                "Partner type",
                "enumeration",
                "select",
                _opts("Reseller", "Referral", "Technology"),
                False,
            ),
            (
                "partner_status",
                "Partner status",
                "enumeration",
                "select",
                _opts("active", "exiting", "exited"),
                False,
            ),
            ("partner_joined_on", "Partner joined on", "date", "date", [], False),
            ("partner_exit_on", "Partner exit on", "date", "date", [], False),
        ]
    elif object_type == "deals":
        specific = [
            ("dealname", "Deal Name", "string", "text", [], True),
            ("amount", "Amount", "number", "number", [], True),
            ("deal_currency_code", "Currency", "enumeration", "select", _opts("USD", "EUR", "GBP"), True),
            (
                "dealstage",
                "Deal Stage",
                "enumeration",
                "radio",
                [
                    {"label": k, "value": v, "displayOrder": i, "hidden": False}
                    for i, (k, v) in enumerate(STAGE_IDS.items())
                ],
                True,
            ),
            (
                "pipeline",
                "Pipeline",
                "enumeration",
                "select",
                [{"label": "Sales Pipeline", "value": "default", "displayOrder": 0, "hidden": False}],
                True,
            ),
            ("createdate", "Create Date", "datetime", "date", [], True),
            ("closedate", "Close Date", "datetime", "date", [], True),
            ("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", _opts("true", "false"), True),
            ("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", _opts("true", "false"), True),
            ("discount_percent", "Discount percent", "number", "number", [], False),
            ("margin_percent", "Margin percent", "number", "number", [], False),
            ("campaign_name", "Campaign", "string", "text", [], False),
            ("refund_date", "Refund date", "date", "date", [], False),
        ]
    elif object_type == "meetings":
        specific = [
            ("hs_createdate", "Created at", "datetime", "date", [], True),
            ("hs_timestamp", "Activity date", "datetime", "date", [], True),
            ("hs_meeting_title", "Meeting name", "string", "text", [], True),
            ("hs_meeting_outcome", "Outcome", "enumeration", "select", _opts("SCHEDULED", "COMPLETED"), True),
            (
                "cosell_activity_type",
                "Co-sell activity type",
                "enumeration",
                "select",
                _opts(*seedmod.ACTIVITY_TYPES),
                False,
            ),
        ]
    else:
        specific = [
            ("hs_createdate", "Object create date/time", "datetime", "date", [], True),
            ("claim_name", "Claim name", "string", "text", [], False),
            ("amount", "Amount", "number", "number", [], False),
            ("currency", "Currency", "enumeration", "select", _opts("USD", "EUR", "GBP"), False),
            (
                "status",
                "Status",
                "enumeration",
                "select",
                _opts("submitted", "approved", "paid", "rejected"),
                False,
            ),
            ("approved_on", "Approved on", "date", "date", [], False),
            ("campaign", "Campaign", "string", "text", [], False),
            ("partner_company_id", "Partner company ID", "string", "text", [], False),
        ]
    out: dict[str, HSProperty] = {}
    for i, (name, label, ptype, ftype, options, defined) in enumerate(common + specific):
        group = info if defined else ("partner_program" if object_type != MDF_OBJECT_NAME else info)
        out[name] = HSProperty(
            name,
            label,
            ptype,
            ftype,
            group,
            options=options,
            hubspot_defined=defined,
            read_only=name in ro,
            display_order=i,
        )
    return out


@dataclass
class HSObject:
    id: str
    properties: dict[str, str | None]
    created_at: str
    updated_at: str
    archived: bool = False


@dataclass
class AssocRow:
    to_id: str
    types: list[tuple[str, int, str | None]]  # (category, typeId, label)


def _united(first: dict[str, AssocRow], second: dict[str, AssocRow]) -> dict[str, AssocRow]:
    """Two records' association rows as one record's: each associated record once, its labels the first
    record's, then those of the second's it lacks."""
    out = {to_id: AssocRow(to_id, list(row.types)) for to_id, row in first.items()}
    for to_id, row in second.items():
        mine = out.setdefault(to_id, AssocRow(to_id, []))
        mine.types.extend(t for t in row.types if t not in mine.types)
    return out


class HubSpotStore:
    """The HubSpot portal: objects, property definitions, groups, associations, the deal pipeline."""

    OBJECT_TYPES = ("companies", "deals", "meetings", MDF_OBJECT_NAME)

    def __init__(self, data: seedmod.Dataset) -> None:
        self.clock = Clock()
        self.objects: dict[str, dict[str, HSObject]] = {t: {} for t in self.OBJECT_TYPES}
        self.properties: dict[str, dict[str, HSProperty]] = {t: _hs_props(t) for t in self.OBJECT_TYPES}
        self.groups: dict[str, dict[str, dict[str, Any]]] = {}
        for t in self.OBJECT_TYPES:
            names = {p.group_name for p in self.properties[t].values()}
            self.groups[t] = {
                g: {
                    "name": g,
                    "label": g.replace("_", " ").capitalize(),
                    "displayOrder": i,
                    "archived": False,
                }
                for i, g in enumerate(sorted(names))
            }
        self.assoc: dict[tuple[str, str], dict[str, dict[str, AssocRow]]] = {}
        self.version = 0  # bumped on every write; search caches key on it
        self.ids_version = 0
        """Bumped whenever a record is archived or purged: the id indexes key on it."""
        self._ids: dict[tuple[str, bool], tuple[int, list[int]]] = {}
        self._modified: dict[str, dict[str, int]] = {}
        self.merged: dict[str, dict[str, str]] = {t: {} for t in self.OBJECT_TYPES}
        """Per type, each merged-away id and the id of the record it was merged into."""
        self._build(data)
        self._last_id = {
            t: max((int(i) for i in objs), default=ID_BASES[t] + data.seed * 10_000_000)
            for t, objs in self.objects.items()
        }
        """The highest id each type has given: a merge's record takes the next (ids are never reused, even
        once purged)."""

    def resolve_type(self, name: str) -> str | None:
        name = name.lower()
        if name in self.objects:
            return name
        aliases = {
            "company": "companies",
            "deal": "deals",
            "meeting": "meetings",
            "0-2": "companies",
            "0-3": "deals",
            "0-47": "meetings",
            MDF_OBJECT_TYPE_ID: MDF_OBJECT_NAME,
            "mdf_claims": MDF_OBJECT_NAME,
            "mdf_claim": MDF_OBJECT_NAME,
        }
        return aliases.get(name)

    # -- indexes: a page or a search for what changed costs what it returns, not a scan of every record

    def ids(self, type_name: str, *, archived: bool) -> list[int]:
        """The ids of a type's records (archived or not), ascending; rebuilt only after an archive or
        purge."""
        cached = self._ids.get((type_name, archived))
        if cached is None or cached[0] != self.ids_version:
            ids = sorted(int(o.id) for o in self.objects[type_name].values() if o.archived == archived)
            cached = self._ids[(type_name, archived)] = (self.ids_version, ids)
        return cached[1]

    def page(
        self, type_name: str, start: int, limit: int, *, archived: bool
    ) -> tuple[list[HSObject], int | None]:
        """Up to ``limit`` records from id ``start`` on, ascending, and the id the next page starts at."""
        ids = self.ids(type_name, archived=archived)
        at = bisect_left(ids, start)
        objs = self.objects[type_name]
        page = [objs[str(i)] for i in ids[at : at + limit]]
        return page, ids[at + limit] if at + limit < len(ids) else None

    def modified_since(self, type_name: str, since_ms: int) -> list[str]:
        """The ids of the records last modified at ``since_ms`` or later (archived ones included)."""
        index = self._modified.get(type_name)
        if index is None:
            stamped = sorted(
                (_millis(o.properties.get("hs_lastmodifieddate")), o.id)
                for o in self.objects[type_name].values()
            )
            index = self._modified[type_name] = {oid: ms for ms, oid in stamped}
        found = []
        for oid in reversed(index):
            if index[oid] < since_ms:
                break
            found.append(oid)
        return found

    def touched(self, type_name: str, object_id: str, stamp: str) -> None:
        """A record's ``hs_lastmodifieddate`` became ``stamp``: it moves to the end of the index (or
        the index is rebuilt on its next use, should the stamp be older than the newest)."""
        index = self._modified.get(type_name)
        if index is None:
            return
        ms = _millis(stamp)
        index.pop(object_id, None)
        if index and ms < index[next(reversed(index))]:
            del self._modified[type_name]
            return
        index[object_id] = ms

    def forget(self) -> None:
        """Records were archived or purged: the indexes are rebuilt on their next use."""
        self.ids_version += 1
        self._modified.clear()

    # -- merges: HubSpot makes a new record of two; their ids still lead to it

    def resolve(self, type_name: str, object_id: str) -> HSObject | None:
        """The record an id names: its own, or for a merged-away id the record the merges led to (A merged
        into C, C into E: A answers E). None for an id never given or purged."""
        merged = self.merged[type_name]
        while object_id in merged:
            object_id = merged[object_id]
        return self.objects[type_name].get(object_id)

    def merge(self, type_name: str, primary: HSObject, other: HSObject, stamp: str) -> HSObject:
        """Merge two live records as HubSpot does: a new record with a new id takes the primary's values,
        the other's where the primary has none, and both records' associations; the two ids leave the
        list, search and the archived list (they are merged, not archived) but still lead to it.
        ``hs_merged_object_ids`` lists both ids and those merged into either before, ascending."""
        self._last_id[type_name] += 1
        new_id = str(self._last_id[type_name])
        values = dict(other.properties)
        values.update({k: v for k, v in primary.properties.items() if v not in (None, "")})
        earlier = (o.properties.get("hs_merged_object_ids") or "" for o in (primary, other))
        merged_ids = {int(primary.id), int(other.id)} | {
            int(i) for ids in earlier for i in ids.split(";") if i
        }
        values["hs_merged_object_ids"] = ";".join(str(i) for i in sorted(merged_ids))
        values["hs_object_id"] = new_id
        values["hs_lastmodifieddate"] = stamp
        record = HSObject(new_id, values, primary.created_at, stamp)
        objs = self.objects[type_name]
        old_ids = (primary.id, other.id)
        for old in old_ids:
            del objs[old]
            self.merged[type_name][old] = new_id
        objs[new_id] = record
        for (from_type, to_type), table in self.assoc.items():
            if from_type != type_name:
                continue
            rows = _united(table.pop(primary.id, {}), table.pop(other.id, {}))
            if rows:
                table[new_id] = rows
            back = self.assoc[(to_type, from_type)]
            for to_id in rows:  # what the two were associated with now points to the new record
                theirs = back[to_id]
                halves = [
                    {new_id: row} if row else {}
                    for row in (theirs.pop(primary.id, None), theirs.pop(other.id, None))
                ]
                theirs.update(_united(*halves))
        # the indexes: the new record at its place, the two ids out of them
        cached = self._ids.get((type_name, False))
        if cached is not None and cached[0] == self.ids_version:
            for old in old_ids:
                del cached[1][bisect_left(cached[1], int(old))]
            insort(cached[1], int(new_id))
        index = self._modified.get(type_name)
        if index is not None:
            for old in old_ids:
                index.pop(old, None)
        self.touched(type_name, new_id, stamp)
        self.version += 1
        return record

    def _link(
        self,
        a_type: str,
        a_id: str,
        b_type: str,
        b_id: str,
        labels: Iterable[tuple[str, int, str | None]] = (),
    ) -> None:
        fwd = [("HUBSPOT_DEFINED", DEFAULT_ASSOC[(a_type, b_type)], None), *labels]
        rev = [("HUBSPOT_DEFINED", DEFAULT_ASSOC[(b_type, a_type)], None), *labels]
        for f_type, f_id, t_type, t_id, types in (
            (a_type, a_id, b_type, b_id, fwd),
            (b_type, b_id, a_type, a_id, rev),
        ):
            rows = self.assoc.setdefault((f_type, t_type), {}).setdefault(f_id, {})
            row = rows.get(t_id)
            if row is None:
                rows[t_id] = AssocRow(t_id, list(types))
            else:
                row.types.extend(t for t in types if t not in row.types)

    def _build(self, data: seedmod.Dataset) -> None:
        s = data.seed * 10_000_000
        comp = self.objects["companies"]
        partner_ids = [str(ID_BASES["companies"] + s + p.index + 1) for p in data.partners]
        customer_ids = [str(ID_BASES["companies"] + s + 500_000 + c.index + 1) for c in data.customers]
        campaign_names = [c.name for c in data.campaigns]
        for p, pid in zip(data.partners, partner_ids, strict=True):
            stamp = hs_datetime(p.created)
            comp[pid] = HSObject(
                pid,
                {
                    "hs_object_id": pid,
                    "name": p.name,
                    "domain": p.domain,
                    "createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                    "partner_type": p.partner_type,
                    "partner_status": p.status.lower(),
                    "partner_joined_on": hs_date(p.joined_on),
                    "partner_exit_on": hs_date(p.exit_on) if p.exit_on else None,
                },
                stamp,
                stamp,
            )
        for c, cid in zip(data.customers, customer_ids, strict=True):
            stamp = hs_datetime(c.created)
            comp[cid] = HSObject(
                cid,
                {
                    "hs_object_id": cid,
                    "name": c.name,
                    "domain": c.domain,
                    "createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                    "partner_type": None,
                    "partner_status": None,
                    "partner_joined_on": None,
                    "partner_exit_on": None,
                },
                stamp,
                stamp,
            )
        deals = self.objects["deals"]
        for d in data.deals:
            did = str(ID_BASES["deals"] + s + d.index + 1)
            created, modified = hs_datetime(d.created), hs_datetime(d.modified)
            close = hs_datetime(dt.datetime.combine(d.close_date, dt.time(0), tzinfo=dt.UTC))
            deals[did] = HSObject(
                did,
                {
                    "hs_object_id": did,
                    "dealname": d.name,
                    "amount": d.amount,
                    "deal_currency_code": d.currency,
                    "dealstage": STAGE_IDS[d.stage],
                    "pipeline": "default",
                    "createdate": created,
                    "closedate": close,
                    "hs_lastmodifieddate": modified,
                    "hs_is_closed_won": str(d.stage == "Closed Won").lower(),
                    "hs_is_closed": str(d.stage.startswith("Closed")).lower(),
                    "discount_percent": d.discount_pct,
                    "margin_percent": d.margin_pct,
                    "campaign_name": campaign_names[d.campaign] if d.campaign is not None else None,
                    "refund_date": hs_date(d.refund_date) if d.refund_date else None,
                },
                created,
                modified,
                archived=d.deleted,
            )
            self._link(
                "deals", did, "companies", customer_ids[d.customer], [("HUBSPOT_DEFINED", 5, "Primary")]
            )
            for dp in d.partners:
                type_id, label = ASSOC_LABELS[dp.role]
                self._link(
                    "deals", did, "companies", partner_ids[dp.partner], [("USER_DEFINED", type_id, label)]
                )
        meetings = self.objects["meetings"]
        for a in data.activities:
            mid = str(ID_BASES["meetings"] + s + a.index + 1)
            stamp = hs_datetime(a.occurred)
            meetings[mid] = HSObject(
                mid,
                {
                    "hs_object_id": mid,
                    "hs_createdate": stamp,
                    "hs_timestamp": stamp,
                    "hs_lastmodifieddate": stamp,
                    "hs_meeting_title": a.subject,
                    "hs_meeting_outcome": "COMPLETED",
                    "cosell_activity_type": a.kind,
                },
                stamp,
                stamp,
            )
            self._link("meetings", mid, "companies", partner_ids[a.partner])
        claims = self.objects[MDF_OBJECT_NAME]
        status_map = {"Draft": "submitted", "Approved": "approved", "Paid": "paid", "Rejected": "rejected"}
        for claim in data.fund_claims:
            cid = str(ID_BASES[MDF_OBJECT_NAME] + s + claim.index + 1)
            stamp = hs_datetime(claim.created)
            req = data.fund_requests[claim.request]
            claims[cid] = HSObject(
                cid,
                {
                    "hs_object_id": cid,
                    "hs_createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                    "claim_name": f"MDF claim {claim.index + 1}",
                    "amount": claim.amount,
                    "currency": "USD",
                    "status": status_map[claim.status],
                    "approved_on": hs_date(claim.approved_on) if claim.approved_on else None,
                    "campaign": campaign_names[req.campaign],
                    "partner_company_id": partner_ids[claim.partner],
                },
                stamp,
                stamp,
            )
            self._link(MDF_OBJECT_NAME, cid, "companies", partner_ids[claim.partner])
